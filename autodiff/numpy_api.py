"""NumPy on traced values: the functions users call, and the tables NumPy's protocols consult.

``np.sin(d)`` on a ``Dual`` or ``Var`` reaches ``__array_ufunc__``, ``np.sum(d)`` reaches
``__array_function__``; both look the NumPy callable up here.  Three outcomes, kept apart
(STYLE.md, "three kinds of no derivative"):

* a differentiable function: the primitive or a composite of primitives below;
* an integer- or bool-valued function (comparisons, ``argmax``, ``shape``, ...): it runs on the
  primal values and its result is a plain array;
* anything else: ``TypeError`` naming the function, never a silently dropped derivative.

Composites (``mean``, ``stack``, ``moveaxis``, ...) are written with primitives, so they
differentiate in every mode without rules of their own.
"""

from __future__ import annotations

import builtins

import numpy as np

from .rules import elementwise as ew
from .rules import structure as st
from .rules.primitive import Traced, ndim_of, primal_value, shape_of

__all__ = [
    "UFUNCS",
    "PRIMAL_UFUNCS",
    "FUNCTIONS",
    "PRIMAL_FUNCTIONS",
    "sum",
    "mean",
    "prod",
    "max",
    "min",
    "cumsum",
    "dot",
    "matmul",
    "outer",
    "transpose",
    "moveaxis",
    "swapaxes",
    "reshape",
    "ravel",
    "squeeze",
    "expand_dims",
    "broadcast_to",
    "concatenate",
    "stack",
    "array",
    "where",
    "clip",
    "round",
    "stop_gradient",
    "logsumexp",
    "unsupported",
]


def unsupported(name: str) -> TypeError:
    return TypeError(
        f"autodiff has no derivative rule for NumPy's {name!r}, so it cannot be applied to a "
        "traced value (Dual/Var) without silently losing the derivative. Write it with "
        "supported operations, apply it to ad.stop_gradient(x) if you want it treated as a "
        "constant, or declare it as a primitive with autodiff.custom.primitive."
    )


# ----------------------------------------------------------------------------------------------
# reductions
# ----------------------------------------------------------------------------------------------


def sum(x, axis=None, keepdims=False, dtype=None):  # noqa: A001 - NumPy's name
    """sum over ``axis`` (None: all axes), NumPy semantics."""
    _no_dtype(dtype, "sum")
    return st.reduce_sum(x, axis=_axis_param(axis), keepdims=keepdims)


def mean(x, axis=None, keepdims=False, dtype=None):
    """mean over ``axis``: ``sum / count``."""
    _no_dtype(dtype, "mean")
    axes = st.normalize_axes(axis, ndim_of(x))
    shape = shape_of(x)
    count = 1
    for a in axes:
        count *= shape[a]
    return ew.divide(st.reduce_sum(x, axis=_axis_param(axis), keepdims=keepdims), float(count))


def prod(x, axis=None, keepdims=False, dtype=None):
    _no_dtype(dtype, "prod")
    return st.reduce_prod(x, axis=_axis_param(axis), keepdims=keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    """max over ``axis``; tied maxima share the derivative evenly."""
    return st.reduce_max(x, axis=_axis_param(axis), keepdims=keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    """min over ``axis``; tied minima share the derivative evenly."""
    return st.reduce_min(x, axis=_axis_param(axis), keepdims=keepdims)


def cumsum(x, axis=None):
    if axis is None:
        return st.cumsum(ravel(x), axis=0)
    return st.cumsum(x, axis=int(axis) % builtins.max(ndim_of(x), 1))


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis``, shifted by the max: no overflow, ``-inf`` entries allowed.

    Its derivative is the softmax ``exp(x - logsumexp(x))``.
    """
    return st.logsumexp(x, axis=_axis_param(axis), keepdims=keepdims)


def _axis_param(axis):
    if axis is None or np.ndim(axis) == 0:
        return axis if axis is None else int(axis)
    return tuple(int(a) for a in axis)


def _no_dtype(dtype, name):
    if dtype is not None:
        raise TypeError(f"{name}(dtype=...) is not supported on traced values; cast the input")


# ----------------------------------------------------------------------------------------------
# products
# ----------------------------------------------------------------------------------------------


def matmul(a, b):
    if ndim_of(a) == 0 or ndim_of(b) == 0:
        raise ValueError("matmul: input operand does not have enough dimensions (use * for scalars)")
    return st.matmul(a, b)


def dot(a, b):
    """``np.dot``: sum over the last axis of ``a`` and the second-to-last of ``b`` (or its only).

    Scalars multiply; up to 2-D operands, or any ``a`` with a vector ``b``, it is ``matmul``.  For
    N-D ``b`` (``dot(a, b)[i, j, k] = sum_n a[i, n] b[j, n, k]``, no stacking) ``b``'s summed
    axis is moved to the front and both sides flattened into one matrix product.
    """
    if ndim_of(a) == 0 or ndim_of(b) == 0:
        return ew.multiply(a, b)
    if ndim_of(b) == 1 or (ndim_of(a) <= 2 and ndim_of(b) == 2):
        return st.matmul(a, b)
    n = shape_of(b)[-2]
    b_first = moveaxis(b, -2, 0)
    product = st.matmul(reshape(a, (-1, n)), reshape(b_first, (n, -1)))
    return reshape(product, shape_of(a)[:-1] + shape_of(b_first)[1:])


def outer(a, b):
    """Outer product of the flattened inputs: ``out[i, j] = a[i] * b[j]``."""
    a, b = ravel(a), ravel(b)
    return ew.multiply(st.reshape(a, shape_of(a) + (1,)), st.reshape(b, (1,) + shape_of(b)))


def inner(a, b):
    if ndim_of(a) == 1 and ndim_of(b) == 1:
        return st.matmul(a, b)
    return dot(a, swapaxes(b, -1, -2) if ndim_of(b) >= 2 else b)


# ----------------------------------------------------------------------------------------------
# shapes
# ----------------------------------------------------------------------------------------------


def transpose(x, axes=None):
    n = ndim_of(x)
    axes = tuple(reversed(range(n))) if axes is None else tuple(int(a) % n for a in axes)
    return st.transpose(x, axes)


def moveaxis(x, source, destination):
    n = ndim_of(x)
    source = st.normalize_axes(source, n) if np.ndim(source) else (int(source) % n,)
    dest = (int(destination) % n,) if np.ndim(destination) == 0 else tuple(
        int(d) % n for d in destination
    )
    if np.ndim(source) and len(source) != len(dest):
        raise ValueError("moveaxis: source and destination must have the same number of axes")
    order = [i for i in range(n) if i not in source]
    for d, s in sorted(zip(dest, source)):
        order.insert(d, s)
    return st.transpose(x, tuple(order))


def swapaxes(x, axis1, axis2):
    n = ndim_of(x)
    order = list(range(n))
    i, j = int(axis1) % n, int(axis2) % n
    order[i], order[j] = order[j], order[i]
    return st.transpose(x, tuple(order))


def reshape(x, shape, order="C"):
    if order != "C":
        raise TypeError("reshape(order=...) other than 'C' is not supported on traced values")
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
    if -1 in shape:  # resolve the free axis (and let NumPy word any mismatch)
        shape = np.empty(shape_of(x), dtype=bool).reshape(shape).shape
    return st.reshape(x, shape)


def ravel(x, order="C"):
    return reshape(x, (-1,), order)


def squeeze(x, axis=None):
    shape = shape_of(x)
    if axis is None:
        axes = tuple(i for i, s in enumerate(shape) if s == 1)
    else:
        axes = st.normalize_axes(axis, len(shape))
        if builtins.any(shape[a] != 1 for a in axes):
            raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
    return st.reshape(x, tuple(s for i, s in enumerate(shape) if i not in axes))


def expand_dims(x, axis):
    shape = shape_of(x)
    return st.reshape(x, np.expand_dims(np.empty(shape, dtype=bool), axis).shape)


def broadcast_to(x, shape):
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
    return st.broadcast_to(x, shape)


def atleast_1d(x):
    return x if ndim_of(x) >= 1 else st.reshape(x, (1,))


def atleast_2d(x):
    n = ndim_of(x)
    return x if n >= 2 else st.reshape(x, (1,) * (2 - n) + shape_of(x))


def concatenate(arrays, axis=0):
    arrays = list(arrays)
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    n = ndim_of(arrays[0])
    if n == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    return st.concatenate(*arrays, axis=int(axis) % n)


def stack(arrays, axis=0):
    """Join arrays of one shape along a new ``axis`` (builds arrays from traced scalars)."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("need at least one array to stack")
    shapes = {shape_of(a) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"all input arrays must have the same shape, got {sorted(shapes)}")
    n = ndim_of(arrays[0]) + 1
    axis = int(axis) % n
    return st.concatenate(*[expand_dims(a, axis) for a in arrays], axis=axis)


def vstack(arrays):
    return concatenate([atleast_2d(a) for a in arrays], axis=0)


def hstack(arrays):
    arrays = [atleast_1d(a) for a in arrays]
    return concatenate(arrays, axis=0 if ndim_of(arrays[0]) == 1 else 1)


def array(obj):
    """An array from (nested lists of) traced and plain scalars or arrays.

    ``np.array([d1, d2])`` cannot be intercepted by NumPy's protocols and would give an object
    array; ``ad.array([d1, d2])`` stacks them and keeps their derivatives.
    """
    if isinstance(obj, (list, tuple)):
        items = [array(item) for item in obj]
        if not builtins.any(isinstance(item, Traced) for item in items):
            return np.array(items)
        return stack(items)
    if isinstance(obj, Traced):
        return obj
    return np.asarray(obj)


# ----------------------------------------------------------------------------------------------
# selection
# ----------------------------------------------------------------------------------------------


def where(condition, x=None, y=None):
    """Select ``x`` where ``condition`` holds, else ``y`` (derivatives select the same way).

    The condition is evaluated on primal values.  A nan/inf *derivative* in the branch not
    taken does not leak through ``where`` itself, but the branch is still evaluated: guard its
    input too (``np.where(x > 0, np.sqrt(np.where(x > 0, x, 1)), 0)``), as in every AD system.
    """
    if x is None and y is None:
        return np.where(primal_value(condition))
    condition = np.asarray(primal_value(condition), dtype=bool)
    return st.where(condition, x, y)


def clip(x, a_min=None, a_max=None, **kwargs):
    """Clip to ``[a_min, a_max]``: derivative 1 on the closed interval, 0 outside."""
    if kwargs:
        raise TypeError(f"clip: unsupported arguments {sorted(kwargs)} for traced values")
    lo = -np.inf if a_min is None else a_min
    hi = np.inf if a_max is None else a_max
    return ew.clip(x, lo, hi)


def round(x, decimals=0):  # noqa: A001
    """Rounding is piecewise constant: its derivative is zero, so the result is a constant."""
    if decimals == 0:
        return ew.rint(x)
    return np.round(primal_value(x), decimals)


def stop_gradient(x):
    """``x`` as a constant: every level is peeled off, so no transform sees a derivative."""
    return primal_value(x)


def positive(x):
    return x


def _primal_args(args, kwargs):
    return (
        [_deep_primal(a) for a in args],
        {k: _deep_primal(v) for k, v in kwargs.items()},
    )


def _deep_primal(value):
    if isinstance(value, (list, tuple)):
        return type(value)(_deep_primal(v) for v in value)
    return primal_value(value)


def call_on_primals(func, args, kwargs):
    """Run an integer/bool-valued function on the primal values."""
    args, kwargs = _primal_args(args, kwargs)
    return func(*args, **kwargs)


UFUNCS = {
    np.add: ew.add,
    np.subtract: ew.subtract,
    np.multiply: ew.multiply,
    np.divide: ew.divide,
    np.power: ew.power,
    np.float_power: ew.power,
    np.negative: ew.negative,
    np.positive: positive,
    np.absolute: ew.absolute,
    np.fabs: ew.absolute,
    np.reciprocal: ew.reciprocal,
    np.square: ew.square,
    np.exp: ew.exp,
    np.expm1: ew.expm1,
    np.exp2: ew.exp2,
    np.log: ew.log,
    np.log1p: ew.log1p,
    np.log2: ew.log2,
    np.log10: ew.log10,
    np.sqrt: ew.sqrt,
    np.cbrt: ew.cbrt,
    np.sin: ew.sin,
    np.cos: ew.cos,
    np.tan: ew.tan,
    np.arcsin: ew.arcsin,
    np.arccos: ew.arccos,
    np.arctan: ew.arctan,
    np.sinh: ew.sinh,
    np.cosh: ew.cosh,
    np.tanh: ew.tanh,
    np.arcsinh: ew.arcsinh,
    np.arccosh: ew.arccosh,
    np.arctanh: ew.arctanh,
    np.arctan2: ew.arctan2,
    np.hypot: ew.hypot,
    np.logaddexp: ew.logaddexp,
    np.maximum: ew.maximum,
    np.minimum: ew.minimum,
    np.fmax: ew.maximum,
    np.fmin: ew.minimum,
    np.sign: ew.sign,
    np.floor: ew.floor,
    np.ceil: ew.ceil,
    np.rint: ew.rint,
    np.trunc: ew.trunc,
    np.matmul: matmul,
}

PRIMAL_UFUNCS = {
    np.greater,
    np.greater_equal,
    np.less,
    np.less_equal,
    np.equal,
    np.not_equal,
    np.isfinite,
    np.isinf,
    np.isnan,
    np.signbit,
    np.logical_and,
    np.logical_or,
    np.logical_not,
    np.logical_xor,
    np.floor_divide,
}

FUNCTIONS = {
    np.sum: sum,
    np.mean: mean,
    np.prod: prod,
    np.max: max,
    np.amax: max,
    np.min: min,
    np.amin: min,
    np.cumsum: cumsum,
    np.dot: dot,
    np.inner: inner,
    np.outer: outer,
    np.transpose: transpose,
    np.moveaxis: moveaxis,
    np.swapaxes: swapaxes,
    np.reshape: reshape,
    np.ravel: ravel,
    np.squeeze: squeeze,
    np.expand_dims: expand_dims,
    np.broadcast_to: broadcast_to,
    np.atleast_1d: atleast_1d,
    np.atleast_2d: atleast_2d,
    np.concatenate: concatenate,
    np.stack: stack,
    np.vstack: vstack,
    np.hstack: hstack,
    np.where: where,
    np.clip: clip,
    np.round: round,
    np.around: round,
}

PRIMAL_FUNCTIONS = {
    np.shape,
    np.ndim,
    np.size,
    np.argmax,
    np.argmin,
    np.argsort,
    np.argwhere,
    np.nonzero,
    np.flatnonzero,
    np.count_nonzero,
    np.all,
    np.any,
    np.isclose,
    np.allclose,
    np.array_equal,
    np.searchsorted,
    np.zeros_like,
    np.ones_like,
    np.empty_like,
    np.full_like,
    np.result_type,
    np.iscomplexobj,
    np.isrealobj,
}
