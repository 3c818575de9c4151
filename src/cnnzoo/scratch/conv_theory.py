"""Five ways to compute one 2-D convolution (Goodfellow et al., *Deep Learning*, 2016, ch. 9).

All functions take a single-channel image ``x`` ``(H, W)`` and kernel ``k``
``(kH, kW)`` and return the same numbers (the tests check each against the
direct sum and against SciPy):

* :func:`convolve2d` — the definition, ``S(i, j) = Σ_{m,n} K(m, n) · I(i - m, j - n)``
  (true convolution: the kernel is flipped relative to the image).
* :func:`correlate2d` — cross-correlation, ``S(i, j) = Σ_{m,n} I(i + m, j + n) · K(m, n)``,
  what deep-learning libraries call convolution: ``correlate2d(x, k) == convolve2d(x, flip(k))``.
* :func:`circulant_convolve2d` — a product with the doubly block circulant matrix of the
  zero-padded kernel (§9.1), and :func:`toeplitz_convolve2d` — a product with
  the (sparse, doubly block Toeplitz) matrix whose rows are the shifted kernels.
* :func:`fft_convolve2d` — the convolution theorem: pointwise product of the 2-D DFTs of the
  zero-padded image and kernel (§9.8).
* :func:`separable_convolve2d` — a rank-1 kernel ``K = u vᵀ`` as a ``kH×1`` pass then a
  ``1×kW`` pass (§9.8): ``kH + kW`` instead of ``kH·kW`` multiplies per pixel.

Padding modes (§9.5): ``"valid"`` (no padding, ``(H - kH + 1) × (W - kW + 1)``),
``"same"`` (output the input's size, centred on the full output as SciPy does) and
``"full"`` (every partial overlap, ``(H + kH - 1) × (W + kW - 1)``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "MODES",
    "convolve2d",
    "correlate2d",
    "crop_full",
    "doubly_block_circulant",
    "circulant_convolve2d",
    "convolution_matrix",
    "toeplitz_convolve2d",
    "fft_convolve2d",
    "separate_kernel",
    "separable_convolve2d",
    "convolution_costs",
]

MODES = ("valid", "same", "full")


def _check(x: np.ndarray, k: np.ndarray, mode: str) -> None:
    if x.ndim != 2 or k.ndim != 2:
        raise ValueError(f"image and kernel must be 2-D; got image {tuple(x.shape)}, kernel {tuple(k.shape)}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    if mode == "valid" and (k.shape[0] > x.shape[0] or k.shape[1] > x.shape[1]):
        raise ValueError(f"'valid' needs the kernel {tuple(k.shape)} to fit in the image {tuple(x.shape)}")


def crop_full(full: np.ndarray, image_shape: tuple[int, int], kernel_shape: tuple[int, int], mode: str) -> np.ndarray:
    """Cut the ``"valid"`` or ``"same"`` output out of the ``"full"`` one.

    ``valid``: rows ``kH - 1 … H - 1``; ``same``: ``H`` rows from ``(kH - 1) // 2`` (SciPy's centring).
    """
    if mode == "full":
        return full
    (h, w), (kh, kw) = image_shape, kernel_shape
    if mode == "valid":
        return full[kh - 1 : h, kw - 1 : w]
    top, left = (kh - 1) // 2, (kw - 1) // 2
    return full[top : top + h, left : left + w]


def convolve2d(x: np.ndarray, k: np.ndarray, mode: str = "full") -> np.ndarray:
    """True 2-D convolution by its definition: ``S(i, j) = Σ_{m,n} K(m, n) · I(i - m, j - n)``.

    Each kernel tap adds a shifted, scaled copy of the image to the full output
    (``kH·kW`` passes over the image). Output shapes: see the module docstring.
    """
    _check(x, k, mode)
    (h, w), (kh, kw) = x.shape, k.shape
    full = np.zeros((h + kh - 1, w + kw - 1), dtype=np.result_type(x, k))
    for m in range(kh):
        for n in range(kw):
            full[m : m + h, n : n + w] += k[m, n] * x
    return crop_full(full, x.shape, k.shape, mode)


def correlate2d(x: np.ndarray, k: np.ndarray, mode: str = "valid") -> np.ndarray:
    """Cross-correlation, the "convolution" of CNNs: ``S(i, j) = Σ_{m,n} I(i + m, j + n) · K(m, n)``
    (``"valid"``; the other modes zero-pad). Equal to ``convolve2d(x, k[::-1, ::-1], mode)``,
    except ``"same"`` with an even kernel, where the centre is ambiguous: like SciPy, the
    correlation's ``same`` output starts at row ``kH // 2`` of the full one (convolution's at
    ``(kH - 1) // 2``)."""
    _check(x, k, mode)
    (h, w), (kh, kw) = x.shape, k.shape
    xp = np.pad(x, ((kh - 1, kh - 1), (kw - 1, kw - 1)))  # the full correlation, then crop
    full = np.zeros((h + kh - 1, w + kw - 1), dtype=np.result_type(x, k))
    for m in range(kh):
        for n in range(kw):
            full += k[m, n] * xp[m : m + h + kh - 1, n : n + w + kw - 1]
    if mode == "same":
        return full[kh // 2 : kh // 2 + h, kw // 2 : kw // 2 + w]
    return crop_full(full, x.shape, k.shape, mode)


def doubly_block_circulant(k: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """The doubly block circulant matrix ``G_b`` (Goodfellow et al. 2016, §9.1).

    Zero-pad ``K`` to ``M × N`` (``M = H + kH - 1``, ``N = W + kW - 1``); build from each
    row ``m`` of the padded kernel the ``N × N`` circulant ``G_m`` (first column = that row);
    then ``G_b`` is block circulant in the ``G_m``: block ``(i, j)`` is ``G_{(i - j) mod M}``.
    Shape ``(M·N, M·N)``. ``G_b · vec(I_p)`` is the full convolution, row-major.
    """
    (h, w), (kh, kw) = image_shape, k.shape
    m_, n_ = h + kh - 1, w + kw - 1
    kp = np.zeros((m_, n_), dtype=k.dtype)
    kp[:kh, :kw] = k
    idx = (np.arange(n_)[:, None] - np.arange(n_)[None, :]) % n_
    circulants = kp[:, idx]  # circulants[m] = G_m, (M, N, N)
    blocks = (np.arange(m_)[:, None] - np.arange(m_)[None, :]) % m_
    return circulants[blocks].transpose(0, 2, 1, 3).reshape(m_ * n_, m_ * n_)


def circulant_convolve2d(x: np.ndarray, k: np.ndarray, mode: str = "full") -> np.ndarray:
    """Convolution as one matrix-vector product: ``vec(S) = G_b · vec(I_p)``, with ``I_p`` the
    image zero-padded to ``M × N`` and ``G_b`` from :func:`doubly_block_circulant`."""
    _check(x, k, mode)
    (h, w), (kh, kw) = x.shape, k.shape
    m_, n_ = h + kh - 1, w + kw - 1
    xp = np.zeros((m_, n_), dtype=np.result_type(x, k))
    xp[:h, :w] = x
    full = (doubly_block_circulant(k, x.shape) @ xp.ravel()).reshape(m_, n_)
    return crop_full(full, x.shape, k.shape, mode)


def convolution_matrix(k: np.ndarray, image_shape: tuple[int, int], mode: str = "full") -> np.ndarray:
    """The ``(H_out·W_out, H·W)`` matrix ``T`` with ``vec(convolve2d(x, k, mode)) = T · vec(x)``.

    Row ``(i, j)`` holds ``K(i - m, j - n)`` at column ``(m, n)``: a doubly block Toeplitz
    matrix, almost all zeros. ``Tᵀ`` is the transposed convolution (the backward pass).
    """
    (h, w), (kh, kw) = image_shape, k.shape
    fh, fw = h + kh - 1, w + kw - 1
    full = np.zeros((fh, fw, h, w), dtype=k.dtype)
    for m in range(h):
        for n in range(w):
            full[m : m + kh, n : n + kw, m, n] = k  # where pixel (m, n) lands in the output
    out = crop_full(full, image_shape, k.shape, mode)
    return out.reshape(out.shape[0] * out.shape[1], h * w)


def toeplitz_convolve2d(x: np.ndarray, k: np.ndarray, mode: str = "full") -> np.ndarray:
    """Convolution as ``T · vec(x)`` with ``T`` from :func:`convolution_matrix`."""
    _check(x, k, mode)
    t = convolution_matrix(k.astype(np.result_type(x, k)), x.shape, mode)
    shape = crop_full(np.empty((x.shape[0] + k.shape[0] - 1, x.shape[1] + k.shape[1] - 1)), x.shape, k.shape, mode).shape
    return (t @ x.ravel()).reshape(shape)


def fft_convolve2d(x: np.ndarray, k: np.ndarray, mode: str = "full") -> np.ndarray:
    """Convolution theorem: ``S = IDFT(DFT(I_p) ⊙ DFT(K_p))`` with both zero-padded to
    ``(H + kH - 1) × (W + kW - 1)`` so the circular convolution equals the linear one."""
    _check(x, k, mode)
    shape = (x.shape[0] + k.shape[0] - 1, x.shape[1] + k.shape[1] - 1)
    full = np.fft.irfft2(np.fft.rfft2(x, shape) * np.fft.rfft2(k, shape), shape)
    return crop_full(full, x.shape, k.shape, mode)


def separate_kernel(k: np.ndarray, rtol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Split a rank-1 kernel into ``u`` ``(kH,)`` and ``v`` ``(kW,)`` with ``K = u vᵀ`` (by SVD).

    Raises ValueError when the second singular value is above ``rtol`` times the first:
    not every kernel is separable (§9.8).
    """
    if k.ndim != 2:
        raise ValueError(f"kernel must be 2-D; got shape {tuple(k.shape)}")
    u, s, vt = np.linalg.svd(k)
    if len(s) > 1 and s[1] > rtol * s[0]:
        raise ValueError(f"kernel {tuple(k.shape)} is not separable: singular values {s.round(6).tolist()} (rank > 1)")
    root = math.sqrt(s[0])
    return u[:, 0] * root, vt[0] * root


def separable_convolve2d(x: np.ndarray, u: np.ndarray, v: np.ndarray, mode: str = "full") -> np.ndarray:
    """Convolve with the ``kH × 1`` column ``u`` then the ``1 × kW`` row ``v``: equal to
    ``convolve2d(x, outer(u, v), mode)`` because convolution is associative."""
    k_shape = (u.shape[0], v.shape[0])
    _check(x, np.empty(k_shape), mode)
    cols = convolve2d(x, u[:, None], "full")
    full = convolve2d(cols, v[None, :], "full")
    return crop_full(full, x.shape, k_shape, mode)


def convolution_costs(image_shape: tuple[int, int], kernel_shape: tuple[int, int]) -> dict[str, float]:
    """Multiplications each method spends on one full convolution of ``H × W`` by ``kH × kW``.

    * direct: ``H·W·kH·kW`` (every image pixel meets every tap);
    * toeplitz (dense ``T``): ``(M·N)·(H·W)`` with ``M × N`` the full output — most are by zero;
    * circulant (dense ``G_b``): ``(M·N)²``;
    * fft: ``3 · (M·N/2) · log₂(M·N)`` complex multiplies for three real transforms plus
      ``M·N/2`` for the pointwise product (each complex multiply is 4 real ones: ×4);
    * separable: ``H·W·kH + (H + kH - 1)·W·kW`` — about ``kH + kW`` per pixel instead of ``kH·kW``.
    """
    (h, w), (kh, kw) = image_shape, kernel_shape
    mn = (h + kh - 1) * (w + kw - 1)
    return {
        "direct": float(h * w * kh * kw),
        "toeplitz": float(mn * h * w),
        "circulant": float(mn * mn),
        "fft": float(4 * (3 * (mn / 2) * math.log2(mn) + mn / 2)),
        "separable": float(h * w * kh + (h + kh - 1) * w * kw),
    }
