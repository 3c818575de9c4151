"""The base class of the registered detectors: the model interface plus the post-processing settings.

What a detector returns is :class:`cnnzoo.detection.detector.DetectorOutput`
(the contract between the models, the training spine and ``predict``); this
class lives in the models package because it is a model, and so that importing
:mod:`cnnzoo.detection` never imports the models.
"""

from __future__ import annotations

from torch import Tensor, nn

from cnnzoo.detection.detector import DetectorOutput
from cnnzoo.models.interface import ClassifierInterface

__all__ = ["Detector"]


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
