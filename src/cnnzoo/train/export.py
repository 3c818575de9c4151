"""ONNX export with a check against eager PyTorch, and ONNX Runtime inference.

``export_onnx(model, "m.onnx", input_size=(3, 224, 224))`` writes the graph
(opset 17, TorchScript-based exporter, which needs no extra packages),
optionally with a dynamic batch dimension, then runs the file in ONNX Runtime
on random inputs and compares with the eager model (``max |Δ|`` reported;
``check_onnx`` raises if it exceeds the tolerance). onnx and onnxruntime are the
``onnx`` extra: ``pip install 'cnnzoo[onnx]'``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["check_onnx", "export_onnx", "onnx_session"]


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
