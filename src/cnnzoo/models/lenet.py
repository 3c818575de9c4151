"""LeNet-5.

Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-Based Learning Applied to
Document Recognition", Proc. IEEE 86(11), 1998.

Reproduces the LeNet-5 layer table common in textbooks (and figure 2 of the paper)::

    INPUT  1@32×32
    C1     5×5 conv, 6 maps       → 6@28×28
    S2     2×2 subsampling, /2    → 6@14×14
    C3     5×5 conv, 16 maps      → 16@10×10
    S4     2×2 subsampling, /2    → 16@5×5
    C5     5×5 conv, 120 maps     → 120@1×1
    F6     fully connected        → 84
    OUTPUT fully connected        → 10

Parameters: 61,706 with every C3 map connected to all six S2 maps, 60,806 with
LeCun's partial connection table (Table I of the paper: 60 of the 96 map pairs).

Where this departs from the 1998 paper, and why:

* The output layer is a linear layer trained with softmax cross-entropy, not
  the paper's Euclidean radial basis units; every later CNN did the same.
* S2/S4 are plain average (or max) pooling. The paper's subsampling units add
  a trainable coefficient and bias per map (12 and 32 parameters); the usual
  counts of 61,706 / 60,806 leave them out, and so do we.
* The paper's squashing function is a scaled tanh, ``1.7159·tanh(2x/3)``; we
  offer plain ``tanh`` (the default), ``sigmoid`` (as many textbooks) and
  ``relu`` (as every network after AlexNet).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnzoo.layers.input_check import check_input_size, is_symbolic
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.registry import register_model

__all__ = ["LeNet5", "PartialConv2d", "LECUN_C3_TABLE", "lenet5"]

# Table I of LeCun et al. 1998: which S2 maps (0–5) each C3 map (0–15) reads.
# Six maps read 3 contiguous inputs, six read 4 contiguous, three read 4
# non-contiguous, and the last reads all six. The paper's reason: break the
# symmetry between maps and keep the number of connections in bounds.
LECUN_C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip

_ACTIVATIONS = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "relu": nn.ReLU}
_POOLS = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}


class PartialConv2d(nn.Module):
    """A convolution in which output map ``j`` sees only the input maps ``table[j]``.

    One small convolution per output map, so the parameter count is exactly
    that of the connections that exist (LeNet-5's C3: 1,516 instead of 2,416).

    Shapes: ``(N, C_in, H, W) -> (N, len(table), H - k + 1, W - k + 1)``.
    """

    def __init__(self, table: tuple[tuple[int, ...], ...], kernel_size: int) -> None:
        super().__init__()
        self.table = tuple(tuple(t) for t in table)
        self.convs = nn.ModuleList(nn.Conv2d(len(t), 1, kernel_size) for t in self.table)
        for j, t in enumerate(self.table):
            self.register_buffer(f"index_{j}", torch.tensor(t), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        outs = [
            conv(x.index_select(1, getattr(self, f"index_{j}")))
            for j, conv in enumerate(self.convs)
        ]
        return torch.cat(outs, dim=1)


class LeNet5(ClassifierInterface, nn.Module):
    """LeNet-5: ``(N, in_chans, 32, 32) -> (N, num_classes)``.

    Args:
        num_classes: size of the output layer (10 digits in the paper).
        in_chans: input channels (1 in the paper).
        activation: ``"tanh"`` (default), ``"sigmoid"`` or ``"relu"``.
        pool: subsampling in S2/S4, ``"avg"`` (the paper) or ``"max"``.
        c3_table: ``"full"`` (every C3 map reads all six S2 maps) or
            ``"partial"`` (LeCun's Table I).
    """

    input_size = 32
    classifier_names = ("classifier.output",)

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        activation: str = "tanh",
        pool: str = "avg",
        c3_table: str = "full",
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}; got {activation!r}")
        if pool not in _POOLS:
            raise ValueError(f"pool must be one of {sorted(_POOLS)}; got {pool!r}")
        if c3_table not in ("full", "partial"):
            raise ValueError(f"c3_table must be 'full' or 'partial'; got {c3_table!r}")
        act, pool_cls = _ACTIVATIONS[activation], _POOLS[pool]
        self.in_chans = in_chans
        c3: nn.Module = (
            nn.Conv2d(6, 16, 5) if c3_table == "full" else PartialConv2d(LECUN_C3_TABLE, 5)
        )
        self.features = nn.Sequential()
        self.features.add_module("c1", nn.Conv2d(in_chans, 6, 5))
        self.features.add_module("act1", act())
        self.features.add_module("s2", pool_cls(2, 2))
        self.features.add_module("c3", c3)
        self.features.add_module("act3", act())
        self.features.add_module("s4", pool_cls(2, 2))
        self.features.add_module("c5", nn.Conv2d(16, 120, 5))
        self.features.add_module("act5", act())
        self.classifier = nn.Sequential()
        self.classifier.add_module("f6", nn.Linear(120, 84))
        self.classifier.add_module("act6", act())
        self.classifier.add_module("output", nn.Linear(84, num_classes))

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, 32, 32) -> (N, 120, 1, 1)``: C1 to C5 (with its squashing)."""
        check_input_size(x, 32, "lenet5", self.in_chans)
        if not is_symbolic(x) and x.shape[-2:] != (32, 32):
            # C5 is a 5×5 conv that must land on 1×1 for F6; the paper pads 28×28
            # MNIST digits to 32×32 for exactly this reason.
            raise ValueError(
                f"lenet5 takes 32×32 inputs (pad 28×28 MNIST by 2 as the paper does); "
                f"got {x.shape[-2]}×{x.shape[-1]}"
            )
        return self.features(x)  # N x 120 x 1 x 1

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, 120, 1, 1) -> (N, num_classes)``: F6 and the output layer."""
        return self.classifier(torch.flatten(features, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model(
    family="LeNet",
    paper="LeCun et al. 1998, Proc. IEEE 86(11)",
    year=1998,
    input_size=(1, 32, 32),
    min_size=32,
    params="61,706",
    test_size=(1, 32, 32),
)
def lenet5(**kwargs) -> LeNet5:
    """LeNet-5 (the textbook table): 61,706 parameters, 60,806 with ``c3_table="partial"``."""
    return LeNet5(**kwargs)
