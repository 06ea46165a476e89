"""Reductions: sum, max, min, prod, logsumexp, and the running sum.

Each declares a JVP and a VJP explicitly (linear maps written with primitives, each the
transpose of the other).  ``max``/``min`` split the derivative evenly among tied elements
(API.md's kink table); ``prod`` stays exact where factors are zero.  Tangents and cotangents may
carry leading batch axes.
"""

from __future__ import annotations

import numpy as np

from . import elementwise as ew
from . import indexing, series, shapes
from .primitive import (
    Case,
    ParametrizedPrimitive,
    Primitive,
    batch_ndim,
    call_with,
    dtype_of,
    ndim_of,
    normalize_axes,
    on_data,
    shape_of,
)
from .series import FIRST_ORDER

__all__ = ["reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "cumsum", "logsumexp"]


def _reduction_cases(sample="normal") -> tuple:
    """Test calls of a reduction: a vector, every axis with and without keepdims, 3-d, (1, n)."""
    cases = [Case("vector", ((5,),), call_with(), sample)]
    for axis in (None, 0, 1, -1, (0, 1)):
        for keepdims in (False, True):
            cases.append(
                Case(f"axis={axis}-keepdims={keepdims}", ((3, 4),),
                     call_with(axis=axis, keepdims=keepdims), sample)
            )
    cases.append(Case("3d-axis=(0,2)", ((2, 3, 4),), call_with(axis=(0, 2)), sample))
    cases.append(Case("row-(1,n)", ((1, 4),), call_with(axis=0), sample))
    return tuple(cases)


def _restore_reduced(g, x, out, axes, keepdims):
    """Cotangent of a reduction's output, with the reduced axes put back as size 1."""
    n_batch = batch_ndim(g, out)
    if keepdims:
        return g, n_batch
    g_shape = shape_of(g)
    x_shape = shape_of(x)
    kept = [1 if i in axes else s for i, s in enumerate(x_shape)]
    return shapes.reshape(g, g_shape[:n_batch] + tuple(kept)), n_batch


def _sum_impl(x, axis=None, keepdims=False):
    if type(x) is np.ndarray:  # the reduction np.sum reaches, without its Python wrappers
        return np.add.reduce(x, axis=axis, keepdims=keepdims)
    return np.sum(x, axis=axis, keepdims=keepdims)


def _sum_jvp(primals, tangents, out, axis=None, keepdims=False):
    (t,) = tangents
    n_batch = batch_ndim(t, primals[0])
    axes = normalize_axes(axis, ndim_of(primals[0]))
    if n_batch:
        axes = tuple(a + n_batch for a in axes)
    return reduce_sum(t, axis=axes, keepdims=keepdims)


def _sum_vjp(g, primals, out, wanted, axis=None, keepdims=False):
    (x,) = primals
    if axis is None and not keepdims and type(g) is float:
        # a full sum's seed (grad's 1.0): the float broadcast to x's shape, as reshape and
        # broadcast_to below make it (read-only, zero strides), without their two dispatches
        return [_broadcast_float(g, shape_of(x))]
    axes = normalize_axes(axis, ndim_of(x))
    g, n_batch = _restore_reduced(g, x, out, axes, keepdims)
    return [shapes.broadcast_to(g, shape_of(g)[:n_batch] + shape_of(x))]


def _broadcast_float(value: float, shape: tuple):
    """``np.broadcast_to(value, shape)``: a read-only float64 view of one element with zero
    strides (NumPy's broadcast_to builds it through an iterator, 2.5 us against 1 us here)."""
    element = np.array(value)
    element.flags.writeable = False
    return np.ndarray(shape, element.dtype, element, 0, (0,) * len(shape))


reduce_sum = Primitive(
    "sum", _sum_impl, _sum_jvp, _sum_vjp, taylor=FIRST_ORDER,
    cases=(*_reduction_cases(), Case("scalar", ((),), call_with())),
)


def _extremum_weights(x, out, axis, keepdims):
    """Where the max/min is attained, each tied position weighted 1/(number of ties)."""
    axes = normalize_axes(axis, ndim_of(x))
    return on_data(_extremum_weights_of_values, x, out, axes, keepdims, dtype_of(x)), axes


def _extremum_weights_of_values(xv, yv, axes, keepdims, dtype):
    xv, yv = np.asarray(xv), np.asarray(yv)
    if not keepdims:
        yv = np.expand_dims(yv, axes)
    hits = (xv == yv).astype(dtype)
    return hits / np.sum(hits, axis=axes, keepdims=True)


def _weighted_reduction_rules(name, weights_of):
    """Rules of a reduction whose derivative is a weighted sum: ``d out = sum_axes w * dx``.

    ``weights_of(x, out, axis, keepdims) -> (w, axes)`` gives ``w = d out / d x`` (shaped like
    ``x``): the tie-splitting indicator for max/min, the softmax for logsumexp.
    """

    def jvp(primals, tangents, out, axis=None, keepdims=False):
        (t,) = tangents
        weights, axes = weights_of(primals[0], out, axis, keepdims)
        n_batch = batch_ndim(t, primals[0])
        return reduce_sum(
            ew.multiply(weights, t), axis=tuple(a + n_batch for a in axes), keepdims=keepdims
        )

    def vjp(g, primals, out, wanted, axis=None, keepdims=False):
        (x,) = primals
        weights, axes = weights_of(x, out, axis, keepdims)
        g, _ = _restore_reduced(g, x, out, axes, keepdims)
        return [ew.multiply(weights, g)]

    jvp.__name__, vjp.__name__ = f"{name}_jvp", f"{name}_vjp"
    return jvp, vjp


reduce_max = Primitive(
    "max",
    lambda x, axis=None, keepdims=False: np.max(x, axis=axis, keepdims=keepdims),
    *_weighted_reduction_rules("max", _extremum_weights),
    taylor=FIRST_ORDER,
    cases=_reduction_cases("separated"),
)
reduce_min = Primitive(
    "min",
    lambda x, axis=None, keepdims=False: np.min(x, axis=axis, keepdims=keepdims),
    *_weighted_reduction_rules("min", _extremum_weights),
    taylor=FIRST_ORDER,
    cases=_reduction_cases("separated"),
)


def _quotient_is_exact(xv, out_value):
    """No zero factor, and a finite product that is a normal number: prod / x_i is accurate."""
    out_value = np.abs(np.asarray(out_value))
    return bool(np.all(np.asarray(xv) != 0) and np.all(out_value >= np.finfo(
        out_value.dtype).tiny) and np.all(np.isfinite(out_value)))


def _product_of_others(x, axes):
    """prod_{j != i} x_j along ``axes``, for every i; exact even where some x_j = 0.

    Where no factor is zero and the product is a normal number, this is prod / x_i (a few
    ulps).  Otherwise (zeros, or a product that under- or overflows although the products of
    the others do not: ``[1e-200, 1e-200, 1e10]``) it multiplies the exclusive running products
    from the left and from the right along the flattened reduced axes, written with primitives
    so every order stays exact.
    """
    out = reduce_prod(x, axis=axes, keepdims=True)
    if on_data(_quotient_is_exact, x, out):  # a branch: ad.jit guards it
        return ew.divide(out, x)
    x_shape = shape_of(x)
    moved = shapes.transpose(x, tuple(i for i in range(len(x_shape)) if i not in axes) + axes)
    kept_shape = tuple(s for i, s in enumerate(x_shape) if i not in axes)
    flat = shapes.reshape(moved, kept_shape + (-1,))
    n = shape_of(flat)[-1]
    ones = np.ones(kept_shape + (1,), dtype=dtype_of(x))
    left = [ones]
    right = [ones]
    for k in range(1, n):
        left.append(ew.multiply(left[-1], indexing.getitem(flat, index=(Ellipsis, slice(k - 1, k)))))
        right.append(ew.multiply(right[-1], indexing.getitem(flat, index=(Ellipsis, slice(n - k, n - k + 1)))))
    others = shapes.concatenate(
        *[ew.multiply(left[k], right[n - 1 - k]) for k in range(n)], axis=len(kept_shape)
    )
    reduced_shape = tuple(x_shape[a] for a in axes)
    others = shapes.reshape(others, kept_shape + reduced_shape)
    order = tuple(i for i in range(len(x_shape)) if i not in axes) + axes
    return shapes.transpose(others, tuple(int(i) for i in np.argsort(order)))


def _prod_jvp(primals, tangents, out, axis=None, keepdims=False):
    (t,) = tangents
    (x,) = primals
    axes = normalize_axes(axis, ndim_of(x))
    n_batch = batch_ndim(t, x)
    return reduce_sum(
        ew.multiply(_product_of_others(x, axes), t),
        axis=tuple(a + n_batch for a in axes),
        keepdims=keepdims,
    )


def _prod_vjp(g, primals, out, wanted, axis=None, keepdims=False):
    (x,) = primals
    axes = normalize_axes(axis, ndim_of(x))
    g, _ = _restore_reduced(g, x, out, axes, keepdims)
    return [ew.multiply(_product_of_others(x, axes), g)]


reduce_prod = Primitive(
    "prod",
    lambda x, axis=None, keepdims=False: np.prod(x, axis=axis, keepdims=keepdims),
    _prod_jvp,
    _prod_vjp,
    taylor=series.prod,
    cases=(*_reduction_cases(), *_reduction_cases("zeros")[::3]),
)


def _cumsum_jvp(primals, tangents, out, axis):
    (t,) = tangents
    (x,) = primals
    return cumsum(t, axis=shapes.batched_axis(axis, ndim_of(x), batch_ndim(t, x)))


def _cumsum_vjp(g, primals, out, wanted, axis):
    """Transpose of a running sum: the running sum from the other end, ``flip(cumsum(flip(g)))``.

    (Not ``total - cumsum(g) + g``, which cancels catastrophically for cotangents of very
    different sizes.)
    """
    axis = shapes.batched_axis(axis, ndim_of(primals[0]), batch_ndim(g, out))
    reverse = (slice(None),) * axis + (slice(None, None, -1),)
    flipped = indexing.getitem(g, index=reverse)
    return [indexing.getitem(cumsum(flipped, axis=axis), index=reverse)]


cumsum = ParametrizedPrimitive(
    "cumsum",
    lambda x, axis: np.cumsum(x, axis=axis),
    _cumsum_jvp,
    _cumsum_vjp,
    taylor=FIRST_ORDER,
    n_operands=1,
    param_names=("axis",),
    cases=(
        Case("vector", ((5,),), call_with(axis=0)),
        Case("axis=0", ((3, 4),), call_with(axis=0)),
        Case("axis=1", ((3, 4),), call_with(axis=1)),
        Case("3d-axis=1", ((2, 3, 4),), call_with(axis=1)),
        Case("negative-axis", ((3, 4),), call_with(axis=-2)),
    ),
)


# ----------------------------------------------------------------------------------------------
# logsumexp: stable value, softmax-weighted derivative (Goodfellow et al., Deep Learning, sec. 4.1)
# ----------------------------------------------------------------------------------------------


def _logsumexp_impl(x, axis=None, keepdims=False):
    """log sum exp x, shifted by the max so nothing overflows; -inf entries are allowed."""
    x = np.asarray(x)
    shift = np.max(x, axis=axis, keepdims=True)
    shift = np.where(np.isfinite(shift), shift, 0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - shift), axis=axis, keepdims=True)) + shift
    if not keepdims:
        out = np.squeeze(out, axis=normalize_axes(axis, x.ndim))
    return out[()]


def _softmax_weights(x, out, axis, keepdims):
    """exp(x - logsumexp(x)), written with primitives (it is differentiated again)."""
    axes = normalize_axes(axis, ndim_of(x))
    y = out
    if not keepdims:
        y = shapes.reshape(out, tuple(1 if i in axes else s for i, s in enumerate(shape_of(x))))
    return ew.exp(ew.subtract(x, y)), axes


logsumexp = Primitive(
    "logsumexp",
    _logsumexp_impl,
    *_weighted_reduction_rules("logsumexp", _softmax_weights),
    taylor=series.logsumexp,
    cases=_reduction_cases(),
)
