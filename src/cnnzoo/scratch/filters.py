"""The classic image filters written out by hand: Gaussian, Sobel, box and median.

Each linear filter is a cross-correlation of a 2-D image ``x`` ``(H, W)`` with a small
kernel (:func:`cnnzoo.scratch.conv_theory.correlate2d`, what a CNN layer computes) after
the border is padded so that the output keeps the input's size; the Gaussian, Sobel and
box kernels are separable, so they run as a column pass then a row pass, as SciPy's
``scipy.ndimage`` filters do (the tests check each against it).

Border modes, named as ``scipy.ndimage`` names them (OpenCV's names in brackets)::

    reflect   d c b a | a b c d | d c b a   (BORDER_REFLECT)
    mirror      d c b | a b c d | c b a     (BORDER_REFLECT_101, OpenCV's default)
    nearest   a a a a | a b c d | d d d d   (BORDER_REPLICATE)
    constant  k k k k | a b c d | k k k k   (BORDER_CONSTANT, k = cval)
    wrap      a b c d | a b c d | a b c d   (BORDER_WRAP)

A kernel of ``k`` taps is centred on tap ``k // 2`` (SciPy's convention, which also
fixes where an even box sits): ``out[i] = Σ_j w[j] · x[i + j - k // 2]``.
"""

from __future__ import annotations

import math

import numpy as np

from cnnzoo.scratch.conv_theory import correlate2d

__all__ = [
    "BORDER_MODES",
    "pad_border",
    "filter2d",
    "separable_filter2d",
    "gaussian_sigma",
    "gaussian_kernel1d",
    "gaussian_kernel",
    "gaussian_filter",
    "sobel_kernels",
    "sobel_kernel",
    "sobel",
    "box_filter",
    "median_filter",
]

# scipy.ndimage's mode name -> np.pad's name for the same border ("reflect" means different things)
BORDER_MODES = {"reflect": "symmetric", "mirror": "reflect", "nearest": "edge", "constant": "constant", "wrap": "wrap"}


def _check_image(x: np.ndarray, what: str) -> None:
    if x.ndim != 2:
        raise ValueError(f"{what}: image must be 2-D (H, W); got shape {tuple(x.shape)}")


def _odd_size(size: int, what: str) -> int:
    if not isinstance(size, (int, np.integer)) or size < 1 or size % 2 == 0:
        raise ValueError(f"{what}: size must be an odd positive int; got {size!r}")
    return int(size)


def pad_border(x: np.ndarray, kernel_shape: tuple[int, int], mode: str = "reflect", cval: float = 0.0) -> np.ndarray:
    """Pad ``(H, W)`` by ``k // 2`` before and ``k - 1 - k // 2`` after on each axis, so a
    "valid" correlation with a ``kernel_shape`` kernel returns ``(H, W)``."""
    if mode not in BORDER_MODES:
        raise ValueError(f"mode must be one of {tuple(BORDER_MODES)}; got {mode!r}")
    widths = [(k // 2, k - 1 - k // 2) for k in kernel_shape]
    if mode == "constant":
        return np.pad(x, widths, mode="constant", constant_values=cval)
    return np.pad(x, widths, mode=BORDER_MODES[mode])


def filter2d(x: np.ndarray, k: np.ndarray, mode: str = "reflect", cval: float = 0.0) -> np.ndarray:
    """Correlate ``x`` ``(H, W)`` with ``k`` ``(kH, kW)`` over a padded border; output ``(H, W)``
    (``scipy.ndimage.correlate`` and OpenCV's ``filter2D``)."""
    _check_image(x, "filter2d")
    if k.ndim != 2:
        raise ValueError(f"filter2d: kernel must be 2-D; got shape {tuple(k.shape)}")
    return correlate2d(pad_border(x, k.shape, mode, cval), k, "valid")


def separable_filter2d(
    x: np.ndarray, col: np.ndarray, row: np.ndarray, mode: str = "reflect", cval: float = 0.0
) -> np.ndarray:
    """``filter2d`` with ``outer(col, row)`` as a ``kH × 1`` pass then a ``1 × kW`` pass:
    ``kH + kW`` multiplies per pixel instead of ``kH·kW``. Each pass pads its own axis, as
    SciPy's separable filters do; the result equals the 2-D filter's except at the left
    and right borders with ``mode="constant"``, a non-zero ``cval`` and a ``col`` that
    does not sum to 1 (the second pass pads with ``cval``, not ``cval·Σ col``)."""
    _check_image(x, "separable_filter2d")
    cols = filter2d(x, np.asarray(col)[:, None], mode, cval)
    return filter2d(cols, np.asarray(row)[None, :], mode, cval)


def gaussian_sigma(size: int) -> float:
    """The σ OpenCV derives from the kernel size when none is given:
    ``σ = 0.3·((k - 1)·0.5 - 1) + 0.8`` (OpenCV documentation, ``getGaussianKernel``):
    0.8 for 3 taps, 1.1 for 5, 1.4 for 7."""
    k = _odd_size(size, "gaussian_sigma")
    return 0.3 * ((k - 1) * 0.5 - 1) + 0.8


def gaussian_kernel1d(size: int, sigma: float | None = None) -> np.ndarray:
    """``G_i = α · exp(-(i - (k - 1)/2)² / (2σ²))``, ``i = 0 … k - 1``, with ``α`` making
    ``Σ G_i = 1`` (OpenCV documentation, ``getGaussianKernel``); shape ``(k,)``.

    Without ``sigma`` the σ comes from :func:`gaussian_sigma`. (OpenCV's implementation,
    unlike its documentation, returns fixed binomial tables for 1, 3, 5 and 7 taps when no
    σ is given, e.g. ``[1, 2, 1]/4``; this function follows the documented rule.)
    """
    k = _odd_size(size, "gaussian_kernel")
    if sigma is None:
        sigma = gaussian_sigma(k)
    elif not sigma > 0:
        raise ValueError(f"gaussian_kernel: sigma must be > 0 (or None for the size rule); got {sigma}")
    i = np.arange(k) - (k - 1) / 2
    g = np.exp(-(i**2) / (2 * sigma**2))
    return g / g.sum()


def gaussian_kernel(size: int, sigma: float | None = None) -> np.ndarray:
    """The normalised 2-D Gaussian ``(k, k)``: ``G(x, y) ∝ exp(-(x² + y²) / 2σ²)``, which is
    the outer product of two 1-D kernels (so it sums to 1 and is separable)."""
    g = gaussian_kernel1d(size, sigma)
    return np.outer(g, g)


def gaussian_filter(
    x: np.ndarray, size: int, sigma: float | None = None, mode: str = "reflect", cval: float = 0.0
) -> np.ndarray:
    """Gaussian blur with a ``size × size`` kernel (``scipy.ndimage.gaussian_filter`` with
    ``radius = size // 2``; OpenCV's ``GaussianBlur``)."""
    g = gaussian_kernel1d(size, sigma)
    return separable_filter2d(x, g, g, mode, cval)


def sobel_kernels(size: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The separable halves of a ``k × k`` Sobel kernel (OpenCV's ``getDerivKernels``):
    smoothing = row ``k - 1`` of Pascal's triangle, derivative = row ``k - 2`` convolved with
    the central difference ``[-1, 0, 1]``.

    3 taps: ``[1, 2, 1]`` and ``[-1, 0, 1]``; 5 taps: ``[1, 4, 6, 4, 1]`` and ``[-1, -2, 0, 2, 1]``.
    """
    k = _odd_size(size, "sobel")
    if k < 3:
        raise ValueError(f"sobel: size must be >= 3; got {size}")
    smooth = np.array([math.comb(k - 1, i) for i in range(k)], dtype=np.float64)
    lower = np.array([math.comb(k - 3, i) for i in range(k - 2)], dtype=np.float64)
    return smooth, np.convolve(lower, [-1.0, 0.0, 1.0])


def sobel_kernel(size: int = 3, axis: int = 1) -> np.ndarray:
    """The ``k × k`` Sobel kernel for correlation: ``axis=1`` differentiates along the columns
    (``G_x = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]`` for 3 taps), ``axis=0`` along the rows (``G_y = G_xᵀ``)."""
    if axis not in (0, 1):
        raise ValueError(f"sobel: axis must be 0 (y, rows) or 1 (x, columns); got {axis!r}")
    smooth, deriv = sobel_kernels(size)
    return np.outer(smooth, deriv) if axis == 1 else np.outer(deriv, smooth)


def sobel(x: np.ndarray, axis: int = 1, size: int = 3, mode: str = "reflect", cval: float = 0.0) -> np.ndarray:
    """Sobel derivative of ``x`` ``(H, W)`` along ``axis`` (unnormalised, as
    ``scipy.ndimage.sobel`` and OpenCV's ``Sobel``); ``hypot(sobel(x, 0), sobel(x, 1))`` is
    the gradient magnitude."""
    if axis not in (0, 1):
        raise ValueError(f"sobel: axis must be 0 (y, rows) or 1 (x, columns); got {axis!r}")
    smooth, deriv = sobel_kernels(size)
    col, row = (smooth, deriv) if axis == 1 else (deriv, smooth)
    return separable_filter2d(x, col, row, mode, cval)


def _size_pair(size: int | tuple[int, int], what: str) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(pair) != 2 or any(not isinstance(s, (int, np.integer)) or s < 1 for s in pair):
        raise ValueError(f"{what}: size must be a positive int or a pair of them; got {size!r}")
    return int(pair[0]), int(pair[1])


def box_filter(x: np.ndarray, size: int | tuple[int, int], mode: str = "reflect", cval: float = 0.0) -> np.ndarray:
    """The mean over each ``kH × kW`` window (``scipy.ndimage.uniform_filter``; OpenCV's ``blur``):
    a kernel of ones divided by ``kH·kW``, run as two 1-D passes."""
    kh, kw = _size_pair(size, "box_filter")
    return separable_filter2d(x, np.full(kh, 1.0 / kh), np.full(kw, 1.0 / kw), mode, cval)


def median_filter(x: np.ndarray, size: int | tuple[int, int], mode: str = "reflect", cval: float = 0.0) -> np.ndarray:
    """The median of each ``kH × kW`` window (``scipy.ndimage.median_filter``; OpenCV's
    ``medianBlur``): not linear, so no kernel; the ``kH·kW`` shifted copies of the padded
    image are stacked and the middle value of each pixel's stack taken. Odd sizes only, so
    the window has one middle element."""
    _check_image(x, "median_filter")
    kh, kw = _size_pair(size, "median_filter")
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"median_filter: size must be odd on both axes; got {size!r}")
    h, w = x.shape
    xp = pad_border(x, (kh, kw), mode, cval)
    stack = np.stack([xp[m : m + h, n : n + w] for m in range(kh) for n in range(kw)])
    return np.median(stack, axis=0)
