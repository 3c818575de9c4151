"""RoI pooling and RoI align: hand cases, a direct bilinear computation, gradients, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from cnnzoo.detection import RoIAlign, RoIPool, roi_align, roi_pool


def _bilinear(img: torch.Tensor, y: float, x: float) -> float:
    """Mask R-CNN's bilinear read of one channel ``img (H, W)``, written out by hand."""
    h, w = img.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    v = img.tolist()
    return ((1 - ly) * (1 - lx) * v[y0][x0] + (1 - ly) * lx * v[y0][x1]
            + ly * (1 - lx) * v[y1][x0] + ly * lx * v[y1][x1])  # fmt: skip


def _roi_align_direct(inp, rois, out, scale, ratio, aligned):
    k, c = rois.shape[0], inp.shape[1]
    res = torch.zeros(k, c, out, out, dtype=inp.dtype)
    off = 0.5 if aligned else 0.0
    for r in range(k):
        b, x1, y1, x2, y2 = rois[r].tolist()
        x1, y1, x2, y2 = x1 * scale - off, y1 * scale - off, x2 * scale - off, y2 * scale - off
        rw, rh = x2 - x1, y2 - y1
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bw, bh = rw / out, rh / out
        gy = ratio if ratio > 0 else math.ceil(rh / out)
        gx = ratio if ratio > 0 else math.ceil(rw / out)
        for ch in range(c):
            for py in range(out):
                for px in range(out):
                    acc = 0.0
                    for iy in range(gy):
                        for ix in range(gx):
                            yy = y1 + py * bh + (iy + 0.5) * bh / gy
                            xx = x1 + px * bw + (ix + 0.5) * bw / gx
                            acc += _bilinear(inp[int(b), ch], yy, xx)
                    res[r, ch, py, px] = acc / max(gy * gx, 1)
    return res


ROIS = torch.tensor([
    [0, 1.0, 1.0, 6.0, 5.0],      # inside
    [1, 2.3, 0.7, 9.9, 8.6],      # fractional corners
    [0, -3.0, -2.0, 4.0, 3.0],    # partly outside
    [1, 8.0, 6.0, 30.0, 25.0],    # mostly outside (samples beyond one cell read 0)
    [0, 4.0, 4.0, 4.2, 4.1],      # smaller than a cell
], dtype=torch.float64)  # fmt: skip


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("ratio", [-1, 2])
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_roi_align_matches_direct_bilinear(aligned, ratio, scale):
    inp = torch.randn(2, 2, 8, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    got = roi_align(inp, ROIS, 3, scale, ratio, aligned)
    torch.testing.assert_close(got, _roi_align_direct(inp, ROIS, 3, scale, ratio, aligned))


def test_roi_align_is_exact_on_a_linear_ramp():
    # Bilinear interpolation reproduces a linear function, so each bin equals
    # the ramp at the bin centre (with aligned=True, coordinate u is cell u - 0.5).
    h, w = 12, 16
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    ramp = (2 * xs + 3 * ys)[None, None]
    x1, y1, x2, y2 = 3.0, 2.0, 11.0, 10.0
    out = roi_align(ramp, torch.tensor([[0, x1, y1, x2, y2]], dtype=torch.float64), 4, 1.0, 2, True)
    cx = x1 + (torch.arange(4, dtype=torch.float64) + 0.5) * (x2 - x1) / 4 - 0.5
    cy = y1 + (torch.arange(4, dtype=torch.float64) + 0.5) * (y2 - y1) / 4 - 0.5
    torch.testing.assert_close(out[0, 0], 2 * cx[None, :] + 3 * cy[:, None])


def test_roi_align_gradients_finite_differences():
    inp = torch.randn(2, 2, 6, 7, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0, 0.5, 0.7, 4.2, 5.1], [1, -1.0, 2.0, 3.5, 6.5]], dtype=torch.float64)
    for aligned in (False, True):
        assert torch.autograd.gradcheck(lambda x, a=aligned: roi_align(x, rois, 2, 1.0, 2, a), (inp,))
        assert torch.autograd.gradcheck(lambda x, a=aligned: roi_align(x, rois, 3, 1.0, -1, a), (inp,))


def test_roi_pool_hand_cases_and_c_rounding():
    x = torch.arange(36.0).reshape(1, 1, 6, 6)
    out = roi_pool(x, torch.tensor([[0, 0.0, 0.0, 3.0, 3.0]]), 2)
    assert out.flatten().tolist() == [7, 9, 19, 21]
    # 5 * 0.5 = 2.5 rounds away from zero to 3 (C's round), so cells 0..3 again;
    # rounding half to even would give cells 0..2 and [7, 8, 13, 14].
    out = roi_pool(x, torch.tensor([[0, 0.0, 0.0, 5.0, 5.0]]), 2, spatial_scale=0.5)
    assert out.flatten().tolist() == [7, 9, 19, 21]
    # Quantisation: corners within half a cell land on the same cells.
    assert roi_pool(x, torch.tensor([[0, 0.4, 0.3, 2.6, 3.4]]), 2).flatten().tolist() == [7, 9, 19, 21]


def test_roi_pool_outside_the_image():
    x = torch.arange(1.0, 37.0).reshape(1, 1, 6, 6)
    out = roi_pool(x, torch.tensor([[0, -4.0, -4.0, 1.0, 1.0], [0, 10.0, 10.0, 14.0, 14.0]]), 2)
    # first RoI: cells -4..1; the top-left bins see no cell of the map, the last sees (1, 1)
    assert out[0].flatten().tolist() == [0, 0, 0, 8]
    assert out[1].abs().sum() == 0  # entirely outside: all bins empty


def test_roi_pool_gradient_goes_to_the_maximum():
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0, 0.0, 1.0, 4.0, 5.0], [0, 2.0, 0.0, 5.0, 3.0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: roi_pool(t, rois, 2), (x,))


def test_list_of_boxes_and_modules():
    x = torch.randn(2, 3, 8, 8)
    boxes = [torch.tensor([[0.0, 0, 4, 4]]), torch.tensor([[1.0, 1, 5, 7], [2, 2, 3, 3]])]
    rows = torch.tensor([[0, 0.0, 0, 4, 4], [1, 1, 1, 5, 7], [1, 2, 2, 3, 3]])
    torch.testing.assert_close(RoIAlign(2, 1.0, 2)(x, boxes), roi_align(x, rows, 2, 1.0, 2))
    torch.testing.assert_close(RoIPool((2, 3))(x, boxes), roi_pool(x, rows, (2, 3)))
    assert roi_align(x, torch.zeros(0, 5), 2).shape == (0, 3, 2, 2)
    assert roi_pool(x, [torch.zeros(0, 4), torch.zeros(0, 4)], 2).shape == (0, 3, 2, 2)


def test_bad_input():
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match="x2 >= x1"):
        roi_align(x, torch.tensor([[0, 5.0, 0, 1, 4]]), 2)
    with pytest.raises(ValueError, match="batch indices"):
        roi_pool(x, torch.tensor([[2, 0.0, 0, 1, 4]]), 2)
    with pytest.raises(ValueError, match=r"\(K, 5\)"):
        roi_align(x, torch.zeros(3, 4), 2)
    with pytest.raises(ValueError, match="one \\(L, 4\\) tensor per image"):
        roi_align(x, [torch.zeros(1, 4)], 2)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        roi_pool(torch.randn(3, 8, 8), torch.zeros(0, 5), 2)
    with pytest.raises(ValueError, match="output_size"):
        roi_align(x, torch.zeros(0, 5), 0)
