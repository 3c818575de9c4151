"""Folding BatchNorm into the convolution before it, for inference.

In eval mode a BatchNorm is an affine map per channel,
``y = γ (z − μ) / sqrt(σ² + ε) + β``. When ``z`` is the output of a
convolution ``z = W * x + b``, the two collapse into one convolution with

    W' = W · γ / sqrt(σ² + ε)            (scaled per output channel)
    b' = (b − μ) · γ / sqrt(σ² + ε) + β

and the BatchNorm becomes the identity: the same function, one layer fewer,
no extra memory traffic.

Which BatchNorm follows which convolution is found by data flow, not by the
order of attributes: a probe forward pass records each module's input and
output tensors, and a pair is folded only where the BatchNorm's input *is* the
convolution's output. Pre-activation networks (BN before the convolution) and
BN after an addition or a concatenation are therefore left alone, correctly.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

__all__ = ["find_conv_bn_pairs", "fold_batchnorm", "fuse_conv_bn_weights"]

_BN = (nn.BatchNorm2d,)


def fuse_conv_bn_weights(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """``(W', b')`` of the convolution equal to ``bn(conv(x))`` in eval mode."""
    var, mean = bn.running_var, bn.running_mean
    gamma = bn.weight if bn.affine else torch.ones_like(var)
    beta = bn.bias if bn.affine else torch.zeros_like(var)
    scale = gamma / torch.sqrt(var + bn.eps)
    w = conv.weight * scale.reshape(-1, *([1] * (conv.weight.dim() - 1)))
    b = conv.bias if conv.bias is not None else torch.zeros_like(mean)
    return w, (b - mean) * scale + beta


def find_conv_bn_pairs(model: nn.Module, example: Tensor) -> list[tuple[str, str]]:
    """Qualified names ``(conv, bn)`` where the BatchNorm reads exactly the convolution's output."""
    names = {m: n for n, m in model.named_modules()}
    produced_by: dict[int, str] = {}
    pairs: list[tuple[str, str]] = []
    hooks = []
    alive: list[Tensor] = []  # keeps outputs alive so that no id() is reused during the probe

    def on_conv(mod: nn.Module, _inp: tuple, out: Tensor) -> None:
        produced_by[id(out)] = names[mod]
        alive.append(out)

    def on_bn(mod: nn.Module, inp: tuple, _out: Tensor) -> None:
        src = produced_by.get(id(inp[0]))
        if src is not None:
            pairs.append((src, names[mod]))

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(on_conv))
        elif isinstance(m, _BN):
            hooks.append(m.register_forward_hook(on_bn))
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(example)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    # A module called twice (shared weights) appears twice: fold each pair once.
    return list(dict.fromkeys(pairs))


def _set(model: nn.Module, qualified: str, new: nn.Module) -> None:
    parent_name, _, attr = qualified.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, new)


def fold_batchnorm(model: nn.Module, example: Tensor, *, check: bool = True) -> nn.Module:
    """An eval-mode copy of ``model`` with every conv→BN pair folded into the convolution.

    ``example`` is one input batch used to find the pairs (its values do not
    matter). With ``check`` the folded copy is compared with the original on
    ``example`` and a ``RuntimeError`` is raised if they differ (which would
    mean a convolution's output was also read by something other than its BN).
    """
    model = model.eval()
    folded = copy.deepcopy(model).eval()
    pairs = find_conv_bn_pairs(folded, example)
    counts: dict[str, int] = {}
    for conv_name, _ in pairs:
        counts[conv_name] = counts.get(conv_name, 0) + 1
    for conv_name, bn_name in pairs:
        if counts[conv_name] > 1:
            continue  # one convolution feeding two BatchNorms cannot carry both
        conv = folded.get_submodule(conv_name)
        bn = folded.get_submodule(bn_name)
        w, b = fuse_conv_bn_weights(conv, bn)
        with torch.no_grad():
            conv.weight.copy_(w)
            if conv.bias is None:
                conv.bias = nn.Parameter(b.detach().clone())
            else:
                conv.bias.copy_(b)
        _set(folded, bn_name, nn.Identity())
    folded.cnnzoo_folded_pairs = len(pairs)  # type: ignore[assignment]
    if check:
        with torch.no_grad():
            ref, got = model(example), folded(example)
        ref = ref[0] if isinstance(ref, (tuple, list)) else ref
        got = got[0] if isinstance(got, (tuple, list)) else got
        err = (ref - got).abs().max().item()
        tol = 1e-3 * max(1.0, ref.abs().max().item())
        if not err <= tol:
            raise RuntimeError(f"folding BatchNorm changed the output by {err:.3g}; the model is left unfolded")
    return folded
