"""Detection primitives: boxes, anchors, box coding, NMS, RoI pooling, SPP; metrics and dimension clusters.

Signatures follow torchvision's (``box_iou``, ``nms``, ``batched_nms``,
``roi_pool``, ``roi_align``), so code moves both ways; boxes are
``(x1, y1, x2, y2)``.

    >>> from cnnzoo.detection import box_iou, nms
"""

from cnnzoo.detection.anchors import (
    ANCHOR_STDS,
    anchor_shapes,
    assign_anchor_to_bbox,
    grid_anchors,
    multibox_detection,
    multibox_prior,
    multibox_target,
)
from cnnzoo.detection.box_coder import decode_boxes, encode_boxes
from cnnzoo.detection.boxes import (
    box_area,
    box_center_to_corner,
    box_convert,
    box_corner_to_center,
    box_iou,
    check_boxes,
    clip_boxes_to_image,
    generalized_box_iou,
    upcast_boxes,
)
from cnnzoo.detection.detector import DetectorOutput
from cnnzoo.detection.kmeans import (
    anchor_iou_table,
    boxes_of,
    format_iou_table,
    kmeans_anchors,
    plot_iou_table,
)
from cnnzoo.detection.metrics import coco_evaluate, voc_ap, voc_evaluate
from cnnzoo.detection.multibox_loss import (
    hard_negative_mask,
    match_default_boxes,
    multibox_loss,
    multibox_targets,
)
from cnnzoo.detection.nms import batched_nms, nms, nms_reference, soft_nms, soft_nms_reference
from cnnzoo.detection.roi import RoIAlign, RoIPool, roi_align, roi_pool
from cnnzoo.detection.roi_heads import RoIHeads, sample_rois
from cnnzoo.detection.rpn import (
    RegionProposalNetwork,
    RPNHead,
    label_anchors,
    propose,
    rpn_loss,
    sample_anchors,
)
from cnnzoo.detection.spp import SpatialPyramidPooling, spatial_pyramid_pool
from cnnzoo.detection.ssd_output import SSDOutput, ssd_detections

__all__ = [
    "ANCHOR_STDS",
    "DetectorOutput",
    "RPNHead",
    "RegionProposalNetwork",
    "RoIAlign",
    "RoIHeads",
    "RoIPool",
    "SSDOutput",
    "SpatialPyramidPooling",
    "anchor_shapes",
    "assign_anchor_to_bbox",
    "batched_nms",
    "box_area",
    "box_center_to_corner",
    "box_convert",
    "box_corner_to_center",
    "anchor_iou_table",
    "box_iou",
    "boxes_of",
    "check_boxes",
    "clip_boxes_to_image",
    "coco_evaluate",
    "decode_boxes",
    "encode_boxes",
    "format_iou_table",
    "generalized_box_iou",
    "grid_anchors",
    "hard_negative_mask",
    "kmeans_anchors",
    "label_anchors",
    "match_default_boxes",
    "multibox_detection",
    "multibox_loss",
    "multibox_prior",
    "multibox_target",
    "multibox_targets",
    "nms",
    "nms_reference",
    "plot_iou_table",
    "propose",
    "roi_align",
    "roi_pool",
    "rpn_loss",
    "sample_anchors",
    "sample_rois",
    "soft_nms",
    "soft_nms_reference",
    "spatial_pyramid_pool",
    "ssd_detections",
    "upcast_boxes",
    "voc_ap",
    "voc_evaluate",
]
