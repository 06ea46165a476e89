r"""Gauss-Newton curvature products ``G v = Jᵀ H_L J v`` for a loss of a model's outputs.

For an objective ``f(θ) = L(m(θ))`` -- a network ``m`` with parameters ``θ`` and a loss ``L``
of its outputs ``z = m(θ)`` -- the Hessian splits into two parts (Schraudolph 2002, "Fast
curvature matrix-vector products for second-order gradient descent", Neural Computation 14,
§3; Martens 2010, "Deep learning via Hessian-free optimization", ICML, §4.2)::

    ∇²f(θ) = Jᵀ H_L J  +  Σ_k (∂L/∂z_k) ∇²m_k(θ),     J = ∂m/∂θ,   H_L = ∇²L(z).

The *Gauss-Newton matrix* ``G = Jᵀ H_L J`` keeps the first part only. When ``L`` is convex in
the outputs (squared error; softmax cross-entropy of logits) ``H_L`` is positive semidefinite,
hence so is ``G``: ``vᵀG v = (J v)ᵀ H_L (J v) >= 0``. Conjugate gradients on ``G`` therefore
never meet the negative curvature of a saddle point, where ``∇²f`` has it. ``G`` is the
Hessian of the local model ``L(m(θ) + J d)`` that linearises the network but not the loss.

A product costs one forward-mode pass for ``u = J v``, one Hessian-vector product of the loss
(cheap: the loss is a small function of the outputs) and one reverse pass for ``Jᵀ (H_L u)``:

>>> import numpy as np, autodiff as ad
>>> X = np.array([[1.0, 2.0], [0.5, -1.0], [0.0, 1.0]])
>>> model = lambda w: np.tanh(X @ w)
>>> loss = lambda z: 0.5 * np.sum(z ** 2)                  # H_L = I, so G = JᵀJ
>>> w, v = np.array([0.1, -0.2]), np.array([1.0, 0.0])
>>> J = ad.jacfwd(model)(w)
>>> bool(np.allclose(ad.optim.gauss_newton_product(model, loss, w, v), J.T @ J @ v))
True

:func:`gauss_newton_operator` records ``J`` once (``ad.linearize`` for ``J v``, ``ad.vjp`` for
``Jᵀ u``) and the loss Hessian once (``ad.hvp_operator``), then replays them for every ``v``:
that is what a conjugate-gradient solve, which applies ``G`` tens of times at one ``θ``, wants.
"""

from __future__ import annotations

import numpy as np

from ..linearize import linearize
from ..pytree import flatten, tree_map
from ..rules.primitive import primal_value
from ..second_order import hvp_operator
from ..transforms import hvp, jvp, vjp

__all__ = ["gauss_newton_product", "gauss_newton_operator", "GaussNewtonOperator"]


def gauss_newton_product(model_fn, loss_fn, params, v):
    """``Jᵀ H_L J v``: the Gauss-Newton matrix of ``loss_fn(model_fn(params))`` applied to ``v``.

    Parameters
    ----------
    model_fn : callable ``params -> outputs`` (a pytree of arrays; a network's forward pass).
    loss_fn : callable ``outputs -> scalar`` (e.g. ``lambda z: F.mse_loss(z, targets)``).
    params : the point, a pytree (dict, list, tuple of arrays or floats).
    v : a direction with the structure and shapes of ``params``.

    Returns
    -------
    A pytree shaped like ``params``: ``J`` is the Jacobian of ``model_fn`` at ``params`` and
    ``H_L`` the Hessian of ``loss_fn`` at ``model_fn(params)``. Costs one ``jvp``, one loss
    ``hvp`` and one ``vjp``; to apply ``G`` at one point many times, use
    :func:`gauss_newton_operator`.
    """
    outputs, jv = jvp(model_fn, params, v)
    _, pullback = vjp(model_fn, params)
    return pullback(hvp(loss_fn, outputs, jv))


class GaussNewtonOperator:
    """``v -> Jᵀ H_L J v`` at one point, recorded once (see :func:`gauss_newton_operator`).

    Attributes
    ----------
    outputs : ``model_fn(params)`` (plain values).
    loss : ``loss_fn(outputs)`` as a float.
    output_gradient : ``∇_z L`` at the outputs (shaped like ``outputs``).
    gradient : ``∇f(params) = Jᵀ ∇_z L`` (shaped like ``params``), a by-product of recording.
    count : how many products have been applied.
    """

    def __init__(self, model_fn, loss_fn, params):
        outputs, self._jvp = linearize(model_fn, params)
        _, self._pullback = vjp(model_fn, params)
        self.outputs = outputs
        # eager: loss_fn is often a closure made per step (a recording each time would not pay)
        self._loss_hessian = hvp_operator(loss_fn, outputs, jit=False)
        self.loss = float(primal_value(loss_fn(outputs)))
        self.output_gradient = self._loss_hessian.gradient
        self.gradient = self._pullback(self.output_gradient)
        self.count = 0

    def __call__(self, v):
        """``G v`` for ``v`` with the structure and shapes of ``params``."""
        self.count += 1
        return self._pullback(self._loss_hessian(self._jvp(v)))

    def jvp(self, v):
        """``J v``, shaped like ``outputs``."""
        return self._jvp(v)

    def transpose(self, u, batch: tuple = ()):
        """``Jᵀ u`` for ``u`` shaped like ``outputs`` (with a leading ``batch`` axis: ``k``
        cotangents at once, one reverse sweep)."""
        return self._pullback(u, batch=batch)

    def curvature(self, v):
        """``vᵀ G v = (J v)ᵀ H_L (J v)``, without the reverse pass."""
        u = self._jvp(v)
        return _tree_dot(u, self._loss_hessian(u))


def gauss_newton_operator(model_fn, loss_fn, params) -> GaussNewtonOperator:
    """The Gauss-Newton matrix of ``loss_fn(model_fn(params))`` as a reusable linear operator.

    ``model_fn`` runs twice (once recorded in forward mode by ``ad.linearize``, once on the
    reverse tape of ``ad.vjp``); each product then replays ``J v``, the recorded loss Hessian
    and the reverse sweep, without running the network's primal computation again.

    >>> import numpy as np, autodiff as ad
    >>> X, y = np.eye(3)[:, :2], np.array([0, 1, 1])
    >>> model = lambda p: X @ p["W"] + p["b"]
    >>> loss = lambda z: ad.nn.functional.cross_entropy(z, y)
    >>> params = {"W": np.zeros((2, 2)), "b": np.zeros(2)}
    >>> G = ad.optim.gauss_newton_operator(model, loss, params)
    >>> round(G.loss, 6)                                  # log 2
    0.693147
    >>> G({"W": np.ones((2, 2)), "b": np.zeros(2)})["b"]  # J v has equal logits: H_L J v = 0
    array([0., 0.])
    """
    return GaussNewtonOperator(model_fn, loss_fn, params)


def _tree_dot(a, b) -> float:
    """``Σ_leaves <a, b>`` for two pytrees of one structure."""
    products = flatten(tree_map(lambda x, y: np.vdot(np.asarray(x), np.asarray(y)), a, b))[0]
    return float(sum(products))
