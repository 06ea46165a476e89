"""Diagonals and triangles on traced values: ``diag``, ``diagonal``, ``diagflat``, ``tril``,
``triu``, and ``fill_diagonal``, which writes into a traced array.

Each is linear: ``diagonal`` gathers (``getitem`` with two index arrays, its transpose a
scatter-add), ``diag`` of a vector scatters onto a zero matrix, and ``tril``/``triu`` select with
NumPy's own boolean mask through ``where`` (NumPy computes ``where(mask, m, 0)``: a nan outside
the triangle is dropped, not multiplied by zero), so every derivative is exact at every order.  ``fill_diagonal`` is a write (``a[rows, cols] =
val``, :mod:`.writing`): the derivative flows through the written values, not the overwritten
diagonal.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from ..rules import indexing as rules_indexing
from ..rules import shapes as rules_shape
from ..rules.primitive import (
    Case,
    Traced,
    call_with,
    implements,
    lift,
    ndim_of,
    shape_of,
    zeros,
)
from . import writing
from .shapes import ravel

__all__ = ["diag", "diagonal", "diagflat", "tril", "triu", "fill_diagonal"]


def diagonal_positions(rows: int, columns: int, offset: int):
    """Row and column indices of the ``offset`` diagonal of a ``rows x columns`` matrix."""
    first_row, first_column = max(0, -offset), max(0, offset)
    steps = np.arange(max(0, min(rows - first_row, columns - first_column)))
    return steps + first_row, steps + first_column


@implements(np.diagonal, cases=(
    Case("matrix", ((3, 4),), call_with()),
    Case("offset-axes", ((2, 3, 4),), call_with(offset=1, axis1=2, axis2=0)),
    Case("negative-offset", ((4, 3),), call_with(offset=-2)),
))
def diagonal(a, offset=0, axis1=0, axis2=1):
    """The ``offset`` diagonal of the ``axis1``, ``axis2`` planes, appended as the last axis."""
    n = ndim_of(a)
    if n < 2:
        raise ValueError("diag requires an array of at least two dimensions")
    first, second = normalize_axis_index(axis1, n), normalize_axis_index(axis2, n)
    if first == second:
        raise ValueError("axis1 and axis2 cannot be the same")
    others = tuple(i for i in range(n) if i not in (first, second))
    if others + (first, second) != tuple(range(n)):
        a = rules_shape.transpose(a, others + (first, second))
    rows, columns = diagonal_positions(*shape_of(a)[-2:], int(offset))
    return rules_indexing.getitem(a, index=(Ellipsis, rows, columns))


@implements(np.diag, cases=(
    Case("vector", ((3,),), call_with()),
    Case("vector-k=-2", ((2,),), call_with(k=-2)),
    Case("matrix-k=1", ((3, 4),), call_with(k=1)),
))
def diag(v, k=0):
    """A 1-d ``v`` on the ``k`` diagonal of a square zero matrix; a 2-d ``v``'s ``k`` diagonal."""
    n = ndim_of(v)
    if n == 2:
        return diagonal(v, k)
    if n != 1:
        raise ValueError("Input must be 1- or 2-d.")
    size = shape_of(v)[0] + abs(int(k))
    return rules_indexing.scatter_add(
        v, index=diagonal_positions(size, size, int(k)), shape=(size, size))


@implements(np.diagflat, cases=(Case("matrix-k=1", ((2, 2),), call_with(k=1)),))
def diagflat(v, k=0):
    """The flattened ``v`` on the ``k`` diagonal of a square zero matrix."""
    return diag(ravel(v), k)


def _triangle(m, mask):
    """``where(mask, m, 0)``, NumPy's ``tril``/``triu`` (``mask`` over the last two axes)."""
    return rules_indexing.where(mask, m, zeros((), m))


@implements(np.tril, cases=(
    Case("matrix", ((3, 4),), call_with()),
    Case("stacked-k=-1", ((2, 3, 3),), call_with(k=-1)),
    Case("vector", ((3,),), call_with(k=1)),
))
def tril(m, k=0):
    """Zeros above the ``k`` diagonal of the last two axes (a vector is broadcast, as NumPy)."""
    return _triangle(m, np.tri(*shape_of(m)[-2:], k=int(k), dtype=bool))


@implements(np.triu, cases=(
    Case("matrix", ((4, 3),), call_with()),
    Case("stacked-k=1", ((2, 3, 3),), call_with(k=1)),
))
def triu(m, k=0):
    """Zeros below the ``k`` diagonal of the last two axes."""
    return _triangle(m, ~np.tri(*shape_of(m)[-2:], k=int(k) - 1, dtype=bool))


def _filled(fill, a, val, **keywords):
    """A test call of ``fill_diagonal``: the filled copy of ``a`` (NumPy's returns ``None``).

    The copy is ``a + zeros_like(sum(val), dtype=a.dtype)``, so it is traced whenever ``val`` is (NumPy
    dispatches on ``a`` alone: a plain ``a`` cannot take a traced ``val``).
    """
    a = a + np.zeros_like(np.sum(val), dtype=a.dtype)
    fill(a, val, **keywords)
    return a


@implements(np.fill_diagonal, cases=(
    Case("scalar", ((3, 3), ()), lambda fn, a, v: _filled(fn, a, v)),
    Case("tall-wrap", ((7, 3), (3,)), lambda fn, a, v: _filled(fn, a, v, wrap=True)),
    Case("cycled-values", ((4, 5), (3,)), lambda fn, a, v: _filled(fn, a, v)),
    Case("cube", ((3, 3, 3), (2,)), lambda fn, a, v: _filled(fn, a, v)),
    Case("constant-val", ((3, 4),), lambda fn, a: _filled(fn, a, [1.0, -2.0])),
))
def fill_diagonal(a, val, wrap=False):
    """``a``'s main diagonal set to ``val`` in place, NumPy's semantics (returns ``None``).

    NumPy writes ``a.flat[:end:step] = val``: positions ``0, step, 2 step, ...`` with ``step =
    columns + 1`` for a matrix (stopping at the last column of a tall one unless ``wrap``, which
    restarts every ``columns + 1`` rows) and ``1 + sum(cumprod(shape[:-1]))`` for an array of
    equal dimensions; ``val`` is flattened and used cyclically over the positions.  Here
    that is one write ``a[positions] = val[k % val.size]`` into the traced ``a``: the derivative
    of ``a`` is ``val``'s on the diagonal and ``a``'s own elsewhere.  Writing a traced ``val``
    into a plain ndarray cannot be intercepted (NumPy dispatches on ``a`` alone): its
    ``TypeError`` says to start from a traced array, ``a = np.zeros_like(x)``.
    """
    shape = shape_of(a)
    if len(shape) < 2:
        raise ValueError("array must be at least 2-d")
    end = None
    if len(shape) == 2:
        step = shape[1] + 1
        if not wrap:
            end = shape[1] * shape[1]
    else:
        if not np.all(np.diff(shape) == 0):
            raise ValueError("All dimensions of input must be of equal length")
        step = 1 + int(np.cumprod(shape[:-1]).sum())
    positions = np.arange(int(np.prod(shape)))[:end:step]
    val = lift(val)
    if not isinstance(val, Traced):
        val = np.asarray(val)
    size = int(np.prod(shape_of(val), dtype=int))
    if size == 0 or positions.size == 0:
        return None
    if size > 1 or ndim_of(val):
        flat = ravel(val) if isinstance(val, Traced) else val.ravel()
        cycled = np.arange(positions.size) % size
        val = rules_indexing.getitem(flat, index=cycled) if isinstance(val, Traced) else flat[cycled]
    writing.write(a, np.unravel_index(positions, shape), val)
    return None
