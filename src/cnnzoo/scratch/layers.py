"""Layers with parameters and gradients, and a ``Sequential`` that runs them.

The contract is micrograd's, with the backward pass written per layer:

* ``layer.forward(x)`` computes the output and keeps what the backward pass needs;
* ``layer.backward(dout)`` returns ``dx`` and *adds* each parameter's gradient to
  ``param.grad`` (gradients accumulate, as in torch, until ``zero_grad()``);
* ``parameters()`` lists the :class:`Parameter` objects an optimizer updates;
* ``train()`` / ``eval()`` switch dropout and batch norm between their two behaviours.

Example::

    >>> import numpy as np
    >>> from cnnzoo.scratch.layers import Conv2d, Flatten, Linear, ReLU, Sequential
    >>> net = Sequential(Conv2d(1, 4, 3, rng=np.random.default_rng(0)), ReLU(), Flatten(), Linear(4 * 6 * 6, 10))
    >>> out = net(np.zeros((2, 1, 8, 8), np.float32))
    >>> out.shape
    (2, 10)
    >>> net.backward(np.ones_like(out)).shape
    (2, 1, 8, 8)
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from cnnzoo.scratch import functional as F
from cnnzoo.scratch import init as initializers
from cnnzoo.scratch._checks import pair

__all__ = [
    "Parameter", "Module", "Sequential",
    "Conv2d", "ConvTranspose2d", "Linear",
    "ReLU", "LeakyReLU", "PReLU", "ELU", "Sigmoid", "Tanh",
    "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "Flatten", "Dropout",
    "BatchNorm", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "InstanceNorm2d",
    "LocalResponseNorm",
]  # fmt: skip


_NOT_RUN = object()  # the cache before the first forward (None is a valid cache: dropout in eval)


class Parameter:
    """A learnable array and its gradient (same shape, same dtype)."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.grad = np.zeros_like(data)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class. Attributes that are :class:`Parameter` or :class:`Module` are registered
    by assignment; names in ``_buffer_names`` are saved state that is not learned."""

    _buffer_names: tuple[str, ...] = ()

    def __init__(self) -> None:
        object.__setattr__(self, "_params", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)
        self._cache = _NOT_RUN

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, Parameter):
            self._params[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    # -- the contract
    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def _saved(self):
        if self._cache is _NOT_RUN:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self._cache

    # -- parameters and state
    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, p in self._params.items():
            yield prefix + name, p
        for name, m in self._modules.items():
            yield from m.named_parameters(f"{prefix}{name}.")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for name in self._buffer_names:
            yield prefix + name, getattr(self, name)
        for name, m in self._modules.items():
            yield from m.named_buffers(f"{prefix}{name}.")

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad[...] = 0

    def train(self, mode: bool = True) -> Module:
        object.__setattr__(self, "training", mode)
        for m in self._modules.values():
            m.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def astype(self, dtype) -> Module:
        """Cast every parameter (and its gradient) and buffer, e.g. to float64 for a gradient check."""
        for p in self._params.values():
            p.data, p.grad = p.data.astype(dtype), p.grad.astype(dtype)
        for name in self._buffer_names:
            object.__setattr__(self, name, getattr(self, name).astype(dtype))
        for m in self._modules.values():
            m.astype(dtype)
        return self

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and buffers by dotted name (what a checkpoint saves)."""
        return {n: p.data for n, p in self.named_parameters()} | dict(self.named_buffers())

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the parameters and buffers; names and shapes must match exactly."""
        own = self.state_dict()
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
        for name, arr in own.items():
            if arr.shape != state[name].shape:
                raise ValueError(f"{name}: shape {tuple(state[name].shape)} in the state dict, {tuple(arr.shape)} in the model")
            arr[...] = state[name]

    def num_parameters(self) -> int:
        return sum(p.data.size for p in self.parameters())

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        if not self._modules:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({n}): " + repr(m).replace("\n", "\n  ") for n, m in self._modules.items()]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


class Sequential(Module):
    """Layers run in order forward, in reverse order backward: ``dx = f_1'(… f_L'(dout))``."""

    def __init__(self, *layers: Module, names: list[str] | None = None) -> None:
        super().__init__()
        names = names or [str(i) for i in range(len(layers))]
        if len(names) != len(layers):
            raise ValueError(f"{len(names)} names for {len(layers)} layers")
        for name, layer in zip(names, layers, strict=True):
            setattr(self, name, layer)
        self.layers = list(layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)


def _init_weight(shape, init, nonlinearity, rng, dtype):
    if init == "kaiming":
        return initializers.kaiming_uniform(shape, nonlinearity=nonlinearity, rng=rng, dtype=dtype)
    if init == "xavier":
        return initializers.xavier_uniform(shape, initializers.calculate_gain(nonlinearity), rng=rng, dtype=dtype)
    raise ValueError(f"init must be 'kaiming' or 'xavier'; got {init!r}")


class Conv2d(Module):
    """2-D convolution ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)``; weight ``(C_out, C_in/groups, kH, kW)``.

    Args:
        impl: ``"im2col"`` (fast, default) or ``"naive"`` (the readable loops).
        init: ``"kaiming"`` (He uniform for the ``nonlinearity`` that follows) or ``"xavier"``;
            the bias starts at zero.
    """

    def __init__(
        self, in_chans: int, out_chans: int, kernel_size: int | tuple[int, int], stride=1, padding=0,
        dilation=1, groups: int = 1, bias: bool = True, impl: str = "im2col", init: str = "kaiming",
        nonlinearity: str = "relu", rng: np.random.Generator | None = None, dtype=np.float32,
    ) -> None:  # fmt: skip
        super().__init__()
        if impl not in ("im2col", "naive"):
            raise ValueError(f"impl must be 'im2col' or 'naive'; got {impl!r}")
        if in_chans % groups or out_chans % groups:
            raise ValueError(f"groups={groups} must divide in_chans={in_chans} and out_chans={out_chans}")
        k = pair(kernel_size, "kernel_size", minimum=1)
        self.stride, self.padding, self.dilation, self.groups, self.impl = stride, padding, dilation, groups, impl
        self.weight = Parameter(_init_weight((out_chans, in_chans // groups, *k), init, nonlinearity, rng, dtype))
        self.bias = Parameter(np.zeros(out_chans, dtype)) if bias else None

    def extra_repr(self) -> str:
        o, c, kh, kw = self.weight.shape
        return f"{c * self.groups}, {o}, kernel_size=({kh}, {kw}), stride={self.stride}, padding={self.padding}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        fwd = F.conv2d_forward if self.impl == "im2col" else F.conv2d_forward_naive
        b = None if self.bias is None else self.bias.data
        out, self._cache = fwd(x, self.weight.data, b, self.stride, self.padding, self.dilation, self.groups)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        bwd = F.conv2d_backward if self.impl == "im2col" else F.conv2d_backward_naive
        dx, dw, db = bwd(dout, self._saved())
        self.weight.grad += dw
        if self.bias is not None:
            self.bias.grad += db
        return dx


class ConvTranspose2d(Module):
    """Transposed convolution ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)``; weight
    ``(C_in, C_out/groups, kH, kW)``, ``H_out = (H-1)s - 2p + d(k-1) + output_padding + 1``."""

    def __init__(
        self, in_chans: int, out_chans: int, kernel_size: int | tuple[int, int], stride=1, padding=0,
        output_padding=0, dilation=1, groups: int = 1, bias: bool = True,
        rng: np.random.Generator | None = None, dtype=np.float32,
    ) -> None:  # fmt: skip
        super().__init__()
        k = pair(kernel_size, "kernel_size", minimum=1)
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.dilation, self.groups = dilation, groups
        w = initializers.kaiming_uniform((out_chans // groups, in_chans, *k), rng=rng, dtype=dtype)
        self.weight = Parameter(np.ascontiguousarray(w.transpose(1, 0, 2, 3)))
        self.bias = Parameter(np.zeros(out_chans, dtype)) if bias else None

    def forward(self, x: np.ndarray) -> np.ndarray:
        b = None if self.bias is None else self.bias.data
        out, self._cache = F.conv_transpose2d_forward(
            x, self.weight.data, b, self.stride, self.padding, self.output_padding, self.dilation, self.groups
        )
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, dw, db = F.conv_transpose2d_backward(dout, self._saved())
        self.weight.grad += dw
        if self.bias is not None:
            self.bias.grad += db
        return dx


class Linear(Module):
    """Fully connected ``(N, D_in) -> (N, D_out)``; weight ``(D_out, D_in)``, He/Xavier uniform, zero bias."""

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, init: str = "kaiming",
        nonlinearity: str = "relu", rng: np.random.Generator | None = None, dtype=np.float32,
    ) -> None:  # fmt: skip
        super().__init__()
        self.weight = Parameter(_init_weight((out_features, in_features), init, nonlinearity, rng, dtype))
        self.bias = Parameter(np.zeros(out_features, dtype)) if bias else None

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]}, {self.weight.shape[0]}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = F.linear_forward(x, self.weight.data, None if self.bias is None else self.bias.data)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, dw, db = F.linear_backward(dout, self._saved())
        self.weight.grad += dw
        if self.bias is not None:
            self.bias.grad += db
        return dx


class _Stateless(Module):
    """A layer without parameters around one functional forward/backward pair."""

    def _forward(self, x):
        raise NotImplementedError

    def _backward(self, dout, cache):
        raise NotImplementedError

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = self._forward(x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self._backward(dout, self._saved())


class ReLU(_Stateless):
    """``max(0, x)``; any shape."""

    _forward, _backward = staticmethod(F.relu_forward), staticmethod(F.relu_backward)


class Sigmoid(_Stateless):
    """``1/(1 + e^{-x})``; any shape."""

    _forward, _backward = staticmethod(F.sigmoid_forward), staticmethod(F.sigmoid_backward)


class Tanh(_Stateless):
    """``tanh(x)``; any shape."""

    _forward, _backward = staticmethod(F.tanh_forward), staticmethod(F.tanh_backward)


class Flatten(_Stateless):
    """``(N, d1, d2, …) -> (N, d1·d2·…)``."""

    _forward, _backward = staticmethod(F.flatten_forward), staticmethod(F.flatten_backward)


class GlobalAvgPool2d(_Stateless):
    """``(N, C, H, W) -> (N, C)``, the mean over space."""

    _forward = staticmethod(F.global_avg_pool2d_forward)
    _backward = staticmethod(F.global_avg_pool2d_backward)


class LeakyReLU(_Stateless):
    """``x if x > 0 else a·x``."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def _forward(self, x):
        return F.leaky_relu_forward(x, self.negative_slope)

    _backward = staticmethod(F.leaky_relu_backward)


class ELU(_Stateless):
    """``x if x > 0 else α(eˣ - 1)``."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def _forward(self, x):
        return F.elu_forward(x, self.alpha)

    _backward = staticmethod(F.elu_backward)


class PReLU(Module):
    """``x if x > 0 else a_c·x`` with learned slopes ``a`` ``(num_parameters,)``, initially 0.25 (He et al. 2015)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype=np.float32) -> None:
        super().__init__()
        self.weight = Parameter(np.full(num_parameters, init, dtype))

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = F.prelu_forward(x, self.weight.data)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, da = F.prelu_backward(dout, self._saved())
        self.weight.grad += da
        return dx


class MaxPool2d(_Stateless):
    """Max pooling ``(N, C, H, W) -> (N, C, H_out, W_out)``; the gradient goes to each window's max."""

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def _forward(self, x):
        return F.max_pool2d_forward(x, self.kernel_size, self.stride, self.padding)

    _backward = staticmethod(F.max_pool2d_backward)


class AvgPool2d(_Stateless):
    """Average pooling ``(N, C, H, W) -> (N, C, H_out, W_out)``; the gradient is spread evenly."""

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.count_include_pad = count_include_pad

    def _forward(self, x):
        return F.avg_pool2d_forward(x, self.kernel_size, self.stride, self.padding, self.count_include_pad)

    _backward = staticmethod(F.avg_pool2d_backward)


class Dropout(_Stateless):
    """Dropout with drop probability ``p``, ``m ~ Bernoulli(1-p)`` per element; any shape.

    Both forms keep the test-time output equal to the expected training output; they
    differ in where the ``1 - p`` goes (Srivastava et al. 2014, JMLR 15, §4 and figure 2,
    whose ``p`` is the probability of keeping a unit):

    * ``inverted=True`` (torch's form): ``x·m/(1-p)`` in training, the identity in evaluation;
    * ``inverted=False`` (the paper's): ``x·m`` in training, ``(1-p)·x`` in evaluation, the
      same as scaling the next layer's weights by ``1 - p`` at test time.
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None, inverted: bool = True) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout p must be in [0, 1); got {p}")
        self.p, self.inverted = p, inverted
        self.rng = np.random.default_rng() if rng is None else rng

    def _forward(self, x):
        if self.inverted:
            return F.dropout_forward(x, self.p, self.training, self.rng)
        # the cache is what dropout_backward multiplies δ by: the mask, or the constant 1 - p
        scale = (self.rng.random(x.shape) >= self.p).astype(x.dtype) if self.training else x.dtype.type(1.0 - self.p)
        return x * scale, scale

    _backward = staticmethod(F.dropout_backward)


class BatchNorm(Module):
    """Batch normalisation of ``(N, C)`` or ``(N, C, H, W)``: γ = 1, β = 0, running mean 0 and
    variance 1 to start; batch statistics in training, running ones in evaluation."""

    _buffer_names = ("running_mean", "running_var")

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5, dtype=np.float32) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weight = Parameter(np.ones(num_features, dtype))
        self.bias = Parameter(np.zeros(num_features, dtype))
        self.running_mean = np.zeros(num_features, dtype)
        self.running_var = np.ones(num_features, dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = F.batchnorm_forward(
            x, self.weight.data, self.bias.data, self.running_mean, self.running_var,
            self.training, self.momentum, self.eps,
        )  # fmt: skip
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, dg, db = F.batchnorm_backward(dout, self._saved())
        self.weight.grad += dg
        self.bias.grad += db
        return dx


BatchNorm1d = BatchNorm2d = BatchNorm


class _AffineNorm(Module):
    def _init_affine(self, shape, dtype):
        self.weight = Parameter(np.ones(shape, dtype))
        self.bias = Parameter(np.zeros(shape, dtype))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, dg, db = self._backward(dout, self._saved())
        self.weight.grad += dg
        self.bias.grad += db
        return dx


class LayerNorm(_AffineNorm):
    """Layer normalisation over all axes but the batch; γ, β of shape ``normalized_shape`` (= ``x.shape[1:]``)."""

    _backward = staticmethod(F.layernorm_backward)

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5, dtype=np.float32) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        self._init_affine(shape, dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = F.layernorm_forward(x, self.weight.data, self.bias.data, self.eps)
        return out


class GroupNorm(_AffineNorm):
    """Group normalisation ``(N, C, …)``: statistics per sample over ``C/G`` channels; γ, β ``(C,)``."""

    _backward = staticmethod(F.groupnorm_backward)

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, dtype=np.float32) -> None:
        super().__init__()
        if num_groups < 1 or num_channels % num_groups:
            raise ValueError(f"num_groups={num_groups} must divide num_channels={num_channels}")
        self.num_groups, self.eps = num_groups, eps
        self._init_affine((num_channels,), dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = F.groupnorm_forward(x, self.weight.data, self.bias.data, self.num_groups, self.eps)
        return out


class InstanceNorm2d(_AffineNorm):
    """Instance normalisation ``(N, C, H, W)``: statistics per sample and channel; γ, β ``(C,)``."""

    _backward = staticmethod(F.instancenorm_backward)

    def __init__(self, num_features: int, eps: float = 1e-5, dtype=np.float32) -> None:
        super().__init__()
        self.eps = eps
        self._init_affine((num_features,), dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = F.instancenorm_forward(x, self.weight.data, self.bias.data, self.eps)
        return out


class LocalResponseNorm(_Stateless):
    """AlexNet's LRN across channels, ``x_c / (k + (α/n) Σ_{window} x²)^β``; any ``(N, C, …)``."""

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def _forward(self, x):
        return F.lrn_forward(x, self.size, self.alpha, self.beta, self.k)

    _backward = staticmethod(F.lrn_backward)
