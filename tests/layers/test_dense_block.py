"""Dense blocks: channel growth, connectivity, transitions."""

from __future__ import annotations

import torch

from cnnzoo.layers.dense_block import DenseBlock, DenseLayer, Transition


def test_block_adds_growth_rate_channels_per_layer():
    block = DenseBlock(5, 16, growth_rate=12)
    assert block.out_chans == 16 + 5 * 12
    assert block(torch.randn(2, 16, 6, 6)).shape == (2, 76, 6, 6)
    # Layer ℓ reads c0 + ℓ·k channels.
    assert [layer.norm1.num_features for layer in block.values()] == [16, 28, 40, 52, 64]


def test_block_output_starts_with_its_input_unchanged():
    # Feature reuse: the block input is passed on, concatenated, not transformed.
    block = DenseBlock(3, 8, growth_rate=4).eval()
    x = torch.randn(1, 8, 5, 5)
    torch.testing.assert_close(block(x)[:, :8], x)


def test_every_layer_sees_every_earlier_feature_map():
    # The output of layer 3 depends on the output of layer 1 (a direct connection).
    torch.manual_seed(0)
    block = DenseBlock(3, 4, growth_rate=2, bottleneck=False).eval()
    x = torch.randn(1, 4, 5, 5)
    layers = list(block.values())
    f1 = layers[0]([x])
    f2 = layers[1]([x, f1])
    f3 = layers[2]([x, f1, f2])
    torch.testing.assert_close(block(x), torch.cat([x, f1, f2, f3], 1))
    # Zeroing f1's columns in layer 3's first conv changes the result: it reads f1.
    with torch.no_grad():
        layers[2].conv1.weight[:, 4:6] = 0
    assert not torch.allclose(layers[2]([x, f1, f2]), f3)


def test_bottleneck_width_is_four_k():
    layer = DenseLayer(64, growth_rate=32, bottleneck=True)
    assert layer.conv1.out_channels == 128 and layer.conv1.kernel_size == (1, 1)
    assert layer.conv2.out_channels == 32 and layer.conv2.kernel_size == (3, 3)


def test_transition_halves_resolution_and_sets_channels():
    t = Transition(64, 32)
    assert t(torch.randn(2, 64, 9, 9)).shape == (2, 32, 4, 4)
