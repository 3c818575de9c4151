"""``cnnzoo import-weights``: a torchvision, timm or Keras checkpoint into a cnnzoo run directory."""

from __future__ import annotations

from pathlib import Path

import typer

from cnnzoo.cli.app import app, console, fail


@app.command("import-weights")
def import_weights_command(
    path: Path = typer.Argument(..., help="A .pth/.pt/.safetensors/.h5 file or a timm folder (config.json + model.safetensors)."),
    model: str = typer.Option(None, "--model", help="The cnnzoo model (or the source's model name) [default: from the file's name or config]."),
    source: str = typer.Option(None, "--source", help="torchvision, timm or keras [default: from the file's name or config]."),
    out: Path = typer.Option(..., "--out", help="The run directory to write (checkpoint-best)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a previous run in --out."),
) -> None:
    """Import another library's ImageNet weights into the paper-faithful cnnzoo model (see docs/weights.md)."""
    from cnnzoo.weights import import_weights

    try:
        r = import_weights(path, out, model=model, source=source, overwrite=overwrite)
    except (ImportError, ValueError, OSError) as e:  # WeightsError, CheckpointError and RunDirError are ValueErrors
        fail(str(e))
    e = r.entry
    options = ", ".join(f"{k}={v!r}" for k, v in e.kwargs.items()) or "defaults"
    console.print(f"imported {e.source} {e.name} into cnnzoo {e.model} ({options}) in {r.seconds:.1f}s", highlight=False)
    console.print(f"wrote {r.checkpoint}; try: cnnzoo predict {out} IMAGE", highlight=False)
