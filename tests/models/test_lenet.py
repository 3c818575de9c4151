"""LeNet-5 against the textbook layer table and LeCun et al. 1998."""

import pytest
import torch

import cnnzoo
from cnnzoo.models.lenet import LECUN_C3_TABLE


def _count(m):
    return sum(p.numel() for p in m.parameters())


def test_parameter_counts_full_and_partial_c3():
    assert _count(cnnzoo.create("lenet5")) == 61_706
    assert _count(cnnzoo.create("lenet5", c3_table="partial")) == 60_806


def test_layer_output_sizes_follow_the_seed_table():
    m = cnnzoo.create("lenet5").eval()
    x = torch.randn(1, 1, 32, 32)
    shapes = {}
    for name, layer in m.features.named_children():
        x = layer(x)
        shapes[name] = tuple(x.shape[1:])
    assert shapes["c1"] == (6, 28, 28)
    assert shapes["s2"] == (6, 14, 14)
    assert shapes["c3"] == (16, 10, 10)
    assert shapes["s4"] == (16, 5, 5)
    assert shapes["c5"] == (120, 1, 1)
    assert m.classifier.f6.out_features == 84
    assert m(torch.randn(3, 1, 32, 32)).shape == (3, 10)


def test_lecun_table_has_60_connections_and_is_respected():
    assert sum(len(t) for t in LECUN_C3_TABLE) == 60
    m = cnnzoo.create("lenet5", c3_table="partial").eval()
    c3 = m.features.c3
    x = torch.randn(1, 6, 14, 14, requires_grad=True)
    out = c3(x)
    # C3 map 0 reads S2 maps 0, 1, 2 only: its gradient w.r.t. maps 3–5 is zero.
    out[0, 0].sum().backward()
    g = x.grad[0].abs().sum(dim=(1, 2))
    assert (g[:3] > 0).all() and (g[3:] == 0).all()


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
@pytest.mark.parametrize("pool", ["avg", "max"])
def test_options_build_and_run(activation, pool):
    m = cnnzoo.create("lenet5", activation=activation, pool=pool)
    assert m(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    assert _count(m) == 61_706  # neither option adds parameters


def test_bad_options_and_inputs():
    with pytest.raises(ValueError, match="activation"):
        cnnzoo.create("lenet5", activation="gelu")
    with pytest.raises(ValueError, match="32"):
        cnnzoo.create("lenet5")(torch.randn(1, 1, 28, 28))
    with pytest.raises(ValueError, match="32×32"):
        cnnzoo.create("lenet5")(torch.randn(1, 1, 40, 40))
    with pytest.raises(ValueError, match="channel"):
        cnnzoo.create("lenet5")(torch.randn(1, 3, 32, 32))
