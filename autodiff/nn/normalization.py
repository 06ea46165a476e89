"""Normalisation layers: batch normalisation (with running statistics) and layer normalisation.

Batch normalisation (Ioffe and Szegedy, "Batch Normalization: Accelerating Deep Network Training
by Reducing Internal Covariate Shift", ICML 2015, Algorithm 1) standardises every channel with
the mean and (biased) variance of the mini-batch, over the samples and every spatial position,

    y = gamma * (x - mu_B) / sqrt(sigma_B^2 + eps) + beta,

and keeps exponential running averages of the statistics for evaluation (Algorithm 2):

    running_mean <- (1 - momentum) running_mean + momentum mu_B
    running_var  <- (1 - momentum) running_var  + momentum sigma_B^2 n / (n - 1),

with the *unbiased* variance (``n = N * H * W`` values per channel), as torch does.  In
``train()`` mode the layer normalises with the batch's statistics; in ``eval()`` mode with the
running ones.  The running statistics are buffers: computed from primal values only, updated once
per plain call in training mode, and never while module state is held (inside a transform,
:func:`~autodiff.nn.functional_call`, ``check_grads``; see
:func:`autodiff.levels.hold_module_state`), so derivatives see one fixed function.

Layer normalisation (Ba, Kiros and Hinton, "Layer Normalization", 2016) standardises each sample
over its trailing ``normalized_shape`` axes instead; it has no running statistics.

>>> import numpy as np, autodiff as ad
>>> bn = ad.nn.BatchNorm2d(3)
>>> x = np.random.default_rng(0).normal(2.0, 3.0, size=(4, 3, 5, 5))
>>> y = bn(x)
>>> bool(np.allclose(y.mean(axis=(0, 2, 3)), 0.0))
True
>>> bn.running_mean.round(1), int(bn.num_batches_tracked)
(array([0.2, 0.2, 0.2]), 1)
"""

from __future__ import annotations

import numpy as np

from .. import numpy_api as api
from ..levels import held_module_state
from ..rules import elementwise as ew
from ..rules import normalization
from ..rules.primitive import Traced, dtype_of, on_data, primal_value, shape_of
from ..validation import flag, nonnegative, positive_float, positive_int, probability
from ..values import as_float_value
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "batch_norm", "layer_norm"]


def _input(x, what: str):
    return x if isinstance(x, Traced) else as_float_value(x, what)


def _standardize(x, axes, eps):
    """``((x - mu) / sqrt(sigma^2 + eps), mu, sigma^2)``: mean and biased variance over ``axes``
    (kept as size-1 axes), written with primitives."""
    mean = api.mean(x, axis=axes, keepdims=True)
    centred = ew.subtract(x, mean)
    var = api.mean(ew.square(centred), axis=axes, keepdims=True)
    return ew.divide(centred, ew.sqrt(ew.add(var, eps))), mean, var


def _affine(y, weight, bias, shape):
    """``y * weight + bias`` with the per-feature parameters reshaped to broadcast as ``shape``."""
    if weight is not None:
        y = ew.multiply(y, api.reshape(weight, shape))
    if bias is not None:
        y = ew.add(y, api.reshape(bias, shape))
    return y


def batch_norm(x, running_mean=None, running_var=None, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation of ``x`` (``(N, C)`` or ``(N, C, ...)``), as ``torch.nn.functional``.

    With ``training=True`` the batch's mean and biased variance over every axis but the channel
    axis (1) normalise ``x`` (the ``batch_norm`` primitive of :mod:`autodiff.rules.normalization`:
    one node, Ioffe and Szegedy's closed-form derivatives), and ``running_mean``/``running_var``
    (plain arrays, if given) are updated *in place* from the primal statistics: ``(1 - momentum)
    r + momentum s``, with the unbiased variance.  With ``training=False`` the running statistics
    normalise ``x``.
    """
    x = _input(x, "batch_norm input")
    shape = shape_of(x)
    broadcast = (1, shape[1]) + (1,) * (len(shape) - 2)
    if training:
        affine = () if weight is None and bias is None else (
            _or_constant(weight, shape[1], 1.0, x), _or_constant(bias, shape[1], 0.0, x))
        if running_mean is None:
            return normalization.batch_norm(x, *affine, eps=eps)
        # the statistics of the primal values (a recorded step under ad.jit), read by the
        # running averages and handed to the primitive, whose value and VJP reuse them
        statistics = on_data(normalization.batch_statistics, x)
        mean, var = primal_value(statistics)
        count = int(np.prod(shape, dtype=np.int64)) // shape[1]
        running_mean *= 1.0 - momentum
        running_mean += momentum * mean
        running_var *= 1.0 - momentum
        running_var += momentum * var * (count / (count - 1))
        return normalization.batch_norm(x, *affine, eps=eps, statistics=statistics)
    # an affine map per channel, y = x a + c with a = gamma / sqrt(var + eps) and
    # c = beta - mean a: the statistics are constants, so the per-channel vectors are formed
    # first (traced only through gamma and beta) and x meets two operations, not four
    # (primitives throughout: the statistics may be traced, e.g. state_dict() entries handed to
    # functional_call under a transform)
    scale = ew.reciprocal(ew.sqrt(ew.add(running_var, eps)))
    if weight is not None:
        scale = ew.multiply(weight, scale)
    shift = ew.negative(ew.multiply(running_mean, scale))
    if bias is not None:
        shift = ew.add(bias, shift)
    return ew.add(ew.multiply(x, api.reshape(scale, broadcast)), api.reshape(shift, broadcast))


def _or_constant(parameter, channels, fill, like):
    """``parameter``, or the constant ``fill`` per channel in ``like``'s dtype when ``None``."""
    return np.full(channels, fill, dtype=dtype_of(like)) if parameter is None else parameter


class _BatchNorm(Module):
    """Shared body of :class:`BatchNorm1d` and :class:`BatchNorm2d` (they differ in the ranks
    they accept)."""

    _ranks: tuple = ()
    _layout: str = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, dtype=np.float64):
        super().__init__()
        self.num_features = positive_int(num_features, "num_features")
        self.eps = positive_float(eps, "eps", "epsilon value")
        self.momentum = None if momentum is None else probability(momentum, "momentum")
        self.affine = flag(affine, "affine")
        self.track_running_stats = flag(track_running_stats, "track_running_stats")
        dtype = np.dtype(dtype)
        if self.affine:
            self.weight = Parameter(np.ones(self.num_features, dtype=dtype))
            self.bias = Parameter(np.zeros(self.num_features, dtype=dtype))
        else:
            self.weight = self.bias = None
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(self.num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked."""
        if self.track_running_stats:
            self.running_mean = np.zeros_like(self.running_mean)
            self.running_var = np.ones_like(self.running_var)
            self.num_batches_tracked = np.array(0, dtype=np.int64)

    def _check(self, x):
        shape = shape_of(x)
        name = type(self).__name__
        if len(shape) not in self._ranks or shape[1] != self.num_features:
            raise ValueError(
                f"{name}({self.num_features}) expects input of shape {self._layout} with "
                f"C = {self.num_features}, got shape {shape}"
            )
        if self.training:
            per_channel = int(np.prod(shape, dtype=np.int64)) // shape[1]
            if per_channel < 2:
                raise ValueError(
                    f"{name}: expected more than 1 value per channel when training, got input "
                    f"of shape {shape} (use a batch of 2 or more, or call eval())"
                )

    def forward(self, x):
        x = _input(x, f"{type(self).__name__} input")
        self._check(x)
        use_batch = self.training or not self.track_running_stats
        update = self.training and self.track_running_stats and held_module_state() is None
        if not update:
            return batch_norm(x, None if use_batch else self.running_mean,
                              None if use_batch else self.running_var, self.weight, self.bias,
                              use_batch, 0.0, self.eps)
        self.num_batches_tracked = self.num_batches_tracked + 1
        momentum = self.momentum
        if momentum is None:  # cumulative moving average, as torch
            momentum = 1.0 / float(self.num_batches_tracked)
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, True,
                          momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of ``(N, C)`` or ``(N, C, L)`` inputs, per channel ``C``.

    ``weight`` (gamma, ones) and ``bias`` (beta, zeros) of shape ``(C,)``; buffers
    ``running_mean``, ``running_var`` and ``num_batches_tracked`` as in torch.
    """

    _ranks = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of ``(N, C, H, W)`` images, per channel, over ``N * H * W`` values.

    ``weight`` (gamma, ones) and ``bias`` (beta, zeros) of shape ``(C,)``; buffers
    ``running_mean``, ``running_var`` and ``num_batches_tracked`` as in torch.
    """

    _ranks = (4,)
    _layout = "(N, C, H, W)"


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Standardise ``x`` over its trailing axes ``normalized_shape`` (biased variance), then
    scale and shift elementwise by ``weight`` and ``bias`` (of shape ``normalized_shape``)."""
    x = _input(x, "layer_norm input")
    normalized_shape = tuple(normalized_shape)
    shape = shape_of(x)
    if shape[len(shape) - len(normalized_shape):] != normalized_shape:
        raise ValueError(
            f"LayerNorm{normalized_shape} expects input of shape (..., "
            f"{', '.join(map(str, normalized_shape))}), got shape {shape}"
        )
    axes = tuple(range(len(shape) - len(normalized_shape), len(shape)))
    y = _standardize(x, axes, eps)[0]
    return _affine(y, weight, bias, normalized_shape)


class LayerNorm(Module):
    """Layer normalisation over the trailing axes ``normalized_shape`` (Ba et al. 2016).

    ``normalized_shape`` is an int or a tuple; ``weight`` (ones) and ``bias`` (zeros) have that
    shape when ``elementwise_affine`` (``bias=False`` drops the shift), as in torch.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 dtype=np.float64):
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(positive_int(n, "normalized_shape") for n in
                                      normalized_shape)
        self.eps = nonnegative(eps, "eps", "epsilon value")
        self.elementwise_affine = flag(elementwise_affine, "elementwise_affine")
        dtype = np.dtype(dtype)
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
            self.bias = (Parameter(np.zeros(self.normalized_shape, dtype=dtype))
                         if flag(bias, "bias") else None)
        else:
            self.weight = self.bias = None

    def forward(self, x):
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
