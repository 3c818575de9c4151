"""The detection ops under ``torch.jit.script`` and ``torch.fx.symbolic_trace``: same results as eager.

The oracle is the eager function itself (whose own tests check it against
torchvision's rules and hand computations): scripting and tracing must change
nothing but how the op is run.
"""

import importlib
import warnings

import pytest
import torch
from torch import Tensor, nn

import cnnzoo
from cnnzoo.detection import RoIAlign, RoIPool
from cnnzoo.detection.export import SSDRawOutputs

# The package re-exports the functions under the modules' names (``cnnzoo.detection.nms``
# is the function), so the modules are fetched by name; FX patches names there.
boxes_ops = importlib.import_module("cnnzoo.detection.boxes")
nms_ops = importlib.import_module("cnnzoo.detection.nms")
roi_ops = importlib.import_module("cnnzoo.detection.roi")
coder_ops = importlib.import_module("cnnzoo.detection.box_coder")


def _boxes(n: int, seed: int, size: float = 32.0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * size / 2 + 0.5
    return torch.cat((xy, xy + wh), dim=1)


def _scores(n: int, seed: int) -> Tensor:
    return torch.rand(n, generator=torch.Generator().manual_seed(seed))


def _rois(k: int, batch: int, seed: int) -> Tensor:
    idx = torch.randint(0, batch, (k, 1), generator=torch.Generator().manual_seed(seed)).float()
    return torch.cat((idx, _boxes(k, seed, size=24.0)), dim=1)


def _features(seed: int = 0) -> Tensor:
    return torch.randn(2, 3, 12, 14, generator=torch.Generator().manual_seed(seed))


def _script(fn):
    return torch.jit.script(fn)


@pytest.mark.parametrize("name", ["box_iou", "generalized_box_iou"])
def test_pairwise_iou_scripts(name: str) -> None:
    fn = getattr(boxes_ops, name)
    a, b = _boxes(7, 1), _boxes(5, 2)
    a[3] = a[4]  # an identical pair and a zero-area box
    b[0, 2] = b[0, 0]
    assert torch.equal(_script(fn)(a, b), fn(a, b))


def test_box_area_and_clip_script() -> None:
    b = _boxes(9, 3) - 4.0  # some corners outside a 20 x 30 image
    assert torch.equal(_script(boxes_ops.box_area)(b), boxes_ops.box_area(b))
    clip = _script(boxes_ops.clip_boxes_to_image)
    assert torch.equal(clip(b, [20, 30]), boxes_ops.clip_boxes_to_image(b, (20, 30)))


def test_box_coding_scripts() -> None:
    ref, props = _boxes(6, 4), _boxes(6, 5)
    stds = [0.1, 0.1, 0.2, 0.2]
    enc, dec = _script(coder_ops.encode_boxes), _script(coder_ops.decode_boxes)
    deltas = coder_ops.encode_boxes(ref, props, stds=stds)
    assert torch.equal(enc(ref, props), coder_ops.encode_boxes(ref, props))
    assert torch.equal(enc(ref, props, stds=stds), deltas)
    assert torch.equal(dec(deltas, props, stds=stds), coder_ops.decode_boxes(deltas, props, stds=stds))
    assert torch.equal(dec(deltas * 50, props, scale_clamp=None), coder_ops.decode_boxes(deltas * 50, props, scale_clamp=None))


@pytest.mark.parametrize("block", [512, 4])
def test_nms_scripts(block: int) -> None:
    b, s = _boxes(40, 6), _scores(40, 7)
    s[5] = s[9]  # a tie: the lower index goes first in both
    expected = nms_ops.nms(b, s, 0.3, block)
    assert len(expected) < 40  # something was suppressed
    assert torch.equal(_script(nms_ops.nms)(b, s, 0.3, block), expected)


def test_batched_nms_scripts_with_several_classes() -> None:
    b, s = _boxes(50, 8), _scores(50, 9)
    idxs = torch.randint(0, 4, (50,), generator=torch.Generator().manual_seed(10))
    expected = nms_ops.batched_nms(b, s, idxs, 0.4)
    assert len(torch.unique(idxs[expected])) == 4
    assert torch.equal(_script(nms_ops.batched_nms)(b, s, idxs, 0.4), expected)
    empty = torch.zeros(0, 4)
    assert _script(nms_ops.batched_nms)(empty, empty[:, 0], empty[:, 0].long(), 0.4).numel() == 0


@pytest.mark.parametrize("output_size", [3, (2, 4)])
def test_roi_pool_scripts(output_size) -> None:
    x, rois = _features(), _rois(6, 2, 11)
    rois[0, 1:] = torch.tensor([-5.0, -5.0, 3.0, 2.0])  # partly outside the map
    expected = roi_ops.roi_pool(x, rois, output_size, 0.5)
    assert torch.equal(_script(roi_ops.roi_pool)(x, rois, output_size, 0.5), expected)


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 2])
def test_roi_align_scripts(aligned: bool, sampling_ratio: int) -> None:
    x, rois = _features(1), _rois(8, 2, 12)
    fn = _script(roi_ops.roi_align)
    expected = roi_ops.roi_align(x, rois, (3, 2), 0.5, sampling_ratio, aligned)
    assert torch.equal(fn(x, rois, (3, 2), 0.5, sampling_ratio, aligned), expected)
    per_image = [rois[rois[:, 0] == i, 1:] for i in range(2)]
    as_list = roi_ops.roi_align(x, per_image, 2, 0.5, sampling_ratio, aligned)
    assert torch.equal(fn(x, per_image, 2, 0.5, sampling_ratio, aligned), as_list)


class _Pools(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.align = RoIAlign((2, 3), spatial_scale=0.5, sampling_ratio=2, aligned=True)
        self.pool = RoIPool(2, spatial_scale=0.5)

    def forward(self, x: Tensor, rois: Tensor) -> Tensor:
        return torch.cat((self.align(x, rois).flatten(1), self.pool(x, rois).flatten(1)), dim=1)


def test_roi_modules_script_inside_a_module() -> None:
    m, x, rois = _Pools(), _features(2), _rois(5, 2, 13)
    assert torch.equal(torch.jit.script(m)(x, rois), m(x, rois))


class _RoIThenNMS(nn.Module):
    """Pool RoIs, score them, suppress overlaps: the data-dependent ops a two-stage head runs.

    (This file has no ``from __future__ import annotations``: FX copies the
    forward's annotations into its generated code, and TorchScript must read them.)
    """

    def forward(self, x: Tensor, rois: Tensor) -> tuple[Tensor, Tensor]:
        pooled = roi_ops.roi_align(x, rois, 2, 0.5, 2, True)
        scores = pooled.mean(dim=(1, 2, 3)).sigmoid()
        boxes = rois[:, 1:]
        keep = nms_ops.nms(boxes, scores, 0.3)
        overlaps = boxes_ops.box_iou(boxes[keep], boxes)
        return keep, overlaps


def test_fx_traces_the_ops_as_leaves() -> None:
    m, x, rois = _RoIThenNMS(), _features(3), _rois(30, 2, 14)
    gm = torch.fx.symbolic_trace(m)
    calls = {n.target for n in gm.graph.nodes if n.op == "call_function"}
    assert {roi_ops.roi_align, nms_ops.nms, boxes_ops.box_iou} <= calls
    keep, overlaps = m(x, rois)
    assert 0 < len(keep) < 30
    for got, want in zip(gm(x, rois), (keep, overlaps), strict=True):
        assert torch.equal(got, want)
    scripted = torch.jit.script(gm)  # the traced graph exports too
    for got, want in zip(scripted(x, rois), (keep, overlaps), strict=True):
        assert torch.equal(got, want)


def test_eager_checks_still_raise() -> None:
    with pytest.raises(ValueError, match="x2 >= x1"):
        boxes_ops.box_iou(torch.tensor([[2.0, 0, 1, 1]]), _boxes(2, 0))
    with pytest.raises(ValueError, match="output_size"):
        roi_ops.roi_align(_features(), _rois(2, 2, 0), 0)


def test_tiny_ssd_raw_outputs_trace() -> None:
    ssd = cnnzoo.create("tiny_ssd").eval()
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(15))
    wrapped = SSDRawOutputs(ssd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the trace's notes on Python ints read from shapes
        traced = torch.jit.trace(wrapped, x)
    with torch.no_grad():
        out, eager = traced(x), ssd(x)
    assert torch.equal(out[0], eager.cls_logits)
    assert torch.equal(out[1], eager.box_deltas)
    assert torch.equal(out[2], eager.default_boxes)


def test_raw_outputs_reject_a_non_ssd() -> None:
    with pytest.raises(ValueError, match="SSDOutput"):
        SSDRawOutputs(nn.Identity())(torch.zeros(1))
