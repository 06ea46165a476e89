"""Network operations that are primitives of their own: the dense layer, ReLU, leaky ReLU,
and the fused softmax cross-entropy.

Each has a JVP and a VJP written with primitives, so they differentiate again; the user-facing
functions (argument checks, reductions) are in :mod:`autodiff.nn.functional`.

* ``linear`` -- ``y = x W^T + b`` for ``x`` of shape ``lead + (in,)``, ``W`` ``(out, in)`` as in
  torch: one node instead of transpose + matmul + add, and ``W_bar`` comes out C-contiguous in
  the layout of ``W`` (Aggarwal, *Neural Networks and Deep Learning*, 2018, sec. 3.2: the
  backward pass multiplies by the transposed weights);
* ``relu`` -- ``relu'(0) = 0`` (API.md's kink table): the gradient is masked by ``x > 0``;
* ``leaky_relu`` -- ``alpha v`` for ``v <= 0``, ``v`` otherwise, so ``leaky_relu'(0) = alpha``;
* ``cross_entropy`` -- softmax and negative log-likelihood fused: the value is
  ``logsumexp(x) - x[label]`` (shifted by the max, so no overflow), the VJP is
  ``(softmax(x) - onehot(label)) * g``.  Finite values and gradients for logits of any
  magnitude; a ``-inf`` logit has probability 0 and gradient 0.
"""

from __future__ import annotations

import numpy as np

from . import elementwise as ew
from . import linalg, reductions, shapes
from .primitive import (
    Case,
    Primitive,
    Traced,
    batch_ndim,
    call_with,
    data_value,
    dtype_of,
    ndim_of,
    on_data,
    primal_value,
    shape_of,
)
from .series import FIRST_ORDER, FROM_JVP

__all__ = ["linear", "relu", "leaky_relu", "cross_entropy", "softmax_cross_entropy",
           "checked_labels"]


# ----------------------------------------------------------------------------------------------
# dense layer
# ----------------------------------------------------------------------------------------------
# For x of shape lead + (in,), W (out, in), b (out,):  y = x W^T + b, of shape lead + (out,).
# The backward pass multiplies by the transposed weights (Aggarwal 2018, sec. 3.2),
#   x_bar = g W,   W_bar = sum over samples of g^T x,   b_bar = sum over samples of g.
# One node instead of transpose + matmul + add, and W_bar comes out C-contiguous (out, in),
# the layout of W, so the optimizer's update runs on matching layouts.


def _linear_impl(x, weight, bias=None):
    out = np.matmul(x, weight.T if type(weight) is np.ndarray else np.transpose(weight))
    if bias is None:
        return out
    if type(out) is np.ndarray and (
            out.dtype == bias.dtype if type(bias) is np.ndarray
            else out.dtype == np.result_type(out, bias)):
        out += bias  # the fresh product is ours, and keeps its dtype: add in place
        return out
    return out + bias


def _samples_flat(x, lead, n_features):
    """``x`` (batch + lead + (n,)) as batch + (prod(lead), n)."""
    shape = shape_of(x)
    n_batch = len(shape) - len(lead) - 1
    return shapes.reshape(x, shape[:n_batch] + (int(np.prod(lead, dtype=int)), n_features))


def _swap_last_two(x):
    n = ndim_of(x)
    return shapes.transpose(x, tuple(range(n - 2)) + (n - 1, n - 2))


def _linear_jvp(primals, tangents, out):
    x, weight = primals[0], primals[1]
    lead = shape_of(x)[:-1]
    out_features, in_features = shape_of(weight)
    live = next((t, p) for t, p in zip(tangents, primals) if t is not None)
    batch = shape_of(live[0])[: batch_ndim(live[0], live[1])]
    total = None
    if tangents[0] is not None:  # tx W^T
        total = linalg.matmul(tangents[0], shapes.transpose(weight, (1, 0)))
    if tangents[1] is not None:  # x tW^T, tW of shape batch + (out, in)
        product = linalg.matmul(_samples_flat(x, lead, in_features), _swap_last_two(tangents[1]))
        term = shapes.reshape(product, batch + lead + (out_features,))
        total = term if total is None else ew.add(total, term)
    if len(tangents) > 2 and tangents[2] is not None:  # tb, broadcast over the samples
        term = shapes.reshape(tangents[2], batch + (1,) * len(lead) + (out_features,))
        if total is None:
            return shapes.broadcast_to(term, batch + lead + (out_features,))
        total = ew.add(total, term)
    return total


def _linear_vjp(g, primals, out, wanted):
    x, weight = primals[0], primals[1]
    lead = shape_of(x)[:-1]
    n_batch = batch_ndim(g, out)
    results = []
    for i in wanted:
        if i == 0:  # g W
            results.append(linalg.matmul(g, weight))
        elif i == 1:  # g^T x summed over the samples: (out, in), batch axes leading
            if n_batch == 0 and len(lead) == 1:  # the common case: a plain batch of rows
                g_flat, x_flat = g, x
            else:
                g_flat = _samples_flat(g, lead, shape_of(weight)[0])
                x_flat = _samples_flat(x, lead, shape_of(weight)[1])
            results.append(linalg.matmul(_swap_last_two(g_flat), x_flat))
        else:  # g summed over the samples
            sample_axes = tuple(range(n_batch, n_batch + len(lead)))
            results.append(reductions.reduce_sum(g, axis=sample_axes) if sample_axes else g)
    return results


linear = Primitive(
    "linear",
    _linear_impl,
    _linear_jvp,
    _linear_vjp,
    taylor=FROM_JVP,
    cases=(
        Case("batch", ((5, 3), (4, 3), (4,)), call_with()),
        Case("no-bias", ((5, 3), (4, 3)), call_with()),
        Case("one-sample", ((3,), (4, 3), (4,)), call_with()),
        Case("3d-input", ((2, 5, 3), (4, 3), (4,)), call_with()),
    ),
)


# ----------------------------------------------------------------------------------------------
# activations
# ----------------------------------------------------------------------------------------------


def _untransformed(x) -> bool:
    """Whether no transform traces ``x``: a plain value, or a compiled-replay recording's own."""
    return not isinstance(x, Traced) or x._staged


def _relu_impl(x):
    if type(x) is float:
        return x if x > 0.0 else 0.0
    out = np.maximum(x, 0)
    # an array stays the array NumPy made (``[()]`` would hand the tape a view, which it does
    # not freeze, so the next node keeping it would copy it); a 0-d result becomes a scalar
    return out if out.ndim else out[()]


def _relu_slope(x):
    """``I(x > 0)`` in x's dtype: relu'(0) = 0."""
    return on_data(_relu_slope_of_value, x, dtype_of(x))


def _relu_slope_of_value(x, dtype):
    return np.asarray(x > 0, dtype=dtype)


def _relu_jvp(primals, tangents, out):
    return ew.multiply(_relu_slope(primals[0]), tangents[0])


def _relu_vjp_arrays(g, x):
    """``g`` where ``x > 0``, else ``g · 0``: the product with the slope, in one NumPy call."""
    return np.multiply(g, x > 0)


def _relu_vjp(g, primals, out, wanted):
    (x,) = primals
    g_value, x_value = primal_value(g), primal_value(x)
    if _untransformed(x) and _untransformed(g) and type(x_value) is np.ndarray \
            and type(g_value) is np.ndarray and g_value.shape == x_value.shape \
            and g_value.dtype == x_value.dtype:
        # nothing differentiates the result: one step (under ad.jit) instead of a mask, its
        # cast and the product (the same shape and dtype, so the same result)
        return [on_data(_relu_vjp_arrays, g, x)]
    return [ew.multiply(_relu_slope(x), g)]


relu = Primitive(
    "relu",
    _relu_impl,
    _relu_jvp,
    _relu_vjp,
    taylor=FIRST_ORDER,  # piecewise linear: the series is linear too
    cases=(
        Case("matrix", ((3, 4),), call_with(), "nonzero"),
        Case("scalar", ((),), call_with(), "nonzero"),
    ),
)


def _leaky_impl(x, negative_slope):
    if type(x) is float:
        return x if x > 0.0 else negative_slope * x
    x = np.asarray(x)
    return np.where(x > 0, x, x * negative_slope).astype(x.dtype, copy=False)[()]


def _leaky_slope(x, negative_slope):
    """1 where x > 0, ``negative_slope`` where x <= 0 (so leaky_relu'(0) = alpha)."""
    return on_data(_leaky_slope_of_value, x, negative_slope, dtype_of(x))


def _leaky_slope_of_value(x, negative_slope, dtype):
    return np.where(x > 0, 1.0, negative_slope).astype(dtype, copy=False)


def _leaky_jvp(primals, tangents, out, negative_slope):
    return ew.multiply(_leaky_slope(primals[0], negative_slope), tangents[0])


def _leaky_vjp(g, primals, out, wanted, negative_slope):
    return [ew.multiply(_leaky_slope(primals[0], negative_slope), g)]


leaky_relu = Primitive(
    "leaky_relu",
    _leaky_impl,
    _leaky_jvp,
    _leaky_vjp,
    taylor=FIRST_ORDER,
    cases=(
        Case("matrix", ((3, 4),), call_with(negative_slope=0.1), "nonzero"),
        Case("vector", ((5,),), call_with(negative_slope=0.01), "nonzero"),
    ),
)


# ----------------------------------------------------------------------------------------------
# cross-entropy
# ----------------------------------------------------------------------------------------------


def checked_labels(labels, logits_shape) -> np.ndarray:
    """Integer labels of shape ``logits_shape[:-1]`` in ``0 .. C-1`` (as ``np.intp``).

    Labels recorded by ``ad.jit`` (a compiled training step takes them as data) stay recorded:
    their range test is a recorded step read by a guard, so a batch with a label out of range
    records again and raises here.
    """
    staged = isinstance(labels, Traced) and labels._staged
    if isinstance(labels, Traced) and not staged:
        raise TypeError("labels must be integer class indices, not a traced value")
    if not staged:
        labels = np.asarray(labels)
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        values = labels._primal_ if staged else labels
        if np.issubdtype(labels.dtype, np.floating) and np.all(values == np.round(values)):
            hint = " (they look like whole numbers: pass labels.astype(int))"
        else:
            hint = ""
        raise TypeError(f"labels must be integers (0-based class indices), got {labels.dtype}"
                        + hint)
    if len(logits_shape) == 0:
        raise ValueError("logits must have a class axis (the last one); got a scalar")
    if labels.shape != tuple(logits_shape[:-1]):
        raise ValueError(
            f"labels have shape {labels.shape}, expected {tuple(logits_shape[:-1])} (the logits' "
            f"shape {tuple(logits_shape)} without its last, class axis)"
        )
    n_classes = logits_shape[-1]
    if labels.size and on_data(_outside_classes, labels, n_classes):  # one step when recorded
        values = labels._primal_ if staged else labels
        raise ValueError(
            f"labels must lie in 0 .. {n_classes - 1} (0-based, {n_classes} classes); got values "
            f"from {values.min()} to {values.max()}"
        )
    return labels if staged else labels.astype(np.intp, copy=False)


def _outside_classes(labels, n_classes) -> bool:
    """Whether a label lies outside ``0 .. n_classes - 1``.

    Signed labels are read as the unsigned integers of their width (a view): a negative label
    then reads as at least ``2**(bits - 1)``, so one comparison with ``n_classes`` (when it is
    at most that) of their maximum finds both kinds of outsider (the training step's guard,
    on every batch).
    """
    if labels.dtype.kind == "i" and n_classes <= 2 ** (8 * labels.dtype.itemsize - 1):
        return bool(labels.view(_UNSIGNED[labels.dtype.itemsize]).max() >= n_classes)
    return bool(((labels < 0) | (labels >= n_classes)).any())


_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _label_index(labels):
    """The index picking ``x[..., label]`` for every sample (``(arange(N), labels)`` for 2-D)."""
    if labels.ndim == 1:
        return np.arange(labels.shape[0]), labels
    return tuple(np.indices(labels.shape, sparse=True)) + (labels,)


def _logsumexp_last(x):
    """Stable ``log sum exp`` over the last axis of an array (keeps the axis):
    ``m + log sum_j exp(x_j - m)`` with ``m`` the row's maximum.

    With every maximum finite, each row's sum holds ``exp(0) = 1``, so the logarithm never
    meets 0 and the exponentials and the logarithm are taken in place (the same operations,
    bit for bit, without temporaries).
    """
    shift = x.max(axis=-1, keepdims=True)
    finite = np.isfinite(shift)
    if finite.all() and shift.dtype.kind == "f":
        shifted = x - shift
        np.exp(shifted, out=shifted)
        total = shifted.sum(axis=-1, keepdims=True)
        np.log(total, out=total)
        total += shift
        return total
    shift = np.where(finite, shift, 0)  # a row of -inf (or an inf): no shift there
    with np.errstate(divide="ignore"):
        return np.log(np.exp(x - shift).sum(axis=-1, keepdims=True)) + shift


def _cross_entropy_impl(logits, labels, reduction, log_normalisers=None):
    logits = np.asarray(logits)
    if log_normalisers is None:
        log_normalisers = _logsumexp_last(logits)
    with np.errstate(invalid="ignore"):
        losses = log_normalisers[..., 0] - logits[_label_index(labels)]
    if reduction == "none":
        return losses[()]
    total = losses.sum()  # (np.sum's reduction, without its wrapper)
    return (total / losses.size if reduction == "mean" else total)[()]


def _one_hot(labels, n_classes, dtype):
    # a comparison, not a write at the labels: recorded as a step when ad.jit records labels
    return (labels[..., None] == np.arange(n_classes)).astype(dtype)


def _softmax_minus_one_hot(logits, labels):
    """``softmax(logits) - onehot(labels)``, written with primitives (it is differentiated)."""
    probabilities = ew.exp(ew.subtract(logits, reductions.logsumexp(logits, axis=-1, keepdims=True)))
    return ew.subtract(probabilities, _one_hot(labels, shape_of(logits)[-1], dtype_of(logits)))


def _sample_count(logits) -> int:
    return int(np.prod(shape_of(logits)[:-1], dtype=int))


def _cross_entropy_jvp(primals, tangents, out, labels, reduction, log_normalisers=None):
    (logits,), (t,) = primals, tangents
    n_batch = batch_ndim(t, logits)
    per_sample = reductions.reduce_sum(ew.multiply(_softmax_minus_one_hot(logits, labels), t), axis=-1)
    if reduction == "none":
        return per_sample
    sample_axes = tuple(range(n_batch, n_batch + ndim_of(logits) - 1))
    total = reductions.reduce_sum(per_sample, axis=sample_axes) if sample_axes else per_sample
    return ew.divide(total, float(_sample_count(logits))) if reduction == "mean" else total


def _cross_entropy_vjp_arrays(g, logits, labels, reduction, log_normalisers=None):
    """The VJP on plain (untraced) arrays, computed in place: the training step's hot path."""
    logits = np.asarray(logits)
    if log_normalisers is None:
        log_normalisers = _logsumexp_last(logits)
    with np.errstate(invalid="ignore"):
        residual = np.exp(logits - log_normalisers)
    residual[_label_index(labels)] -= 1
    if reduction == "none":
        residual *= np.asarray(g)[..., None]
    else:
        residual *= g / logits[..., 0].size if reduction == "mean" else g
    return residual


def _cross_entropy_vjp(g, primals, out, wanted, labels, reduction, log_normalisers=None):
    (logits,) = primals
    n_batch = batch_ndim(g, out)
    if n_batch == 0 and _untransformed(logits) and _untransformed(g):
        # nothing differentiates the result, so it is computed on the arrays, in place; under
        # ad.jit (a compiled training step) that is one recorded step reusing the value's
        # log-normalisers, where the rule written with primitives below would record seven
        # and compute the softmax again
        return [on_data(_cross_entropy_vjp_arrays, g, logits, labels, reduction,
                        log_normalisers)]
    g_shape = shape_of(g)
    if reduction == "none":  # g: batch + samples -> batch + samples + (1,)
        scale = shapes.reshape(g, g_shape + (1,))
    else:  # g: batch -> batch + (1,) * ndim(logits)
        if reduction == "mean":
            g = ew.divide(g, float(_sample_count(logits)))
        scale = shapes.reshape(g, g_shape[:n_batch] + (1,) * ndim_of(logits))
    return [ew.multiply(_softmax_minus_one_hot(logits, labels), scale)]


def softmax_cross_entropy(logits, labels, reduction):
    """The ``cross_entropy`` primitive on checked ``labels``.

    Under a compiled-replay recording (:mod:`autodiff.jit`) the rows' log-normalisers
    ``logsumexp(logits)`` are a recorded step of their own, handed to the primitive as its
    parameter ``log_normalisers``: the value and the VJP then share them, as a hand-written
    training step shares its softmax, instead of computing them twice.  They are data (the
    primal logits' function), never differentiated: the derivative rules are those of the
    logits alone.
    """
    value = data_value(logits)
    if isinstance(value, Traced):  # a recording's value
        return cross_entropy(logits, labels=labels, reduction=reduction,
                             log_normalisers=on_data(_logsumexp_last, value))
    return cross_entropy(logits, labels=labels, reduction=reduction)


cross_entropy = Primitive(
    "cross_entropy",
    _cross_entropy_impl,
    _cross_entropy_jvp,
    _cross_entropy_vjp,
    taylor=FROM_JVP,
    cases=(
        *[
            Case(reduction, ((3, 4),),
                 call_with(labels=np.array([0, 3, 1]), reduction=reduction))
            for reduction in ("mean", "sum", "none")
        ],
        Case("3d-mean", ((2, 3, 4),),
             call_with(labels=np.array([[0, 3, 1], [2, 2, 0]]), reduction="mean")),
    ),
)
