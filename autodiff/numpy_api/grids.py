"""Grids with traced end points: ``linspace``, ``logspace``, ``geomspace``, and ``meshgrid``.

Each follows NumPy's own steps (``numpy/_core/function_base.py``,
``numpy/lib/_function_base_impl.py``) with primitives, so values have NumPy's bits and dtype and
every derivative is exact at any order.  For ``linspace`` that is::

    step = (stop - start) / div             div = num - 1 (endpoint) or num
    y    = arange(num) * step + start       (arange(num) / div * (stop - start) when a step is 0)
    y[-1] = stop                            (endpoint=True, num > 1)

so ``dy_k = (1 - k/div) dstart + (k/div) dstop`` and the last point is ``stop`` itself.
``logspace`` is ``base ** linspace(start, stop)``; ``geomspace`` is a ``logspace`` of
``log10`` of the end points, rotated to positive values by their sign and with both end points
written back exactly (``result[0] = start``), as NumPy does.  Argument errors are NumPy's: NumPy
itself is first run on the primal values, with no samples.
"""

from __future__ import annotations

import operator

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from ..rules import elementwise as ew
from ..rules import indexing
from ..rules import shapes as rules_shape
from ..rules.primitive import (
    Case,
    Traced,
    data_value,
    dtype_of,
    implements,
    ndim_of,
    primal_value,
    shape_of,
)
from . import writing
from .arithmetic import astype
from .shapes import moveaxis

__all__ = ["linspace", "logspace", "geomspace", "meshgrid"]


def _as_operand(value):
    """A traced value as it is; anything else as NumPy's ``asanyarray`` makes it."""
    return value if isinstance(value, Traced) else np.asanyarray(value)


def _in_dtype(value, dtype, function):
    """``value`` in ``dtype`` (a float dtype: integer and complex results carry no derivative)."""
    if isinstance(value, Traced):
        return astype(value, dtype, function)
    return np.asarray(value, dtype=dtype)


def _final_dtype(y, dtype, function):
    if dtype is None:
        return y
    return astype(y, dtype, function) if isinstance(y, Traced) else y.astype(dtype, copy=False)


# ----------------------------------------------------------------------------------------------
# linspace
# ----------------------------------------------------------------------------------------------


def _linspace(start, stop, num, endpoint, dt):
    """NumPy's ``linspace`` in the working dtype ``dt``, samples along a new first axis.

    Returns ``(y, step)``; ``step`` is NumPy's ``nan`` when ``div <= 0`` (0 or 1 sample with
    the end point).
    """
    div = (num - 1) if endpoint else num
    start, stop = _in_dtype(start, dt, "linspace"), _in_dtype(stop, dt, "linspace")
    delta = ew.subtract(stop, start)
    y = np.arange(0, num, dtype=dt).reshape((-1,) + (1,) * ndim_of(delta))
    if div > 0:
        step = ew.divide(delta, div)
        if np.any(data_value(step) == 0):  # NumPy's denormal branch (gh-5437); a guard in ad.jit
            y = ew.multiply(y / div, delta)
        else:
            y = ew.multiply(y, step)
    else:
        step = np.nan
        y = ew.multiply(y, delta)
    y = ew.add(y, start)
    if endpoint and num > 1:
        y = indexing.index_update(y, stop, index=(-1, Ellipsis))
    return y, step


def _sample_count(num) -> int:
    """NumPy's checks of ``num`` (an integer, not negative)."""
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    return num


def _working_dtype(start, stop, dtype, function):
    """NumPy's inferred dtype of ``linspace`` (``dtype`` given or not), refusing integer and
    complex ``dtype``: an integer result is floored (derivative 0) and complex is out of scope."""
    dt = np.linspace(primal_value(start), primal_value(stop), 0).dtype
    for kind in (dt, None if dtype is None else np.dtype(dtype)):
        if kind is not None and kind.kind != "f":
            raise TypeError(
                f"np.{function}(dtype={kind}) of a traced value is not supported: only floating "
                "dtypes carry a derivative (take ad.stop_gradient of the end points first for an "
                "integer result)"
            )
    return dt


@implements(np.linspace, cases=(
    Case("scalars", ((), ()), lambda fn, a, b: fn(a, b, 7)),
    Case("no-endpoint-retstep", ((), ()),
         lambda fn, a, b: fn(a, b, 5, endpoint=False, retstep=True)[0] * 2.0
         + fn(a, b, 5, endpoint=False, retstep=True)[1]),
    Case("arrays-axis=-1", ((3,), (2, 3)), lambda fn, a, b: fn(a, b, 4, axis=-1)),
    Case("constant-start", ((2,),), lambda fn, b: fn(1.0, b, 6)),
    Case("one-sample", ((), ()), lambda fn, a, b: fn(a, b, 1)),
))
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *,
             device=None):
    """``num`` samples at equal steps from ``start`` to ``stop`` (NumPy's formula and bits).

    ``y_k = start + k * step`` with ``step = (stop - start) / div`` and the last sample
    ``stop`` itself when ``endpoint``: ``dy_k = (1 - k/div) dstart + (k/div) dstop``.
    ``retstep=True`` returns the traced ``step`` too (NumPy's ``nan`` when ``div <= 0``).
    """
    num = _sample_count(num)
    np.linspace(primal_value(start), primal_value(stop), 0, endpoint, retstep, dtype, axis,
                device=device)  # NumPy's own argument errors, on no samples (no cost)
    dt = _working_dtype(start, stop, dtype, "linspace")
    y, step = _linspace(start, stop, num, endpoint, dt)
    if axis != 0:
        y = moveaxis(y, 0, axis)
    y = _final_dtype(y, dtype, "linspace")
    return (y, step) if retstep else y


# ----------------------------------------------------------------------------------------------
# logspace and geomspace
# ----------------------------------------------------------------------------------------------


def _with_ndmin(value, ndmin):
    """NumPy's ``np.array(value, ndmin=ndmin)``: ones prepended to the shape."""
    if not isinstance(value, Traced):
        return np.array(value, copy=None, subok=True, ndmin=ndmin)
    shape = shape_of(value)
    if len(shape) >= ndmin:
        return value
    return rules_shape.reshape(value, shape=(1,) * (ndmin - len(shape)) + shape)


@implements(np.logspace, cases=(
    Case("scalars", ((), ()), lambda fn, a, b: fn(a, b, 6)),
    Case("base-no-endpoint", ((2,), ()),
         lambda fn, a, b: fn(a, b, 4, endpoint=False, base=2.0)),
    Case("traced-base", ((), (), (3,)),
         lambda fn, a, b, base: fn(a, b, 4, base=base, axis=-1), "positive"),
))
def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    """``base ** linspace(start, stop)``, NumPy's steps (a non-scalar ``base`` is broadcast with
    the end points and gets the sample axis); ``start``, ``stop`` and ``base`` may be traced."""
    num = _sample_count(num)
    np.logspace(primal_value(start), primal_value(stop), 0, endpoint, primal_value(base),
                dtype, axis)  # NumPy's own argument errors, on no samples (no cost)
    if not isinstance(base, (float, int)) and ndim_of(base):
        ndmax = np.broadcast(*(np.empty(shape_of(a), dtype=bool)
                               for a in (start, stop, base))).ndim
        start, stop, base = (_with_ndmin(_as_operand(a), ndmax) for a in (start, stop, base))
        base_shape = shape_of(base)
        axis_at = normalize_axis_index(int(axis), len(base_shape) + 1)
        expanded = base_shape[:axis_at] + (1,) + base_shape[axis_at:]
        base = (rules_shape.reshape(base, shape=expanded) if isinstance(base, Traced)
                else np.reshape(base, expanded))
    y = linspace(start, stop, num=num, endpoint=endpoint, axis=axis)
    return _final_dtype(ew.power(base, y), dtype, "logspace")


@implements(np.geomspace, cases=(
    Case("scalars", ((), ()), lambda fn, a, b: fn(a, b, 5), "positive"),
    Case("arrays-no-endpoint-axis", ((2,), (2,)),
         lambda fn, a, b: fn(a, b * 3.0, 4, endpoint=False, axis=1), "positive"),
    Case("negative", ((), ()), lambda fn, a, b: fn(-a, -b * 4.0, 6), "positive"),
))
def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """A geometric progression from ``start`` to ``stop``: NumPy's steps.

    With ``s = sign(start)`` (locally constant: derivative 0), the samples are
    ``s * 10 ** linspace(log10(start / s), log10(stop / s))`` with the first (and, with
    ``endpoint``, the last) sample written back as ``start`` and ``stop`` exactly, so their
    derivatives are those of the end points themselves.  Like NumPy, the working dtype is at
    least float64 unless ``dtype`` says otherwise (float32 end points give float64 samples).
    """
    num = _sample_count(num)
    np.geomspace(primal_value(start), primal_value(stop), 0, endpoint, dtype,
                 axis)  # NumPy's own argument errors (a zero end point too), on no samples
    start, stop = _as_operand(start), _as_operand(stop)
    if np.any(data_value(start) == 0) or np.any(data_value(stop) == 0):  # a guard in ad.jit
        raise ValueError("Geometric sequence cannot include zero")
    dt = np.result_type(np.zeros((), dtype_of(start)), np.zeros((), dtype_of(stop)), float(num),
                        np.zeros((), dtype))
    if dt.kind != "f" or (dtype is not None and np.dtype(dtype).kind != "f"):
        raise TypeError(
            f"np.geomspace(dtype={np.dtype(dtype) if dtype is not None else dt}) of a traced "
            "value is not supported: only floating dtypes carry a derivative"
        )
    start, stop = _in_dtype(start, dt, "geomspace"), _in_dtype(stop, dt, "geomspace")
    out_sign = ew.sign(start)
    start = ew.divide(start, out_sign)
    stop = ew.divide(stop, out_sign)
    result = logspace(ew.log10(start), ew.log10(stop), num=num, endpoint=endpoint, base=10.0,
                      dtype=dt)
    if num > 0:
        result = indexing.index_update(result, start, index=(0, Ellipsis))
        if num > 1 and endpoint:
            result = indexing.index_update(result, stop, index=(-1, Ellipsis))
    result = ew.multiply(result, out_sign)
    if axis != 0:
        result = moveaxis(result, 0, axis)
    return _final_dtype(result, dtype, "geomspace")


# ----------------------------------------------------------------------------------------------
# meshgrid
# ----------------------------------------------------------------------------------------------


def _read_only(base, new):
    raise ValueError(
        "assignment destination is read-only: a dense np.meshgrid(..., copy=False) output is a "
        "broadcast view of its input, whose every row shares the input's memory (NumPy 2 writes "
        "through it with a DeprecationWarning and will make it read-only). Use copy=True (the "
        "default) to get arrays to write into, or write into the input itself."
    )


@implements(np.meshgrid, cases=(
    Case("xy", ((3,), (4,)), lambda fn, x, y: fn(x, y)[0] * fn(x, y)[1]),
    Case("ij-three", ((2,), (3,), (2,)), lambda fn, x, y, z: fn(x, y, z, indexing="ij")[2]
         - fn(x, y, z, indexing="ij")[0]),
    Case("sparse", ((3,), (2,)), lambda fn, x, y: fn(x, y, sparse=True)[0]
         + fn(x, y, sparse=True)[1]),
    Case("no-copy-matrix-input", ((2, 2), (3,)),
         lambda fn, x, y: fn(x, y, copy=False)[0] + 2.0 * fn(x, y, copy=False)[1]),
))
def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """Coordinate arrays from coordinate vectors (each input is flattened, as NumPy does).

    ``indexing='xy'`` (Cartesian) swaps the first two axes, ``'ij'`` (matrix) keeps them;
    ``sparse=True`` returns the reshaped vectors.  Every output entry is one input entry, so
    the derivative is that entry's.  ``copy=False`` keeps NumPy's aliasing: a sparse output is
    a view of its input (writes through it reach the input), a dense one is a broadcast view
    that shows later writes into its input; writing into it raises ``ValueError`` (NumPy 2 writes
    through every aliased row with a ``DeprecationWarning``, and will make it read-only).
    """
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    ndim = len(xi)
    s0 = (1,) * ndim
    shapes_ = []
    for i in range(ndim):
        shape = s0[:i] + (-1,) + s0[i + 1:]
        if indexing == "xy" and ndim > 1 and i < 2:
            shape = ((1, -1) if i == 0 else (-1, 1)) + s0[2:]
        size = int(np.prod(shape_of(xi[i]), dtype=int))
        shapes_.append(tuple(size if s == -1 else s for s in shape))
    full = np.broadcast_shapes(*shapes_)
    output = []
    for x, shape in zip(xi, shapes_):
        if not isinstance(x, Traced):
            x = np.asanyarray(x)
            view = x.reshape(shape) if sparse else np.broadcast_to(x.reshape(shape), full)
            output.append(view.copy() if copy else view)
        elif sparse:
            output.append(writing.view_of_reshape(x, shape, rules_shape.reshape(x, shape=shape))
                          if not copy else rules_shape.reshape(x, shape=shape))
        else:
            dense = rules_shape.broadcast_to(rules_shape.reshape(x, shape=shape), shape=full)
            if not copy:
                writing.register_view(
                    x, dense,
                    lambda b, shape=shape: rules_shape.broadcast_to(
                        rules_shape.reshape(b, shape=shape), shape=full),
                    _read_only,
                )
            output.append(dense)
    return output if (sparse and not copy) else tuple(output)
