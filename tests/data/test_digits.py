"""The embedded digits data set and the ``--data`` spec parser."""

import numpy as np
import pytest

from cnnzoo.data import DataError, build_data, list_datasets, parse_data_spec
from cnnzoo.data.digits import load_digits_arrays


def test_split_is_the_documented_one():
    a = load_digits_arrays(size=8)
    # train_test_split(test_size=0.25, random_state=0, stratify=y) on 1,797 digits
    assert len(a.y_train) == 1347 and len(a.y_test) == 450
    assert a.x_train.shape == (1347, 1, 8, 8)
    # stratified: every class keeps its share within one sample
    for c in range(10):
        share = (a.y_train == c).mean()
        assert abs((a.y_test == c).mean() - share) < 2 / 450


def test_resized_to_32_and_scaled_to_unit_range():
    a = load_digits_arrays(size=32)
    assert a.x_train.shape[1:] == (1, 32, 32) and a.x_train.dtype == np.float32
    assert a.x_train.min() >= 0.0 and a.x_train.max() <= 1.0
    b = load_digits_arrays(size=32)
    np.testing.assert_array_equal(a.x_test, b.x_test)


def test_bundle_describes_the_data():
    b = build_data("digits")
    assert (b.num_classes, b.in_chans, b.image_size) == (10, 1, (32, 32))
    x, y = b.train[0]
    assert tuple(x.shape) == (1, 32, 32) and 0 <= int(y) < 10
    assert "digits" in list_datasets()


def test_bad_specs_are_clear():
    with pytest.raises(DataError, match="did you mean digits"):
        parse_data_spec("digit")
    with pytest.raises(DataError, match="takes no path"):
        parse_data_spec("digits:/tmp/x")
