"""Filters and bilinear resizing by hand, against scipy.ndimage, torch and hand-worked numbers."""

import math

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnzoo.scratch import filters as fl
from cnnzoo.scratch.resize import resize_bilinear, source_coordinates

MODES = tuple(fl.BORDER_MODES)
images = st.tuples(st.integers(5, 9), st.integers(5, 9), st.sampled_from(MODES), st.integers(0, 2**16))


def _image(case):
    h, w, mode, seed = case
    return np.random.default_rng(seed).standard_normal((h, w)), mode


def test_sigma_rule_hand_worked():
    # σ = 0.3·((k - 1)·0.5 - 1) + 0.8: (3 - 1)·0.5 - 1 = 0 → 0.8; (5 - 1)·0.5 - 1 = 1 → 1.1
    assert fl.gaussian_sigma(3) == pytest.approx(0.8)
    assert fl.gaussian_sigma(5) == pytest.approx(1.1)
    assert fl.gaussian_sigma(7) == pytest.approx(1.4)


def test_three_tap_gaussian_by_hand():
    side = math.exp(-1 / (2 * 0.8**2))  # the neighbours at distance 1, σ = 0.8, before normalising
    expected = np.array([side, 1.0, side]) / (1 + 2 * side)  # [0.2390, 0.5220, 0.2390]
    np.testing.assert_allclose(fl.gaussian_kernel1d(3), expected, rtol=1e-12)
    np.testing.assert_allclose(fl.gaussian_kernel1d(3), [0.23899, 0.52201, 0.23899], atol=1e-5)


@pytest.mark.parametrize("size, sigma", [(3, None), (5, None), (7, 2.0), (9, 0.5)])
def test_2d_gaussian_is_the_double_loop_formula(size, sigma):
    s = fl.gaussian_sigma(size) if sigma is None else sigma
    c = size // 2
    loop = np.array([[math.exp(-((i - c) ** 2 + (j - c) ** 2) / (2 * s * s)) for j in range(size)] for i in range(size)])
    g = fl.gaussian_kernel(size, sigma)
    np.testing.assert_allclose(g, loop / loop.sum(), rtol=1e-12)
    assert g.sum() == pytest.approx(1.0, abs=1e-15)


@settings(max_examples=20, deadline=None)
@given(case=images, size=st.sampled_from([1, 3, 5]), sigma=st.sampled_from([None, 0.7, 1.6]))
def test_gaussian_filter_matches_scipy(case, size, sigma):
    x, mode = _image(case)
    s = fl.gaussian_sigma(size) if sigma is None else sigma
    ref = ndi.gaussian_filter(x, s, mode=mode, cval=0.5, radius=size // 2)
    np.testing.assert_allclose(fl.gaussian_filter(x, size, sigma, mode, cval=0.5), ref, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(case=images, kh=st.integers(1, 4), kw=st.integers(1, 4))
def test_filter2d_is_scipy_correlate(case, kh, kw):
    x, mode = _image(case)
    k = np.random.default_rng(case[3] + 1).standard_normal((kh, kw))
    np.testing.assert_allclose(fl.filter2d(x, k, mode, cval=-1.0), ndi.correlate(x, k, mode=mode, cval=-1.0), atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(case=images, kh=st.integers(1, 4), kw=st.integers(1, 4))
def test_separable_passes_equal_the_outer_product_kernel(case, kh, kw):
    x, mode = _image(case)
    rng = np.random.default_rng(case[3] + 2)
    col, row = rng.standard_normal(kh), rng.standard_normal(kw)
    cval = 0.0 if mode == "constant" else 5.0  # constant borders agree only for cval = 0
    np.testing.assert_allclose(
        fl.separable_filter2d(x, col, row, mode, cval), fl.filter2d(x, np.outer(col, row), mode, cval), atol=1e-12
    )


@settings(max_examples=20, deadline=None)
@given(case=images, axis=st.sampled_from([0, 1]))
def test_sobel_matches_scipy(case, axis):
    x, mode = _image(case)
    np.testing.assert_allclose(fl.sobel(x, axis, 3, mode), ndi.sobel(x, axis=axis, mode=mode), atol=1e-12)


def test_sobel_kernels_by_hand():
    np.testing.assert_array_equal(fl.sobel_kernel(3, axis=1), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(fl.sobel_kernel(3, axis=0), [[-1, -2, -1], [0, 0, 0], [1, 2, 1]])
    gx5 = [[-1, -2, 0, 2, 1], [-4, -8, 0, 8, 4], [-6, -12, 0, 12, 6], [-4, -8, 0, 8, 4], [-1, -2, 0, 2, 1]]
    np.testing.assert_array_equal(fl.sobel_kernel(5, axis=1), gx5)
    smooth7, deriv7 = fl.sobel_kernels(7)
    np.testing.assert_array_equal(smooth7, [1, 6, 15, 20, 15, 6, 1])
    np.testing.assert_array_equal(deriv7, [-1, -4, -5, 0, 5, 4, 1])


@pytest.mark.parametrize("size, gain", [(3, 8), (5, 128)])
def test_sobel_of_a_ramp(size, gain):
    # x(i, j) = 3j - 2i: smoothing sums to 2^(k-1), the derivative's Σ j·d_j is 2 (k=3) or 8 (k=5)
    i, j = np.mgrid[0:12, 0:12].astype(float)
    x = 3 * j - 2 * i
    inner = (slice(size, -size), slice(size, -size))
    np.testing.assert_allclose(fl.sobel(x, 1, size)[inner], 3 * gain)
    np.testing.assert_allclose(fl.sobel(x, 0, size)[inner], -2 * gain)
    k5 = np.array(fl.sobel_kernel(5, 1))
    np.testing.assert_allclose(fl.sobel(x, 1, 5, "mirror"), ndi.correlate(x, k5, mode="mirror"), atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(case=images, size=st.sampled_from([1, 2, 3, 4, (3, 1), (2, 5)]))
def test_box_filter_matches_scipy(case, size):
    x, mode = _image(case)
    np.testing.assert_allclose(fl.box_filter(x, size, mode, cval=2.0), ndi.uniform_filter(x, size, mode=mode, cval=2.0), atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(case=images, size=st.sampled_from([1, 3, 5, (3, 1), (1, 5)]))
def test_median_filter_matches_scipy(case, size):
    x, mode = _image(case)
    np.testing.assert_array_equal(fl.median_filter(x, size, mode, cval=0.3), ndi.median_filter(x, size, mode=mode, cval=0.3))


def test_median_removes_salt_noise_the_box_filter_smears():
    x = np.zeros((7, 7))
    x[3, 3] = 9.0
    assert not fl.median_filter(x, 3).any()
    np.testing.assert_allclose(fl.box_filter(x, 3)[2:5, 2:5], 1.0)  # 9 spread over its 3×3 neighbourhood


def test_resize_hand_worked():
    x = np.array([[0.0, 1.0]])
    np.testing.assert_allclose(resize_bilinear(x, (1, 4)), [[0.0, 0.25, 0.75, 1.0]])
    np.testing.assert_allclose(resize_bilinear(x, (1, 4), align_corners=True), [[0.0, 1 / 3, 2 / 3, 1.0]])
    i0, i1, lam = source_coordinates(2, 4)  # halving: s = 2d + 0.5, the mean of each pair
    np.testing.assert_array_equal(i0, [0, 2])
    np.testing.assert_array_equal(i1, [1, 3])
    np.testing.assert_allclose(lam, [0.5, 0.5])


@settings(max_examples=25, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    out=st.tuples(st.integers(1, 11), st.integers(1, 11)),
    align=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_resize_matches_torch_interpolate(shape, out, align, seed):
    x = np.random.default_rng(seed).standard_normal((2, 3, *shape))
    ref = TF.interpolate(torch.from_numpy(x), size=out, mode="bilinear", align_corners=align).numpy()
    np.testing.assert_allclose(resize_bilinear(x, out, align_corners=align), ref, atol=1e-12)


def test_bad_filter_and_resize_input():
    with pytest.raises(ValueError, match="size must be an odd positive int; got 4"):
        fl.gaussian_kernel(4)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        fl.gaussian_kernel1d(3, sigma=0.0)
    with pytest.raises(ValueError, match="mode must be one of"):
        fl.box_filter(np.ones((3, 3)), 3, mode="circular")
    with pytest.raises(ValueError, match="axis must be 0"):
        fl.sobel(np.ones((3, 3)), axis=2)
    with pytest.raises(ValueError, match=r"image must be 2-D \(H, W\); got shape \(3,\)"):
        fl.median_filter(np.ones(3), 3)
    with pytest.raises(ValueError, match="odd on both axes"):
        fl.median_filter(np.ones((4, 4)), 2)
    with pytest.raises(ValueError, match="sizes must be >= 1"):
        resize_bilinear(np.ones((3, 3)), (0, 2))
