"""Post-training static int8 quantisation for CPU inference, with calibration data.

Two routes, both "static" (activation ranges fixed beforehand by running
calibration batches through the network, as Jacob et al. 2018 describe):

* :func:`quantize_fx` — PyTorch's FX graph mode (``torch.ao.quantization``,
  x86/fbgemm kernels): traces the model, inserts observers, calibrates,
  converts Conv/Linear(+BN+ReLU) to int8 modules. It needs a model that
  ``torch.fx`` can trace; cnnzoo's shape checks step aside while tracing.
  ``torch.ao.quantization`` is deprecated in favour of torchao; it still
  ships with this torch, and the ONNX Runtime route does not depend on it.
* :func:`quantize_onnx` — ONNX Runtime's static quantiser on an exported
  graph (QDQ format, per-channel weights): works on any model that exports,
  and runs on ONNX Runtime's int8 kernels.

The accuracy change is what matters: ``cnnzoo export --int8`` and
``benchmarks/inference.py`` report it next to the speed.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn

__all__ = ["quantize_fx", "quantize_onnx"]


def quantize_fx(model: nn.Module, calibration: Iterable[Tensor], backend: str = "x86") -> nn.Module:
    """An int8 copy of ``model`` calibrated on the batches in ``calibration``."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    batches = list(calibration)
    if not batches:
        raise ValueError("quantisation needs at least one calibration batch")
    torch.backends.quantized.engine = backend
    float_model = copy.deepcopy(model).eval()
    with warnings.catch_warnings():
        # torch.ao.quantization announces its move to torchao; it still works in this torch.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            prepared = prepare_fx(float_model, get_default_qconfig_mapping(backend), (batches[0],))
        except Exception as e:  # torch.fx raises many types for untraceable code
            raise ValueError(
                f"{type(model).__name__} cannot be traced by torch.fx for quantisation ({type(e).__name__}: {e}); "
                "use the ONNX Runtime route (quantize_onnx / cnnzoo export --int8)"
            ) from None
        with torch.no_grad():
            for x in batches:
                prepared(x)
        return convert_fx(prepared)


def quantize_onnx(
    onnx_in: str | os.PathLike[str],
    onnx_out: str | os.PathLike[str],
    calibration: Sequence[Tensor],
) -> str:
    """Static int8 quantisation of an ONNX file with ONNX Runtime (QDQ, per-channel weights)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"input": x.numpy()} for x in calibration])

        def get_next(self):  # type: ignore[override]
            return next(self.it, None)

    pre = str(onnx_out) + ".pre.onnx"
    try:
        quant_pre_process(str(onnx_in), pre, skip_symbolic_shape=True)
        quantize_static(
            pre, str(onnx_out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        )  # fmt: skip
    finally:
        if os.path.exists(pre):
            os.unlink(pre)
    return str(onnx_out)
