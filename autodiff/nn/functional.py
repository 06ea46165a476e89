"""``ad.nn.functional``: activations and losses, stable and twice differentiable.

Every function takes plain arrays or traced values (``Var``, ``Dual``, ``Parameter``) and is
built from primitives, so ``grad``, ``hvp`` and ``jacfwd(grad(...))`` differentiate through it.
``linear``, ``relu``, ``leaky_relu`` and ``cross_entropy`` are primitives of their own (declared
in :mod:`autodiff.rules.network`: ``relu'(0) = 0``, ``leaky_relu'(0) = alpha``, a fused and
stable softmax cross-entropy); this module checks arguments and applies reductions.

Conventions: the class axis is the last one (logits ``(N, C)``, or ``(C,)`` for one sample, or
``(N, ..., C)``); labels are 0-based integers of shape ``logits.shape[:-1]``; losses take
``reduction="mean"`` (default), ``"sum"`` or ``"none"``.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import numpy_api as api
from ..rules import elementwise as ew
from ..rules import network, reductions
from ..rules.primitive import Traced, dtype_of, ndim_of, primal_value, shape_of
from ..validation import probability
from ..values import as_float_value
from .conv import conv1d, conv2d
from .normalization import batch_norm, layer_norm
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d

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
    "conv1d",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "batch_norm",
    "layer_norm",
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


def linear(x, weight, bias=None):
    """``x @ weight.T + bias``: weight ``(out, in)`` as in torch, ``x`` of shape ``(..., in)``.

    A linear layer (``z_{i+1} = W z_i``, with samples as rows; Aggarwal 2018, sec. 3.2), one
    primitive: its
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
        return network.linear(x, weight)
    if shape_of(bias) != (w_shape[0],):
        raise ValueError(f"linear: bias must have shape ({w_shape[0]},), got {shape_of(bias)}")
    return network.linear(x, weight, bias)


# ----------------------------------------------------------------------------------------------
# activations
# ----------------------------------------------------------------------------------------------


def relu(x):
    """``max(x, 0)``, with ``relu'(0) = 0``."""
    return network.relu(_value(x, "relu input"))


def leaky_relu(x, negative_slope=0.01):
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise (Aggarwal 2018, sec. 3.4.2); slope at 0 is
    ``negative_slope``."""
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
        raise TypeError(f"negative_slope must be a real number, got {negative_slope!r}")
    return network.leaky_relu(_value(x, "leaky_relu input"), negative_slope=float(negative_slope))


def sigmoid(x):
    """``1 / (1 + e^-x)``, evaluated without overflow; ``sigma' = sigma (1 - sigma)``."""
    return ew.sigmoid(_value(x, "sigmoid input"))


def tanh(x):
    """``tanh x``; ``tanh' = 1 - tanh^2``."""
    return ew.tanh(_value(x, "tanh input"))


def hardtanh(x, min_val=-1.0, max_val=1.0):
    """``clip(x, min_val, max_val)`` (the "hard tanh" of Aggarwal 2018, sec. 3.4.2): slope 1 on the closed interval
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
    """``x - logsumexp(x)`` along ``axis`` (stable: Goodfellow et al., *Deep Learning*, 2016, sec. 4.1): never ``log 0``."""
    return api.log_softmax(_value(x, "log_softmax input"), axis=axis)


def softmax(x, axis=-1):
    """``exp(x - logsumexp(x))`` along ``axis``: no overflow for large logits, and a ``-inf``
    entry gets probability exactly 0."""
    return api.softmax(_value(x, "softmax input"), axis=axis)


# ----------------------------------------------------------------------------------------------
# cross-entropy: a fused primitive
# ----------------------------------------------------------------------------------------------


def cross_entropy(logits, labels, reduction="mean", *, weight=None, label_smoothing=0.0):
    """Softmax cross-entropy ``-log softmax(logits)[label]`` (Goodfellow et al. 2016, sec. 6.2.2.3), fused
    and stable.

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
    labels = network.checked_labels(labels, shape_of(logits))
    if reduction == "mean" and labels.size == 0:
        raise ValueError("the mean cross-entropy of an empty batch is undefined; pass samples")
    smoothing = probability(label_smoothing, "label_smoothing")
    if weight is None and smoothing == 0.0:
        return network.softmax_cross_entropy(logits, labels, reduction)
    n_classes = shape_of(logits)[-1]
    weight = _class_weights(weight, n_classes, logits)
    log_probabilities = log_softmax(logits)
    losses = _weighted_picks(log_probabilities, labels, weight)
    if smoothing:
        spread = log_probabilities if weight is None else ew.multiply(log_probabilities, weight)
        uniform = ew.negative(reductions.reduce_sum(spread, axis=-1))
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
    return picked if weight is None else ew.multiply(picked, np.take(weight, labels))


def _weighted_reduce(losses, labels, weight, reduction):
    """torch's reductions of weighted losses: the mean divides by the sum of the labels'
    weights."""
    if reduction != "mean" or weight is None:
        return _reduce(losses, reduction)
    return ew.divide(api.sum(losses), np.take(weight, labels).sum())


def nll_loss(log_probabilities, labels, reduction="mean", *, weight=None):
    """Negative log-likelihood ``-log_probabilities[label]`` per sample (class axis last).

    ``nll_loss(log_softmax(x), y)`` equals ``cross_entropy(x, y)``; the entries are picked by
    indexing, so a ``-inf`` log-probability of another class never meets a zero weight.  Class
    ``weight`` s act as in :func:`cross_entropy` (torch's convention).
    """
    _check_reduction(reduction)
    log_probabilities = _value(log_probabilities, "nll_loss input")
    labels = network.checked_labels(labels, shape_of(log_probabilities))
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
