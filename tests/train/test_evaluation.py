"""The one evaluation function, the report it writes, and checkpoints evaluated on their own data."""

import json
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import cnnzoo
from cnnzoo.train import TrainConfig, train
from cnnzoo.train.checkpoint import save_checkpoint
from cnnzoo.train.evaluation import evaluate, evaluate_checkpoint, predict_files, write_evaluation
from cnnzoo.train.meta import CheckpointMeta, Normalization
from cnnzoo.train.tasks import TaskContext, build_task

CPU = torch.device("cpu")


def _linear_case():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(20, 3, generator=g), torch.randint(0, 4, (20,), generator=g)
    model = nn.Linear(3, 4)
    return model, x, y


def test_evaluate_loss_and_accuracy_by_hand():
    model, x, y = _linear_case()
    model.train()
    seen = []
    task = build_task("classification", TaskContext(num_classes=4))
    loader = DataLoader(TensorDataset(x, y), batch_size=6)
    r = evaluate(model, loader, lambda b: 2 * b, task, CPU, progress=seen.append)
    with torch.no_grad():
        z = model(2 * x)
    assert r["loss"] == pytest.approx(float(F.cross_entropy(z, y)), rel=1e-6)
    assert r["acc"] == pytest.approx(float((z.argmax(1) == y).float().mean()))
    assert seen == [6, 6, 6, 2] and model.training  # progress per batch; the mode is restored
    d = evaluate(model, loader, lambda b: 2 * b, task, CPU, detailed=True)
    assert d["acc"] == r["acc"] and len(d["confusion"]) == 4 and "per_class" in d and "roc" in d


def test_evaluate_an_empty_loader_is_a_value_error():
    model, x, y = _linear_case()
    task = build_task("classification", TaskContext(num_classes=4))
    with pytest.raises(ValueError, match="no samples"):
        evaluate(model, DataLoader(TensorDataset(x[:0], y[:0])), lambda b: b, task, CPU)


def test_write_evaluation_json_and_plots(tmp_path):
    model, x, y = _linear_case()
    task = build_task("classification", TaskContext(num_classes=4, class_names=list("abcd")))
    r = evaluate(model, DataLoader(TensorDataset(x, y), batch_size=8), lambda b: b, task, CPU, detailed=True)
    r["nan_field"] = float("nan")
    files = write_evaluation(r, tmp_path / "rep", title="linear on toy", task=task)
    assert sorted(f.name for f in files) == ["confusion.png", "evaluation.json", "pr.png", "roc.png"]
    back = json.loads((tmp_path / "rep" / "evaluation.json").read_text())
    assert back["nan_field"] is None and back["acc"] == r["acc"] and back["confusion"] == r["confusion"]
    assert all(f.stat().st_size > 1000 for f in files)


def test_write_evaluation_never_raises(tmp_path, monkeypatch):
    task = build_task("classification", TaskContext(num_classes=2))
    report = {"loss": 0.5, "acc": 1.0, "confusion": [[1, 0], [0, 1]]}
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.warns(RuntimeWarning, match="could not create") as caught:
        assert write_evaluation(report, blocker / "sub", title="t", task=task) == []
    assert len(caught) == 1 and "\n" not in str(caught[0].message)

    def broken(*a, **k):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr("cnnzoo.train.tasks.report.plot_confusion", broken)
    with pytest.warns(RuntimeWarning, match="plots.*Read-only"):
        files = write_evaluation(report, tmp_path / "ok", title="t", task=task)
    assert [f.name for f in files] == ["evaluation.json"]


@pytest.fixture(scope="module")
def subset_run(tmp_path_factory):
    """LeNet-5 trained for one short epoch on digits 0, 1, 2 with a validation split."""
    out = tmp_path_factory.mktemp("subset")
    train(TrainConfig(model="lenet5", data="digits", epochs=1, limit_train=64, classes=[0, 1, 2], val_split=0.2, out=str(out), progress=False))
    return out


def test_a_class_subset_run_is_evaluated_on_its_own_classes(subset_run):
    from cnnzoo.data.digits import load_digits_arrays

    r = evaluate_checkpoint(subset_run)
    n = int(np.isin(load_digits_arrays(size=32).y_test, [0, 1, 2]).sum())
    assert r["num_samples"] == n and sum(map(sum, r["confusion"])) == n
    assert r["class_names"] == ["0", "1", "2"] and r["data"] == "digits" and r["scales"] is None
    # center evaluation is the run's own: the same numbers as the final test of training
    final = json.loads((subset_run / "evaluation.json").read_text())
    assert r["acc"] == pytest.approx(final["acc"]) and r["loss"] == pytest.approx(final["loss"], rel=1e-5)
    val = evaluate_checkpoint(subset_run, split="val")
    config = json.loads((subset_run / "config.json").read_text())
    assert val["num_samples"] == config["data_info"]["val"] and val["split"] == "val"


def test_tta_views_of_a_subset_run(subset_run):
    r = evaluate_checkpoint(subset_run, tta="10crop", scales=[36])
    assert r["mode"] == "10crop" and r["scales"] == [36] and len(r["confusion"]) == 3
    assert 0 <= r["acc"] <= r["acc_top5"] == 1.0  # three classes: top-5 holds them all


def test_a_folder_run_is_evaluated_on_its_folder(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    for k, name in enumerate(("cat", "dog", "eel")):
        (root / name).mkdir(parents=True)
        for i in range(10):
            img = rng.integers(0, 60, (32, 32)).astype(np.uint8)
            img[:, 10 * k : 10 * k + 8] = 255  # a bright band whose place is the class
            Image.fromarray(img).save(root / name / f"{i}.png")
    run = tmp_path / "run"
    train(TrainConfig(model="lenet5", data=f"folder:{root}", epochs=1, batch_size=8, out=str(run), progress=False))
    r = evaluate_checkpoint(run)
    assert r["data"] == f"folder:{root}" and r["class_names"] == ["cat", "dog", "eel"]
    assert r["num_samples"] == 6 and len(r["confusion"]) == 3  # the seeded 20% test split: 2 per class
    with pytest.raises(ValueError, match="trained for 3 classes.*has 10"):
        evaluate_checkpoint(run, "digits")


def _seg_checkpoint(path):
    kwargs = {"num_classes": 11, "in_chans": 1, "padding": True, "base_width": 2}
    torch.manual_seed(0)
    model = cnnzoo.create("unet", **kwargs)
    meta = CheckpointMeta(
        model="unet", model_kwargs=kwargs, task="segmentation", data="digits-seg", data_name="digits-seg",
        num_classes=11, class_names=["background"] + [str(d) for d in range(10)], in_chans=1,
        normalize=Normalization(mean=[0.1], std=[0.3], size=[64, 64]),
    )  # fmt: skip
    save_checkpoint(path / "checkpoint-last", model, meta)
    return path


def test_a_segmentation_checkpoint(tmp_path):
    run = _seg_checkpoint(tmp_path)
    r = evaluate_checkpoint(run, batch_size=250)
    assert r["num_samples"] == 250 and len(r["per_class"]["iou"]) == 11
    assert {"acc", "mean_acc", "miou", "fwiou"} <= set(r) and 0 <= r["miou"] <= r["acc"] <= 1
    with pytest.raises(ValueError, match="tta='10crop'.*segmentation"):
        evaluate_checkpoint(run, tta="10crop")
    with pytest.raises(ValueError, match="classification checkpoints only.*segmentation"):
        predict_files(run, [tmp_path / "x.png"])


def test_bad_tta_and_split_are_one_line(subset_run):
    for kwargs, needle in (({"tta": "5crop"}, "expected one of"), ({"split": "train"}, "expected test or val")):
        with pytest.raises(ValueError, match=needle) as e:
            evaluate_checkpoint(subset_run, **kwargs)
        assert "\n" not in str(e.value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about in a plain evaluation
        evaluate_checkpoint(subset_run, batch_size=512)
