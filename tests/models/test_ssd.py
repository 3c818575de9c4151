"""SSD300 (Liu et al. 2016, arXiv:1512.02325, Fig. 2, §2.2, §3) and d2l's TinySSD (d2l.ai §14.7).

Counts come from the papers' layer descriptions, written out here, and from
torchvision's published parameter count of its SSD300-VGG16 (35,641,826 for
91 classes with background), which has the same layers.
"""

from __future__ import annotations

import math

import pytest
import torch

import cnnzoo
from cnnzoo.data.digits_det import digit_banks, make_detection_canvases
from cnnzoo.detection import DetectorOutput


def _conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout


def _num_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- SSD300

VGG16_CONVS = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
               (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]  # fmt: skip
# Fig. 2 and the released model: fc6 3×3 (dilation 6) and fc7 1×1 of 1024 maps, then conv8_1 … conv11_2.
SSD_EXTRAS = [(1, 512, 1024, 3), (1, 1024, 1024, 1), (1024, 256, 1), (256, 512, 3), (512, 128, 1), (128, 256, 3),
              (256, 128, 1), (128, 256, 3), (256, 128, 1), (128, 256, 3)]  # fmt: skip
SSD_SOURCES = [(512, 4), (1024, 6), (512, 6), (256, 6), (256, 4), (256, 4)]  # (maps, default boxes per cell)


def _ssd300_params(num_classes: int) -> int:
    vgg = sum(_conv(i, o, 3) for i, o in VGG16_CONVS)
    fc = _conv(512, 1024, 3) + _conv(1024, 1024, 1)
    extras = sum(_conv(i, o, k) for i, o, k in SSD_EXTRAS[2:])
    l2norm = 512  # one scale per conv4_3 channel
    heads = sum(_conv(c, a * (num_classes + 1), 3) + _conv(c, a * 4, 3) for c, a in SSD_SOURCES)
    return vgg + fc + extras + l2norm + heads


def test_layer_table_gives_torchvisions_count():
    assert _ssd300_params(90) == 35_641_826  # torchvision's SSD300_VGG16_Weights meta: 91 classes with background


@pytest.mark.parametrize("num_classes", [20, 90])
def test_ssd300_parameters(num_classes):
    with torch.device("meta"):
        model = cnnzoo.create("ssd300_vgg16", num_classes=num_classes)
    assert _num_params(model) == _ssd300_params(num_classes)


def test_ssd300_maps_and_8732_default_boxes():
    with torch.device("meta"):
        model = cnnzoo.create("ssd300_vgg16").eval()
        x = torch.empty(1, 3, 300, 300)
        features = model.forward_features(x)
        out = model.forward_head(features)
    assert [tuple(f.shape[1:]) for f in features.maps] == [(c, s, s) for (c, _), s in zip(SSD_SOURCES, [38, 19, 10, 5, 3, 1])]
    assert 38 * 38 * 4 + 19 * 19 * 6 + 10 * 10 * 6 + 5 * 5 * 6 + 3 * 3 * 4 + 4 == 8732
    assert [tuple(p.shape) for p in out.predictions()] == [(1, 8732, 21), (1, 8732, 4)]
    assert tuple(out.default_boxes.shape) == (8732, 4)


def _wh(boxes: torch.Tensor) -> list[float]:
    """Widths and heights, flattened: ``[w0, h0, w1, h1, …]``."""
    return torch.stack((boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]), dim=1).reshape(-1).tolist()


def test_ssd300_default_box_scales_and_ratios():
    model = cnnzoo.create("ssd300_vgg16")
    with torch.no_grad():
        boxes = model(torch.zeros(1, 3, 300, 300)).default_boxes
    r2, r3 = math.sqrt(2), math.sqrt(3)
    s = [0.1, 0.2, 0.375, 0.55, 0.725, 0.9, 1.075]  # 0.1 on conv4_3 (§3); eq. 4 with s_min 0.2, s_max 0.9, m = 5
    conv4_3 = [30, 30, *(300 * math.sqrt(s[0] * s[1]),) * 2, 30 * r2, 30 / r2, 30 / r2, 30 * r2]
    assert _wh(boxes[:4]) == pytest.approx(conv4_3, abs=1e-3)
    assert boxes[0].tolist() == pytest.approx([150 / 38 - 15, 150 / 38 - 15, 150 / 38 + 15, 150 / 38 + 15], abs=1e-3)
    fc7 = [60, 60, *(300 * math.sqrt(s[1] * s[2]),) * 2, 60 * r2, 60 / r2, 60 / r2, 60 * r2, 60 * r3, 60 / r3, 60 / r3, 60 * r3]
    start = 38 * 38 * 4
    assert _wh(boxes[start : start + 6]) == pytest.approx(fc7, abs=1e-3)
    assert _wh(boxes[-3:-2]) == pytest.approx([300 * math.sqrt(s[5] * s[6])] * 2, abs=1e-3)


def test_conv4_3_l2_norm_starts_at_scale_20():
    model = cnnzoo.create("ssd300_vgg16")
    assert torch.equal(model.l2norm.weight, torch.full((512,), 20.0))
    y = model.l2norm(torch.rand(2, 512, 3, 3) + 0.1)
    torch.testing.assert_close(y.norm(dim=1), torch.full((2, 3, 3), 20.0))


def test_ssd300_smallest_input():
    with torch.device("meta"):
        model = cnnzoo.create("ssd300_vgg16").eval()
        assert model.forward_features(torch.empty(1, 3, 268, 268)).maps[-1].shape[-1] == 1
        with pytest.raises(ValueError, match="ssd300_vgg16 needs inputs of at least 268×268 pixels; got 267×300"):
            model(torch.empty(1, 3, 267, 300))


# ---------------------------------------------------------------- TinySSD


def _tiny_ssd_params(in_chans: int, num_classes: int) -> int:
    # d2l: down_sample_blk = 2 × (3×3 conv, BN, ReLU) + max pool; base 16, 32, 64; then 128 ×3; heads 3×3.
    def blk(cin: int, cout: int) -> int:
        return _conv(cin, cout, 3) + _conv(cout, cout, 3) + 4 * cout

    body = blk(in_chans, 16) + blk(16, 32) + blk(32, 64) + blk(64, 128) + 2 * blk(128, 128)
    heads = sum(_conv(c, 4 * (num_classes + 1), 3) + _conv(c, 16, 3) for c in [64, 128, 128, 128, 128])
    return body + heads


def test_tiny_ssd_parameters():
    assert _num_params(cnnzoo.create("tiny_ssd", num_classes=1)) == _tiny_ssd_params(3, 1)
    assert _num_params(cnnzoo.create("tiny_ssd", num_classes=10, in_chans=1)) == _tiny_ssd_params(1, 10)


def test_tiny_ssd_5444_anchors_at_256_as_d2l():
    with torch.device("meta"):
        model = cnnzoo.create("tiny_ssd", num_classes=1).eval()
        out = model(torch.empty(32, 3, 256, 256))
    # d2l §14.7.2: "output anchors: torch.Size([1, 5444, 4]) … class preds: torch.Size([32, 5444, 2])"
    assert [tuple(p.shape) for p in out.predictions()] == [(32, 5444, 2), (32, 5444, 4)]
    model = cnnzoo.create("tiny_ssd", num_classes=1).eval()
    with torch.no_grad():
        boxes = model(torch.zeros(1, 3, 256, 256)).default_boxes
    # The first anchor: centre (0.5/32, 0.5/32) of the 32×32 map, size 0.2, ratio 1, in pixels.
    c = 0.5 / 32
    assert boxes[0].tolist() == pytest.approx([(c - 0.1) * 256, (c - 0.1) * 256, (c + 0.1) * 256, (c + 0.1) * 256], abs=1e-4)


def test_tiny_ssd_any_size_and_boxes_in_input_pixels():
    torch.manual_seed(0)
    model = cnnzoo.create("tiny_ssd", num_classes=3, in_chans=1).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, 64, 128))
    assert isinstance(out, DetectorOutput)
    assert out.cls_logits.shape == (2, (8 * 16 + 4 * 8 + 2 * 4 + 1 * 2 + 1) * 4, 4)
    model.set_postprocess(max_detections=5)
    with torch.no_grad():
        dets = model(torch.rand(2, 1, 64, 128)).detections()
    for d in dets:
        assert len(d["boxes"]) == 5 and d["labels"].max() < 3
        assert d["boxes"][:, 0::2].min() >= 0 and d["boxes"][:, 0::2].max() <= 128
        assert d["boxes"][:, 1::2].min() >= 0 and d["boxes"][:, 1::2].max() <= 64
    with pytest.raises(ValueError, match="tiny_ssd needs inputs of at least 64×64 pixels; got 63×128"):
        model(torch.rand(1, 1, 63, 128))


def test_reset_classifier_replaces_only_the_class_predictors():
    model = cnnzoo.create("tiny_ssd", num_classes=2)
    box = model.box_heads[0].weight
    model.reset_classifier(5)
    assert [h.out_channels for h in model.cls_heads] == [4 * 6] * 5
    assert model.box_heads[0].weight is box
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 64, 64)).cls_logits.shape[-1] == 6


def test_tiny_ssd_anchor_sizes_option():
    sizes = [[0.1, 0.14], [0.2, 0.27], [0.37, 0.45], [0.54, 0.62], [0.71, 0.79]]
    model = cnnzoo.create("tiny_ssd", num_classes=1, anchor_sizes=sizes).eval()
    with torch.no_grad():
        boxes = model(torch.zeros(1, 3, 96, 96)).default_boxes
    assert float(boxes[0, 2] - boxes[0, 0]) == pytest.approx(0.1 * 96, abs=1e-4)
    with pytest.raises(ValueError, match="sizes and ratios for each of 5 feature maps"):
        cnnzoo.create("tiny_ssd", anchor_sizes=sizes[:4])


def test_tiny_ssd_learns_digits_det():
    # A few steps on a handful of digit canvases: SSD's loss must fall well below where it starts.
    train_bank, _ = digit_banks([20])
    images, targets = make_detection_canvases(train_bank, 8, canvas=64, max_digits=2, seed=0)
    torch.manual_seed(0)
    model = cnnzoo.create("tiny_ssd", num_classes=10, in_chans=1, width_mult=0.25).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        loss = model(images).loss(targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5, losses
