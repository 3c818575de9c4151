"""SSD's augmentation (arXiv:1512.02325, §2.2, §3.6): boxes move exactly with the pixels."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.data import det_augment
from cnnzoo.data.det_augment import SSDAugment, move_target, photometric_distort, sample_patch
from cnnzoo.detection import box_iou


def _painted(n: int, size: int = 64, seed: int = 0) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """``n`` black images, each with one white rectangle at integer corners, and its box."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, size, size)
    targets = []
    for i in range(n):
        x1, y1 = (int(v) for v in torch.randint(0, size // 2, (2,), generator=g))
        w, h = (int(v) for v in torch.randint(12, size // 2, (2,), generator=g))
        x[i, 0, y1 : y1 + h, x1 : x1 + w] = 1.0
        targets.append({"boxes": torch.tensor([[x1, y1, x1 + w, y1 + h]], dtype=torch.float32), "labels": torch.tensor([i % 10])})
    return x, targets


def _region(image: torch.Tensor) -> torch.Tensor:
    """The box ``(x1, y1, x2, y2)`` around the pixels brighter than half (pixel i covers [i, i + 1))."""
    rows, cols = (image[0] > 0.5).nonzero(as_tuple=True)
    return torch.tensor([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], dtype=torch.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_boxes_move_exactly_with_the_pixels(seed):
    x, targets = _painted(24, seed=seed)
    aug = SSDAugment(distort=False, hflip=True, generator=torch.Generator().manual_seed(seed))
    out, moved = aug.with_boxes(x, targets)
    assert out.shape == x.shape
    for i in range(len(x)):
        assert len(moved[i]["boxes"]) == 1  # the patch keeps an image's only box
        assert torch.equal(moved[i]["labels"], targets[i]["labels"])
        assert (_region(out[i]) - moved[i]["boxes"][0]).abs().max() <= 1.0, (i, _region(out[i]), moved[i]["boxes"][0])


def test_colour_images_with_distortion_keep_their_boxes_aligned():
    x, targets = _painted(8, seed=3)
    x = x.expand(-1, 3, -1, -1) * torch.tensor([0.9, 0.5, 0.2]).view(1, 3, 1, 1)  # an orange rectangle
    out, moved = SSDAugment(hflip=True, generator=torch.Generator().manual_seed(3)).with_boxes(x, targets)
    assert out.min() >= 0 and out.max() <= 1
    for i in range(len(x)):
        inside = out[i, :, moved[i]["boxes"][0, 1].ceil().long() + 1, moved[i]["boxes"][0, 0].ceil().long() + 1]
        assert inside.sum() > 0.3  # a pixel just inside the moved box is still the rectangle, not the black ground


def test_a_box_is_kept_when_its_centre_is_in_the_patch_then_clipped_and_dropped_otherwise():
    target = {
        "boxes": torch.tensor([[10.0, 10, 30, 30], [35, 35, 60, 45], [0, 0, 8, 8]]),
        "labels": torch.tensor([1, 2, 3]),
        "difficult": torch.tensor([False, True, False]),
    }
    patch = torch.tensor([5.0, 5, 45, 45], dtype=torch.float64)  # 40 × 40, resized to 80 × 80: scale 2
    out = move_target(target, target["boxes"].double(), patch, (80, 80), flip=False)
    # box 1: inside → (10-5, 10-5, 30-5, 30-5) × 2; box 2: centre (47.5, 40) is outside x ≤ 45 → dropped;
    # box 3: centre (4, 4) is outside → dropped, although it overlaps the patch
    assert torch.equal(out["labels"], torch.tensor([1])) and torch.equal(out["difficult"], torch.tensor([False]))
    assert torch.allclose(out["boxes"], torch.tensor([[10.0, 10, 50, 50]]))
    clipped = move_target(target, target["boxes"].double(), torch.tensor([20.0, 0, 60, 40], dtype=torch.float64), (40, 40), flip=False)
    # box 1: centre (20, 20) on the edge → kept, clipped to x ≥ 20; box 2: centre (47.5, 40) on the bottom edge → kept, clipped
    assert torch.equal(clipped["labels"], torch.tensor([1, 2]))
    assert torch.allclose(clipped["boxes"], torch.tensor([[0.0, 10, 10, 30], [15, 35, 40, 40]]))


def test_flip_is_an_involution_on_pixels_and_boxes(monkeypatch):
    monkeypatch.setattr(det_augment, "sample_patch", lambda boxes, w, h, g: torch.tensor([0.0, 0, w, h], dtype=torch.float64))
    x, targets = _painted(16, seed=5)
    out, moved = SSDAugment(distort=False, max_zoom_out=1.0, generator=torch.Generator().manual_seed(0)).with_boxes(x, targets)
    flipped = 0
    for i in range(len(x)):
        if torch.allclose(out[i], x[i], atol=1e-5):
            assert torch.allclose(moved[i]["boxes"], targets[i]["boxes"])
        else:
            flipped += 1
            assert torch.allclose(out[i], x[i].flip(-1), atol=1e-5)
            b = targets[i]["boxes"][0]
            assert torch.allclose(moved[i]["boxes"][0], torch.stack([64 - b[2], b[1], 64 - b[0], b[3]]))
            back = move_target(moved[i], moved[i]["boxes"].double(), torch.tensor([0.0, 0, 64, 64], dtype=torch.float64), (64, 64), flip=True)
            assert torch.allclose(back["boxes"], targets[i]["boxes"])
    assert 0 < flipped < len(x)
    none = SSDAugment(distort=False, max_zoom_out=1.0, hflip=False, generator=torch.Generator().manual_seed(0)).with_boxes(x, targets)[0]
    assert torch.allclose(none, x, atol=1e-5)  # hflip=False (digits): never mirrored


def test_zoom_out_shrinks_by_at_most_four_and_fills_the_canvas_with_the_mean(monkeypatch):
    monkeypatch.setattr(det_augment, "sample_patch", lambda boxes, w, h, g: torch.tensor([0.0, 0, w, h], dtype=torch.float64))
    n, size = 64, 64
    x = torch.ones(n, 1, size, size)
    targets = [{"boxes": torch.tensor([[0.0, 0, size, size]]), "labels": torch.tensor([0])} for _ in range(n)]
    out, moved = SSDAugment(fill=0.25, distort=False, hflip=False, generator=torch.Generator().manual_seed(1)).with_boxes(x, targets)
    side = torch.stack([t["boxes"][0, 2] - t["boxes"][0, 0] for t in moved])
    ratio = size / side  # the canvas side over the image side
    assert ratio.min() >= 1 - 1e-5 and ratio.max() <= 4 + 1e-4
    assert 0.3 < (ratio < 1 + 1e-6).float().mean() < 0.7  # zoom out with probability 1/2
    assert ratio.max() > 3.0  # up to 4× the side: 16× the area (§3.6)
    for i in range(n):
        image_pixels = (out[i] > 0.99).float().sum()
        assert abs(float(image_pixels) - float(side[i]) ** 2) <= 4 * float(side[i]) + 4  # the image covers its box, up to its rim
        assert torch.isclose(out[i], torch.tensor(0.25)).float().sum() >= size * size - float(side[i] + 2) ** 2  # the rest is the fill


def test_patches_meet_the_iou_constraint_and_keep_a_centre(monkeypatch):
    box = torch.tensor([[20.0, 30, 70, 90]], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    monkeypatch.setattr(det_augment, "MIN_IOUS", (0.7,))
    whole = torch.tensor([0.0, 0, 100, 100], dtype=torch.float64)
    cropped = 0
    for _ in range(100):
        p = sample_patch(box, 100, 100, g)
        if not torch.equal(p, whole):
            cropped += 1
            assert box_iou(p[None], box).item() >= 0.7
            assert p[0] <= 45 <= p[2] and p[1] <= 60 <= p[3]
        assert p[0] >= 0 and p[1] >= 0 and p[2] <= 100 + 1e-9 and p[3] <= 100 + 1e-9
    assert cropped > 20
    monkeypatch.setattr(det_augment, "MIN_IOUS", (0.0,))
    sizes = torch.stack([sample_patch(box, 100, 100, g) for _ in range(200)])
    w, h = sizes[:, 2] - sizes[:, 0], sizes[:, 3] - sizes[:, 1]
    assert (w * h).min() < 0.1 * 100 * 100  # small patches occur: scale down to 0.1 of the side
    assert ((w / h) >= 0.5 - 1e-9).all() and ((w / h) <= 2 + 1e-9).all()


def test_the_same_generator_seed_gives_the_same_batch_and_another_seed_another():
    x, targets = _painted(8, seed=7)
    x = x.expand(-1, 3, -1, -1).clone()

    def run(seed):
        return SSDAugment(fill=[0.4, 0.45, 0.5], generator=torch.Generator().manual_seed(seed)).with_boxes(x, targets)

    (a, ta), (b, tb), (c, _) = run(11), run(11), run(12)
    assert torch.equal(a, b) and all(torch.equal(p["boxes"], q["boxes"]) for p, q in zip(ta, tb))
    assert not torch.equal(a, c)


def test_photometric_distortion_keeps_grey_pixels_grey_and_values_in_range():
    x = torch.rand(32, 1, 8, 8).expand(-1, 3, -1, -1).contiguous()  # grey pixels in RGB
    out = photometric_distort(x, torch.Generator().manual_seed(0))
    assert out.min() >= 0 and out.max() <= 1
    assert torch.allclose(out[:, 0], out[:, 1], atol=1e-5) and torch.allclose(out[:, 1], out[:, 2], atol=1e-5)  # hue and saturation move no grey
    assert not torch.equal(out, x)
    colour = photometric_distort(torch.rand(32, 3, 8, 8), torch.Generator().manual_seed(0))
    assert colour.min() >= 0 and colour.max() <= 1


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(ValueError, match=r"^max_zoom_out must be at least 1"):
        SSDAugment(max_zoom_out=0.5)
    with pytest.raises(ValueError, match=r"^SSDAugment: 1 targets for a batch of 2 images$"):
        SSDAugment().with_boxes(torch.zeros(2, 1, 8, 8), [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}])


def test_the_ssd_preset_takes_the_mean_and_the_datas_flip_rule():
    from cnnzoo.data.augment import AUGMENTATIONS, build_augment

    aug = build_augment("ssd", torch.Generator(), in_chans=1, image_size=(64, 64), mean=[0.2], hflip=False)
    assert "ssd" in AUGMENTATIONS and isinstance(aug, SSDAugment)
    assert aug.fill == [pytest.approx(0.2)] and aug.hflip is False
