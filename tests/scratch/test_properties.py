"""Equivariance, pooling invariance, receptive-field growth (Goodfellow et al. 2016, §9.2–9.3)."""

import numpy as np

from cnnzoo.scratch import functional as F
from cnnzoo.scratch.layers import Conv2d, Sequential


def test_convolution_is_equivariant_to_translation():
    rng = np.random.default_rng(0)
    x = np.zeros((1, 2, 24, 24))
    x[:, :, 6:14, 5:15] = rng.standard_normal((1, 2, 8, 10))  # content away from the border
    w = rng.standard_normal((3, 2, 3, 3))
    shift = (3, -2)
    y, _ = F.conv2d_forward(x, w, None, padding=1)
    y_shifted, _ = F.conv2d_forward(np.roll(x, shift, axis=(2, 3)), w, None, padding=1)
    # shift the input, and the output shifts by the same amount: conv(T x) = T conv(x)
    np.testing.assert_allclose(y_shifted, np.roll(y, shift, axis=(2, 3)), atol=1e-12)


def test_max_pooling_is_approximately_invariant_to_small_shifts():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 32, 32))
    shifted = np.roll(x, 1, axis=3)
    inner = (slice(None), slice(None), slice(3, -3), slice(3, -3))
    assert np.mean(x[inner] == shifted[inner]) == 0.0  # every input value changed
    # a k×k max pool (stride 1) keeps its output when the window's max stays inside the
    # overlap of the old and the new window: (k - 1)/(k + 1) of the time, 2/3 for k = 5
    pooled, _ = F.max_pool2d_forward(x, 5, 1, 2)
    pooled_shifted, _ = F.max_pool2d_forward(shifted, 5, 1, 2)
    same = np.mean(pooled[inner] == pooled_shifted[inner])
    assert abs(same - 4 / 6) < 0.05


def _receptive_field(layers: Sequential, size: int) -> int:
    """Width of the input region that the centre output pixel depends on, read off the
    gradient: backpropagate a one-hot at the centre and count the non-zero input columns."""
    x = np.ones((1, 1, size, size))
    out = layers.forward(x)
    dout = np.zeros_like(out)
    dout[0, 0, out.shape[2] // 2, out.shape[3] // 2] = 1.0
    dx = layers.backward(dout)
    cols = np.flatnonzero(np.abs(dx[0, 0]).sum(axis=0))
    return int(cols.max() - cols.min() + 1)


def _stack(dilations):
    convs = []
    for d in dilations:
        conv = Conv2d(1, 1, 3, padding=d, dilation=d, bias=False, dtype=np.float64)
        conv.weight.data[...] = 1.0  # positive weights: no accidental cancellation
        convs.append(conv)
    return Sequential(*convs)


def test_stacked_3x3_grow_the_receptive_field_linearly_and_dilated_exponentially():
    for depth in range(1, 5):
        # L plain 3×3 convs: 2L + 1
        assert _receptive_field(_stack([1] * depth), 64) == 2 * depth + 1
        # dilations 1, 2, 4, …, 2^(L-1) (Yu & Koltun 2016): 2^(L+1) - 1
        assert _receptive_field(_stack([2**i for i in range(depth)]), 64) == 2 ** (depth + 1) - 1
