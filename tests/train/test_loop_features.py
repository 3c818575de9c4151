"""The loop on each data format, with the losses, regularisers and stopping rules it offers."""

from __future__ import annotations

import json

import pytest

from cnnzoo.train import train


def test_mnist_idx_and_cifar_python_train(tmp_path, quick, formats):
    mnist = formats.write_mnist(tmp_path / "mnist", n_train=64)
    m = train(quick(tmp_path / "m", data=f"mnist:{mnist}", epochs=2, num_workers=2))  # persistent worker processes
    assert m.rows[0]["test_acc"] >= 0 and (tmp_path / "m" / "confusion.png").exists()
    c = train(quick(tmp_path / "c", data=f"cifar10:{formats.write_cifar10_python(tmp_path / 'cifar', n=8)}", epochs=1, aug="auto"))
    cfg = json.loads((tmp_path / "c" / "config.json").read_text())
    assert cfg["aug"] == "cifar" and cfg["model_kwargs"]["in_chans"] == 3 and c.final["epoch"] == 1


def test_folder_with_alexnet_augmentation_crops_and_evaluates_on_the_centre(tmp_path, quick, formats):
    from cnnzoo.train.checkpoint import load_checkpoint

    d = formats.write_folder(tmp_path / "imgs", per_class=6)
    train(quick(tmp_path / "run", data=f"folder:{d}", image_size=37, aug="alexnet", epochs=1))
    norm = load_checkpoint(tmp_path / "run" / "checkpoint-last").meta.normalize
    assert norm.crop == [32, 32] and len(norm.pca["eigval"]) == 3  # 37·224/256 = 32.4; the RGB eigenbasis is kept


def test_multilabel_csv_reports_per_label_precision_and_recall(tmp_path, quick, formats):
    for i in range(20):
        formats.write_png(tmp_path / f"{i}.png", size=12, value=i)
    rows = [f"{i}.png,{'a;b' if i % 2 else 'c'},{'test' if i >= 15 else 'train'}" for i in range(20)]
    (tmp_path / "m.csv").write_text("path,labels,split\n" + "\n".join(rows) + "\n")
    r = train(quick(tmp_path / "run", data=f"csv:{tmp_path / 'm.csv'}", epochs=2, batch_size=8))
    assert {"test_f1", "test_precision", "test_recall", "test_acc"} <= set(r.final)
    ev = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert len(ev["per_class"]["precision"]) == len(ev["per_class"]["recall"]) == 3
    assert json.loads((tmp_path / "run" / "config.json").read_text())["loss"] == "bce"
    with pytest.raises(ValueError, match="does not fit multi-label data"):
        train(quick(tmp_path / "bad", data=f"csv:{tmp_path / 'm.csv'}", loss="hinge"))


def test_hinge_l1_clipping_adabound_and_plateau(tmp_path, quick):
    # bf16 autocast and channels_last are CUDA switches: on CPU they are accepted and change nothing.
    common = dict(loss="hinge", l1=1e-5, clip_grad_norm=1.0, optimizer="adabound", schedule="plateau", plateau_patience=0, lr=1e-3)
    r = train(quick(tmp_path / "a", precision="bf16", channels_last=True, **common))
    assert r.final["test_acc"] > 0.1 and len(r.rows) == 2
    plain = train(quick(tmp_path / "b", **common))
    assert plain.final["test_acc"] == r.final["test_acc"]


def test_early_stopping_with_patience(tmp_path, quick):
    # A learning rate too small to change anything: the score never improves after epoch 1.
    r = train(quick(tmp_path, epochs=6, lr=1e-12, schedule="constant", patience=2))
    assert [row["epoch"] for row in r.rows] == [1, 2, 3] and r.final["early_stopped"]
