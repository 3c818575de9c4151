"""What the file loaders refuse, and the input size they choose without ``--image-size``."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnnzoo.data import DataError, build_data, parse_data_spec
from cnnzoo.data.cifar import read_python_batch
from cnnzoo.data.idx import read_idx
from cnnzoo.data.split import prepare_data


def _folder_with_tiny_first_image(root):
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(np.full((12, 14), 30 * i, np.uint8)).save(root / c / f"{i}.png")
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(root / "a" / "0.png")  # sorts first
    return root


def test_the_size_comes_from_the_caller_never_from_the_first_file(tmp_path):
    root = _folder_with_tiny_first_image(tmp_path / "ds")
    b = build_data(f"folder:{root}")
    assert b.image_size == (224, 224) and b.train[0][0].shape == (1, 224, 224)
    m = prepare_data(f"folder:{root}", default_size=32)  # what training passes: the model's input size
    assert m.image_size == (32, 32) and m.test[0][0].shape == (1, 32, 32)
    assert prepare_data(f"folder:{root}", image_size=20, default_size=32).image_size == (20, 20)
    (tmp_path / "m.csv").write_text("path,labels\n" + "".join(f"ds/a/{i}.png,a\nds/b/{i}.png,b\n" for i in range(5)))
    assert prepare_data(f"csv:{tmp_path / 'm.csv'}", default_size=32).image_size == (32, 32)
    with pytest.raises(DataError, match="default_size must be a positive integer.*-3"):
        build_data(f"folder:{root}", default_size=-3)


def test_an_empty_class_folder_is_refused(tmp_path, formats):
    d = formats.write_folder(tmp_path / "ds")
    (d / "eel").mkdir()
    (d / "eel" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=r"ds/eel: class folder with no image files"):
        build_data(f"folder:{d}")
    # A test tree may lack images of a class; the classes come from the training tree.
    formats.write_folder(tmp_path / "tt" / "train")
    formats.write_folder(tmp_path / "tt" / "test", per_class=1)
    (tmp_path / "tt" / "test" / "dog" / "0.png").unlink()
    assert build_data(f"folder:{tmp_path / 'tt'}", image_size=8).num_classes == 2


def test_too_small_splits_are_refused(tmp_path, formats):
    formats.write_png(tmp_path / "0.png")
    (tmp_path / "one.csv").write_text("path,labels\n0.png,cat\n")
    with pytest.raises(DataError, match=r"one\.csv: 1 training and 0 test image\(s\).*expected at least one of each"):
        build_data(f"csv:{tmp_path / 'one.csv'}")
    formats.write_folder(tmp_path / "singles", per_class=1)
    with pytest.raises(DataError, match=r"singles: 2 training and 0 test"):
        build_data(f"folder:{tmp_path / 'singles'}")


def test_a_csv_with_a_byte_order_mark_is_read(tmp_path, formats):
    for i in range(4):
        formats.write_png(tmp_path / f"{i}.png", value=i)
    text = "path,labels\n" + "".join(f"{i}.png,{'ab'[i % 2]}\n" for i in range(4))
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())  # Excel's "CSV UTF-8"
    b = build_data(f"csv:{tmp_path / 'bom.csv'}", image_size=8)
    assert b.class_names == ["a", "b"] and (len(b.train), len(b.test)) == (2, 2)


def test_empty_image_files_are_refused(tmp_path, formats):
    formats.write_mnist(tmp_path / "m", n_train=0)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: holds 0 images"):
        build_data(f"mnist:{tmp_path / 'm'}")
    import pickle

    (tmp_path / "data_batch_1").write_bytes(pickle.dumps({b"data": np.zeros((0, 3072), np.uint8), b"labels": []}, protocol=4))
    with pytest.raises(DataError, match=r"data_batch_1: holds 0 images"):
        read_python_batch(tmp_path / "data_batch_1", "labels")


def test_home_is_expanded_in_data_specs(tmp_path, monkeypatch, formats):
    monkeypatch.setenv("HOME", str(tmp_path))
    formats.write_folder(tmp_path / "ds")
    assert parse_data_spec("folder:~/ds") == ("folder", str(tmp_path / "ds"))
    assert build_data("folder:~/ds", image_size=8).class_names == ["cat", "dog"]


def test_an_idx_header_claiming_huge_sizes_reports_the_exact_product(tmp_path):
    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3]) + (2**32 - 1).to_bytes(4, "big") * 3 + b"\0" * 10)
    with pytest.raises(DataError, match=r"huge-idx3-ubyte: 26 bytes") as e:
        read_idx(path)
    assert f"needs {16 + (2**32 - 1) ** 3:,}" in str(e.value) and "12884901903" not in str(e.value).replace(",", "")
