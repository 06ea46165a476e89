"""The objective the solvers see: ``f: R^n -> R`` on flat float64 vectors, with its derivatives.

Every solver in :mod:`autodiff.optim` talks to the function it minimises only through an
:class:`Objective`. It asks for

* ``fun(x)``                 the value ``f(x)``,
* ``value_and_grad(x)``      ``(f(x), ∇f(x))`` together (one reverse sweep in autodiff),
* ``hvp_operator(x)``        the linear map ``v -> ∇²f(x) v`` at a fixed ``x``, an
  :class:`~autodiff.second_order.HvpOperator`; one operator serves every product an inner
  conjugate-gradient loop needs at that point, so a backend can do the work that depends on
  ``x`` alone (a linearisation, a dense Hessian) once,
* ``hessian(x)``             the dense ``n x n`` matrix ``∇²f(x)``,

and the object counts the calls: ``nfev`` (values), ``ngev`` (gradients), ``nhvp``
(Hessian-vector products) and ``nhev`` (dense Hessians). ``value_and_grad`` counts as one value
and one gradient.

Build one from analytic callables (this is also how to give :func:`minimize` hand-written
derivatives)::

    >>> from scipy.optimize import rosen, rosen_der, rosen_hess_prod
    >>> objective = Objective(rosen, rosen_der, hessp=rosen_hess_prod)

or let :func:`autodiff.optim.ad_objective.autodiff_objective` build one from a function on a
pytree. Whatever is missing is derived from what is there: products from a dense Hessian
(``H v``), a dense Hessian from ``n`` products (``H e_i``, symmetrised).
"""

from typing import NamedTuple

import numpy as np

from ..flat import flat_spec
from ..second_order import HvpOperator

__all__ = ["Iterate", "Objective"]


class Iterate(NamedTuple):
    """A point of a solver's path: ``x``, ``fun = f(x)`` and ``grad = ∇f(x)``."""

    x: np.ndarray
    fun: float
    grad: np.ndarray


def _require_callable(value, name):
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__}")


def _as_scalar(value, source):
    if type(value) is float or type(value) is np.float64:  # what autodiff returns: no checks
        return float(value)
    if np.ndim(value) != 0:
        raise ValueError(f"{source} must return a scalar, got an array of shape {np.shape(value)}")
    if np.iscomplexobj(value):
        raise TypeError(f"{source} returned a complex number; minimisation needs real values")
    if isinstance(value, (bool, np.bool_)) or np.asarray(value).dtype.kind not in "fiu":
        raise TypeError(f"{source} must return a real number, got {type(value).__name__}")
    return float(value)


def _as_vector(value, n, source):
    if type(value) is np.ndarray and value.dtype == np.float64 and value.shape == (n,):
        return value  # what autodiff returns: np.asarray would return it as it is
    if np.iscomplexobj(value):
        raise TypeError(f"{source} returned complex values; minimisation needs real values")
    vector = np.asarray(value, dtype=np.float64)
    if vector.shape != (n,):
        raise ValueError(f"{source} returned shape {vector.shape}, expected ({n},)")
    return vector


class Objective:
    """A scalar function on flat float64 vectors, its derivatives, and call counters.

    Parameters
    ----------
    fun : callable ``x -> float``
    grad : callable ``x -> ndarray (n,)``, or None when ``value_and_grad`` is given.
    value_and_grad : callable ``x -> (float, ndarray (n,))``; use instead of ``grad`` when the
        value comes for free with the gradient (as it does in reverse mode).
    hessp : callable ``(x, v) -> ndarray (n,)``, ``∇²f(x) v``.
    hvp_operator : callable ``x -> HvpOperator`` (or ``x -> (callable v -> ∇²f(x) v)``); use
        instead of ``hessp`` when products at a fixed ``x`` share work.
    hessian : callable ``x -> ndarray (n, n)``.

    Solvers that need curvature (``newton-cg``, ``trust-ncg``, ``newton``, ``cg`` with
    ``beta="hessian"``) need at least one of ``hessp``, ``hvp_operator``, ``hessian``.
    """

    def __init__(self, fun, grad=None, *, value_and_grad=None, hessp=None, hvp_operator=None,
                 hessian=None):
        for value, name in [(fun, "fun"), (grad, "grad"), (value_and_grad, "value_and_grad"),
                            (hessp, "hessp"), (hvp_operator, "hvp_operator"),
                            (hessian, "hessian")]:
            _require_callable(value, name)
        if fun is None:
            raise TypeError("Objective needs fun, the function to minimise")
        if (grad is None) == (value_and_grad is None):
            raise TypeError("Objective needs exactly one of grad= and value_and_grad=")
        if hessp is not None and hvp_operator is not None:
            raise TypeError("give Objective at most one of hessp= and hvp_operator=")
        self._fun = fun
        self._grad = grad
        self._value_and_grad = value_and_grad
        self._hessp = hessp
        self._hvp_operator = hvp_operator
        self._hessian = hessian
        self.nfev = 0
        self.ngev = 0
        self.nhvp = 0
        self.nhev = 0

    def __repr__(self):
        return (f"Objective(nfev={self.nfev}, ngev={self.ngev}, nhvp={self.nhvp}, "
                f"nhev={self.nhev})")

    @property
    def has_curvature(self):
        """Whether Hessian-vector products or dense Hessians are available."""
        return any(c is not None for c in (self._hessp, self._hvp_operator, self._hessian))

    def counts(self):
        """The counters as a dict ``{"nfev": ..., "ngev": ..., "nhvp": ..., "nhev": ...}``."""
        return {"nfev": self.nfev, "ngev": self.ngev, "nhvp": self.nhvp, "nhev": self.nhev}

    def fun(self, x):
        """``f(x)`` as a Python float."""
        self.nfev += 1
        return _as_scalar(self._fun(x), "fun")

    def value_and_grad(self, x):
        """``(f(x), ∇f(x))``: a float and a float64 vector shaped like ``x``."""
        self.nfev += 1
        self.ngev += 1
        if self._value_and_grad is not None:
            result = self._value_and_grad(x)
            if not (isinstance(result, tuple) and len(result) == 2):
                raise TypeError("value_and_grad must return a pair (value, gradient)")
            value, gradient = result
            source = "value_and_grad"
        else:
            value, gradient = self._fun(x), self._grad(x)
            source = "grad"
        return _as_scalar(value, "fun"), _as_vector(gradient, x.size, source)

    def hvp_operator(self, x):
        """The operator ``v -> ∇²f(x) v`` at this ``x``, an
        :class:`~autodiff.second_order.HvpOperator` whose products count in ``nhvp``."""
        batched = None
        if self._hvp_operator is not None:
            made = self._hvp_operator(x)
            if isinstance(made, HvpOperator):
                made.on_products = self._count_products
                return made
            _require_callable(made, "the operator returned by hvp_operator")
            product = made
        elif self._hessp is not None:
            def product(v):
                return self._hessp(x, v)
        elif self._hessian is not None:
            dense = self.hessian(x)

            def product(v):
                return dense @ v

            def batched(vs):
                return vs @ dense.T
        else:
            raise ValueError(self._missing_curvature())
        n = x.size

        def checked(v):
            return _as_vector(product(v), n, "the Hessian-vector product")

        operator = HvpOperator(flat_spec(x), checked, batched)
        operator.on_products = self._count_products
        return operator

    def _count_products(self, k):
        self.nhvp += k

    def hessian(self, x):
        """The dense Hessian ``∇²f(x)``, shape ``(n, n)``.

        Without a ``hessian`` callable it is assembled from ``n`` products ``∇²f(x) e_i`` and
        symmetrised, ``(H + Hᵀ)/2``.
        """
        n = x.size
        if self._hessian is None:
            if not self.has_curvature:
                raise ValueError(self._missing_curvature())
            columns = self.hvp_operator(x).matmat(np.eye(n))
            return 0.5 * (columns + columns.T)
        self.nhev += 1
        matrix = self._hessian(x)
        if np.iscomplexobj(matrix):
            raise TypeError("hessian returned complex values; minimisation needs real values")
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.shape != (n, n):
            raise ValueError(f"hessian returned shape {matrix.shape}, expected ({n}, {n})")
        return matrix

    @staticmethod
    def _missing_curvature():
        return ("this solver needs second derivatives: build the Objective with hessp=, "
                "hvp_operator= or hessian=, or choose method='lbfgs', 'cg' or 'gd'")
