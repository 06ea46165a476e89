"""Rearranging traced arrays: ``tile``, ``repeat``, ``flip``, ``fliplr``, ``flipud``, ``roll``,
``rot90``, ``rollaxis``, ``pad`` and ``sliding_window_view``.

Every one moves or copies entries without arithmetic, so each is linear and follows NumPy's own
definition with the shape primitives:

* ``tile`` and a scalar ``repeat`` broadcast a unit axis and merge it (their transpose sums it
  back); an array of repeats, ``pad``'s ``edge``/``reflect``/``symmetric``/``wrap`` modes and
  ``roll`` are gathers with the index maps NumPy itself computes for an ``arange``;
* ``flip``, ``rot90`` and ``rollaxis`` are views (reversed slices, transposes), as in NumPy;
* ``pad(mode="constant")`` writes the array into NumPy's own constant frame (``index_update``:
  the frame is a constant, the interior carries the derivative);
* ``sliding_window_view`` is the ``im2col`` primitive of :mod:`autodiff.rules.convolution` (a
  strided view; its transpose adds every window back), one windowed axis at a time.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from ..rules import convolution
from ..rules import indexing as rules_indexing
from ..rules import shapes as rules_shape
from ..rules.primitive import (
    Case,
    Traced,
    call_with,
    dtype_of,
    implements,
    ndim_of,
    normalize_axes,
    shape_deciding_value,
    shape_of,
)
from .joining import as_operand
from .shapes import broadcast_to, concatenate, ravel, reshape, transpose

__all__ = [
    "tile", "repeat", "flip", "fliplr", "flipud", "roll", "rot90", "rollaxis", "pad",
    "sliding_window_view",
]


def _along(axis: int, index) -> tuple:
    return (slice(None),) * axis + (index,)


@implements(np.tile, cases=(
    Case("matrix", ((2, 3),), lambda fn, x: fn(x, (2, 1, 2))),
    Case("scalar-reps", ((3,),), lambda fn, x: fn(x, 2)),
))
def tile(A, reps):  # noqa: N803 - NumPy's name
    """``A`` repeated ``reps`` times along each axis (``A`` gets leading unit axes as needed)."""
    reps = tuple(int(r) for r in reps) if np.iterable(reps) else (int(reps),)
    A = as_operand(A)
    shape = shape_of(A)
    shape = (1,) * (len(reps) - len(shape)) + shape
    reps = (1,) * (len(shape) - len(reps)) + reps
    interleaved = tuple(n for size in shape for n in (1, size))
    spread = broadcast_to(reshape(A, interleaved),
                          tuple(n for r, size in zip(reps, shape) for n in (r, size)))
    return reshape(spread, tuple(r * size for r, size in zip(reps, shape)))


@implements(np.repeat, cases=(
    Case("flat-scalar", ((2, 3),), lambda fn, x: fn(x, 2)),
    Case("axis=1-counts", ((2, 3),), lambda fn, x: fn(x, [0, 2, 1], axis=1)),
))
def repeat(a, repeats, axis=None):
    """Each entry (slice along ``axis``) repeated ``repeats`` times; flattened when ``axis`` is
    None.  One count: a broadcast unit axis; one per entry: a gather."""
    if axis is None:
        a, axis = ravel(a), 0
    axis = normalize_axis_index(axis, ndim_of(a))
    shape = shape_of(a)
    counts = np.asarray(shape_deciding_value(repeats, "np.repeat's counts"))
    positions = np.repeat(np.arange(shape[axis]), counts)  # NumPy's checks of the counts
    if counts.size != 1:
        return rules_indexing.getitem(a, index=_along(axis, positions))
    count = int(counts.reshape(()))
    spread = broadcast_to(reshape(a, shape[:axis + 1] + (1,) + shape[axis + 1:]),
                          shape[:axis + 1] + (count,) + shape[axis + 1:])
    return reshape(spread, shape[:axis] + (shape[axis] * count,) + shape[axis + 1:])


@implements(np.flip, cases=(
    Case("all", ((2, 3),), call_with()),
    Case("axis=(0,2)", ((2, 3, 2),), call_with(axis=(0, 2))),
))
def flip(m, axis=None):
    """The entries in reverse order along ``axis`` (all axes when None): a view."""
    axes = normalize_axes(axis, ndim_of(m))
    return m[tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(ndim_of(m)))]


@implements(np.fliplr, cases=(Case("matrix", ((2, 3),), call_with()),))
def fliplr(m):
    if ndim_of(m) < 2:
        raise ValueError("Input must be >= 2-d.")
    return flip(m, 1)


@implements(np.flipud, cases=(Case("vector", ((3,),), call_with()),))
def flipud(m):
    if ndim_of(m) < 1:
        raise ValueError("Input must be >= 1-d.")
    return flip(m, 0)


@implements(np.roll, cases=(
    Case("flat", ((3, 4),), lambda fn, x: fn(x, 5)),
    Case("axes", ((3, 4),), lambda fn, x: fn(x, (1, -1, 2), axis=(0, 1, 0))),
    Case("axis=-1", ((2, 5),), lambda fn, x: fn(x, -7, axis=-1)),
))
def roll(a, shift, axis=None):
    """Entries shifted cyclically by ``shift`` along ``axis`` (flattened when None); shifts of a
    repeated axis add up, as in NumPy.  Each rolled axis is two slices joined again."""
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), shape_of(a))
    n = ndim_of(a)
    axes = [normalize_axis_index(ax, n) for ax in np.atleast_1d(axis)]
    pairs = np.broadcast(shift, axes)
    if pairs.ndim > 1:
        raise ValueError("'shift' and 'axis' should be scalars or 1D sequences")
    shifts = dict.fromkeys(range(n), 0)
    for step, ax in pairs:
        shifts[int(ax)] += int(step)
    for ax, step in shifts.items():
        size = shape_of(a)[ax]
        cut = size - step % size if size else 0
        if cut in (0, size):
            continue
        a = concatenate([a[_along(ax, slice(cut, None))], a[_along(ax, slice(None, cut))]],
                        axis=ax)
    return a


@implements(np.rot90, cases=(
    Case("k=1", ((2, 3),), call_with()),
    Case("k=2-axes", ((2, 3, 2),), call_with(k=2, axes=(2, 0))),
    Case("k=-1", ((2, 3),), call_with(k=-1, axes=(1, 0))),
))
def rot90(m, k=1, axes=(0, 1)):
    """The array rotated by 90 degrees ``k`` times in the plane of ``axes`` (NumPy's steps)."""
    axes = tuple(axes)
    n = ndim_of(m)
    if len(axes) != 2:
        raise ValueError("len(axes) must be 2.")
    if axes[0] == axes[1] or abs(axes[0] - axes[1]) == n:
        raise ValueError("Axes must be different.")
    if not all(-n <= ax < n for ax in axes):
        raise ValueError(f"Axes={axes} out of range for array of ndim={n}.")
    k %= 4
    if k == 0:
        return m[:]
    if k == 2:
        return flip(flip(m, axes[0]), axes[1])
    order = list(range(n))
    order[axes[0]], order[axes[1]] = order[axes[1]], order[axes[0]]
    if k == 1:
        return transpose(flip(m, axes[1]), order)
    return flip(transpose(m, order), axes[1])


@implements(np.rollaxis, cases=(
    Case("to-front", ((2, 3, 4),), lambda fn, x: fn(x, 2)),
    Case("start", ((2, 3, 4),), lambda fn, x: fn(x, 0, 3)),
))
def rollaxis(a, axis, start=0):
    """Axis ``axis`` moved to position ``start`` (NumPy's older spelling of ``moveaxis``)."""
    n = ndim_of(a)
    axis = normalize_axis_index(axis, n)
    start = start + n if start < 0 else start
    if not 0 <= start < n + 1:
        raise np.exceptions.AxisError(
            f"'start' arg requires {-n} <= start < {n + 1}, but {start} was passed in")
    if axis < start:
        start -= 1
    if axis == start:
        return a[...]
    order = [i for i in range(n) if i != axis]
    order.insert(start, axis)
    return transpose(a, order)


# ----------------------------------------------------------------------------------------------
# pad
# ----------------------------------------------------------------------------------------------

_PAD_KEYWORDS = {"constant": {"constant_values"}, "edge": set(), "wrap": set(),
                 "reflect": {"reflect_type"}, "symmetric": {"reflect_type"}}


def _pad_pairs(pad_width, ndim: int) -> list:
    """``pad_width`` in any of NumPy's spellings (``n``, ``(n,)``, ``(before, after)``, one
    pair per axis) as ``[(before, after)] * ndim``, with NumPy's checks."""
    widths = np.asarray(pad_width)
    if widths.dtype.kind != "i":
        raise TypeError("`pad_width` must be of integral type.")
    if widths.size and widths.min() < 0:
        raise ValueError("index can't contain negative values")
    if widths.ndim < 3 and widths.size == 2 and widths.shape != (2, 1):
        widths = widths.ravel()
    return np.broadcast_to(widths, (ndim, 2)).tolist()


@implements(np.pad, cases=(
    Case("constant", ((2, 3),), lambda fn, x: fn(x, ((1, 0), (2, 1)), constant_values=(-1, 3))),
    Case("edge", ((2, 3),), lambda fn, x: fn(x, 2, mode="edge")),
    Case("reflect", ((3, 4),), lambda fn, x: fn(x, ((5, 1), (0, 2)), mode="reflect")),
    Case("symmetric", ((3,),), lambda fn, x: fn(x, (4, 2), mode="symmetric")),
    Case("wrap", ((2, 3),), lambda fn, x: fn(x, ((1,), (4,)), mode="wrap")),
))
def pad(array, pad_width, mode="constant", **kwargs):
    """``array`` padded by ``pad_width`` in one of the index-map modes or with constants."""
    if not isinstance(mode, str) or mode not in _PAD_KEYWORDS:
        raise TypeError(
            f"np.pad(mode={mode!r}) is not supported on traced values; the modes that are: "
            f"{', '.join(_PAD_KEYWORDS)}")
    unknown = set(kwargs) - _PAD_KEYWORDS[mode]
    if unknown:
        raise ValueError(f"unsupported keyword arguments for mode '{mode}': {unknown}")
    if kwargs.get("reflect_type", "even") != "even":
        raise TypeError(
            f"np.pad(reflect_type={kwargs['reflect_type']!r}) is not supported on traced "
            "values; leave reflect_type at its default ('even')")
    shape = shape_of(array)
    pairs = _pad_pairs(pad_width, len(shape))
    if mode == "constant":
        return _pad_constant(array, pairs, kwargs.get("constant_values", 0))
    for axis, (size, (before, after)) in enumerate(zip(shape, pairs)):
        if before or after:
            positions = np.pad(np.arange(size), (before, after), mode=mode)
            array = rules_indexing.getitem(array, index=_along(axis, positions))
    return array


def _pad_constant(array, pairs, constant_values):
    """``array`` written into NumPy's own constant frame (the frame carries no derivative)."""
    if isinstance(constant_values, Traced) or (
            np.asarray(constant_values).dtype == object):
        raise TypeError("np.pad(constant_values=...) of a traced value is not supported: "
                        "pad with a constant and add the traced part with np.where")
    shape = shape_of(array)
    frame = np.pad(np.zeros(shape, dtype=dtype_of(array)), pairs, constant_values=constant_values)
    interior = tuple(slice(before, before + size) for size, (before, _) in zip(shape, pairs))
    return rules_indexing.index_update(frame, array, index=interior)


# ----------------------------------------------------------------------------------------------
# sliding windows
# ----------------------------------------------------------------------------------------------


@implements(np.lib.stride_tricks.sliding_window_view, cases=(
    Case("1d", ((6,),), lambda fn, x: fn(x, 3)),
    Case("2d-all-axes", ((4, 5),), lambda fn, x: fn(x, (2, 3))),
    Case("repeated-axis", ((3, 6),), lambda fn, x: fn(x, (2, 2), axis=(1, 1))),
))
def sliding_window_view(x, window_shape, axis=None, *, subok=False, writeable=False):
    """Every window of ``window_shape`` along ``axis``: shape ``x.shape`` with each windowed axis
    shortened by ``w - 1``, then the window axes in ``axis`` order (NumPy's layout).

    ``subok`` is honoured trivially (a traced value is no ndarray subclass); ``writeable=True``
    is refused."""
    if writeable:
        raise TypeError("sliding_window_view(writeable=True) is not supported on traced values: "
                        "writing through overlapping windows has no derivative")
    window_shape = tuple(window_shape) if np.iterable(window_shape) else (window_shape,)
    if any(w < 0 for w in window_shape):
        raise ValueError("`window_shape` cannot contain negative values")
    n = ndim_of(x)
    if axis is None:
        axes = tuple(range(n))
        if len(window_shape) != n:
            raise ValueError(
                "Since axis is `None`, must provide window_shape for all dimensions of `x`; got "
                f"{len(window_shape)} window_shape elements and `x.ndim` is {n}.")
    else:
        axes = tuple(normalize_axis_index(ax, n) for ax in np.atleast_1d(axis))
        if len(window_shape) != len(axes):
            raise ValueError(
                "Must provide matching length window_shape and axis; got "
                f"{len(window_shape)} window_shape elements and {len(axes)} axes elements.")
    remaining = list(shape_of(x))
    for ax, width in zip(axes, window_shape):
        if remaining[ax] < width:
            raise ValueError("window shape cannot be larger than input array shape")
        remaining[ax] -= width - 1
    for ax, width in zip(axes, window_shape):
        x = _windows_along(x, ax, int(width))
    return x


def _windows_along(x, axis: int, width: int):
    """Windows of ``width`` along ``axis``: that axis shortened, one window axis appended."""
    n = ndim_of(x)
    order = tuple(i for i in range(n) if i != axis) + (axis,)
    last = x if order == tuple(range(n)) else rules_shape.transpose(x, order)
    windows = convolution.im2col(last, kernel=(width,), stride=(1,), dilation=(1,),
                                 padding=((0, 0),))
    back = tuple(order.index(i) for i in range(n)) + (n,)
    return windows if back == tuple(range(n + 1)) else rules_shape.transpose(windows, back)
