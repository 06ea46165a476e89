"""Indexing and selection: ``x[index]``, its transpose (scatter-add), and ``where``.

``getitem`` takes NumPy's basic and advanced indices (ints, slices, ``None``, ``...``, integer
arrays, bool masks); its VJP scatters the cotangent back, accumulating repeated positions.
``where`` selects, it does not multiply: a nan or inf in the branch not taken stays out.
"""

from __future__ import annotations

import numpy as np

from . import shapes
from .primitive import (
    Case,
    ParametrizedPrimitive,
    Primitive,
    batch_ndim,
    call_with,
    ndim_of,
    shape_of,
    zeros,
)
from .series import FIRST_ORDER

__all__ = ["getitem", "scatter_add", "where"]

# test masks and conditions for (3, 4) inputs
_MASK = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])
_CONDITION = np.array(
    [[True, False, True, False], [False, True, True, False], [True, False, False, True]]
)


def _index_case(label, index, shape=(3, 4)):
    return Case(label, (shape,), lambda fn, x: fn(x, index=index))


def _expand_ellipsis(index, ndim: int) -> tuple:
    """``index`` as a tuple with any ``...`` replaced by explicit full slices."""
    if not isinstance(index, tuple):
        index = (index,)
    consumed = 0
    for item in index:
        if item is None or item is Ellipsis:
            continue
        if isinstance(item, np.ndarray) and item.dtype == bool:
            consumed += item.ndim
        else:
            consumed += 1
    if any(item is Ellipsis for item in index):
        at = next(i for i, item in enumerate(index) if item is Ellipsis)
        index = index[:at] + (slice(None),) * (ndim - consumed) + index[at + 1:]
    return index


def _batch_last(t, n_batch):
    """Move the leading batch axes to the end (so the primal's index applies unchanged)."""
    if n_batch == 0:
        return t
    n = ndim_of(t)
    return shapes.transpose(t, tuple(range(n_batch, n)) + tuple(range(n_batch)))


def _batch_first(t, n_batch):
    if n_batch == 0:
        return t
    n = ndim_of(t)
    return shapes.transpose(t, tuple(range(n - n_batch, n)) + tuple(range(n - n_batch)))


def _getitem_jvp(primals, tangents, out, index):
    (x,) = primals
    (t,) = tangents
    n_batch = batch_ndim(t, x)
    if n_batch == 0:
        return getitem(t, index=index)
    full = _expand_ellipsis(index, ndim_of(x))
    return _batch_first(getitem(_batch_last(t, n_batch), index=full), n_batch)


def _getitem_vjp(g, primals, out, wanted, index):
    (x,) = primals
    n_batch = batch_ndim(g, out)
    if n_batch == 0:
        return [scatter_add(g, index=index, shape=shape_of(x))]
    full = _expand_ellipsis(index, ndim_of(x))
    batch = shape_of(g)[:n_batch]
    scattered = scatter_add(_batch_last(g, n_batch), index=full, shape=shape_of(x) + batch)
    return [_batch_first(scattered, n_batch)]


def _getitem_impl(x, index):
    return np.asarray(x)[index]


getitem = ParametrizedPrimitive(
    "getitem",
    _getitem_impl,
    _getitem_jvp,
    _getitem_vjp,
    taylor=FIRST_ORDER,
    n_operands=1,
    param_names=("index",),
    cases=(
        _index_case("int", 1),
        _index_case("negative-int", -1),
        _index_case("int-int", (2, 1)),
        _index_case("column", (slice(None), 2)),
        _index_case("slices", (slice(1, None), slice(None, None, 2))),
        _index_case("reversed", slice(None, None, -1), shape=(5,)),
        _index_case("int-array-repeated", np.array([0, 2, 2]), shape=(5,)),
        _index_case("int-arrays", (np.array([0, 2]), np.array([1, 3]))),
        _index_case("int-array-slice", (np.array([2, 0, 2]), slice(1, 3))),
        _index_case("bool-mask", _MASK),
        _index_case("bool-row-mask", np.array([True, False, True])),
        _index_case("ellipsis", (Ellipsis, 1)),
        _index_case("ellipsis-3d", (0, Ellipsis, slice(1, 3)), shape=(2, 3, 4)),
        _index_case("none", (None, slice(None), 1)),
        _index_case("ellipsis-none", (Ellipsis, None)),
        _index_case("scalar-of-vector", 3, shape=(5,)),
        Case("list", ((5,),), lambda fn, x: x[[0, 3, 3]]),
        Case("mask-of-primal", ((3, 4),), lambda fn, x: x[x > 0]),
    ),
)


def _scatter_add_impl(y, index, shape):
    """Zeros of ``shape`` with ``y`` added at ``[index]`` (repeated indices accumulate)."""
    result = np.zeros(shape, dtype=np.result_type(y))
    if _is_basic_index(index):  # no position can repeat: a plain assignment
        result[index] = y
    else:
        np.add.at(result, index, y)
    return result


def _is_basic_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(
        item is None or item is Ellipsis or isinstance(item, (slice, int, np.integer))
        for item in items
    )


def _scatter_add_jvp(primals, tangents, out, index, shape):
    (y,) = primals
    (t,) = tangents
    n_batch = batch_ndim(t, y)
    if n_batch == 0:
        return scatter_add(t, index=index, shape=shape)
    batch = shape_of(t)[:n_batch]
    full = _expand_ellipsis(index, len(shape))
    scattered = scatter_add(_batch_last(t, n_batch), index=full, shape=tuple(shape) + batch)
    return _batch_first(scattered, n_batch)


def _scatter_add_vjp(g, primals, out, wanted, index, shape):
    """The transpose of scattering is gathering: ``g[index]``, summed over broadcast axes."""
    (y,) = primals
    n_batch = batch_ndim(g, out)
    if n_batch == 0:
        picked = getitem(g, index=index)
    else:
        full = _expand_ellipsis(index, len(shape))
        picked = _batch_first(getitem(_batch_last(g, n_batch), index=full), n_batch)
    return [shapes.unbroadcast(picked, shape_of(y), n_batch)]


scatter_add = ParametrizedPrimitive(
    "scatter_add",
    _scatter_add_impl,
    _scatter_add_jvp,
    _scatter_add_vjp,
    taylor=FIRST_ORDER,
    n_operands=1,
    param_names=("index", "shape"),
    cases=(
        Case("int-array-repeated", ((3,),), call_with(index=np.array([0, 2, 2]), shape=(5,))),
        Case("column", ((3,),), call_with(index=(slice(None), 1), shape=(3, 4))),
        Case("broadcast-value", ((),),
             call_with(index=(slice(1, None), slice(None, None, 2)), shape=(3, 4))),
        Case("bool-mask", ((7,),), call_with(index=_MASK, shape=(3, 4))),
        Case("int-arrays", ((2, 2),),
             call_with(index=(np.array([[0], [2]]), np.array([1, 1])), shape=(3, 4))),
    ),
)

# ``where`` selects, it does not multiply: a nan or inf in the branch not taken stays out.


def _where_impl(condition, a, b):
    return np.where(condition, a, b)[()]


def _where_jvp(primals, tangents, out):
    condition, a, b = primals
    _, ta, tb = tangents
    live = ta if ta is not None else tb
    x_live = a if ta is not None else b
    n_batch = batch_ndim(live, x_live)
    batch = shape_of(live)[:n_batch]
    out_ndim = ndim_of(out)
    zero = zeros((), out)
    ta = zero if ta is None else shapes.pad_to(ta, ndim_of(a), out_ndim)
    tb = zero if tb is None else shapes.pad_to(tb, ndim_of(b), out_ndim)
    result = where(condition, ta, tb)
    target = batch + shape_of(out)
    return result if shape_of(result) == target else shapes.broadcast_to(result, target)


def _where_vjp(g, primals, out, wanted):
    condition, a, b = primals
    n_batch = batch_ndim(g, out)
    zero = zeros((), g)
    results = []
    for i in wanted:
        picked = where(condition, g, zero) if i == 1 else where(condition, zero, g)
        results.append(shapes.unbroadcast(picked, shape_of(primals[i]), n_batch))
    return results


where = Primitive(
    "where",
    _where_impl,
    _where_jvp,
    _where_vjp,
    taylor=FIRST_ORDER,
    cases=(
        Case("same-shape", ((3, 4), (3, 4)), lambda fn, a, b: fn(_CONDITION, a, b)),
        Case("broadcast", ((4,), (3, 1)), lambda fn, a, b: fn(_CONDITION, a, b)),
        Case("constant-branch", ((3, 4),), lambda fn, a: fn(_CONDITION, 0.0, a)),
        Case("scalar-branch", ((),), lambda fn, a: fn(_CONDITION, a, 1.0)),
    ),
)
