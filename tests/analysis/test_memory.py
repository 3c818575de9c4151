"""Activation memory: forward outputs, and what autograd keeps for training."""

from __future__ import annotations

from torch import nn

from cnnzoo.analysis import analyze
from cnnzoo.layers.dense_block import DenseBlock


def test_forward_bytes_are_the_outputs():
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
    r = analyze(model, (3, 32, 32), batch_size=2)
    conv, relu, pool = r.layers
    assert conv.activation_bytes == relu.activation_bytes == 2 * 16 * 32 * 32 * 4
    assert pool.activation_bytes == 2 * 16 * 16 * 16 * 4
    assert (
        r.activation_bytes == conv.activation_bytes + relu.activation_bytes + pool.activation_bytes
    )


def test_training_bytes_of_a_conv_relu_stack():
    # autograd keeps the conv input (for the weight gradient) and the ReLU
    # output (for its own gradient); the weights are not activations.
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU())
    r = analyze(model, (3, 32, 32))
    assert r.training_bytes == (3 + 16) * 32 * 32 * 4


def _dense_training_bytes(layers: int, memory_efficient: bool) -> int:
    block = DenseBlock(
        layers, 16, 8, bottleneck=True, bn_size=4, drop_rate=0.0, memory_efficient=memory_efficient
    )
    return analyze(block, (16, 16, 16)).training_bytes


def test_naive_densenet_memory_grows_quadratically():
    # Each naive layer saves the concatenation of all earlier maps for its BN:
    # the second difference in depth is constant and positive (quadratic); the
    # memory-efficient block recomputes it and grows linearly.
    naive = [_dense_training_bytes(n, False) for n in (4, 8, 12)]
    efficient = [_dense_training_bytes(n, True) for n in (4, 8, 12)]
    assert naive[2] - 2 * naive[1] + naive[0] > 0
    second = efficient[2] - 2 * efficient[1] + efficient[0]
    assert abs(second) < 0.05 * (efficient[2] - efficient[0])
    assert efficient[2] < naive[2]
