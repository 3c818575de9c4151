"""Detections drawn onto their image: a coloured box per object and a label box with its class and score.

Drawn with Pillow's ``ImageDraw``. Each class keeps one colour, a saturated
hue (never grey, so boxes stand out on grey images and photographs alike),
for any number of classes; the label's text is black or white, whichever
reads better on that colour. Images smaller than :data:`MIN_SIDE` are
enlarged by an integer factor (nearest neighbour, so no pixel is invented)
before drawing, so that a 96 × 96 ``digits-det`` canvas still has legible
labels.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import Tensor

__all__ = ["MIN_SIDE", "class_colour", "draw_detections"]

MIN_SIDE = 384  # pixels: below this the labels would cover the objects
GOLDEN_RATIO_CONJUGATE = (math.sqrt(5) - 1) / 2  # hue step: any run of successive classes gets well-spread hues
FONT_FRACTION = 1 / 28  # label text height as a fraction of the drawn image's shorter side


def class_colour(label: int) -> tuple[int, int, int]:
    """The RGB colour of class ``label``: a saturated hue, successive classes a golden angle apart."""
    hue = (label * GOLDEN_RATIO_CONJUGATE) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return round(r * 255), round(g * 255), round(b * 255)


def _text_colour(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]  # ITU-R BT.601 weights
    return (0, 0, 0) if luma > 140 else (255, 255, 255)


def draw_detections(
    image: Tensor,
    boxes: Sequence[Sequence[float]],
    labels: Sequence[int],
    scores: Sequence[float],
    class_names: Sequence[str],
) -> Any:
    """An RGB ``PIL.Image`` of ``image`` ``(C, H, W)`` in [0, 1] with each box drawn (boxes in its pixels)."""
    from PIL import Image, ImageDraw, ImageFont

    h, w = image.shape[-2:]
    k = max(1, math.ceil(MIN_SIDE / min(h, w)))
    rgb = (image.expand(3, -1, -1).permute(1, 2, 0).clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
    canvas = Image.fromarray(rgb, mode="RGB").resize((w * k, h * k), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=max(10, round(min(h, w) * k * FONT_FRACTION)))
    width = max(2, round(min(h, w) * k / 200))
    for box, label, score in zip(boxes, labels, scores):
        colour = class_colour(int(label))
        x1, y1, x2, y2 = (float(v) * k for v in box)
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=width)
        name = class_names[int(label)] if int(label) < len(class_names) else str(int(label))
        _label(draw, font, f"{name} {float(score):.2f}", (x1, y1), colour, canvas.size)
    return canvas


def _label(draw: Any, font: Any, text: str, corner: tuple[float, float], colour: tuple[int, int, int], size: tuple[int, int]) -> None:
    """A filled label box at the box's top-left corner: above it when there is room, else just inside."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    tw, th = right - left + 4, bottom - top + 4
    x = min(max(corner[0], 0), max(size[0] - tw, 0))
    y = corner[1] - th if corner[1] >= th else corner[1]
    draw.rectangle((x, y, x + tw, y + th), fill=colour)
    draw.text((x + 2 - left, y + 2 - top), text, fill=_text_colour(colour), font=font)
