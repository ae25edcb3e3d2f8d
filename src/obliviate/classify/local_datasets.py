"""Readers for the user's local copies of image datasets, in their official layouts.

- CIFAR-10 / CIFAR-100, the *binary version* (``cifar-10-binary.tar.gz`` extracts to
  ``cifar-10-batches-bin/``: ``data_batch_1.bin`` … ``data_batch_5.bin``,
  ``test_batch.bin``; ``cifar-100-binary.tar.gz`` to ``cifar-100-binary/``:
  ``train.bin``, ``test.bin``). A record is one label byte (CIFAR-100: two, coarse
  then fine) followed by 3072 pixel bytes: the 1024 red values of the 32×32 image in
  row-major order, then green, then blue (https://www.cs.toronto.edu/~kriz/cifar.html).
  The pickled Python version is refused: obliviate never unpickles.
- An image folder (``train/<class>/**/*.png|jpg|jpeg``, labels from the sorted
  class-folder names as torchvision's ``ImageFolder``), its test split from
  ``test/<class>/`` or ``val/<class>/``, or Tiny-ImageNet's ``val/images/`` with
  ``val/val_annotations.txt`` (file name, class, box; tab-separated).

Pixels are returned as float32 in [0, 1], shape (N, 3, H, W); the models normalise
per channel themselves (``classify.models.Normalize``), as the SalUn / l1-sparse
reference code does, so input-space methods work on pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from obliviate.core.local_data import find_copy, fingerprint

PIXELS = 3 * 32 * 32
CIFAR = {  # task: (folder of the official archive, train files, test file, label bytes, classes)
    "cifar10": ("cifar-10-batches-bin", [f"data_batch_{i}.bin" for i in range(1, 6)], "test_batch.bin", 1, 10),
    "cifar100": ("cifar-100-binary", ["train.bin"], "test.bin", 2, 100),
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


def cifar_files(task: str, data_dir=None) -> list[Path]:
    """The binary batch files of ``task``'s local copy (train files, then the test file)."""
    folder, train, test, _, _ = CIFAR[task]
    what = f"the binary version of {task.upper().replace('CIFAR', 'CIFAR-')} ({folder}/{train[0]}, ...)"
    try:
        root = find_copy(task, data_dir, folder, train[0], what)
    except ValueError as err:
        pickled = _pickled_copy(task, data_dir)
        if pickled is not None:
            raise ValueError(f"{pickled} holds the Python (pickled) version of {task}, which obliviate does not "
                             f"read (it would unpickle): use the binary version ({folder}/)") from None
        raise err
    files = [root / name for name in train + [test]]
    missing = [p.name for p in files if not p.is_file()]
    if missing:
        raise ValueError(f"{root}: missing {', '.join(missing)} of the binary {task} files")
    return files


def _pickled_copy(task: str, data_dir) -> Path | None:
    from obliviate.core.local_data import data_dir as resolve

    root = resolve(data_dir)
    if root is None:
        return None
    marker = "data_batch_1" if task == "cifar10" else "train"
    for place in (root, root / ("cifar-10-batches-py" if task == "cifar10" else "cifar-100-python")):
        if (place / marker).is_file():
            return place
    return None


def read_cifar_file(path: Path, label_bytes: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One binary CIFAR file: pixels (N, 3, 32, 32) float32 in [0, 1] and the (fine) labels."""
    raw = np.fromfile(path, dtype=np.uint8)
    record = label_bytes + PIXELS
    if raw.size == 0 or raw.size % record:
        raise ValueError(f"{path}: {raw.size} bytes is not a whole number of {record}-byte CIFAR records "
                         f"({label_bytes} label byte(s) + {PIXELS} pixels): not the binary version, or truncated")
    rows = raw.reshape(-1, record)
    labels = rows[:, label_bytes - 1].astype(np.int64)  # CIFAR-100: the fine label is the second byte
    if labels.max() >= classes:
        raise ValueError(f"{path}: label {int(labels.max())} out of range for {classes} classes")
    pixels = rows[:, label_bytes:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
    return pixels, labels


def load_cifar(task: str, data_dir=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train and test pixels and labels of the binary CIFAR copy."""
    _, _, _, label_bytes, classes = CIFAR[task]
    files = cifar_files(task, data_dir)
    parts = [read_cifar_file(f, label_bytes, classes) for f in files]
    x = np.concatenate([p[0] for p in parts[:-1]])
    y = np.concatenate([p[1] for p in parts[:-1]])
    return x, y, parts[-1][0], parts[-1][1]


def cifar_fingerprint(task: str, data_dir=None) -> str:
    return fingerprint(cifar_files(task, data_dir))


# -- image folders -------------------------------------------------------------------

def folder_root(data_dir=None) -> Path:
    return find_copy("imagefolder", data_dir, "", "train", "images in train/<class>/ folders")


def folder_classes(root: Path) -> list[str]:
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    if not classes:
        raise ValueError(f"{root / 'train'} has no class folders (train/<class>/*.png)")
    return classes


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def folder_listing(root: Path) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """(path, label) of every training and test image."""
    classes = folder_classes(root)
    index = {c: i for i, c in enumerate(classes)}
    train = [(p, index[c]) for c in classes for p in _images(root / "train" / c)]
    empty = [c for c in classes if not any(label == index[c] for _, label in train)]
    if empty:
        raise ValueError(f"{root / 'train'}: class folder(s) without images: {', '.join(empty[:5])}")
    for name in ("test", "val"):
        split = _labelled(root / name, index)
        if split is not None:
            return train, split
    raise ValueError(f"{root}: no labelled test split (test/<class>/, val/<class>/, or val/images/ with "
                     "val/val_annotations.txt)")


def _labelled(folder: Path, index: dict[str, int]) -> list[tuple[Path, int]] | None:
    if not folder.is_dir():
        return None
    notes = folder / "val_annotations.txt"
    if notes.is_file():  # Tiny-ImageNet: file name, class, box
        out = []
        for lineno, line in enumerate(notes.read_text().splitlines(), 1):
            if not line.strip():
                continue
            name, cls = line.split("\t")[:2]
            if cls not in index:
                raise ValueError(f"{notes}:{lineno}: class {cls!r} has no train/ folder")
            path = folder / "images" / name
            if not path.is_file():
                raise ValueError(f"{notes}:{lineno}: {path} does not exist")
            out.append((path, index[cls]))
        return out
    subdirs = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not subdirs or not set(subdirs) <= set(index):
        return None  # e.g. Tiny-ImageNet's unlabelled test/images/
    return [(p, index[c]) for c in subdirs for p in _images(folder / c)]


def read_images(items: list[tuple[Path, int]]) -> tuple[np.ndarray, np.ndarray]:
    """RGB pixels (N, 3, H, W) float32 in [0, 1] and labels; every image must have one size."""
    from PIL import Image

    if not items:
        raise ValueError("no images found")
    arrays, size = [], None
    for path, _ in items:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
        if size is None:
            size = rgb.size
        elif rgb.size != size:
            raise ValueError(f"{path} is {rgb.size[0]}x{rgb.size[1]}, the others {size[0]}x{size[1]}: "
                             "resize the folder to one size first")
        arrays.append(np.asarray(rgb, dtype=np.uint8))
    pixels = np.stack(arrays).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    return pixels, np.array([label for _, label in items], dtype=np.int64)


def load_folder(data_dir=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    train, test = folder_listing(folder_root(data_dir))
    (x, y), (x_test, y_test) = read_images(train), read_images(test)
    if x.shape[1:] != x_test.shape[1:]:
        raise ValueError(f"test images are {x_test.shape[3]}x{x_test.shape[2]}, training images "
                         f"{x.shape[3]}x{x.shape[2]}")
    return x, y, x_test, y_test


def folder_fingerprint(data_dir=None) -> str:
    train, test = folder_listing(folder_root(data_dir))
    return fingerprint([p for p, _ in train + test], head=256)
