"""Build an :class:`~autodiff.optim.objective.Objective` from a function on a pytree, by autodiff.

For ``f`` taking a pytree shaped like ``x0``, the flat objective is ``z -> f(unravel(z))`` in the
layout of :mod:`autodiff.flat`. Its derivatives come from the autodiff transforms applied to
``f`` on the tree itself:

* ``∇f``:   ``value_and_grad(f)(x)``, one forward and one reverse sweep, raveled;
* ``H v``:  ``hvp_operator(f, (x,))``, linearised once per point, then one replay per product;
  its flat vectors are exactly the objective's (``(x,)`` says that ``x`` is one argument even
  when it is a tuple);
* ``H``:    the same operator applied to the ``n`` unit vectors in one batched replay.

With ``jit=True`` (the default) the gradient and the Hessian-vector products are compiled
(:func:`autodiff.jit`): ``value_and_grad(f)`` and ``hvp(f, x, v)`` are recorded once and
replayed for every point and every direction, without a per-point linearisation.  A function
that cannot be recorded (:class:`~autodiff.jit.JitError`: a random draw inside it, a traced
value held in a closure, ...) falls back to the eager derivatives, once, with a
``RuntimeWarning`` naming the reason.
"""

import warnings

import numpy as np

from ..flat import flat_spec
from ..jit import JitError, jit
from ..second_order import HvpOperator
from ..second_order import hvp_operator as linearized_hessian
from ..transforms import hvp as hessian_vector_product
from ..transforms import value_and_grad as value_and_gradient
from .objective import Objective

__all__ = ["autodiff_objective"]


class _CompiledOrEager:
    """``compiled(*args)`` until it raises :class:`JitError`; from then on ``eager(*args)``,
    after one ``RuntimeWarning`` naming the reason."""

    def __init__(self, compiled, eager, what):
        self._compiled = compiled
        self._eager = eager
        self._what = what
        self.failed = None

    def __call__(self, *args):
        if self.failed is None:
            try:
                return self._compiled(*args)
            except JitError as error:
                self.failed = str(error)
                warnings.warn(
                    f"the {self._what} of the objective could not be compiled, so it runs "
                    f"eagerly (pass jit=False to skip compiling): {error}",
                    RuntimeWarning, stacklevel=3,
                )
        return self._eager(*args)


def autodiff_objective(f, spec, jit_derivatives: bool = True):
    """The flat objective ``z -> f(spec.unravel(z))`` with derivatives from ``autodiff``.

    ``spec`` is the float64 :class:`~autodiff.flat.FlatSpec` of the starting point;
    ``jit_derivatives`` compiles the gradient and the Hessian-vector products (see the module
    docstring).
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

    def eager_value_and_grad(x):
        return value_and_gradient(checked_f)(x)

    value_and_grad_of_tree = eager_value_and_grad
    if jit_derivatives:
        value_and_grad_of_tree = _CompiledOrEager(jit(eager_value_and_grad),
                                                  eager_value_and_grad, "gradient")

        def eager_hvp(x, v):
            return hessian_vector_product(checked_f, x, v)

        compiled_hvp = _CompiledOrEager(jit(eager_hvp), eager_hvp, "Hessian-vector product")

    def value_and_grad(z):
        value, gradient = value_and_grad_of_tree(spec.unravel(z))
        return value, spec.ravel(gradient, "gradient")

    def hvp_operator(z):
        x = spec.unravel(z)
        if not jit_derivatives or compiled_hvp.failed is not None:
            return linearized_hessian(checked_f, (x,))
        # the layout of hvp_operator(f, (x,)): x is the one argument, products are 1-tuples
        return HvpOperator(flat_spec((x,)), lambda v: (compiled_hvp(x, v[0]),))

    def hessian(z):  # the n unit vectors in one batched replay of the linearisation
        return linearized_hessian(checked_f, (spec.unravel(z),)).matmat(np.eye(spec.size))

    return Objective(fun, value_and_grad=value_and_grad, hvp_operator=hvp_operator,
                     hessian=hessian)
