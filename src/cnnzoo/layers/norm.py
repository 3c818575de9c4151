"""Normalisation layers as a choice, and weight normalisation as an option.

All four normalise ``(x - mean) / sqrt(var + eps)`` and then scale and shift
each channel with a learned ``gamma, beta``; they differ in the set of values
the mean and variance are taken over (Wu & He 2018, figure 2):

=========  =====================================  ==================================
kind       statistics over                        paper
=========  =====================================  ==================================
batch      (N, H, W) per channel                  Ioffe & Szegedy 2015, arXiv:1502.03167
group      (C/G, H, W) per sample and group, G=32 Wu & He 2018, arXiv:1803.08494
layer      (C, H, W) per sample                   Ba, Kiros & Hinton 2016, arXiv:1607.06450
instance   (H, W) per sample and channel          Ulyanov et al. 2016, arXiv:1607.08022
=========  =====================================  ==================================

Only batch normalisation mixes the images of a batch (in training mode); the
other three compute each image's output from that image alone. Layer and
instance normalisation are group normalisation with G = 1 and G = C, which
is how Wu & He write them for convolutional features (and why the layer form
here is ``GroupNorm(1, C)``: ``nn.LayerNorm`` would fix the spatial size).
Where a width is not a multiple of 32 (the 16 channels of a CIFAR ResNet),
group normalisation takes ``gcd(32, C)`` groups.

Weight normalisation (Salimans & Kingma 2016, arXiv:1602.07868) instead
reparameterises each weight as ``w = g · v / ||v||``, a norm ``g`` per output
unit and a direction ``v``; :func:`apply_weight_norm` applies it to every
convolution and fully connected layer of a model.
"""

from __future__ import annotations

import math

from torch import nn
from torch.nn.utils.parametrizations import weight_norm

__all__ = ["GN_GROUPS", "NORM_LAYERS", "NORM_TYPES", "apply_weight_norm", "check_norm", "make_norm"]

NORM_LAYERS = ("batch", "group", "layer", "instance")
GN_GROUPS = 32  # Wu & He 2018, §4: G = 32 by default


def check_norm(kind: str) -> str:
    """Validate a ``norm_layer`` name; return it."""
    if kind not in NORM_LAYERS:
        raise ValueError(f"norm_layer must be one of {', '.join(NORM_LAYERS)}; got {kind!r}")
    return kind


def make_norm(kind: str, chans: int) -> nn.Module:
    """A normalisation layer of ``kind`` over ``chans`` channels, with a learned per-channel affine."""
    check_norm(kind)
    if kind == "batch":
        return nn.BatchNorm2d(chans)
    if kind == "group":
        return nn.GroupNorm(math.gcd(GN_GROUPS, chans), chans)
    if kind == "layer":
        return nn.GroupNorm(1, chans)
    return nn.InstanceNorm2d(chans, affine=True)


NORM_TYPES = (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)


def apply_weight_norm(model: nn.Module) -> nn.Module:
    """Reparameterise every conv and linear weight as ``g · v / ||v||`` (per output unit), in place."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            weight_norm(m, "weight", dim=0)
    return model
