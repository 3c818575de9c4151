"""Every op of the NumPy engine, forward and backward, in one namespace.

The contract (cs231n's): ``out, cache = op_forward(x, ...)`` then
``grads = op_backward(dout, cache)``, where ``dout = ∂L/∂out`` has the shape of
``out`` and each returned gradient the shape of what it is the gradient of.
Losses return ``(loss, dscores)`` in one call. Each function's docstring gives
the formula it computes and every shape; the tests check each one, forward and
backward, against torch's autograd in float64.

Example::

    >>> import numpy as np
    >>> from cnnzoo.scratch import functional as F
    >>> x = np.random.default_rng(0).standard_normal((2, 3, 8, 8))
    >>> w = np.random.default_rng(1).standard_normal((4, 3, 3, 3))
    >>> out, cache = F.conv2d_forward(x, w, None, stride=2, padding=1)
    >>> out.shape
    (2, 4, 4, 4)
    >>> dx, dw, db = F.conv2d_backward(np.ones_like(out), cache)
    >>> dx.shape, dw.shape, db
    ((2, 3, 8, 8), (4, 3, 3, 3), None)
"""

from __future__ import annotations

from cnnzoo.scratch.activations import (
    elu_backward,
    elu_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    log_softmax,
    prelu_backward,
    prelu_forward,
    relu_backward,
    relu_forward,
    sigmoid,
    sigmoid_backward,
    sigmoid_forward,
    softmax,
    softmax_backward,
    softmax_forward,
    tanh_backward,
    tanh_forward,
)
from cnnzoo.scratch.basic import (
    dropout_backward,
    dropout_forward,
    flatten_backward,
    flatten_forward,
    linear_backward,
    linear_forward,
)
from cnnzoo.scratch.conv import (
    col2im,
    conv2d_backward,
    conv2d_backward_naive,
    conv2d_forward,
    conv2d_forward_naive,
    conv_transpose2d_backward,
    conv_transpose2d_forward,
    im2col,
)
from cnnzoo.scratch.losses import (
    focal_loss,
    mse_loss,
    multiclass_hinge_loss,
    sigmoid_bce_loss,
    softmax_cross_entropy_loss,
)
from cnnzoo.scratch.norm import (
    batchnorm_backward,
    batchnorm_forward,
    groupnorm_backward,
    groupnorm_forward,
    instancenorm_backward,
    instancenorm_forward,
    layernorm_backward,
    layernorm_forward,
    lrn_backward,
    lrn_forward,
)
from cnnzoo.scratch.pool import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    global_avg_pool2d_backward,
    global_avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

__all__ = [
    # convolution
    "conv2d_forward_naive", "conv2d_backward_naive", "conv2d_forward", "conv2d_backward",
    "conv_transpose2d_forward", "conv_transpose2d_backward", "im2col", "col2im",
    # pooling
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "global_avg_pool2d_forward", "global_avg_pool2d_backward",
    # linear, dropout, flatten
    "linear_forward", "linear_backward", "dropout_forward", "dropout_backward",
    "flatten_forward", "flatten_backward",
    # activations
    "relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward",
    "prelu_forward", "prelu_backward", "elu_forward", "elu_backward",
    "sigmoid", "sigmoid_forward", "sigmoid_backward", "tanh_forward", "tanh_backward",
    "softmax", "log_softmax", "softmax_forward", "softmax_backward",
    # normalisation
    "batchnorm_forward", "batchnorm_backward", "layernorm_forward", "layernorm_backward",
    "groupnorm_forward", "groupnorm_backward", "instancenorm_forward", "instancenorm_backward",
    "lrn_forward", "lrn_backward",
    # losses
    "softmax_cross_entropy_loss", "multiclass_hinge_loss", "sigmoid_bce_loss", "focal_loss", "mse_loss",
]  # fmt: skip
