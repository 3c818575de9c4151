"""Seeded validation split and class subsets."""

from __future__ import annotations

import pytest

from cnnzoo.data import build_data
from cnnzoo.data.split import carve_validation, dataset_targets, select_classes, stratified_split


def test_stratified_split_is_seeded_and_per_class():
    labels = [0] * 50 + [1] * 30
    keep, held = stratified_split(labels, 0.1, seed=3)
    assert (keep, held) == stratified_split(labels, 0.1, seed=3)
    assert sorted(keep + held) == list(range(80))
    assert sum(labels[i] == 0 for i in held) == 5 and sum(labels[i] == 1 for i in held) == 3
    assert held != stratified_split(labels, 0.1, seed=4)[1]
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        stratified_split(labels, 1.5, 0)


def test_carve_validation_on_digits():
    b = carve_validation(build_data("digits"), 0.1, seed=0)
    assert len(b.train) + len(b.val) == 1347 and abs(len(b.val) - 135) <= 5
    assert not set(b.train.indices) & set(b.val.indices)


def test_select_classes_relabels():
    b = select_classes(build_data("digits"), [7, 3])
    assert b.num_classes == 2 and b.class_names == ["7", "3"]
    assert set(dataset_targets(b.train)) == {0, 1}
    with pytest.raises(ValueError, match="--classes"):
        select_classes(build_data("digits"), [3, 3])
