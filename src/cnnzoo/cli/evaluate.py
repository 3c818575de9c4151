"""``cnnzoo eval`` and ``cnnzoo predict``: use a trained checkpoint."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from cnnzoo.cli.app import app, console, err_console, fail


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


DEVICES = "cpu, cuda or cuda:N"


def _check_device(device: str) -> None:
    # Checked here, before the checkpoint is read, so that the message names the option.
    if not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        fail(f"--device {device!r} is not a device; expected {DEVICES}")


def _print_report(report: dict[str, Any], task: Any, files: list[Path]) -> None:
    scales = "as in training" if report["scales"] is None else f"scales {report['scales']}"
    console.print(
        f"[bold]{report['model']}[/] on {report['data_name']} {report['split']} ({report['num_samples']} images, "
        f"{report['mode']}, {scales}): {task.headline(report)}",
        highlight=False,
    )
    cols, rows = task.per_class_table(report)
    if rows:
        table = Table(*cols, title="per class")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    for f in files:
        console.print(f"wrote {f}", highlight=False, soft_wrap=True)


@app.command("eval")
def eval_command(
    checkpoint: Path = typer.Argument(..., help="A run directory (its best checkpoint) or a checkpoint stem."),
    data: str = typer.Option(None, "--data", help="Evaluate on this data set (digits, NAME:PATH) [default: the run's own, with its classes and image size]."),
    split: str = typer.Option("test", "--split", help="test, or val (the run's validation split)."),
    tta: str = typer.Option("center", "--tta", help="center, 10crop (AlexNet), multiscale or dense (VGG); classifiers only beyond center."),
    scales: str = typer.Option(None, "--scales", help="Comma-separated shorter-side sizes Q, e.g. 256,384,512."),
    batch_size: int = typer.Option(128, "--batch-size", help="Images per batch."),
    model: str = typer.Option(None, "--model", help="Fail unless the checkpoint holds this model."),
    out: Path = typer.Option(None, "--out", help="Write evaluation.json and the plots here [default: RUN/eval-DATA-SPLIT-TTA]."),
    as_json: bool = typer.Option(False, "--json", help="Print the report (evaluation.json) as JSON."),
    device: str = typer.Option("cpu", "--device", help=f"{DEVICES}."),
) -> None:
    """The checkpoint's loss and metrics: accuracy with per-class precision/recall/F1, or the task's own."""
    from rich.progress import Progress

    from cnnzoo.data.datasets import DataError
    from cnnzoo.train.checkpoint import CheckpointError, resolve_checkpoint
    from cnnzoo.train.evaluation import evaluate_checkpoint, jsonable, write_evaluation
    from cnnzoo.train.tasks import TaskContext, build_task
    from cnnzoo.train.tta import TTA_MODES

    _check_device(device)
    if tta not in TTA_MODES:
        fail(f"unknown --tta {tta!r}; accepted: {', '.join(TTA_MODES)}")
    if split not in ("test", "val"):
        fail(f"--split must be test or val; got {split!r}")
    if batch_size <= 0:
        fail(f"--batch-size must be positive; got {batch_size}")
    q = _parse_scales(scales)
    try:
        stem = resolve_checkpoint(checkpoint)
        with Progress(transient=True, disable=as_json or not err_console.is_terminal, console=err_console) as bar:
            job = bar.add_task(f"eval {tta}", total=None)
            report = evaluate_checkpoint(
                stem, data, tta=tta, scales=q, batch_size=batch_size, device=device, expect_model=model,
                progress=lambda n: bar.advance(job, n), split=split,
            )  # fmt: skip
    except (ValueError, DataError, CheckpointError) as e:
        fail(str(e))
    names = report["class_names"]
    task = build_task(report["task"], TaskContext(num_classes=len(names), class_names=names))
    where = out or stem.parent / f"eval-{report['data_name']}-{split}-{tta}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        files = write_evaluation(report, where, title=f"{report['model']} on {report['data_name']}", task=task)
    if as_json:
        print(json.dumps(jsonable(report)))
    else:
        _print_report(report, task, files)
    for w in caught:
        err_console.print(f"[yellow]warning:[/] {w.message}", highlight=False, soft_wrap=True)


@app.command("predict")
def predict_command(
    checkpoint: Path = typer.Argument(..., help="A run directory or a checkpoint stem (a classifier, a segmentation or a detection run)."),
    images: list[Path] = typer.Argument(..., help="Image files (PNG, JPEG, … anything Pillow reads)."),
    topk: int = typer.Option(5, "--topk", "-k", help="How many classes to show."),
    invert: bool = typer.Option(False, "--invert", help="Invert grey levels (dark ink on white paper → the digits' white ink on black)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    device: str = typer.Option("cpu", "--device", help=f"{DEVICES}."),
    out: Path = typer.Option(None, "--out", help="Segmentation runs: STEM-mask.png (palette PNG) and STEM-overlay.png; detection runs: STEM-boxes.png and detections.json [default: RUN/predict]."),
    score_threshold: float = typer.Option(None, "--score-threshold", help="Detection: keep boxes scoring at least this, in [0, 1) [default: the detector's]."),
    nms_iou: float = typer.Option(None, "--nms-iou", help="Detection: non-maximum suppression IoU, in (0, 1] [default: the detector's]."),
    max_detections: int = typer.Option(None, "--max-detections", help="Detection: boxes kept per image [default: the detector's]."),
) -> None:
    """The top-k classes of each image with probabilities; for a segmentation run, its mask and overlay; for a detection run, its boxes."""
    from cnnzoo.train.checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint
    from cnnzoo.train.evaluation import predict_boxes, predict_files, predict_masks

    _check_device(device)
    if topk <= 0:
        fail(f"--topk must be positive; got {topk}")
    _check_postprocess(score_threshold, nms_iou, max_detections)
    try:
        stem = resolve_checkpoint(checkpoint)
        task = load_checkpoint(stem).meta.task
        if task == "segmentation":
            masks = predict_masks(stem, images, out or stem.parent / "predict", invert=invert, device=device)
            _print_masks(masks, as_json)
            return
        if task == "detection":
            found = predict_boxes(
                stem, images, out or stem.parent / "predict", score_threshold=score_threshold, nms_iou=nms_iou,
                max_detections=max_detections, invert=invert, device=device,
            )  # fmt: skip
            _print_boxes(found, out or stem.parent / "predict", as_json)
            return
        results = predict_files(checkpoint, images, topk=topk, invert=invert, device=device)
    except (ValueError, CheckpointError) as e:
        fail(str(e))
    if as_json:
        print(json.dumps(results))
        return
    for r in results:
        best = ", ".join(f"{t['name']} {t['probability']:.1%}" for t in r["top"])
        console.print(f"[bold]{r['file']}[/]: {best}", highlight=False)


def _check_postprocess(score_threshold: float | None, nms_iou: float | None, max_detections: int | None) -> None:
    # The same ranges as Detector.set_postprocess, named by their flags, before the checkpoint is read.
    if score_threshold is not None and not 0.0 <= score_threshold < 1.0:
        fail(f"--score-threshold must be in [0, 1); got {score_threshold}")
    if nms_iou is not None and not 0.0 < nms_iou <= 1.0:
        fail(f"--nms-iou must be an IoU in (0, 1]; got {nms_iou}")
    if max_detections is not None and max_detections < 1:
        fail(f"--max-detections must be a positive integer; got {max_detections}")


def _print_boxes(results: list[dict[str, Any]], out: Path, as_json: bool) -> None:
    if as_json:
        print(json.dumps(results))
        return
    for r in results:
        found = ", ".join(f"{b['class']} {b['score']:.2f}" for b in r["boxes"][:10]) or "nothing"
        more = f" and {len(r['boxes']) - 10} more" if len(r["boxes"]) > 10 else ""
        console.print(f"[bold]{r['image']}[/]: {found}{more}; wrote {out / (Path(r['image']).stem + '-boxes.png')}", highlight=False, soft_wrap=True)
    console.print(f"wrote {out / 'detections.json'}", highlight=False, soft_wrap=True)


def _print_masks(results: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(results))
        return
    for r in results:
        classes = ", ".join(f"{k} {v}" for k, v in sorted(r["pixels"].items(), key=lambda kv: -kv[1]))
        console.print(f"[bold]{r['file']}[/]: wrote {r['mask']} and {r['overlay']} (pixels: {classes})", highlight=False, soft_wrap=True)
