"""NumPy's shape functions on traced values, and building arrays from traced scalars."""

from __future__ import annotations

import builtins

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from ..rules import shapes as rules_shape
from . import writing
from ..rules.primitive import (
    Case,
    Traced,
    call_with,
    implements,
    lift,
    ndim_of,
    normalize_axes,
    shape_of,
)


@implements(np.transpose, cases=(
    Case("3d", ((2, 3, 4),), call_with()),
    Case("T", ((3, 4),), lambda _, x: x.T),
))
def transpose(x, axes=None):
    n = ndim_of(x)
    if axes is None:
        axes = tuple(reversed(range(n)))
    else:  # NumPy's checks: one axis per dimension, each in range (np.transpose refuses repeats)
        if len(axes) != n:
            raise ValueError("axes don't match array")
        axes = tuple(normalize_axis_index(int(a), n) for a in axes)
    return writing.view_of_transpose(x, axes, rules_shape.transpose(x, axes))


@implements(np.moveaxis, cases=(
    Case("one", ((2, 3, 4),), lambda fn, x: fn(x, 0, -1)),
    Case("many", ((2, 3, 4),), lambda fn, x: fn(x, [0, 1], [2, 0])),
))
def moveaxis(x, source, destination):
    """NumPy's steps: each source axis, in the order given, goes to its destination."""
    n = ndim_of(x)
    source = normalize_axis_tuple(source, n, "source")
    dest = normalize_axis_tuple(destination, n, "destination")
    if len(source) != len(dest):
        raise ValueError("`source` and `destination` arguments must have the same number of "
                         "elements")
    order = [i for i in range(n) if i not in source]
    for d, s in sorted(zip(dest, source)):
        order.insert(d, s)
    return rules_shape.transpose(x, tuple(order))


@implements(np.swapaxes, cases=(Case("3d", ((2, 3, 4),), lambda fn, x: fn(x, 0, 2)),))
def swapaxes(x, axis1, axis2):
    n = ndim_of(x)
    order = list(range(n))
    i = normalize_axis_index(int(axis1), n, "axis1")
    j = normalize_axis_index(int(axis2), n, "axis2")
    order[i], order[j] = order[j], order[i]
    return rules_shape.transpose(x, tuple(order))


@implements(np.reshape, cases=(Case("minus-one", ((3, 4),), lambda fn, x: fn(x, (2, -1))),))
def reshape(x, shape, order="C"):
    if order != "C":
        raise TypeError("reshape(order=...) other than 'C' is not supported on traced values")
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
    if -1 in shape:  # resolve the free axis (and let NumPy word any mismatch)
        shape = np.empty(shape_of(x), dtype=bool).reshape(shape).shape
    return writing.view_of_reshape(x, shape, rules_shape.reshape(x, shape))


@implements(np.ravel, cases=(Case("matrix", ((3, 4),), call_with()),))
def ravel(x, order="C"):
    return reshape(x, (-1,), order)


@implements(np.squeeze, cases=(
    Case("all", ((1, 4, 1),), call_with()),
    Case("axis", ((1, 4, 1),), call_with(axis=2)),
))
def squeeze(x, axis=None):
    shape = shape_of(x)
    if axis is None:
        axes = tuple(i for i, s in enumerate(shape) if s == 1)
    else:
        axes = normalize_axes(axis, len(shape))
        if builtins.any(shape[a] != 1 for a in axes):
            raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
    return rules_shape.reshape(x, tuple(s for i, s in enumerate(shape) if i not in axes))


@implements(np.expand_dims, cases=(
    Case("middle", ((3, 4),), lambda fn, x: fn(x, 1)),
    Case("last", ((3,),), lambda fn, x: fn(x, -1)),
))
def expand_dims(x, axis):
    shape = shape_of(x)
    return rules_shape.reshape(x, np.expand_dims(np.empty(shape, dtype=bool), axis).shape)


@implements(np.broadcast_to, cases=(Case("row", ((1, 4),), lambda fn, x: fn(x, (3, 4))),))
def broadcast_to(x, shape):
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
    return rules_shape.broadcast_to(x, shape)


@implements(np.atleast_1d)
def atleast_1d(x):
    return x if ndim_of(x) >= 1 else rules_shape.reshape(x, (1,))


@implements(np.atleast_2d)
def atleast_2d(x):
    n = ndim_of(x)
    return x if n >= 2 else rules_shape.reshape(x, (1,) * (2 - n) + shape_of(x))


@implements(np.concatenate, cases=(
    Case("axis=0", ((2, 3), (1, 3)), lambda fn, a, b: fn([a, b])),
    Case("axis=-1", ((3, 2), (3, 1)), lambda fn, a, b: fn([a, b], axis=-1)),
))
def concatenate(arrays, axis=0):
    arrays = list(arrays)
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    n = ndim_of(arrays[0])
    if n == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    return rules_shape.concatenate(*arrays, axis=normalize_axis_index(int(axis), n))


@implements(np.stack, cases=(
    Case("vectors", ((3,), (3,)), lambda fn, a, b: fn([a, b])),
    Case("axis=1", ((3, 2), (3, 2)), lambda fn, a, b: fn([a, b], axis=1)),
    Case("scalars", ((), ()), lambda fn, a, b: fn([a, b])),
))
def stack(arrays, axis=0):
    """Join arrays of one shape along a new ``axis`` (builds arrays from traced scalars)."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("need at least one array to stack")
    shapes = {shape_of(a) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"all input arrays must have the same shape, got {sorted(shapes)}")
    n = ndim_of(arrays[0]) + 1
    axis = normalize_axis_index(int(axis), n)
    return rules_shape.concatenate(*[expand_dims(a, axis) for a in arrays], axis=axis)


@implements(np.vstack)
def vstack(arrays):
    return concatenate([atleast_2d(a) for a in arrays], axis=0)


@implements(np.hstack)
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
    return lift(obj) if isinstance(obj, np.ndarray) else np.asarray(obj)
