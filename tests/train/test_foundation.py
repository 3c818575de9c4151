"""The training spine: a short real run writes a complete, reloadable run directory."""

import json
import os

import pytest
import torch

import cnnzoo
from cnnzoo.train import TrainConfig, train
from cnnzoo.train.checkpoint import (
    CheckpointError,
    atomic_write_bytes,
    checkpoint_paths,
    load_checkpoint,
)

ROW_KEYS = {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "images_per_s", "seconds"}


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(epochs=2, limit_train=256, batch_size=32, out=str(out), progress=False)
    return train(cfg), out


def test_run_directory_is_complete(short_run):
    result, out = short_run
    for name in ("config.json", "metrics.jsonl", "metrics.csv", "curves.png",
                 "checkpoint-last.safetensors", "checkpoint-last.json", "checkpoint-best.safetensors"):
        assert (out / name).exists(), name
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    for r in rows:
        assert ROW_KEYS <= r.keys()
        assert 0.0 <= r["train_acc"] <= 1.0 and 0.0 <= r["test_acc"] <= 1.0
    assert (out / "metrics.csv").read_text().splitlines()[0].startswith("epoch,")
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sidecar = json.loads((out / "checkpoint-last.json").read_text())
    assert sidecar["model"] == "lenet5" and sidecar["epoch"] == 2
    assert result.final["epoch"] == 2


def test_learning_happens(short_run):
    result, _ = short_run
    # 256 images, 2 epochs: far from converged, but far above chance (10%).
    assert result.final["test_acc"] > 0.3
    assert result.rows[1]["train_loss"] < result.rows[0]["train_loss"]


def test_checkpoint_reloads_to_the_same_function(short_run):
    _, out = short_run
    model = cnnzoo.load(out / "checkpoint-last")
    ckpt = load_checkpoint(out / "checkpoint-last")
    ref = cnnzoo.create("lenet5", **ckpt.meta.model_kwargs)
    ref.load_state_dict(ckpt.model)
    x = torch.randn(3, 1, 32, 32)
    assert not model.training
    torch.testing.assert_close(model(x), ref.eval()(x), rtol=0, atol=0)
    # The optimizer state round-trips with integer parameter keys and tensors.
    opt = ckpt.states["optimizer"]
    assert set(opt["state"]) == set(range(len(list(ref.parameters()))))
    assert isinstance(opt["state"][0]["exp_avg"], torch.Tensor)


def test_same_seed_same_weights(tmp_path):
    def run(d):
        train(TrainConfig(epochs=1, limit_train=128, batch_size=32, out=str(d), progress=False, seed=3))
        return load_checkpoint(d / "checkpoint-last").model

    a, b = run(tmp_path / "a"), run(tmp_path / "b")
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_continues_to_the_same_weights(tmp_path):
    # A constant schedule makes epoch 1 of a 1-epoch run the same as epoch 1 of a 2-epoch run.
    kw = dict(limit_train=128, batch_size=32, progress=False, schedule="constant")
    full = tmp_path / "full"
    train(TrainConfig(epochs=2, out=str(full), **kw))
    part = tmp_path / "part"
    train(TrainConfig(epochs=1, out=str(part), **kw))
    # Pretend the 2-epoch run stopped after epoch 1: resume with the budget of 2.
    cfg = json.loads((part / "config.json").read_text())
    assert cfg["epochs"] == 1
    ckpt_path, _ = checkpoint_paths(part / "checkpoint-last")
    from safetensors import safe_open
    from safetensors.torch import save

    with safe_open(str(ckpt_path), "pt") as f:
        meta = json.loads(f.metadata()["cnnzoo"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    meta["config"]["epochs"] = 2
    atomic_write_bytes(ckpt_path, save(tensors, metadata={"cnnzoo": json.dumps(meta)}))
    result = train(TrainConfig(resume=str(part), progress=False))
    assert [r["epoch"] for r in result.rows] == [1, 2]
    a = load_checkpoint(full / "checkpoint-last").model
    b = load_checkpoint(part / "checkpoint-last").model
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "w.bin"
    atomic_write_bytes(target, b"old")

    def boom(*_):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new contents")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["w.bin"]  # no temporary left behind


def test_corrupt_and_missing_checkpoints_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nothing")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 20)
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        load_checkpoint(tmp_path / "bad")


@pytest.mark.parametrize("field,value", [("epochs", 0), ("lr", -0.1), ("batch_size", 0)])
def test_config_validation(field, value):
    # The message speaks of the field; the CLI rewrites it to the flag (tests/cli/test_train_cli.py).
    with pytest.raises(ValueError, match=f"^{field} must be") as e:
        TrainConfig(**{field: value}).validate()
    assert e.value.field == field
