"""``decode_image``: every Pillow mode as a viewer shows it, in [0, 1] by the mode's real range."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnnzoo.data import DataError, build_data
from cnnzoo.data.images import decode_image, probe_image

RNG = np.random.default_rng(0)
GREY8 = RNG.integers(0, 256, (6, 7), dtype=np.uint8)
RGB8 = RNG.integers(0, 256, (6, 7, 3), dtype=np.uint8)
GREY16 = RNG.integers(0, 65536, (6, 7), dtype=np.uint16)
LUMA = np.array([0.299, 0.587, 0.114])


def _hwc(t) -> np.ndarray:
    return t.permute(1, 2, 0).numpy()


def test_16_bit_png_is_scaled_by_65535_not_clipped(tmp_path):
    a = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "g.png")
    assert Image.open(tmp_path / "g.png").mode == "I;16"
    x = decode_image(tmp_path / "g.png", 1)
    np.testing.assert_allclose(x[0].numpy(), a / 65535.0, atol=1e-6)
    assert float((x == 1.0).float().mean()) == 0.0


def test_a_folder_of_16_bit_pngs_keeps_its_mean(tmp_path):
    rng = np.random.default_rng(1)
    arrays = []
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(5):
            arrays.append(rng.integers(0, 65536, (16, 16), dtype=np.uint16))
            Image.fromarray(arrays[-1]).save(tmp_path / c / f"{i}.png")
    b = build_data(f"folder:{tmp_path}", image_size=16)
    xs = [b.train[i][0] for i in range(len(b.train))] + [b.test[i][0] for i in range(len(b.test))]
    true = np.mean([a.mean() / 65535 for a in arrays])
    assert abs(float(np.mean([x.mean() for x in xs])) - true) < 1e-4 and abs(true - 0.5) < 0.01
    assert max(float((x == 1.0).float().mean()) for x in xs) < 0.01


def _save(path, im, **kw):
    im.save(path, **kw)
    return path


@pytest.mark.parametrize(
    "name, make, chans, expected",
    [
        ("1.png", lambda: Image.fromarray(GREY8 > 127), 1, (GREY8 > 127)[..., None] * 1.0),
        ("l.png", lambda: Image.fromarray(GREY8), 1, GREY8[..., None] / 255),
        ("rgb.png", lambda: Image.fromarray(RGB8), 3, RGB8 / 255),
        ("i16b.tif", lambda: Image.frombytes("I;16B", (7, 6), GREY16.astype(">u2").tobytes()), 1, GREY16[..., None] / 65535),
        ("i32.tif", lambda: Image.fromarray(GREY16.astype(np.int32)), 1, GREY16[..., None] / 65535),
        ("f.tif", lambda: Image.fromarray((GREY16 / 65535).astype(np.float32)), 1, GREY16[..., None] / 65535),
        ("grey-as-rgb.png", lambda: Image.fromarray(GREY8), 3, np.repeat(GREY8[..., None], 3, -1) / 255),
        ("rgb-as-grey.png", lambda: Image.fromarray(RGB8), 1, (RGB8 @ LUMA)[..., None] / 255),
    ],
)
def test_plain_modes(tmp_path, name, make, chans, expected):
    path = _save(tmp_path / name, make())
    # 8-bit results may differ from exact luma by Pillow's integer rounding; 16-bit ones must be exact.
    np.testing.assert_allclose(_hwc(decode_image(path, chans)), expected, atol=1e-6 if "rgb-as" not in name else 2e-3)


def test_float_images_are_clipped_to_0_1_and_nan_is_0(tmp_path):
    a = np.array([[-0.5, 0.25, 2.0, np.nan]], np.float32)
    x = decode_image(_save(tmp_path / "f.tif", Image.fromarray(a)), 1)
    assert x[0, 0].tolist() == [0.0, 0.25, 1.0, 0.0]


def test_alpha_is_composited_on_black(tmp_path):
    grey = np.full((1, 3), 200, np.uint8)
    alpha = np.array([[0, 128, 255]], np.uint8)
    la = Image.merge("LA", [Image.fromarray(grey), Image.fromarray(alpha)])
    x = decode_image(_save(tmp_path / "la.png", la), 1)
    np.testing.assert_allclose(x[0, 0].numpy(), 200 / 255 * alpha[0] / 255, atol=1e-6)
    rgba = np.zeros((1, 3, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = (255, 100, 0), alpha
    y = decode_image(_save(tmp_path / "rgba.png", Image.fromarray(rgba)), 3)
    np.testing.assert_allclose(_hwc(y)[0], np.outer(alpha[0] / 255, [1.0, 100 / 255, 0.0]), atol=1e-6)
    g = decode_image(tmp_path / "rgba.png", 1)  # composite first, then luma: transparent stays black
    assert float(g[0, 0, 0]) == 0.0 and abs(float(g[0, 0, 2]) - (0.299 + 0.587 * 100 / 255)) < 3e-3


def test_palette_with_and_without_transparency(tmp_path):
    p = Image.new("P", (2, 1))
    p.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    p.putpixel((1, 0), 1)
    opaque = decode_image(_save(tmp_path / "p.png", p), 3)
    assert _hwc(opaque)[0].tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    keyed = decode_image(_save(tmp_path / "pt.png", p, transparency=0), 3)  # palette entry 0 is transparent
    assert _hwc(keyed)[0].tolist() == [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    assert probe_image(tmp_path / "pt.png")[0] == "RGB"


def test_cmyk_and_ycbcr_are_shown_as_rgb(tmp_path):
    cmyk = Image.new("CMYK", (1, 1), (255, 0, 0, 0))  # pure cyan ink
    assert _hwc(decode_image(_save(tmp_path / "c.tif", cmyk), 3))[0, 0].tolist() == [0.0, 1.0, 1.0]
    ycc = Image.fromarray(RGB8).convert("YCbCr")
    path = _save(tmp_path / "y.tif", ycc)
    assert Image.open(path).mode == "YCbCr" and probe_image(path)[0] == "RGB"
    want = np.asarray(Image.open(path).convert("RGB")) / 255
    np.testing.assert_allclose(_hwc(decode_image(path, 3)), want, atol=1e-6)


def test_exif_orientation_is_applied(tmp_path, formats):
    path = formats.write_exif_jpeg(tmp_path / "r.jpg", orientation=6)  # stored 40×20, "rotate 90° clockwise"
    x = decode_image(path, 3)
    assert x.shape == (3, 40, 20)  # portrait, as a viewer shows it
    assert float(x[:, :10].mean()) > 0.95 and float(x[:, -10:].mean()) < 0.05  # the left quarter is now on top
    up = decode_image(formats.write_exif_jpeg(tmp_path / "u.jpg", orientation=1), 3)
    assert up.shape == (3, 20, 40) and float(up[:, :, :10].mean()) > 0.95


def test_resizing_keeps_16_bit_precision(tmp_path):
    Image.fromarray(np.full((30, 40), 1000, np.uint16)).save(tmp_path / "c.png")
    x = decode_image(tmp_path / "c.png", 1, size=8)
    assert x.shape == (1, 8, 8) and float((x - 1000 / 65535).abs().max()) < 1e-6  # 8 bits would give 4/255


def test_decompression_bomb_is_refused_in_one_line(tmp_path, formats):
    bomb = formats.write_png_header(tmp_path / "big.png", 20000, 20000)
    for call in (lambda: decode_image(bomb, 1), lambda: probe_image(bomb)):
        with pytest.raises(DataError, match=r"big\.png: 400,000,000 pixels, over the limit of 89,478,485") as e:
            call()
        assert "\n" not in str(e.value)
    d = formats.write_folder(tmp_path / "ds")
    (d / "dog" / "3.png").write_bytes(bomb.read_bytes())
    b = build_data(f"folder:{d}", image_size=8)
    with pytest.raises(DataError, match=r"dog/3\.png: 400,000,000 pixels"):
        [b.train[i] for i in range(len(b.train))] + [b.test[i] for i in range(len(b.test))]


def test_images_pillow_only_warns_about_are_refused_too(tmp_path, monkeypatch):
    # Between MAX_IMAGE_PIXELS and twice it Pillow only warns; the decoder refuses there as well.
    Image.fromarray(GREY8).save(tmp_path / "s.png")  # 42 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 30)
    with pytest.raises(DataError, match=r"s\.png: 42 pixels, over the limit of 30"):
        decode_image(tmp_path / "s.png", 1)


def test_not_an_image_names_the_file(tmp_path):
    (tmp_path / "x.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"x\.png: not an image"):
        decode_image(tmp_path / "x.png", 3)
    with pytest.raises(DataError, match=r"nope\.png: file not found"):
        decode_image(tmp_path / "nope.png", 3)
