"""Fire module: shapes, parameter count, bypass options."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.layers.fire import Fire


def test_output_is_concatenation_of_both_expand_paths():
    fire = Fire(96, 16, 64, 64)
    assert fire(torch.randn(2, 96, 13, 13)).shape == (2, 128, 13, 13)


def test_parameters_of_fire2():
    # Squeeze 96→16 (1×1), expand 16→64 (1×1) and 16→64 (3×3), with biases.
    fire = Fire(96, 16, 64, 64)
    n = sum(p.numel() for p in fire.parameters())
    assert n == (96 * 16 + 16) + (16 * 64 + 64) + (16 * 9 * 64 + 64)


def test_simple_bypass_needs_equal_widths():
    with pytest.raises(ValueError, match="complex"):
        Fire(96, 16, 64, 64, bypass="simple")


def test_complex_bypass_projects_where_widths_differ():
    fire = Fire(96, 16, 64, 64, bypass="complex")
    assert isinstance(fire.shortcut, torch.nn.Conv2d)
    assert fire.shortcut.kernel_size == (1, 1) and fire.shortcut.out_channels == 128
    same = Fire(128, 16, 64, 64, bypass="complex")
    assert isinstance(same.shortcut, torch.nn.Identity)


def test_unknown_bypass():
    with pytest.raises(ValueError, match="bypass"):
        Fire(8, 2, 4, 4, bypass="yes")
