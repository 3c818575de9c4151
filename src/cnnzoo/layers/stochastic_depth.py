"""Stochastic depth (and its per-sample form, "drop path" / "drop connect").

G. Huang, Y. Sun, Z. Liu, D. Sedra, K. Weinberger, "Deep Networks with
Stochastic Depth", ECCV 2016, arXiv:1603.09382.

During training a residual branch ``f_l`` survives with probability ``p_l``;
when it is dropped the block is the identity. The paper drops the branch for
the whole mini-batch and, at test time, scales it by ``p_l``
(``H_l = ReLU(p_l f_l(H_{l-1}) + id(H_{l-1}))``). EfficientNet and timm drop per
sample and divide by ``p_l`` during training instead ("inverted"), so test time
needs no change; both have the same expectation.

Linear decay rule (paper eq. 4): ``p_l = 1 − l/L · (1 − p_L)``; the expected
number of surviving blocks is ``Σ p_l``, ``(3L − 1)/4`` for ``p_L = 0.5``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def survival_probabilities(num_blocks: int, p_last: float, mode: str = "linear") -> list[float]:
    """``p_l`` for blocks ``l = 1..L``: linear decay to ``p_last`` or ``uniform``."""
    if not 0.0 < p_last <= 1.0:
        raise ValueError(f"the final survival probability must be in (0, 1]; got {p_last}")
    if mode == "linear":
        return [1.0 - l / num_blocks * (1.0 - p_last) for l in range(1, num_blocks + 1)]
    if mode == "uniform":
        return [p_last] * num_blocks
    raise ValueError(f"stochastic depth mode must be 'linear' or 'uniform'; got {mode!r}")


class StochasticDepth(nn.Module):
    """Keep a residual branch with probability ``survival``; ``(N, ...) -> (N, ...)``.

    Args:
        survival: ``p_l``; 1.0 makes the module the identity.
        mode: ``"batch"`` drops the branch for the whole mini-batch (the paper),
            ``"row"`` drops it per sample (EfficientNet's drop connect).
        inverted: divide by ``p_l`` during training and do nothing at test time;
            ``False`` (the paper) multiplies by ``p_l`` at test time instead.
    """

    def __init__(self, survival: float = 1.0, mode: str = "batch", inverted: bool = False) -> None:
        super().__init__()
        if not 0.0 < survival <= 1.0:
            raise ValueError(f"survival probability must be in (0, 1]; got {survival}")
        if mode not in ("batch", "row"):
            raise ValueError(f"mode must be 'batch' or 'row'; got {mode!r}")
        self.survival, self.mode, self.inverted = survival, mode, inverted

    def forward(self, branch: Tensor) -> Tensor:
        p = self.survival
        if p == 1.0:
            return branch
        if not self.training:
            return branch if self.inverted else branch * p
        shape = (1,) * branch.dim() if self.mode == "batch" else (branch.shape[0],) + (1,) * (branch.dim() - 1)
        keep = torch.empty(shape, dtype=branch.dtype, device=branch.device).bernoulli_(p)
        return branch * keep / p if self.inverted else branch * keep

    def extra_repr(self) -> str:
        return f"survival={self.survival}, mode={self.mode!r}, inverted={self.inverted}"
