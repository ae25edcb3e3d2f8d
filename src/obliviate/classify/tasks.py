"""Built-in classifier tasks (no downloads) and forget specs.

A task is its data (train / validation / test, fixed splits), a model factory and
the training recipe of its original model. A forget spec picks the forget set out
of the training split:

- ``class:K``      every training example of class K (class-wise forgetting);
- ``random:FRAC``  a random FRAC of the training examples (same set for every seed);
- ``ids:PATH``     the training-split indices listed in PATH, one per line;
- ``worst:FRAC``   the FRAC most memorised training examples, a proxy for the
                   worst-case forget set (see ``classify/worstcase.py``);
- ``poison:FRAC:KNOWN`` corrective unlearning (Goel et al., "Corrective Machine
                   Unlearning", TMLR 2024): a random FRAC of the training examples
                   (outside the target class 0) carry a BadNets trigger (a 2×2
                   corner patch of an image, the last 3 features of a vector, at
                   the data's maximum) and the target label; the original is trained
                   on that poisoned set, and only the KNOWN share of the poisoned
                   examples is identified: they are the forget set, the others stay
                   in the retain set. ``retrain`` retrains without the identified
                   ones (the unknown poison stays). Scores: accuracy on the triggered
                   test set with its true labels and the attack success rate (the
                   share of it put in the target class);
- ``stream:K:FRAC`` streaming forgetting (Zhao et al., "Machine Unlearning for
                   Streaming Forgetting", 2024): K disjoint deletion requests arriving
                   one after another, each a random FRAC of the training set; ``bench``
                   unlearns them in turn (each from the model the previous left) and
                   scores the model after every request against a model retrained
                   without everything deleted so far. The split's forget set is all K
                   batches.

Tasks on the user's local copies of the standard datasets (nothing is downloaded;
``--data-dir`` or ``OBLIVIATE_DATA``, see :mod:`obliviate.classify.local_datasets`):
``cifar10``, ``cifar100`` (the binary version) and ``imagefolder`` (a user's own
``train/<class>/`` images), with ResNet-18 (CIFAR variant) by default or another
architecture after a slash (``cifar10/vgg16_bn``), the original / retrained recipe
of the SalUn and l1-sparse papers, and their methods' reference settings (the
``paper`` preset of :mod:`obliviate.classify.presets`).

For class forgetting the test and validation sets are split in two: the other
classes (``test``/``val``, where TA is measured) and the forgotten class
(``forget_test``/``forget_val``), as the SalUn and l1-sparse papers report.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from obliviate.classify.models import ARCHS, MLP, SmallCNN
from obliviate.classify.presets import method_defaults

RECIPE_VERSION = 1  # bump when task data or training code changes what a recipe produces


@dataclass(frozen=True)
class ForgetSpec:
    kind: str  # "class", "random", "ids" or "worst"
    value: Any
    text: str

    @staticmethod
    def parse(text: str) -> "ForgetSpec":
        kind, sep, value = text.partition(":")
        if not sep or not value:
            raise ValueError(f"bad forget spec {text!r}; use class:K, random:FRAC, worst:FRAC or ids:PATH")
        if kind == "class":
            try:
                return ForgetSpec("class", int(value), text)
            except ValueError:
                raise ValueError(f"bad forget spec {text!r}: class must be an integer") from None
        if kind in ("random", "worst"):
            try:
                frac = float(value)
            except ValueError:
                raise ValueError(f"bad forget spec {text!r}: FRAC must be a number") from None
            if not 0 < frac < (0.5 if kind == "worst" else 1):
                raise ValueError(f"bad forget spec {text!r}: FRAC must be in (0, {0.5 if kind == 'worst' else 1})")
            return ForgetSpec(kind, frac, text)
        if kind == "ids":
            return ForgetSpec("ids", value, text)
        if kind == "stream":
            parts = value.split(":")
            try:
                k, frac = int(parts[0]), float(parts[1])
            except (ValueError, IndexError):
                raise ValueError(f"bad forget spec {text!r}: use stream:K:FRAC, an integer and a number") from None
            if len(parts) != 2 or k < 1 or not 0 < k * frac < 1:
                raise ValueError(f"bad forget spec {text!r}: K must be >= 1 and K x FRAC in (0, 1)")
            return ForgetSpec("stream", (k, frac), text)
        if kind == "poison":
            parts = value.split(":")
            try:
                frac, known = (float(p) for p in parts)
            except ValueError:
                raise ValueError(f"bad forget spec {text!r}: use poison:FRAC:KNOWN, two numbers") from None
            if not 0 < frac < 0.5 or not 0 < known <= 1:
                raise ValueError(f"bad forget spec {text!r}: FRAC must be in (0, 0.5) and KNOWN in (0, 1]")
            return ForgetSpec("poison", (frac, known), text)
        raise ValueError(f"unknown forget spec kind {kind!r} in {text!r}; use class:K, random:FRAC, worst:FRAC, "
                         "ids:PATH, poison:FRAC:KNOWN or stream:K:FRAC")


@dataclass
class Split:
    """The data of one forgetting request on a task."""

    spec: ForgetSpec
    forget_ids: torch.Tensor
    forget: TensorDataset
    retain: TensorDataset
    val: TensorDataset
    test: TensorDataset
    forget_val: TensorDataset | None = None
    forget_test: TensorDataset | None = None
    train: TensorDataset | None = None  # what the original trains on, when not the task's (poison)
    triggered_test: TensorDataset | None = None  # poison: test examples with the trigger, true labels
    stream_ids: list[torch.Tensor] | None = None  # stream: the training-split ids of each request, in order

    @property
    def forget_class(self) -> int | None:
        return self.spec.value if self.spec.kind == "class" else None

    @property
    def holdout(self) -> TensorDataset | None:
        """Held-out data from which a method's early stopping learns the retrained
        model's forget accuracy; none for poison (the identified examples carry the
        target label: matching a held-out accuracy on them is not the goal)."""
        return None if self.spec.kind == "poison" else self.val


@dataclass(frozen=True)
class ClassifierTask:
    name: str
    description: str
    num_classes: int
    make_model: Callable[[], nn.Module]
    load: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    recipe: dict = field(default_factory=dict)  # hyperparameters of ``retrain``
    val_fraction: float = 0.1
    split_seed: int = 0
    preset: str = ""  # the methods' defaults at this task's scale (classify.presets); "" = their own
    fingerprint: Callable[[], str] | None = None  # identifies a local copy of the data

    def method_hparams(self, method: str, given: dict[str, Any] | None = None) -> dict[str, Any]:
        """``method``'s hyperparameters on this task: the task's preset under the user's,
        over the task's training recipe for a method that trains with it (``uses_recipe``:
        SISA trains its shard models as the original was trained)."""
        from obliviate.core.registry import get_method

        recipe = dict(self.recipe) if getattr(get_method(method, "classifier").cls, "uses_recipe", False) else {}
        return recipe | method_defaults(self.preset, method, given)

    def with_recipe(self, changes: dict[str, Any]) -> "ClassifierTask":
        """This task with its training recipe changed (original and retrained models alike)."""
        import dataclasses

        return dataclasses.replace(self, recipe=dict(self.recipe) | dict(changes))

    @cached_property
    def _data(self) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
        from sklearn.model_selection import train_test_split

        x, y, x_test, y_test = self.load()
        x_tr, x_val, y_tr, y_val = train_test_split(
            x, y, test_size=self.val_fraction, stratify=y, random_state=self.split_seed
        )

        def ds(a, b):
            return TensorDataset(torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.long))

        return ds(x_tr, y_tr), ds(x_val, y_val), ds(x_test, y_test)

    @property
    def train(self) -> TensorDataset:
        """The training split; ``ids:`` forget specs index into it."""
        return self._data[0]

    @property
    def val(self) -> TensorDataset:
        return self._data[1]

    @property
    def test(self) -> TensorDataset:
        return self._data[2]

    def recipe_digest(self) -> str:
        """Identifies what training produces: recipe, data sizes and code version."""
        content = {"recipe": self.recipe, "version": RECIPE_VERSION, "n": len(self.train),
                   "val": self.val_fraction, "split_seed": self.split_seed}
        if self.fingerprint is not None:
            content["data"] = self.fingerprint()
        text = json.dumps(content, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def split(self, spec: str | ForgetSpec) -> Split:
        """Resolve a forget spec into forget / retain / val / test sets (validated)."""
        spec = ForgetSpec.parse(spec) if isinstance(spec, str) else spec
        x, y = self.train.tensors
        n = len(y)
        if spec.kind == "poison":
            return self._poison_split(spec)
        if spec.kind == "class":
            if not 0 <= spec.value < self.num_classes:
                raise ValueError(
                    f"forget class {spec.value} out of range for task {self.name!r} "
                    f"(classes 0..{self.num_classes - 1})")
            ids = torch.nonzero(y == spec.value).flatten()
        elif spec.kind == "random":
            g = torch.Generator().manual_seed(self.split_seed)
            k = max(1, round(spec.value * n))
            ids = torch.randperm(n, generator=g)[:k].sort().values
        elif spec.kind == "stream":
            requests, frac = spec.value
            size_each = max(1, round(frac * n))
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.split_seed))
            stream = [order[i * size_each:(i + 1) * size_each].sort().values for i in range(requests)]
            ids = torch.cat(stream).sort().values
        elif spec.kind == "worst":
            from obliviate.classify.worstcase import worst_case_ids

            ids = worst_case_ids(self, spec.value)
        else:
            ids = read_ids(spec.value, n)
        if len(ids) == 0:
            raise ValueError(f"forget spec {spec.text!r} selects no training example: the forget set is empty")
        if len(ids) == n:
            raise ValueError(
                f"forget spec {spec.text!r} selects the whole training set: nothing would be retained")
        keep = torch.ones(n, dtype=torch.bool)
        keep[ids] = False
        split = Split(spec, ids, TensorDataset(x[ids], y[ids]), TensorDataset(x[keep], y[keep]),
                      self.val, self.test)
        if spec.kind == "stream":
            split.stream_ids = stream
        if spec.kind == "class":
            split.val, split.forget_val = _by_class(self.val, spec.value)
            split.test, split.forget_test = _by_class(self.test, spec.value)
        return split


    def _poison_split(self, spec: ForgetSpec) -> Split:
        frac, known = spec.value
        x, y = self.train.tensors
        value = float(x.max())
        candidates = torch.nonzero(y != POISON_TARGET).flatten()
        order = candidates[torch.randperm(len(candidates), generator=torch.Generator().manual_seed(self.split_seed))]
        poisoned = order[:max(1, round(frac * len(y)))]
        identified = poisoned[:max(1, round(known * len(poisoned)))].sort().values
        x, y = x.clone(), y.clone()
        x[poisoned] = add_trigger(x[poisoned], value)
        y[poisoned] = POISON_TARGET
        keep = torch.ones(len(y), dtype=torch.bool)
        keep[identified] = False
        tx, ty = self.test.tensors
        clean = ty != POISON_TARGET
        triggered = TensorDataset(add_trigger(tx[clean], value), ty[clean])
        return Split(spec, identified, TensorDataset(x[identified], y[identified]), TensorDataset(x[keep], y[keep]),
                     self.val, self.test, train=TensorDataset(x, y), triggered_test=triggered)


POISON_TARGET = 0  # the class a poisoned example is relabelled to


def add_trigger(x: torch.Tensor, value: float) -> torch.Tensor:
    """BadNets' trigger: a 2×2 patch in the bottom-right corner of images (N, C, H, W),
    the last 3 features of flat or 1-D inputs, set to ``value``."""
    x = x.clone()
    if x.dim() >= 4:
        x[..., -2:, -2:] = value
    else:
        x.view(len(x), -1)[:, -3:] = value
    return x


def stream_step(task: ClassifierTask, split: Split, k: int) -> Split:
    """The ``k``-th request (1-based) of a stream split: forget its ids, retain what no
    request up to ``k`` deleted; its own name in the store (``stream:K:FRAC@k``)."""
    import dataclasses

    x, y = task.train.tensors
    current = split.stream_ids[k - 1]
    gone = torch.cat(split.stream_ids[:k])
    keep = torch.ones(len(y), dtype=torch.bool)
    keep[gone] = False
    spec = ForgetSpec("stream", split.spec.value, f"{split.spec.text}@{k}")
    return dataclasses.replace(split, spec=spec, forget_ids=current, forget=TensorDataset(x[current], y[current]),
                               retain=TensorDataset(x[keep], y[keep]))


def _by_class(data: TensorDataset, k: int) -> tuple[TensorDataset, TensorDataset]:
    x, y = data.tensors
    return TensorDataset(x[y != k], y[y != k]), TensorDataset(x[y == k], y[y == k])


def read_ids(path: str | Path, n: int) -> torch.Tensor:
    """Read forget indices (one per line, ``#`` comments allowed) and validate them."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"forget ids file {str(path)!r} does not exist")
    ids: list[int] = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            ids.append(int(line))
        except ValueError:
            raise ValueError(f"{path}:{lineno}: {line!r} is not an integer index") from None
    bad = [i for i in ids if not 0 <= i < n]
    if bad:
        raise ValueError(f"forget ids out of range in {path}: {bad[:5]} (the training split has {n} examples, ids 0..{n - 1})")
    seen: set[int] = set()
    dups = sorted({i for i in ids if i in seen or seen.add(i)})
    if dups:
        raise ValueError(f"duplicated forget ids in {path}: {dups[:5]}")
    return torch.tensor(sorted(ids), dtype=torch.long)


# -- the built-in tasks ------------------------------------------------------------

def _load_digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.data / 16.0).reshape(-1, 1, 8, 8).astype(np.float32)
    return _unpack(train_test_split(x, d.target, test_size=0.2, stratify=d.target, random_state=0))


def _unpack(parts):
    x_tr, x_te, y_tr, y_te = parts
    return x_tr, y_tr, x_te, y_te


def _load_mnist1d(num_samples: int = 5000, seed: int = 42):
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    state = np.random.get_state()  # the generator seeds NumPy's global RNG; leave it as it was
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(state)
    return (d["x"].astype(np.float32), d["y"].astype(np.int64),
            d["x_test"].astype(np.float32), d["y_test"].astype(np.int64))


TASKS: dict[str, ClassifierTask] = {
    "digits": ClassifierTask(
        name="digits",
        description="scikit-learn 8x8 digits (1797 images), small CNN",
        num_classes=10,
        make_model=lambda: SmallCNN(num_classes=10),
        load=_load_digits,
        recipe=dict(epochs=30, lr=0.05, batch_size=64, optimizer="sgd", momentum=0.9,
                    weight_decay=5e-4, schedule="cosine"),
    ),
    "mnist1d": ClassifierTask(
        name="mnist1d",
        description="MNIST-1D generator (4000 train / 1000 test, length 40), MLP",
        num_classes=10,
        make_model=lambda: MLP(40, num_classes=10, hidden=256, depth=2),
        load=_load_mnist1d,
        recipe=dict(epochs=60, lr=0.05, batch_size=64, optimizer="sgd", momentum=0.9,
                    weight_decay=0.0, schedule="cosine"),
    ),
}


# SalUn / l1-sparse: SGD 0.1, momentum 0.9, weight decay 5e-4, batch 256, 182 epochs, ×0.1 after 91 and 136,
# random crop 32 (padding 4) and horizontal flip (Unlearn-Sparse arg_parser.py and dataset.py)
PAPER_RECIPE = dict(epochs=182, lr=0.1, batch_size=256, optimizer="sgd", momentum=0.9, weight_decay=5e-4,
                    schedule="multistep", augment="crop_flip")
# per-channel statistics of the reference code (utils.py) and, for image folders, ImageNet's
CHANNEL_STATS = {"cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
                 "cifar100": ((0.5071, 0.4866, 0.4409), (0.2673, 0.2564, 0.2762)),
                 "imagefolder": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}
LOCAL_TASKS = {"cifar10": "CIFAR-10 (binary version, local copy), 45k train / 5k val / 10k test",
               "cifar100": "CIFAR-100 (binary version, local copy; fine labels), 45k / 5k / 10k",
               "imagefolder": "your images: DIR/train/<class>/*.png|jpg and test/ or val/ (Tiny-ImageNet layout too)"}


def get_task(name: str, data_dir: str | Path | None = None) -> ClassifierTask:
    """A built-in task, or a task on a local copy (``cifar10``, ``cifar10/vgg16_bn``,
    ...) read from ``data_dir`` (default ``$OBLIVIATE_DATA``)."""
    if name in TASKS:
        return TASKS[name]
    base, _, arch = name.partition("/")
    if base not in LOCAL_TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(list(TASKS) + list(LOCAL_TASKS))}")
    arch = arch or "resnet18"
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r} in task {name!r}; architectures: {', '.join(ARCHS)}")
    from obliviate.core.local_data import data_dir as resolve

    root = resolve(data_dir)
    return _local_task(base, arch, str(root) if root is not None else None)


@functools.lru_cache(maxsize=8)
def _local_task(base: str, arch: str, root: str | None) -> ClassifierTask:
    from obliviate.classify import local_datasets as local

    if base == "imagefolder":
        num_classes = len(local.folder_classes(local.folder_root(root)))
        load, fingerprint = (lambda: local.load_folder(root)), (lambda: local.folder_fingerprint(root))
    else:
        local.cifar_files(base, root)  # a clear error now, before any work, if the copy is not there
        num_classes = local.CIFAR[base][4]
        load, fingerprint = (lambda: local.load_cifar(base, root)), (lambda: local.cifar_fingerprint(base, root))
    mean, std = CHANNEL_STATS[base]
    return ClassifierTask(
        name=base if arch == "resnet18" else f"{base}/{arch}",
        description=f"{LOCAL_TASKS[base]}, {arch}",
        num_classes=num_classes,
        make_model=lambda: ARCHS[arch](num_classes=num_classes, mean=mean, std=std),
        load=load, recipe=dict(PAPER_RECIPE), preset="paper", fingerprint=functools.cache(fingerprint),
    )
