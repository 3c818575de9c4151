"""``cnnzoo compare``: totals side by side, and the chart."""

from __future__ import annotations

from typer.testing import CliRunner

from cnnzoo.cli import app

runner = CliRunner()


def test_compare_prints_totals_and_writes_a_chart(tmp_path):
    out = tmp_path / "chart.png"
    result = runner.invoke(
        app, ["compare", "resnet18", "mobilenet_v1", "lenet5", "--plot", str(out)]
    )
    assert result.exit_code == 0, result.output
    for name in ("resnet18", "mobilenet_v1", "lenet5"):
        assert name in result.output
    assert out.exists() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_with_one_input_size():
    result = runner.invoke(app, ["compare", "resnet18", "resnet34", "--input", "3x64x64"])
    assert result.exit_code == 0, result.output
    assert result.output.count("3x64x64") == 2


def test_compare_bad_input():
    result = runner.invoke(app, ["compare", "resnet18", "--input", "3x64"])
    assert result.exit_code == 2 and "three positive integers" in result.output
    result = runner.invoke(app, ["compare", "resnet18", "nosuchnet"])
    assert result.exit_code == 2 and "unknown model" in result.output
