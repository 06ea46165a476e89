"""Array primitives: shapes, reductions, products, indexing.

Unlike elementwise primitives these declare a JVP and a VJP explicitly.  Both are linear maps
written with primitives, and each is the transpose of the other; the table test checks
``<u, JVP(v)> = <VJP(u), v>`` for every one of them.

Every rule accepts tangents / cotangents with leading batch axes (``batch + shape``): axes given
by the user are normalised to non-negative positions in the primal and shifted by the number of
batch axes.
"""

from __future__ import annotations

import numpy as np

from . import elementwise as ew
from .primitive import ParametrizedPrimitive, Primitive, dtype_of, ndim_of, primal_value, shape_of

__all__ = [
    "reshape",
    "transpose",
    "broadcast_to",
    "unbroadcast",
    "reduce_sum",
    "reduce_max",
    "reduce_min",
    "reduce_prod",
    "cumsum",
    "matmul",
    "concatenate",
    "getitem",
    "scatter_add",
    "where",
    "logsumexp",
    "normalize_axes",
]


def _batch_of(t, x) -> int:
    """Number of leading batch axes of tangent/cotangent ``t`` of a value shaped like ``x``."""
    return ndim_of(t) - ndim_of(x)


def normalize_axes(axis, ndim: int) -> tuple:
    """``axis`` (None, int or tuple, negatives allowed) as a sorted tuple of positions."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(a, ndim)
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axis!r}")
    return tuple(sorted(out))


def _zeros(shape, like):
    return np.zeros(shape, dtype=dtype_of(like))


# ----------------------------------------------------------------------------------------------
# reshaping and broadcasting
# ----------------------------------------------------------------------------------------------


def _reshape_jvp(primals, tangents, out, shape):
    (t,) = tangents
    return reshape(t, shape_of(t)[: _batch_of(t, primals[0])] + shape_of(out))


def _reshape_vjp(g, primals, out, wanted, shape):
    return [reshape(g, shape_of(g)[: _batch_of(g, out)] + shape_of(primals[0]))]


reshape = ParametrizedPrimitive(
    "reshape",
    lambda x, shape: np.reshape(x, shape),
    _reshape_jvp,
    _reshape_vjp,
    linear=True,
    n_operands=1,
    param_names=("shape",),
)


def _batched_axes(axes, n_batch):
    return tuple(range(n_batch)) + tuple(a + n_batch for a in axes)


def _transpose_jvp(primals, tangents, out, axes):
    (t,) = tangents
    return transpose(t, _batched_axes(axes, _batch_of(t, primals[0])))


def _transpose_vjp(g, primals, out, wanted, axes):
    inverse = tuple(int(i) for i in np.argsort(axes))
    return [transpose(g, _batched_axes(inverse, _batch_of(g, out)))]


transpose = ParametrizedPrimitive(
    "transpose",
    lambda x, axes: np.transpose(x, axes),
    _transpose_jvp,
    _transpose_vjp,
    linear=True,
    n_operands=1,
    param_names=("axes",),
)


def _pad_to(t, x_ndim: int, target_ndim: int):
    """Insert unit axes after the batch axes of ``t`` so its value part has ``target_ndim``."""
    if x_ndim == target_ndim:
        return t
    shape = shape_of(t)
    n_batch = len(shape) - x_ndim
    return reshape(t, shape[:n_batch] + (1,) * (target_ndim - x_ndim) + shape[n_batch:])


def _broadcast_to_jvp(primals, tangents, out, shape):
    (t,) = tangents
    n_batch = _batch_of(t, primals[0])
    t = _pad_to(t, ndim_of(primals[0]), len(shape))
    return broadcast_to(t, shape_of(t)[:n_batch] + tuple(shape))


def _broadcast_to_vjp(g, primals, out, wanted, shape):
    return [unbroadcast(g, shape_of(primals[0]), _batch_of(g, out))]


def _broadcast_to_impl(x, shape):
    """A read-only broadcast view: no copy (writing into it raises, loudly)."""
    return np.broadcast_to(x, shape)


broadcast_to = ParametrizedPrimitive(
    "broadcast_to",
    _broadcast_to_impl,
    _broadcast_to_jvp,
    _broadcast_to_vjp,
    linear=True,
    n_operands=1,
    param_names=("shape",),
)


def _unbroadcast_impl(x, shape, n_batch=0):
    """Sum ``x`` (shape ``batch + S``, S a broadcast of ``shape``) down to ``batch + shape``."""
    x = np.asarray(x)
    shape = tuple(shape)
    value_ndim = x.ndim - n_batch
    lead = value_ndim - len(shape)
    axes = tuple(range(n_batch, n_batch + lead))
    axes += tuple(
        n_batch + lead + i
        for i, size in enumerate(shape)
        if size == 1 and x.shape[n_batch + lead + i] != 1
    )
    summed = np.sum(x, axis=axes, keepdims=True) if axes else x
    return summed.reshape(x.shape[:n_batch] + shape)


def _unbroadcast_jvp(primals, tangents, out, shape, n_batch=0):
    (t,) = tangents
    extra = _batch_of(t, primals[0])
    return unbroadcast(t, shape, n_batch + extra)


def _unbroadcast_vjp(g, primals, out, wanted, shape, n_batch=0):
    (x,) = primals
    full = shape_of(x)
    extra = _batch_of(g, out)
    g_shape = shape_of(g)
    value_ndim = len(full) - n_batch
    padded = g_shape[: extra + n_batch] + (1,) * (value_ndim - len(shape)) + tuple(shape)
    return [broadcast_to(reshape(g, padded), g_shape[:extra] + full)]


unbroadcast = ParametrizedPrimitive(
    "unbroadcast",
    _unbroadcast_impl,
    _unbroadcast_jvp,
    _unbroadcast_vjp,
    linear=True,
    n_operands=1,
    param_names=("shape", "n_batch"),
)

# ----------------------------------------------------------------------------------------------
# reductions
# ----------------------------------------------------------------------------------------------


def _restore_reduced(g, x, out, axes, keepdims):
    """Cotangent of a reduction's output, with the reduced axes put back as size 1."""
    n_batch = _batch_of(g, out)
    if keepdims:
        return g, n_batch
    g_shape = shape_of(g)
    x_shape = shape_of(x)
    kept = [1 if i in axes else s for i, s in enumerate(x_shape)]
    return reshape(g, g_shape[:n_batch] + tuple(kept)), n_batch


def _sum_impl(x, axis=None, keepdims=False):
    return np.sum(x, axis=axis, keepdims=keepdims)


def _sum_jvp(primals, tangents, out, axis=None, keepdims=False):
    (t,) = tangents
    n_batch = _batch_of(t, primals[0])
    axes = normalize_axes(axis, ndim_of(primals[0]))
    return reduce_sum(t, axis=tuple(a + n_batch for a in axes), keepdims=keepdims)


def _sum_vjp(g, primals, out, wanted, axis=None, keepdims=False):
    (x,) = primals
    axes = normalize_axes(axis, ndim_of(x))
    g, n_batch = _restore_reduced(g, x, out, axes, keepdims)
    return [broadcast_to(g, shape_of(g)[:n_batch] + shape_of(x))]


reduce_sum = Primitive("sum", _sum_impl, _sum_jvp, _sum_vjp, linear=True)


def _extremum_weights(x, out, axis, keepdims):
    """Where the max/min is attained, each tied position weighted 1/(number of ties)."""
    xv, yv = np.asarray(primal_value(x)), np.asarray(primal_value(out))
    axes = normalize_axes(axis, xv.ndim)
    if not keepdims:
        yv = np.expand_dims(yv, axes)
    hits = (xv == yv).astype(dtype_of(x))
    return hits / np.sum(hits, axis=axes, keepdims=True), axes


def _weighted_reduction_rules(name, weights_of):
    """Rules of a reduction whose derivative is a weighted sum: ``d out = sum_axes w * dx``.

    ``weights_of(x, out, axis, keepdims) -> (w, axes)`` gives ``w = d out / d x`` (shaped like
    ``x``): the tie-splitting indicator for max/min, the softmax for logsumexp.
    """

    def jvp(primals, tangents, out, axis=None, keepdims=False):
        (t,) = tangents
        weights, axes = weights_of(primals[0], out, axis, keepdims)
        n_batch = _batch_of(t, primals[0])
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
)
reduce_min = Primitive(
    "min",
    lambda x, axis=None, keepdims=False: np.min(x, axis=axis, keepdims=keepdims),
    *_weighted_reduction_rules("min", _extremum_weights),
)


def _product_of_others(x, axes):
    """prod_{j != i} x_j along ``axes``, for every i; exact even where some x_j = 0.

    Without zeros this is prod / x_i.  With zeros, it multiplies the exclusive running
    products from the left and from the right along the flattened reduced axes.
    """
    xv = np.asarray(primal_value(x))
    out = reduce_prod(x, axis=axes, keepdims=True)
    if np.all(xv != 0):
        return ew.divide(out, x)
    moved = transpose(x, tuple(i for i in range(xv.ndim) if i not in axes) + axes)
    kept_shape = tuple(s for i, s in enumerate(xv.shape) if i not in axes)
    flat = reshape(moved, kept_shape + (-1,))
    n = shape_of(flat)[-1]
    ones = np.ones(kept_shape + (1,), dtype=dtype_of(x))
    left = [ones]
    right = [ones]
    for k in range(1, n):
        left.append(ew.multiply(left[-1], getitem(flat, index=(Ellipsis, slice(k - 1, k)))))
        right.append(ew.multiply(right[-1], getitem(flat, index=(Ellipsis, slice(n - k, n - k + 1)))))
    others = concatenate(
        *[ew.multiply(left[k], right[n - 1 - k]) for k in range(n)], axis=len(kept_shape)
    )
    reduced_shape = tuple(xv.shape[a] for a in axes)
    others = reshape(others, kept_shape + reduced_shape)
    order = tuple(i for i in range(xv.ndim) if i not in axes) + axes
    return transpose(others, tuple(int(i) for i in np.argsort(order)))


def _prod_jvp(primals, tangents, out, axis=None, keepdims=False):
    (t,) = tangents
    (x,) = primals
    axes = normalize_axes(axis, ndim_of(x))
    n_batch = _batch_of(t, x)
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
)


def _cumsum_jvp(primals, tangents, out, axis):
    (t,) = tangents
    return cumsum(t, axis=axis + _batch_of(t, primals[0]))


def _cumsum_vjp(g, primals, out, wanted, axis):
    """Transpose of a running sum: the running sum from the other end, total - cumsum + g."""
    axis = axis + _batch_of(g, out)
    total = reduce_sum(g, axis=axis, keepdims=True)
    return [ew.add(ew.subtract(total, cumsum(g, axis=axis)), g)]


cumsum = ParametrizedPrimitive(
    "cumsum",
    lambda x, axis: np.cumsum(x, axis=axis),
    _cumsum_jvp,
    _cumsum_vjp,
    linear=True,
    n_operands=1,
    param_names=("axis",),
)

# ----------------------------------------------------------------------------------------------
# matrix products
# ----------------------------------------------------------------------------------------------


def _swap_last(x):
    n = ndim_of(x)
    return transpose(x, tuple(range(n - 2)) + (n - 1, n - 2))


def _fold_right(x, m):
    """``x @ m`` for ``x`` of shape ``(..., r)`` and a matrix ``m``: one matrix product.

    The leading axes of ``x`` (batch and stack axes) are folded into its rows, so NumPy runs a
    single GEMM instead of one small product per leading index.
    """
    shape = shape_of(x)
    if len(shape) <= 2:
        return matmul(x, m)
    product = matmul(reshape(x, (-1, shape[-1])), m)
    return reshape(product, shape[:-1] + shape_of(m)[-1:])


def _fold_left(m, x):
    """``m @ x`` for a matrix ``m`` and ``x`` of shape ``(..., c, s)``: one matrix product."""
    if ndim_of(x) <= 2:
        return matmul(m, x)
    return _swap_last(_fold_right(_swap_last(x), _swap_last(m)))


def _matmul_left_term(ta, a, b):
    """``ta @ b`` for a (batched) tangent ``ta`` of ``a``, batch axes kept leading."""
    a_nd, b_nd = ndim_of(a), ndim_of(b)
    if a_nd == 1 and b_nd == 1:
        return reduce_sum(ew.multiply(ta, b), axis=-1)
    if b_nd == 2:
        return _fold_right(ta, b)
    shape = shape_of(ta)
    n_batch = len(shape) - a_nd
    if a_nd == 1:  # a row vector: lift to (1, m), padded to b's stacking rank
        lifted = reshape(ta, shape[:n_batch] + (1,) * (b_nd - 2) + (1, shape[-1]))
        product = matmul(lifted, b)
        return reshape(product, shape_of(product)[:-2] + shape_of(product)[-1:])
    padded = reshape(ta, shape[:n_batch] + (1,) * max(0, b_nd - a_nd) + shape[n_batch:])
    return matmul(padded, b)


def _matmul_right_term(a, tb, b):
    """``a @ tb`` for a (batched) tangent ``tb`` of ``b``, batch axes kept leading."""
    a_nd, b_nd = ndim_of(a), ndim_of(b)
    if a_nd == 1 and b_nd == 1:
        return reduce_sum(ew.multiply(a, tb), axis=-1)
    if a_nd == 2:
        return _fold_right(tb, _swap_last(a)) if b_nd == 1 else _fold_left(a, tb)
    shape = shape_of(tb)
    n_batch = len(shape) - b_nd
    if b_nd == 1:  # a column vector: lift to (m, 1), padded to a's stacking rank
        lifted = reshape(tb, shape[:n_batch] + (1,) * (a_nd - 2) + (shape[-1], 1))
        product = matmul(a, lifted)
        return reshape(product, shape_of(product)[:-1])
    padded = reshape(tb, shape[:n_batch] + (1,) * max(0, a_nd - b_nd) + shape[n_batch:])
    return matmul(a, padded)


def _matmul_jvp(primals, tangents, out):
    a, b = primals
    ta, tb = tangents
    left = None if ta is None else _matmul_left_term(ta, a, b)
    right = None if tb is None else _matmul_right_term(a, tb, b)
    if left is None or right is None:
        return right if left is None else left
    return ew.add(left, right)


def _matrix_vector_vjp(g, a, b, wanted):
    """Cotangents of ``a @ b`` for one 2-D and one 1-D operand: a product and an outer product.

    ``A @ x``: ``A_bar = g x^T`` and ``x_bar = g A`` (``g`` has the batch axes leading).
    ``x @ A``: ``x_bar = g A^T`` and ``A_bar = x g^T``.
    """
    a_matrix = ndim_of(a) == 2
    matrix, vector = (a, b) if a_matrix else (b, a)
    g_shape = shape_of(g)
    results = []
    for i in wanted:
        if (i == 0) == a_matrix:  # the matrix operand: an outer product
            g_col = reshape(g, g_shape + (1,))
            vector_row = reshape(vector, (1,) + shape_of(vector))
            results.append(
                ew.multiply(g_col, vector_row)
                if a_matrix
                else ew.multiply(_swap_last(g_col), reshape(vector, shape_of(vector) + (1,)))
            )
        else:  # the vector operand: one product with the matrix
            results.append(matmul(g, matrix) if a_matrix else matmul(g, _swap_last(matrix)))
    return results


def _matmul_vjp(g, primals, out, wanted):
    """a_bar = g @ b^T and b_bar = a^T @ g, on vectors promoted to matrices as matmul does."""
    a, b = primals
    a_shape, b_shape = shape_of(a), shape_of(b)
    if sorted((len(a_shape), len(b_shape))) == [1, 2]:
        return _matrix_vector_vjp(g, a, b, wanted)
    a_m = reshape(a, (1,) + a_shape) if len(a_shape) == 1 else a
    b_m = reshape(b, b_shape + (1,)) if len(b_shape) == 1 else b
    am_shape, bm_shape = shape_of(a_m), shape_of(b_m)
    n_batch = _batch_of(g, out)
    batch = shape_of(g)[:n_batch]
    stack = np.broadcast_shapes(am_shape[:-2], bm_shape[:-2])
    g_m = reshape(g, batch + stack + (am_shape[-2], bm_shape[-1]))
    results = []
    for i in wanted:
        if i == 0:
            b_t = _swap_last(b_m)
            ga = _fold_right(g_m, b_t) if len(bm_shape) == 2 else matmul(g_m, b_t)
            ga = unbroadcast(ga, am_shape, n_batch)
            results.append(reshape(ga, batch + a_shape))
        else:
            a_t = _swap_last(a_m)
            gb = _fold_left(a_t, g_m) if len(am_shape) == 2 else matmul(a_t, g_m)
            gb = unbroadcast(gb, bm_shape, n_batch)
            results.append(reshape(gb, batch + b_shape))
    return results


matmul = Primitive("matmul", np.matmul, _matmul_jvp, _matmul_vjp)

# ----------------------------------------------------------------------------------------------
# joining, indexing, selecting
# ----------------------------------------------------------------------------------------------


def _concatenate_jvp(primals, tangents, out, axis):
    n_batch = next(_batch_of(t, x) for t, x in zip(tangents, primals) if t is not None)
    parts = []
    for t, x in zip(tangents, primals):
        if t is None:
            batch = shape_of(next(tt for tt in tangents if tt is not None))[:n_batch]
            t = _zeros(batch + shape_of(x), out)
        parts.append(t)
    return concatenate(*parts, axis=axis + n_batch)


def _concatenate_vjp(g, primals, out, wanted, axis):
    n_batch = _batch_of(g, out)
    bounds = np.cumsum([0] + [shape_of(x)[axis] for x in primals])
    results = []
    for i in wanted:
        index = (slice(None),) * (n_batch + axis) + (slice(int(bounds[i]), int(bounds[i + 1])),)
        results.append(getitem(g, index=index))
    return results


concatenate = Primitive(
    "concatenate",
    lambda *xs, axis: np.concatenate(xs, axis=axis),
    _concatenate_jvp,
    _concatenate_vjp,
    linear=True,
)


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
    return transpose(t, tuple(range(n_batch, n)) + tuple(range(n_batch)))


def _batch_first(t, n_batch):
    if n_batch == 0:
        return t
    n = ndim_of(t)
    return transpose(t, tuple(range(n - n_batch, n)) + tuple(range(n - n_batch)))


def _getitem_jvp(primals, tangents, out, index):
    (x,) = primals
    (t,) = tangents
    n_batch = _batch_of(t, x)
    if n_batch == 0:
        return getitem(t, index=index)
    full = _expand_ellipsis(index, ndim_of(x))
    return _batch_first(getitem(_batch_last(t, n_batch), index=full), n_batch)


def _getitem_vjp(g, primals, out, wanted, index):
    (x,) = primals
    n_batch = _batch_of(g, out)
    if n_batch == 0:
        return [scatter_add(g, index=index, shape=shape_of(x))]
    full = _expand_ellipsis(index, ndim_of(x))
    batch = shape_of(g)[:n_batch]
    scattered = scatter_add(_batch_last(g, n_batch), index=full, shape=shape_of(x) + batch)
    return [_batch_first(scattered, n_batch)]


def _getitem_impl(x, index):
    return np.asarray(x)[index]


getitem = ParametrizedPrimitive(
    "getitem",
    _getitem_impl,
    _getitem_jvp,
    _getitem_vjp,
    linear=True,
    n_operands=1,
    param_names=("index",),
)


def _scatter_add_impl(y, index, shape):
    """Zeros of ``shape`` with ``y`` added at ``[index]`` (repeated indices accumulate)."""
    result = np.zeros(shape, dtype=np.result_type(y))
    if _is_basic_index(index):  # no position can repeat: a plain assignment
        result[index] = y
    else:
        np.add.at(result, index, y)
    return result


def _is_basic_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(
        item is None or item is Ellipsis or isinstance(item, (slice, int, np.integer))
        for item in items
    )


def _scatter_add_jvp(primals, tangents, out, index, shape):
    (y,) = primals
    (t,) = tangents
    n_batch = _batch_of(t, y)
    if n_batch == 0:
        return scatter_add(t, index=index, shape=shape)
    batch = shape_of(t)[:n_batch]
    full = _expand_ellipsis(index, len(shape))
    scattered = scatter_add(_batch_last(t, n_batch), index=full, shape=tuple(shape) + batch)
    return _batch_first(scattered, n_batch)


def _scatter_add_vjp(g, primals, out, wanted, index, shape):
    """The transpose of scattering is gathering: ``g[index]``, summed over broadcast axes."""
    (y,) = primals
    n_batch = _batch_of(g, out)
    if n_batch == 0:
        picked = getitem(g, index=index)
    else:
        full = _expand_ellipsis(index, len(shape))
        picked = _batch_first(getitem(_batch_last(g, n_batch), index=full), n_batch)
    return [unbroadcast(picked, shape_of(y), n_batch)]


scatter_add = ParametrizedPrimitive(
    "scatter_add",
    _scatter_add_impl,
    _scatter_add_jvp,
    _scatter_add_vjp,
    linear=True,
    n_operands=1,
    param_names=("index", "shape"),
)

# ``where`` selects, it does not multiply: a nan or inf in the branch not taken stays out.


def _where_impl(condition, a, b):
    return np.where(condition, a, b)[()]


def _where_jvp(primals, tangents, out):
    condition, a, b = primals
    _, ta, tb = tangents
    live = ta if ta is not None else tb
    x_live = a if ta is not None else b
    n_batch = _batch_of(live, x_live)
    batch = shape_of(live)[:n_batch]
    out_ndim = ndim_of(out)
    zero = _zeros((), out)
    ta = zero if ta is None else _pad_to(ta, ndim_of(a), out_ndim)
    tb = zero if tb is None else _pad_to(tb, ndim_of(b), out_ndim)
    result = where(condition, ta, tb)
    target = batch + shape_of(out)
    return result if shape_of(result) == target else broadcast_to(result, target)


def _where_vjp(g, primals, out, wanted):
    condition, a, b = primals
    n_batch = _batch_of(g, out)
    zero = _zeros((), g)
    results = []
    for i in wanted:
        picked = where(condition, g, zero) if i == 1 else where(condition, zero, g)
        results.append(unbroadcast(picked, shape_of(primals[i]), n_batch))
    return results


where = Primitive("where", _where_impl, _where_jvp, _where_vjp)

# ----------------------------------------------------------------------------------------------
# logsumexp: stable value, softmax-weighted derivative (seed 000's stabilisation)
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
        y = reshape(out, tuple(1 if i in axes else s for i, s in enumerate(shape_of(x))))
    return ew.exp(ew.subtract(x, y)), axes


logsumexp = Primitive(
    "logsumexp", _logsumexp_impl, *_weighted_reduction_rules("logsumexp", _softmax_weights)
)
