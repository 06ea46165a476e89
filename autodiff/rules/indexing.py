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
    Traced,
    batch_ndim,
    bind,
    call_with,
    holds_recorded,
    ndim_of,
    on_data,
    shape_of,
    zeros,
)
from .series import FIRST_ORDER

__all__ = ["getitem", "scatter_add", "where", "index_update", "SparseCotangent", "bool_mask",
           "accumulate_sparse", "add_into_slice"]

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
        return bind(getitem, t, index=index)  # (an operand and a keyword: getitem's call)
    full = _expand_ellipsis(index, ndim_of(x))
    if is_basic_index(full):  # the batch axes lead and stay in place: one gather
        return getitem(t, index=(slice(None),) * n_batch + full)
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


class SparseCotangent:
    """The cotangent of ``x[index]`` as index and values: ``g`` at ``index`` of zeros like x.

    The reverse sweep adds it into the cotangent buffer it owns for ``x`` in place
    (:meth:`add_into`), so a loop over ``x[i]`` costs O(1) per use and one dense array per
    base per sweep (:meth:`dense` makes it when the buffer does not exist yet).  ``shape`` is
    ``batch + x.shape``; ``values`` is ``batch + x[index].shape``.
    """

    __slots__ = ("index", "values", "shape", "n_batch")

    def __init__(self, index, values, shape, n_batch):
        self.index = index
        self.values = values
        self.shape = shape
        self.n_batch = n_batch

    def dense(self):
        values = self.values
        out = np.zeros(self.shape, values.dtype if type(values) is np.ndarray
                       else np.result_type(values))
        self.add_into(out, zeros=True)
        return out

    def fits(self, buffer) -> bool:
        if type(self.values) is float:  # x[i] of a float64 array: the scalar fast path
            return buffer.shape == self.shape
        values = self.values
        return buffer.shape == self.shape and (
            # an array of the buffer's dtype (the sweep's usual pair) casts without asking NumPy
            type(values) is np.ndarray and values.dtype == buffer.dtype
            or np.can_cast(np.result_type(values), buffer.dtype, casting="same_kind")
        )

    def add_to(self, buffer) -> bool:
        """Add into ``buffer`` in place if it is an array this cotangent :meth:`fits`;
        whether it did (see :func:`accumulate_sparse`)."""
        if type(buffer) is np.ndarray and self.fits(buffer):
            self.add_into(buffer)
            return True
        return False

    def add_into(self, buffer, zeros=False):
        """``buffer[index] += values``, repeated positions summed as the dense scatter sums
        them (``zeros``: ``buffer`` is known to hold zeros)."""
        index, values, n_batch = self.index, self.values, self.n_batch
        if type(index) is slice and not n_batch:
            add_into_slice(buffer, index, values)
            return
        if type(index) is int:
            buffer[index] += values
            return
        if n_batch:
            batch_axes = tuple(range(n_batch))
            buffer = np.moveaxis(buffer, batch_axes, tuple(range(-n_batch, 0)))
            values = np.moveaxis(values, batch_axes, tuple(range(-n_batch, 0)))
        if is_basic_index(index):  # no position repeats: a plain in-place add
            buffer[index] += values
            return
        items = index if isinstance(index, tuple) else (index,)
        if zeros or not all(isinstance(item, np.ndarray) for item in items):
            np.add.at(buffer, index, values)  # into zeros, or arrays mixed with slices
            return
        # integer arrays: repeated positions are summed first, in order, as the dense
        # scatter sums them, then added once (the same numbers to the last bit)
        lead = buffer.shape[: len(items)]
        # mode="wrap": negative indices count from the end (getitem checked the bounds)
        positions = np.ravel_multi_index(np.broadcast_arrays(*items), lead, mode="wrap").ravel()
        unique, inverse = np.unique(positions, return_inverse=True)
        flat_values = np.reshape(values, positions.shape + buffer.shape[len(items):])
        sums = np.zeros((unique.size,) + buffer.shape[len(items):], dtype=flat_values.dtype)
        np.add.at(sums, inverse, flat_values)
        buffer[np.unravel_index(unique, lead)] += sums


def add_into_slice(buffer, index: slice, values):
    """``buffer[index] += values`` for a slice (a basic index: no position repeats): the add
    into the view, without writing the view back onto itself."""
    part = buffer[index]
    np.add(part, values, out=part)


def accumulate_sparse(store: dict, owned: set, key, sparse):
    """``store[key] += sparse`` for an index-and-values cotangent, without a dense temporary
    where possible: the one accumulation of sparse cotangents in a reverse sweep.

    With no buffer at ``key`` yet, the dense cotangent becomes it (``store[key] =
    sparse.dense()``, a buffer the sweep owns: ``owned`` gets ``key``) and the result is
    ``True``; a buffer the sweep owns takes the values in place when ``sparse.add_to(buffer)``
    accepts it (``False``).  Otherwise ``None``: the caller adds ``sparse.dense()`` as any
    other cotangent (a buffer someone else may hold, or of another kind).  ``sparse`` is a
    :class:`SparseCotangent` or has its ``dense`` and ``add_to`` (the sweep's pair of them
    for the parts of a dual cotangent, in forward over reverse).
    """
    current = store.get(key)
    if current is None:
        store[key] = sparse.dense()
        owned.add(key)
        return True
    if key in owned and sparse.add_to(current):
        return False
    return None


def _sparse_index(index) -> bool:
    """Ints, slices, ``None``, ``...`` and integer arrays (bool masks stay dense)."""
    items = index if isinstance(index, tuple) else (index,)
    return not any(isinstance(item, np.ndarray) and item.dtype == bool for item in items)


def _getitem_sparse_vjp(g, primals, out, wanted, index):
    (x,) = primals
    if type(g) is float and type(index) is int:  # x[i] of a float64 array
        return [SparseCotangent(index, g, x.shape, 0)]
    if type(index) is slice and type(g) is np.ndarray and g.ndim == (
        out.ndim if type(out) is np.ndarray else len(shape_of(out))
    ):
        # x[a:b] with no batch axes (a slice is a basic index: nothing recorded, no mask)
        return [SparseCotangent(index, g, shape_of(x), 0)]
    if not _sparse_index(index) or holds_recorded(index):
        # bool masks; positions recorded by ad.jit, which the dense scatter (a recorded step)
        # reads from their slot on every replay
        return _getitem_vjp(g, primals, out, wanted, index)
    n_batch = batch_ndim(g, out)
    full = _expand_ellipsis(index, ndim_of(x)) if n_batch else index
    return [SparseCotangent(full, g, shape_of(g)[:n_batch] + shape_of(x), n_batch)]


def _getitem_impl(x, index):
    """``x[index]``; a float64 scalar comes out as a Python float, so the scalar fast paths of
    ``Dual`` and ``Var`` (and the sweep's inline path) take over for ``x[i]`` in a loop."""
    out = np.asarray(x)[index]
    return float(out) if type(out) is np.float64 else out


getitem = ParametrizedPrimitive(
    "getitem",
    _getitem_impl,
    _getitem_jvp,
    _getitem_vjp,
    taylor=FIRST_ORDER,
    n_operands=1,
    param_names=("index",),
    sparse_vjp=_getitem_sparse_vjp,
    vjp_reads=(),
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
    if is_basic_index(index):  # no position can repeat: a plain assignment
        result[index] = y
    else:
        np.add.at(result, index, y)
    return result


def is_basic_index(index) -> bool:
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


def bool_mask(condition, shape):
    """``condition`` (a ``where=`` argument) as a bool array broadcast to ``shape``; computed
    from values recorded by ``ad.jit``, it is a recorded step, so a replay masks with its own.
    """
    return on_data(_broadcast_bool, condition, shape)


def _broadcast_bool(condition, shape):
    return np.broadcast_to(np.asarray(condition, dtype=bool), shape)


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


# ``y[index] = v``: a new version of y.  NumPy's semantics: the derivative flows through the
# written values and not through the overwritten ones.


def _selected_ndim(shape, index) -> int:
    """``ndim`` of ``np.empty(shape)[index]``, found on a zero-stride stand-in (no allocation);
    positions recorded by ``ad.jit`` stand in as zeros of their shape (positions set no shape)."""
    if holds_recorded(index):
        index = tuple(np.zeros(shape_of(item), dtype=np.intp) if isinstance(item, Traced)
                      else item for item in index)
    return np.broadcast_to(np.empty((), dtype=bool), shape)[index].ndim


def _index_update_impl(y, v, index, inplace=False):
    """``y`` with ``y[index] = v``; written into ``y`` itself when ``inplace`` (its owner says
    nothing else can see it), else into a copy."""
    writable = inplace and type(y) is np.ndarray and y.flags.writeable
    out = y if writable else np.array(y, copy=True)
    out[index] = v
    return out if out.ndim or type(y) is np.ndarray else out[()]


def _aligned_value(t, v, n_batch, selected_ndim):
    """A tangent of ``v`` (``batch + v.shape``) as ``batch + v.shape'``, ``v.shape`` padded with
    ones to the selection's ndim, so it broadcasts into ``batch + y[index].shape``."""
    v_shape = shape_of(v)
    padded = (1,) * (selected_ndim - len(v_shape)) + v_shape
    return shapes.reshape(t, shape_of(t)[:n_batch] + padded)


def _index_update_jvp(primals, tangents, out, index, inplace=False):
    y, v = primals
    t_y, t_v = tangents
    live = t_y if t_y is not None else t_v
    n_batch = batch_ndim(live, y if t_y is not None else v)
    batch = shape_of(live)[:n_batch]
    if t_y is None:
        t_y, inplace = zeros(batch + shape_of(y), out), True
    if t_v is None:  # a constant written: its zero tangent has no batch axes, it broadcasts
        t_v, v_batch = zeros((), out), 0
    else:
        v_batch = n_batch
    if n_batch == 0:
        return index_update(t_y, t_v, index=index, inplace=inplace)
    full = _expand_ellipsis(index, ndim_of(y))
    if v_batch:
        t_v = _aligned_value(t_v, v, n_batch, _selected_ndim(shape_of(y), full))
    if is_basic_index(full):  # the batch axes lead and stay in place
        return index_update(t_y, t_v, index=(slice(None),) * n_batch + full, inplace=inplace)
    updated = index_update(_batch_last(t_y, n_batch), _batch_last(t_v, v_batch), index=full,
                           inplace=inplace)
    return _batch_first(updated, n_batch)


def _last_writes(shape, index, selected_shape):
    """Bool mask over ``y[index]``'s positions: True where that write is the one that stays.

    ``y[[0, 0]] = [a, b]`` keeps ``b`` (NumPy assigns in order); ``a`` gets no derivative.
    ``None`` when no position is written twice.  Positions recorded by ``ad.jit`` give the mask
    as a recorded step (all true when none repeats), recomputed by every replay.
    """
    if holds_recorded(index):
        return on_data(_last_write_mask, shape, index, selected_shape)
    positions = _written_positions(shape, index, selected_shape)
    if np.unique(positions).size == positions.size:
        return None
    return _last_of(positions).reshape(selected_shape)


def _written_positions(shape, index, selected_shape):
    """The flat positions ``y[index] = v`` writes, in NumPy's order of assignment."""
    positions = np.arange(int(np.prod(shape)), dtype=np.intp).reshape(shape)[index]
    return np.broadcast_to(positions, selected_shape).ravel()


def _last_of(positions):
    """True where an entry of ``positions`` is the last occurrence of its value."""
    last = np.zeros(positions.size, dtype=bool)
    _, first_in_reversed = np.unique(positions[::-1], return_index=True)
    last[positions.size - 1 - first_in_reversed] = True
    return last


def _last_write_mask(shape, index, selected_shape):
    """:func:`_last_writes`' mask, all true when no position repeats (a recorded step)."""
    return _last_of(_written_positions(shape, index, selected_shape)).reshape(selected_shape)


def _index_update_vjp(g, primals, out, wanted, index, inplace=False):
    """``y_bar = g`` with ``index`` zeroed; ``v_bar = g[index]`` summed to ``v``'s shape."""
    y, v = primals
    n_batch = batch_ndim(g, out)
    full = _expand_ellipsis(index, ndim_of(y)) if n_batch else index
    zero = zeros((), g)
    results = []
    for i in wanted:
        if i == 0:
            cleared = index_update(_batch_last(g, n_batch), zero, index=full)
            results.append(_batch_first(cleared, n_batch))
            continue
        picked = _batch_first(getitem(_batch_last(g, n_batch), index=full), n_batch)
        if not is_basic_index(index):
            kept = _last_writes(shape_of(y), index, shape_of(picked)[n_batch:])
            if kept is not None:
                picked = where(kept, picked, zero)
        results.append(shapes.unbroadcast(picked, shape_of(v), n_batch))
    return results


index_update = ParametrizedPrimitive(
    "index_update",
    _index_update_impl,
    _index_update_jvp,
    _index_update_vjp,
    taylor=FIRST_ORDER,
    n_operands=2,
    param_names=("index", "inplace"),
    vjp_reads=(),
    cases=(
        Case("int", ((5,), ()), call_with(index=2)),
        Case("slice", ((5,), (2,)), call_with(index=slice(1, 3))),
        Case("broadcast-row", ((3, 4), (4,)), call_with(index=(slice(None, 2),))),
        Case("column", ((3, 4), (3,)), call_with(index=(slice(None), 1))),
        Case("ellipsis", ((2, 3, 4), (2, 3)), call_with(index=(Ellipsis, 0))),
        Case("mask", ((3, 4), ()), call_with(index=_MASK)),
        Case("int-array-repeated", ((5,), (3,)), call_with(index=np.array([0, 2, 0]))),
        Case("int-arrays", ((3, 4), (2,)), call_with(index=(np.array([0, 2]), np.array([1, 3])))),
    ),
)
