"""Faster R-CNN: a Region Proposal Network and a Fast R-CNN head on one shared feature map.

S. Ren, K. He, R. Girshick, J. Sun, "Faster R-CNN: Towards Real-Time Object
Detection with Region Proposal Networks", NIPS 2015, arXiv:1506.01497. The RPN
is :mod:`cnnzoo.detection.rpn` (§3.1), the detection head
:mod:`cnnzoo.detection.roi_heads` (Fast R-CNN, Girshick 2015, arXiv:1504.08083).

Configurations:

* ``faster_rcnn_vgg16`` — the paper's VGG-16 network (§4.1, table 3): the 13
  convolutions up to conv5_3 are shared (stride 16, 512 maps); the RPN's 3×3
  layer has 512 maps, ``k = 9`` anchors (128², 256², 512² × 1:1, 1:2, 2:1); the
  head is RoI pooling 7×7, fc6 and fc7 (4,096 each, dropout 0.5), ``K + 1``
  scores and ``4K`` offsets. Its input size is 600 × 1,000: the paper rescales
  images so that their shorter side is 600 pixels (§3.3), and "a typical
  1000 × 600 image" has "roughly 20000 (≈ 60 × 40 × 9) anchors" (§3.1.3).
* ``faster_rcnn_resnet50`` — the ResNet form of He et al. 2016
  (arXiv:1512.03385, appendix A): conv1 … conv4_x shared (stride 16, 1,024
  maps), RoI pooling to 14×14, then conv5_x (its first unit strides 2, to 7×7)
  and global average pooling play the role of fc6 and fc7. He et al. used
  ResNet-101; ResNet-50 is the same design at half the depth, and cheap enough
  for the test suite. The RPN's 3×3 layer keeps the 1,024 maps of its input
  (Detectron's choice; the paper does not say).
* ``faster_rcnn_tiny`` — **not from the paper**: a CPU-sized configuration for
  96×96 one-channel images (``--data digits-det``): four 3×3 convolutions with
  BatchNorm to stride 8, 12 anchors per position (12–48 px), RoI align 7×7 (one
  sample per bin) and two 256-wide fully connected layers, sampling 32 RoIs per image with
  background from IoU ``[0, 0.5)`` (Detectron's bound: a 96×96 image has too
  few proposals in ``[0.1, 0.5)``).

Training is the paper's *approximate joint training* (§3.2): one forward pass
gives the RPN's outputs, the proposals are treated as fixed boxes, and the RPN
and head losses are summed, so one backward pass trains the shared
convolutions for both. The paper's 4-step alternating training (§3.2) is
:func:`four_step_training`. The lazy split of the :class:`~cnnzoo.models.detector.Detector`
contract: ``forward`` runs the backbone and the RPN's layers only (static
shapes, so analysis on meta tensors sees them); ``output.loss(targets)`` adds
the RPN loss, the proposals, the RoI sampling, the head and its loss;
``output.detections()`` the proposals, the head and per-class NMS. The head's
layers (fc6, fc7, conv5_x) therefore do not appear in an analysis of ``forward``.

Departures: no ImageNet initialisation (nothing downloads; the backbones start
from their builders' initialisations, the new layers from the paper's
N(0, 0.01)); images are not rescaled inside the model (boxes come back in the
pixels of the image given); BatchNorm in the ResNet trains on batch statistics
(Detectron freezes it to the ImageNet statistics).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn

from cnnzoo.detection.detector import DetectorOutput, Target
from cnnzoo.detection.roi_heads import RoIHeads
from cnnzoo.detection.rpn import RegionProposalNetwork
from cnnzoo.layers.input_check import check_input_size
from cnnzoo.models.detector import Detector
from cnnzoo.models.resnet import ResNet
from cnnzoo.models.vgg import vgg_features
from cnnzoo.registry import register_model

__all__ = [
    "FasterRCNN",
    "FasterRCNNOutput",
    "faster_rcnn_resnet50",
    "faster_rcnn_tiny",
    "faster_rcnn_vgg16",
    "four_step_training",
]


class FasterRCNNOutput(DetectorOutput):
    """The backbone's features and the RPN's outputs; the rest of the network runs on request."""

    def __init__(
        self,
        model: FasterRCNN,
        features: Tensor,
        objectness: Tensor,
        deltas: Tensor,
        image_size: tuple[int, int],
    ) -> None:
        self.model, self.features, self.image_size = model, features, image_size
        self.objectness, self.deltas = objectness, deltas  # N x (H·W·k) x 2, N x (H·W·k) x 4
        self._anchors: Tensor | None = None
        self._proposals: dict[bool, list[Tensor]] = {}

    def anchors(self) -> Tensor:
        if self._anchors is None:
            self._anchors = self.model.rpn.anchors(
                tuple(self.features.shape[-2:]), self.features.device
            )
        return self._anchors

    def proposals(self) -> list[Tensor]:
        """The RPN's proposals per image (training or testing counts, by the model's mode)."""
        rpn = self.model.rpn
        if rpn.training not in self._proposals:
            self._proposals[rpn.training] = rpn.proposals(
                self.objectness, self.deltas, self.anchors(), self.image_size
            )
        return self._proposals[rpn.training]

    def losses(self, targets: Sequence[Target]) -> dict[str, Tensor]:
        if len(targets) != self.features.shape[0]:
            raise ValueError(
                f"targets: need one per image; got {len(targets)} for a batch of {self.features.shape[0]}"
            )
        rpn_cls, rpn_box = self.model.rpn.loss(
            self.objectness, self.deltas, self.anchors(), targets, self.image_size
        )
        roi_cls, roi_box = self.model.roi_heads.loss(self.features, self.proposals(), targets)
        return {"rpn_cls": rpn_cls, "rpn_box": rpn_box, "roi_cls": roi_cls, "roi_box": roi_box}

    def loss(self, targets: Sequence[Target]) -> Tensor:
        return torch.stack(list(self.losses(targets).values())).sum()

    def detections(self) -> list[Target]:
        m = self.model
        return m.roi_heads.detect(self.features, self.proposals(), self.image_size,
                                  m.score_threshold, m.nms_threshold, m.max_detections)  # fmt: skip

    def predictions(self) -> list[Tensor]:
        return [self.objectness, self.deltas]


class FasterRCNN(Detector):
    """Backbone, RPN and Fast R-CNN head: ``(N, in_chans, H, W) -> FasterRCNNOutput``.

    Args:
        backbone: the shared convolutions, ``(N, in_chans, H, W) -> (N, C, H/s, W/s)``.
        rpn: :class:`~cnnzoo.detection.rpn.RegionProposalNetwork` on ``C`` maps, stride ``s``.
        roi_heads: :class:`~cnnzoo.detection.roi_heads.RoIHeads`.
        in_chans, min_size, name: input channels, smallest side, name for errors.

    Test-time settings (Fast R-CNN §3, values of the released code): score threshold
    0.05, per-class NMS at IoU 0.3, 100 detections per image.
    """

    score_threshold = 0.05
    nms_threshold = 0.3
    max_detections = 100
    classifier_names = ("roi_heads.cls_score", "roi_heads.bbox_pred")

    def __init__(self, backbone: nn.Module, rpn: RegionProposalNetwork, roi_heads: RoIHeads, *,
                 in_chans: int, min_size: int, name: str) -> None:  # fmt: skip
        super().__init__()
        self.backbone, self.rpn, self.roi_heads = backbone, rpn, roi_heads
        self.in_chans, self.min_size, self.name = in_chans, min_size, name
        self.num_classes = roi_heads.num_classes

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, C, H/s, W/s)``: the shared convolutions."""
        check_input_size(x, self.min_size, self.name, self.in_chans)
        return self.backbone(x)

    def forward_head(
        self, features: Tensor, image_size: tuple[int, int] | None = None
    ) -> FasterRCNNOutput:
        """The RPN's layers on ``features``; ``image_size`` defaults to the feature map × stride."""
        if image_size is None:
            image_size = (
                features.shape[-2] * self.rpn.stride,
                features.shape[-1] * self.rpn.stride,
            )
        objectness, deltas = self.rpn(features)
        return FasterRCNNOutput(self, features, objectness, deltas, image_size)

    def forward(self, x: Tensor) -> FasterRCNNOutput:  # type: ignore[override]
        return self.forward_head(self.forward_features(x), (int(x.shape[-2]), int(x.shape[-1])))

    def reset_classifier(self, num_classes: int) -> None:
        """New ``K + 1`` scores and ``4K`` offsets for ``num_classes = K`` object classes."""
        if num_classes <= 0:
            raise ValueError(f"num_classes must be a positive integer; got {num_classes}")
        h = self.roi_heads
        fresh = RoIHeads(nn.Identity(), h.cls_score.in_features, num_classes)
        h.cls_score, h.bbox_pred = (
            fresh.cls_score.to(h.cls_score.weight.device),
            fresh.bbox_pred.to(h.bbox_pred.weight.device),
        )
        h.num_classes = self.num_classes = num_classes


# ---------------------------------------------------------------------------
# builders

_PAPER = "Ren et al. 2015, arXiv:1506.01497"
_NO_COUNT = "the paper prints no parameter count; tests check the RPN's output layers (§3.1.1) and the head against VGG-16's table"
_DETECTOR = dict(family="Faster R-CNN", paper=_PAPER, year=2015, task="detection")


def _vgg16_box_head() -> nn.Sequential:
    # fc6 and fc7 of VGG-16 (Simonyan & Zisserman 2015, table 1), on the 7×7 RoI grid.
    head = nn.Sequential(nn.Flatten(1))
    for name, (i, o) in (("fc6", (512 * 7 * 7, 4096)), ("fc7", (4096, 4096))):
        fc = nn.utils.skip_init(
            nn.Linear, i, o, device=torch.empty(0).device
        )  # initialised just below
        nn.init.xavier_uniform_(fc.weight)  # as cnnzoo.models.vgg initialises VGG
        nn.init.zeros_(fc.bias)
        head.add_module(name, fc)
        head.add_module(f"relu{name[2:]}", nn.ReLU(inplace=True))
        head.add_module(f"drop{name[2:]}", nn.Dropout(0.5))
    return head


@register_model(
    **_DETECTOR,
    input_size=(3, 600, 1000),
    min_size=32,
    test_size=(3, 160, 160),
    no_reference=_NO_COUNT,
)
def faster_rcnn_vgg16(
    *, num_classes: int = 20, in_chans: int = 3, roi_op: str = "pool"
) -> FasterRCNN:
    """Faster R-CNN with VGG-16 (§4.1); 20 classes, as PASCAL VOC."""
    features = vgg_features("vgg16", in_chans=in_chans)[:-1]  # up to relu5_3: N x 512 x H/16 x W/16
    rpn = RegionProposalNetwork(512, 512, stride=16)
    heads = RoIHeads(
        _vgg16_box_head(), 4096, num_classes, pool_size=7, spatial_scale=1 / 16, roi_op=roi_op
    )
    return FasterRCNN(
        features, rpn, heads, in_chans=in_chans, min_size=32, name="faster_rcnn_vgg16"
    )


@register_model(
    **_DETECTOR,
    input_size=(3, 600, 1000),
    min_size=32,
    test_size=(3, 160, 160),
    no_reference=_NO_COUNT,
)
def faster_rcnn_resnet50(
    *, num_classes: int = 20, in_chans: int = 3, roi_op: str = "pool"
) -> FasterRCNN:
    """Faster R-CNN on ResNet-50, conv5_x as the head (He et al. 2016, appendix A)."""
    net = ResNet([3, 4, 6, 3], block="bottleneck", in_chans=in_chans, name="faster_rcnn_resnet50")
    shared = nn.Sequential()
    for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3"):
        shared.add_module(name, getattr(net, name))  # N x 1024 x H/16 x W/16
    head = nn.Sequential()
    head.add_module("layer4", net.layer4)  # 14×14 RoI -> N x 2048 x 7 x 7
    head.add_module("avgpool", nn.AdaptiveAvgPool2d(1))
    head.add_module("flatten", nn.Flatten(1))
    rpn = RegionProposalNetwork(1024, 1024, stride=16)
    heads = RoIHeads(head, 2048, num_classes, pool_size=14, spatial_scale=1 / 16, roi_op=roi_op)
    return FasterRCNN(
        shared, rpn, heads, in_chans=in_chans, min_size=32, name="faster_rcnn_resnet50"
    )


TINY_SIZES = (12.0, 20.0, 32.0, 48.0)  # digits-det boxes: sqrt(area) 10–40 px (5th–95th percentile)


def _conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


@register_model(**_DETECTOR, input_size=(1, 96, 96), min_size=16, test_size=(1, 96, 96),
                no_reference="a CPU-sized configuration for digits-det, not from the paper")  # fmt: skip
def faster_rcnn_tiny(
    *, num_classes: int = 10, in_chans: int = 1, width: int = 16, roi_op: str = "align"
) -> FasterRCNN:
    """A CPU-sized Faster R-CNN for 96×96 digits (not from the paper): stride 8, ``width``-wide first layer."""
    if width < 1:
        raise ValueError(f"width must be a positive integer; got {width}")
    w1, w2, w3 = width, 2 * width, 4 * width
    backbone = nn.Sequential(
        nn.Conv2d(in_chans, w1, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(w1),
        nn.ReLU(inplace=True),
        *_conv_bn(w1, w2),
        nn.MaxPool2d(2),
        *_conv_bn(w2, w3),
        *_conv_bn(w3, w3),
        nn.MaxPool2d(2),
    )  # N x 4w x H/8 x W/8
    rpn = RegionProposalNetwork(w3, w3, stride=8, sizes=TINY_SIZES, pre_nms_top_n=(300, 300),
                                post_nms_top_n=(100, 50), min_size=4.0)  # fmt: skip
    box_head = nn.Sequential(
        nn.Flatten(1),
        nn.Linear(w3 * 49, 256),
        nn.ReLU(inplace=True),
        nn.Linear(256, 256),
        nn.ReLU(inplace=True),
    )
    heads = RoIHeads(box_head, 256, num_classes, pool_size=7, spatial_scale=1 / 8, roi_op=roi_op, sampling_ratio=1,
                     batch_size=32, bg_iou_low=0.0)  # fmt: skip
    return FasterRCNN(backbone, rpn, heads, in_chans=in_chans, min_size=16, name="faster_rcnn_tiny")


# ---------------------------------------------------------------------------
# 4-step alternating training (§3.2)

Batches = Callable[[], Iterable[tuple[Tensor, Sequence[Target]]]]
MakeOptimizer = Callable[[list[nn.Parameter]], torch.optim.Optimizer]


def _rpn_loss(
    net: FasterRCNN, x: Tensor, targets: Sequence[Target], rpn_source: FasterRCNN | None
) -> Tensor:
    out = net(x)
    return sum(net.rpn.loss(out.objectness, out.deltas, out.anchors(), targets, out.image_size))  # type: ignore[return-value]


def _head_loss(
    net: FasterRCNN, x: Tensor, targets: Sequence[Target], rpn_source: FasterRCNN | None
) -> Tensor:
    out = net(x)
    if rpn_source is None:
        proposals = out.proposals()
    else:  # another network's RPN proposes (step 2): its shared layers are not this one's
        with torch.no_grad():
            proposals = rpn_source(x).proposals()
    return sum(net.roi_heads.loss(out.features, proposals, targets))  # type: ignore[return-value]


def _train_stage(net: FasterRCNN, trained: list[nn.Module], loss_fn: Callable[..., Tensor], batches: Batches,
                 make_optimizer: MakeOptimizer, steps: int, rpn_source: FasterRCNN | None = None) -> None:  # fmt: skip
    params = [p for m in trained for p in m.parameters()]
    for p in net.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    net.eval()  # fixed layers keep their BatchNorm statistics
    net.rpn.train()  # the RPN has no such layers; its mode picks the training proposal counts
    for m in trained:
        m.train()
    optimizer = make_optimizer(params)
    step = 0
    while step < steps:
        for x, targets in batches():
            loss = loss_fn(net, x, targets, rpn_source)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step == steps:
                break
    for p in net.parameters():
        p.requires_grad_(True)


def four_step_training(
    model: FasterRCNN, batches: Batches, make_optimizer: MakeOptimizer, steps_per_stage: int
) -> FasterRCNN:
    """The paper's 4-step alternating training (§3.2), in place on ``model``; returns it.

    1. Train an RPN: a copy of ``model``'s shared layers and its RPN, on the RPN loss.
    2. Train a detector — ``model``'s own shared layers and head, not shared with
       step 1 — on the head loss, with the proposals of step 1's RPN.
    3. Give ``model`` step 1's RPN layers, fix the shared layers (now the
       detector's), and fine-tune only the RPN's layers.
    4. With the shared layers still fixed, fine-tune only the head, on the
       proposals of ``model``'s own RPN. Both now share the convolutions.

    Args:
        batches: returns an iterable of ``(images, targets)`` batches (one pass; called again as needed).
        make_optimizer: builds each stage's optimizer for the parameters that stage trains.
        steps_per_stage: optimizer steps in each of the four stages.
    """
    if steps_per_stage < 1:
        raise ValueError(f"steps_per_stage must be a positive integer; got {steps_per_stage}")
    rpn_net = copy.deepcopy(model)
    _train_stage(
        rpn_net,
        [rpn_net.backbone, rpn_net.rpn],
        _rpn_loss,
        batches,
        make_optimizer,
        steps_per_stage,
    )
    rpn_net.eval()  # step 2 reads its proposals (with the training counts, as its RPN was trained)
    rpn_net.rpn.train()
    _train_stage(
        model,
        [model.backbone, model.roi_heads],
        _head_loss,
        batches,
        make_optimizer,
        steps_per_stage,
        rpn_net,
    )
    model.rpn.load_state_dict(rpn_net.rpn.state_dict())
    _train_stage(model, [model.rpn], _rpn_loss, batches, make_optimizer, steps_per_stage)
    _train_stage(model, [model.roi_heads], _head_loss, batches, make_optimizer, steps_per_stage)
    model.train()
    return model
