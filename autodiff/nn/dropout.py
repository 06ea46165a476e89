"""Dropout (Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from
Overfitting", JMLR 15, 2014, section 4), in its *inverted* form.

In training mode every element is kept with probability ``1 - p`` and scaled by ``1 / (1 - p)``,

    y = x * m / (1 - p),    m_i ~ Bernoulli(1 - p),

so the expected activation is unchanged and evaluation needs no rescaling: in ``eval()`` mode the
layer is the identity.  The mask is drawn from the layer's ``numpy.random.Generator``, one mask
per forward call.  While module state is held (inside a transform, ``functional_call``,
``check_grads`` or a Hessian-free step; see :func:`autodiff.levels.hold_module_state`) the layer
draws its mask once and reuses it, so every evaluation of the function sees the same network.

>>> import numpy as np, autodiff as ad
>>> drop = ad.nn.Dropout(0.5, rng=0)
>>> y = drop(np.ones(8))
>>> sorted(set(y.tolist()))
[0.0, 2.0]
>>> drop.eval()(np.ones(3))
array([1., 1., 1.])
"""

from __future__ import annotations

import numpy as np

from ..levels import held_module_state
from ..rules import elementwise as ew
from ..rules.primitive import Traced, dtype_of, shape_of
from ..validation import probability
from ..values import as_float_value
from .init import as_generator
from .module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """Inverted dropout: zero each element with probability ``p``, scale the rest by
    ``1 / (1 - p)``; the identity in ``eval()`` mode.

    ``p`` lies in ``[0, 1)``; ``rng`` is a ``numpy.random.Generator`` or a seed (``None``: fresh
    entropy).  The mask is a constant of the derivative: ``dy/dx = m / (1 - p)``.
    """

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        self.p = probability(p, "p", "dropout probability", allow_one=False)
        self.rng = as_generator(rng)

    def _mask(self, shape, dtype) -> np.ndarray:
        """``m / (1 - p)`` for input ``shape``: drawn anew, or the held one inside a scope."""
        held = held_module_state()
        key = (self, shape, np.dtype(dtype))
        if held is not None and key in held:
            return held[key]
        keep = self.rng.random(shape) >= self.p
        mask = keep.astype(dtype) / np.asarray(1.0 - self.p, dtype=dtype)
        if held is not None:
            held[key] = mask
        return mask

    def forward(self, x):
        x = x if isinstance(x, Traced) else as_float_value(x, "Dropout input")
        if not self.training or self.p == 0.0:
            return x
        return ew.multiply(x, self._mask(shape_of(x), dtype_of(x)))

    def extra_repr(self) -> str:
        return f"p={self.p}"
