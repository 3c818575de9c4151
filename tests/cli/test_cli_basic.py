"""The CLI's front: help, list, and one-line errors with exit status 2 for bad input."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cnnzoo.cli import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, list(args))


def test_help_lists_commands():
    r = _run("--help")
    assert r.exit_code == 0
    for cmd in ("list", "train"):
        assert cmd in r.output


def test_list_shows_lenet5_with_its_count():
    r = _run("list", "lenet*")
    assert r.exit_code == 0
    assert "lenet5" in r.output and "61,706" in r.output and "1998" in r.output


def test_python_dash_m_is_the_same_program():
    r = subprocess.run([sys.executable, "-m", "cnnzoo", "list", "--names", "lenet*"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.split() == ["lenet5"]


@pytest.mark.parametrize(
    "args,needle",
    [
        (["train", "lenet"], "did you mean: lenet5"),
        (["train", "lenet5", "--data", "imagenet"], "unknown data set"),
        (["train", "lenet5", "--epochs", "0"], "--epochs"),
        (["train", "lenet5", "--lr", "-1"], "--lr"),
        (["train", "lenet5", "--optimizer", "adamm"], "accepted"),
        (["train", "lenet5", "--out", "/proc/cnnzoo-run"], "cannot write"),
        (["list", "nosuchmodel*"], "no model matches"),
        (["train", "lenet5", "--arg", "bogus=1", "--epochs", "1"], "unexpected keyword argument 'bogus'"),
        (["train", "lenet5", "--arg", "nonsense"], "NAME=VALUE"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, needle):
    r = _run(*args)
    assert r.exit_code == 2, r.output
    assert needle in r.output
    assert "Traceback" not in r.output
