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


@pytest.mark.parametrize("n", [1, 2, 4, 5, 7])
@pytest.mark.parametrize("shape", [(2, 9, 4, 5), (3, 16, 7, 3), (1, 3, 6), (2, 6, 2, 3, 4)])
def test_equals_torch_forward_and_gradient(n, shape):
    # Same function as F.local_response_norm (α scaled by n), computed differently: within 1e-6.
    torch.manual_seed(n)
    x = (torch.randn(shape) * 30).requires_grad_()
    g = torch.randn(shape)
    ours = LocalResponseNorm(n, alpha=1e-3, beta=0.75, k=2.0)(x)
    (grad,) = torch.autograd.grad(ours, x, g)
    theirs = torch.nn.functional.local_response_norm(x, n, alpha=1e-3 * n, beta=0.75, k=2.0)
    (their_grad,) = torch.autograd.grad(theirs, x, g)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6 * theirs.abs().max().item())
    torch.testing.assert_close(grad, their_grad, rtol=1e-6, atol=1e-6 * their_grad.abs().max().item())
    with torch.no_grad():  # the inference path (no autograd node) computes the same
        torch.testing.assert_close(LocalResponseNorm(n, alpha=1e-3)(x), ours.detach(), rtol=1e-6, atol=0)


def test_gradient_against_finite_differences():
    torch.manual_seed(0)
    x = (torch.randn(1, 6, 2, 2, dtype=torch.float64) * 30).requires_grad_()
    assert torch.autograd.gradcheck(LocalResponseNorm(4, alpha=1e-3, beta=0.75, k=1.0), (x,))


@pytest.mark.parametrize("n", [3, 4])
def test_groups_normalise_each_group_on_its_own(n):
    torch.manual_seed(0)
    x = (torch.randn(2, 12, 3, 3) * 30).requires_grad_()
    grouped = LocalResponseNorm(n, alpha=1e-3, groups=3)(x)
    apart = torch.cat([LocalResponseNorm(n, alpha=1e-3)(part) for part in x.split(4, 1)], 1)
    torch.testing.assert_close(grouped, apart, rtol=1e-6, atol=0)
    g = torch.randn_like(x)
    torch.testing.assert_close(*(torch.autograd.grad(y, x, g)[0] for y in (grouped, apart)), rtol=1e-6, atol=1e-9)
    # ... which is not LRN across all 12 channels: the windows at the group edges differ.
    assert not torch.allclose(grouped, LocalResponseNorm(n, alpha=1e-3)(x), rtol=1e-4)
    with pytest.raises(ValueError, match="groups=5"):
        LocalResponseNorm(n, groups=5)(x)
