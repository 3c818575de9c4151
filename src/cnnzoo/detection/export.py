"""A detector's raw tensors as a plain ``forward``, for ``torch.jit.trace`` and ONNX-style export.

A detector's ``forward`` returns a :class:`~cnnzoo.detection.detector.DetectorOutput`
(a dataclass with the loss and the detections as methods), which
``torch.jit.trace`` cannot return. :class:`SSDRawOutputs` wraps an SSD and
returns the three tensors that post-processing needs, ``(class_logits,
box_offsets, default_boxes)``; the detections are then
:func:`~cnnzoo.detection.ssd_output.ssd_detections` of those tensors, whose
ops (box decoding, clipping, batched NMS) script on their own (see
docs/detection.md). Training and evaluation still use the detector itself.

The default boxes depend only on the input size, so a trace records them
as a constant for the size it was traced at: trace at the deployed size.
"""

from __future__ import annotations

from torch import Tensor, nn

from cnnzoo.detection.ssd_output import SSDOutput

__all__ = ["SSDRawOutputs"]


class SSDRawOutputs(nn.Module):
    """``forward(x) -> (class_logits (N, A, 1 + C), box_offsets (N, A, 4), default_boxes (A, 4))``.

    ``detector`` is an SSD (``cnnzoo.create("tiny_ssd")``, ``"ssd300_vgg16"``);
    its parameters are shared, not copied.

        >>> import torch, cnnzoo
        >>> ssd = cnnzoo.create("tiny_ssd").eval()
        >>> traced = torch.jit.trace(SSDRawOutputs(ssd), torch.rand(1, 3, 256, 256))
    """

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out = self.detector(x)
        if not isinstance(out, SSDOutput):
            raise ValueError(f"detector must return an SSDOutput (an SSD model); got {type(out).__name__}")
        return out.cls_logits, out.box_deltas, out.default_boxes
