"""``formats``: writers of small files in each real data format (see ``formats.py``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("cnnzoo_test_formats", Path(__file__).with_name("formats.py"))
formats_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(formats_module)


@pytest.fixture
def formats():
    return formats_module
