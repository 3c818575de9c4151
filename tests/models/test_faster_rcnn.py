"""Faster R-CNN (Ren et al. 2015, arXiv:1506.01497): the VGG-16 and ResNet-50 configurations against the papers, the tiny one end to end."""

from __future__ import annotations

import math

import pytest
import torch

import cnnzoo
from cnnzoo.detection.detector import DetectorOutput

EMPTY = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _conv(k: int, c_in: int, c_out: int, bias: bool = True) -> int:
    return k * k * c_in * c_out + (c_out if bias else 0)


@pytest.fixture(scope="module")
def vgg16() -> torch.nn.Module:
    with torch.device("meta"):
        return cnnzoo.create("faster_rcnn_vgg16")


def test_vgg16_rpn_output_layers_have_the_papers_2_8e4_weights(vgg16):
    # §3.1.1: "512 × (4 + 2) × 9 for VGG-16".
    head = vgg16.rpn.head
    assert (
        head.cls_logits.weight.numel() + head.bbox_pred.weight.numel()
        == 512 * (4 + 2) * 9
        == 27_648
    )
    assert _params(head.conv) == _conv(3, 512, 512)  # the 3×3 sliding window on conv5_3's 512 maps


def test_vgg16_parts_against_the_vgg_layer_table(vgg16):
    # Simonyan & Zisserman 2015, table 1, configuration D: 13 conv3 layers shared, up to conv5_3.
    widths = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    shared = sum(
        _conv(3, c_in, c_out) for c_in, c_out in zip([3, *widths[:-1]], widths, strict=True)
    )
    assert _params(vgg16.backbone) == shared == 14_714_688
    # Fast R-CNN head: RoI pool 7×7 on 512 maps, fc6 and fc7 (4096), K + 1 = 21 scores and 4K = 80 offsets.
    assert _params(vgg16.roi_heads.box_head) == (7 * 7 * 512 * 4096 + 4096) + (4096 * 4096 + 4096)
    assert _params(vgg16.roi_heads.cls_score) == 4096 * 21 + 21
    assert _params(vgg16.roi_heads.bbox_pred) == 4096 * 80 + 80
    assert vgg16.roi_heads.roi.output_size == (7, 7) and vgg16.roi_heads.roi.spatial_scale == 1 / 16


def test_vgg16_on_a_1000x600_image_has_about_20000_anchors(vgg16):
    with torch.device("meta"):
        out = vgg16(torch.empty(1, 3, 600, 1000))
    assert isinstance(out, DetectorOutput)
    assert out.features.shape == (1, 512, 37, 62)  # stride 16
    objectness, deltas = out.predictions()
    assert objectness.shape == (1, 37 * 62 * 9, 2) and deltas.shape == (1, 37 * 62 * 9, 4)
    assert (
        abs(objectness.shape[1] - 20_000) / 20_000 < 0.05
    )  # §3.1.3: "roughly 20000 (≈ 60 × 40 × 9)"


def test_resnet50_shares_conv1_to_conv4_and_uses_conv5_as_the_head():
    with torch.device("meta"):
        m = cnnzoo.create("faster_rcnn_resnet50", num_classes=20)
        out = m(torch.empty(1, 3, 224, 224))
    assert out.features.shape == (
        1,
        1024,
        14,
        14,
    )  # conv4_x: stride 16 (He et al. 2016, appendix A)

    # conv5_x of He et al. 2016, table 1: three [1×1, 512; 3×3, 512; 1×1, 2048] units, a projection
    # shortcut on the first, BatchNorm (scale and shift) after every convolution.
    def unit(c_in: int, projection: bool) -> int:
        convs = _conv(1, c_in, 512, False) + _conv(3, 512, 512, False) + _conv(1, 512, 2048, False)
        bn = 2 * (512 + 512 + 2048)
        return convs + bn + ((_conv(1, c_in, 2048, False) + 2 * 2048) if projection else 0)

    assert _params(m.roi_heads.box_head) == unit(1024, True) + 2 * unit(2048, False)
    assert m.roi_heads.roi.output_size == (14, 14)
    assert (
        _params(m.roi_heads.cls_score) == 2048 * 21 + 21
        and _params(m.roi_heads.bbox_pred) == 2048 * 80 + 80
    )


def _digits(n: int = 2) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    x = torch.zeros(n, 1, 96, 96)
    targets = []
    for i in range(n):
        box = torch.tensor([[10.0 + 20 * i, 12.0, 34.0 + 20 * i, 44.0]])
        x[i, 0, 12:44, 10 + 20 * i : 34 + 20 * i] = 1.0
        targets.append({"boxes": box, "labels": torch.tensor([i % 10])})
    return x, targets


def test_tiny_loss_reaches_every_parameter():
    torch.manual_seed(0)
    m = cnnzoo.create("faster_rcnn_tiny")
    m.train()
    x, targets = _digits()
    losses = m(x).losses(targets)
    assert set(losses) == {"rpn_cls", "rpn_box", "roi_cls", "roi_box"}
    sum(losses.values()).backward()
    missing = [
        n for n, p in m.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
    ]
    assert not missing
    assert all(float(v.detach()) > 0 for v in losses.values())


def test_tiny_loss_is_finite_without_ground_truth():
    torch.manual_seed(0)
    m = cnnzoo.create("faster_rcnn_tiny")
    m.train()
    x, _ = _digits()
    losses = m(x).losses([EMPTY, EMPTY])
    values = {k: float(v.detach()) for k, v in losses.items()}
    assert values["rpn_box"] == 0.0 and values["roi_box"] == 0.0
    assert math.isfinite(values["rpn_cls"]) and math.isfinite(values["roi_cls"])
    sum(losses.values()).backward()


def test_tiny_detections_are_in_input_pixels_of_any_size():
    torch.manual_seed(0)
    m = cnnzoo.create("faster_rcnn_tiny").eval()
    m.set_postprocess(score_threshold=0.0)
    with torch.no_grad():
        (det,) = m(torch.rand(1, 1, 64, 160)).detections()
    assert det["boxes"].shape[0] > 0 and det["boxes"].shape[0] <= m.max_detections
    assert (det["boxes"] >= 0).all()
    assert (det["boxes"][:, 2] <= 160).all() and (det["boxes"][:, 3] <= 64).all()
    assert (
        det["boxes"][:, 2] > 96
    ).any()  # boxes reach the right of the wide image: not clipped to a square
    assert set(det["labels"].tolist()) <= set(range(10))
    assert (det["scores"][:-1] >= det["scores"][1:]).all()


def test_tiny_few_steps_lower_the_loss():
    torch.manual_seed(0)
    m = cnnzoo.create("faster_rcnn_tiny")
    m.train()
    x, targets = _digits(4)
    opt = torch.optim.Adam(m.parameters(), lr=2e-3)
    history = []
    for _ in range(25):
        loss = m(x).loss(targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(float(loss.detach()))
    assert sum(history[-5:]) / 5 < 0.6 * sum(history[:5]) / 5


def test_reset_classifier_gives_k_plus_one_scores_and_4k_offsets():
    with torch.device("meta"):
        m = cnnzoo.create("faster_rcnn_vgg16")
    m.reset_classifier(5)
    assert m.roi_heads.cls_score.out_features == 6 and m.roi_heads.bbox_pred.out_features == 20
    assert m.num_classes == m.roi_heads.num_classes == 5


def test_test_time_settings_of_the_papers():
    m = cnnzoo.create("faster_rcnn_tiny")
    # Fast R-CNN's test-time NMS at 0.3 per class; 100 detections per image, scores above 0.05.
    assert (m.score_threshold, m.nms_threshold, m.max_detections) == (0.05, 0.3, 100)


def test_bad_input_raises_value_errors():
    m = cnnzoo.create("faster_rcnn_tiny")
    with pytest.raises(ValueError, match="at least 16"):
        m(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="input channel"):
        m(torch.zeros(1, 3, 96, 96))
    with pytest.raises(ValueError, match="roi_op"):
        cnnzoo.create("faster_rcnn_tiny", roi_op="warp")
    with pytest.raises(ValueError, match="targets"):
        m(torch.zeros(2, 1, 96, 96)).loss([EMPTY])


def test_four_step_training_trains_the_papers_parts_in_order():
    from cnnzoo.models.faster_rcnn import four_step_training

    torch.manual_seed(0)
    m = cnnzoo.create("faster_rcnn_tiny")
    x, targets = _digits()
    stages: list[set[int]] = []
    snapshots: list[dict[str, torch.Tensor]] = []

    def make_optimizer(params):
        stages.append({id(p) for p in params})
        snapshots.append({k: v.clone() for k, v in m.state_dict().items()})
        return torch.optim.SGD(params, lr=0.01)

    four_step_training(m, lambda: [(x, targets)], make_optimizer, steps_per_stage=1)
    ids = lambda module: {id(p) for p in module.parameters()}  # noqa: E731
    own = ids(m)
    assert not stages[0] & own  # step 1 trains a separate RPN network
    assert stages[1] == ids(m.backbone) | ids(m.roi_heads)
    assert stages[2] == ids(m.rpn)
    assert stages[3] == ids(m.roi_heads)
    final = m.state_dict()
    # Steps 3 and 4 fix the shared layers that step 2 trained, BatchNorm statistics included.
    assert all(torch.equal(final[k], snapshots[2][k]) for k in final if k.startswith("backbone."))
    assert not torch.equal(final["rpn.head.conv.weight"], snapshots[0]["rpn.head.conv.weight"])
    assert all(p.requires_grad for p in m.parameters())
