"""Local response normalisation against AlexNet's formula written out (§3.3)."""

import pytest
import torch

from cnnzoo.layers.lrn import LocalResponseNorm


def _lrn_by_the_formula(a: torch.Tensor, n: int, alpha: float, beta: float, k: float) -> torch.Tensor:
    # b^i = a^i / (k + α Σ_{j=max(0, i−n/2)}^{min(N−1, i+n/2)} (a^j)²)^β, channel by channel.
    num_channels = a.shape[1]
    b = torch.empty_like(a)
    for i in range(num_channels):
        lo, hi = max(0, i - n // 2), min(num_channels - 1, i + n // 2)
        energy = sum(a[:, j] ** 2 for j in range(lo, hi + 1))
        b[:, i] = a[:, i] / (k + alpha * energy) ** beta
    return b


@pytest.mark.parametrize("n", [3, 5])
def test_matches_the_papers_formula(n):
    torch.manual_seed(0)
    a = torch.randn(2, 9, 4, 5, dtype=torch.float64) * 30  # large enough that the sum matters
    alpha, beta, k = 1e-3, 0.75, 2.0
    ours = LocalResponseNorm(n, alpha=alpha, beta=beta, k=k)(a)
    assert torch.allclose(ours, _lrn_by_the_formula(a, n, alpha, beta, k))
    assert not torch.allclose(ours, a / k**beta)  # the neighbours really enter


def test_alexnet_constants_by_default():
    lrn = LocalResponseNorm()
    assert (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (5, 1e-4, 0.75, 2.0)
    a = torch.randn(1, 7, 3, 3, dtype=torch.float64) * 100
    assert torch.allclose(lrn(a), _lrn_by_the_formula(a, 5, 1e-4, 0.75, 2.0))


def test_torch_and_caffe_scale_alpha_by_n():
    a = torch.randn(2, 8, 3, 3) * 50
    ours = LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)(a)
    theirs = torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)(a)
    assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_has_no_parameters_and_keeps_shape():
    lrn = LocalResponseNorm()
    assert not list(lrn.parameters())
    assert lrn(torch.randn(3, 4, 5, 6)).shape == (3, 4, 5, 6)


@pytest.mark.parametrize("kwargs", [{"size": 0}, {"alpha": -1.0}, {"k": 0.0}, {"beta": -0.5}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="LRN"):
        LocalResponseNorm(**kwargs)
