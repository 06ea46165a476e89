"""Building arrays: ``pack`` (behind ``np.array([a, b, c])``), ``copy`` and ``filled_like``.

NumPy builds ``np.array([t1, t2])`` of traced scalars as an *object* array (it cannot be asked to
dispatch ``np.array``); :func:`autodiff.numpy_api.building.lift` turns such an array into one
``pack`` of its elements.  ``pack`` is linear in its elements: its JVP packs the tangents, its VJP
hands element ``i`` the entry ``i`` of the cotangent.  Tangents and cotangents may carry leading
batch axes (``batch + ()`` per element, ``batch + shape`` for the array).
"""

from __future__ import annotations

import numpy as np

from . import indexing, shapes
from .primitive import Case, Primitive, batch_ndim, call_with, shape_of, zeros
from .series import FIRST_ORDER, LOCALLY_CONSTANT

__all__ = ["pack", "copy", "filled_like"]


def _pack_impl(*elements, shape):
    """``np.array(elements)`` reshaped to ``shape``: NumPy's own dtype for the elements."""
    return np.array(elements).reshape(shape)


def _pack_jvp(primals, tangents, out, shape):
    live = next(t for t in tangents if t is not None)
    n_batch = batch_ndim(live, primals[tangents.index(live)])
    if n_batch == 0:
        parts = [zeros((), out) if t is None else t for t in tangents]
        return pack(*parts, shape=shape)
    batch = shape_of(live)[:n_batch]
    columns = [
        zeros(batch + (1,), out) if t is None else shapes.reshape(t, batch + (1,))
        for t in tangents
    ]
    joined = columns[0] if len(columns) == 1 else shapes.concatenate(*columns, axis=n_batch)
    return shapes.reshape(joined, batch + tuple(shape))


def _pack_vjp(g, primals, out, wanted, shape):
    n_batch = batch_ndim(g, out)
    flat = shapes.reshape(g, shape_of(g)[:n_batch] + (len(primals),))
    return [indexing.getitem(flat, index=(Ellipsis, i)) for i in wanted]


pack = Primitive(
    "pack",
    _pack_impl,
    _pack_jvp,
    _pack_vjp,
    taylor=FIRST_ORDER,
    cases=(
        Case("three", ((), (), ()), lambda fn, a, b, c: fn(a, b, c, shape=(3,))),
        Case("matrix-with-constant", ((), (), ()),
             lambda fn, a, b, c: fn(a, np.float32(2.0), b, c, shape=(2, 2))),
    ),
)


# ``x.copy()`` and ``np.zeros_like(x)`` of a traced x: new arrays that take traced writes.


def _copy_jvp(primals, tangents, out):
    return copy(tangents[0])


def _copy_vjp(g, primals, out, wanted):
    return [g]


copy = Primitive(
    "copy",
    lambda x: np.array(x, copy=True) if type(x) is np.ndarray else x,
    _copy_jvp,
    _copy_vjp,
    taylor=FIRST_ORDER,
    cases=(Case("matrix", ((3, 4),), lambda fn, x: fn(x)),),
)


def _filled_like_jvp(primals, tangents, out, fill, dtype=None):
    """A constant in x's shape: zero tangent, written out (the array must take traced writes)."""
    (x,) = primals
    (t,) = tangents
    return zeros(shape_of(t), out)


filled_like = Primitive(
    "filled_like",
    lambda x, fill, dtype=None: np.full_like(x, fill, dtype=dtype),
    _filled_like_jvp,
    lambda g, primals, out, wanted, fill, dtype=None: [None],
    taylor=LOCALLY_CONSTANT,
    cases=(Case("matrix", ((3, 4),), call_with(fill=0.5)),),
)
