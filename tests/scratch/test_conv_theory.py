"""Every way of computing a convolution equals the direct sum (and SciPy)."""

import numpy as np
import pytest
import scipy.signal
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnzoo.scratch import conv_theory as ct
from cnnzoo.scratch import functional as F

cases = st.tuples(st.integers(1, 7), st.integers(1, 7), st.integers(1, 4), st.integers(1, 4), st.sampled_from(ct.MODES), st.integers(0, 2**16))


def _draw(case):
    h, w, kh, kw, mode, seed = case
    assume(mode != "valid" or (kh <= h and kw <= w))
    rng = np.random.default_rng(seed)
    return rng.standard_normal((h, w)), rng.standard_normal((kh, kw)), mode


@settings(max_examples=30, deadline=None)
@given(case=cases)
def test_every_method_equals_the_direct_convolution(case):
    x, k, mode = _draw(case)
    direct = ct.convolve2d(x, k, mode)
    np.testing.assert_allclose(direct, scipy.signal.convolve2d(x, k, mode), atol=1e-12)
    for method in (ct.circulant_convolve2d, ct.toeplitz_convolve2d, ct.fft_convolve2d):
        np.testing.assert_allclose(method(x, k, mode), direct, atol=1e-10)


@settings(max_examples=20, deadline=None)
@given(case=cases)
def test_correlation_is_convolution_with_the_flipped_kernel(case):
    x, k, mode = _draw(case)
    corr = ct.correlate2d(x, k, mode)
    if mode != "same" or (k.shape[0] % 2 and k.shape[1] % 2):  # an even kernel has no centre
        np.testing.assert_allclose(corr, ct.convolve2d(x, k[::-1, ::-1], mode), atol=1e-12)
    np.testing.assert_allclose(corr, scipy.signal.correlate2d(x, k, mode), atol=1e-12)


def test_cnn_convolution_is_cross_correlation():
    rng = np.random.default_rng(0)
    x, k = rng.standard_normal((6, 7)), rng.standard_normal((3, 2))
    out, _ = F.conv2d_forward(x[None, None], k[None, None])
    np.testing.assert_allclose(out[0, 0], ct.correlate2d(x, k, "valid"), atol=1e-12)
    assert not np.allclose(out[0, 0], ct.convolve2d(x, k, "valid"))


def test_padding_modes_give_the_seed_sizes():
    x, k = np.ones((10, 8)), np.ones((3, 5))
    assert ct.convolve2d(x, k, "valid").shape == (10 - 3 + 1, 8 - 5 + 1)
    assert ct.convolve2d(x, k, "same").shape == (10, 8)
    assert ct.convolve2d(x, k, "full").shape == (10 + 3 - 1, 8 + 5 - 1)


def test_circulant_matrix_is_block_circulant_with_circulant_blocks():
    k = np.arange(1.0, 7.0).reshape(2, 3)
    g = ct.doubly_block_circulant(k, (2, 2))  # M = 3, N = 4
    assert g.shape == (12, 12)
    blocks = g.reshape(3, 4, 3, 4).transpose(0, 2, 1, 3)
    for i in range(3):
        for j in range(3):
            np.testing.assert_array_equal(blocks[i, j], blocks[(i + 1) % 3, (j + 1) % 3])
            np.testing.assert_array_equal(blocks[i, j], np.roll(np.roll(blocks[i, j], 1, 0), 1, 1))
    np.testing.assert_array_equal(blocks[0, 0][:, 0], [1, 2, 3, 0])  # first column: kernel row 0, padded


def test_toeplitz_transpose_is_the_transposed_convolution():
    rng = np.random.default_rng(1)
    k, dy = rng.standard_normal((3, 3)), rng.standard_normal((4, 5))
    t = ct.convolution_matrix(k[::-1, ::-1], (6, 7), "valid")  # the CNN's (correlation) layer
    dx_matrix = (t.T @ dy.ravel()).reshape(6, 7)
    dx, _, _ = F.conv_transpose2d_forward(dy[None, None], k[None, None])[0], None, None
    np.testing.assert_allclose(dx[0, 0], dx_matrix, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(case=cases)
def test_separable_kernel_as_column_then_row(case):
    x, k, mode = _draw(case)
    rng = np.random.default_rng(2)
    u, v = rng.standard_normal(k.shape[0]), rng.standard_normal(k.shape[1])
    k1 = np.outer(u, v)
    su, sv = ct.separate_kernel(k1)
    np.testing.assert_allclose(np.outer(su, sv), k1, atol=1e-12)
    np.testing.assert_allclose(ct.separable_convolve2d(x, su, sv, mode), ct.convolve2d(x, k1, mode), atol=1e-10)


def test_non_separable_kernel_is_refused_and_costs_favour_separable():
    with pytest.raises(ValueError, match="not separable"):
        ct.separate_kernel(np.eye(3))
    c = ct.convolution_costs((32, 32), (7, 7))
    assert c["direct"] == 32 * 32 * 49
    assert c["separable"] < c["direct"] / 3  # 7 + 7 vs 49 multiplies per pixel
    assert c["direct"] < c["toeplitz"] < c["circulant"]


def test_bad_theory_input():
    with pytest.raises(ValueError, match=r"kernel \(5, 5\) to fit in the image \(3, 3\)"):
        ct.convolve2d(np.ones((3, 3)), np.ones((5, 5)), "valid")
    with pytest.raises(ValueError, match="mode must be one of"):
        ct.fft_convolve2d(np.ones((3, 3)), np.ones((2, 2)), "circular")
