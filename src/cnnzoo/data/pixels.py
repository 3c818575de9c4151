"""Any Pillow image as float32 pixels in [0, 1], the way an image viewer shows it.

* Orientation: the EXIF ``Orientation`` tag (EXIF 2.32 §4.6.4, tag 0x0112) is
  applied with :func:`PIL.ImageOps.exif_transpose`, so a phone photo stored
  landscape but tagged "rotate 90°" comes out portrait, as viewers show it.
* Range: every mode is scaled by the range its samples really have, not
  squeezed through 8 bits. ``1``, ``L``, ``P``, ``RGB``, ``CMYK``, ``YCbCr``
  and the other 8-bit modes are divided by 255; 16-bit grey (``I;16``,
  ``I;16B``, ``I;16L``, ``I;16N``) by 65,535. Pillow gives 32-bit ``I`` to
  16-bit data held in a wider container (PGM with maxval > 255, PNG written
  from an ``I`` image), so ``I`` is read on the same 0–65,535 scale and
  clipped there. ``F`` (32-bit float) is taken as already in [0, 1], the
  convention of float images from NumPy tools (scikit-image, tifffile,
  OpenCV), and clipped, NaN read as 0; a per-image min–max stretch would make
  a pixel's brightness depend on the rest of its image. (Pillow itself opens
  16-bit colour PNGs as 8-bit ``RGB``/``RGBA``; those keep 8 bits.)
* Transparency (an alpha band, a palette or colour-key ``tRNS``) is
  composited on black, i.e. premultiplied alpha (Porter & Duff 1984): a pixel
  counts as much as it covers, and a fully transparent one is 0, the value
  the networks' zero padding puts around every image. Black rather than white
  also keeps light-on-dark data (MNIST-style digits) as it is. 16-bit and
  float grey have no alpha band in Pillow; a ``tRNS`` colour key on them is
  ignored.
* Channels: grey to RGB repeats the grey; RGB to grey is ITU-R BT.601 luma
  (0.299 R + 0.587 G + 0.114 B), the weights Pillow's own ``L`` conversion uses.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SIXTEEN_BIT_MODES", "channel_kind", "to_float"]

SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def channel_kind(mode: str) -> str:
    """``"L"`` for the grey-scale Pillow modes (with or without alpha), ``"RGB"`` for the rest."""
    from PIL import Image

    if mode in SIXTEEN_BIT_MODES:
        return "L"
    try:
        return "L" if Image.getmodebase(mode) == "L" else "RGB"
    except KeyError:  # a mode Pillow has no base for: decode it as colour
        return "RGB"


def upright(im):
    """``im`` turned as its EXIF orientation says."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(im)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError):
        # A damaged EXIF block does not make the pixels unreadable; viewers show such files unturned.
        return im


def _wide(im) -> np.ndarray:
    # 16- and 32-bit grey and float: read the samples themselves, not an 8-bit conversion of them.
    a = np.asarray(im)
    if im.mode == "F":
        return np.clip(np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    return np.clip(a.astype(np.float32), 0.0, 65535.0) / 65535.0


def _eight_bit(im) -> np.ndarray:
    """``(H, W, C)`` float32, alpha (if any) already composited on black."""
    base = channel_kind(im.mode)
    if im.has_transparency_data:
        im = im.convert("LA" if base == "L" else "RGBA")
    elif im.mode != base:
        im = im.convert(base)
    a = np.asarray(im, dtype=np.float32) / 255.0
    if a.ndim == 2:
        return a[..., None]
    if a.shape[-1] in (2, 4):  # LA / RGBA: premultiply by alpha = composite on black
        return a[..., :-1] * a[..., -1:]
    return a


def to_float(im, channels: int) -> np.ndarray:
    """``(H, W, channels)`` float32 in [0, 1] from a Pillow image of any mode; ``channels`` is 1 or 3.

    ``ValueError`` (from Pillow) for a mode it cannot convert.
    """
    im = upright(im)
    a = _wide(im)[..., None] if im.mode in (*SIXTEEN_BIT_MODES, "I", "F") else _eight_bit(im)
    if channels == 1 and a.shape[-1] == 3:
        a = (a @ LUMA)[..., None]
    elif channels == 3 and a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return np.ascontiguousarray(a, dtype=np.float32)
