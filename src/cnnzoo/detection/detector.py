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
image) are attributes of the detector, set with :meth:`Detector.set_postprocess`
(``cnnzoo predict --score-threshold --nms-iou --max-detections``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from torch import Tensor, nn

from cnnzoo.models.interface import ClassifierInterface

__all__ = ["Detector", "DetectorOutput", "Target"]

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


class Detector(ClassifierInterface, nn.Module):
    """Base of the registered detectors: the model interface plus the post-processing settings.

    Subclasses set the class attributes to their paper's values and implement
    ``forward_features`` (the backbone's feature maps) and ``forward_head``
    (features → :class:`DetectorOutput`); ``forward`` is their composition.
    """

    score_threshold: float = 0.01
    nms_threshold: float = 0.45
    max_detections: int = 200

    def forward(self, x: Tensor) -> DetectorOutput:  # type: ignore[override]
        return self.forward_head(self.forward_features(x))

    def set_postprocess(
        self, *, score_threshold: float | None = None, nms_threshold: float | None = None, max_detections: int | None = None
    ) -> None:
        """Change how detections are kept; ``None`` leaves a setting as it is."""
        if score_threshold is not None:
            if not 0.0 <= score_threshold < 1.0:
                raise ValueError(f"score_threshold must be in [0, 1); got {score_threshold}")
            self.score_threshold = float(score_threshold)
        if nms_threshold is not None:
            if not 0.0 < nms_threshold <= 1.0:
                raise ValueError(f"nms_threshold (an IoU) must be in (0, 1]; got {nms_threshold}")
            self.nms_threshold = float(nms_threshold)
        if max_detections is not None:
            if max_detections < 1:
                raise ValueError(f"max_detections must be a positive integer; got {max_detections}")
            self.max_detections = int(max_detections)
