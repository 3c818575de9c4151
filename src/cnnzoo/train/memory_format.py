"""Which memory layout a run trains in: ``--channels-last``, ``--no-channels-last``, or by measurement.

Unset (the default), the layout is chosen per model and device:

* on the CPU, channels_last (NHWC) for the models where a training step measured
  faster in it than in NCHW (:data:`CPU_CHANNELS_LAST`; ``benchmarks/channels_last.py``,
  recorded in ``benchmarks/RESULTS.md``), NCHW for the others, and for any model not
  measured;
* on CUDA, NCHW, as before: the GPU measurements are still to be made
  (``benchmarks/gpu.py``); ``--channels-last`` asks for NHWC.

Either layout computes the same function, but the kernels round differently, so a
run resumes in the layout it started in (the setting is saved with the run, and
the choice depends only on it, the model and the device type).
"""

from __future__ import annotations

import torch

__all__ = ["CPU_CHANNELS_LAST", "use_channels_last"]

# Models whose CPU training step ran faster in channels_last (ratio of images/s,
# NHWC / NCHW, median of interleaved rounds; benchmarks/RESULTS.md, "channels_last on the CPU").
CPU_CHANNELS_LAST: dict[str, float] = {
    "efficientnet_b0": 1.24, "mobilenet_v2": 1.21, "densenet121": 1.19, "resnet20": 1.43, "lenet5": 1.31,
}  # fmt: skip


def use_channels_last(setting: bool | None, model: str, device: torch.device) -> bool:
    """Whether a run of ``model`` on ``device`` trains in channels_last (``setting``: the run's ``channels_last``)."""
    if setting is not None:
        return setting
    return device.type == "cpu" and model in CPU_CHANNELS_LAST
