"""Residual units: the basic block, the bottleneck, and the orderings of pre-activation.

K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition",
CVPR 2016, arXiv:1512.03385 (figure 2: basic block; figure 5: bottleneck;
§3.3: shortcut options A/B/C).
K. He, X. Zhang, S. Ren, J. Sun, "Identity Mappings in Deep Residual Networks",
ECCV 2016, arXiv:1603.05027 (figure 4: where BN and ReLU go).

A unit computes ``post(shortcut(x) + branch(preact(x)))``. The branch is a
stack of weight layers (two 3×3 convs, or 1×1 – 3×3 – 1×1); the ``unit``
letter of He et al. 2016b, figure 4, decides where BN and ReLU sit:

====  =========================  ===========================================
unit  name                       layout (``W`` = weight layer)
====  =========================  ===========================================
a     original                   ``W BN ReLU … W BN``, add, ``ReLU``
b     BN after addition          ``W BN ReLU … W``, add, ``BN ReLU``
c     ReLU before addition       ``W BN ReLU … W BN ReLU``, add
d     ReLU-only pre-activation   ``ReLU W BN ReLU … W BN``, add
e     full pre-activation        ``BN ReLU W BN ReLU … W``, add (ResNet v2)
====  =========================  ===========================================

Shortcut options (§3.3 of the first paper): ``"A"`` zero-pads the identity to
the new width and subsamples it by taking every ``stride``-th pixel (no
parameters), ``"B"`` projects (1×1 conv + BN) only where the shape changes,
``"C"`` projects in every unit. ``shortcut=None`` removes the shortcut: the
"plain" networks of the degradation experiment. In a pre-activation unit (e) a
projection reads the pre-activated input and has no BN of its own, as in the
authors' code; an identity shortcut always carries the raw ``x``.

How the shortcut joins the branch (``shortcut_variant``: constant scaling,
exclusive and shortcut-only gating, dropout; He et al. 2016b, figure 2) is
described in :mod:`cnnzoo.layers.shortcut_variants`; the normalisation
(``norm_layer``: batch, group, layer, instance) in :mod:`cnnzoo.layers.norm`.
The defaults are the plain sum and batch normalisation.

Stochastic depth (Huang et al. 2016, arXiv:1603.09382): a unit with survival
``p_l < 1`` skips its branch entirely for the whole mini-batch with probability
``1 − p_l`` during training (no compute is spent on it) and scales the branch
by ``p_l`` at test time, through :class:`~cnnzoo.layers.stochastic_depth.StochasticDepth`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnzoo.layers.norm import NORM_TYPES, check_norm, make_norm
from cnnzoo.layers.shortcut_variants import make_combine
from cnnzoo.layers.stochastic_depth import StochasticDepth

__all__ = [
    "ORDERINGS",
    "SHORTCUT_OPTIONS",
    "BasicBlock",
    "Bottleneck",
    "ResidualUnit",
    "ZeroPadShortcut",
    "make_shortcut",
]

ORDERINGS = ("a", "b", "c", "d", "e")
SHORTCUT_OPTIONS = ("A", "B", "C")

AttentionFactory = Callable[[int], nn.Module]


def check_unit(unit: str) -> str:
    """Validate a figure-4 ordering letter; return it lower case."""
    u = str(unit).lower()
    if u not in ORDERINGS:
        raise ValueError(
            f"unit must be one of {', '.join(ORDERINGS)} (He et al. 2016b, figure 4: "
            f"a original, b BN after addition, c ReLU before addition, d ReLU-only "
            f"pre-activation, e full pre-activation); got {unit!r}"
        )
    return u


def check_shortcut(shortcut: str | None) -> str | None:
    """Validate a shortcut option (``"A"``, ``"B"``, ``"C"`` or ``None`` for none)."""
    if shortcut is None:
        return None
    s = str(shortcut).upper()
    if s not in SHORTCUT_OPTIONS:
        raise ValueError(
            f"shortcut must be 'A' (zero-padded identity), 'B' (projection where the shape "
            f"changes) or 'C' (projection everywhere); got {shortcut!r}"
        )
    return s


class ZeroPadShortcut(nn.Module):
    """Option A: identity, subsampled by ``stride`` and zero-padded to ``out_chans``.

    ``(N, C_in, H, W) -> (N, C_out, ceil(H/s), ceil(W/s))``; the new channels are
    zeros, so the shortcut has no parameters. Subsampling takes every ``s``-th
    pixel, which is what a stride-``s`` identity (a 1×1 kernel of ones) computes,
    and matches the ``ceil(H/s)`` of a padded 3×3 or unpadded 1×1 stride-``s`` conv.
    """

    def __init__(self, in_chans: int, out_chans: int, stride: int = 1) -> None:
        super().__init__()
        if out_chans < in_chans:
            raise ValueError(
                f"a zero-padded shortcut cannot narrow {in_chans} channels to {out_chans}; "
                f"use a projection (option 'B' or 'C')"
            )
        self.in_chans, self.out_chans, self.stride = in_chans, out_chans, stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.out_chans > self.in_chans:
            x = F.pad(x, (0, 0, 0, 0, 0, self.out_chans - self.in_chans))
        return x

    def extra_repr(self) -> str:
        return f"{self.in_chans}, {self.out_chans}, stride={self.stride}"


def make_shortcut(
    option: str | None,
    in_chans: int,
    out_chans: int,
    stride: int = 1,
    *,
    norm: bool = True,
    kernel_size: int = 1,
    norm_layer: str = "batch",
) -> nn.Module | None:
    """The shortcut of a unit under option ``"A"``/``"B"``/``"C"``, or ``None`` (plain).

    ``kernel_size`` widens a strided projection (SENet-154 uses 3×3, stride 2);
    ``norm=False`` leaves the projection's normalisation out (pre-activation
    units); ``norm_layer`` chooses it (:mod:`cnnzoo.layers.norm`).
    """
    option = check_shortcut(option)
    if option is None:
        return None
    same_shape = in_chans == out_chans and stride == 1
    if option == "A" or (option == "B" and same_shape):
        return nn.Identity() if same_shape else ZeroPadShortcut(in_chans, out_chans, stride)
    k = kernel_size if stride > 1 else 1
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        conv=nn.Conv2d(in_chans, out_chans, k, stride, padding=k // 2, bias=False)
    )
    if norm:
        layers["bn"] = make_norm(norm_layer, out_chans)
    return nn.Sequential(layers)


def _bn_relu(chans: int, norm_layer: str = "batch") -> nn.Sequential:
    return nn.Sequential(OrderedDict(bn=make_norm(norm_layer, chans), relu=nn.ReLU(inplace=True)))


class ResidualUnit(nn.Module):
    """``post(shortcut(x) + branch(preact(x)))`` for a given stack of weight layers.

    Shapes: ``(N, in_chans, H, W) -> (N, out_chans, ceil(H/s), ceil(W/s))``.

    Args:
        convs: the weight layers of the branch, in order. A layer whose
            ``includes_norm_act`` attribute is true (selective kernel) brings its
            own BN and ReLU, and the unit adds none after it.
        widths: output channels of each layer in ``convs``.
        in_chans: input channels.
        stride: spatial stride of the unit (applied by one of ``convs``).
        unit: figure-4 ordering, ``"a"`` … ``"e"``.
        shortcut: option ``"A"``/``"B"``/``"C"``, or ``None`` for a plain unit.
        preact: ``False`` drops the unit's pre-activation (d, e); the network does
            this for its first unit, whose input was just activated by the stem.
        attention: ``channels -> module`` applied to the branch output before the
            addition (SE, global context).
        survival: stochastic-depth survival probability ``p_l``.
        dropout: dropout before the last weight layer (Wide ResNet).
        downsample_kernel: kernel of a strided projection shortcut.
        norm_layer: ``"batch"``, ``"group"``, ``"layer"`` or ``"instance"``
            (:mod:`cnnzoo.layers.norm`); the modules keep the names ``bn*``.
        shortcut_variant: how shortcut and branch join, ``"identity"`` (the
            sum), ``"scaling"``, ``"exclusive_gating"``, ``"shortcut_gating"``
            or ``"dropout"`` (:mod:`cnnzoo.layers.shortcut_variants`); applied
            in every unit that has a shortcut (a unit that stochastic depth
            drops passes its shortcut on unchanged).
        shortcut_scale, branch_scale: λ_s and λ_F of constant scaling;
            ``shortcut_scale`` is also the dropout shortcut's keep probability.
        gate_bias: initial gate bias ``b_g`` of the gating variants.
    """

    def __init__(
        self,
        convs: list[nn.Module],
        widths: list[int],
        in_chans: int,
        stride: int = 1,
        *,
        unit: str = "a",
        shortcut: str | None = "B",
        preact: bool = True,
        attention: AttentionFactory | None = None,
        survival: float = 1.0,
        dropout: float = 0.0,
        downsample_kernel: int = 1,
        norm_layer: str = "batch",
        shortcut_variant: str = "identity",
        shortcut_scale: float = 0.5,
        branch_scale: float = 0.5,
        gate_bias: float = -6.0,
    ) -> None:
        super().__init__()
        unit = check_unit(unit)
        check_norm(norm_layer)
        shortcut = check_shortcut(shortcut)
        if len(convs) != len(widths) or not convs:
            raise ValueError("give one output width per weight layer, and at least one layer")
        if shortcut is None and survival < 1.0:
            raise ValueError("stochastic depth needs a shortcut: a plain unit cannot be skipped")
        if shortcut is None and shortcut_variant != "identity":
            raise ValueError(f"shortcut_variant={shortcut_variant!r} needs a shortcut; this unit is plain (shortcut=None)")
        out_chans = widths[-1]
        self.unit, self.in_chans, self.out_chans, self.stride = unit, in_chans, out_chans, stride

        if not preact or unit in ("a", "b", "c"):
            self.preact: nn.Module = nn.Identity()
        elif unit == "d":
            # Not in place: the identity shortcut still needs the raw x.
            self.preact = nn.ReLU(inplace=False)
        else:
            self.preact = _bn_relu(in_chans, norm_layer)

        branch: OrderedDict[str, nn.Module] = OrderedDict()
        for i, (conv, width) in enumerate(zip(convs, widths, strict=True), start=1):
            last = i == len(convs)
            if last and dropout > 0:
                branch["dropout"] = nn.Dropout(dropout)
            branch[f"conv{i}"] = conv
            if getattr(conv, "includes_norm_act", False) and not last:
                continue
            if not last or unit in ("a", "c", "d"):
                branch[f"bn{i}"] = make_norm(norm_layer, width)
            if not last or unit == "c":
                branch[f"relu{i}"] = nn.ReLU(inplace=True)
        self.branch = nn.Sequential(branch)
        self.attention = attention(out_chans) if attention is not None else nn.Identity()

        self.shortcut_from_preact = unit == "e" and preact
        self.shortcut = make_shortcut(
            shortcut, in_chans, out_chans, stride,
            norm=unit != "e", kernel_size=downsample_kernel, norm_layer=norm_layer,
        )  # fmt: skip
        self.combine = (
            make_combine(shortcut_variant, in_chans, out_chans, stride, shortcut_scale=shortcut_scale,
                         branch_scale=branch_scale, gate_bias=gate_bias)
            if shortcut is not None else None
        )  # fmt: skip
        if self.shortcut_from_preact and isinstance(self.shortcut, (nn.Identity, ZeroPadShortcut)):
            self.shortcut_from_preact = False  # identity carries the raw x
        self.drop = StochasticDepth(survival)  # paper form: scale by p_l at test time

        if unit == "a":
            self.post: nn.Module = nn.ReLU(inplace=True)
        elif unit == "b":
            self.post = _bn_relu(out_chans, norm_layer)
        else:
            self.post = nn.Identity()

    @property
    def survival(self) -> float:
        return self.drop.survival

    def last_layer(self) -> nn.Module:
        """The branch's last normalisation if it ends with one (a, c, d), else its last weight layer."""
        layers = list(self.branch.children())
        bns = [m for m in layers if isinstance(m, NORM_TYPES)]
        if self.unit in ("a", "c", "d"):
            return bns[-1]
        return [m for n, m in self.branch.named_children() if n.startswith("conv")][-1]

    def zero_init_(self) -> None:
        """Make the branch output zero at initialisation (Goyal et al. 2017)."""
        layer = self.last_layer()
        nn.init.zeros_(layer.weight)
        if isinstance(layer, NORM_TYPES):
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> Tensor:
        pre = self.preact(x)
        skip = None
        if self.shortcut is not None:
            skip = self.shortcut(pre if self.shortcut_from_preact else x)
        p = self.drop.survival
        if self.training and p < 1.0 and bool(torch.rand((), device="cpu") >= p):
            # The branch is dropped: not even computed. The identity (or its
            # strided view) aliases x, which autograd may still need, so the
            # in-place ReLU of ``post`` must act on a copy.
            return self.post(skip.clone())
        out = self.attention(self.branch(pre))
        if not self.training:
            out = self.drop(out)  # x p_l at test time
        if skip is None:
            return self.post(out)
        return self.post(out + skip if self.combine is None else self.combine(x, skip, out))


class BasicBlock(ResidualUnit):
    """Two 3×3 convolutions (He et al. 2016, figure 2 left; ResNet-18/34, CIFAR).

    ``(N, in_chans, H, W) -> (N, out_chans, ceil(H/s), ceil(W/s))``; the first conv
    carries the stride. Keyword arguments are those of :class:`ResidualUnit`.
    """

    def __init__(self, in_chans: int, out_chans: int, stride: int = 1, **kwargs) -> None:
        convs = [
            nn.Conv2d(in_chans, out_chans, 3, stride, 1, bias=False),
            nn.Conv2d(out_chans, out_chans, 3, 1, 1, bias=False),
        ]
        super().__init__(convs, [out_chans, out_chans], in_chans, stride, **kwargs)


class Bottleneck(ResidualUnit):
    """1×1 reduce → 3×3 (grouped for ResNeXt) → 1×1 expand (He et al. 2016, figure 5 right).

    ``(N, in_chans, H, W) -> (N, out_chans, ceil(H/s), ceil(W/s))``.

    Args:
        width: channels of the 3×3 convolution (64 in the first stage of
            ResNet-50; ``cardinality × d`` for ResNeXt).
        groups: groups of the 3×3 convolution, the cardinality ``C``.
        first_width: output of the first 1×1 when it differs from ``width``
            (SENet-154 halves it).
        stride_on_3x3: put the stride on the 3×3 (``True``, "ResNet v1.5", as in
            fb.resnet.torch and ResNeXt) or on the first 1×1 (``False``, the paper).
        conv3x3: ``(in, out, stride, groups) -> module`` replacing the 3×3
            convolution (selective kernel).
        **kwargs: those of :class:`ResidualUnit`.
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        stride: int = 1,
        *,
        width: int,
        groups: int = 1,
        first_width: int | None = None,
        stride_on_3x3: bool = False,
        conv3x3: Callable[[int, int, int, int], nn.Module] | None = None,
        **kwargs,
    ) -> None:
        w1 = first_width or width
        s1, s3 = (1, stride) if stride_on_3x3 else (stride, 1)
        mid = (
            conv3x3(w1, width, s3, groups)
            if conv3x3 is not None
            else nn.Conv2d(w1, width, 3, s3, 1, groups=groups, bias=False)
        )
        convs = [
            nn.Conv2d(in_chans, w1, 1, s1, bias=False),
            mid,
            nn.Conv2d(width, out_chans, 1, bias=False),
        ]
        super().__init__(convs, [w1, width, out_chans], in_chans, stride, **kwargs)
