"""Exact resume, crash safety (SIGKILL, also while a checkpoint is written) and divergence."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from cnnzoo.data import DataBundle, build_data, register_dataset
from cnnzoo.train import TrainConfig, TrainingDiverged, train
from cnnzoo.train.checkpoint import load_checkpoint

ENV = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _weights(run_dir):
    return load_checkpoint(run_dir / "checkpoint-last").model


@pytest.mark.parametrize("k", [3, 6])  # mid-epoch 1, and mid-epoch 2 (4 steps per epoch)
def test_interrupted_and_resumed_run_is_bit_identical(tmp_path, quick, k):
    cfg = dict(aug="digits", checkpoint_every=0)
    full = train(quick(tmp_path / "full", **cfg))
    cut = train(quick(tmp_path / "cut", max_steps=k, **cfg))
    assert cut.final == {} or cut.final["epoch"] < 2
    meta = load_checkpoint(tmp_path / "cut" / "checkpoint-last").meta
    assert meta.step == k and meta.position["batch"] == k - 4 * (k // 4)
    resumed = train(TrainConfig(resume=str(tmp_path / "cut"), progress=False))
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in a)
    assert resumed.final["test_acc"] == full.final["test_acc"]
    assert resumed.final["train_loss"] == pytest.approx(full.final["train_loss"], rel=1e-12)
    rows = [json.loads(line) for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]


def _wait_for(path, proc, timeout=120.0):
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < end, "timed out waiting for a checkpoint"
        time.sleep(0.02)


def test_sigkill_during_run_then_resume_finishes(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "cnnzoo", "train", "lenet5", "--epochs", "5", "--limit-train", "160", "--batch-size", "16",
           "--checkpoint-every", "3", "--aug", "none", "-q", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for(out / "checkpoint-last.safetensors", proc)
    proc.send_signal(signal.SIGKILL)  # at once: on a fast machine the 50 steps take well under a second
    proc.wait()
    ckpt = load_checkpoint(out / "checkpoint-last")  # whatever instant the kill hit, it loads
    assert ckpt.meta.step >= 3 and ckpt.meta.epoch < 5
    train(TrainConfig(resume=str(out), progress=False))
    assert load_checkpoint(out / "checkpoint-last").meta.epoch == 5
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5]


KILL_WHILE_WRITING = textwrap.dedent(
    """
    import os, signal, sys, tempfile
    from pathlib import Path
    import cnnzoo.train.checkpoint as ck
    real = ck.atomic_write_bytes
    calls = {"n": 0}

    def dying_write(path, data):
        path = Path(path)
        if path.name == "checkpoint-last.safetensors":
            calls["n"] += 1
            if calls["n"] == 2:  # the second checkpoint: write half of it, then die
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
                os.write(fd, data[: len(data) // 2])
                os.fsync(fd)
                os.kill(os.getpid(), signal.SIGKILL)
        return real(path, data)

    ck.atomic_write_bytes = dying_write
    from cnnzoo.cli import main
    sys.argv = ["cnnzoo", "train", "lenet5", "--epochs", "2", "--limit-train", "96", "--batch-size", "16",
                "--checkpoint-every", "2", "--aug", "none", "-q", "--out", sys.argv[1]]
    main()
    """
)


def test_sigkill_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", KILL_WHILE_WRITING, str(out)], env=ENV, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert list(out.glob(".checkpoint-last.safetensors.*.tmp"))  # the half-written file never replaced the old one
    meta = load_checkpoint(out / "checkpoint-last").meta
    assert meta.step == 2 and (meta.position["epoch"], meta.position["batch"]) == (1, 2)
    train(TrainConfig(resume=str(out), progress=False))
    assert load_checkpoint(out / "checkpoint-last").meta.epoch == 2


class _PoisonAfter(torch.utils.data.Dataset):
    """The digits, but every image is NaN after ``n`` reads (from the second epoch on, here)."""

    def __init__(self, ds, n):
        self.ds, self.n, self.reads = ds, n, 0

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        self.reads += 1
        x, y = self.ds[i]
        return (x * float("nan") if self.reads > self.n else x), y


@register_dataset("test-poisoned-digits", needs_path=False, help="digits that turn to NaN (tests only)")
def _poisoned(path=None, **_) -> DataBundle:
    b = build_data("digits")
    b.train = _PoisonAfter(torch.utils.data.Subset(b.train, range(64)), n=64 + 64)  # channel stats + epoch 1
    b.name = "poisoned"
    return b


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path, quick):
    with pytest.raises(TrainingDiverged, match=r"loss became nan by step 3.*last good checkpoint is kept"):
        train(quick(tmp_path, data="test-poisoned-digits", epochs=3, limit_train=None))
    ckpt = load_checkpoint(tmp_path / "checkpoint-last")
    assert ckpt.meta.epoch == 1 and all(torch.isfinite(v).all() for v in ckpt.model.values())
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1
