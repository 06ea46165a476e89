"""Build an :class:`~autodiff.optim.objective.Objective` from a function on a pytree, by autodiff.

For ``f`` taking a pytree shaped like ``x0``, the flat objective is ``z -> f(unravel(z))`` in the
layout of :mod:`autodiff.flat`. Its derivatives come from the autodiff transforms applied to
``f`` on the tree itself:

* ``∇f``:   ``value_and_grad(f)(x)``, one forward and one reverse sweep, raveled;
* ``H v``:  ``hvp_operator(f, (x,))``, linearised once per point, then one replay per product;
  its flat vectors are exactly the objective's (``(x,)`` says that ``x`` is one argument even
  when it is a tuple);
* ``H``:    the same operator applied to the ``n`` unit vectors in one batched replay.
"""

import numpy as np

from ..second_order import hvp_operator as linearized_hessian
from ..transforms import value_and_grad as value_and_gradient
from .objective import Objective

__all__ = ["autodiff_objective"]


def autodiff_objective(f, spec):
    """The flat objective ``z -> f(spec.unravel(z))`` with derivatives from ``autodiff``.

    ``spec`` is the float64 :class:`~autodiff.flat.FlatSpec` of the starting point.
    """
    if not callable(f):
        raise TypeError(f"f must be a callable to minimise, got {type(f).__name__}")

    def checked_f(x):
        value = f(x)
        if value is None:
            raise TypeError("f returned None; it must return the scalar to minimise "
                            "(is a return statement missing?)")
        return value

    def fun(z):
        return checked_f(spec.unravel(z))

    def value_and_grad(z):
        value, gradient = value_and_gradient(checked_f)(spec.unravel(z))
        return value, spec.ravel(gradient, "gradient")

    def hvp_operator(z):
        return linearized_hessian(checked_f, (spec.unravel(z),))

    def hessian(z):
        return hvp_operator(z).matmat(np.eye(spec.size))

    return Objective(fun, value_and_grad=value_and_grad, hvp_operator=hvp_operator,
                     hessian=hessian)
