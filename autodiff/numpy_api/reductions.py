"""NumPy's reductions on traced values: ``sum``, ``mean``, ``prod``, ``max``, ``min``, ``cumsum``,
and ``logsumexp`` (SciPy's signature).

Every NumPy keyword is honoured or refused by name, never ignored:

* ``axis`` and ``keepdims`` as NumPy;
* ``dtype``: a floating dtype casts the input first (NumPy accumulates in that dtype); an
  integer or complex one is refused (``TypeError``): it would carry no derivative;
* ``where=mask``: masked-out entries do not take part (``sum``: as zeros; ``prod``: as ones;
  ``max``/``min``: as ``-inf``/``+inf``, so NumPy requires ``initial``; ``mean``: divided by
  the count of selected entries), and their derivative is 0;
* ``initial``: combined with the reduced value (added, multiplied, or ``maximum``/``minimum``,
  whose ties split evenly as everywhere);
* ``out=`` is refused: traced values are immutable; use the returned value.

Argument errors are NumPy's own: with ``where`` or ``initial`` NumPy first reduces the primal
values with the same keywords.
"""

from __future__ import annotations

import builtins

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from ..rules import elementwise as ew
from ..rules import indexing, shapes
from ..rules import reductions as rules_reductions
from ..rules.primitive import Case, call_with, implements, ndim_of, normalize_axes, primal_value
from ..rules.primitive import on_data, shape_of
from .arithmetic import astype
from .protocol import refuse_keywords
from .shapes import ravel

__all__ = ["sum", "mean", "prod", "max", "min", "cumsum", "logsumexp", "log_softmax", "softmax"]

_NO_VALUE = np._NoValue
_MASK = np.array([[True, False, True, True], [False, True, True, False], [True, True, False, True]])


def _axis_param(axis):
    if axis is None or np.ndim(axis) == 0:
        return axis if axis is None else int(axis)
    return tuple(int(a) for a in axis)


def _prepared(name, numpy_fn, a, axis, dtype, out, keepdims, initial, where):
    """Refuse ``out``, apply ``dtype``, check the rest with NumPy: ``(x, axis, keepdims)``."""
    refuse_keywords(name, out=(out, None))
    keepdims = False if keepdims is _NO_VALUE else bool(keepdims)
    if where is not True or initial is not _NO_VALUE:
        checks = {} if initial is _NO_VALUE else {"initial": primal_value(initial)}
        numpy_fn(primal_value(a), axis=axis, keepdims=keepdims, where=where, **checks)
    if dtype is not None:
        a = astype(a, dtype, f"np.{name}")
    return a, _axis_param(axis), keepdims


def _masked(x, where, fill):
    """``x`` with the entries outside ``where`` replaced by the constant ``fill``."""
    if where is True:
        return x
    mask = indexing.bool_mask(where, shape_of(x))
    return indexing.where(mask, x, np.asarray(fill, dtype=np.result_type(primal_value(x))))


@implements(np.sum, cases=(
    Case("axis=1", ((3, 4),), call_with(axis=1)),
    Case("where-initial", ((3, 4),), call_with(axis=0, where=_MASK, initial=1.5)),
))
def sum(a, axis=None, dtype=None, out=None, keepdims=_NO_VALUE, initial=_NO_VALUE,  # noqa: A001
        where=True):
    """Sum over ``axis`` (None: all axes), NumPy's semantics and keywords."""
    x, axis, keepdims = _prepared("sum", np.sum, a, axis, dtype, out, keepdims, initial, where)
    total = rules_reductions.reduce_sum(_masked(x, where, 0.0), axis=axis, keepdims=keepdims)
    return total if initial is _NO_VALUE else ew.add(total, initial)


@implements(np.mean, cases=(
    Case("all", ((3, 4),), call_with()),
    Case("axis=0-keepdims", ((3, 4),), call_with(axis=0, keepdims=True)),
    Case("axis=(0,2)", ((2, 3, 4),), call_with(axis=(0, 2))),
    Case("where", ((3, 4),), call_with(axis=1, where=_MASK)),
))
def mean(a, axis=None, dtype=None, out=None, keepdims=_NO_VALUE, *, where=True):
    """Mean over ``axis``: the (selected) sum divided by the count of (selected) entries."""
    x, axis, keepdims = _prepared("mean", np.mean, a, axis, dtype, out, keepdims, _NO_VALUE, where)
    total = rules_reductions.reduce_sum(_masked(x, where, 0.0), axis=axis, keepdims=keepdims)
    if where is not True:
        mask = np.broadcast_to(np.asarray(where, dtype=bool), shape_of(x))
        count = np.sum(mask, axis=axis, keepdims=keepdims).astype(np.result_type(total))
        return ew.divide(total, count)
    shape = shape_of(x)
    count = 1
    for k in normalize_axes(axis, ndim_of(x)):
        count *= shape[k]
    return ew.divide(total, float(count))


@implements(np.prod, cases=(
    Case("axis=0", ((3, 4),), call_with(axis=0)),
    Case("where-initial", ((3, 4),), call_with(axis=1, where=_MASK, initial=0.5)),
))
def prod(a, axis=None, dtype=None, out=None, keepdims=_NO_VALUE, initial=_NO_VALUE, where=True):
    """Product over ``axis``; exact where factors are zero."""
    x, axis, keepdims = _prepared("prod", np.prod, a, axis, dtype, out, keepdims, initial, where)
    total = rules_reductions.reduce_prod(_masked(x, where, 1.0), axis=axis, keepdims=keepdims)
    return total if initial is _NO_VALUE else ew.multiply(total, initial)


def _extremum(name, numpy_fn, reduce, combine, fill, a, axis, out, keepdims, initial, where):
    x, axis, keepdims = _prepared(name, numpy_fn, a, axis, None, out, keepdims, initial, where)
    result = reduce(_masked(x, where, fill), axis=axis, keepdims=keepdims)
    return result if initial is _NO_VALUE else combine(result, initial)


@implements(np.max, np.amax, cases=(
    Case("axis=1", ((3, 4),), call_with(axis=1), "separated"),
    Case("where-initial", ((3, 4),), call_with(axis=0, where=_MASK, initial=-5.0), "separated"),
))
def max(a, axis=None, out=None, keepdims=_NO_VALUE, initial=_NO_VALUE, where=True):  # noqa: A001
    """Max over ``axis``; tied maxima share the derivative evenly."""
    return _extremum("max", np.max, rules_reductions.reduce_max, ew.maximum, -np.inf,
                     a, axis, out, keepdims, initial, where)


@implements(np.min, np.amin, cases=(
    Case("axis=1", ((3, 4),), call_with(axis=1), "separated"),
    Case("initial", ((3, 4),), call_with(axis=1, initial=0.05), "separated"),
))
def min(a, axis=None, out=None, keepdims=_NO_VALUE, initial=_NO_VALUE, where=True):  # noqa: A001
    """Min over ``axis``; tied minima share the derivative evenly."""
    return _extremum("min", np.min, rules_reductions.reduce_min, ew.minimum, np.inf,
                     a, axis, out, keepdims, initial, where)


@implements(np.cumsum, cases=(Case("flat", ((3, 4),), call_with()),))
def cumsum(a, axis=None, dtype=None, out=None):
    """Running sum along ``axis`` (flattened when None)."""
    refuse_keywords("cumsum", out=(out, None))
    if dtype is not None:
        a = astype(a, dtype, "np.cumsum")
    if axis is None:
        return rules_reductions.cumsum(ravel(a), axis=0)
    ndim = ndim_of(a)  # NumPy's range check; a 0-d array counts as 1-d
    axis = normalize_axis_index(int(axis), builtins.max(ndim, 1))
    return rules_reductions.cumsum(a if ndim else ravel(a), axis=axis)


def _finite_max(a, b, axis):
    """The shift of a weighted ``logsumexp``: ``max(a)`` over ``axis`` (``a`` broadcast with the
    weights ``b``), 0 where that maximum is not finite."""
    value = np.asarray(a)
    shift = np.max(np.broadcast_to(value, np.broadcast_shapes(value.shape, np.shape(b))),
                   axis=axis, keepdims=True)
    return np.where(np.isfinite(shift), shift, 0.0).astype(value.dtype, copy=False)


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """``log(sum(b * exp(a)))`` over ``axis`` (SciPy's signature), with no overflow.

    Without ``b`` it is the ``logsumexp`` primitive (``-inf`` entries allowed), whose derivative
    is the softmax ``exp(a - logsumexp(a))``.  With weights ``b`` it is ``log(sum(b e^{a - m}))
    + m`` for the constant shift ``m = max(a)`` (a constant shift changes no derivative), so a
    traced ``b`` differentiates too; where the weighted sum is negative the value is ``nan``, as
    SciPy's without ``return_sign``.  ``return_sign=True`` is refused: a sign has no derivative.
    """
    if return_sign:
        raise TypeError(
            "logsumexp(return_sign=True) is not supported on traced values: the sign has no "
            "derivative; keep the weights b >= 0"
        )
    axis = _axis_param(axis)
    if b is None:
        return rules_reductions.logsumexp(a, axis=axis, keepdims=keepdims)
    shift = on_data(_finite_max, a, b, axis)  # (under ad.jit: a recorded step)
    weighted = ew.multiply(b, ew.exp(ew.subtract(a, shift)))
    total = rules_reductions.reduce_sum(weighted, axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = ew.add(ew.log(total), shift)
    if keepdims:
        return result
    kept = tuple(s for k, s in enumerate(shape_of(result))
                 if k not in normalize_axes(axis, ndim_of(result)))
    return shapes.reshape(result, shape=kept)


def log_softmax(x, axis=None):
    """``x - logsumexp(x)`` over ``axis`` (all axes when None, as SciPy's): never ``log 0``
    (stable: Goodfellow et al., *Deep Learning*, 2016, sec. 4.1)."""
    return ew.subtract(x, logsumexp(x, axis=axis, keepdims=True))


def softmax(x, axis=None):
    """``exp(x - logsumexp(x))`` over ``axis``: no overflow for large ``x``, and a ``-inf``
    entry gets probability exactly 0."""
    return ew.exp(log_softmax(x, axis=axis))
