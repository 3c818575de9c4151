"""The checkpoint header and writer: typed, validated, finite, never half-written, never lying."""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
from dataclasses import replace

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import cnnzoo
from cnnzoo.train import checkpoint as C
from cnnzoo.train.checkpoint import (
    CheckpointError,
    CheckpointWriteError,
    NonFiniteCheckpointError,
    load_checkpoint,
    load_model,
    load_model_and_meta,
    repair_sidecars,
    save_checkpoint,
)
from cnnzoo.train.meta import SCHEMA, CheckpointMeta, Normalization


def lenet_meta(**changes) -> CheckpointMeta:
    meta = CheckpointMeta(
        model="lenet5", model_kwargs={"num_classes": 10, "in_chans": 1}, task="classification", data="digits",
        data_name="digits", num_classes=10, class_names=[str(i) for i in range(10)], in_chans=1,
        normalize=Normalization(mean=[0.25], std=[0.5], size=[32, 32]), config={"epochs": 3}, epoch=2, step=40,
        metrics={"test_acc": 0.9, "test_loss": math.nan}, best_score=0.9,
    )  # fmt: skip
    return replace(meta, **changes)


def lenet() -> nn.Module:
    torch.manual_seed(0)
    return cnnzoo.create("lenet5", num_classes=10, in_chans=1)


def test_meta_round_trips_through_json():
    meta = lenet_meta(position={"epoch": 3, "batch": 5}, init={"checkpoint": "runs/src", "heads": ["fc"]}, engine="numpy")
    back = CheckpointMeta.from_dict(json.loads(json.dumps(meta.to_dict())), "x")
    assert back.to_dict().keys() == meta.to_dict().keys()
    assert back.schema == SCHEMA and back.normalize == meta.normalize and back.init == meta.init
    assert math.isnan(back.metrics.pop("test_loss")) and back.metrics == {"test_acc": 0.9}


def test_checkpoint_round_trips_weights_states_and_meta(tmp_path):
    model, meta = lenet(), lenet_meta()
    states = {"rng": {"a": torch.arange(3)}, "counts": {1: 2.5, 2: float("inf")}, "lr": [0.1, 0.01]}
    path = save_checkpoint(tmp_path / "checkpoint-last", model, meta, states)
    assert path == tmp_path / "checkpoint-last.safetensors"
    assert repair_sidecars(tmp_path) == []  # the sidecar written agrees with its weights
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.meta.to_dict().keys() == meta.to_dict().keys() and ckpt.meta.normalize == meta.normalize
    assert ckpt.meta.epoch == 2 and ckpt.meta.best_score == 0.9
    assert all(torch.equal(ckpt.model[k], v) for k, v in model.state_dict().items())
    assert torch.equal(ckpt.states["rng"]["a"], torch.arange(3))
    assert ckpt.states["counts"] == {1: 2.5, 2: float("inf")} and ckpt.states["lr"] == [0.1, 0.01]
    loaded, got = load_model_and_meta(tmp_path, "cpu")
    assert not loaded.training and got.model == "lenet5"
    assert not hasattr(loaded, "cnnzoo_checkpoint_meta")
    assert not load_model(tmp_path).training


@pytest.mark.parametrize(
    "change, field",
    [
        ({"num_classes": 1e10}, "num_classes"),
        ({"num_classes": 10**10}, "num_classes"),
        ({"num_classes": 0}, "num_classes"),
        ({"normalize": None}, "normalize"),
        ({"model": "lenet6"}, "model"),
        ({"model_kwargs": {"num_classes": 9, "in_chans": 1}}, "model_kwargs.num_classes"),
        ({"model_kwargs": {"num_classes": 10}}, "model_kwargs.in_chans"),
        ({"normalize": {"mean": [0.1, 0.2], "std": [0.5], "size": [32, 32]}}, "normalize.mean"),
        ({"normalize": {"mean": [0.1], "std": [0.0], "size": [32, 32]}}, "normalize.std"),
        ({"normalize": {"mean": [math.inf], "std": [0.5], "size": [32, 32]}}, "normalize.mean"),
        ({"normalize": {"mean": [0.1], "std": [0.5], "size": [0, 32]}}, "normalize.size"),
        ({"normalize": {"mean": [0.1], "std": [0.5]}}, "normalize.size"),
        ({"schema": 7}, "schema"),
        ({"task": "regression"}, "task"),
        ({"best_score": math.nan}, "best_score"),
        ({"epoch": -1}, "epoch"),
        ({"class_names": ["a", "b"]}, "class_names"),
        ({"engine": "jax"}, "engine"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_each_bad_field_is_one_line_naming_it(change, field):
    d = lenet_meta().to_dict() | change
    with pytest.raises(CheckpointError) as e:
        CheckpointMeta.from_dict(d, "runs/x/checkpoint-last.safetensors")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("runs/x/checkpoint-last.safetensors: ")
    assert f"field {field} " in msg


def test_a_missing_field_is_named():
    d = lenet_meta().to_dict()
    del d["task"]
    with pytest.raises(CheckpointError, match="field task is missing"):
        CheckpointMeta.from_dict(d, "p")


def test_an_invalid_meta_is_not_written(tmp_path):
    with pytest.raises(CheckpointError, match="num_classes"):
        save_checkpoint(tmp_path / "c", lenet(), lenet_meta(num_classes=10**10))
    assert list(tmp_path.iterdir()) == []


def _legacy_header() -> dict:
    return {
        "format": "cnnzoo-checkpoint/1", "engine": "numpy (cnnzoo.scratch)",
        "model": {"name": "lenet5", "kwargs": {"activation": "relu", "pool": "max", "num_classes": 10, "in_chans": 1}},
        "config": {"model": "lenet5", "data": "digits", "epochs": 3},
        "normalize": {"mean": [0.0], "std": [1.0], "size": [32, 32]},
        "data": {"name": "digits", "num_classes": 10, "class_names": [str(i) for i in range(10)], "task": "classification", "in_chans": 1},
        "epoch": 3, "metrics": {"test_acc": 0.95}, "best_acc": 0.95, "states": {},
    }  # fmt: skip


def test_the_first_on_disk_format_still_loads(tmp_path):
    model = cnnzoo.create("lenet5", num_classes=10, in_chans=1)
    tensors = {f"model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, tmp_path / "checkpoint-last.safetensors", metadata={"cnnzoo": json.dumps(_legacy_header())})
    ckpt = load_checkpoint(tmp_path / "checkpoint-last")
    m = ckpt.meta
    assert (m.schema, m.model, m.engine, m.data, m.data_name, m.task) == (SCHEMA, "lenet5", "numpy", "digits", "digits", "classification")
    assert m.model_kwargs["activation"] == "relu" and m.best_score == 0.95 and m.epoch == 3 and m.step == 0
    legacy = _legacy_header() | {"best_acc": -1.0, "engine": None}
    m = CheckpointMeta.from_dict(legacy, "old")
    assert m.best_score is None and m.engine == "torch"
    loaded = load_model(tmp_path / "checkpoint-last")
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())


def test_a_legacy_header_with_a_bad_field_is_still_refused():
    bad = _legacy_header()
    bad["data"] = dict(bad["data"], num_classes=10**9)
    with pytest.raises(CheckpointError, match="num_classes"):
        CheckpointMeta.from_dict(bad, "old")


def test_a_nan_weight_is_refused_and_nothing_written(tmp_path):
    model = lenet()
    with torch.no_grad():
        next(model.parameters())[0].fill_(math.nan)
    name = next(iter(model.state_dict()))
    with pytest.raises(NonFiniteCheckpointError) as e:
        save_checkpoint(tmp_path / "checkpoint-last", model, lenet_meta())
    assert f"1 of {len(model.state_dict())} model tensors" in str(e.value) and name in str(e.value)
    assert "\n" not in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_an_infinite_batchnorm_running_var_is_refused(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4))
    model[1].running_var[2] = math.inf
    with pytest.raises(NonFiniteCheckpointError, match=r"1\.running_var \(1 of 4 values\)"):
        save_checkpoint(tmp_path / "checkpoint-last", model, lenet_meta())
    assert list(tmp_path.iterdir()) == []


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_keeps_the_previous_checkpoint_and_says_so(tmp_path, monkeypatch):
    stem = tmp_path / "checkpoint-last"
    save_checkpoint(stem, lenet(), lenet_meta(epoch=1))
    save_checkpoint(tmp_path / "checkpoint-best", lenet(), lenet_meta(epoch=1))
    before = _sha(tmp_path / "checkpoint-last.safetensors")
    monkeypatch.setattr(C.os, "write", _no_space)
    with pytest.raises(CheckpointWriteError) as e:
        save_checkpoint(stem, lenet(), lenet_meta(epoch=2))
    monkeypatch.undo()
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "checkpoint-last.safetensors") in msg and "No space left" in msg
    assert "checkpoint-last.safetensors (its previous version)" in msg and "checkpoint-best.safetensors" in msg
    assert _sha(tmp_path / "checkpoint-last.safetensors") == before
    assert load_checkpoint(stem).meta.epoch == 1
    sidecar = json.loads((tmp_path / "checkpoint-last.json").read_text())
    assert sidecar["weights_sha256"] == before and sidecar["epoch"] == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_before_any_checkpoint_says_none_exists(tmp_path, monkeypatch):
    monkeypatch.setattr(C.os, "replace", _no_space)
    with pytest.raises(CheckpointWriteError, match="no checkpoint is on disk yet"):
        save_checkpoint(tmp_path / "checkpoint-last", lenet(), lenet_meta())
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_a_failed_sidecar_write_leaves_new_weights_and_no_stale_sidecar(tmp_path, monkeypatch):
    stem = tmp_path / "checkpoint-last"
    save_checkpoint(stem, lenet(), lenet_meta(epoch=1))
    real = C.atomic_write_bytes

    def no_json(path, data):
        if str(path).endswith(".json"):
            _no_space()
        real(path, data)

    monkeypatch.setattr(C, "atomic_write_bytes", no_json)
    with pytest.raises(CheckpointWriteError, match=r"checkpoint-last\.json: No space left.*new and whole"):
        save_checkpoint(stem, lenet(), lenet_meta(epoch=2))
    monkeypatch.undo()
    assert load_checkpoint(stem).meta.epoch == 2
    assert not (tmp_path / "checkpoint-last.json").exists()  # absent, never describing the old weights
    assert repair_sidecars(tmp_path) == [tmp_path / "checkpoint-last.json"]
    assert json.loads((tmp_path / "checkpoint-last.json").read_text())["epoch"] == 2


def test_a_sidecar_that_disagrees_with_its_weights_is_rebuilt(tmp_path):
    stem = tmp_path / "checkpoint-last"
    save_checkpoint(stem, lenet(), lenet_meta(epoch=4))
    sidecar = tmp_path / "checkpoint-last.json"
    sidecar.write_text(json.dumps(json.loads(sidecar.read_text()) | {"epoch": 1, "weights_sha256": "0" * 64}))
    assert repair_sidecars(tmp_path) == [sidecar]
    fixed = json.loads(sidecar.read_text())
    assert fixed["epoch"] == 4 and fixed["weights_sha256"] == _sha(tmp_path / "checkpoint-last.safetensors")
    assert repair_sidecars(tmp_path) == []


def test_loaders_ignore_the_sidecar(tmp_path):
    stem = tmp_path / "checkpoint-last"
    save_checkpoint(stem, lenet(), lenet_meta(epoch=4))
    (tmp_path / "checkpoint-last.json").write_text('{"model": "resnet50", "epoch": 99}')
    assert load_checkpoint(stem).meta.epoch == 4


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_checkpoint_files_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        save_checkpoint(tmp_path / "checkpoint-last", lenet(), lenet_meta())
    finally:
        os.umask(old)
    for name in ("checkpoint-last.safetensors", "checkpoint-last.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


def test_weights_that_do_not_fit_the_model_are_one_line(tmp_path):
    # A header that promises another architecture than the weights hold.
    C.save_tensors_checkpoint(tmp_path / "c", lenet().state_dict(), lenet_meta(model="resnet20"))
    with pytest.raises(CheckpointError) as e:
        load_model(tmp_path / "c")
    assert "c.safetensors: the weights do not fit resnet20" in str(e.value) and "\n" not in str(e.value)
