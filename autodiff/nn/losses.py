"""Loss modules: :class:`CrossEntropyLoss`, :class:`NLLLoss`, :class:`MSELoss`, as in torch.

Each holds its options and calls :mod:`autodiff.nn.functional` on ``(input, target)``; the class
axis is the last one (logits ``(N, C)``), labels are 0-based integers.  Class weights are a
buffer (saved in ``state_dict``, converted by ``to()``), as torch registers them.

>>> import numpy as np, autodiff as ad
>>> loss_fn = ad.nn.CrossEntropyLoss(label_smoothing=0.1)
>>> round(float(loss_fn(np.array([[2.0, 0.0, -1.0]]), np.array([0]))), 4)
0.2877
"""

from __future__ import annotations

import numpy as np

from ..validation import choice, probability
from . import functional as F
from .module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss"]

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = choice(reduction, "reduction", _REDUCTIONS)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        self.has_weight = weight is not None
        if self.has_weight:
            self.register_buffer("weight", np.asarray(weight, dtype=np.float64))

    def _weight(self):
        return self.weight if self.has_weight else None


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy of logits ``(N, C)`` against labels ``(N,)``; ``weight`` (one per
    class) and ``label_smoothing`` in ``[0, 1]`` as in torch (see
    :func:`autodiff.nn.functional.cross_entropy`)."""

    def __init__(self, weight=None, reduction="mean", label_smoothing=0.0):
        super().__init__(weight, reduction)
        self.label_smoothing = probability(label_smoothing, "label_smoothing")

    def forward(self, input, target):  # noqa: A002 - torch's argument name
        return F.cross_entropy(input, target, self.reduction, weight=self._weight(),
                               label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, label_smoothing={self.label_smoothing}"


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities ``(N, C)`` against labels ``(N,)``."""

    def forward(self, input, target):  # noqa: A002 - torch's argument name
        return F.nll_loss(input, target, self.reduction, weight=self._weight())


class MSELoss(_Loss):
    """Mean squared error ``(input - target)^2``, averaged, summed or kept."""

    def forward(self, input, target):  # noqa: A002 - torch's argument name
        return F.mse_loss(input, target, self.reduction)
