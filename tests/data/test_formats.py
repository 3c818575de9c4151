"""Each on-disk format read from small files written in the real format, and its errors."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest
import torch

from cnnzoo.data import DataError, build_data
from cnnzoo.data.cifar import read_python_batch
from cnnzoo.data.idx import read_idx


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_padded_to_32(tmp_path, gz, formats):
    formats.write_mnist(tmp_path, gz=gz)
    b = build_data(f"mnist:{tmp_path}")
    assert (len(b.train), len(b.test), b.num_classes, b.in_chans, b.image_size) == (40, 20, 10, 1, (32, 32))
    x, y = b.train[3]
    assert x.shape == (1, 32, 32) and x.dtype == torch.float32 and int(y) == 3
    # LeCun et al. 1998: the 28x28 image centred in a 32x32 field, a 2-pixel zero border.
    assert x[:, :2].abs().sum() == 0 and x[:, :, -2:].abs().sum() == 0
    assert x[0, 2 + 2 + 2 * 3, 2 + 5] == 1.0


def test_fashion_mnist_has_its_class_names(tmp_path, formats):
    formats.write_mnist(tmp_path)
    b = build_data(f"fashion-mnist:{tmp_path}")
    assert b.class_names[0] == "T-shirt/top" and b.class_names[9] == "Ankle boot"


def test_idx_errors_name_the_file(tmp_path, formats):
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x12\x34\x08\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(DataError, match=r"bad-idx.*magic"):
        read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(formats.idx_bytes(np.zeros((4, 28, 28), np.uint8))[:-10])
    with pytest.raises(DataError, match=r"short.*truncated"):
        read_idx(short)
    broken_gz = tmp_path / "x.gz"
    broken_gz.write_bytes(gzip.compress(b"0" * 100)[:20])
    with pytest.raises(DataError, match=r"x\.gz"):
        read_idx(broken_gz)
    formats.write_mnist(tmp_path / "m")
    os.remove(tmp_path / "m" / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        build_data(f"mnist:{tmp_path / 'm'}")
    with pytest.raises(DataError, match="not a directory"):
        build_data(f"mnist:{tmp_path / 'nowhere'}")


def test_cifar10_binary_and_python_agree(tmp_path, formats):
    a = build_data(f"cifar10:{formats.write_cifar10_binary(tmp_path / 'cifar-10-batches-bin')}")
    b = build_data(f"cifar10:{formats.write_cifar10_python(tmp_path / 'py' / 'cifar-10-batches-py')}")
    c = build_data(f"cifar10:{tmp_path / 'py'}")  # the parent of the extracted directory works too
    assert (len(a.train), len(a.test), a.num_classes, a.in_chans, a.image_size) == (30, 6, 10, 3, (32, 32))
    for i in (0, 7, 29):
        assert torch.equal(a.train[i][0], b.train[i][0]) and int(a.train[i][1]) == int(b.train[i][1])
    assert torch.equal(b.test[5][0], c.test[5][0])
    assert a.class_names[0] == "airplane" and a.meta["aug"] == "cifar"
    # Record layout: label byte, then 1024 red, 1024 green, 1024 blue, rows of 32.
    raw = np.fromfile(tmp_path / "cifar-10-batches-bin" / "data_batch_1.bin", np.uint8)
    assert a.train[0][0][1, 0, 5] == raw[1 + 1024 + 5] / 255.0


def test_cifar100_binary_uses_fine_labels(tmp_path, formats):
    b = build_data(f"cifar100:{formats.write_cifar100_binary(tmp_path)}")
    assert b.num_classes == 100 and [int(b.train[i][1]) for i in range(3)] == [0, 1, 2]


def test_cifar_short_batch_is_refused(tmp_path, formats):
    d = formats.write_cifar10_binary(tmp_path)
    data = (d / "data_batch_3.bin").read_bytes()
    (d / "data_batch_3.bin").write_bytes(data[:-100])
    with pytest.raises(DataError, match=r"data_batch_3\.bin.*3073-byte records"):
        build_data(f"cifar10:{d}")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo owned",))


def test_cifar_pickle_with_foreign_object_is_refused(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [_Evil()]}, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_1.*refused global (posix|os|nt)\.system"):
        read_python_batch(path, "labels")
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 5), np.float64), b"labels": [0, 1]}, protocol=2))
    with pytest.raises(DataError, match=r"uint8 array of shape \(N, 3072\)"):
        read_python_batch(path, "labels")


def test_folder_tree_rgb_and_grey(tmp_path, formats):
    b = build_data(f"folder:{formats.write_folder(tmp_path / 'rgb')}", default_size=12)
    assert b.class_names == ["cat", "dog"] and b.in_chans == 3 and b.image_size == (12, 12)
    assert len(b.train) + len(b.test) == 10 and len(b.test) == 2  # 20% of each class
    assert b.train[0][0].shape == (3, 12, 12)
    g = build_data(f"folder:{formats.write_folder(tmp_path / 'grey', mode='L')}", image_size=8)
    assert g.in_chans == 1 and g.train[0][0].shape == (1, 8, 8)


def test_folder_with_train_and_test(tmp_path, formats):
    formats.write_folder(tmp_path / "train")
    formats.write_folder(tmp_path / "test", per_class=2)
    b = build_data(f"folder:{tmp_path}")
    assert (len(b.train), len(b.test)) == (10, 4)


def test_folder_errors(tmp_path, formats):
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match=r"empty.*no image files"):
        build_data(f"folder:{tmp_path / 'empty'}")
    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match="no class sub-directories"):
        build_data(f"folder:{tmp_path / 'none'}")
    d = formats.write_folder(tmp_path / "bad")
    (d / "cat" / "0.png").write_bytes(b"this is not a png")
    with pytest.raises(DataError, match=r"0\.png.*not an image"):
        b = build_data(f"folder:{d}")
        [b.train[i] for i in range(len(b.train))]


def test_csv_manifest_multilabel(tmp_path, formats):
    for i in range(6):
        formats.write_png(tmp_path / "img" / f"{i}.png", size=10, value=i)
    rows = ["path,labels,split"] + [f"img/{i}.png,{'cat;outdoor' if i % 2 else 'dog'},{'test' if i >= 4 else 'train'}" for i in range(6)]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    b = build_data(f"csv:{tmp_path / 'm.csv'}", default_size=10)
    assert b.task == "multilabel" and b.class_names == ["cat", "dog", "outdoor"]
    assert (len(b.train), len(b.test)) == (4, 2)
    x, t = b.train[1]
    assert x.shape == (3, 10, 10) and t.tolist() == [1.0, 0.0, 1.0]


def test_csv_manifest_single_label_and_errors(tmp_path, formats):
    for i in range(10):
        formats.write_png(tmp_path / f"{i}.png", size=10, value=i)
    (tmp_path / "s.csv").write_text("path,labels\n" + "".join(f"{i}.png,{'a' if i < 5 else 'b'}\n" for i in range(10)))
    b = build_data(f"csv:{tmp_path / 's.csv'}")
    assert b.task == "classification" and (len(b.train), len(b.test)) == (8, 2)
    (tmp_path / "h.csv").write_text("file,label\nx.png,a\n")
    with pytest.raises(DataError, match=r"h\.csv.*expected columns path,labels"):
        build_data(f"csv:{tmp_path / 'h.csv'}")
    (tmp_path / "e.csv").write_text("path,labels\n0.png,\n")
    with pytest.raises(DataError, match=r"e\.csv:2"):
        build_data(f"csv:{tmp_path / 'e.csv'}")
