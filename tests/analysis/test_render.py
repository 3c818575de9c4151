"""Renderers: JSON schema of docs/analysis.md, CSV, Markdown, the rich table and depth folding."""

from __future__ import annotations

import csv
import io
import json

import pytest
from rich.console import Console
from torch import nn

import cnnzoo
from cnnzoo.analysis import analyze
from cnnzoo.analysis.render import (
    render_csv,
    render_json,
    render_markdown,
    render_table,
    select_rows,
)


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(x)) + x


def _model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.Sequential(Block(), Block()), nn.AdaptiveAvgPool2d(1)
    )


def test_json_has_the_design_schema():
    r = analyze(cnnzoo.create("lenet5"), (1, 32, 32))
    d = json.loads(render_json(r))
    for key in ("model", "input", "params", "trainable_params", "macs", "flops", "activation_bytes",
                "receptive_field", "layers"):  # fmt: skip
        assert key in d
    assert d["model"] == "lenet5" and d["input"] == [1, 32, 32]
    assert d["params"] == 61706 and d["flops"] == 2 * d["macs"]
    assert d["receptive_field"] == {"size": [32, 32], "stride": [4, 4], "start": [15.5, 15.5]}
    # every row, containers included (with their kind and depth)
    assert [(row["name"], row["kind"]) for row in d["layers"][:2]] == [
        ("features", "container"),
        ("features.c1", "module"),
    ]
    row = d["layers"][1]
    for key in ("name", "type", "output_shape", "params", "macs", "rf_size", "rf_stride"):
        assert key in row
    assert row["name"] == "features.c1" and row["output_shape"] == [1, 6, 28, 28]
    assert row["rf_size"] == [5, 5] and row["rf_stride"] == [1, 1]


def test_depth_folds_nested_modules():
    r = analyze(_model(), (3, 8, 8))
    names = [row.name for row in select_rows(r)]
    assert names == ["0", "1.0.conv", "1.0.act", "1.0.add", "1.1.conv", "1.1.act", "1.1.add", "2"]
    assert [row.name for row in select_rows(r, 1)] == ["0", "1", "2"]
    assert [row.name for row in select_rows(r, 2)] == ["0", "1.0", "1.1", "2"]
    folded = r.layer("1")
    assert folded.macs == 2 * 3 * 3 * 4 * 4 * 64
    assert folded.params == 2 * (4 * 4 * 9 + 4)
    with pytest.raises(ValueError, match="depth"):
        select_rows(r, 0)


def test_csv_rows_and_table_render():
    r = analyze(_model(), (3, 8, 8))
    rows = list(csv.DictReader(io.StringIO(render_csv(r, depth=1))))
    assert [row["name"] for row in rows] == ["0", "1", "2", "total"]
    assert rows[1]["macs"] == str(2 * 3 * 3 * 4 * 4 * 64) and rows[1]["rf_size"] == "7x7"
    console = Console(width=150, record=True)
    console.print(render_table(r, depth=2))
    text = console.export_text()
    assert "1.0" in text and "Block" in text and "MACs" in text


def test_markdown_layout():
    r = analyze(cnnzoo.create("lenet5"), (1, 32, 32))
    md = render_markdown(r).splitlines()
    assert (
        md[0]
        == "| layer | type | kernel | count | stride | input | output | weights | biases | parameters |"
    )
    assert md[2] == "| input | - | - | - | - | - | 1@32x32 | 0 | 0 | 0 |"
    assert md[3] == "| features.c1 | Conv2d | 5x5 | 6 | 1 | 1@32x32 | 6@28x28 | 150 | 6 | 156 |"
    assert "| total | | | | | | | 61,470 | 236 | 61,706 |" in md


def test_json_layers_have_the_weights_and_biases_that_csv_has():
    r = analyze(cnnzoo.create("lenet5"), (1, 32, 32))
    rows = json.loads(render_json(r))["layers"]
    csv_rows = list(csv.DictReader(io.StringIO(render_csv(r))))
    c1 = next(row for row in rows if row["name"] == "features.c1")
    assert (c1["weights"], c1["biases"]) == (150, 6)  # 6 filters of 1x5x5, one bias each
    assert set(csv_rows[0]) - set(rows[0]) == set()  # every CSV column is a JSON key too


@pytest.mark.parametrize("depth", [None, 1])
def test_csv_ends_with_a_totals_row_of_the_whole_model(depth):
    r = analyze(cnnzoo.create("lenet5"), (1, 32, 32))
    rows = list(csv.DictReader(io.StringIO(render_csv(r, depth))))
    total = rows[-1]
    assert total["name"] == "total" and total["kind"] == "total"
    assert int(total["params"]) == 61706 == int(total["weights"]) + int(total["biases"])
    assert int(total["macs"]) == r.macs and total["rf_size"] == "32x32"
    assert [row["name"] for row in rows].count("total") == 1


def test_compare_chart_of_twenty_models_is_written_on_log_axes(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import matplotlib.pyplot as plt

    from cnnzoo.analysis.render import compare_chart

    seen = {}
    real_savefig = plt.Figure.savefig

    def savefig(fig, *a, **k):
        ax = fig.axes[0]
        seen["scales"] = (ax.get_xscale(), ax.get_yscale())
        seen["key"] = "\n".join(t.get_text() for t in fig.texts)
        return real_savefig(fig, *a, **k)

    monkeypatch.setattr(plt.Figure, "savefig", savefig)
    reports = [SimpleNamespace(model=f"net{i}", params=10 ** (4 + i % 5), macs=10 ** (5 + i % 6), training_bytes=i * 2**20) for i in range(20)]
    out = compare_chart(reports, tmp_path / "c.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert seen["scales"] == ("log", "log")
    assert all(f"{i + 1:>2}  net{i} " in seen["key"] for i in range(20))  # each number keyed to its model
