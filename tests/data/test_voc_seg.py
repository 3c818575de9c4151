"""``voc-seg:DIR`` and ``mask-pairs:DIR``: small files written in those formats, good and bad."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnzoo.data.datasets import DataError, build_data
from cnnzoo.data.voc_seg import VOC_CLASSES, voc_palette


def _palette_png(path: Path, labels: np.ndarray) -> None:
    im = Image.fromarray(labels.astype(np.uint8), mode="P")
    im.putpalette(voc_palette().flatten().tolist())
    im.save(path)


def _labels(h: int = 30, w: int = 40) -> np.ndarray:
    labels = np.zeros((h, w), np.uint8)
    labels[5:20, 10:30] = 15  # a person
    labels[5:20, 9] = 255  # VOC's void border
    return labels


def _voc(root: Path, names=("2007_000032", "2007_000039")) -> Path:
    for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(np.full((30, 40, 3), 120, np.uint8)).save(root / "JPEGImages" / f"{name}.jpg")
        _palette_png(root / "SegmentationClass" / f"{name}.png", _labels())
    (root / "ImageSets/Segmentation/train.txt").write_text(f"{names[0]}\n")
    (root / "ImageSets/Segmentation/val.txt").write_text(f"{names[1]}\n")
    return root


def test_voc_palette_is_the_devkit_colormap():
    p = voc_palette()
    assert p[1].tolist() == [128, 0, 0] and p[15].tolist() == [192, 128, 128] and p[255].tolist() == [224, 224, 192]
    assert len(VOC_CLASSES) == 21 and VOC_CLASSES[15] == "person"


def test_voc_reader_reads_indices_void_and_resizes_nearest(tmp_path):
    bundle = build_data(f"voc-seg:{_voc(tmp_path)}", image_size=24)
    assert bundle.task == "segmentation" and bundle.num_classes == 21 and bundle.in_chans == 3
    x, y = bundle.train[0]
    assert x.shape == (3, 24, 24) and y.shape == (24, 24) and y.dtype.is_floating_point is False
    assert abs(float(x.mean()) - 120 / 255) < 0.02  # JPEG, so nearly
    assert set(y.unique().tolist()) <= {0, 15, 255} and (y == 15).any() and (y == 255).any()  # nearest: no blends
    assert len(bundle.test) == 1


def test_voc_reader_refuses_bad_files_in_one_line(tmp_path):
    root = _voc(tmp_path)
    (root / "ImageSets/Segmentation/val.txt").write_text("missing_one\n")
    with pytest.raises(DataError, match=r"missing_one\.jpg: file not found .*line 1 of .*val\.txt") as e:
        build_data(f"voc-seg:{root}")
    assert "\n" not in str(e.value)
    (root / "ImageSets/Segmentation/val.txt").write_text("2007_000039\n")
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(root / "SegmentationClass" / "2007_000039.png")  # RGB, not indices
    with pytest.raises(DataError, match=r"2007_000039\.png: a RGB image; expected a mask of class indices"):
        build_data(f"voc-seg:{root}")
    _palette_png(root / "SegmentationClass" / "2007_000039.png", np.zeros((31, 40)))
    with pytest.raises(DataError, match=r"40×31 pixels; expected the size of 2007_000039\.jpg, 40×30"):
        build_data(f"voc-seg:{root}")
    _palette_png(root / "SegmentationClass" / "2007_000039.png", np.full((30, 40), 42))
    bundle = build_data(f"voc-seg:{root}")
    with pytest.raises(DataError, match=r"label 42; expected 0\.\.20 or 255"):
        bundle.test[0]
    with pytest.raises(DataError, match="ImageSets/Segmentation/train.txt"):
        build_data(f"voc-seg:{tmp_path / 'nowhere'}")


def _pairs(root: Path) -> Path:
    for split in ("train", "test"):
        (root / split / "images").mkdir(parents=True)
        (root / split / "masks").mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((20, 20), 60 * i, np.uint8)).save(root / split / "images" / f"cell{i}.png")
            labels = np.zeros((20, 20), np.uint8)
            labels[5:15, 5:15] = 1 + i  # classes 0, 1, 2 in training
            Image.fromarray(labels, mode="L").save(root / split / "masks" / f"cell{i}.png")
    return root


def test_mask_pairs_match_by_stem_and_count_classes(tmp_path):
    bundle = build_data(f"mask-pairs:{_pairs(tmp_path)}", image_size=10)
    assert bundle.num_classes == 3 and bundle.in_chans == 1 and len(bundle.train) == 2
    x, y = bundle.train[1]
    assert x.shape == (1, 10, 10) and y.shape == (10, 10) and set(y.unique().tolist()) == {0, 2}


def test_mask_pairs_refuse_a_lone_file_in_one_line(tmp_path):
    root = _pairs(tmp_path)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(root / "train" / "images" / "orphan.png")
    with pytest.raises(DataError, match=r"orphan\.png: no file with the stem 'orphan' in .*masks"):
        build_data(f"mask-pairs:{root}")
    with pytest.raises(DataError, match=r"images: directory not found"):
        build_data(f"mask-pairs:{tmp_path / 'empty'}")
