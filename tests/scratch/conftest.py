"""Shared by the NumPy-engine tests: torch (float64 autograd) as the oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

TOL = 1e-10  # float64 forward and backward against torch's autograd


def torch_reference(fn, *arrays, dout: np.ndarray | None = None, seed: int = 2**20 + 7):
    """Run ``fn`` on float64 tensors; return ``(out, dout, grads)`` with one grad per float array.

    The default ``dout`` comes from a seed outside the tests' data seeds (0 … 2**16): drawn
    from the same seed as the input, ``dout`` would be an affine function of ``x``, which a
    normalisation layer's gradient maps to exactly zero.
    """
    tensors = [
        torch.tensor(a, requires_grad=True) if np.asarray(a).dtype.kind == "f" else torch.tensor(a)
        for a in arrays
    ]
    out = fn(*tensors)
    if dout is None:
        dout = np.random.default_rng(seed).standard_normal(tuple(out.shape))
    out.backward(torch.tensor(dout, dtype=out.dtype))
    grads = [t.grad.numpy() if t.grad is not None else None for t in tensors]
    return out.detach().numpy(), dout, grads


@pytest.fixture(scope="session")
def torch_ref():
    return torch_reference


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """The engine's matrices are small: one BLAS/torch thread is faster than two fighting
    over shared cores, and results do not depend on the thread count."""
    from threadpoolctl import threadpool_limits

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(old)
