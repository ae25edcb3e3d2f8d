"""Classifier tasks on local copies of published datasets, each read from tiny files
written here in the dataset's exact official layout; the paper-scale models, recipe
and method presets."""

import itertools
import os

import numpy as np
import pytest
import torch

from obliviate.classify.augment import crop_flip
from obliviate.classify.loop import schedule_factor
from obliviate.classify.models import ResNet18, VGG16BN, reinitialise
from obliviate.classify.tasks import get_task
from obliviate.core.seeding import make_generator


def write_cifar(folder, files, records, label_bytes, classes, seed=0):
    """Binary CIFAR batch files: per record ``label_bytes`` label bytes, then the 1024 red,
    1024 green and 1024 blue bytes of a 32×32 image, row-major."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in files:
        fine = np.arange(records) % classes
        labels = [fine // 5, fine] if label_bytes == 2 else [fine]  # coarse = fine // 5
        pixels = rng.integers(0, 256, (records, 3072), dtype=np.uint8)
        rows = np.concatenate([np.stack(labels, 1).astype(np.uint8), pixels], 1)
        (folder / name).write_bytes(rows.tobytes())
        out[name] = (fine, pixels)
    return out


@pytest.fixture
def cifar10_copy(tmp_path, monkeypatch):
    files = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    written = write_cifar(tmp_path / "cifar-10-batches-bin", files, 40, 1, 10)
    (tmp_path / "cifar-10-batches-bin" / "batches.meta.txt").write_text(
        "\n".join(["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]))
    monkeypatch.setenv("OBLIVIATE_DATA", str(tmp_path))
    return tmp_path, written


def test_cifar10_binary_records_are_read_label_then_red_green_blue_planes(tmp_path):
    from obliviate.classify.local_datasets import read_cifar_file

    record = np.zeros(3073, dtype=np.uint8)
    record[0] = 7
    record[1:1025], record[1025:2049], record[2049:] = 10, 20, 30
    record[1 + 1 * 32 + 2] = 255  # red, row 1, column 2
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(np.concatenate([record, record]).tobytes())
    x, y = read_cifar_file(path, 1, 10)
    assert x.shape == (2, 3, 32, 32) and x.dtype == np.float32 and y.tolist() == [7, 7]
    assert x[0, 0, 1, 2] == 1.0 and x[0, 0, 0, 0] == pytest.approx(10 / 255)
    assert x[0, 1, 1, 2] == pytest.approx(20 / 255) and x[0, 2, 31, 31] == pytest.approx(30 / 255)


def test_cifar10_task_reads_the_five_batches_and_the_test_batch(cifar10_copy):
    root, written = cifar10_copy
    task = get_task("cifar10")
    assert task.num_classes == 10 and task.preset == "paper"
    assert len(task.train) + len(task.val) == 200 and len(task.test) == 40
    assert len(task.val) == 20  # 10% held out, stratified: the reference's 45k / 5k
    fine, pixels = written["test_batch.bin"]
    x, y = task.test.tensors
    assert y.tolist() == fine.tolist()
    assert torch.equal(x[3], torch.tensor(pixels[3].reshape(3, 32, 32), dtype=torch.float32) / 255)
    assert task.recipe == dict(epochs=182, lr=0.1, batch_size=256, optimizer="sgd", momentum=0.9,
                               weight_decay=5e-4, schedule="multistep", augment="crop_flip")
    assert isinstance(task.make_model(), ResNet18) and isinstance(get_task("cifar10/vgg16_bn").make_model(), VGG16BN)


def test_cifar100_uses_the_fine_label_the_second_byte(tmp_path, monkeypatch):
    written = write_cifar(tmp_path / "cifar-100-binary", ["train.bin", "test.bin"], 1000, 2, 100)
    monkeypatch.setenv("OBLIVIATE_DATA", str(tmp_path / "cifar-100-binary"))  # the folder itself works too
    task = get_task("cifar100")
    assert task.num_classes == 100 and task.test.tensors[1].tolist() == written["test.bin"][0].tolist()
    assert task.make_model().normalize.mean.flatten().tolist() == pytest.approx([0.5071, 0.4866, 0.4409])


def test_local_copies_fail_in_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("OBLIVIATE_DATA", raising=False)
    with pytest.raises(ValueError, match=r"task 'cifar10' reads .* pass --data-dir DIR \(or set OBLIVIATE_DATA\)"):
        get_task("cifar10")
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"\x80\x02")
    with pytest.raises(ValueError, match="holds the Python \\(pickled\\) version of cifar10, which obliviate does not read"):
        get_task("cifar10", data_dir=tmp_path)
    folder = tmp_path / "bin" / "cifar-10-batches-bin"
    write_cifar(folder, [f"data_batch_{i}.bin" for i in range(1, 6)], 40, 1, 10)
    with pytest.raises(ValueError, match="missing test_batch.bin"):
        get_task("cifar10", data_dir=tmp_path / "bin")
    (folder / "test_batch.bin").write_bytes(b"\x01" * 3000)
    with pytest.raises(ValueError, match="3000 bytes is not a whole number of 3073-byte CIFAR records"):
        get_task("cifar10", data_dir=tmp_path / "bin").test
    with pytest.raises(ValueError, match="unknown architecture 'resnet50' in task 'cifar10/resnet50'"):
        get_task("cifar10/resnet50", data_dir=tmp_path / "bin")


def _png(path, size, value):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, dtype=np.uint8)).save(path)


def test_image_folder_with_test_class_folders(tmp_path):
    for cls, value in (("cat", 10), ("dog", 200)):
        for i in range(10):
            _png(tmp_path / "train" / cls / f"{i}.png", (8, 6), value)
        _png(tmp_path / "test" / cls / "a.PNG", (8, 6), value)
    task = get_task("imagefolder", data_dir=tmp_path)
    x, y = task.test.tensors
    assert task.num_classes == 2 and x.shape == (2, 3, 6, 8) and y.tolist() == [0, 1]  # sorted class names
    assert x[1].max().item() == pytest.approx(200 / 255)
    mixed = tmp_path / "mixed"
    for cls, size in (("cat", (8, 6)), ("dog", (9, 6))):
        for i in range(10):
            _png(mixed / "train" / cls / f"{i}.png", size, 1)
        _png(mixed / "val" / cls / "a.png", (8, 6), 1)
    with pytest.raises(ValueError, match=r"dog/0.png is 9x6, the others 8x6: resize the folder to one size first"):
        get_task("imagefolder", data_dir=mixed).train


def test_image_folder_reads_the_tiny_imagenet_layout(tmp_path):
    from obliviate.classify.local_datasets import folder_listing

    for wnid in ("n01443537", "n01629819"):
        for i in range(3):
            _png(tmp_path / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", (4, 4), 50)
        (tmp_path / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
    _png(tmp_path / "val" / "images" / "val_0.JPEG", (4, 4), 50)
    _png(tmp_path / "val" / "images" / "val_1.JPEG", (4, 4), 50)
    (tmp_path / "val" / "val_annotations.txt").write_text(
        "val_0.JPEG\tn01629819\t0\t0\t3\t3\nval_1.JPEG\tn01443537\t1\t1\t2\t2\n")
    _png(tmp_path / "test" / "images" / "test_0.JPEG", (4, 4), 50)  # unlabelled: not the test split
    train, test = folder_listing(tmp_path)
    assert len(train) == 6 and [(p.name, label) for p, label in test] == [("val_0.JPEG", 1), ("val_1.JPEG", 0)]


def test_resnet18_and_vgg16_bn_have_the_reference_architectures():
    # parameter counts of OPTML-Group/Unlearn-Saliency Classification/models resnet18 and vgg16_bn
    # (10 classes), measured by instantiating the reference code
    resnet, vgg = ResNet18(10), VGG16BN(10)
    assert sum(p.numel() for p in resnet.parameters()) == 11_173_962
    assert sum(p.numel() for p in vgg.parameters()) == 15_311_818
    stem = resnet.body[0]
    assert (stem.kernel_size, stem.stride) == ((3, 3), (1, 1))  # CIFAR stem, and no max-pool:
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in resnet.modules())
    assert resnet.features(torch.rand(2, 3, 32, 32)).shape == (2, 512)
    x = torch.rand(2, 3, 32, 32)
    normalised = (x - torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)) / \
        torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)
    torch.testing.assert_close(resnet.normalize(x), normalised)
    torch.manual_seed(0)
    reinitialise(vgg)  # the retrained model starts from the same scheme: Kaiming-normal (fan out), N(0, 0.01)
    conv = vgg.body[0]
    assert conv.weight.std().item() == pytest.approx((2 / (64 * 9)) ** 0.5, rel=0.1)
    assert vgg.head.weight.std().item() == pytest.approx(0.01, rel=0.1)


def test_crop_flip_is_a_padded_crop_then_maybe_a_mirror():
    x = torch.rand(16, 3, 32, 32)
    out = crop_flip(x, make_generator(0))
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    kinds = set()
    for i in range(16):
        found = [(r, c, f) for r, c, f in itertools.product(range(9), range(9), (False, True))
                 if torch.equal(out[i], (lambda w: w.flip(-1) if f else w)(padded[i, :, r:r + 32, c:c + 32]))]
        assert found, f"image {i} is no padded crop of its input"
        kinds.add(found[0][2])
    assert kinds == {False, True}
    torch.testing.assert_close(crop_flip(x, make_generator(0)), out)  # the seed fixes the draws


def test_multistep_schedule_has_the_reference_milestones():
    epochs, per_epoch = 182, 10
    at = lambda epoch: schedule_factor("multistep", epoch * per_epoch, epochs * per_epoch, epochs)  # noqa: E731
    assert [at(90), at(91), at(135), at(136), at(181)] == pytest.approx([1, 0.1, 0.1, 0.01, 0.01])


def test_bench_on_a_local_cifar10_copy_uses_the_paper_preset_and_an_overridden_recipe(cifar10_copy, tmp_path):
    from obliviate import bench
    from obliviate.core.store import Store

    plan = bench.plan("cifar10", "class:3", ["retrain", "ft", "ssd", "duck"], [0],
                      {"retrain": {"epochs": "1", "batch_size": "64"}, "ft": {"epochs": "1"}})
    assert plan.task.recipe["epochs"] == 1 and plan.task.recipe["batch_size"] == 64  # typed, both models
    assert plan.task.recipe["schedule"] == "multistep"
    assert plan.hparams["ft"] == dict(optimizer="sgd", momentum=0.9, weight_decay=5e-4, batch_size=256,
                                      schedule="constant", min_steps=0, retain_budget=None, adapt_lr=False,
                                      epochs=1,
                                      lr=0.01)  # user's epochs win
    # SSD as its reference runs it: squared mini-batch gradients at batch 64, alpha 10, lambda 1, one update
    assert plan.hparams["ssd"] == dict(alpha=10.0, lam=1.0, importance_batch_size=64, adapt_strength=False)
    assert "duck" not in plan.hparams  # no published CIFAR-10 command: its own defaults, and the note says so
    assert "preset 'paper'" in plan.note and "ft, ssd" in plan.note and "own defaults" in plan.note
    assert plan.note.endswith("duck")
    rows = {r["method"]: r for r in bench.run(bench.plan("cifar10", "class:3", ["ft"], [0], {
        "retrain": {"epochs": 1, "batch_size": 64}, "ft": {"epochs": 1}}), Store(tmp_path / "home"),
        show_progress=False)}
    assert rows["ft"]["hparams"]["lr"] == 0.01 and rows["ft"]["hparams"]["batch_size"] == 256
    assert rows["original"]["metrics"]["seconds"] > 0 and 0 <= rows["ft"]["metrics"]["test_acc"] <= 100


def test_the_cli_reads_data_dir_and_refuses_a_missing_one(cifar10_copy, tmp_path, capsys, monkeypatch):
    from obliviate.cli import main

    root, _ = cifar10_copy
    monkeypatch.delenv("OBLIVIATE_DATA")
    assert main(["bench", "--task", "cifar10", "--forget", "class:3", "--methods", "ft", "--data-dir",
                 str(tmp_path / "nope")]) == 2
    assert "--data-dir" in capsys.readouterr().err
    assert main(["bench", "--task", "cifar10", "--forget", "class:99", "--methods", "ft", "--data-dir", str(root)]) == 2
    assert "forget class 99 out of range for task 'cifar10'" in capsys.readouterr().err
    assert os.environ["OBLIVIATE_DATA"] == str(root)


def test_obliviate_evaluate_scores_classifier_weights_on_a_local_copy(cifar10_copy, tmp_path, capsys):
    import json

    from safetensors.torch import save_file

    from obliviate.classify.evaluate import evaluate
    from obliviate.cli import main

    root, _ = cifar10_copy
    task = get_task("cifar10")
    torch.manual_seed(0)
    model, retrained = task.make_model().eval(), task.make_model().eval()
    save_file(model.state_dict(), tmp_path / "w.safetensors")
    save_file(retrained.state_dict(), tmp_path / "r.safetensors")
    assert main(["evaluate", "--model", str(tmp_path / "w.safetensors"), "--benchmark", "cifar10", "--forget",
                 "class:3", "--retain-model", str(tmp_path / "r.safetensors"), "--json", str(tmp_path / "o.json")]) == 0
    rows = json.loads((tmp_path / "o.json").read_text())
    split = task.split("class:3")
    expected = evaluate(model, split.forget, split.retain, split.test, reference=retrained,
                        forget_test=split.forget_test)
    assert rows[0]["metrics"] == pytest.approx(expected) and rows[1]["role"] == "retain"
    save_file(get_task("cifar10/vgg16_bn").make_model().state_dict(), tmp_path / "vgg.safetensors")
    capsys.readouterr()
    assert main(["evaluate", "--model", str(tmp_path / "vgg.safetensors"), "--benchmark", "cifar10",
                 "--forget", "class:3"]) == 2
    assert "does not hold cifar10's ResNet18 weights" in capsys.readouterr().err
    # the spelling: --task and --arch name the same thing as --benchmark cifar10/vgg16_bn
    assert main(["evaluate", "--model", str(tmp_path / "vgg.safetensors"), "--task", "cifar10", "--arch", "vgg16_bn",
                 "--forget", "class:3", "--json", str(tmp_path / "v.json")]) == 0
    assert json.loads((tmp_path / "v.json").read_text())[0]["benchmark"] == "cifar10/vgg16_bn"
    assert main(["evaluate", "--model", str(tmp_path / "vgg.safetensors"), "--task", "cifar10/resnet18", "--arch",
                 "vgg16_bn", "--forget", "class:3"]) == 2
    assert "contradicts" in capsys.readouterr().err
