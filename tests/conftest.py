import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from obliviate.classify.training import train_from_scratch
from obliviate.classify.tasks import get_task

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """No test touches the user's real cache directory."""
    monkeypatch.setenv("OBLIVIATE_HOME", str(tmp_path / "home"))
    yield tmp_path / "home"


@pytest.fixture(scope="session")
def digits_class3():
    """digits, forget class 3: the split, the original model and the retrained reference (seed 0)."""
    task = get_task("digits")
    split = task.split("class:3")
    original, _ = train_from_scratch(task, task.train, seed=0)
    retrained, _ = train_from_scratch(task, split.retain, seed=0)
    return task, split, original, retrained


@pytest.fixture(scope="session")
def eval_rows(tmp_path_factory):
    """obliviate eval's full suite on digits class:3 with N = 4: retrain (the floor) and
    ssd with an impossible selection threshold, which changes nothing (the original)."""
    from obliviate.core.store import Store
    from obliviate.suite import plan_eval, run_eval

    store = Store(tmp_path_factory.mktemp("eval_home"))
    plan = plan_eval("digits", "class:3", ["retrain", "ssd"], "full", n_models=4, hparams={"ssd": {"alpha": 1e9}})
    return {r["method"]: r for r in run_eval(plan, store)}


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """The language-model track's test task: a 20-person corpus and a 2-layer GPT-2
    that memorises it (original + retain-only, forget10)."""
    from obliviate.core.store import Store
    from obliviate.lm.corpus import TofuCorpus
    from obliviate.lm.models import LMRecipe, TinyLM
    from obliviate.lm.task import TofuMiniTask

    task = TofuMiniTask(corpus=TofuCorpus(n_people=20, n_holdout=6, questions_per_person=6, retain_eval_size=30),
                        model=TinyLM(hidden=64, layers=2, heads=2, intermediate=128),
                        recipe=LMRecipe(epochs=30, lr=1e-2, batch_size=16), vocab_size=512)
    store = Store(tmp_path_factory.mktemp("lm_store"))
    original, tokenizer, _ = task.model_for(store, "original", 0)
    retained, _, _ = task.model_for(store, "retrain", 0, "forget10")
    return task, store, original, retained, tokenizer, task.split("forget10")


@pytest.fixture(scope="session")
def shared_home(tmp_path_factory):
    """A store shared by the CLI tests, so cached models are trained once."""
    return tmp_path_factory.mktemp("shared_home")


class Blobs(Dataset):
    """A torchvision-style dataset: ``.targets``, items ``(tensor, int)``; 3 classes of 2-D blobs."""

    def __init__(self, n: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.targets = torch.randint(0, 3, (n,), generator=g).tolist()
        centers = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
        self.data = centers[self.targets] + 0.6 * torch.randn(n, 2, generator=g)

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return self.data[i], self.targets[i]


class Net(nn.Module):
    def __init__(self, outputs=3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, outputs))

    def forward(self, x):
        return self.net(x)


@pytest.fixture(scope="session")
def own_blobs():
    """A user's own model, trained by the user, with its own data: no built-in task."""
    train, test = Blobs(600, 0), Blobs(300, 1)
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(30):
        for x, y in DataLoader(train, batch_size=64, shuffle=True):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    forget_ids = [i for i, t in enumerate(train.targets) if t == 2]
    retain_ids = [i for i, t in enumerate(train.targets) if t != 2]
    forget = Subset(train, forget_ids)
    retain = Subset(train, retain_ids)
    test_other = Subset(test, [i for i, t in enumerate(test.targets) if t != 2])
    return model, forget, retain, test_other
