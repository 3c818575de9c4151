"""The command line as people use it: help text, --version, sorting, clean output, singular counts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cnnzoo.cli import app
from cnnzoo.registry import natural_key
from cnnzoo.train.loop import TrainResult

runner = CliRunner()


@pytest.mark.parametrize("width", [80, 200])
def test_train_help_has_no_space_before_punctuation_and_shows_the_out_default(width):
    r = runner.invoke(app, ["train", "--help"], terminal_width=width, env={"COLUMNS": str(width)})
    assert r.exit_code == 0
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", r.output).split())  # one line, boxes and wrapping gone
    assert not re.search(r"\w \.(\s|$)", text), re.search(r".{30}\w \.", text)
    assert "runs/MODEL-DATA" in text


def test_version_names_cnnzoo_and_torch():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0
    assert re.fullmatch(r"cnnzoo \S+, torch \S+\n", r.output)
    assert torch.__version__ in r.output


def test_threads_option_sets_torch_threads_and_refuses_zero(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # restored after the test, like the thread count below
    before = torch.get_num_threads()
    try:
        r = runner.invoke(app, ["--threads", "2", "list", "--names", "lenet*"])
        assert r.exit_code == 0 and r.output.split() == ["lenet5"]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    r = runner.invoke(app, ["--threads", "0", "list"])
    assert r.exit_code == 2 and "--threads must be a positive integer" in r.output


def test_list_sorts_numbers_as_people_count():
    r = runner.invoke(app, ["list", "--names", "resnet*"])
    names = r.output.split()
    assert names.index("resnet18") < names.index("resnet34") < names.index("resnet101") < names.index("resnet1202")
    assert sorted(["vgg16", "vgg11_lrn", "vgg11", "resnet9"], key=natural_key) == ["resnet9", "vgg11", "vgg11_lrn", "vgg16"]


def test_compare_output_starts_with_its_table_not_a_blank_line():
    r = runner.invoke(app, ["compare", "lenet5"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0].strip() == "cnnzoo compare"


def _result(**final) -> TrainResult:
    return TrainResult(Path("runs/x"), "lenet5", "digits", [], best_score=0.9, final=final, step=1)


def test_summary_counts_one_epoch_and_one_step_in_the_singular():
    assert "after 1 epoch (" in _result(epoch=1, test_acc=0.9).summary()
    assert "after 2 epochs (" in _result(epoch=2, test_acc=0.9).summary()
    assert "stopped after 1 step;" in _result().summary()
