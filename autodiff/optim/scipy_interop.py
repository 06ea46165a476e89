"""Callables for :func:`scipy.optimize.minimize`, with derivatives from autodiff.

``scipy_callables(f)`` returns ``(fun, jac, hessp)`` for a function ``f`` of a 1-D float64
array. SciPy asks for ``fun`` and ``jac`` at the same points, and for many ``hessp`` products at
one point, so the three share a one-point cache: the value and gradient come from one
``ad.value_and_grad`` call, and the products at a point from one ``ad.hvp_operator``
linearisation::

    fun, jac, hessp = ad.optim.scipy_callables(f)
    scipy.optimize.minimize(fun, x0, jac=jac, hessp=hessp, method="trust-ncg")
"""

import numpy as np

from ..flat import flat_spec
from .ad_objective import autodiff_objective

__all__ = ["scipy_callables"]


class _LastPoint:
    """``f``'s value, gradient and Hessian operator at the most recent point asked for."""

    def __init__(self, f):
        self._f = f
        self._objective = None
        self._size = None
        self._x = None
        self._value_and_grad = None
        self._operator_x = None
        self._operator = None

    def _objective_for(self, x):
        if x.ndim != 1:
            raise ValueError(f"scipy_callables expects 1-D vectors, got shape {x.shape}")
        if x.size != self._size:
            # eager derivatives: scipy drives them (compiling them is minimize's default)
            self._objective = autodiff_objective(self._f, flat_spec(x, "x", np.float64),
                                                 jit_derivatives=False)
            self._size = x.size
        return self._objective

    def value_and_grad(self, x):
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or not np.array_equal(x, self._x):
            self._value_and_grad = self._objective_for(x).value_and_grad(x)
            self._x = x.copy()
        return self._value_and_grad

    def operator(self, x):
        x = np.asarray(x, dtype=np.float64)
        if self._operator_x is None or not np.array_equal(x, self._operator_x):
            self._operator = self._objective_for(x).hvp_operator(x)
            self._operator_x = x.copy()
        return self._operator


def scipy_callables(f):
    """``(fun, jac, hessp)`` for :func:`scipy.optimize.minimize`, from one function ``f``.

    ``f`` takes a 1-D float64 array and returns a scalar. ``fun(x)`` is ``f(x)`` as a float,
    ``jac(x)`` its gradient, ``hessp(x, p)`` the product ``∇²f(x) p`` (forward over reverse,
    no Hessian formed); all arrays are 1-D float64.
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    last = _LastPoint(f)

    def fun(x):
        return last.value_and_grad(x)[0]

    def jac(x):
        return last.value_and_grad(x)[1].copy()

    def hessp(x, p):
        return last.operator(x)(p)

    return fun, jac, hessp
