"""Quadrature on traced values: ``np.trapezoid``.

The composite trapezoidal rule (Süli & Mayers, *An Introduction to Numerical Analysis*, §7.2),
in NumPy's own steps (``numpy/lib/_function_base_impl.py``)::

    d   = dx,  or diff(x) (a 1-d ``x`` laid along ``axis``),  or diff(x, axis=axis)
    out = sum(d * (y[1:] + y[:-1]) / 2.0, axis)

It is linear in ``y`` (``d out / d y_k = (d_{k-1} + d_k) / 2`` with ``d_{-1} = d_n = 0``) and
bilinear in ``(y, x)`` (``d out / d x_k = (y_{k-1} - y_{k+1}) / 2`` inside, ``-(y_0 + y_1) / 2``
and ``(y_{n-1} + y_n) / 2`` at the ends), so every derivative is exact at every order.  ``y``,
``x`` and ``dx`` may each be traced.  NumPy's ``np.trapz`` is gone from NumPy 2.4, the version
this package is tested on; where an older NumPy still has it, it is the same rule.
"""

from __future__ import annotations

import numpy as np

from ..rules import elementwise as ew
from ..rules import indexing
from ..rules import reductions
from ..rules import shapes as rules_shape
from ..rules.primitive import Case, Traced, call_with, implements, ndim_of, shape_of
from .arithmetic import diff

__all__ = ["trapezoid"]


_TRAPEZOID_CASES = (
    Case("vector", ((6,),), call_with()),
    Case("dx", ((5,), ()), lambda fn, y, h: fn(y, dx=h * 0.1 + 0.5)),
    Case("x-and-y", ((5,), (5,)), lambda fn, y, x: fn(y, x)),
    Case("x-vector-axis=0", ((4, 3), (4,)), lambda fn, y, x: fn(y, x, axis=0)),
    Case("x-matrix", ((3, 4), (3, 4)), lambda fn, y, x: fn(y, x, axis=-1)),
    Case("constant-y-traced-x", ((5,),), lambda fn, x: fn(np.arange(5.0) ** 2, x)),
)


@implements(*(f for f in (np.trapezoid, getattr(np, "trapz", None)) if f is not None),
            cases=_TRAPEZOID_CASES)
def trapezoid(y, x=None, dx=1.0, axis=-1):
    """``sum(d * (y[1:] + y[:-1]) / 2.0)`` along ``axis`` with ``d = diff(x)`` or ``dx``.

    A 1-d ``x`` is laid along ``axis`` of ``y``; an ``x`` of ``y``'s dimensions is differenced
    along ``axis``.  The result has ``y``'s shape without ``axis`` (a 0-d value for a vector).
    The steps are NumPy's, so are its errors (an axis out of range, lengths that do not
    broadcast).
    """
    if not isinstance(y, Traced):
        y = np.asanyarray(y)
    nd = ndim_of(y)
    if x is None:
        d = dx
    elif ndim_of(x) == 1:
        d = diff(x)
        shape = [1] * nd
        shape[axis] = shape_of(d)[0]
        d = (rules_shape.reshape(d, shape=tuple(shape)) if isinstance(d, Traced)
             else np.reshape(d, shape))
    else:
        d = diff(x, axis=axis)
    upper = [slice(None)] * nd
    lower = [slice(None)] * nd
    upper[axis] = slice(1, None)
    lower[axis] = slice(None, -1)
    pairs = ew.add(indexing.getitem(y, index=tuple(upper)),
                   indexing.getitem(y, index=tuple(lower)))
    return reductions.reduce_sum(ew.divide(ew.multiply(d, pairs), 2.0), axis=axis)
