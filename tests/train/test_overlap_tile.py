"""U-Net's overlap-tile strategy (§2, figure 2): mirrored context, tiles stitched into the whole-image answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnzoo.models.unet import VALID_MARGIN, UNet, valid_output_side
from cnnzoo.train.overlap_tile import mirror_pad, overlap_tile, tile_layout


def _valid_unet() -> UNet:
    torch.manual_seed(0)
    return UNet(num_classes=3, in_chans=1, padding=False, base_width=2, batch_norm=True).eval()


def test_valid_output_sides_are_what_the_network_produces():
    assert valid_output_side(388) == 388 and valid_output_side(1) == 4 and valid_output_side(21) == 36
    model = _valid_unet()
    for out in (20, 36, 52):
        assert model(torch.zeros(1, 1, out + 2 * VALID_MARGIN, out + 2 * VALID_MARGIN)).shape[-1] == out


def test_mirror_pad_matches_reflect_and_goes_further():
    x = torch.arange(12.0).view(1, 1, 3, 4)
    assert torch.equal(mirror_pad(x, 2, 1, 3, 2), F.pad(x, (3, 2, 2, 1), mode="reflect"))
    far = mirror_pad(x, 0, 0, 7, 0)[0, 0, 0].tolist()  # 7 pixels left of the row 0 1 2 3, mirrored again and again
    assert far == [1, 0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    with pytest.raises(ValueError, match="mirror padding"):
        mirror_pad(x, -1, 0, 0, 0)


def test_tile_layout_steps_on_the_pooling_grid():
    assert tile_layout(388, 388) == (384, 1, 388)
    assert tile_layout(1000, 388) == (384, 3, 1156)
    assert tile_layout(40, 36) == (32, 2, 68)


@pytest.mark.parametrize(("h", "w", "tile"), [(40, 57, 20), (70, 33, 36), (23, 23, None)])
def test_stitched_tiles_equal_the_network_on_the_whole_mirrored_image(h, w, tile):
    model = _valid_unet()
    torch.manual_seed(1)
    x = torch.rand(2, 1, h, w)
    out = overlap_tile(model, x, tile_out=tile)
    assert out.shape == (2, 3, h, w)  # output size = input size
    side = valid_output_side(max(16, tile or max(h, w)))
    _, _, cover_h = tile_layout(h, side)
    _, _, cover_w = tile_layout(w, side)
    whole = mirror_pad(x, VALID_MARGIN, cover_h - h + VALID_MARGIN, VALID_MARGIN, cover_w - w + VALID_MARGIN)
    with torch.no_grad():
        reference = model(whole)[..., :h, :w]
    assert torch.allclose(out, reference, atol=1e-5)


def test_predict_segments_any_size_with_the_valid_unet(tmp_path, unet_run):
    from PIL import Image
    from typer.testing import CliRunner

    from cnnzoo.cli import app

    unet_run(tmp_path, padding=False)
    image = tmp_path / "small.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 45), dtype=np.uint8)).save(image)  # far below 188
    r = CliRunner().invoke(app, ["predict", str(tmp_path), str(image), "--out", str(tmp_path / "pred")])
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "pred" / "small-mask.png").size == (45, 30)
