"""ONNX export with a check against eager PyTorch, and ONNX Runtime inference.

``export_onnx(model, "m.onnx", input_size=(3, 224, 224))`` writes the graph
(opset 17, TorchScript-based exporter, which needs no extra packages),
optionally with a dynamic batch dimension, then runs the file in ONNX Runtime
on random inputs and compares with the eager model (``max |Δ|`` reported;
``check_onnx`` raises if it exceeds the tolerance). onnx and onnxruntime are the
``onnx`` extra: ``pip install 'cnnzoo[onnx]'``.

``export_checkpoint("runs/x", "x.onnx", fold_bn=True, int8=True)`` does what
``cnnzoo export`` does: rebuild the checkpoint's model, optionally fold its
BatchNorms, export and check it, and optionally write ``x.int8.onnx``
calibrated on training images normalised as in training.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from cnnzoo.train.meta import CheckpointMeta

__all__ = ["ExportError", "ExportResult", "check_onnx", "export_checkpoint", "export_onnx", "onnx_session"]

CALIBRATION_IMAGES = 256


class ExportError(ValueError):
    """The ONNX file cannot be written where asked."""


@dataclass
class ExportResult:
    """What :func:`export_checkpoint` wrote; ``max_error`` is ``max |onnx − eager|`` on random inputs."""

    onnx_path: Path
    max_error: float
    input_size: tuple[int, int, int]
    folded_pairs: int | None = None  # BatchNorm layers folded, with fold_bn
    int8_path: Path | None = None
    calibration_images: int = 0
    calibration_data: str | None = None


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ImportError("ONNX export needs the onnx extra: pip install 'cnnzoo[onnx]'") from None


def onnx_session(path: str | os.PathLike[str], threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session for ``path`` with full graph optimisation."""
    _require_onnx()
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class _MainOutput(nn.Module):
    """Exports only the main logits of models that return (main, aux…) tuples."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out[0] if isinstance(out, (tuple, list)) else out


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    input_size: Sequence[int],
    *,
    dynamic_batch: bool = False,
    opset: int = 17,
) -> str:
    """Write ``model`` (eval mode) as ONNX for inputs ``(N, *input_size)``; returns the path."""
    _require_onnx()
    model = _MainOutput(model.eval())
    x = torch.randn(1, *input_size)
    dynamic = {"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings():
        # Shape checks in forward() are evaluated once while tracing; that is intended.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(
            model, (x,), str(path), input_names=["input"], output_names=["logits"],
            dynamic_axes=dynamic, opset_version=opset, dynamo=False,
        )  # fmt: skip
    import onnx

    onnx.checker.check_model(str(path))
    return str(path)


@torch.no_grad()
def check_onnx(
    path: str | os.PathLike[str],
    model: nn.Module,
    input_size: Sequence[int],
    *,
    batch_sizes: Sequence[int] = (1,),
    atol: float = 1e-4,
    seed: int = 0,
) -> float:
    """Largest ``|onnx − eager|`` over random inputs; a ``RuntimeError`` above ``atol`` (relative to scale)."""
    sess = onnx_session(path)
    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    model = _MainOutput(model.eval())
    for n in batch_sizes:
        x = torch.randn(n, *input_size, generator=gen)
        ref = model(x).numpy()
        got = sess.run(None, {"input": x.numpy()})[0]
        worst = max(worst, float(np.abs(ref - got).max()))
        if worst > atol * max(1.0, float(np.abs(ref).max())):
            raise RuntimeError(f"{path}: ONNX Runtime differs from eager PyTorch by {worst:.3g} (> {atol})")
    return worst


def export_checkpoint(
    checkpoint: str | os.PathLike[str],
    onnx_path: str | os.PathLike[str],
    *,
    fold_bn: bool = False,
    dynamic_batch: bool = False,
    int8: bool = False,
    calibration_data: str | None = None,
) -> ExportResult:
    """Export a checkpoint's model to ``onnx_path`` and check it against eager PyTorch.

    With ``int8`` also ``NAME.int8.onnx``, statically quantised on up to 256
    training images of ``calibration_data`` (default: the data the checkpoint was
    trained on). Raises ``ValueError`` subclasses for bad checkpoints and
    unwritable paths, ``ImportError`` without the onnx extra.
    """
    from cnnzoo.train.checkpoint import load_model_and_meta

    model, meta = load_model_and_meta(checkpoint)
    onnx_path = Path(onnx_path)
    input_size = (meta.in_chans, int(meta.normalize.size[0]), int(meta.normalize.size[1]))
    result = ExportResult(onnx_path=onnx_path, max_error=0.0, input_size=input_size)
    if fold_bn:
        from cnnzoo.layers.fold_bn import fold_batchnorm

        model = fold_batchnorm(model, torch.randn(2, *input_size))
        result.folded_pairs = int(model.cnnzoo_folded_pairs)
    try:
        onnx_path.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(model, onnx_path, input_size, dynamic_batch=dynamic_batch)
        result.max_error = check_onnx(onnx_path, model, input_size, batch_sizes=(1, 3) if dynamic_batch else (1,))
        if int8:
            result.calibration_data = calibration_data or meta.data
            batches = _calibration_batches(result.calibration_data, meta, input_size, dynamic_batch)
            result.calibration_images = sum(len(b) for b in batches)
            result.int8_path = onnx_path.with_suffix(".int8.onnx")
            from cnnzoo.train.quantize import quantize_onnx

            quantize_onnx(onnx_path, result.int8_path, batches)
    except OSError as e:
        raise ExportError(f"cannot write {e.filename or onnx_path}: {e.strerror or e}") from None
    return result


def _calibration_batches(data: str, meta: CheckpointMeta, input_size: tuple[int, int, int], dynamic_batch: bool) -> list[torch.Tensor]:
    """Training images of ``data`` at the model's input size, normalised as in training."""
    from cnnzoo.data import build_data
    from cnnzoo.train.pipeline import InputPipeline

    bundle = build_data(data)
    n = min(len(bundle.train), CALIBRATION_IMAGES)
    x = torch.stack([bundle.train[i][0] for i in range(n)])
    if x.shape[1] != input_size[0]:
        raise ValueError(f"--data {data} has {x.shape[1]}-channel images; the model takes {input_size[0]}")
    norm = meta.normalize
    crop = tuple(norm.crop) if norm.crop else None
    pipeline = InputPipeline(norm.mean, norm.std, tuple(input_size[1:]), torch.device("cpu"), crop=crop)
    # A graph exported with a fixed batch of one is calibrated one image at a time.
    return [pipeline(b) for b in x.split(32 if dynamic_batch else 1)]
