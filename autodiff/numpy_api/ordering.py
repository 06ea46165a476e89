"""NumPy's sorting and selection by position on traced values: ``sort``, ``take``,
``take_along_axis``, ``put_along_axis``, ``select``, ``choose``, ``compress``, ``extract``.

Every one is a gather: the positions are integers computed from primal values (an ``argsort``,
a condition's ``nonzero``, a choice array), and the values come from primitives that are linear
in the array (:mod:`autodiff.rules.ordering`, :mod:`autodiff.rules.indexing`), so the derivative
of an output entry is the derivative of the input entry placed there, at every order.

* ``sort`` gathers with the permutation of NumPy's *stable* sort of the primal values: over
  ties the derivative follows the element the stable sort places there (API.md's kink table),
  whatever ``kind`` is asked for (every kind gives the same sorted values).
* ``select`` and ``choose`` pick with ``where`` (a selection, not a multiplication: a nan or
  inf in an unpicked choice stays out of the result and of its derivative).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from ..rules import indexing as rules_indexing
from ..rules import ordering as rules_ordering
from ..rules.primitive import (
    Case,
    Traced,
    call_with,
    data_value,
    dtype_of,
    implements,
    index_operand,
    ndim_of,
    primal_value,
    shape_deciding_value,
    shape_of,
)
from . import writing
from .joining import as_operand
from .protocol import refuse_keywords
from .shapes import broadcast_to, ravel

__all__ = [
    "sort", "take", "take_along_axis", "put_along_axis", "select", "choose", "compress",
    "extract", "unique", "ufunc_at",
]

_SORT_KINDS = (None, "quicksort", "mergesort", "heapsort", "stable")


def _along(axis: int, index) -> tuple:
    """The index that applies ``index`` to axis ``axis`` and keeps the axes before it."""
    return (slice(None),) * axis + (index,)


def integer_positions(indices, function: str):
    """``indices`` as an integer array (positions carry no derivative; an empty list is fine,
    an empty float array is not, as in NumPy).  Positions recorded by ``ad.jit`` (an integer
    argument, an ``argsort``) stay recorded, so a replay gathers at its own positions
    (:func:`~autodiff.rules.primitive.index_operand`)."""
    if isinstance(indices, (list, tuple)) and np.size(indices) == 0:
        return np.zeros(np.shape(indices), dtype=np.intp)
    if isinstance(indices, Traced) and dtype_of(indices).kind in "iu":
        recorded = index_operand(data_value(indices))
        if isinstance(recorded, Traced):
            return recorded
        indices = recorded
    indices = np.asarray(primal_value(indices))
    if indices.dtype.kind not in "iu":
        raise TypeError(f"np.{function}: indices must be integers, got dtype {indices.dtype}")
    return indices


@implements(np.sort, cases=(
    Case("last-axis", ((3, 5),), call_with(), "separated"),
    Case("axis=0", ((4, 3),), call_with(axis=0), "separated"),
    Case("flat", ((3, 4),), call_with(axis=None), "separated"),
))
def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """The sorted values, gathered in the order of NumPy's stable sort of the primal values."""
    refuse_keywords("sort", order=(order, None))
    if kind not in _SORT_KINDS:
        raise ValueError(f"sort kind must be one of {_SORT_KINDS[1:]}, not {kind!r}")
    if stable is not None and kind is not None:
        raise ValueError("`kind` and `stable` parameters can't be provided at the same time. "
                         "Use only one of them.")
    if axis is None:
        a, axis = ravel(a), 0
    axis = normalize_axis_index(axis, ndim_of(a))
    return rules_ordering.take_along_axis(
        a, indices=rules_ordering.sort_order(a, axis), axis=axis)


@implements(np.take, cases=(
    Case("flat-repeated", ((3, 4),), lambda fn, x: fn(x, [5, 0, 5, -1])),
    Case("axis=1", ((3, 4),), lambda fn, x: fn(x, [[0, 2], [3, 3]], axis=1)),
    Case("scalar-index", ((3, 4),), lambda fn, x: fn(x, 2, axis=0)),
    Case("wrap", ((5,),), lambda fn, x: fn(x, [7, -6, 2], mode="wrap")),
    Case("clip", ((2, 5),), lambda fn, x: fn(x, [9, -3, 1], axis=1, mode="clip")),
))
def take(a, indices, axis=None, out=None, mode="raise"):
    """Entries at ``indices`` along ``axis`` (flattened when ``axis`` is None); ``mode`` wraps
    or clips out-of-range indices as in NumPy."""
    refuse_keywords("take", out=(out, None))
    if axis is None:
        a, axis = ravel(a), 0
    axis = normalize_axis_index(axis, ndim_of(a))
    size = shape_of(a)[axis]
    indices = integer_positions(indices, "take")
    if mode == "wrap":
        indices = indices % size if size else indices
    elif mode == "clip":
        indices = np.clip(indices, 0, size - 1) if size else indices
    elif mode != "raise":
        raise ValueError(f"clipmode must be one of 'clip', 'raise', or 'wrap' (got {mode!r})")
    index = int(indices) if indices.ndim == 0 else indices
    return rules_indexing.getitem(a, index=_along(axis, index))


def _along_axis_arguments(function, arr, indices, axis):
    """NumPy's checks of ``*_along_axis``: integer indices of ``arr``'s ndim; ``axis=None``
    means the flattened array (and 1-d indices)."""
    indices = integer_positions(indices, function)
    if axis is None:
        if indices.ndim != 1:
            raise ValueError("when axis=None, `indices` must have a single dimension.")
        return ravel(arr), indices, 0
    if indices.ndim != ndim_of(arr):
        raise ValueError("`indices` and `arr` must have the same number of dimensions")
    return arr, indices, normalize_axis_index(axis, ndim_of(arr))


@implements(np.take_along_axis, cases=(
    Case("argsort-order", ((3, 4),),
         lambda fn, x: fn(x, np.array([[3, 0, 1, 2], [1, 1, 0, 0], [2, 3, 3, 2]]), axis=1)),
    Case("broadcast", ((3, 4),), lambda fn, x: fn(x, np.array([[0], [2]]).T, axis=1)),
    Case("flat", ((2, 3),), lambda fn, x: fn(x, np.array([5, 0, 0]), axis=None)),
))
def take_along_axis(arr, indices, axis=-1):
    arr, indices, axis = _along_axis_arguments("take_along_axis", arr, indices, axis)
    return rules_ordering.take_along_axis(arr, indices=indices, axis=axis)


@implements(np.put_along_axis, cases=(
    Case("written-values", ((3, 4), (3, 1)),
         lambda fn, x, v: _put_into_centred(fn, x, np.array([[1], [0], [3]]), v, 1)),
    Case("repeated-last-wins", ((5,), (3,)),
         lambda fn, x, v: _put_into_centred(fn, x, np.array([4, 0, 4]), v, 0)),
))
def put_along_axis(arr, indices, values, axis):
    """``arr[positions] = values`` in place, as NumPy does (``arr`` must take traced writes:
    a traced array, not an input of a reverse-mode transform); returns None."""
    if not isinstance(arr, Traced):
        raise TypeError(
            "np.put_along_axis would write traced values into a plain NumPy array, which cannot "
            "hold derivatives: write into a traced array instead (arr = np.zeros_like(x) of a "
            "traced x, or x.copy())")
    shape = shape_of(arr)
    indices = integer_positions(indices, "put_along_axis")
    if axis is None:
        if indices.ndim != 1:
            raise ValueError("when axis=None, `indices` must have a single dimension.")
        index = np.unravel_index(indices % max(int(np.prod(shape)), 1), shape)
    else:
        if indices.ndim != len(shape):
            raise ValueError("`indices` and `arr` must have the same number of dimensions")
        axis = normalize_axis_index(axis, len(shape))
        index = rules_ordering.along_axis_index(indices, axis, shape)
    writing.write(arr, index, values)


def _put_into_centred(fn, x, indices, values, axis):
    """Test call of ``put_along_axis``: write ``values`` into ``x - mean(values)`` (traced
    whenever either input is, so it takes the write) and return it."""
    y = x - np.mean(values)
    fn(y, indices, values, axis)
    return y


def _conditions(condlist) -> list:
    """The conditions as bool arrays; those computed from values recorded by ``ad.jit`` stay
    recorded (``where`` takes them as operands: a replay selects with its own)."""
    conditions = [data_value(c) if isinstance(c, Traced) else c for c in condlist]
    conditions = [c if isinstance(c, Traced) else np.asarray(c) for c in conditions]
    for i, condition in enumerate(conditions):
        if dtype_of(condition) != np.bool_:
            raise TypeError(f"invalid entry {i} in condlist: should be boolean ndarray")
    return conditions


_CONDITIONS = (np.array([[True, False, False, True], [False, False, True, False],
                         [True, True, False, False]]),
               np.array([True, True, False, False]))


@implements(np.select, cases=(
    Case("two-choices", ((3, 4), (4,)), lambda fn, a, b: fn(_CONDITIONS, [a, b])),
    Case("traced-default", ((3, 4), ()), lambda fn, a, d: fn(_CONDITIONS[:1], [a], d)),
))
def select(condlist, choicelist, default=0):
    """The entry of the first choice whose condition holds, else ``default`` (``where`` chain,
    NumPy's order: the first true condition wins)."""
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    if len(condlist) == 0:
        raise ValueError("select with an empty condition list is not possible")
    conditions = _conditions(condlist)
    dtype = _result_dtype(list(choicelist) + [default])
    choices = [as_operand(c) for c in choicelist]
    default = as_operand(default)
    shape = np.broadcast_shapes(*(shape_of(c) for c in choices + [default]),
                                *(c.shape for c in conditions))
    result = broadcast_to(_in_dtype(default, dtype), shape)
    for condition, choice in zip(reversed(conditions), reversed(choices)):
        result = rules_indexing.where(condition, _in_dtype(choice, dtype), result)
    return result


def _result_dtype(values):
    """NumPy's common dtype of choices: Python numbers stay weak (NEP 50), as in ``np.select``."""
    return np.result_type(*(
        v if type(v) in (int, float) else np.asarray(primal_value(as_operand(v)))
        for v in values))


def _in_dtype(value, dtype):
    """A constant in the result's dtype (traced values already have a float dtype of theirs)."""
    return value if isinstance(value, Traced) else np.asarray(value, dtype=dtype)


_CHOICE = np.array([[0, 2, 1, 1], [2, 0, 0, 1], [1, 2, 2, 0]])


@implements(np.choose, cases=(
    Case("three", ((3, 4), (4,), (3, 1)), lambda fn, a, b, c: fn(_CHOICE, [a, b, c])),
    Case("wrap", ((3, 4), (3, 4)), lambda fn, a, b: fn(_CHOICE + 2, [a, b], mode="wrap")),
    Case("clip", ((4,), ()), lambda fn, a, b: fn(_CHOICE - 1, (a, b), mode="clip")),
))
def choose(a, choices, out=None, mode="raise"):
    """``choices[a[I]][I]`` for every index ``I`` of the broadcast shape (``where`` chain)."""
    refuse_keywords("choose", out=(out, None))
    chosen = integer_positions(a, "choose")
    dtype = _result_dtype(choices)
    choices = [as_operand(c) for c in choices]
    n = len(choices)
    if n == 0:
        raise ValueError("0-length sequence.")
    if mode == "wrap":
        chosen = chosen % n
    elif mode == "clip":
        chosen = np.clip(chosen, 0, n - 1)
    elif mode != "raise":
        raise ValueError(f"clipmode must be one of 'clip', 'raise', or 'wrap' (got {mode!r})")
    elif np.any((chosen < 0) | (chosen >= n)):
        raise ValueError("invalid entry in choice array")
    shape = np.broadcast_shapes(chosen.shape, *(shape_of(c) for c in choices))
    result = broadcast_to(_in_dtype(choices[-1], dtype), shape)
    for k in range(n - 2, -1, -1):
        result = rules_indexing.where(chosen == k, _in_dtype(choices[k], dtype), result)
    return result


@implements(np.compress, cases=(
    Case("axis=0", ((3, 4),), lambda fn, x: fn([True, False, True], x, axis=0)),
    Case("short-condition", ((3, 4),), lambda fn, x: fn([0, 1], x, axis=1)),
    Case("flat", ((2, 3),), lambda fn, x: fn(np.array([1, 0, 0, 1, 1]), x)),
))
def compress(condition, a, axis=None, out=None):
    """The slices along ``axis`` where the 1-d ``condition`` is true (missing entries false)."""
    refuse_keywords("compress", out=(out, None))
    condition = np.asarray(shape_deciding_value(condition, "np.compress's condition"))
    if condition.ndim != 1:
        raise ValueError("condition must be a 1-d array")
    if axis is None:
        a, axis = ravel(a), 0
    axis = normalize_axis_index(axis, ndim_of(a))
    return rules_indexing.getitem(a, index=_along(axis, np.flatnonzero(condition)))


@implements(np.extract, cases=(
    Case("mask", ((3, 4),), lambda fn, x: fn(_CONDITIONS[0], x)),
    Case("of-primal", ((2, 3),), lambda fn, x: fn(x > 0, x)),
))
def extract(condition, arr):
    """``take(ravel(arr), nonzero(ravel(condition)))``, NumPy's definition."""
    condition = shape_deciding_value(condition, "np.extract's condition")
    return take(ravel(arr), np.flatnonzero(np.asarray(condition)))


def _index_item(item):
    """An entry of ``ufunc.at``'s ``indices``: a list as an array, recorded positions as
    :func:`~autodiff.rules.primitive.index_operand` keeps them, other traced values' primals."""
    if isinstance(item, Traced):
        item = index_operand(data_value(item))
        return item if isinstance(item, Traced) else np.asarray(primal_value(item))
    return np.asarray(item) if isinstance(item, list) else item


def ufunc_at(ufunc, a, indices, b=None):
    """``np.add.at(a, indices, b)`` / ``np.subtract.at``: ``b`` added into ``a`` in place at
    ``indices``, repeated positions accumulating (NumPy's unbuffered ``ufunc.at``).  ``a`` must
    take traced writes (a traced array); the result is ``a`` plus the scatter-add of ``b``."""
    if ufunc not in (np.add, np.subtract) or b is None:
        raise TypeError(
            f"np.{ufunc.__name__}.at is not supported on traced values (np.add.at and "
            "np.subtract.at are); write the update with indexing and np.where instead")
    if not isinstance(a, Traced):
        raise TypeError(
            f"np.{ufunc.__name__}.at would write traced values into a plain NumPy array, which "
            "cannot hold derivatives: start from a traced array (a = np.zeros_like(x) of a "
            "traced x, or x.copy())")
    index = indices if isinstance(indices, tuple) else (indices,)
    index = tuple(_index_item(i) for i in index)
    update = rules_indexing.scatter_add(as_operand(b), index=index, shape=shape_of(a))
    writing.update_in_place(a, ufunc(a, update))


@implements(np.unique, cases=(
    Case("repeated", ((2, 3),), lambda fn, x: fn(x[:, [0, 2, 0]])),
    Case("rows-with-counts", ((4, 2),), lambda fn, x: fn(x[[0, 1, 0, 3]], axis=0,
                                                         return_counts=True)[0]),
))
def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *,
           equal_nan=True, sorted=True):  # noqa: A002 - NumPy's name
    """The distinct values (slices along ``axis``), each gathered from its first occurrence,
    the one NumPy's stable sort places first (API.md's tie convention); indices, inverse and
    counts are NumPy's, computed on primal values (guarded under ``ad.jit``: they set the
    shapes)."""
    values = np.asarray(shape_deciding_value(ar, "np.unique's values"))
    found = np.unique(values, return_index=True, return_inverse=True,
                      return_counts=True, axis=axis, equal_nan=equal_nan, sorted=sorted)
    values = take(ar, found[1], axis=axis)
    extras = [kept for kept, wanted in zip(found[1:], (return_index, return_inverse,
                                                       return_counts)) if wanted]
    return (values, *extras) if extras else values
