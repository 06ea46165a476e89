"""Learning-rate schedules in the style of ``torch.optim.lr_scheduler``.

A schedule owns a counter ``t`` (``last_epoch``), starting at 0 when it is built. Each call to
``step()`` — usually once per epoch, after the epoch's ``optimizer.step()`` calls — increments
``t`` and sets every parameter group's learning rate to

    lr_t = base_lr * factor(t),

``base_lr`` being the group's learning rate when the schedule was built. This is the closed
form (torch's ``_get_closed_form_lr``): the rate depends on ``t`` alone, so a resumed schedule
reproduces it exactly; torch's chainable ``step()`` multiplies the current rate instead and
agrees up to rounding. Aggarwal (*Neural Networks and Deep Learning*, 2018, sec. 3.5.1) writes ``alpha_t`` for ``lr_t`` and
``alpha_0`` for ``base_lr``.

>>> from types import SimpleNamespace
>>> import numpy as np
>>> from autodiff.optim.first_order import SGD
>>> w = SimpleNamespace(value=np.zeros(2), grad=None)
>>> schedule = StepLR(SGD([w], lr=1.0), step_size=2, gamma=0.5)
>>> lrs = []
>>> for epoch in range(5):
...     lrs += schedule.get_last_lr()
...     schedule.step()
>>> lrs
[1.0, 1.0, 0.5, 0.5, 0.25]
"""

import abc

from ..validation import nonnegative, nonnegative_int, positive_float, positive_int

__all__ = ["LRScheduler", "ExponentialLR", "InverseDecayLR", "StepLR"]


class LRScheduler(abc.ABC):
    """Base class: sets each group's ``lr`` to ``base_lr * self.factor(t)`` at ``t = 0, 1, ...``.

    Subclasses name their hyper-parameters in ``_hyperparameter_names`` and validate them in
    ``_set_hyperparameters``; ``state_dict()`` saves them with the counter and base rates.
    """

    _hyperparameter_names = ()

    def __init__(self, optimizer):
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(
                f"a schedule needs an optimizer with param_groups, got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        self.base_lrs = [float(group["lr"]) for group in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()

    @abc.abstractmethod
    def factor(self, epoch):
        """The multiplier of the base learning rates after ``epoch`` calls to ``step()``."""

    @abc.abstractmethod
    def _set_hyperparameters(self, **hyperparameters):
        """Validate the schedule's hyper-parameters and store them as attributes."""

    def step(self):
        """Advance the counter by one and set the optimizer's learning rates."""
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self):
        """The learning rates set by the latest ``step()`` (or by construction), one per group."""
        return list(self._last_lr)

    def _apply(self):
        factor = self.factor(self.last_epoch)
        self._last_lr = [base_lr * factor for base_lr in self.base_lrs]
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr

    def state_dict(self):
        """``{"last_epoch": int, "base_lrs": [float, ...], <hyper-parameters>}``."""
        state = {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}
        state.update({name: getattr(self, name) for name in self._hyperparameter_names})
        return state

    def load_state_dict(self, state_dict):
        """Restore a ``state_dict()`` and set the optimizer's learning rates accordingly."""
        expected = {"last_epoch", "base_lrs", *self._hyperparameter_names}
        if set(state_dict) != expected:
            raise ValueError(
                f"{type(self).__name__} state dict needs the entries {sorted(expected)}, "
                f"got {sorted(state_dict)}"
            )
        base_lrs = [float(lr) for lr in state_dict["base_lrs"]]
        if len(base_lrs) != len(self.optimizer.param_groups):
            raise ValueError(
                f"loaded schedule has {len(base_lrs)} base learning rates, the optimizer has "
                f"{len(self.optimizer.param_groups)} parameter groups"
            )
        last_epoch = nonnegative_int(state_dict["last_epoch"], "last_epoch")
        self._set_hyperparameters(
            **{name: state_dict[name] for name in self._hyperparameter_names}
        )
        self.base_lrs = base_lrs
        self.last_epoch = last_epoch
        self._apply()


class ExponentialLR(LRScheduler):
    """Exponential decay ``lr_t = base_lr * gamma**t`` (torch.optim.lr_scheduler.ExponentialLR).

    Aggarwal's exponential decay ``alpha_t = alpha_0 exp(-k t)`` is ``gamma = exp(-k)``.
    """

    _hyperparameter_names = ("gamma",)

    def __init__(self, optimizer, gamma):
        self._set_hyperparameters(gamma=gamma)
        super().__init__(optimizer)

    def _set_hyperparameters(self, gamma):
        self.gamma = positive_float(gamma, "gamma", "gamma value")

    def factor(self, epoch):
        return self.gamma**epoch


class InverseDecayLR(LRScheduler):
    """Inverse (inverse-time) decay ``lr_t = base_lr / (1 + lr_decay * t)``.

    Aggarwal's inverse decay ``alpha_t = alpha_0 / (1 + k t)`` with ``k = lr_decay``; the name
    is torch's for the same ``k`` inside ``Adagrad``. torch has no scheduler of its own for it
    (``LambdaLR(optimizer, lambda t: 1 / (1 + k * t))`` gives the same rates).
    """

    _hyperparameter_names = ("lr_decay",)

    def __init__(self, optimizer, lr_decay):
        self._set_hyperparameters(lr_decay=lr_decay)
        super().__init__(optimizer)

    def _set_hyperparameters(self, lr_decay):
        self.lr_decay = nonnegative(lr_decay, "lr_decay", "lr_decay value")

    def factor(self, epoch):
        return 1.0 / (1.0 + self.lr_decay * epoch)


class StepLR(LRScheduler):
    """Step decay ``lr_t = base_lr * gamma**(t // step_size)`` (torch's ``StepLR``).

    The learning rate is multiplied by ``gamma`` every ``step_size`` calls to ``step()``: the
    piecewise-constant counterpart of Aggarwal's exponential decay.
    """

    _hyperparameter_names = ("step_size", "gamma")

    def __init__(self, optimizer, step_size, gamma=0.1):
        self._set_hyperparameters(step_size=step_size, gamma=gamma)
        super().__init__(optimizer)

    def _set_hyperparameters(self, step_size, gamma):
        self.step_size = positive_int(step_size, "step_size", "step_size value")
        self.gamma = positive_float(gamma, "gamma", "gamma value")

    def factor(self, epoch):
        return self.gamma ** (epoch // self.step_size)
