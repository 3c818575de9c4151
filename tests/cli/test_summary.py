"""``cnnzoo summary``: the textbook AlexNet table, the formats, and bad input."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from cnnzoo.cli import app

runner = CliRunner()

# The textbook single-tower AlexNet table (3@227×227): the layers with a
# kernel or weights, in order, as (kind, kernel, count, stride, output,
# weights, biases, parameters). That table writes conv6 as a 6×6 convolution on
# the 6×6 map (output 4096×1); the registered model writes it as the
# equivalent fully connected layer fc6 (output 4096), with the same weights.
SEED_ALEXNET = [
    ("conv", "11x11", "96", "4", "96@55x55", 34848, 96, 34944),
    ("pool", "3x3", "-", "2", "96@27x27", 0, 0, 0),
    ("conv", "5x5", "256", "1", "256@27x27", 614400, 256, 614656),
    ("pool", "3x3", "-", "2", "256@13x13", 0, 0, 0),
    ("conv", "3x3", "384", "1", "384@13x13", 884736, 384, 885120),
    ("conv", "3x3", "384", "1", "384@13x13", 1327104, 384, 1327488),
    ("conv", "3x3", "256", "1", "256@13x13", 884736, 256, 884992),
    ("pool", "3x3", "-", "2", "256@6x6", 0, 0, 0),
    ("fc", "-", "4096", "-", "4096", 37748736, 4096, 37752832),
    ("fc", "-", "4096", "-", "4096", 16777216, 4096, 16781312),
    ("fc", "-", "1000", "-", "1000", 4096000, 1000, 4097000),
]
SEED_TOTAL = "62,378,344"


def _markdown_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def test_alexnet_single_tower_reproduces_seed_table():
    result = runner.invoke(app, ["summary", "alexnet", "--arg", "towers=1", "--format", "markdown"])
    assert result.exit_code == 0, result.output
    rows = _markdown_rows(result.output)
    head, body = rows[0], rows[1:]
    assert head == [
        "layer",
        "type",
        "kernel",
        "count",
        "stride",
        "input",
        "output",
        "weights",
        "biases",
        "parameters",
    ]
    assert body[0][0] == "input" and body[0][6] == "3@227x227"
    kinds = {"Conv2d": "conv", "MaxPool2d": "pool", "Linear": "fc"}
    ours = [
        (kinds[r[1]], r[2], r[3], r[4], r[6], int(r[7].replace(",", "")), int(r[8].replace(",", "")),
         int(r[9].replace(",", "")))
        for r in body
        if r[1] in kinds
    ]  # fmt: skip
    assert ours == SEED_ALEXNET
    # two LRN layers and two dropout layers, without parameters, as in that table
    assert sum(r[1] == "LocalResponseNorm" and r[9] == "0" for r in body) == 2
    assert sum(r[1] == "Dropout" and r[9] == "0" for r in body) == 2
    assert body[-1][0] == "total" and body[-1][-1] == SEED_TOTAL


def test_formats_and_depth():
    result = runner.invoke(app, ["summary", "lenet5", "--format", "json"])
    assert result.exit_code == 0
    d = json.loads(result.output)
    assert d["params"] == 61706 and d["input"] == [1, 32, 32]
    result = runner.invoke(app, ["summary", "lenet5", "--format", "csv", "--depth", "1"])
    assert result.exit_code == 0
    assert [r["name"] for r in csv.DictReader(io.StringIO(result.output))] == [
        "features",
        "classifier",
        "total",  # the whole model, whatever the depth
    ]
    result = runner.invoke(app, ["summary", "resnet18", "--depth", "1"])
    assert result.exit_code == 0
    assert "layer4" in result.output and "layer4.0" not in result.output
    assert "1.81G" in result.output  # 1.8G MACs (He et al. table 1)


def test_input_option_and_channels():
    result = runner.invoke(app, ["summary", "resnet18", "--input", "1x64x64", "--format", "json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert d["input"] == [1, 64, 64]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "3x224"], "three positive integers"),
        (["--input", "0x224x224"], "three positive integers"),
        (["--input", "abc"], "must look like 3x224x224"),
        (["--input", "3x20x20"], "at least"),
        (["--arg", "towers"], "NAME=VALUE"),
        (["--arg", "no_such_knob=1"], "no_such_knob"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message):
    result = runner.invoke(app, ["summary", "alexnet", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 2  # one message (the terminal may wrap it)


def test_unknown_model():
    result = runner.invoke(app, ["summary", "alexnett"])
    assert result.exit_code == 2 and "alexnet" in result.output
