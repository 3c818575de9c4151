"""digits-seg: real digits on a canvas with per-pixel labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnzoo.data.datasets import DataError, build_data, list_datasets
from cnnzoo.data.digits_seg import make_canvases


@pytest.fixture(scope="module")
def bundle():
    return build_data("digits-seg")


def test_bundle_shapes_dtypes_and_classes(bundle):
    assert "digits-seg" in list_datasets()
    b = bundle
    assert b.task == "segmentation" and b.num_classes == 11 and b.in_chans == 1
    assert b.image_size == (64, 64) and b.class_names[0] == "background"
    assert b.meta["aug"] == "none"
    assert len(b.train) == 1000 and len(b.test) == 250
    x, y = b.train[0]
    assert x.shape == (1, 64, 64) and x.dtype == torch.float32
    assert y.shape == (64, 64) and y.dtype == torch.int64
    ys = b.train.tensors[1]
    assert ys.min() == 0 and ys.max() == 10
    assert set(torch.unique(ys).tolist()) == set(range(11))  # every digit occurs
    fg = (ys > 0).float().mean().item()
    assert 0.02 < fg < 0.3  # mostly background, as in real segmentation data


def test_deterministic_for_a_seed(bundle):
    a, b = bundle, build_data("digits-seg")
    assert torch.equal(a.train.tensors[0], b.train.tensors[0])
    assert torch.equal(a.test.tensors[1], b.test.tensors[1])
    c = build_data("digits-seg", seed=1)
    assert not torch.equal(a.train.tensors[1], c.train.tensors[1])


def test_masks_follow_the_ink_and_boxes_hold_their_digit():
    rng = np.random.default_rng(0)
    digits = rng.random((5, 1, 6, 6)).astype(np.float32)
    labels = np.array([0, 3, 7, 9, 2])
    c = make_canvases(digits, labels, 40, canvas=24, max_digits=3, ink=0.3, seed=3)
    assert c.images.shape == (40, 1, 24, 24) and c.masks.shape == (40, 24, 24)
    assert ((c.masks > 0) == (c.images[:, 0] >= 0.3)).all()
    for img, mask, boxes in zip(c.images, c.masks, c.boxes, strict=True):
        rows = boxes[boxes[:, 0] >= 0]
        assert 1 <= len(rows) <= 3
        covered = np.zeros_like(mask, dtype=bool)
        for label, x1, y1, x2, y2 in rows:
            ys, xs = slice(round(y1 * 24), round(y2 * 24)), slice(round(x1 * 24), round(x2 * 24))
            patch = img[0, ys, xs]
            k = [i for i in range(5) if np.array_equal(patch, digits[i, 0])]
            assert k and labels[k[0]] == label  # the pasted pixels are one real digit
            assert set(np.unique(mask[ys, xs])) <= {0, int(label) + 1}
            covered[ys, xs] = True
        assert (mask[~covered] == 0).all() and (img[0][~covered] == 0).all()


def test_bad_input():
    with pytest.raises(ValueError, match="does not fit"):
        make_canvases(np.zeros((2, 1, 30, 30), np.float32), np.zeros(2), 1, canvas=20)
    with pytest.raises(ValueError, match=r"\(M, 1, d, d\)"):
        make_canvases(np.zeros((2, 30, 30), np.float32), np.zeros(2), 1)
    with pytest.raises(DataError, match="takes no path"):
        build_data("digits-seg:/tmp")
