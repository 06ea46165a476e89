r"""L-BFGS for networks, with torch.optim.LBFGS's closure convention and iteration.

``LBFGS(params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
history_size=100, line_search_fn=None)``; ``step(closure)`` where ``closure()`` clears the
gradients, computes the loss, calls ``loss.backward()`` and returns the loss. One step runs up to
``max_iter`` L-BFGS iterations on the parameters viewed as one flat vector ``x`` (Nocedal and
Wright, *Numerical Optimization*, §7.2)::

    d = -g                                    at the very first iteration
    d = -H g                                  otherwise, H by the two-loop recursion over the
                                              last history_size pairs (s, y), y = g - g_prev,
                                              s = t d_prev, kept when yᵀs > 1e-10
    t = min(1, 1/‖g‖₁) lr  at the first iteration, lr afterwards
    x <- x + t d                              (line_search_fn=None: a fixed step)
    x <- x + t* d                             (line_search_fn="strong_wolfe": t* meets the
                                              strong Wolfe conditions, c₁ = 1e-4, c₂ = 0.9,
                                              searched from t, at most 25 evaluations)

and stops early when ``max|g| <= tolerance_grad``, ``gᵀd > -tolerance_change``,
``max|t d| <= tolerance_change``, ``|f - f_prev| < tolerance_change`` or after ``max_eval``
closure calls (default ``max_iter * 5 // 4``). These are torch's rules, so with
``line_search_fn=None`` the iterates are torch's up to rounding. The two-loop recursion is
:func:`autodiff.optim.lbfgs.two_loop_direction` (the one ``minimize(method="lbfgs")`` uses) and
the line search :func:`autodiff.optim.line_search.strong_wolfe` (Nocedal and Wright, alg. 3.5
and 3.6), whose interpolation differs in detail from torch's, so those steps may differ.

The memory (directions, pairs, the last gradient) persists across ``step`` calls, as in torch:
full-batch training calls ``step`` repeatedly with the same closure. Gradients are computed in
the parameters' dtype; the flat vectors take the result dtype of the parameters.

>>> import numpy as np, autodiff as ad
>>> w = ad.nn.Parameter(np.array([-1.2, 1.0]))
>>> optimizer = LBFGS([w], line_search_fn="strong_wolfe")
>>> def closure():
...     optimizer.zero_grad()
...     loss = (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2
...     loss.backward()
...     return loss
>>> for _ in range(5):
...     _ = optimizer.step(closure)
>>> np.round(w.value, 4)        # torch stops at the same point: |f - f_prev| < 1e-9
array([1., 1.])
"""

from __future__ import annotations

import numpy as np

from .. import validation
from ..flat import flat_spec
from ..rules.primitive import primal_value
from .first_order import Optimizer
from .lbfgs import two_loop_direction
from .line_search import LineSearchFailure, strong_wolfe

__all__ = ["LBFGS"]

_STATE_KEYS = ("func_evals", "n_iter", "d", "t", "pairs", "prev_flat_grad", "prev_loss")
_CURVATURE_THRESHOLD = 1e-10  # torch keeps a pair when yᵀs > 1e-10
_MAX_LINE_SEARCH_EVALUATIONS = 25  # torch's max_ls


class _ClosureObjective:
    """``x -> (f, ∇f)`` by setting the parameters to ``x`` and calling the closure (the
    objective :func:`strong_wolfe` evaluates); counts the calls."""

    def __init__(self, optimizer, closure):
        self._optimizer = optimizer
        self._closure = closure
        self.calls = 0

    def value_and_grad(self, x):
        self.calls += 1
        self._optimizer._set_flat(x)
        return self._optimizer._evaluate(self._closure)


class LBFGS(Optimizer):
    """L-BFGS over all parameters at once, torch.optim.LBFGS's algorithm and defaults.

    See the module docstring for the iteration. All parameters form one group (as in torch).
    ``state[id(first parameter)]`` holds ``func_evals``, ``n_iter``, the last direction ``d`` and
    step ``t``, the ``(s, y, 1/yᵀs)`` pairs, the previous gradient and loss.
    """

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        if max_eval is None:
            max_eval = validation.positive_int(max_iter, "max_iter") * 5 // 4
        defaults = {"lr": lr, "max_iter": max_iter, "max_eval": max_eval,
                    "tolerance_grad": tolerance_grad, "tolerance_change": tolerance_change,
                    "history_size": history_size, "line_search_fn": line_search_fn}
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._spec = flat_spec([p.value for p in self.param_groups[0]["params"]], "params")

    def _check_hyperparameters(self, group):
        group["lr"] = validation.nonnegative(group["lr"], "lr", "learning rate")
        group["max_iter"] = validation.positive_int(group["max_iter"], "max_iter")
        group["max_eval"] = validation.positive_int(group["max_eval"], "max_eval")
        group["tolerance_grad"] = validation.nonnegative(group["tolerance_grad"],
                                                         "tolerance_grad")
        group["tolerance_change"] = validation.nonnegative(group["tolerance_change"],
                                                           "tolerance_change")
        group["history_size"] = validation.positive_int(group["history_size"], "history_size")
        group["line_search_fn"] = validation.choice(group["line_search_fn"], "line_search_fn",
                                                    (None, "strong_wolfe"))

    # -- the parameters as one flat vector --------------------------------------------------
    def _params(self):
        return self.param_groups[0]["params"]

    def _flat_params(self):
        return self._spec.ravel([p.value for p in self._params()], "params")

    def _set_flat(self, x):
        for p, value in zip(self._params(), self._spec.unravel(x)):
            p.value = np.asarray(value, dtype=p.value.dtype)

    def _flat_grad(self):
        grads = [np.zeros_like(p.value) if p.grad is None else np.asarray(p.grad)
                 for p in self._params()]
        return self._spec.ravel(grads, "gradient")

    def _evaluate(self, closure):
        """``(f, ∇f)`` at the current parameters: the closure's loss as a float, the gradient."""
        loss = float(primal_value(closure()))
        return loss, self._flat_grad()

    # -- the step ---------------------------------------------------------------------------
    def step(self, closure=None):
        """Up to ``max_iter`` L-BFGS iterations; returns the closure's first loss (as torch)."""
        if not callable(closure):
            raise TypeError(
                "LBFGS.step needs a closure that clears the gradients, computes the loss, calls "
                f"loss.backward() and returns the loss; got {type(closure).__name__}"
            )
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        state = self.state.setdefault(id(self._params()[0]), {"func_evals": 0, "n_iter": 0})

        orig_loss = closure()
        loss = float(primal_value(orig_loss))
        flat_grad = self._flat_grad()
        current_evals = 1
        state["func_evals"] += 1
        if np.max(np.abs(flat_grad), initial=0.0) <= tolerance_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        pairs = list(state.get("pairs", ()))
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d, pairs = -flat_grad, []
            else:
                y, s = flat_grad - prev_flat_grad, d * t
                ys = float(y @ s)
                if ys > _CURVATURE_THRESHOLD:
                    pairs = (pairs + [(s, y, 1.0 / ys)])[-group["history_size"]:]
                d = two_loop_direction(flat_grad, pairs) if pairs else -flat_grad
            prev_flat_grad, prev_loss = flat_grad.copy(), loss
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(np.sum(np.abs(flat_grad)))) * lr
            else:
                t = lr
            if not float(flat_grad @ d) < -tolerance_change:
                break

            if group["line_search_fn"] == "strong_wolfe":
                x_init = self._flat_params()
                objective = _ClosureObjective(self, closure)
                try:
                    found = strong_wolfe(objective, x_init, loss, flat_grad, d, initial_step=t,
                                         max_evaluations=_MAX_LINE_SEARCH_EVALUATIONS)
                except LineSearchFailure:
                    self._set_flat(x_init)
                    current_evals += objective.calls
                    state["func_evals"] += objective.calls
                    break
                self._set_flat(found.x)
                loss, flat_grad, t = found.fun, found.grad, found.step
                evaluations = objective.calls
            else:
                self._set_flat(self._flat_params() + t * d)
                evaluations = 0
                if n_iter != max_iter:
                    loss, flat_grad = self._evaluate(closure)
                    evaluations = 1
            current_evals += evaluations
            state["func_evals"] += evaluations

            if n_iter == max_iter or current_evals >= max_eval:
                break
            if np.max(np.abs(flat_grad), initial=0.0) <= tolerance_grad:
                break
            if np.max(np.abs(d * t), initial=0.0) <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state.update(d=d, t=t, pairs=tuple(pairs), prev_flat_grad=prev_flat_grad,
                     prev_loss=prev_loss)
        return orig_loss

    def _restored_state(self, saved, value, group, index):
        """The global state saved under the first parameter, checked against this layout."""
        missing = {"func_evals", "n_iter"} - set(saved)
        unknown = set(saved) - set(_STATE_KEYS)
        if index != 0 or missing or unknown:
            raise ValueError(
                f"loaded LBFGS state of parameter {index} has entries {sorted(saved)}; LBFGS "
                f"keeps {list(_STATE_KEYS)} under parameter 0"
            )
        n = self._spec.size

        def vector(item, what):
            array = np.array(item, dtype=self._spec.dtype)
            if array.shape != (n,):
                raise ValueError(f"loaded LBFGS state {what} has shape {array.shape}; the "
                                 f"parameters have {n} entries")
            return array

        restored = {"func_evals": int(saved["func_evals"]), "n_iter": int(saved["n_iter"])}
        for key in ("d", "prev_flat_grad"):
            if saved.get(key) is not None:
                restored[key] = vector(saved[key], key)
        for key in ("t", "prev_loss"):
            if saved.get(key) is not None:
                restored[key] = float(saved[key])
        if "pairs" in saved:
            restored["pairs"] = tuple((vector(s, "pairs"), vector(y, "pairs"), float(rho))
                                      for s, y, rho in saved["pairs"])
        return restored
