"""Layers: a dense layer, maxout, and the usual activations as modules.

Each layer is a :class:`~autodiff.nn.module.Module` whose ``forward`` calls
:mod:`autodiff.nn.functional`; layers with weights take an optional ``rng`` (a
``numpy.random.Generator`` or an integer seed) and a ``dtype`` (float64 by default).

>>> import numpy as np, autodiff as ad
>>> layer = ad.nn.Linear(3, 2, rng=0)
>>> layer.weight.shape, layer.bias.shape
((2, 3), (2,))
>>> layer(np.ones((4, 3))).shape
(4, 2)
"""

from __future__ import annotations

import math

import numpy as np

from .. import numpy_api as api
from ..rules.primitive import Traced, ndim_of, shape_of
from ..validation import positive_float, positive_int, real
from . import functional as F
from .init import as_generator
from .module import Module, Parameter

__all__ = [
    "Linear",
    "Maxout",
    "ReLU",
    "LeakyReLU",
    "Tanh",
    "Sigmoid",
    "HardTanh",
    "Softplus",
    "Softmax",
    "LogSoftmax",
    "Flatten",
    "Identity",
]


def _float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"layer dtype must be floating-point, got {dtype}")
    return dtype


def _uniform(rng, bound, shape, dtype):
    return rng.uniform(-bound, bound, shape).astype(dtype)


class Linear(Module):
    """``y = x @ weight.T + bias``: weight ``(out_features, in_features)``, as in torch.

    Initialised like torch's ``nn.Linear``: weight and bias from ``U(-1/sqrt(in_features),
    1/sqrt(in_features))`` (Kaiming-uniform with ``a = sqrt(5)``); re-initialise with
    :mod:`autodiff.nn.init` (``xavier_uniform_``, ``kaiming_normal_``, ...).  ``x`` has shape
    ``(..., in_features)``.
    """

    def __init__(self, in_features, out_features, bias=True, rng=None, dtype=np.float64):
        super().__init__()
        self.in_features = positive_int(in_features, "in_features")
        self.out_features = positive_int(out_features, "out_features")
        rng, dtype = as_generator(rng), _float_dtype(dtype)
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight = Parameter(_uniform(rng, bound, (self.out_features, self.in_features), dtype))
        self.bias = Parameter(_uniform(rng, bound, (self.out_features,), dtype)) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Maxout(Module):
    """Maxout units (Goodfellow et al. 2013, "Maxout networks"): ``y_j = max_k (W_jk . x + b_jk)`` over ``pieces`` affine maps.

    ``weight`` has shape ``(out_features * pieces, in_features)``: row ``j * pieces + k`` is
    piece ``k`` of unit ``j`` (``bias`` likewise).  With two pieces and one of them fixed at zero
    this is a ReLU.  At a tie the gradient is split evenly between the tied pieces (API.md's
    rule for ``max``).  Initialised like :class:`Linear`.
    """

    def __init__(self, in_features, out_features, pieces, bias=True, rng=None,
                 dtype=np.float64):
        super().__init__()
        self.in_features = positive_int(in_features, "in_features")
        self.out_features = positive_int(out_features, "out_features")
        self.pieces = positive_int(pieces, "pieces")
        rng, dtype = as_generator(rng), _float_dtype(dtype)
        rows = self.out_features * self.pieces
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight = Parameter(_uniform(rng, bound, (rows, self.in_features), dtype))
        self.bias = Parameter(_uniform(rng, bound, (rows,), dtype)) if bias else None

    def forward(self, x):
        z = F.linear(x, self.weight, self.bias)
        grouped = api.reshape(z, shape_of(z)[:-1] + (self.out_features, self.pieces))
        return api.max(grouped, axis=-1)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"pieces={self.pieces}, bias={self.bias is not None}")


class ReLU(Module):
    """``max(x, 0)``; ``relu'(0) = 0``."""

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise (Aggarwal 2018, sec. 3.4.2)."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Tanh(Module):
    """``tanh x``."""

    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    """``1 / (1 + e^-x)``."""

    def forward(self, x):
        return F.sigmoid(x)


class HardTanh(Module):
    """``clip(x, min_val, max_val)``; slope 1 on the closed interval, 0 outside (Aggarwal 2018, sec. 3.4.2)."""

    def __init__(self, min_val=-1.0, max_val=1.0):
        super().__init__()
        self.min_val, self.max_val = real(min_val, "min_val"), real(max_val, "max_val")
        if not self.min_val < self.max_val:
            raise ValueError(f"HardTanh needs min_val < max_val, got {min_val} and {max_val}")

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class Softplus(Module):
    """``log(1 + e^(beta x)) / beta``, a smooth ReLU."""

    def __init__(self, beta=1.0):
        super().__init__()
        self.beta = positive_float(beta, "beta")

    def forward(self, x):
        return F.softplus(x, self.beta)

    def extra_repr(self) -> str:
        return f"beta={self.beta}"


class Softmax(Module):
    """``softmax`` along ``axis`` (default: the last)."""

    def __init__(self, axis=-1):
        super().__init__()
        self.axis = int(axis)

    def forward(self, x):
        return F.softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class LogSoftmax(Module):
    """``log_softmax`` along ``axis`` (default: the last)."""

    def __init__(self, axis=-1):
        super().__init__()
        self.axis = int(axis)

    def forward(self, x):
        return F.log_softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Flatten(Module):
    """Merge axes ``start_dim .. end_dim`` into one (default: all but the first, the batch).

    ``Flatten()(x)`` of a batch of 8x8 images ``(N, 8, 8)`` has shape ``(N, 64)``.
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x):
        x = x if isinstance(x, Traced) else np.asarray(x)
        shape = shape_of(x)
        n = ndim_of(x)
        if n == 0:
            raise ValueError("Flatten needs an array with at least one axis, got a scalar")
        start, end = self.start_dim % n, self.end_dim % n
        if start > end:
            raise ValueError(
                f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) is empty for an "
                f"input of shape {shape}"
            )
        merged = int(np.prod(shape[start:end + 1], dtype=int))
        new_shape = shape[:start] + (merged,) + shape[end + 1:]
        if new_shape == shape:
            return x
        return api.reshape(x, new_shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input."""

    def forward(self, x):
        return x
