"""NumPy's reductions on traced values: ``sum``, ``mean``, ``prod``, ``max``, ``min``, ``cumsum``."""

from __future__ import annotations

import builtins

import numpy as np

from ..rules import elementwise as ew
from ..rules import reductions as rules_reductions
from ..rules.primitive import Case, call_with, implements, ndim_of, normalize_axes, shape_of
from .shapes import ravel


@implements(np.sum, cases=(Case("axis=1", ((3, 4),), call_with(axis=1)),))
def sum(x, axis=None, keepdims=False, dtype=None):  # noqa: A001 - NumPy's name
    """sum over ``axis`` (None: all axes), NumPy semantics."""
    _no_dtype(dtype, "sum")
    return rules_reductions.reduce_sum(x, axis=_axis_param(axis), keepdims=keepdims)


@implements(np.mean, cases=(
    Case("all", ((3, 4),), call_with()),
    Case("axis=0-keepdims", ((3, 4),), call_with(axis=0, keepdims=True)),
    Case("axis=(0,2)", ((2, 3, 4),), call_with(axis=(0, 2))),
))
def mean(x, axis=None, keepdims=False, dtype=None):
    """mean over ``axis``: ``sum / count``."""
    _no_dtype(dtype, "mean")
    axes = normalize_axes(axis, ndim_of(x))
    shape = shape_of(x)
    count = 1
    for a in axes:
        count *= shape[a]
    return ew.divide(rules_reductions.reduce_sum(x, axis=_axis_param(axis), keepdims=keepdims), float(count))


@implements(np.prod, cases=(Case("axis=0", ((3, 4),), call_with(axis=0)),))
def prod(x, axis=None, keepdims=False, dtype=None):
    _no_dtype(dtype, "prod")
    return rules_reductions.reduce_prod(x, axis=_axis_param(axis), keepdims=keepdims)


@implements(np.max, np.amax, cases=(Case("axis=1", ((3, 4),), call_with(axis=1), "separated"),))
def max(x, axis=None, keepdims=False):  # noqa: A001
    """max over ``axis``; tied maxima share the derivative evenly."""
    return rules_reductions.reduce_max(x, axis=_axis_param(axis), keepdims=keepdims)


@implements(np.min, np.amin, cases=(Case("axis=1", ((3, 4),), call_with(axis=1), "separated"),))
def min(x, axis=None, keepdims=False):  # noqa: A001
    """min over ``axis``; tied minima share the derivative evenly."""
    return rules_reductions.reduce_min(x, axis=_axis_param(axis), keepdims=keepdims)


@implements(np.cumsum, cases=(Case("flat", ((3, 4),), call_with()),))
def cumsum(x, axis=None):
    if axis is None:
        return rules_reductions.cumsum(ravel(x), axis=0)
    return rules_reductions.cumsum(x, axis=int(axis) % builtins.max(ndim_of(x), 1))


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis``, shifted by the max: no overflow, ``-inf`` entries allowed.

    Its derivative is the softmax ``exp(x - logsumexp(x))``.
    """
    return rules_reductions.logsumexp(x, axis=_axis_param(axis), keepdims=keepdims)


def _axis_param(axis):
    if axis is None or np.ndim(axis) == 0:
        return axis if axis is None else int(axis)
    return tuple(int(a) for a in axis)


def _no_dtype(dtype, name):
    if dtype is not None:
        raise TypeError(f"{name}(dtype=...) is not supported on traced values; cast the input")
