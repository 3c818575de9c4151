"""Run directories never lose or mix data: each case here was once reproduced against cnnzoo.

Two writers, a silent overwrite, non-finite checkpoints after divergence, Ctrl-C,
resuming into the wrong model, resuming a run whose final test never ran.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cnnzoo.train import TrainConfig, TrainingDiverged, train
from cnnzoo.train.checkpoint import CheckpointError, load_checkpoint

ENV = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def cnnzoo(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnzoo", *args], env=ENV, capture_output=True, text=True, timeout=300, **kw)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Until ``path`` has a first line (a metrics row: the run is past its set-up)."""
    end = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < end, f"timed out waiting for {path}"
        time.sleep(0.02)


def _finite(stem: Path) -> bool:
    return all(torch.isfinite(v).all() for v in load_checkpoint(stem).model.values() if v.is_floating_point())


def test_a_second_writer_is_refused_and_the_first_run_is_untouched(tmp_path):
    out = tmp_path / "run"
    long = [sys.executable, "-m", "cnnzoo", "train", "lenet5", "--epochs", "200", "--limit-train", "64", "-q", "--out", str(out)]
    first = subprocess.Popen(long, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(out / "metrics.jsonl", first)
        second = cnnzoo("train", "lenet5", "--epochs", "1", "--limit-train", "64", "-q", "--out", str(out), "--overwrite")
        assert second.returncode == 2, second.stderr
        assert f"pid {first.pid}" in second.stderr and "Traceback" not in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))  # one run's rows, in order


def test_an_existing_run_is_never_overwritten_silently(tmp_path, quick):
    train(quick(tmp_path, epochs=1))
    before = (tmp_path / "metrics.jsonl").read_text()
    again = cnnzoo("train", "lenet5", "--epochs", "1", "--limit-train", "64", "-q", "--out", str(tmp_path))
    assert again.returncode == 2 and "--overwrite" in again.stderr and "--resume" in again.stderr
    assert (tmp_path / "metrics.jsonl").read_text() == before
    train(quick(tmp_path, epochs=2, overwrite=True))
    assert [json.loads(line)["epoch"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_divergence_keeps_only_finite_checkpoints_and_names_the_one_kept(tmp_path):
    out = tmp_path / "run"
    r = cnnzoo("train", "lenet5", "--epochs", "3", "--optimizer", "sgd", "--lr", "1e38", "--schedule", "constant",
               "--checkpoint-every", "1", "--limit-train", "256", "-q", "--out", str(out))  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "last good checkpoint is kept" in r.stderr
    for stem in out.glob("checkpoint-*.safetensors"):
        assert _finite(stem.with_suffix("")), stem
    if (out / "checkpoint-last.safetensors").exists():
        assert str(out / "checkpoint-last") in r.stderr


def test_a_diverged_batchnorm_never_reaches_a_checkpoint(tmp_path, quick):
    cfg = quick(tmp_path, model="resnet20", image_size=8, optimizer="sgd", lr=30.0, schedule="constant", epochs=3, limit_train=256)
    with pytest.raises(TrainingDiverged):
        train(cfg)
    for stem in tmp_path.glob("checkpoint-*.safetensors"):
        ckpt = load_checkpoint(stem.with_suffix(""))
        assert all(torch.isfinite(v).all() for k, v in ckpt.model.items() if "running_var" in k), stem


def test_ctrl_c_writes_a_mid_epoch_checkpoint_and_prints_the_resume_command(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "cnnzoo", "train", "lenet5", "--epochs", "50", "--limit-train", "640", "--batch-size", "8",
           "--checkpoint-every", "1000000", "-q", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(out / "metrics.jsonl", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"--resume {out}" in err and "Traceback" not in err
    meta = load_checkpoint(out / "checkpoint-last").meta
    assert meta.position is not None and meta.position["batch"] > 0  # the partial epoch is kept
    resumed = train(TrainConfig(resume=str(out), epochs=meta.epoch + 1, progress=False))
    assert resumed.final["epoch"] == meta.epoch + 1


def test_resume_names_the_runs_own_model_and_refuses_another(tmp_path, quick):
    train(quick(tmp_path, model="resnet20", image_size=8, epochs=1, max_steps=2))
    wrong = cnnzoo("train", "mobilenet_v2", "--resume", str(tmp_path), "-q")
    assert wrong.returncode == 2 and "resnet20" in wrong.stderr and "mobilenet_v2" in wrong.stderr
    ok = cnnzoo("train", "--resume", str(tmp_path), "-q")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("resnet20 on digits")


def test_resuming_a_run_that_finished_training_runs_its_final_test(tmp_path, quick):
    train(quick(tmp_path, epochs=1))
    (tmp_path / "evaluation.json").unlink()  # as if killed after the last epoch's checkpoint
    result = train(TrainConfig(resume=str(tmp_path), progress=False))
    assert (tmp_path / "evaluation.json").exists() and result.final["epoch"] == 1
    assert "None" not in result.summary()


def test_resume_of_a_directory_without_a_run_is_one_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match=str(tmp_path)):
        train(TrainConfig(resume=str(tmp_path), progress=False))
