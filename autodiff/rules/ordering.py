"""Gathers along one axis and their transpose: what sorting, ``take_along_axis`` and
``put_along_axis`` are made of.

``take_along_axis(x, indices, axis)`` picks, in every 1-d slice along ``axis``, the entries at
``indices`` (NumPy's ``np.take_along_axis``; ``indices`` broadcasts against ``x`` in the other
axes).  It is linear in ``x``: its JVP is the same gather of the tangent, its VJP the transpose,
``scatter_along_axis``, which adds every cotangent entry back at the position it was taken from
(repeated positions accumulate).  Each is the other's transpose, so derivatives of any order need
nothing more.  ``indices`` are integers computed from primal values (an ``argsort``, say): they
are a static parameter and carry no derivative.

Sorting is such a gather with the permutation of a stable ``argsort`` (API.md's kink table: over
ties the derivative follows the element NumPy's stable sort places there).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from . import shapes
from .primitive import (
    Case,
    ParametrizedPrimitive,
    batch_ndim,
    call_with,
    ndim_of,
    on_data,
    shape_of,
)
from .series import FIRST_ORDER

__all__ = ["take_along_axis", "scatter_along_axis", "along_axis_index", "sort_order"]


def along_axis_index(indices, axis: int, shape: tuple) -> tuple:
    """The advanced index ``x[index] == np.take_along_axis(x, indices, axis)`` for ``x`` of
    ``shape``: ``indices`` on ``axis``, an ``arange`` broadcast along every other axis."""
    axis = normalize_axis_index(axis, len(shape))
    index = []
    for d, size in enumerate(shape):
        if d == axis:
            index.append(indices)
        else:
            steps = np.arange(size)
            index.append(steps.reshape((1,) * d + (size,) + (1,) * (len(shape) - d - 1)))
    return tuple(index)


def _with_batch(indices, n_batch: int):
    """``indices`` for a tangent with ``n_batch`` leading axes (they broadcast)."""
    return indices.reshape((1,) * n_batch + indices.shape) if n_batch else indices


def _take_along_axis_jvp(primals, tangents, out, indices, axis):
    (x,) = primals
    (t,) = tangents
    n_batch = batch_ndim(t, x)
    return take_along_axis(t, indices=_with_batch(indices, n_batch),
                           axis=shapes.batched_axis(axis, ndim_of(x), n_batch))


def _take_along_axis_vjp(g, primals, out, wanted, indices, axis):
    (x,) = primals
    n_batch = batch_ndim(g, out)
    return [scatter_along_axis(g, indices=_with_batch(indices, n_batch),
                               axis=shapes.batched_axis(axis, ndim_of(x), n_batch),
                               shape=shape_of(g)[:n_batch] + shape_of(x))]


take_along_axis = ParametrizedPrimitive(
    "take_along_axis",
    lambda x, indices, axis: np.take_along_axis(np.asarray(x), indices, axis),
    _take_along_axis_jvp,
    _take_along_axis_vjp,
    taylor=FIRST_ORDER,
    n_operands=1,
    param_names=("indices", "axis"),
    cases=(
        Case("permutation", ((3, 4),),
             call_with(indices=np.array([[3, 0, 1, 2], [1, 2, 3, 0], [0, 1, 2, 3]]), axis=1)),
        Case("repeated-axis0", ((3, 2),), call_with(indices=np.array([[2, 2], [0, 2]]), axis=0)),
        Case("broadcast-indices", ((3, 4),), call_with(indices=np.array([[1, -1]]), axis=1)),
        Case("negative-axis", ((3, 4),), call_with(indices=np.array([[2, 0], [3, 3], [1, 0]]),
                                                   axis=-1)),
    ),
)


def _scatter_along_axis_impl(y, indices, axis, shape):
    """Zeros of ``shape`` with ``y`` added at the positions ``take_along_axis`` reads."""
    y = np.asarray(y)
    result = np.zeros(shape, dtype=y.dtype)
    np.add.at(result, along_axis_index(indices, axis, shape), y)
    return result


def _scatter_along_axis_jvp(primals, tangents, out, indices, axis, shape):
    (y,) = primals
    (t,) = tangents
    n_batch = batch_ndim(t, y)
    return scatter_along_axis(t, indices=_with_batch(indices, n_batch),
                              axis=shapes.batched_axis(axis, len(shape), n_batch),
                              shape=shape_of(t)[:n_batch] + tuple(shape))


def _scatter_along_axis_vjp(g, primals, out, wanted, indices, axis, shape):
    (y,) = primals
    n_batch = batch_ndim(g, out)
    picked = take_along_axis(g, indices=_with_batch(indices, n_batch),
                             axis=shapes.batched_axis(axis, len(shape), n_batch))
    return [shapes.unbroadcast(picked, shape_of(y), n_batch)]


scatter_along_axis = ParametrizedPrimitive(
    "scatter_along_axis",
    _scatter_along_axis_impl,
    _scatter_along_axis_jvp,
    _scatter_along_axis_vjp,
    taylor=FIRST_ORDER,
    n_operands=1,
    param_names=("indices", "axis", "shape"),
    cases=(
        Case("repeated", ((2, 3),),
             call_with(indices=np.array([[0, 0, 4], [1, 3, 3]]), axis=1, shape=(2, 5))),
        Case("axis0", ((2, 4),), call_with(indices=np.array([[2, 0, 0, 1], [2, 2, 1, 0]]), axis=0,
                                           shape=(3, 4))),
        Case("negative-axis", ((2, 3),),
             call_with(indices=np.array([[0, 0, 4], [1, 3, 3]]), axis=-1, shape=(2, 5))),
    ),
)


def sort_order(x, axis: int):
    """The permutation of NumPy's stable sort of the primal values along ``axis`` (nan last)."""
    return on_data(_stable_argsort, x, axis)


def _stable_argsort(x, axis):
    return np.argsort(np.asarray(x), axis=axis, kind="stable")
