"""Sliding windows: the two linear primitives that convolution and pooling are built from.

``im2col`` lays out every window a kernel sees when it slides over the last ``d`` axes of an
array (Chellapilla, Puri and Simard, "High Performance Convolutional Neural Networks for
Document Processing", 2006, section 2.2: unfold the input so that a convolution becomes one
matrix product); ``col2im`` is its transpose, adding every window's entries back where they came
from.  For ``x`` of shape ``lead + S`` (``S`` the ``d`` spatial sizes) and a kernel ``K`` with
strides ``s``, dilations ``r`` and padding ``(lo, hi)`` per axis,

    im2col(x)[..., p, k] = x_pad[..., p * s + k * r],       shape lead + P + K,
    P = (S + lo + hi - r (K - 1) - 1) // s + 1,

where ``x_pad`` is ``x`` with ``lo``/``hi`` entries of ``fill`` around each spatial axis (``0``
for convolution and average pooling, ``-inf`` for max pooling; padding is a constant, so it
carries no derivative).  ``col2im`` maps an array of shape ``lead + P + K`` back to ``lead + S``:
``<col2im(c), x> = <c, im2col_0(x)>``.

Both are linear, so each one's JVP is itself applied to the tangent and its VJP is the other;
leading axes (samples, channels, and the batch axes of ``jacfwd``/``jacrev``) pass through
untouched, so derivatives of any order need nothing more.  ``conv1d``/``conv2d`` are then
``im2col`` + one matrix product (:mod:`autodiff.nn.conv`); the VJP of a convolution with respect
to its input is ``col2im`` of a matrix product (the transposed convolution), with respect to its
weight a matrix product with ``im2col`` of the input (a correlation), and both differentiate
again.  Average pooling is the ``mean`` over the window axes.

``window_max`` is max pooling: the maximum over each window, ``max_k x_pad[..., p * s + k * r]``
with ``-inf`` padding (Goodfellow, Bengio and Courville, *Deep Learning*, 2016, section 9.3).
It is computed as a running ``np.maximum`` over the ``prod K`` strided views of the input, one
per kernel offset, never as a reduction over small window axes (NumPy reduces those an order
of magnitude slower).  Its derivative is a weighted sum over each window, ``d out = sum_k w_k
dx_pad[..., p * s + k * r]``, where ``w_k = [x_k = out] / #{j : x_j = out}``: tied maxima share
the gradient evenly (API.md's kink table) and an entry in several overlapping windows collects
from each.  The weights are constants (a mask), so the JVP is ``sum_K(w * im2col(dx))`` and the
VJP ``col2im(w * g)``, both in primitives.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import elementwise as ew
from . import linalg, shapes
from .primitive import (
    Case,
    ParametrizedPrimitive,
    Primitive,
    batch_ndim,
    Traced,
    call_with,
    dtype_of,
    on_data,
    primal_value,
    shape_of,
)
from .reductions import reduce_sum
from .series import FIRST_ORDER, FROM_JVP

__all__ = ["im2col", "col2im", "window_max", "columns_product", "window_output_shape"]


def window_output_shape(spatial, kernel, stride, dilation, padding) -> tuple:
    """``P``: the number of window positions along each spatial axis (``< 1`` if none fits)."""
    return tuple(
        (size + lo + hi - r * (k - 1) - 1) // s + 1
        for size, k, s, r, (lo, hi) in zip(spatial, kernel, stride, dilation, padding)
    )


def _pad(x, padding, fill):
    """``x`` inside a border of ``fill``, its leading axes in ``x``'s memory order: one filled
    array and one copy of ``x`` into it (``np.pad`` takes twice as long on LeNet's input)."""
    if not any(lo or hi for lo, hi in padding):
        return x
    n_lead = x.ndim - len(padding)
    padded = tuple(size + lo + hi for size, (lo, hi) in zip(x.shape[n_lead:], padding))
    out = _zeros_in_memory_order(x.shape[:n_lead] + padded, x.strides[:n_lead], x.dtype, fill)
    out[(Ellipsis,) + tuple(slice(lo, lo + size) for size, (lo, _) in
                            zip(x.shape[n_lead:], padding))] = x
    return out


def _im2col_impl(x, kernel, stride, dilation, padding, fill=0.0):
    """A strided view ``lead + P + K`` of the padded input (read-only, no copy): window ``p``,
    offset ``k`` along an axis of stride ``t`` (bytes) sits at ``p * s * t + k * r * t``.
    (``sliding_window_view`` makes the same view in four times the time, through a view of
    every window that is then sliced.)"""
    x = _pad(np.asarray(x), padding, fill)
    d = len(kernel)
    spatial, spatial_strides = x.shape[x.ndim - d:], x.strides[x.ndim - d:]
    positions = window_output_shape(spatial, kernel, stride, dilation, ((0, 0),) * d)
    return as_strided(
        x, x.shape[:x.ndim - d] + positions + tuple(kernel),
        x.strides[:x.ndim - d] + tuple(s * t for s, t in zip(stride, spatial_strides))
        + tuple(r * t for r, t in zip(dilation, spatial_strides)), writeable=False)


def _zeros_in_memory_order(shape, lead_strides, dtype, fill=0.0):
    """Zeros (or ``fill``) of ``shape`` whose leading axes (one per entry of ``lead_strides``)
    lie in memory in the order of those strides, largest first; the trailing axes stay
    innermost.  An array that a transposed matrix product wrote (channels before samples) is
    then added into blocks of the same layout, not transposed entry by entry."""
    n_lead = len(lead_strides)
    order = sorted(range(n_lead), key=lambda axis: -abs(lead_strides[axis]))
    stored = tuple(shape[axis] for axis in order) + tuple(shape[n_lead:])
    out = np.zeros(stored, dtype=dtype) if fill == 0 else np.full(stored, fill, dtype=dtype)
    return out.transpose(tuple(np.argsort(order)) + tuple(range(n_lead, len(shape))))


def _window_targets(offset, dilation, stride, positions):
    """The slices of the padded input that kernel offset ``offset`` reads, one per window."""
    return tuple(slice(o * r, o * r + s * (p - 1) + 1, s)
                 for o, r, s, p in zip(offset, dilation, stride, positions))


def _col2im_impl(columns, spatial, kernel, stride, dilation, padding):
    """Add each window's entries back at their positions: ``lead + P + K -> lead + S``, one
    strided add of a ``lead + P`` block per kernel offset (``prod K`` adds, not one per pixel),
    into an array whose leading axes follow ``columns``' memory order."""
    columns = np.asarray(columns)
    d = len(kernel)
    lead = columns.shape[: columns.ndim - 2 * d]
    positions = columns.shape[columns.ndim - 2 * d: columns.ndim - d]
    padded = tuple(size + lo + hi for size, (lo, hi) in zip(spatial, padding))
    out = _zeros_in_memory_order(lead + padded, columns.strides[:len(lead)], columns.dtype)
    everything = (slice(None),) * len(lead)
    for offset in itertools.product(*(range(k) for k in kernel)):
        target = _window_targets(offset, dilation, stride, positions)
        out[everything + target] += columns[everything + (slice(None),) * d + offset]
    crop = tuple(slice(lo, lo + size) for size, (lo, _) in zip(spatial, padding))
    return out[everything + crop]


def _im2col_jvp(primals, tangents, out, kernel, stride, dilation, padding, fill=0.0):
    return im2col(tangents[0], kernel, stride, dilation, padding)


def _im2col_vjp(g, primals, out, wanted, kernel, stride, dilation, padding, fill=0.0):
    spatial = shape_of(primals[0])[-len(kernel):]
    return [col2im(g, spatial, kernel, stride, dilation, padding)]


def _col2im_jvp(primals, tangents, out, spatial, kernel, stride, dilation, padding):
    return col2im(tangents[0], spatial, kernel, stride, dilation, padding)


def _col2im_vjp(g, primals, out, wanted, spatial, kernel, stride, dilation, padding):
    return [im2col(g, kernel, stride, dilation, padding)]


def _offsets(kernel):
    """Every kernel offset ``k``, as an index of the trailing ``K`` axes."""
    return [(Ellipsis,) + offset for offset in itertools.product(*(range(k) for k in kernel))]


def _window_max_impl(x, kernel, stride, dilation, padding):
    """``lead + S -> lead + P``: a running maximum over the window views, one per offset (the
    output keeps the input's memory order of the leading axes)."""
    columns = _im2col_impl(x, kernel, stride, dilation, padding, -np.inf)
    first, *others = _offsets(kernel)
    out = columns[first].copy(order="K")
    for offset in others:
        np.maximum(out, columns[offset], out=out)
    return out


def _tie_weights(x, out, kernel, stride, dilation, padding):
    """``w``, shaped ``lead + P + K``: 1 / (number of ties) where a window's entry attains its
    maximum, else 0 (constants: the derivative's mask, not differentiated)."""
    columns = _im2col_impl(primal_value(x), kernel, stride, dilation, padding, -np.inf)
    out = np.asarray(primal_value(out))
    offsets = _offsets(kernel)
    # offsets first (the count is a sum of whole blocks), then out's axes in its memory order
    hits = _zeros_in_memory_order((len(offsets),) + out.shape, (np.inf,) + out.strides,
                                  out.dtype)
    for index, offset in enumerate(offsets):
        np.equal(columns[offset], out, out=hits[index], casting="unsafe")
    hits /= np.sum(hits, axis=0)
    return np.moveaxis(hits, 0, -1).reshape(out.shape + tuple(kernel))


def _window_max_jvp(primals, tangents, out, kernel, stride, dilation, padding):
    # on_data: under ad.jit the tie weights are a recorded step, recomputed by every replay
    weights = on_data(_tie_weights, primals[0], out, kernel, stride, dilation, padding)
    windows = im2col(tangents[0], kernel, stride, dilation, padding)
    d = len(kernel)
    return reduce_sum(ew.multiply(windows, weights), axis=tuple(range(-d, 0)))


def _window_max_vjp_arrays(g, x, out, kernel, stride, dilation, padding):
    """``col2im(w * g)`` on plain arrays, without the ``lead + P + K`` weights: per kernel
    offset, the hits ``x_k = out``, their count per window, then ``g / count`` written (tiled
    windows: disjoint, covering the input) or added at each offset's hits.  The result keeps
    ``x``'s memory order."""
    columns = _im2col_impl(x, kernel, stride, dilation, padding, -np.inf)
    offsets = list(itertools.product(*(range(k) for k in kernel)))
    d = len(kernel)
    hits = [np.equal(columns[(Ellipsis,) + offset], out) for offset in offsets]
    share = hits[0].astype(g.dtype)
    for hit in hits[1:]:
        share += hit
    with np.errstate(divide="ignore", invalid="ignore"):  # a nan window: no hit, as _tie_weights
        np.divide(g, share, out=share)
    lead = x.shape[:x.ndim - d]
    positions = out.shape[x.ndim - d:]
    everything = (slice(None),) * len(lead)
    tiled = not any(lo or hi for lo, hi in padding) and all(
        r == 1 and s == k and p * s == size
        for r, s, k, p, size in zip(dilation, stride, kernel, positions, x.shape[x.ndim - d:]))
    if tiled:  # every input entry lies in exactly one window
        grad = np.empty_like(x, dtype=g.dtype)
        for offset, hit in zip(offsets, hits):
            np.multiply(share, hit, out=grad[everything + _window_targets(
                offset, dilation, stride, positions)])
        return grad
    padded = tuple(size + lo + hi for size, (lo, hi) in zip(x.shape[x.ndim - d:], padding))
    grad = _zeros_in_memory_order(lead + padded, x.strides[:len(lead)], g.dtype)
    for offset, hit in zip(offsets, hits):
        grad[everything + _window_targets(offset, dilation, stride, positions)] += share * hit
    crop = tuple(slice(lo, lo + size) for size, (lo, _) in zip(x.shape[x.ndim - d:], padding))
    return grad[everything + crop]


def _plain_arrays(*values) -> bool:
    """Whether every value is a plain ndarray or a compiled-replay recording's (no transform
    differentiates what is computed from them)."""
    return all(type(primal_value(v)) is np.ndarray and (
        not isinstance(v, Traced) or v._staged) for v in values)


def _window_max_vjp(g, primals, out, wanted, kernel, stride, dilation, padding):
    if _plain_arrays(g, primals[0], out) and shape_of(g) == shape_of(out) and \
            dtype_of(g) == dtype_of(primals[0]):
        # nothing differentiates the result (one ad.jit step): no lead + P + K weights
        return [on_data(_window_max_vjp_arrays, g, primals[0], out, kernel, stride, dilation,
                        padding)]
    weights = on_data(_tie_weights, primals[0], out, kernel, stride, dilation, padding)
    spread = ew.multiply(shapes.reshape(g, shape_of(g) + (1,) * len(kernel)), weights)
    spatial = shape_of(primals[0])[-len(kernel):]
    return [col2im(spread, spatial, kernel, stride, dilation, padding)]


_WINDOW_PARAMS = ("kernel", "stride", "dilation", "padding")

im2col = ParametrizedPrimitive(
    "im2col",
    _im2col_impl,
    _im2col_jvp,
    _im2col_vjp,
    taylor=FIRST_ORDER,
    n_operands=1,
    param_names=_WINDOW_PARAMS + ("fill",),
    cases=(
        Case("1d", ((2, 7),), call_with(kernel=(3,), stride=(2,), dilation=(1,),
                                        padding=((1, 1),))),
        Case("2d-dilated", ((2, 3, 6, 5),), call_with(kernel=(2, 3), stride=(1, 2),
                                                      dilation=(2, 1), padding=((0, 1), (2, 0)))),
    ),
)

col2im = ParametrizedPrimitive(
    "col2im",
    _col2im_impl,
    _col2im_jvp,
    _col2im_vjp,
    taylor=FIRST_ORDER,
    n_operands=1,
    param_names=("spatial",) + _WINDOW_PARAMS,
    cases=(
        Case("1d", ((2, 4, 3),), call_with(spatial=(7,), kernel=(3,), stride=(2,),
                                           dilation=(1,), padding=((1, 1),))),
        Case("2d-dilated", ((2, 3, 5, 3, 2, 3),),
             call_with(spatial=(6, 5), kernel=(2, 3), stride=(1, 2), dilation=(2, 1),
                       padding=((0, 1), (2, 0)))),
    ),
)


window_max = ParametrizedPrimitive(
    "window_max",
    _window_max_impl,
    _window_max_jvp,
    _window_max_vjp,
    taylor=FIRST_ORDER,
    n_operands=1,
    param_names=_WINDOW_PARAMS,
    cases=(
        Case("1d-overlapping", ((2, 7),), call_with(kernel=(3,), stride=(2,), dilation=(1,),
                                                    padding=((1, 1),))),
        Case("2d-dilated", ((2, 3, 6, 5),), call_with(kernel=(2, 3), stride=(1, 2),
                                                      dilation=(2, 1), padding=((0, 1), (1, 0)))),
        Case("2d-tiled", ((2, 2, 4, 6),), call_with(kernel=(2, 2), stride=(2, 2),
                                                    dilation=(1, 1), padding=((0, 0), (0, 0)))),
    ),
)


# ----------------------------------------------------------------------------------------------
# the convolution's matrix product with its bias
# ----------------------------------------------------------------------------------------------
# For the weight matrix W (out, C K), the unfolded input U (C K, N P) and the bias b (out,):
#   Y = W U + b 1^T,   so   W_bar = G U^T,   U_bar = W^T G,   b_bar = G 1 (row sums of G),
# and dY = dW U + W dU + db 1^T.  One node instead of matmul + reshape + add: the bias is added
# into the fresh product in place (as a hand-written im2col convolution does), not into a second
# (out, N P) array.


def _columns_product_impl(weight, columns, bias=None):
    out = np.matmul(weight, columns)
    if bias is None:
        return out
    bias = np.reshape(bias, (-1, 1))
    if type(out) is np.ndarray and out.dtype == np.result_type(out, bias):
        out += bias  # the fresh product is ours, and keeps its dtype
        return out
    return out + bias


def _columns_product_jvp(primals, tangents, out):
    weight, columns = primals[0], primals[1]
    live = next((t, p) for t, p in zip(tangents, primals) if t is not None)
    batch = shape_of(live[0])[: batch_ndim(live[0], live[1])]
    total = None
    if tangents[0] is not None:
        total = linalg.matmul(tangents[0], columns)
    if tangents[1] is not None:
        term = linalg.matmul(weight, tangents[1])
        total = term if total is None else ew.add(total, term)
    if len(tangents) > 2 and tangents[2] is not None:
        term = shapes.reshape(tangents[2], batch + (shape_of(weight)[0], 1))
        if total is None:
            return shapes.broadcast_to(term, batch + shape_of(out))
        total = ew.add(total, term)
    return total


def _columns_product_vjp(g, primals, out, wanted):
    weight, columns = primals[0], primals[1]
    results = []
    for i in wanted:
        if i == 0:
            results.append(linalg.matmul(g, shapes.transpose(columns, (1, 0))))
        elif i == 1:
            results.append(linalg.matmul(shapes.transpose(weight, (1, 0)), g))
        else:
            results.append(reduce_sum(g, axis=-1))
    return results


columns_product = Primitive(
    "columns_product",
    _columns_product_impl,
    _columns_product_jvp,
    _columns_product_vjp,
    taylor=FROM_JVP,
    cases=(
        Case("bias", ((3, 4), (4, 5), (3,)), call_with()),
        Case("no-bias", ((3, 4), (4, 5)), call_with()),
    ),
)
