"""``cnnzoo train`` flags: help texts, one-line errors with exit status 2, a short run."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from cnnzoo.cli import app

torch.set_num_threads(1)  # see tests/train/conftest.py
runner = CliRunner()


def test_help_lists_the_training_flags():
    r = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    for flag in ("--val-split", "--aug", "--loss", "--clip-grad-norm", "--patience", "--precision", "--channels-last",
                 "--compile", "--workers", "--checkpoint-every", "--resume", "--init", "--freeze", "--backbone-lr-mult", "--sync-bn"):  # fmt: skip
        assert flag in r.output, flag


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--optimizer", "lbfgs"], "unknown optimizer 'lbfgs'; accepted: sgd"),
        (["--schedule", "poly"], "unknown schedule 'poly'"),
        (["--aug", "mixup"], "unknown augmentation 'mixup'"),
        (["--loss", "mse"], "unknown loss 'mse'"),
        (["--val-split", "1.5"], "--val-split must be in [0, 1)"),
        (["--precision", "fp8"], "--precision must be fp32, bf16 or fp16"),
        (["--freeze", "backbone"], "--freeze backbone needs --init"),
        (["--classes", "1,x"], "--classes must be comma-separated"),
        (["--data", "cifar10"], "needs a path"),
        (["--data", "imagenet:/x"], "unknown data set 'imagenet'"),
        (["--resume", "/nonexistent/run"], "no checkpoint-last.safetensors"),
        (["--data", "mnist:/nonexistent"], "not a directory"),
    ],
)
def test_bad_flags_are_one_line_errors(args, message, tmp_path):
    r = runner.invoke(app, ["train", "lenet5", "--out", str(tmp_path / "run"), "-q", *args])
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in " ".join(r.output.split()), r.output


def test_short_run_with_validation_split(tmp_path):
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", "lenet5", "--epochs", "1", "--limit-train", "64", "--val-split", "0.2", "--schedule", "plateau", "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert "val accuracy" in r.output and "test accuracy of the final model" in r.output
    row = json.loads((out / "metrics.jsonl").read_text())
    assert {"val_acc", "val_acc_top5", "train_acc", "lr", "images_per_s"} <= set(row)
    assert (out / "confusion.png").stat().st_size > 0 and json.loads((out / "evaluation.json").read_text())["split"] == "test"
