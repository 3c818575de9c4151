"""``cnnzoo eval``, ``cnnzoo predict``, ``cnnzoo export``: use a trained checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from cnnzoo.cli.app import app, console, fail


def _parse_scales(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        scales = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        fail(f"--scales must be comma-separated integers such as 256,384,512; got {text!r}")
    if not scales or any(s <= 0 for s in scales):
        fail(f"--scales must be positive integers; got {text!r}")
    return scales


@app.command("eval")
def eval_command(
    checkpoint: Path = typer.Argument(..., help="A run directory (its best checkpoint) or a checkpoint stem."),
    data: str = typer.Option("digits", "--data", help="Data set whose test split is evaluated (digits, NAME:PATH)."),
    tta: str = typer.Option("center", "--tta", help="center, 10crop (AlexNet), multiscale or dense (VGG)."),
    scales: str = typer.Option(None, "--scales", help="Comma-separated shorter-side sizes Q, e.g. 256,384,512."),
    batch_size: int = typer.Option(128, "--batch-size", help="Images per batch."),
    model: str = typer.Option(None, "--model", help="Fail unless the checkpoint holds this model."),
    confusion: Path = typer.Option(None, "--confusion", help="Write the confusion-matrix plot here [default: next to the checkpoint]."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
) -> None:
    """Top-1/top-5 and per-class accuracy of a checkpoint, evaluated as the papers did."""
    from rich.progress import Progress

    from cnnzoo.data.datasets import DataError
    from cnnzoo.train.checkpoint import CheckpointError, resolve_checkpoint
    from cnnzoo.train.evaluation import evaluate_checkpoint, plot_confusion
    from cnnzoo.train.tta import TTA_MODES

    if tta not in TTA_MODES:
        fail(f"unknown --tta {tta!r}; accepted: {', '.join(TTA_MODES)}")
    if batch_size <= 0:
        fail(f"--batch-size must be positive; got {batch_size}")
    q = _parse_scales(scales)
    try:
        stem = resolve_checkpoint(checkpoint)
        with Progress(transient=True, disable=as_json) as bar:
            task = bar.add_task(f"eval {tta}", total=None)
            report = evaluate_checkpoint(
                stem, data, tta=tta, scales=q, batch_size=batch_size, device=device,
                expect_model=model, progress=lambda n: bar.advance(task, n),
            )  # fmt: skip
    except (ValueError, DataError, CheckpointError) as e:
        fail(str(e))
    plot_path = confusion or stem.parent / f"confusion-{tta}.png"
    plot_confusion(report, plot_path)
    if as_json:
        print(json.dumps(report.to_dict()))
        return
    console.print(
        f"[bold]{report.model}[/] on {report.data} ({report.num_samples} images, {tta}, scales {report.scales}): "
        f"top-1 [bold green]{report.top1:.2%}[/], top-5 {report.top5:.2%}",
        highlight=False,
    )
    table = Table("class", "accuracy", "images", title="per-class accuracy")
    for name, acc, row in zip(report.class_names, report.per_class, report.confusion):
        table.add_row(name, f"{acc:.2%}", str(sum(row)))
    console.print(table)
    console.print(f"confusion matrix: {plot_path}", highlight=False)


@app.command("predict")
def predict_command(
    checkpoint: Path = typer.Argument(..., help="A run directory or a checkpoint stem."),
    images: list[Path] = typer.Argument(..., help="Image files (PNG, JPEG, … anything Pillow reads)."),
    topk: int = typer.Option(5, "--topk", "-k", help="How many classes to show."),
    invert: bool = typer.Option(False, "--invert", help="Invert grey levels (dark ink on white paper → the digits' white ink on black)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The top-k classes of each image, with probabilities."""
    from cnnzoo.train.checkpoint import CheckpointError
    from cnnzoo.train.evaluation import predict_files

    if topk <= 0:
        fail(f"--topk must be positive; got {topk}")
    try:
        results = predict_files(checkpoint, images, topk=topk, invert=invert)
    except (ValueError, CheckpointError) as e:
        fail(str(e))
    if as_json:
        print(json.dumps(results))
        return
    for r in results:
        best = ", ".join(f"{t['name']} {t['probability']:.1%}" for t in r["top"])
        console.print(f"[bold]{r['file']}[/]: {best}", highlight=False)


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
    import torch

    from cnnzoo.train.checkpoint import CheckpointError, load_model

    try:
        model = load_model(checkpoint)
        meta = model.cnnzoo_checkpoint_meta
        size = meta["normalize"]["size"]
        in_chans = meta["model"]["kwargs"].get("in_chans", 3)
        input_size = (in_chans, int(size[0]), int(size[1]))
        from cnnzoo.train.export import check_onnx, export_onnx

        if fold_bn:
            from cnnzoo.layers.fold_bn import fold_batchnorm

            model = fold_batchnorm(model, torch.randn(2, *input_size))
            console.print(f"folded {model.cnnzoo_folded_pairs} BatchNorm layer(s) into their convolutions")
        onnx.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(model, onnx, input_size, dynamic_batch=dynamic_batch)
        err = check_onnx(onnx, model, input_size, batch_sizes=(1, 3) if dynamic_batch else (1,))
        console.print(f"wrote {onnx}; ONNX Runtime matches eager PyTorch to {err:.2g}", highlight=False)
        if int8:
            _export_int8(onnx, meta, data or meta["data"]["name"], input_size, dynamic_batch)
    except ImportError as e:
        fail(str(e))
    except OSError as e:
        fail(f"cannot write {e.filename or onnx}: {e.strerror or e}")
    except (ValueError, CheckpointError, RuntimeError) as e:
        fail(str(e))


def _export_int8(onnx: Path, meta: dict, data: str, input_size: tuple[int, int, int], dynamic_batch: bool) -> None:
    import torch
    import torch.nn.functional as F

    from cnnzoo.data import build_data
    from cnnzoo.train.evaluation import normalizer
    from cnnzoo.train.quantize import quantize_onnx

    bundle = build_data(data)
    norm = normalizer(meta)
    n = min(len(bundle.train), 256)
    x = torch.stack([bundle.train[i][0] for i in range(n)])
    if tuple(x.shape[-2:]) != input_size[1:]:
        x = F.interpolate(x, size=input_size[1:], mode="bilinear", align_corners=False)
    # A graph exported with a fixed batch of one is calibrated one image at a time.
    batches = [norm(b) for b in x.split(32 if dynamic_batch else 1)]
    out = onnx.with_suffix(".int8.onnx")
    quantize_onnx(onnx, out, batches)
    console.print(f"wrote {out} (int8, calibrated on {n} training images of {bundle.name})", highlight=False)
