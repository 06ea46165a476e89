"""Build an :class:`~autodiff.optim.objective.Objective` from a function on a pytree, by autodiff.

For ``f`` taking a pytree shaped like ``x0``, the flat objective is ``z -> f(unravel(z))`` in the
layout of :mod:`autodiff.flat`. Its derivatives come from the autodiff transforms applied to
``f`` on the tree itself:

* ``∇f``:   ``value_and_grad(f)(x)``, one forward and one reverse sweep, raveled;
* ``H v``:  ``hvp_operator(f, (x,))``; its flat vectors are exactly the objective's (``(x,)``
  says that ``x`` is one argument even when it is a tuple);
* ``H``:    the linearisation of ``grad f`` at the point applied to the ``n`` unit vectors in one
  batched replay.

With ``jit=True`` (the default) the gradient and the Hessian-vector products are compiled
(:func:`autodiff.jit`): ``value_and_grad(f)`` and ``hvp(f, x, v)`` (inside ``hvp_operator``) are
recorded once and replayed for every point and every direction, without a per-point
linearisation.  A function that cannot be recorded (:class:`~autodiff.jit.JitError`: a random
draw inside it, a traced value held in a closure, ...) falls back to the eager derivatives,
once, with a ``RuntimeWarning`` naming the reason (:mod:`autodiff.jit.fallback`).
"""

import functools

import numpy as np

from ..jit.fallback import CompiledOrEager
from ..second_order import hvp_operator as hessian_operator
from ..transforms import value_and_grad as value_and_gradient
from .objective import Objective

__all__ = ["autodiff_objective"]


def autodiff_objective(f, spec, jit_derivatives: bool = True):
    """The flat objective ``z -> f(spec.unravel(z))`` with derivatives from ``autodiff``.

    ``spec`` is the float64 :class:`~autodiff.flat.FlatSpec` of the starting point;
    ``jit_derivatives`` compiles the gradient and the Hessian-vector products (see the module
    docstring).
    """
    if not callable(f):
        raise TypeError(f"f must be a callable to minimise, got {type(f).__name__}")

    @functools.wraps(f, assigned=("__module__", "__name__", "__qualname__"), updated=())
    def checked_f(x):
        value = f(x)
        if value is None:
            raise TypeError("f returned None; it must return the scalar to minimise "
                            "(is a return statement missing?)")
        return value

    def fun(z):
        return checked_f(spec.unravel(z))

    def eager_value_and_grad(x):
        return value_and_gradient(checked_f)(x)

    value_and_grad_of_tree = eager_value_and_grad
    if jit_derivatives:
        value_and_grad_of_tree = CompiledOrEager(
            eager_value_and_grad, f"the gradient of the objective {checked_f.__qualname__}")

    def value_and_grad(z):
        value, gradient = value_and_grad_of_tree(spec.unravel(z))
        return value, spec.ravel(gradient, "gradient")

    def hvp_operator(z):
        return hessian_operator(checked_f, (spec.unravel(z),), jit=jit_derivatives)

    def hessian(z):  # the n unit vectors in one batched replay of the linearisation
        return hessian_operator(checked_f, (spec.unravel(z),), jit=False).matmat(np.eye(spec.size))

    return Objective(fun, value_and_grad=value_and_grad, hvp_operator=hvp_operator,
                     hessian=hessian)
