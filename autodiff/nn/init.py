"""``ad.nn.init``: weight initialisations, drawn from a ``numpy.random.Generator``.

Each function draws new values for a :class:`~autodiff.nn.Parameter` in its dtype, assigns them
to ``param.value`` (in place, as the trailing underscore says, like ``torch.nn.init``) and
returns the parameter.  ``rng`` is a ``numpy.random.Generator``, an integer seed, or ``None``
for fresh entropy.

For a weight of shape ``(out, in)`` the fans are ``fan_in = in`` (Glorot & Bengio's ``n_j``,
Aggarwal's ``r``) and ``fan_out = out`` (``n_{j+1}``); for more axes (convolutions) both are
multiplied by the size of the trailing "receptive field" axes, as in torch.

* :func:`xavier_uniform_` -- ``U(-sqrt(6/(m+n)), sqrt(6/(m+n)))`` (Glorot & Bengio, "Understanding
  the difficulty of training deep feedforward neural networks", 2010, eq. 16), variance
  ``2/(m+n)`` balancing activations and gradients across layers;
* :func:`xavier_normal_` -- the same variance from a Gaussian, ``std = sqrt(2/(m+n))`` (the
  "more sophisticated" rule ``sqrt(2/(r_in + r_out))`` of Aggarwal, *Neural Networks and Deep
  Learning*, 2018, sec. 3.3.3);
* :func:`kaiming_normal_` -- Aggarwal (2018, sec. 3.3.3): ``std = sqrt(2/r)`` for ReLU layers
  (He et al. 2015);
* :func:`zeros_`, :func:`normal_`, :func:`uniform_` -- constants and plain draws (biases are
  usually 0; Goodfellow et al., *Deep Learning*, 2016, sec. 8.4).

>>> import numpy as np, autodiff as ad
>>> layer = ad.nn.Linear(200, 300, rng=0)
>>> _ = ad.nn.init.xavier_uniform_(layer.weight, rng=0)
>>> bool(np.abs(layer.weight.value).max() <= np.sqrt(6 / (200 + 300)))
True
>>> _ = ad.nn.init.zeros_(layer.bias)
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..validation import choice, nonnegative, real
from .module import Parameter

__all__ = [
    "calculate_fans",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "zeros_",
    "normal_",
    "uniform_",
    "as_generator",
]


def as_generator(rng) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a Generator, an integer seed or ``None``."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(
        f"rng must be a numpy.random.Generator, an integer seed or None, got {type(rng).__name__}"
    )


def _target(param):
    if not isinstance(param, Parameter):
        raise TypeError(
            f"initialisers act on an ad.nn.Parameter (assigning its .value), got "
            f"{type(param).__name__}; wrap arrays in ad.nn.Parameter"
        )
    return param.value


def _assign(param, sample):
    value = param.value
    param.value = np.asarray(sample, dtype=value.dtype).reshape(value.shape)
    return param


def calculate_fans(shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of shape ``(out, in, *receptive_field)``."""
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(
            f"fan in and fan out need a weight with at least 2 axes (out, in), got shape {shape}; "
            "initialise biases with zeros_ or uniform_"
        )
    receptive = int(np.prod(shape[2:], dtype=int))
    return shape[1] * receptive, shape[0] * receptive


def xavier_uniform_(param, gain=1.0, rng=None):
    """``U(-a, a)`` with ``a = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio 2010, eq. 16)."""
    value = _target(param)
    fan_in, fan_out = calculate_fans(value.shape)
    bound = nonnegative(gain, "gain") * math.sqrt(6.0 / (fan_in + fan_out))
    return _assign(param, as_generator(rng).uniform(-bound, bound, value.shape))


def xavier_normal_(param, gain=1.0, rng=None):
    """``N(0, std^2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    value = _target(param)
    fan_in, fan_out = calculate_fans(value.shape)
    std = nonnegative(gain, "gain") * math.sqrt(2.0 / (fan_in + fan_out))
    return _assign(param, as_generator(rng).normal(0.0, std, value.shape))


def _kaiming_std(shape, a, mode) -> float:
    mode = choice(mode, "mode", ("fan_in", "fan_out"))
    fan_in, fan_out = calculate_fans(shape)
    fan = fan_in if mode == "fan_in" else fan_out
    a = real(a, "a", "negative slope")
    return math.sqrt(2.0 / ((1.0 + a * a) * fan))


def kaiming_normal_(param, a=0.0, mode="fan_in", rng=None):
    """``N(0, std^2)`` with ``std = sqrt(2 / r)`` (He et al. 2015, for ReLU layers), ``r = fan_in``.

    ``a`` is the negative slope of a following leaky ReLU (``std = sqrt(2 / ((1 + a^2) r))``);
    ``mode="fan_out"`` uses ``r = fan_out`` (preserves gradient variance in the backward pass).
    """
    value = _target(param)
    std = _kaiming_std(value.shape, a, mode)
    return _assign(param, as_generator(rng).normal(0.0, std, value.shape))


def kaiming_uniform_(param, a=0.0, mode="fan_in", rng=None):
    """``U(-b, b)`` with the variance of :func:`kaiming_normal_`: ``b = sqrt(3) * std``.

    torch's default ``Linear`` weight is ``kaiming_uniform_(a=sqrt(5))``, i.e.
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.
    """
    value = _target(param)
    bound = math.sqrt(3.0) * _kaiming_std(value.shape, a, mode)
    return _assign(param, as_generator(rng).uniform(-bound, bound, value.shape))


def zeros_(param):
    """All zeros (biases; Goodfellow et al., *Deep Learning*, 2016, sec. 8.4)."""
    value = _target(param)
    return _assign(param, np.zeros(value.shape, dtype=value.dtype))


def normal_(param, mean=0.0, std=1.0, rng=None):
    """``N(mean, std^2)`` draws (``std = 1`` is the "naive" initialisation that saturates deep
    sigmoid networks)."""
    value = _target(param)
    return _assign(param, as_generator(rng).normal(mean, nonnegative(std, "std"), value.shape))


def uniform_(param, a=0.0, b=1.0, rng=None):
    """``U(a, b)`` draws."""
    value = _target(param)
    if not a < b:
        raise ValueError(f"uniform_ needs a < b, got a={a!r}, b={b!r}")
    return _assign(param, as_generator(rng).uniform(a, b, value.shape))
