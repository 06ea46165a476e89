"""``ad.nn.functional``: activations and losses, stable and twice differentiable.

Every function takes plain arrays or traced values (``Var``, ``Dual``, ``Parameter``) and is
built from primitives, so ``grad``, ``hvp`` and ``jacfwd(grad(...))`` differentiate through it.
Three operations are primitives of their own (declared here, each with a JVP and a VJP written
with primitives, so they differentiate again):

* ``relu`` -- one node; ``relu'(0) = 0`` (API.md's kink table), i.e. the gradient is masked by
  ``x > 0`` exactly as in seed 004's table (``g_i = g_{i+1} * I(z_i > 0)``);
* ``leaky_relu`` -- seed 004, eq. (14): ``alpha v`` for ``v <= 0``, ``v`` otherwise, so
  ``leaky_relu'(0) = alpha``;
* ``cross_entropy`` -- softmax and negative log-likelihood fused: the value is
  ``logsumexp(x) - x[label]`` (seed 000's stabilisation: shift by the max), the VJP is
  ``(softmax(x) - onehot(label)) * g``.  Finite values and gradients for logits of any
  magnitude (``1e4`` included); a ``-inf`` logit has probability 0 and gradient 0.

Conventions: the class axis is the last one (logits ``(N, C)``, or ``(C,)`` for one sample, or
``(N, ..., C)``); labels are 0-based integers of shape ``logits.shape[:-1]``; losses take
``reduction="mean"`` (default), ``"sum"`` or ``"none"``.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import numpy_api as api
from ..forward.taylor import first_order_rule
from ..rules import elementwise as ew
from ..rules import structure as st
from ..rules.primitive import Primitive, Traced, dtype_of, ndim_of, primal_value, shape_of
from ..validation import probability
from ..values import as_float_value

__all__ = [
    "linear",
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "hardtanh",
    "softplus",
    "logsumexp",
    "softmax",
    "log_softmax",
    "mse_loss",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy_with_logits",
]

_REDUCTIONS = ("mean", "sum", "none")


def _value(x, what: str):
    """A traced value as is; anything else as a float / floating ndarray (clear error if not)."""
    return x if isinstance(x, Traced) else as_float_value(x, what)


def _check_reduction(reduction) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(losses, reduction):
    if reduction == "mean":
        return api.mean(losses)
    if reduction == "sum":
        return api.sum(losses)
    return losses


def _batch_axes(t, x) -> int:
    """Number of leading batch axes of a tangent / cotangent ``t`` of a value shaped like ``x``."""
    return ndim_of(t) - ndim_of(x)


# ----------------------------------------------------------------------------------------------
# dense layer: a primitive of its own
# ----------------------------------------------------------------------------------------------
# For x of shape lead + (in,), W (out, in), b (out,):  y = x W^T + b, of shape lead + (out,).
# Seed 004's table: the backward pass multiplies by the transposed weights,
#   x_bar = g W,   W_bar = sum over samples of g^T x,   b_bar = sum over samples of g.
# One node instead of transpose + matmul + add, and W_bar comes out C-contiguous (out, in),
# the layout of W, so the optimizer's update runs on matching layouts.


def _linear_impl(x, weight, bias=None):
    out = np.matmul(x, np.transpose(weight))
    if bias is None:
        return out
    if isinstance(out, np.ndarray) and out.dtype == np.result_type(out, bias):
        out += bias  # the fresh product is ours: add in place
        return out
    return out + bias


def _samples_flat(x, lead, n_features):
    """``x`` (batch + lead + (n,)) as batch + (prod(lead), n)."""
    shape = shape_of(x)
    n_batch = len(shape) - len(lead) - 1
    return st.reshape(x, shape[:n_batch] + (int(np.prod(lead, dtype=int)), n_features))


def _swap_last_two(x):
    n = ndim_of(x)
    return st.transpose(x, tuple(range(n - 2)) + (n - 1, n - 2))


def _linear_jvp(primals, tangents, out):
    x, weight = primals[0], primals[1]
    lead = shape_of(x)[:-1]
    out_features, in_features = shape_of(weight)
    live = next((t, p) for t, p in zip(tangents, primals) if t is not None)
    batch = shape_of(live[0])[: _batch_axes(live[0], live[1])]
    total = None
    if tangents[0] is not None:  # tx W^T
        total = st.matmul(tangents[0], st.transpose(weight, (1, 0)))
    if tangents[1] is not None:  # x tW^T, tW of shape batch + (out, in)
        product = st.matmul(_samples_flat(x, lead, in_features), _swap_last_two(tangents[1]))
        term = st.reshape(product, batch + lead + (out_features,))
        total = term if total is None else ew.add(total, term)
    if len(tangents) > 2 and tangents[2] is not None:  # tb, broadcast over the samples
        term = st.reshape(tangents[2], batch + (1,) * len(lead) + (out_features,))
        if total is None:
            return st.broadcast_to(term, batch + lead + (out_features,))
        total = ew.add(total, term)
    return total


def _linear_vjp(g, primals, out, wanted):
    x, weight = primals[0], primals[1]
    lead = shape_of(x)[:-1]
    n_batch = _batch_axes(g, out)
    results = []
    for i in wanted:
        if i == 0:  # g W
            results.append(st.matmul(g, weight))
        elif i == 1:  # g^T x summed over the samples: (out, in), batch axes leading
            if n_batch == 0 and len(lead) == 1:  # the common case: a plain batch of rows
                g_flat, x_flat = g, x
            else:
                g_flat = _samples_flat(g, lead, shape_of(weight)[0])
                x_flat = _samples_flat(x, lead, shape_of(weight)[1])
            results.append(st.matmul(_swap_last_two(g_flat), x_flat))
        else:  # g summed over the samples
            sample_axes = tuple(range(n_batch, n_batch + len(lead)))
            results.append(st.reduce_sum(g, axis=sample_axes) if sample_axes else g)
    return results


_linear = Primitive("linear", _linear_impl, _linear_jvp, _linear_vjp)


def linear(x, weight, bias=None):
    """``x @ weight.T + bias``: weight ``(out, in)`` as in torch, ``x`` of shape ``(..., in)``.

    Seed 004's linear layer (``z_{i+1} = W z_i``, with samples as rows), one primitive: its
    backward pass is ``x_bar = g W``, ``W_bar = g^T x``, ``b_bar = sum_samples g``.
    """
    x = _value(x, "linear input")
    w_shape = shape_of(weight)
    if len(w_shape) != 2:
        raise ValueError(f"linear: weight must be 2-D (out, in), got shape {w_shape}")
    if ndim_of(x) == 0 or shape_of(x)[-1] != w_shape[1]:
        raise ValueError(
            f"linear: input of shape {shape_of(x)} does not fit weight of shape {w_shape}; "
            f"the last axis must have {w_shape[1]} features"
        )
    if bias is None:
        return _linear(x, weight)
    if shape_of(bias) != (w_shape[0],):
        raise ValueError(f"linear: bias must have shape ({w_shape[0]},), got {shape_of(bias)}")
    return _linear(x, weight, bias)


# ----------------------------------------------------------------------------------------------
# activations
# ----------------------------------------------------------------------------------------------


def _relu_impl(x):
    if type(x) is float:
        return x if x > 0.0 else 0.0
    return np.maximum(x, 0)[()]


def _relu_slope(x):
    """``I(x > 0)`` in x's dtype: relu'(0) = 0."""
    return np.asarray(primal_value(x) > 0, dtype=dtype_of(x))


def _relu_jvp(primals, tangents, out):
    return ew.multiply(_relu_slope(primals[0]), tangents[0])


def _relu_vjp(g, primals, out, wanted):
    return [ew.multiply(_relu_slope(primals[0]), g)]


_relu = Primitive("relu", _relu_impl, _relu_jvp, _relu_vjp)
_relu.taylor = first_order_rule(_relu)  # piecewise linear: the series is linear too


def relu(x):
    """``max(x, 0)``, with ``relu'(0) = 0``."""
    return _relu(_value(x, "relu input"))


def _leaky_impl(x, negative_slope):
    if type(x) is float:
        return x if x > 0.0 else negative_slope * x
    x = np.asarray(x)
    return np.where(x > 0, x, x * negative_slope).astype(x.dtype, copy=False)[()]


def _leaky_slope(x, negative_slope):
    """1 where x > 0, ``negative_slope`` where x <= 0 (so leaky_relu'(0) = alpha)."""
    return np.where(primal_value(x) > 0, 1.0, negative_slope).astype(dtype_of(x), copy=False)


def _leaky_jvp(primals, tangents, out, negative_slope):
    return ew.multiply(_leaky_slope(primals[0], negative_slope), tangents[0])


def _leaky_vjp(g, primals, out, wanted, negative_slope):
    return [ew.multiply(_leaky_slope(primals[0], negative_slope), g)]


_leaky_relu = Primitive("leaky_relu", _leaky_impl, _leaky_jvp, _leaky_vjp)
_leaky_relu.taylor = first_order_rule(_leaky_relu)


def leaky_relu(x, negative_slope=0.01):
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise (seed 004, eq. 14); slope at 0 is
    ``negative_slope``."""
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
        raise TypeError(f"negative_slope must be a real number, got {negative_slope!r}")
    return _leaky_relu(_value(x, "leaky_relu input"), negative_slope=float(negative_slope))


def sigmoid(x):
    """``1 / (1 + e^-x)``, evaluated without overflow; ``sigma' = sigma (1 - sigma)``."""
    return ew.sigmoid(_value(x, "sigmoid input"))


def tanh(x):
    """``tanh x``; ``tanh' = 1 - tanh^2``."""
    return ew.tanh(_value(x, "tanh input"))


def hardtanh(x, min_val=-1.0, max_val=1.0):
    """``clip(x, min_val, max_val)`` (seed 004's "hard tanh"): slope 1 on the closed interval
    ``[min_val, max_val]``, 0 outside (API.md's rule for ``clip``)."""
    if not min_val < max_val:
        raise ValueError(f"hardtanh needs min_val < max_val, got {min_val} and {max_val}")
    return ew.clip(_value(x, "hardtanh input"), float(min_val), float(max_val))


def softplus(x, beta=1.0):
    """``log(1 + e^(beta x)) / beta``, stable for large ``|x|``; derivative ``sigmoid(beta x)``."""
    if not beta > 0:
        raise ValueError(f"softplus needs beta > 0, got {beta!r}")
    x = _value(x, "softplus input")
    if beta == 1.0:
        return ew.softplus(x)
    return ew.divide(ew.softplus(ew.multiply(x, float(beta))), float(beta))


def logsumexp(x, axis=-1, keepdims=False):
    """``log sum exp x`` over ``axis`` (default: the last, the class axis), shifted by the max;
    ``-inf`` entries contribute nothing.  (``ad.logsumexp`` defaults to all axes, like SciPy.)"""
    return api.logsumexp(_value(x, "logsumexp input"), axis=axis, keepdims=keepdims)


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis`` (seed 000's stable ``log SM(x)``): never ``log 0``."""
    x = _value(x, "log_softmax input")
    return ew.subtract(x, api.logsumexp(x, axis=axis, keepdims=True))


def softmax(x, axis=-1):
    """``exp(x - logsumexp(x))`` along ``axis``: no overflow for large logits, and a ``-inf``
    entry gets probability exactly 0."""
    return ew.exp(log_softmax(x, axis))


# ----------------------------------------------------------------------------------------------
# cross-entropy: a fused primitive
# ----------------------------------------------------------------------------------------------


def _checked_labels(labels, logits_shape) -> np.ndarray:
    """Integer labels of shape ``logits_shape[:-1]`` in ``0 .. C-1`` (as ``np.intp``)."""
    if isinstance(labels, Traced):
        raise TypeError("labels must be integer class indices, not a traced value")
    labels = np.asarray(labels)
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        if np.issubdtype(labels.dtype, np.floating) and np.all(labels == np.round(labels)):
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
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"labels must lie in 0 .. {n_classes - 1} (0-based, {n_classes} classes); got values "
            f"from {labels.min()} to {labels.max()}"
        )
    return labels.astype(np.intp, copy=False)


def _label_index(labels):
    """The index picking ``x[..., label]`` for every sample (``(arange(N), labels)`` for 2-D)."""
    if labels.ndim == 1:
        return np.arange(labels.shape[0]), labels
    return tuple(np.indices(labels.shape, sparse=True)) + (labels,)


def _logsumexp_last(x):
    """Stable ``log sum exp`` over the last axis of an array (keeps the axis)."""
    shift = x.max(axis=-1, keepdims=True)
    finite = np.isfinite(shift)
    if not finite.all():  # a row of -inf (or an inf): no shift there
        shift = np.where(finite, shift, 0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(x - shift).sum(axis=-1, keepdims=True)) + shift


def _cross_entropy_impl(logits, labels, reduction):
    logits = np.asarray(logits)
    with np.errstate(invalid="ignore"):
        losses = _logsumexp_last(logits)[..., 0] - logits[_label_index(labels)]
    if reduction == "none":
        return losses[()]
    total = np.sum(losses)
    return (total / losses.size if reduction == "mean" else total)[()]


def _one_hot(labels, n_classes, dtype):
    encoded = np.zeros(labels.shape + (n_classes,), dtype=dtype)
    encoded[_label_index(labels)] = 1
    return encoded


def _softmax_minus_one_hot(logits, labels):
    """``softmax(logits) - onehot(labels)``, written with primitives (it is differentiated)."""
    probabilities = ew.exp(ew.subtract(logits, st.logsumexp(logits, axis=-1, keepdims=True)))
    return ew.subtract(probabilities, _one_hot(labels, shape_of(logits)[-1], dtype_of(logits)))


def _sample_count(logits) -> int:
    return int(np.prod(shape_of(logits)[:-1], dtype=int))


def _cross_entropy_jvp(primals, tangents, out, labels, reduction):
    (logits,), (t,) = primals, tangents
    n_batch = _batch_axes(t, logits)
    per_sample = st.reduce_sum(ew.multiply(_softmax_minus_one_hot(logits, labels), t), axis=-1)
    if reduction == "none":
        return per_sample
    sample_axes = tuple(range(n_batch, n_batch + ndim_of(logits) - 1))
    total = st.reduce_sum(per_sample, axis=sample_axes) if sample_axes else per_sample
    return ew.divide(total, float(_sample_count(logits))) if reduction == "mean" else total


def _cross_entropy_vjp_arrays(g, logits, labels, reduction):
    """The VJP on plain (untraced) arrays, computed in place: the training step's hot path."""
    with np.errstate(invalid="ignore"):
        residual = np.exp(logits - _logsumexp_last(logits))
    residual[_label_index(labels)] -= 1
    if reduction == "none":
        residual *= np.asarray(g)[..., None]
    else:
        residual *= g / logits[..., 0].size if reduction == "mean" else g
    return residual


def _cross_entropy_vjp(g, primals, out, wanted, labels, reduction):
    (logits,) = primals
    n_batch = _batch_axes(g, out)
    if n_batch == 0 and not isinstance(logits, Traced) and not isinstance(g, Traced):
        return [_cross_entropy_vjp_arrays(g, np.asarray(logits), labels, reduction)]
    g_shape = shape_of(g)
    if reduction == "none":  # g: batch + samples -> batch + samples + (1,)
        scale = st.reshape(g, g_shape + (1,))
    else:  # g: batch -> batch + (1,) * ndim(logits)
        if reduction == "mean":
            g = ew.divide(g, float(_sample_count(logits)))
        scale = st.reshape(g, g_shape[:n_batch] + (1,) * ndim_of(logits))
    return [ew.multiply(_softmax_minus_one_hot(logits, labels), scale)]


_cross_entropy = Primitive(
    "cross_entropy", _cross_entropy_impl, _cross_entropy_jvp, _cross_entropy_vjp
)


def cross_entropy(logits, labels, reduction="mean", *, weight=None, label_smoothing=0.0):
    """Softmax cross-entropy ``-log softmax(logits)[label]`` (seed 001, eq. 7), fused and stable.

    ``logits``: ``(N, C)`` (or ``(C,)``, or ``(N, ..., C)``), class axis last; ``labels``: 0-based
    integers of shape ``logits.shape[:-1]``.  Per sample the loss is ``logsumexp(x) - x[label]``
    and its gradient ``softmax(x) - onehot(label)``; ``reduction`` averages (default) or sums
    over the samples, or keeps them (``"none"``).

    As in torch, ``weight`` (``(C,)``, one per class) scales each sample's loss by the weight of
    its label, and the mean divides by the sum of those weights; ``label_smoothing = eps`` mixes
    the target with the uniform distribution (Szegedy et al., "Rethinking the Inception
    Architecture for Computer Vision", CVPR 2016, section 7):
    ``(1 - eps) w_y (-log p_y) + (eps / C) sum_c w_c (-log p_c)``.

    >>> import numpy as np
    >>> float(cross_entropy(np.array([[1e4, 0.0, -1e4]]), np.array([1])))
    10000.0
    """
    _check_reduction(reduction)
    logits = _value(logits, "cross_entropy logits")
    labels = _checked_labels(labels, shape_of(logits))
    if reduction == "mean" and labels.size == 0:
        raise ValueError("the mean cross-entropy of an empty batch is undefined; pass samples")
    smoothing = probability(label_smoothing, "label_smoothing")
    if weight is None and smoothing == 0.0:
        return _cross_entropy(logits, labels=labels, reduction=reduction)
    n_classes = shape_of(logits)[-1]
    weight = _class_weights(weight, n_classes, logits)
    log_probabilities = log_softmax(logits)
    losses = _weighted_picks(log_probabilities, labels, weight)
    if smoothing:
        spread = log_probabilities if weight is None else ew.multiply(log_probabilities, weight)
        uniform = ew.negative(st.reduce_sum(spread, axis=-1))
        losses = ew.add(ew.multiply(losses, 1.0 - smoothing),
                        ew.multiply(uniform, smoothing / n_classes))
    return _weighted_reduce(losses, labels, weight, reduction)


def _class_weights(weight, n_classes, like):
    """``weight`` as a constant ``(C,)`` array in ``like``'s dtype (``None`` stays ``None``)."""
    if weight is None:
        return None
    if isinstance(weight, Traced):
        raise TypeError("class weights must be a plain array, not a traced value")
    weight = np.asarray(as_float_value(weight, "class weights"), dtype=dtype_of(like))
    if weight.shape != (n_classes,):
        raise ValueError(
            f"class weights must have shape ({n_classes},), one per class, got {weight.shape}"
        )
    return weight


def _weighted_picks(log_probabilities, labels, weight):
    """``-w[label] * log_probabilities[label]`` per sample (``w = 1`` without weights)."""
    index = tuple(np.indices(labels.shape, sparse=True)) + (labels,)
    picked = ew.negative(log_probabilities[index])
    return picked if weight is None else ew.multiply(picked, weight[labels])


def _weighted_reduce(losses, labels, weight, reduction):
    """torch's reductions of weighted losses: the mean divides by the sum of the labels'
    weights."""
    if reduction != "mean" or weight is None:
        return _reduce(losses, reduction)
    return ew.divide(api.sum(losses), weight[labels].sum())


def nll_loss(log_probabilities, labels, reduction="mean", *, weight=None):
    """Negative log-likelihood ``-log_probabilities[label]`` per sample (class axis last).

    ``nll_loss(log_softmax(x), y)`` equals ``cross_entropy(x, y)``; the entries are picked by
    indexing, so a ``-inf`` log-probability of another class never meets a zero weight.  Class
    ``weight`` s act as in :func:`cross_entropy` (torch's convention).
    """
    _check_reduction(reduction)
    log_probabilities = _value(log_probabilities, "nll_loss input")
    labels = _checked_labels(labels, shape_of(log_probabilities))
    weight = _class_weights(weight, shape_of(log_probabilities)[-1], log_probabilities)
    return _weighted_reduce(_weighted_picks(log_probabilities, labels, weight), labels, weight,
                            reduction)


def binary_cross_entropy_with_logits(logits, targets, reduction="mean"):
    """``-[t log sigma(x) + (1 - t) log(1 - sigma(x))]`` computed as ``softplus(x) - t x``.

    Stable for logits of any magnitude (``softplus`` never overflows); gradient
    ``sigmoid(x) - t``.  ``targets`` are probabilities in ``[0, 1]`` of the logits' shape.
    """
    _check_reduction(reduction)
    logits = _value(logits, "binary_cross_entropy_with_logits logits")
    targets = _value(targets, "binary_cross_entropy_with_logits targets")
    if shape_of(targets) != shape_of(logits):
        raise ValueError(
            f"targets have shape {shape_of(targets)}, logits {shape_of(logits)}; they must match"
        )
    target_values = primal_value(targets)
    if np.any((np.asarray(target_values) < 0) | (np.asarray(target_values) > 1)):
        raise ValueError("targets must be probabilities in [0, 1]")
    return _reduce(ew.subtract(ew.softplus(logits), ew.multiply(targets, logits)), reduction)


def mse_loss(input, target, reduction="mean"):  # noqa: A002 - torch's argument name
    """Mean squared error ``(input - target)^2``, averaged (default), summed or kept."""
    _check_reduction(reduction)
    input = _value(input, "mse_loss input")
    target = _value(target, "mse_loss target")
    if shape_of(input) != shape_of(target):
        raise ValueError(
            f"mse_loss compares elementwise: input has shape {shape_of(input)}, target "
            f"{shape_of(target)}; reshape one of them"
        )
    return _reduce(ew.square(ew.subtract(input, target)), reduction)
