"""First-order network optimizers with torch.optim's conventions.

Every optimizer takes ``params`` (an iterable of parameter objects, or a list of parameter-group
dicts ``{"params": [...], "lr": ...}`` whose entries override the constructor's defaults) and its
hyper-parameters under torch.optim's names. A parameter object is anything with

* ``.value``: a floating-point ndarray, replaced (never mutated) by each step with a new array of
  the same shape and dtype, so an array that a recorded tape still references stays intact;
* ``.grad``: an ndarray of the same shape (or a float for a 0-d value), or ``None`` when the
  parameter took no part in the loss; such parameters are skipped and get no state.

The updates are exactly torch.optim's (``foreach=False``, ``capturable=False``) and are computed
in the parameter's dtype: a float32 parameter stays float32. Hyper-parameters live in
``optimizer.param_groups`` (plain dicts, which schedules edit); per-parameter state lives in
``optimizer.state``, keyed by ``id(parameter)`` because parameters overload ``==``.
``state_dict()`` holds only NumPy arrays, Python numbers, bools and tuples, so training resumed
after ``load_state_dict`` takes bitwise the same steps.

Notation: ``g`` is the gradient, ``w`` the parameter, ``lr`` the learning rate, ``t`` the number
of steps taken including the current one. Aggarwal (*Neural Networks and Deep Learning*, 2018,
sec. 3.5) writes the learning rate ``alpha``, the gradient ``dL/dW`` and the weights ``W``.

Example (a minimal parameter object stands in for ``ad.nn.Parameter``):

>>> from types import SimpleNamespace
>>> w = SimpleNamespace(value=np.array([1.0, -2.0]), grad=None)
>>> optimizer = SGD([w], lr=0.1, momentum=0.9)
>>> for _ in range(2):
...     optimizer.zero_grad()
...     w.grad = w.value.copy()  # gradient of ||w||^2 / 2
...     optimizer.step()
>>> w.value
array([ 0.72, -1.44])
"""

import math

import numpy as np

from ..validation import flag, nonnegative, probability

__all__ = ["Optimizer", "SGD", "AdaGrad", "RMSProp", "AdaDelta", "Adam", "AdamW"]


# ----------------------------------------------------------------------------------------------
# Hyper-parameter checks: torch.optim's messages, from the shared validators
# ----------------------------------------------------------------------------------------------


def _checked(group, check, name, what=None, **options):
    """Replace ``group[name]`` by ``check``'s converted value (or let it raise ValueError)."""
    group[name] = check(group[name], name, what, **options)


# ----------------------------------------------------------------------------------------------
# Parameters and their gradients
# ----------------------------------------------------------------------------------------------


def _listed(params):
    """``params`` as a list, refusing a lone parameter, an array and an unordered set."""
    if isinstance(params, np.ndarray) or hasattr(params, "value"):
        raise TypeError(
            "params must be an iterable of parameter objects or of parameter-group dicts, got a "
            f"single {type(params).__name__}; wrap it in a list: [param]"
        )
    if isinstance(params, (set, frozenset)):
        raise TypeError(
            "params must be an ordered iterable (a set has no stable order, so state_dict() "
            "could not match parameters); pass a list"
        )
    try:
        return list(params)
    except TypeError:
        raise TypeError(
            "params must be an iterable of parameter objects or of parameter-group dicts, got "
            f"{type(params).__name__}"
        ) from None


def _parameter_list(params):
    """The parameters of one group, checked: each has a floating ndarray ``.value``, no repeats."""
    params = _listed(params)
    if not params:
        raise ValueError("optimizer got an empty parameter list")
    for param in params:
        value = getattr(param, "value", None)
        if not (isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating)):
            raise TypeError(
                "each parameter must have a floating-point ndarray .value and a .grad "
                f"(like ad.nn.Parameter); got {type(param).__name__} with value "
                f"{type(value).__name__}"
                + (f" of dtype {value.dtype}" if isinstance(value, np.ndarray) else "")
            )
    if len({id(param) for param in params}) != len(params):
        raise ValueError("a parameter appears more than once in params; list each parameter once")
    return params


def _gradient(param, value):
    """``param.grad`` as an array of the dtype of ``value`` (``param.value``), after checking its
    type and shape."""
    grad = param.grad
    if type(grad) is np.ndarray and grad.dtype == value.dtype and grad.shape == value.shape:
        return grad  # what a backward pass or a compiled step sets: nothing to convert
    grad = np.asarray(grad)
    if not np.issubdtype(grad.dtype, np.floating):
        raise TypeError(
            f"gradient of a parameter of shape {value.shape} has dtype {grad.dtype}; "
            "gradients must be real floating-point arrays"
        )
    if grad.shape != value.shape:
        raise ValueError(
            f"gradient shape {grad.shape} does not match parameter shape {value.shape}; "
            "the gradient must have exactly the parameter's shape"
        )
    return grad.astype(value.dtype, copy=False)


def _assign(param, value):
    """Give ``param`` its new value (an array; a 0-d update may come back as a NumPy scalar)."""
    param.value = value if type(value) is np.ndarray else np.asarray(value)


def _copy_state(state):
    return {key: np.array(item) if isinstance(item, (np.ndarray, np.generic)) else item
            for key, item in state.items()}


# ----------------------------------------------------------------------------------------------
# The base class
# ----------------------------------------------------------------------------------------------


class Optimizer:
    """Base class: parameter groups, per-parameter state, ``step``, ``zero_grad``, state dicts.

    A subclass provides ``_check_hyperparameters(group)`` (validates and normalises a group's
    hyper-parameters in place), ``_initial_state(value, group)`` (the state of a parameter before
    its first step) and ``_updated(value, grad, state, group)`` (updates ``state`` and returns the
    new value). ``state["step"]`` counts the steps taken, including the current one.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self._check_hyperparameters(self.defaults)
        self.param_groups = []
        self.state = {}
        params = _listed(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        if all(isinstance(item, dict) for item in params):
            groups = params
        elif any(isinstance(item, dict) for item in params):
            raise TypeError("params mixes parameter-group dicts with parameters; use one kind")
        else:
            groups = [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a group ``{"params": [...], **hyper-parameters}``; missing entries take defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("a parameter group needs a 'params' entry listing its parameters")
        unknown = sorted(set(param_group) - set(self.defaults) - {"params"})
        if unknown:
            raise ValueError(
                f"unknown hyper-parameter(s) {unknown} for {type(self).__name__}; "
                f"expected some of {sorted(self.defaults)}"
            )
        params = _parameter_list(param_group["params"])
        taken = {id(param) for group in self.param_groups for param in group["params"]}
        if any(id(param) in taken for param in params):
            raise ValueError("some parameters appear in more than one parameter group")
        group = {**self.defaults, **param_group}
        self._check_hyperparameters(group)
        group["params"] = params
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Set every parameter's ``.grad`` to ``None`` (or to zeros with ``set_to_none=False``)."""
        for group in self.param_groups:
            for param in group["params"]:
                if set_to_none:
                    param.grad = None
                elif param.grad is not None:
                    param.grad = np.zeros_like(param.value)

    def step(self, closure=None):
        """Update every parameter that has a gradient; return ``closure()`` (or ``None``).

        ``closure`` re-evaluates the loss and sets the gradients; it is called before the update.
        """
        loss = None
        if closure is not None:
            if not callable(closure):
                raise TypeError(f"closure must be callable, got {type(closure).__name__}")
            loss = closure()
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _prepared(self, group):
        """``(param, value, grad, state)`` for every parameter of ``group`` that has a gradient: the
        gradient checked, cast to the parameter's dtype and negated under ``maximize``; the state
        made at the first step, its ``"step"`` counting this one."""
        states, maximize, entries = self.state, group["maximize"], []
        for param in group["params"]:
            if param.grad is None:
                continue
            value = param.value
            grad = _gradient(param, value)
            if maximize:
                grad = -grad
            state = states.get(id(param))
            if state is None:
                state = states[id(param)] = self._initial_state(value, group)
            entries.append((param, value, grad, state))
        for entry in entries:  # every gradient passed its checks
            entry[3]["step"] += 1
        return entries

    def _step_group(self, group):
        """Update the parameters of one group, each by :meth:`_updated`."""
        for param, value, grad, state in self._prepared(group):
            _assign(param, self._updated(value, grad, state, group))

    def state_dict(self):
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``.

        Parameters are numbered in the order of ``param_groups``; arrays are copies.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            indices = []
            for param in group["params"]:
                index[id(param)] = len(index)
                indices.append(index[id(param)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": indices})
        state = {index[key]: _copy_state(item) for key, item in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and state saved by ``state_dict()`` (checked before use)."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has {len(saved_groups)} parameter groups, this optimizer has "
                f"{len(self.param_groups)}"
            )
        groups = []
        by_index = {}
        for saved, own in zip(saved_groups, self.param_groups):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(
                    f"a loaded parameter group has {len(saved['params'])} parameters, the "
                    f"matching group of this optimizer has {len(own['params'])}"
                )
            group = {k: v for k, v in saved.items() if k != "params"}
            if set(group) != set(self.defaults):
                raise ValueError(
                    f"loaded hyper-parameters {sorted(group)} are not those of "
                    f"{type(self).__name__}: {sorted(self.defaults)}"
                )
            self._check_hyperparameters(group)
            group["params"] = own["params"]
            groups.append(group)
            for index, param in zip(saved["params"], own["params"]):
                by_index[index] = (param, group)
        state = {}
        for index, saved in state_dict["state"].items():
            if index not in by_index:
                raise ValueError(f"loaded state refers to parameter {index!r}, which is not listed")
            param, group = by_index[index]
            state[id(param)] = self._restored_state(saved, param.value, group, index)
        self.param_groups = groups
        self.state = state

    def _restored_state(self, saved, value, group, index):
        expected = self._initial_state(value, group)
        if set(saved) != set(expected):
            raise ValueError(
                f"loaded state of parameter {index} has entries {sorted(saved)}; "
                f"{type(self).__name__} with these hyper-parameters keeps {sorted(expected)}"
            )
        restored = {}
        for key, item in saved.items():
            if key == "step":
                restored[key] = int(item)
            elif item is None:
                restored[key] = None
            else:
                array = np.array(item, dtype=value.dtype)
                if array.shape != value.shape:
                    raise ValueError(
                        f"loaded state {key!r} of parameter {index} has shape {array.shape}, "
                        f"the parameter has shape {value.shape}"
                    )
                restored[key] = array
        return restored

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for number, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {number}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])


# ----------------------------------------------------------------------------------------------
# The optimizers
# ----------------------------------------------------------------------------------------------


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay.

    ``SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
    *, maximize=False)``. Each step (exactly torch.optim.SGD)::

        g <- g + weight_decay * w
        b <- g                                  at the first step   (if momentum != 0)
        b <- momentum * b + (1 - dampening) * g at later steps
        g <- g + momentum * b   if nesterov else   g <- b
        w <- w - lr * g

    Aggarwal (2018, sec. 3.5.2) writes momentum as ``V <- beta V - alpha dL/dW;  W <- W + V`` with ``V = 0`` at
    the start. With ``dampening = 0`` and a constant learning rate this is the same iteration:
    ``beta = momentum``, ``alpha = lr`` and ``V = -lr * b`` (the first step gives
    ``V = -alpha g = -lr b`` in both). torch keeps ``b`` in gradient units, so under a
    learning-rate schedule the current ``lr`` scales the whole buffer, while Aggarwal's ``V``
    keeps the rates it was built with.

    Aggarwal's Nesterov momentum (sec. 3.5.2.1) evaluates the gradient at the look-ahead point ``W + beta V``.
    torch (after Sutskever et al. 2013) tracks that look-ahead point ``w = W + beta V`` itself,
    where that update becomes ``b <- momentum b + g;  w <- w - lr (g + momentum b)``,
    ``g`` being the gradient at the tracked point: the ``nesterov=True`` branch above.
    Nesterov needs ``momentum > 0`` and ``dampening = 0``.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False):
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize}
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group):
        _checked(group, nonnegative, "lr", "learning rate")
        _checked(group, nonnegative, "momentum", "momentum value")
        _checked(group, probability, "dampening", "dampening value")
        _checked(group, nonnegative, "weight_decay", "weight_decay value")
        _checked(group, flag, "nesterov")
        _checked(group, flag, "maximize")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _initial_state(self, value, group):
        if group["momentum"] != 0:
            return {"step": 0, "momentum_buffer": None}
        return {"step": 0}

    def _updated(self, value, grad, state, group):
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * value
        momentum = group["momentum"]
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = grad.copy()
            else:
                buffer = momentum * buffer + (1 - group["dampening"]) * grad
            state["momentum_buffer"] = buffer
            grad = grad + momentum * buffer if group["nesterov"] else buffer
        return value - group["lr"] * grad


class AdaGrad(Optimizer):
    r"""AdaGrad (Duchi, Hazan and Singer 2011), torch.optim.Adagrad's update.

    ``AdaGrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
    eps=1e-10, *, maximize=False)``. Each step, at step number ``t = 1, 2, ...``::

        g   <- g + weight_decay * w
        clr  = lr / (1 + (t - 1) * lr_decay)
        A   <- A + g * g                        (A starts at initial_accumulator_value)
        w   <- w - clr * g / (sqrt(A) + eps)

    Aggarwal (2018, sec. 3.5.3.1): ``A_i <- A_i + (dL/dw_i)^2;  w_i <- w_i - alpha / sqrt(A_i) *
    dL/dw_i``, with the remark to use ``sqrt(A_i + eps)`` against ill-conditioning. Here
    ``alpha = clr`` and ``eps`` is added *after* the square root (torch's choice), so the two
    regularisations agree only up to O(eps). ``clr`` is Aggarwal's inverse decay (sec. 3.5.1)
    ``alpha_t = alpha_0 / (1 + k t)`` with ``k = lr_decay`` and ``t`` counted from 0.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, *, maximize=False):
        defaults = {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "eps": eps,
                    "maximize": maximize}
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group):
        _checked(group, nonnegative, "lr", "learning rate")
        _checked(group, nonnegative, "lr_decay", "lr_decay value")
        _checked(group, nonnegative, "weight_decay", "weight_decay value")
        _checked(group, nonnegative, "initial_accumulator_value",
                 "initial_accumulator_value value")
        _checked(group, nonnegative, "eps", "epsilon value")
        _checked(group, flag, "maximize")

    def _initial_state(self, value, group):
        return {"step": 0, "sum": np.full_like(value, group["initial_accumulator_value"])}

    def _updated(self, value, grad, state, group):
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * value
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] = state["sum"] + grad * grad
        return value - clr * (grad / (np.sqrt(state["sum"]) + group["eps"]))


class RMSProp(Optimizer):
    r"""RMSProp (Tieleman and Hinton 2012), optionally centred, with momentum; torch.optim.RMSprop.

    ``RMSProp(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
    centered=False, *, maximize=False)``. Each step::

        g   <- g + weight_decay * w
        A   <- alpha * A + (1 - alpha) * g * g               (A starts at 0)
        G   <- alpha * G + (1 - alpha) * g                   (centered only; G starts at 0)
        d    = sqrt(A - G * G) + eps   if centered   else   sqrt(A) + eps
        b   <- momentum * b + g / d;   w <- w - lr * b       if momentum > 0 (b starts at 0)
        w   <- w - lr * g / d                                 otherwise

    Aggarwal (2018, sec. 3.5.3.2): ``A_i <- rho A_i + (1 - rho)(dL/dw_i)^2;  w_i <- w_i - alpha /
    sqrt(A_i) * dL/dw_i`` with ``rho = alpha`` (torch's name for the smoothing constant, not the
    learning rate), Aggarwal's ``alpha = lr``, and ``eps`` added after the square root rather than
    inside it. ``centered`` divides by an estimate of the gradient's standard deviation instead
    of its root mean square (Graves 2013). ``momentum`` is classical momentum on the scaled
    step: with ``V = -lr * b`` it is Aggarwal's ``V <- beta V - alpha g / sqrt(A);  W <- W + V``;
    his RMSProp with *Nesterov* momentum (sec. 3.5.3.3) evaluates the gradient at the
    look-ahead point, which this class does not do.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, maximize=False):
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                    "momentum": momentum, "centered": centered, "maximize": maximize}
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group):
        _checked(group, nonnegative, "lr", "learning rate")
        _checked(group, probability, "alpha", "alpha value")
        _checked(group, nonnegative, "eps", "epsilon value")
        _checked(group, nonnegative, "weight_decay", "weight_decay value")
        _checked(group, nonnegative, "momentum", "momentum value")
        _checked(group, flag, "centered")
        _checked(group, flag, "maximize")

    def _initial_state(self, value, group):
        state = {"step": 0, "square_avg": np.zeros_like(value)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(value)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(value)
        return state

    def _updated(self, value, grad, state, group):
        alpha = group["alpha"]
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * value
        state["square_avg"] = alpha * state["square_avg"] + (1 - alpha) * (grad * grad)
        if group["centered"]:
            state["grad_avg"] = alpha * state["grad_avg"] + (1 - alpha) * grad
            # A - G*G >= 0 in exact arithmetic (Jensen); clamp the rounding error that could
            # otherwise make it a tiny negative number and the square root NaN.
            variance = np.maximum(state["square_avg"] - state["grad_avg"] ** 2, 0)
            denominator = np.sqrt(variance) + group["eps"]
        else:
            denominator = np.sqrt(state["square_avg"]) + group["eps"]
        if group["momentum"] > 0:
            state["momentum_buffer"] = (group["momentum"] * state["momentum_buffer"]
                                        + grad / denominator)
            return value - group["lr"] * state["momentum_buffer"]
        return value - group["lr"] * (grad / denominator)


class AdaDelta(Optimizer):
    r"""AdaDelta (Zeiler 2012, Algorithm 1), scaled by ``lr``; torch.optim.Adadelta's update.

    ``AdaDelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, *, maximize=False)``.
    Each step::

        g    <- g + weight_decay * w
        E_g  <- rho * E_g + (1 - rho) * g * g                      (E_g, E_dx start at 0)
        dx    = sqrt(E_dx + eps) / sqrt(E_g + eps) * g
        E_dx <- rho * E_dx + (1 - rho) * dx * dx
        w    <- w - lr * dx

    Zeiler's ``E[g^2]``, ``E[dx^2]`` and ``RMS[y] = sqrt(E[y^2] + eps)`` give ``Delta x =
    -RMS[dx]_{t-1} / RMS[g]_t * g``; with ``lr = 1`` (the default) this is his algorithm
    exactly. Aggarwal (2018, sec. 3.5.3.4) describes AdaDelta as RMSProp whose learning rate is replaced by the
    exponentially smoothed size of the previous increments ``sqrt(E_dx)``.
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, *, maximize=False):
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize}
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group):
        _checked(group, nonnegative, "lr", "learning rate")
        _checked(group, probability, "rho", "rho value")
        _checked(group, nonnegative, "eps", "epsilon value")
        _checked(group, nonnegative, "weight_decay", "weight_decay value")
        _checked(group, flag, "maximize")

    def _initial_state(self, value, group):
        return {"step": 0, "square_avg": np.zeros_like(value), "acc_delta": np.zeros_like(value)}

    def _updated(self, value, grad, state, group):
        rho, eps = group["rho"], group["eps"]
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * value
        state["square_avg"] = rho * state["square_avg"] + (1 - rho) * (grad * grad)
        delta = np.sqrt(state["acc_delta"] + eps) / np.sqrt(state["square_avg"] + eps) * grad
        state["acc_delta"] = rho * state["acc_delta"] + (1 - rho) * (delta * delta)
        return value - group["lr"] * delta


class Adam(Optimizer):
    r"""Adam (Kingma and Ba 2015), with optional AMSGrad; torch.optim.Adam's update.

    ``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
    *, maximize=False)``. Each step, at step number ``t = 1, 2, ...``::

        g     <- g + weight_decay * w                  (L2 penalty folded into the gradient)
        m     <- beta1 * m + (1 - beta1) * g           (m, v start at 0)
        v     <- beta2 * v + (1 - beta2) * g * g
        v_max <- max(v_max, v)   and use v_max for v below        (amsgrad only)
        w     <- w - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    which is the paper's ``m_hat = m / (1 - beta1^t)``, ``v_hat = v / (1 - beta2^t)``,
    ``w <- w - lr * m_hat / (sqrt(v_hat) + eps)``: bias-corrected, ``eps`` added to
    ``sqrt(v_hat)``. In Aggarwal's words (2018, sec. 3.5.3.5) Adam is RMSProp (``A_i`` is ``v`` with ``rho = beta2``)
    applied to exponentially smoothed gradients ``m`` instead of raw ones, with ``alpha = lr``.
    """

    _decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize}
        self._flats = {}  # id(group) -> _FlatMoments of its small parameters
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group):
        _checked(group, nonnegative, "lr", "learning rate")
        _checked(group, nonnegative, "eps", "epsilon value")
        betas = group["betas"]
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        group["betas"] = tuple(
            probability(betas[index], f"betas[{index}]", f"beta parameter at index {index}",
                        allow_one=False)
            for index in (0, 1)
        )
        _checked(group, nonnegative, "weight_decay", "weight_decay value")
        _checked(group, flag, "amsgrad")
        _checked(group, flag, "maximize")

    def _initial_state(self, value, group):
        state = {"step": 0, "exp_avg": np.zeros_like(value), "exp_avg_sq": np.zeros_like(value)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(value)
        return state

    def _updated(self, value, grad, state, group):
        lr, decay = group["lr"], group["weight_decay"]
        if decay != 0 and not self._decoupled_weight_decay:
            grad = grad + decay * value
        work = _adam_step(grad, state, group, state["step"])
        if decay != 0 and self._decoupled_weight_decay:
            value = value * (1 - lr * decay)
        return np.subtract(value, work, out=work)  # a new array: the value a tape holds stays

    def _step_group(self, group):
        """Update the group's parameters, the small ones together (:class:`_FlatMoments`)."""
        entries = self._prepared(group)
        together = _alike([entry for entry in entries if entry[1].size <= FLAT_MAX_SIZE])
        if len(together) > 1:
            self._flat_moments(group, together).update(
                together, group, self._decoupled_weight_decay)
            if len(together) == len(entries):
                return
            done = {id(entry[0]) for entry in together}
            entries = [entry for entry in entries if id(entry[0]) not in done]
        for param, value, grad, state in entries:
            _assign(param, self._updated(value, grad, state, group))

    def _flat_moments(self, group, entries):
        """The group's :class:`_FlatMoments` for ``entries``: the one kept while their states
        hold its views, else a new one."""
        flat = self._flats.get(id(group))
        if flat is None or not flat.holds(entries):
            live = {id(known) for known in self.param_groups}  # forget replaced groups
            self._flats = {key: kept for key, kept in self._flats.items() if key in live}
            flat = self._flats[id(group)] = _FlatMoments(entries, entries[0][1].dtype)
        return flat


def _alike(entries):
    """The largest set of ``(param, value, grad, state)`` entries whose parameters share a dtype and a
    step count (so the same scalars update them): all of them, unless some parameter skipped a
    step (no gradient) or the group mixes dtypes."""
    if len(entries) < 2:
        return entries
    dtype, step = entries[0][1].dtype, entries[0][3]["step"]
    for _, value, _, state in entries:
        if value.dtype != dtype or state["step"] != step:
            break
    else:
        return entries
    kinds = {}
    for entry in entries:
        kinds.setdefault((entry[1].dtype, entry[3]["step"]), []).append(entry)
    return max(kinds.values(), key=len)


#: Parameters of at most this many elements share :class:`_FlatMoments` in ``Adam.step``.
FLAT_MAX_SIZE = 2**14


def _adam_step(grad, state, group, step, work=None):
    """Update Adam's moments in ``state`` in place and return the step
    ``lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)`` in ``work`` (a new
    array when ``None``), which holds every temporary on the way.

    The operations and their order are those of ``m <- beta1 * m + (1 - beta1) * g``,
    ``v <- beta2 * v + ((g * g) * (1 - beta2))`` (``v_max <- max(v_max, v)`` with AMSGrad) and
    ``step_size * (m / (sqrt(v) / sqrt(1 - beta2**t) + eps))``: the bits of these expressions,
    with no array allocated but ``work``.
    """
    beta1, beta2 = group["betas"]
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    work = np.multiply(grad, 1 - beta1, out=work)
    if type(work) is not np.ndarray:  # a 0-d parameter: NumPy returned a scalar
        work = np.array(work)
    exp_avg *= beta1
    exp_avg += work
    np.multiply(grad, grad, out=work)
    work *= 1 - beta2
    exp_avg_sq *= beta2
    exp_avg_sq += work
    second_moment = exp_avg_sq
    if group["amsgrad"]:
        second_moment = np.maximum(state["max_exp_avg_sq"], exp_avg_sq,
                                   out=state["max_exp_avg_sq"])
    np.sqrt(second_moment, out=work)
    work /= math.sqrt(1 - beta2**step)
    work += group["eps"]
    np.divide(exp_avg, work, out=work)
    work *= group["lr"] / (1 - beta1**step)
    return work


class _FlatMoments:
    """Adam's moments of several parameters in one array each; the parameters' states hold
    views of them, so one update of the flat arrays updates them all.

    The update is elementwise, with the same scalars for every parameter (the same
    hyper-parameters and step count), so running it once over the concatenated gradients gives
    each parameter the bits of its own update; ~12 NumPy calls per step instead of ~12 per
    parameter (small parameters, the biases, cost as many calls as large ones).  This is the
    idea of torch's multi-tensor ("foreach") optimizers.  The flat gradient and the step are
    two arrays kept for the next step; the new values are new arrays, one per parameter.
    """

    def __init__(self, entries, dtype):
        keys = [key for key in entries[0][3] if key != "step"]
        bounds = np.cumsum([0, *[value.size for _, value, _, _ in entries]]).tolist()
        self.ids = [id(param) for param, _, _, _ in entries]
        self.moments = {}
        for key in keys:  # the moments so far, concatenated; the states get views of them
            flat = self.moments[key] = np.concatenate(
                [state[key] for _, _, _, state in entries], axis=None).astype(dtype, copy=False)
            for (_, value, _, state), start, stop in zip(entries, bounds, bounds[1:]):
                state[key] = flat[start:stop].reshape(value.shape)
        self.views = [[(key, state[key], flat) for key, flat in self.moments.items()]
                      for _, _, _, state in entries]
        self.grad = np.empty(bounds[-1], dtype)
        self.work = np.empty(bounds[-1], dtype)
        self.steps = [self.work[start:stop].reshape(value.shape)
                      for (_, value, _, _), start, stop in zip(entries, bounds, bounds[1:])]

    def holds(self, entries) -> bool:
        """Whether ``entries`` are this layout's parameters, in order, their states its views."""
        if len(entries) != len(self.ids):
            return False
        for (param, _, _, state), known, views in zip(entries, self.ids, self.views):
            if id(param) != known:
                return False
            for key, view, flat in views:
                if state.get(key) is not view or view.base is not flat:
                    return False  # a state loaded or copied since: concatenate it again
        return True

    def update(self, entries, group, decoupled):
        """One Adam step of every parameter in ``entries`` (:func:`_adam_step` on the flat
        arrays); each parameter gets a new array."""
        np.concatenate([entry[2] for entry in entries], axis=None, out=self.grad)
        decay = group["weight_decay"]
        if decay != 0 and not decoupled:  # g + decay * w, as in Adam._updated
            np.concatenate([entry[1] for entry in entries], axis=None, out=self.work)
            self.work *= decay
            self.grad += self.work
        _adam_step(self.grad, self.moments, group, entries[0][3]["step"], self.work)
        shrink = 1 - group["lr"] * decay if decay != 0 and decoupled else None
        for (param, value, _, _), step in zip(entries, self.steps):
            if shrink is not None:
                value = value * shrink
            _assign(param, np.subtract(value, step))


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov and Hutter 2019); torch.optim.AdamW.

    ``AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
    *, maximize=False)``. Each step first shrinks the weights, then takes the Adam step of
    :class:`Adam` with ``weight_decay = 0`` (the gradient is left alone)::

        w <- w * (1 - lr * weight_decay)
        w <- w - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Adam's L2 penalty is divided by ``sqrt(v_hat)`` like the rest of the gradient; the
    decoupled shrinkage is not, so every weight decays at the same relative rate
    ``lr * weight_decay`` per step (for plain SGD both are the same thing).
    """

    _decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)
