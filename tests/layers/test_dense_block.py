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


def _saved_bytes(block: DenseBlock, x: torch.Tensor) -> int:
    """Bytes autograd keeps for backward after ``block(x)``, each storage once, weights excluded."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = block(x)
    weights = {p.untyped_storage().data_ptr() for p in block.parameters()}
    total = sum(n for ptr, n in storages.items() if ptr not in weights)
    del out
    return total


def test_saved_memory_is_quadratic_in_layers_plain_and_linear_memory_efficient():
    # Pleiss et al. 2017 (arXiv:1707.06990): a naive dense block keeps O(L²)
    # feature maps, the shared-storage (memory-efficient) one O(L). One more
    # layer adds a constant amount in the linear case; in the quadratic case
    # the increase itself grows by a constant.
    x = torch.randn(2, 8, 6, 6, requires_grad=True)
    for efficient, quadratic in ((False, True), (True, False)):
        saved = [
            _saved_bytes(DenseBlock(n, 8, growth_rate=4, memory_efficient=efficient).train(), x)
            for n in (2, 3, 4, 5, 6)
        ]
        first = [b - a for a, b in zip(saved, saved[1:])]
        second = [b - a for a, b in zip(first, first[1:])]
        assert all(d > 0 for d in first)
        if quadratic:
            # Layer ℓ stores its (c0 + ℓk)-channel concatenation and the BN/ReLU
            # output on it: 2·k·H·W·N·4 bytes more than layer ℓ − 1 (plus BN's
            # per-channel statistics, a few bytes).
            assert second[0] == second[1] == second[2]
            assert 2 * 4 * 6 * 6 * 2 * 4 <= second[0] < 1.1 * 2 * 4 * 6 * 6 * 2 * 4
        else:
            assert second == [0, 0, 0]
