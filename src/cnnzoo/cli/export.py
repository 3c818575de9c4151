"""``cnnzoo export``: a checkpoint to ONNX (optionally BN-folded and int8-quantised)."""

from __future__ import annotations

from pathlib import Path

import typer

from cnnzoo.cli.app import app, console, fail


@app.command("export")
def export_command(
    checkpoint: Path = typer.Argument(..., help="A run directory or a checkpoint stem."),
    onnx: Path = typer.Option(..., "--onnx", help="Output .onnx file."),
    fold_bn: bool = typer.Option(False, "--fold-bn", help="Fold every BatchNorm that follows a convolution into it first."),
    dynamic_batch: bool = typer.Option(False, "--dynamic-batch", help="Let the batch dimension vary."),
    int8: bool = typer.Option(False, "--int8", help="Also write OUT.int8.onnx, statically quantised on the training data."),
    data: str = typer.Option(None, "--data", help="Calibration data for --int8 [default: the data set of the run]."),
) -> None:
    """Export a checkpoint to ONNX and check it against eager PyTorch with ONNX Runtime."""
    from cnnzoo.train.export import export_checkpoint

    try:
        r = export_checkpoint(checkpoint, onnx, fold_bn=fold_bn, dynamic_batch=dynamic_batch, int8=int8, calibration_data=data)
    except (ImportError, ValueError, RuntimeError) as e:  # no onnx extra, bad checkpoint or data, unwritable path
        fail(str(e))
    if r.folded_pairs is not None:
        console.print(f"folded {r.folded_pairs} BatchNorm layer(s) into their convolutions")
    console.print(f"wrote {r.onnx_path}; ONNX Runtime matches eager PyTorch to {r.max_error:.2g}", highlight=False)
    if r.int8_path is not None:
        console.print(f"wrote {r.int8_path} (int8, calibrated on {r.calibration_images} training images of {r.calibration_data})", highlight=False)
