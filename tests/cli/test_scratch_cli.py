"""``cnnzoo scratch``: train writes a run directory that the torch side can load."""

import json

import torch
from typer.testing import CliRunner

from cnnzoo.cli import app
from cnnzoo.data.digits import load_digits_arrays
from cnnzoo.train.checkpoint import load_model_and_meta

runner = CliRunner()


def test_scratch_train_writes_the_run_directory_of_cnnzoo_train(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["scratch", "train", "--epochs", "1", "--batch-size", "64", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output
    for name in ("config.json", "metrics.jsonl", "metrics.csv", "curves.png",
                 "checkpoint-last.safetensors", "checkpoint-last.json", "checkpoint-best.safetensors"):  # fmt: skip
        assert (out / name).is_file(), name
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1
    assert {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "images_per_s", "seconds"} <= set(rows[0])
    # the NumPy weights load into the torch LeNet-5 and give the same test accuracy
    model, meta = load_model_and_meta(out)
    assert (meta.engine, meta.model, meta.epoch, meta.best_score) == ("numpy", "lenet5", 1, rows[0]["test_acc"])
    d = load_digits_arrays(32)
    with torch.no_grad():
        acc = float((model(torch.from_numpy(d.x_test)).argmax(1).numpy() == d.y_test).mean())
    assert abs(acc - rows[0]["test_acc"]) <= 1 / len(d.y_test)  # float32 rounding may flip a near-tie
    sidecar = json.loads((out / "checkpoint-last.json").read_text())
    assert sidecar["model_kwargs"]["activation"] == "relu" and sidecar["engine"] == "numpy"


def test_scratch_train_does_not_reuse_a_run_directory_unless_told(tmp_path):
    out = tmp_path / "run"
    (out / "old").mkdir(parents=True)
    (out / "metrics.jsonl").write_text('{"epoch": 7}\n')
    args = ["scratch", "train", "--epochs", "1", "--batch-size", "256", "--out", str(out), "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "not empty" in result.output and "--overwrite" in result.output
    assert "--resume" not in result.output  # the NumPy engine cannot resume
    assert (out / "metrics.jsonl").read_text() == '{"epoch": 7}\n'
    result = runner.invoke(app, [*args, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert not (out / "old").exists()
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1]


def test_scratch_bad_options_exit_2_with_one_line():
    for args, msg in [
        (["--optimizer", "lion"], "unknown optimizer"),
        (["--model", "vgg16"], "unknown model"),
        (["--epochs", "0"], "epochs and batch_size must be positive"),
        (["--activation", "gelu"], "activation must be one of"),
        (["--schedule", "step"], "schedule must be one of"),
    ]:
        result = runner.invoke(app, ["scratch", "train", *args, "--quiet"])
        assert result.exit_code == 2, (args, result.output)
        assert msg in result.output


def test_scratch_init_variance_table():
    result = runner.invoke(app, ["scratch", "init-variance", "--depth", "4", "--width", "16"])
    assert result.exit_code == 0, result.output
    assert "kaiming" in result.output and "xavier" in result.output
