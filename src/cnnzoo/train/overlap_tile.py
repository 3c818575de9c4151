"""U-Net's overlap-tile strategy: segment an image of any size with valid convolutions.

Ronneberger, Fischer & Brox 2015 (arXiv:1505.04597, §2 and figure 2): a
valid-convolution U-Net maps a 572×572 tile to the 388×388 centre of it, so
"to predict the pixels in the border region of the image, the missing
context is extrapolated by mirroring the input image", and the output tiles
are laid side by side. The tiles step by a multiple of 16 (the four 2×2
poolings), so every tile sees the pooling grid the whole image would: the
stitched map equals the network's output on the whole mirrored image, which
is what the tests check, while no single forward pass needs more than one tile.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnzoo.models.unet import VALID_GRID, VALID_MARGIN, valid_output_side

__all__ = ["MAX_TILE_OUT", "mirror_pad", "overlap_tile", "tile_layout"]

MAX_TILE_OUT = 388  # the paper's output tile (572 in): larger images are cut into such tiles


def _mirror_index(n: int, before: int, after: int) -> Tensor:
    """Indices into ``range(n)`` of a line padded by mirroring (edge pixel not repeated), any amount."""
    i = torch.arange(-before, n + after)
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * (n - 1)
    i = i.remainder(period)  # a mirrored line repeats every 2(n − 1) pixels
    return torch.where(i < n, i, period - i)


def mirror_pad(x: Tensor, top: int, bottom: int, left: int, right: int) -> Tensor:
    """``x`` ``(…, H, W)`` padded by mirroring, like ``F.pad(mode="reflect")`` but by any amount."""
    if min(top, bottom, left, right) < 0:
        raise ValueError(f"mirror padding must be >= 0; got top={top}, bottom={bottom}, left={left}, right={right}")
    h, w = x.shape[-2:]
    rows, cols = _mirror_index(h, top, bottom).to(x.device), _mirror_index(w, left, right).to(x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


def tile_layout(side: int, tile_out: int) -> tuple[int, int, int]:
    """``(step, count, covered)`` of output tiles of ``tile_out`` pixels along an image side of ``side``.

    Tiles start every ``step`` pixels (``tile_out`` rounded down to a multiple of
    16, so the poolings stay aligned; neighbours overlap by the rest) and
    ``count`` of them cover ``covered >= side`` pixels.
    """
    step = tile_out // VALID_GRID * VALID_GRID
    if step < 1:
        raise ValueError(f"tile_out must be at least {VALID_GRID} pixels; got {tile_out}")
    count = 1 + max(0, -(-(side - tile_out) // step))
    return step, count, step * (count - 1) + tile_out


@torch.no_grad()
def overlap_tile(model: nn.Module, x: Tensor, tile_out: int | None = None) -> Tensor:
    """Scores ``(N, K, H, W)`` of a valid-convolution U-Net for images ``x`` ``(N, C, H, W)`` of any size.

    ``tile_out``: the side of each output tile (rounded up to one the network
    produces); by default the smallest that covers the image, at most the
    paper's 388. The input is mirrored by the network's 92-pixel context on
    each side (and up to the last tile's edge), each tile of ``tile_out + 184``
    pixels is predicted, and the outputs are stitched and cut to ``H × W``.
    """
    h, w = x.shape[-2:]
    out_side = valid_output_side(max(VALID_GRID, tile_out or min(max(h, w), MAX_TILE_OUT)))  # ≥ 20: a step of 16
    step, ny, cover_h = tile_layout(h, out_side)
    _, nx, cover_w = tile_layout(w, out_side)
    padded = mirror_pad(x, VALID_MARGIN, cover_h - h + VALID_MARGIN, VALID_MARGIN, cover_w - w + VALID_MARGIN)
    tile_in = out_side + 2 * VALID_MARGIN
    result: Tensor | None = None
    for i in range(ny):
        for j in range(nx):
            y0, x0 = i * step, j * step
            scores = model(padded[..., y0 : y0 + tile_in, x0 : x0 + tile_in])
            if result is None:
                result = scores.new_zeros(*scores.shape[:2], cover_h, cover_w)
            result[..., y0 : y0 + out_side, x0 : x0 + out_side] = scores
    assert result is not None  # at least one tile
    return result[..., :h, :w]
