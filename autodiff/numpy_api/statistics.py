"""NumPy's statistics on traced values: moments, order statistics, nan-aware reductions,
covariance.

Every function follows NumPy's own computation step by step with primitives, so values are
NumPy's (to the last bit where the same ufuncs run in the same order) and derivatives come from
the primitives' rules (they differentiate again).

* ``var``/``std``: ``sum((x - mean)^2) / (N - ddof)``, NumPy's two-pass formula;
* ``median``, ``quantile``, ``percentile``: the elements at the wanted positions of NumPy's
  *stable* sort order (``argsort(kind="stable")`` on primal values, then a gather), so over
  ties the derivative follows the element the stable sort places there (API.md's kink table);
  ``median`` of an even count averages the two middle elements; ``quantile`` interpolates
  between the two neighbours with NumPy's ``_lerp`` and NumPy's table of methods (Hyndman &
  Fan, "Sample quantiles in statistical packages", The American Statistician 50(4), 1996);
* ``nansum``/``nanmean``/``nanmax``/``nanmin``: nan entries replaced by the neutral element
  (a constant, so they get no derivative);
* ``cov``/``corrcoef``: centred rows, one matrix product, NumPy's normalisation.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from numpy.lib import _function_base_impl as _numpy_quantiles

from ..rules import elementwise as ew
from ..rules import indexing as rules_indexing
from ..rules import linalg as rules_linalg
from ..rules import ordering as rules_ordering
from ..rules import reductions as rules_reductions
from ..rules import shapes as rules_shape
from ..rules.primitive import (
    Case,
    Traced,
    call_with,
    data_value,
    dtype_of,
    implements,
    ndim_of,
    normalize_axes,
    on_data,
    primal_value,
    shape_of,
)
from .protocol import refuse_keywords
from .reductions import mean as _mean
from .shapes import concatenate, transpose

__all__ = [
    "var", "std", "average", "median", "quantile", "percentile",
    "nansum", "nanmean", "nanmax", "nanmin", "cov", "corrcoef",
]

# a fixed mask for the test calls of (3, 4) inputs: where= and injected nans
_MASK = np.array([[True, False, True, True], [False, True, True, False], [True, True, False, True]])
_NAN_SLICE = np.array([[True, True, True, True], [False, True, False, False],
                       [False, False, False, True]])


def _with_nans(x, mask=_MASK):
    """A test input with nan where ``mask`` is False (the nans are constants)."""
    return rules_indexing.where(mask, x, np.nan)


def _kept_shape(shape, axes) -> tuple:
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _drop_axes(x, shape, axes):
    """``x`` shaped like ``keepdims=True`` output, with the reduced axes removed."""
    return rules_shape.reshape(x, tuple(s for i, s in enumerate(_kept_shape(shape, axes))
                                        if i not in axes))


# ----------------------------------------------------------------------------------------------
# moments
# ----------------------------------------------------------------------------------------------


def _degrees_of_freedom(ddof, correction):
    if correction is not None:
        if ddof != 0:
            raise ValueError("ddof and correction can't be provided simultaneously.")
        return correction
    return ddof


def _variance(name, a, axis, dtype, out, ddof, keepdims, where, mean, correction):
    """NumPy's ``_var``: ``sum(|x - mean|^2) / max(N - ddof, 0)`` over the selected entries."""
    refuse_keywords(name, dtype=(dtype, None), out=(out, None))
    ddof = _degrees_of_freedom(ddof, correction)
    shape = shape_of(a)
    axes = normalize_axes(axis, len(shape))
    if where is True:
        mask = None
        count = math.prod(shape[i] for i in axes)
        divisor = float(count)
    else:
        mask = rules_indexing.bool_mask(where, shape)
        count = np.sum(mask, axis=axes, keepdims=True)
        divisor = count.astype(dtype_of(a))
    if np.any(ddof >= count):
        warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=3)
    if mean is None:
        selected = a if mask is None else rules_indexing.where(mask, a, 0.0)
        total = rules_reductions.reduce_sum(selected, axis=axes, keepdims=True)
        mean = ew.divide(total, divisor)
    squared = ew.square(ew.subtract(a, mean))
    if mask is not None:
        squared = rules_indexing.where(mask, squared, 0.0)
    total = rules_reductions.reduce_sum(squared, axis=axes, keepdims=keepdims)
    dof = np.maximum(count - ddof, 0)
    if mask is None:
        return ew.divide(total, float(dof))
    dof = dof.astype(dtype_of(a))
    return ew.divide(total, dof if keepdims else dof.reshape(shape_of(total)))


_MOMENT_CASES = (
    Case("all", ((3, 4),), call_with()),
    Case("axis=0", ((3, 4),), call_with(axis=0)),
    Case("ddof=1-axis=1-keepdims", ((3, 4),), call_with(axis=1, ddof=1, keepdims=True)),
    Case("3d-axis=(0,2)", ((2, 3, 4),), call_with(axis=(0, 2))),
    Case("where", ((3, 4),), call_with(axis=1, where=_MASK)),
    Case("correction", ((5,),), call_with(correction=1)),
    Case("given-mean", ((3, 4), (3, 1)), lambda fn, x, m: fn(x, axis=1, mean=m)),
)


@implements(np.var, cases=_MOMENT_CASES)
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=None,
        correction=None):
    """Variance ``sum((a - mean)^2) / (N - ddof)`` over ``axis`` (``where=`` selects the
    entries, ``mean=`` supplies the mean, ``correction=`` is NumPy 2's name for ``ddof``)."""
    return _variance("var", a, axis, dtype, out, ddof, keepdims, where, mean, correction)


@implements(np.std, cases=_MOMENT_CASES[:5])
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=None,
        correction=None):
    """Standard deviation ``sqrt(var)``; its derivative at zero spread is ``inf`` (sqrt at 0)."""
    return ew.sqrt(_variance("std", a, axis, dtype, out, ddof, keepdims, where, mean, correction))


def _weights_along(weights, a_shape, axes):
    """NumPy's ``_weights_are_valid``: weights shaped like ``a``, or along ``axes`` only."""
    w_shape = shape_of(weights)
    if w_shape == a_shape:
        return weights
    if axes is None:
        raise TypeError("Axis must be specified when shapes of a and weights differ.")
    if w_shape != tuple(a_shape[i] for i in axes):
        raise ValueError("Shape of weights must be consistent with shape of a along specified axis.")
    weights = rules_shape.transpose(weights, tuple(int(i) for i in np.argsort(axes)))
    return rules_shape.reshape(weights, tuple(s if i in axes else 1 for i, s in enumerate(a_shape)))


@implements(np.average, cases=(
    Case("unweighted", ((3, 4),), call_with(axis=1)),
    Case("weights-same-shape", ((3, 4), (3, 4)), lambda fn, a, w: fn(a, weights=w), "positive"),
    Case("weights-along-axis", ((3, 4), (4,)),
         lambda fn, a, w: fn(a, axis=1, weights=w, keepdims=True), "positive"),
    Case("returned-sum", ((3, 4), (3,)),
         lambda fn, a, w: fn(a, axis=0, weights=w, returned=True)[1], "positive"),
))
def average(a, axis=None, weights=None, returned=False, *, keepdims=np._NoValue):
    """``sum(a * w) / sum(w)`` over ``axis`` (the mean without weights); ``returned=True`` also
    gives ``sum(w)`` broadcast to the average's shape.  Weights may be traced too."""
    shape = shape_of(a)
    axes = None if axis is None else normalize_axes(axis, len(shape))
    keep = False if keepdims is np._NoValue else bool(keepdims)
    if weights is None:
        avg = _mean(a, axis=axes, keepdims=keep)
        scale = np.asarray(primal_value(avg)).dtype.type(math.prod(shape) / math.prod(shape_of(avg)))
    else:
        weights = _weights_along(weights, shape, axes)
        scale = rules_reductions.reduce_sum(weights, axis=axes, keepdims=keep)
        if np.any(data_value(scale) == 0.0):  # (under ad.jit: recorded, guarded)
            raise ZeroDivisionError("Weights sum to zero, can't be normalized")
        weighted = rules_reductions.reduce_sum(ew.multiply(a, weights), axis=axes, keepdims=keep)
        avg = ew.divide(weighted, scale)
    if not returned:
        return avg
    if shape_of(scale) != shape_of(avg):
        scale = rules_shape.broadcast_to(scale, shape_of(avg)) if isinstance(scale, Traced) \
            else np.broadcast_to(scale, shape_of(avg)).copy()
    return avg, scale


# ----------------------------------------------------------------------------------------------
# order statistics: positions in NumPy's stable sort order
# ----------------------------------------------------------------------------------------------


def _reduced_last(a, axis):
    """``a`` with the reduced axes moved to the end and merged into one (NumPy's ``_ureduce``),
    and the reduced axes."""
    shape = shape_of(a)
    axes = normalize_axes(axis, len(shape))
    kept = tuple(i for i in range(len(shape)) if i not in axes)
    moved = rules_shape.transpose(a, kept + axes) if kept + axes != tuple(range(len(shape))) else a
    merged = math.prod(shape[i] for i in axes)
    return rules_shape.reshape(moved, tuple(shape[i] for i in kept) + (merged,)), axes


def _sorted_at(x, positions):
    """``sort(x, axis=-1, kind="stable")[..., positions]`` (shape ``x.shape[:-1] +
    positions.shape``) as a gather of ``x`` along its last axis: the derivative follows the
    elements the stable sort places at ``positions`` (nan sorts last, as in NumPy's partition)."""
    positions = np.asarray(positions, dtype=np.intp)
    last = ndim_of(x) - 1  # the primitive's axis is a non-negative position
    picked = rules_ordering.sort_order(x, last)[..., positions.ravel()]
    gathered = rules_ordering.take_along_axis(x, indices=picked, axis=last)
    return rules_shape.reshape(gathered, shape_of(x)[:-1] + positions.shape)


def _nan_slices(x):
    """Where a slice along the last axis holds a nan (NumPy's order statistics give nan)."""
    return on_data(_nan_slices_of_values, x)


def _nan_slices_of_values(x):
    return np.any(np.isnan(np.asarray(x)), axis=-1)


def _finish_order_statistic(result, flat, shape, axes, keepdims, leading=0):
    """nan where the slice held one, then the kept shape; ``leading`` axes (quantiles') first."""
    nans = _nan_slices(flat)
    if np.any(nans):
        nans = nans.reshape(nans.shape + (1,) * leading) if leading else nans
        result = rules_indexing.where(np.broadcast_to(nans, shape_of(result)), np.nan, result)
    if leading:
        n = ndim_of(result)
        result = rules_shape.transpose(
            result, tuple(range(n - leading, n)) + tuple(range(n - leading)))
    if keepdims:
        result_shape = shape_of(result)
        result = rules_shape.reshape(result, result_shape[:leading] + _kept_shape(shape, axes))
    return result


@implements(np.median, cases=(
    Case("odd", ((5,),), call_with(), "separated"),
    Case("even", ((6,),), call_with(), "separated"),
    Case("axis=0", ((4, 3),), call_with(axis=0), "separated"),
    Case("axis=1-keepdims", ((3, 5),), call_with(axis=1, keepdims=True), "separated"),
    Case("3d-axis=(0,2)", ((2, 3, 2),), call_with(axis=(0, 2)), "separated"),
))
def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """The middle element of the stable sort order, or the mean of the two middle ones.

    ``overwrite_input`` only permits NumPy to reorder its input; a traced input is never
    modified, which that permission allows.
    """
    refuse_keywords("median", out=(out, None))
    shape = shape_of(a)
    flat, axes = _reduced_last(a, axis)
    n = shape_of(flat)[-1]
    if n == 0:
        return _mean(a, axis=axis, keepdims=keepdims)
    middle = _sorted_at(flat, [n // 2] if n % 2 else [n // 2 - 1, n // 2])
    result = _mean(middle, axis=-1)
    return _finish_order_statistic(result, flat, shape, axes, keepdims)


def _lerp(a, b, t):
    """NumPy's ``_lerp``: ``a + (b - a) t``, or ``b - (b - a)(1 - t)`` where ``t >= 0.5``."""
    difference = ew.subtract(b, a)
    low = ew.add(a, ew.multiply(difference, t))
    high = ew.subtract(b, ew.multiply(difference, 1 - t))
    return rules_indexing.where(np.asarray(t >= 0.5), high, low)


def _quantile(name, a, q, axis, out, overwrite_input, method, keepdims, weights, interpolation,
              scale):
    refuse_keywords(name, out=(out, None), weights=(weights, None),
                    interpolation=(interpolation, None))
    if isinstance(q, Traced):
        raise TypeError(
            f"np.{name}: derivatives with respect to q are not supported; pass q as a constant "
            "(ad.stop_gradient(q))"
        )
    weak_q = type(q) in (int, float)
    q = np.true_divide(q, scale) if scale != 1 else np.asanyarray(q)
    if q.ndim > 2:
        raise ValueError("q must be a scalar or 1d")
    if not np.all((q >= 0) & (q <= 1)):
        bounds = "[0, 100]" if scale == 100 else "[0, 1]"
        raise ValueError(f"{'Percentiles' if scale == 100 else 'Quantiles'} must be in the "
                         f"range {bounds}")
    try:
        rules = _numpy_quantiles._QuantileMethods[method]
    except KeyError:
        raise ValueError(
            f"{method!r} is not a valid method. Use one of: "
            f"{list(_numpy_quantiles._QuantileMethods)}"
        ) from None
    shape = shape_of(a)
    flat, axes = _reduced_last(a, axis)
    n = shape_of(flat)[-1]
    virtual = np.asanyarray(rules["get_virtual_index"](n, q))
    if rules["fix_gamma"] is None or (
        method == "linear" and np.issubdtype(virtual.dtype, np.integer)
    ):
        result = _sorted_at(flat, virtual)
    else:
        previous, following = _numpy_quantiles._get_indexes(
            np.asarray(primal_value(flat)), virtual, n)
        gamma = _numpy_quantiles._get_gamma(virtual, previous, rules)
        result = _lerp(_sorted_at(flat, previous), _sorted_at(flat, following),
                       float(gamma) if weak_q else gamma)
    return _finish_order_statistic(result, flat, shape, axes, keepdims, leading=q.ndim)


_QUANTILE_CASES = (
    ("linear", 0.3, {}),
    ("several-axis=1", [0.1, 0.5, 0.9], {"axis": 1}),
    ("keepdims-axis=0", [0.25, 0.75], {"axis": 0, "keepdims": True}),
    ("midpoint", 0.4, {"method": "midpoint"}),
    ("nearest", 0.4, {"method": "nearest"}),
    ("lower", 0.7, {"method": "lower"}),
    ("hazen", 0.35, {"method": "hazen", "axis": 1}),
    ("median_unbiased", 0.8, {"method": "median_unbiased"}),
    ("interpolated_inverted_cdf", 0.45, {"method": "interpolated_inverted_cdf"}),
)


@implements(np.quantile, cases=tuple(
    Case(label, ((3, 4),), (lambda q, kw: lambda fn, x: fn(x, q, **kw))(q, kw), "separated")
    for label, q, kw in _QUANTILE_CASES
))
def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False,
             *, weights=None, interpolation=None):
    """The ``q``-th quantiles over ``axis``: NumPy's positions and interpolation weights for
    every ``method``, the values gathered from the stable sort order."""
    return _quantile("quantile", a, q, axis, out, overwrite_input, method, keepdims, weights,
                     interpolation, 1)


@implements(np.percentile, cases=(
    Case("linear", ((3, 4),), lambda fn, x: fn(x, 40), "separated"),
    Case("several", ((3, 4),), lambda fn, x: fn(x, [10, 90], axis=0), "separated"),
))
def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
               keepdims=False, *, weights=None, interpolation=None):
    """``quantile(a, q / 100)``, NumPy's percentiles."""
    return _quantile("percentile", a, q, axis, out, overwrite_input, method, keepdims, weights,
                     interpolation, 100)


# ----------------------------------------------------------------------------------------------
# nan-aware reductions
# ----------------------------------------------------------------------------------------------


def _nan_free(a, fill):
    """``a`` with its nan entries replaced by the constant ``fill``, and the nan mask."""
    nans = on_data(np.isnan, a)  # a recorded step under ad.jit; the branch is guarded
    if not np.any(nans):
        return a, None
    return rules_indexing.where(nans, fill, a), nans


def _no_extras(name, dtype=None, out=None, initial=np._NoValue, where=np._NoValue):
    refuse_keywords(name, dtype=(dtype, None), out=(out, None), initial=(initial, np._NoValue),
                    where=(where, np._NoValue))


def _axes_param(axis, a):
    return None if axis is None else normalize_axes(axis, ndim_of(a))


_NAN_CASES = (
    Case("no-nan", ((3, 4),), call_with(axis=1), "separated"),
    Case("nans-all", ((3, 4),), lambda fn, x: fn(_with_nans(x)), "separated"),
    Case("nans-axis=0", ((3, 4),), lambda fn, x: fn(_with_nans(x), axis=0), "separated"),
    Case("nans-axis=1-keepdims", ((3, 4),),
         lambda fn, x: fn(_with_nans(x), axis=1, keepdims=True), "separated"),
)


@implements(np.nansum, cases=_NAN_CASES)
def nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue,
           where=np._NoValue):
    """Sum with nan entries counted as zero (they get no derivative)."""
    _no_extras("nansum", dtype, out, initial, where)
    a, _ = _nan_free(a, 0.0)
    return rules_reductions.reduce_sum(a, axis=_axes_param(axis, a), keepdims=bool(keepdims))


@implements(np.nanmean, cases=_NAN_CASES)
def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=np._NoValue):
    """Mean of the entries that are not nan: their sum over their count (an all-nan slice gives
    nan with NumPy's "Mean of empty slice" warning)."""
    _no_extras("nanmean", dtype, out, where=where)
    filled, nans = _nan_free(a, 0.0)
    axes = _axes_param(axis, a)
    if nans is None:
        return _mean(a, axis=axes, keepdims=bool(keepdims))
    count = np.sum(~nans, axis=axes, keepdims=bool(keepdims))
    total = rules_reductions.reduce_sum(filled, axis=axes, keepdims=bool(keepdims))
    with np.errstate(invalid="ignore", divide="ignore"):
        result = ew.divide(total, np.asarray(count, dtype=dtype_of(a)))
    if np.any(count == 0):
        warnings.warn("Mean of empty slice", RuntimeWarning, stacklevel=3)
    return result


def _nan_extremum(name, reduce, fill, a, axis, out, keepdims, initial, where):
    _no_extras(name, out=out, initial=initial, where=where)
    filled, nans = _nan_free(a, fill)
    axes = _axes_param(axis, a)
    result = reduce(filled, axis=axes, keepdims=bool(keepdims))
    if nans is None:
        return result
    all_nan = np.all(nans, axis=axes, keepdims=bool(keepdims))
    if not np.any(all_nan):
        return result
    warnings.warn("All-NaN slice encountered", RuntimeWarning, stacklevel=3)
    return rules_indexing.where(all_nan, np.nan, result)


@implements(np.nanmax, cases=_NAN_CASES)
def nanmax(a, axis=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    """Maximum ignoring nan (NumPy's ``fmax.reduce``); ties split the derivative evenly."""
    return _nan_extremum("nanmax", rules_reductions.reduce_max, -np.inf, a, axis, out, keepdims,
                         initial, where)


@implements(np.nanmin, cases=_NAN_CASES)
def nanmin(a, axis=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    """Minimum ignoring nan (NumPy's ``fmin.reduce``); ties split the derivative evenly."""
    return _nan_extremum("nanmin", rules_reductions.reduce_min, np.inf, a, axis, out, keepdims,
                         initial, where)


# ----------------------------------------------------------------------------------------------
# covariance and correlation
# ----------------------------------------------------------------------------------------------


def _as_rows(m, name):
    """NumPy's ``array(m, ndmin=2)``."""
    if ndim_of(m) > 2:
        raise ValueError(f"{name} has more than 2 dimensions")
    return rules_shape.reshape(m, (1,) * (2 - ndim_of(m)) + shape_of(m)) if ndim_of(m) < 2 else m


def _in_dtype(x, dtype):
    """``x`` promoted to ``dtype`` as NumPy's ``array(m, dtype=...)`` does (float32 data is
    covaried in float64): a product with a one of that dtype, exact, whose cotangent comes back
    in ``x``'s dtype."""
    return x if dtype_of(x) == dtype else ew.multiply(x, np.ones((), dtype=dtype))


def _sample_weights(values, name, samples):
    if values is None:
        return None
    if isinstance(values, Traced) and not values._staged:
        raise TypeError(
            f"np.cov: derivatives with respect to {name} are not supported; pass them as "
            "constants"
        )
    if isinstance(values, Traced):  # data of an ad.jit recording: recorded, its checks guarded
        weights = values.astype(float)
    else:
        weights = np.asarray(values, dtype=float)
    if name == "fweights" and not np.all(weights == np.around(weights)):
        raise TypeError("fweights must be integer")
    if weights.ndim > 1:
        raise RuntimeError(f"cannot handle multidimensional {name}")
    if weights.shape[0] != samples:
        raise RuntimeError(f"incompatible numbers of samples and {name}")
    if np.any(weights < 0):
        raise ValueError(f"{name} cannot be negative")
    return weights


@implements(np.cov, cases=(
    Case("rows", ((3, 5),), call_with()),
    Case("rowvar=False", ((5, 3),), call_with(rowvar=False)),
    Case("bias", ((2, 4),), call_with(bias=True)),
    Case("ddof=2", ((2, 5),), call_with(ddof=2)),
    Case("vector", ((6,),), call_with()),
    Case("with-y", ((2, 5), (5,)), lambda fn, m, y: fn(m, y)),
    Case("weights", ((2, 5),), call_with(fweights=np.array([1, 2, 1, 3, 1]),
                                         aweights=np.array([0.5, 1.0, 2.0, 1.0, 0.3]))),
))
def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *,
        dtype=None):
    """Covariance of the rows (variables) over the columns (samples), NumPy's estimate:
    ``X_c X_c^T / fact`` with ``X_c`` the rows centred on their (weighted) means."""
    refuse_keywords("cov", dtype=(dtype, None))
    if ddof is not None and ddof != int(ddof):
        raise ValueError("ddof must be integer")
    dtype = np.result_type(*[dtype_of(v) for v in (m, y) if v is not None], np.float64)
    rows = _in_dtype(_as_rows(m, "m"), dtype)
    if not rowvar and ndim_of(m) != 1:
        rows = transpose(rows)
    if shape_of(rows)[0] == 0:
        return np.array([]).reshape(0, 0)
    if y is not None:
        y_rows = _in_dtype(_as_rows(y, "y"), dtype)
        rows = concatenate([rows, y_rows if rowvar or shape_of(y_rows)[0] == 1
                            else transpose(y_rows)], axis=0)
    samples = shape_of(rows)[1]
    if ddof is None:
        ddof = 0 if bias else 1
    frequency = _sample_weights(fweights, "fweights", samples)
    analytic = _sample_weights(aweights, "aweights", samples)
    w = frequency if analytic is None else analytic if frequency is None else frequency * analytic
    avg, w_sum = average(rows, axis=1, weights=w, returned=True)
    w_sum = data_value(w_sum)[0]  # a constant factor; under ad.jit a recorded value
    if w is None:
        fact = samples - ddof
    elif ddof == 0:
        fact = w_sum
    elif analytic is None:
        fact = w_sum - ddof
    else:
        fact = w_sum - ddof * sum(w * analytic) / w_sum
    if fact <= 0:
        warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=2)
        fact = 0.0
    centred = ew.subtract(rows, rules_shape.reshape(avg, shape_of(avg) + (1,)))
    weighted = centred if w is None else ew.multiply(centred, w)
    with np.errstate(divide="ignore"):
        reciprocal = np.true_divide(1, fact)
    c = ew.multiply(rules_linalg.matmul(centred, transpose(weighted)), reciprocal)
    return rules_shape.reshape(c, tuple(s for s in shape_of(c) if s != 1))


@implements(np.corrcoef, cases=(
    Case("rows", ((3, 5),), call_with()),
    Case("with-y-columns", ((5, 2), (5, 1)), lambda fn, x, y: fn(x, y, rowvar=False)),
))
def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    """Pearson correlation ``C_ij / sqrt(C_ii C_jj)`` of NumPy's covariance, clipped to
    ``[-1, 1]``."""
    c = cov(x, y, rowvar, dtype=dtype)
    n = ndim_of(c)
    if n != 2:
        return ew.divide(c, c)
    diagonal = np.arange(shape_of(c)[0])
    stddev = ew.sqrt(rules_indexing.getitem(c, index=(diagonal, diagonal)))
    c = ew.divide(c, rules_shape.reshape(stddev, shape_of(stddev) + (1,)))
    c = ew.divide(c, rules_shape.reshape(stddev, (1,) + shape_of(stddev)))
    return ew.clip(c, -1.0, 1.0)
