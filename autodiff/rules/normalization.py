"""Batch normalisation in training mode as one primitive: ``batch_norm``.

For ``x`` of shape ``(N, C, *S)`` (channel axis 1) every channel is standardised with the mean
and the biased variance of its ``m = N * prod(S)`` values in the batch, then scaled and shifted
by the per-channel ``gamma`` (weight) and ``beta`` (bias) (Ioffe and Szegedy, "Batch
Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift", ICML
2015, Algorithm 1):

    mu = (1/m) sum x,   sigma^2 = (1/m) sum (x - mu)^2,   s = (sigma^2 + eps)^(-1/2),
    x_hat = (x - mu) s,   y = gamma x_hat + beta,

the sums running over every axis but the channel axis.  Written with primitives this is nine
nodes per call (two means, a subtraction, a square, a square root, a division, the affine map
and two reshapes), each with a large temporary; as one node the value is one output array, and
the reverse pass has the closed form of Ioffe and Szegedy's section 3 (``<.>`` the mean over a
channel's values):

    x_bar = gamma s (g - <g> - x_hat <g x_hat>),   gamma_bar = sum g x_hat,   beta_bar = sum g,

with the forward (JVP) counterpart, obtained by differentiating ``x_hat`` (``<dx_hat> = 0`` and
``<x_hat dx_hat> = 0``: the standardised values stay centred and of unit mean square),

    dx_hat = s (dx - <dx> - x_hat <x_hat dx>),   dy = gamma dx_hat + dgamma x_hat + dbeta.

Both rules are written with primitives on the primal values (the statistics recomputed by
``mean``, ``subtract``, ``sqrt`` nodes), so they differentiate again: ``hvp``, ``jacfwd(grad)``
and ``check_grads(order=2)`` go through them.  When nothing traces the cotangent (a plain
``backward()`` of a training step), the VJP is computed on the arrays in place instead: one
temporary ``x_hat``, which becomes ``x_bar``.

``statistics``, when given, is the ``(2, C)`` array of the batch's ``[mu, sigma^2]`` computed
from the primal ``x`` by :func:`batch_statistics` (the layer reads it for its running averages,
so the value and the fast VJP reuse it instead of reducing ``x`` again).  It is data, never
differentiated: the derivative rules written with primitives recompute the statistics from the
traced ``x``.  Evaluation mode (running statistics) is an affine map with constant statistics
and needs no primitive of its own (:func:`autodiff.nn.functional.batch_norm`).
"""

from __future__ import annotations

import string

import numpy as np

from . import elementwise as ew
from . import shapes
from .primitive import (
    Case,
    Primitive,
    Traced,
    batch_ndim,
    call_with,
    on_data,
    primal_value,
    shape_of,
)
from .reductions import reduce_sum
from .series import FROM_JVP

__all__ = ["batch_norm", "batch_statistics"]


def _reduced_axes(ndim: int) -> tuple:
    """Every axis but the channel axis 1: ``(0, 2, 3, ...)``."""
    return (0,) + tuple(range(2, ndim))


def _channel_shape(shape) -> tuple:
    """``(1, C, 1, ...)``: a per-channel vector broadcast against ``shape``."""
    return (1, shape[1]) + (1,) * (len(shape) - 2)


def _subscripts(ndim: int, operands: int) -> str:
    """einsum's ``"abcd,abcd->b"``: a per-channel sum (of a product) over the other axes.
    (einsum walks the arrays in their memory order, whatever the axes' order: a convolution's
    output is laid out channel by channel.)"""
    letters = string.ascii_lowercase[:ndim]
    return ",".join([letters] * operands) + "->" + letters[1]


def _channel_sum(a):
    return np.einsum(_subscripts(a.ndim, 1), a)


def _channel_dot(a, b):
    return np.einsum(_subscripts(a.ndim, 2), a, b)


def batch_statistics(x) -> np.ndarray:
    """``[mu, sigma^2]`` per channel of the array ``x`` ``(N, C, *S)``: shape ``(2, C)``, in
    ``x``'s dtype; the variance is the biased one, ``<(x - mu)^2>`` (two passes: no
    cancellation)."""
    count = x.size // x.shape[1]
    mean = _channel_sum(x) / count
    centred = x - mean.reshape(_channel_shape(x.shape))
    return np.stack([mean, _channel_dot(centred, centred) / count]).astype(x.dtype, copy=False)


def _scale(var, eps):
    """``s = (sigma^2 + eps)^(-1/2)``."""
    return 1.0 / np.sqrt(var + eps)


def _batch_norm_impl(x, weight=None, bias=None, eps=1e-5, statistics=None):
    x = np.asarray(x)
    shape = _channel_shape(x.shape)
    count = x.size // x.shape[1]
    if statistics is None:
        mean = _channel_sum(x) / count
        out = x - mean.reshape(shape)  # the centred values, then y in the same buffer
        var = _channel_dot(out, out) / count
    else:
        mean, var = statistics
        out = x - mean.reshape(shape)
    factor = _scale(var, eps)
    if weight is not None:
        factor = factor * weight
    out *= factor.astype(out.dtype, copy=False).reshape(shape)
    if bias is not None:
        out += np.asarray(bias, dtype=out.dtype).reshape(shape)
    return out


def _normalised(x, eps):
    """``(x_hat, s)`` of a (traced) ``x``, written with primitives: they differentiate."""
    shape = shape_of(x)
    axes = _reduced_axes(len(shape))
    inverse_count = 1.0 / (int(np.prod(shape, dtype=np.int64)) // shape[1])
    mean = ew.multiply(reduce_sum(x, axis=axes, keepdims=True), inverse_count)
    centred = ew.subtract(x, mean)
    var = ew.multiply(reduce_sum(ew.square(centred), axis=axes, keepdims=True), inverse_count)
    scale = ew.reciprocal(ew.sqrt(ew.add(var, eps)))
    return ew.multiply(centred, scale), scale


def _centred_direction(d, x_hat, scale, axes, inverse_count):
    """``s (d - <d> - x_hat <x_hat d>)`` over the channel's values (``axes`` of ``d``, which
    may carry leading batch axes): the standardisation's derivative applied to ``d`` (it is
    self-adjoint, so the JVP and the VJP share it)."""
    mean_d = ew.multiply(reduce_sum(d, axis=axes, keepdims=True), inverse_count)
    mean_dx = ew.multiply(reduce_sum(ew.multiply(x_hat, d), axis=axes, keepdims=True),
                          inverse_count)
    return ew.multiply(scale, ew.subtract(ew.subtract(d, mean_d), ew.multiply(x_hat, mean_dx)))


def _operand(operands, i):
    return operands[i] if len(operands) > i else None


def _batch_norm_jvp(primals, tangents, out, eps=1e-5, statistics=None):
    x, weight = primals[0], _operand(primals, 1)
    shape = shape_of(x)
    live = next((t, p) for t, p in zip(tangents, primals) if t is not None)
    n_batch = batch_ndim(live[0], live[1])
    batch = shape_of(live[0])[:n_batch]
    channel = _channel_shape(shape)
    x_hat, scale = _normalised(x, eps)
    total = None
    if tangents[0] is not None:
        axes = tuple(n_batch + a for a in _reduced_axes(len(shape)))
        inverse_count = 1.0 / (int(np.prod(shape, dtype=np.int64)) // shape[1])
        total = _centred_direction(tangents[0], x_hat, scale, axes, inverse_count)
        if weight is not None:
            total = ew.multiply(total, shapes.reshape(weight, channel))
    for i, term_of in ((1, lambda t: ew.multiply(x_hat, t)), (2, lambda t: t)):
        t = _operand(tangents, i)
        if t is not None:
            term = term_of(shapes.reshape(t, batch + channel))
            total = term if total is None else ew.add(total, term)
    if shape_of(total) != batch + shape:
        total = shapes.broadcast_to(total, batch + shape)
    return total


def _batch_norm_vjp_arrays(g, x, weight, statistics, eps, wanted):
    """The VJP on plain arrays (nothing differentiates it), in place: ``x_hat`` is the one
    temporary, and becomes ``x_bar``.  A tuple, one cotangent per entry of ``wanted``."""
    if statistics is None:
        statistics = batch_statistics(x)
    mean, var = statistics
    shape = _channel_shape(x.shape)
    count = x.size // x.shape[1]
    scale = _scale(var, eps).astype(x.dtype, copy=False)
    x_hat = x - mean.reshape(shape)
    x_hat *= scale.reshape(shape)
    beta_bar = _channel_sum(g)
    gamma_bar = _channel_dot(g, x_hat)
    results = {1: gamma_bar, 2: beta_bar}
    if 0 in wanted:
        gain = scale if weight is None else scale * weight
        # x_bar = gain (g - <g> - x_hat <g x_hat>), built in x_hat's buffer (no temporary)
        x_hat *= (-gamma_bar / count).reshape(shape)
        x_hat += g
        x_hat -= (beta_bar / count).reshape(shape)
        x_hat *= gain.reshape(shape)
        results[0] = x_hat
    return tuple(results[i] for i in wanted)


def _untransformed(*values) -> bool:
    """Whether no transform traces any of ``values`` (plain arrays, ``None``, or a
    compiled-replay recording's own values)."""
    return all(not isinstance(v, Traced) or v._staged for v in values)


def _batch_norm_vjp(g, primals, out, wanted, eps=1e-5, statistics=None):
    x, weight = primals[0], _operand(primals, 1)
    g_value, x_value = primal_value(g), primal_value(x)
    if _untransformed(g, x, weight, statistics) and type(g_value) is np.ndarray and \
            type(x_value) is np.ndarray and g_value.shape == x_value.shape and \
            g_value.dtype == x_value.dtype:
        # nothing differentiates the result: computed on the arrays, in place (under ad.jit
        # one recorded step), where the rule written with primitives below makes ~20 nodes
        return list(on_data(_batch_norm_vjp_arrays, g, x, weight, statistics, eps,
                            tuple(wanted)))
    shape = shape_of(x)
    n_batch = batch_ndim(g, out)
    axes = tuple(n_batch + a for a in _reduced_axes(len(shape)))
    x_hat, scale = _normalised(x, eps)
    results = []
    for i in wanted:
        if i == 0:
            gw = g if weight is None else ew.multiply(g, shapes.reshape(
                weight, _channel_shape(shape)))
            inverse_count = 1.0 / (int(np.prod(shape, dtype=np.int64)) // shape[1])
            results.append(_centred_direction(gw, x_hat, scale, axes, inverse_count))
        elif i == 1:
            results.append(reduce_sum(ew.multiply(g, x_hat), axis=axes))
        else:
            results.append(reduce_sum(g, axis=axes))
    return results


batch_norm = Primitive(
    "batch_norm",
    _batch_norm_impl,
    _batch_norm_jvp,
    _batch_norm_vjp,
    taylor=FROM_JVP,
    cases=(
        Case("2d-affine", ((4, 3, 2, 2), (3,), (3,)), call_with(eps=1e-5)),
        Case("1d-affine", ((5, 3), (3,), (3,)), call_with(eps=1e-3)),
        Case("1d-plain", ((4, 2, 3),), call_with(eps=1e-5)),
    ),
)
