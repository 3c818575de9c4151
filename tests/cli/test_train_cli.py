"""``cnnzoo train``: options derived from TrainConfig, --config files, one-line errors with exit status 2."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
import typer
from typer.testing import CliRunner

from cnnzoo.cli import app
from cnnzoo.cli.options import flag_of, to_field_value
from cnnzoo.train import TrainConfig
from cnnzoo.train.config import settings

torch.set_num_threads(1)  # see tests/train/conftest.py
runner = CliRunner()
WIDE = {"COLUMNS": "400"}  # help lines unwrapped


def _command():
    return typer.main.get_command(app).commands["train"]


def _params():
    return {p.name: p for p in _command().params if p.name not in ("config", "help")}


@pytest.fixture
def captured(monkeypatch):
    """Replace training by a recorder: the command's config is checked, nothing is trained."""
    import cnnzoo.train

    seen: list[TrainConfig] = []

    def fake_train(cfg):
        seen.append(cfg)
        return SimpleNamespace(is_main=True, summary=lambda: f"{cfg.model} on {cfg.data}: test accuracy 91.2% after {cfg.epochs} epochs")

    monkeypatch.setattr(cnnzoo.train, "train", fake_train)
    return seen


def test_every_setting_is_an_option_and_every_option_a_setting():
    assert set(_params()) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert {p.name for p in _command().params} - set(_params()) == {"config"}  # and --help, added by click


def test_option_defaults_are_the_dataclass_defaults():
    declared, defaults = settings(), TrainConfig().to_dict()
    for name, p in _params().items():
        assert to_field_value(name, p.default, declared) == defaults[name], name


def test_help_shows_every_option_with_its_help_and_default():
    r = runner.invoke(app, ["train", "--help"], env=WIDE)
    assert r.exit_code == 0, r.output
    for name, (_, _, s) in settings().items():
        flag = flag_of(name, s)
        line = next((line for line in r.output.splitlines() if line.strip("│ ").split()[:1] == [flag]), None)
        assert line is not None and "[default:" in line, (flag, line)
        assert " ".join(s.help.split()[:3]) in line, (flag, line)
    for text in ("--workers", "--quiet", "-q", "--arg", "--config", "[default: 40]", "[default: adamw]", "(the optimizer's own)"):
        assert text in r.output, text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--optimizer", "lbfgs"], "--optimizer 'lbfgs' is unknown; accepted: sgd, nesterov"),
        (["--schedule", "poly"], "--schedule 'poly' is unknown; accepted: constant"),
        (["--aug", "mixup"], "--aug 'mixup' is unknown; accepted: auto, none"),
        (["--loss", "mse"], "--loss 'mse' is unknown; accepted: auto, cross_entropy"),
        (["--lr", "inf"], "--lr must be a finite number > 0; got inf"),
        (["--lr", "nan"], "--lr must be a finite number > 0; got nan"),
        (["--lr", "0"], "--lr must be"),
        (["--lr", "-1"], "--lr must be"),
        (["--warmup-epochs", "-2"], "--warmup-epochs must be"),
        (["--epochs", "99999999999999999999"], "--epochs must be an integer from 1 to 1000000"),
        (["--epochs", "2.5"], "--epochs must be an integer"),
        (["--batch-size", "1e12"], "--batch-size must be an integer"),
        (["--workers", "100000"], "--workers must be an integer from 0 to"),
        (["--val-split", "1.5"], "--val-split must be a finite number in [0, 1)"),
        (["--precision", "fp8"], "--precision 'fp8' is unknown; accepted: fp32, bf16, fp16"),
        (["--freeze", "backbone"], "--freeze backbone needs --init"),
        (["--classes", "1,x"], "--classes must be a list of integers"),
        (["--device", "gpu"], "--device must be auto, cpu, cuda or cuda:N"),
        (["--device", "[gpu]"], "got '[gpu]'"),  # shown as typed, not read as markup
        (["--logger", "wandb"], "--logger must be a comma-separated list of csv, tensorboard"),
        (["--arg", "towers"], "--arg must look like NAME=VALUE"),
        (["--data", "cifar10"], "needs a path"),
        (["--data", "imagenet:/x"], "unknown data set 'imagenet'"),
        (["--resume", "/nonexistent/run"], "--resume /nonexistent/run"),
        (["--data", "mnist:/nonexistent"], "not a directory"),
    ],
)
def test_bad_options_are_one_line_errors_naming_the_flag(args, message, tmp_path):
    r = runner.invoke(app, ["train", "lenet5", "--out", str(tmp_path / "run"), "-q", *args])
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in " ".join(r.output.split()), r.output
    assert not (tmp_path / "run").exists()


def test_a_bad_value_from_a_real_shell_has_no_traceback():
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "cnnzoo", "train", "--lr", "inf"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == "error: --lr must be a finite number > 0; got inf"


def test_options_become_the_config(captured):
    r = runner.invoke(app, ["train", "resnet20", "--epochs", "3", "-q", "-a", "width=2", "--arg", "name=x", "--classes", "0,1,2",
                            "--lr", "1e-2", "--workers", "0", "--no-pin-memory", "--logger", "csv"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert r.output.strip() == "resnet20 on digits: test accuracy 91.2% after 3 epochs"
    want = TrainConfig(model="resnet20", epochs=3, progress=False, model_kwargs={"width": 2, "name": "x"}, classes=[0, 1, 2], lr=0.01, pin_memory=False)
    assert captured == [want]


@pytest.mark.parametrize(
    ("name", "text"),
    [("run.yaml", "model: resnet20\nepochs: 3\nlr: 5e-3\nbatch_size: 16\nclasses: [0, 1]\nprogress: false\n"),
     ("run.toml", 'model = "resnet20"\nepochs = 3\nlr = 5e-3\nbatch_size = 16\nclasses = [0, 1]\nprogress = false\n')],
)  # fmt: skip
def test_config_files_load_and_options_on_the_command_line_win(tmp_path, captured, name, text):
    path = tmp_path / name
    path.write_text(text)
    r = runner.invoke(app, ["train", "--config", str(path), "--epochs", "5", "--progress"])
    assert r.exit_code == 0, r.output
    assert captured == [TrainConfig(model="resnet20", epochs=5, lr=5e-3, batch_size=16, classes=[0, 1], progress=True)]


def test_an_unknown_key_in_a_config_file_names_the_key_and_the_file(tmp_path, captured):
    path = tmp_path / "run.yaml"
    path.write_text("epochs: 3\nbatchsize: 16\n")
    r = runner.invoke(app, ["train", "--config", str(path)])
    assert r.exit_code == 2 and captured == []
    text = " ".join(r.output.split())
    assert text.startswith("error: batchsize") and "run.yaml" in text and "did you mean batch_size" in text, r.output


def test_a_bad_value_in_a_config_file_names_the_flag(tmp_path, captured):
    path = tmp_path / "run.yaml"
    path.write_text("batch_size: 0\n")
    r = runner.invoke(app, ["train", "--config", str(path)])
    assert r.exit_code == 2 and " ".join(r.output.split()).startswith("error: --batch-size must be an integer from 1")


def test_a_runs_config_json_round_trips_through_the_cli(tmp_path, captured):
    cfg = TrainConfig(model="resnet20", epochs=3, lr=0.005, aug="digits", loss="cross_entropy", out=str(tmp_path / "r"), model_kwargs={"width": 2})
    record = cfg.to_dict() | {"data_info": {"name": "digits"}, "world_size": 1, "macs_per_image": 1000}
    (tmp_path / "config.json").write_text(json.dumps(record))
    r = runner.invoke(app, ["train", "--config", str(tmp_path / "config.json")])
    assert r.exit_code == 0, r.output
    assert captured == [cfg]


def test_none_resets_an_optional_setting_from_a_file(tmp_path, captured):
    (tmp_path / "c.yaml").write_text("lr: 0.1\npatience: 3\n")
    r = runner.invoke(app, ["train", "--config", str(tmp_path / "c.yaml"), "--lr", "none", "--patience", "None"])
    assert r.exit_code == 0, r.output
    assert captured[0].lr is None and captured[0].patience is None


def test_short_run_with_validation_split(tmp_path):
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", "lenet5", "--epochs", "1", "--limit-train", "64", "--val-split", "0.2", "--schedule", "plateau", "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert "val accuracy" in r.output and "test accuracy of the final model" in r.output
    row = json.loads((out / "metrics.jsonl").read_text())
    assert {"val_acc", "val_acc_top5", "train_acc", "lr", "images_per_s"} <= set(row)
    assert (out / "confusion.png").stat().st_size > 0 and json.loads((out / "evaluation.json").read_text())["split"] == "test"
