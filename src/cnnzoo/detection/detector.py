"""What every cnnzoo detector is and returns: the contract between the models, the training spine and ``predict``.

A detector's ``forward(images)`` returns a :class:`DetectorOutput`. Its loss
needs the targets and the detector's own matching (SSD's default boxes and hard
negative mining, Liu et al. 2016, arXiv:1512.02325, §2.2; Faster R-CNN's anchor
sampling and RoI sampling, Ren et al. 2015, arXiv:1506.01497, §3.1.3, §3.2), so
the output computes it on request, ``output.loss(targets)``; its detections
need decoding and non-maximum suppression, so they too are computed on request,
``output.detections()``. Training calls only the first, evaluation both, and
analysis (which runs on meta tensors, where NMS cannot run) neither:
``output.predictions()`` are the raw tensors the network computed.

Boxes are ``(x1, y1, x2, y2)`` in pixels of the input image the detector was
given; labels are ``0 … num_classes − 1`` (the background class a detector
adds internally never appears outside it). Targets are one dict per image,
``{"boxes": (N, 4), "labels": (N,)}``, as :mod:`cnnzoo.data.digits_det` and the
VOC and COCO readers give them.

The post-processing settings (score threshold, NMS IoU, detections kept per
image) are attributes of the detector, set with
:meth:`cnnzoo.models.detector.Detector.set_postprocess`
(``cnnzoo predict --score-threshold --nms-iou --max-detections``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from torch import Tensor

__all__ = ["DetectorOutput", "Target"]

Target = dict[str, Tensor]


class DetectorOutput(ABC):
    """A detector's forward result: raw predictions, with the loss and the detections computed on request."""

    @abstractmethod
    def loss(self, targets: Sequence[Target]) -> Tensor:
        """The detector's training loss against one ``{"boxes", "labels"}`` target per image (a scalar)."""

    @abstractmethod
    def detections(self) -> list[Target]:
        """One ``{"boxes" (K, 4), "scores" (K,), "labels" (K,)}`` per image, after decoding and NMS."""

    @abstractmethod
    def predictions(self) -> list[Tensor]:
        """The raw tensors of the forward pass, batch first, class scores first (shapes, gradients, analysis)."""

    def losses(self, targets: Sequence[Target]) -> dict[str, Tensor]:
        """The named parts of :meth:`loss` (classification, localisation, …), for logs; by default just the total."""
        return {"loss": self.loss(targets)}
