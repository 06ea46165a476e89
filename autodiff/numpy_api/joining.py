"""Splitting and joining traced arrays: ``split``, ``array_split``, ``hsplit``, ``vsplit``,
``dsplit``, ``column_stack``, ``dstack``, ``block``, ``append``, ``atleast_3d``.

Each follows NumPy's own definition step by step with the shape entry points: a piece of a split
is a basic slice of the array (a view, as in NumPy: writes through it reach the array), a join
is one ``concatenate`` of arrays first given NumPy's number of dimensions.  All are linear, so
derivatives of every order come from the slices' and the concatenation's rules.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from ..rules.primitive import Case, Traced, call_with, implements, lift, ndim_of, shape_of
from .shapes import concatenate, ravel, reshape, transpose

__all__ = [
    "split", "array_split", "hsplit", "vsplit", "dsplit", "column_stack", "dstack", "block",
    "append", "atleast_3d", "as_operand",
]


def as_operand(value):
    """A traced value as it is; anything else (a list holding traced scalars is lifted into one
    traced array) as an array."""
    value = lift(value)
    return value if isinstance(value, Traced) else np.asarray(value)


def _join(pieces, axis: int):
    """The pieces of a split joined again: one output for a test call."""
    return concatenate(pieces, axis=axis)


@implements(np.array_split, cases=(
    Case("uneven-sections", ((7, 2),), lambda fn, x: _join(fn(x, 3), 0)),
    Case("indices-axis=1", ((2, 6),), lambda fn, x: _join(fn(x, [1, 4, 4], axis=1), 1)),
))
def array_split(ary, indices_or_sections, axis=0):
    """Pieces ``ary[..., a:b]`` along ``axis`` between NumPy's division points (views)."""
    axis = normalize_axis_index(axis, ndim_of(ary))
    total = shape_of(ary)[axis]
    try:
        points = [0] + list(indices_or_sections) + [total]
    except TypeError:
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError("number sections must be larger than 0.") from None
        each, extras = divmod(total, sections)
        sizes = [0] + extras * [each + 1] + (sections - extras) * [each]
        points = np.cumsum(sizes).tolist()
    lead = (slice(None),) * axis
    return [ary[lead + (slice(start, stop),)] for start, stop in zip(points[:-1], points[1:])]


@implements(np.split, cases=(Case("sections", ((6, 2),), lambda fn, x: _join(fn(x, 3)[::2], 0)),))
def split(ary, indices_or_sections, axis=0):
    """``array_split``, refusing sections that do not divide the axis evenly (NumPy's rule)."""
    if np.ndim(indices_or_sections) == 0:
        total = shape_of(ary)[normalize_axis_index(axis, ndim_of(ary))]
        if total % int(indices_or_sections):
            raise ValueError("array split does not result in an equal division")
    return array_split(ary, indices_or_sections, axis)


@implements(np.hsplit, cases=(Case("matrix", ((2, 4),), lambda fn, x: fn(x, 2)[1]),))
def hsplit(ary, indices_or_sections):
    if ndim_of(ary) == 0:
        raise ValueError("hsplit only works on arrays of 1 or more dimensions")
    return split(ary, indices_or_sections, 1 if ndim_of(ary) > 1 else 0)


@implements(np.vsplit, cases=(Case("matrix", ((4, 3),), lambda fn, x: fn(x, [1])[1]),))
def vsplit(ary, indices_or_sections):
    if ndim_of(ary) < 2:
        raise ValueError("vsplit only works on arrays of 2 or more dimensions")
    return split(ary, indices_or_sections, 0)


@implements(np.dsplit, cases=(Case("3d", ((2, 2, 4),), lambda fn, x: fn(x, 2)[0]),))
def dsplit(ary, indices_or_sections):
    if ndim_of(ary) < 3:
        raise ValueError("dsplit only works on arrays of 3 or more dimensions")
    return split(ary, indices_or_sections, 2)


def _atleast_3d_one(a):
    a = as_operand(a)
    shape = shape_of(a)
    if len(shape) >= 3:
        return a
    return reshape(a, {0: (1, 1, 1), 1: (1,) + shape + (1,), 2: shape + (1,)}[len(shape)])


@implements(np.atleast_3d, cases=(
    Case("vector", ((3,),), call_with()),
    Case("two", ((2, 3), ()), lambda fn, a, b: fn(a, b)[0] * fn(a, b)[1]),
))
def atleast_3d(*arys):
    """Each array with at least 3 axes: ``(1, 1, 1)``, ``(1, N, 1)`` or ``(M, N, 1)``."""
    results = tuple(_atleast_3d_one(a) for a in arys)
    return results[0] if len(results) == 1 else results


@implements(np.column_stack, cases=(
    Case("vectors-and-matrix", ((3,), (3, 2)), lambda fn, a, b: fn([a, b, np.ones(3)])),
))
def column_stack(tup):
    """1-d (and 0-d) entries become columns, then one ``concatenate`` along axis 1."""
    columns = []
    for value in tup:
        value = as_operand(value)
        if ndim_of(value) < 2:
            value = transpose(reshape(value, (1, -1)))
        columns.append(value)
    return concatenate(columns, axis=1)


@implements(np.dstack, cases=(Case("matrices", ((2, 3), (2, 3)), lambda fn, a, b: fn([a, b])),))
def dstack(tup):
    """Every entry with at least 3 axes, then one ``concatenate`` along axis 2."""
    return concatenate([_atleast_3d_one(a) for a in tup], axis=2)


@implements(np.append, cases=(
    Case("flat", ((2, 2), (3,)), call_with()),
    Case("axis=0", ((2, 3), (1, 3)), call_with(axis=0)),
))
def append(arr, values, axis=None):
    """``concatenate((arr, values), axis)``; both flattened when ``axis`` is None."""
    arr, values = as_operand(arr), as_operand(values)
    if axis is None:
        if ndim_of(arr) != 1:
            arr = ravel(arr)
        values = ravel(values)
        axis = ndim_of(arr) - 1
    return concatenate([arr, values], axis=axis)


def _block_depth(arrays, where: tuple):
    """The nesting depth of ``np.block``'s lists and the largest ndim of its entries, with
    NumPy's errors for tuples, empty lists and mismatched depths."""
    if type(arrays) is tuple:
        raise TypeError(
            f"arrays{''.join(f'[{i}]' for i in where)} is a tuple. Only lists can be used to "
            "arrange blocks, and np.block does not allow implicit conversion from tuple to "
            "ndarray.")
    if type(arrays) is not list:
        return 0, ndim_of(arrays)
    if not arrays:
        raise ValueError(f"List at arrays{''.join(f'[{i}]' for i in where)} cannot be empty")
    found = [_block_depth(item, where + (i,)) for i, item in enumerate(arrays)]
    if len({depth for depth, _ in found}) != 1:
        raise ValueError(
            f"List depths are mismatched at arrays{''.join(f'[{i}]' for i in where)}: every "
            "entry of a list must be nested equally deep")
    return found[0][0] + 1, max(n for _, n in found)


def _assemble(arrays, depth: int, ndim: int):
    if depth == 0:
        value = as_operand(arrays)
        shape = shape_of(value)
        return reshape(value, (1,) * (ndim - len(shape)) + shape)
    return concatenate([_assemble(item, depth - 1, ndim) for item in arrays], axis=-depth)


@implements(np.block, cases=(
    Case("2x2", ((2, 2), (2, 1), (1, 3)), lambda fn, a, b, c: fn([[a, b], [c]])),
    Case("vector-and-scalar", ((3,), ()), lambda fn, a, b: fn([a, b, 1.0])),
))
def block(arrays):
    """NumPy's block assembly: the innermost lists join along the last axis, the next ones along
    the axis before it; every entry first gets ``max(depth, ndim)`` axes (leading ones)."""
    depth, largest = _block_depth(arrays, ())
    if depth == 0:
        return as_operand(arrays)
    return _assemble(arrays, depth, max(depth, largest))
