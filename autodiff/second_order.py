"""The Hessian at a fixed point as a reusable linear operator: ``hvp_operator`` and its class.

Conjugate gradients and Newton-CG apply the Hessian at one point to many vectors: the "Hessian-free"
approach of Martens, "Deep learning via Hessian-free optimization" (ICML 2010), §2, which needs
only the products ``H v``, never ``H`` itself.  ``ad.hvp(f, x, v)`` redoes the forward pass, the
reverse sweep and every partial derivative for each ``v``; :func:`hvp_operator` instead
:func:`~autodiff.linearize.linearize` s ``grad f`` once at ``x`` (forward over reverse,
recorded), and each product replays only the linear tangent operations of that sweep::

    H v = d/de grad f(x + e v) |_(e=0)

:class:`HvpOperator` is the one operator class: the optimizers' products (from autodiff, from a
hand-written ``hessp`` or from a dense Hessian) are instances of it too.  It speaks two
dialects: called on ``v`` shaped like ``x`` (a pytree) it returns ``H v`` of the same shape;
on flat vectors of length ``n`` (the total size of ``x``, in :mod:`autodiff.flat`'s layout) it
returns flat vectors, and on an ``n x k`` matrix of columns it returns ``H V`` from one batched
replay, so it drops into ``scipy.sparse.linalg`` (``cg(op, b)``, ``aslinearoperator(op)``).

By default the products are *compiled* (:func:`autodiff.jit`): ``hvp(f, x, v)`` is recorded once
per function ``f`` and replayed for every product, at this point and at every later one (an
operator per Newton iterate records nothing new), with no linearisation per point.  At
n = 1000 on vectorised Rosenbrock a compiled product costs about 56 µs against 98 µs for a
replay of the linearisation, which itself costs 0.9 ms to build per point (the recording,
once per ``f``, about 6.5 ms).  Batched products (``matmat``, ``diagonal``) and the gradient
use the linearisation, built when first asked for.  A function that cannot be recorded falls
back to the linearisation with one ``RuntimeWarning`` (:mod:`autodiff.jit.fallback`);
``jit=False`` skips compiling.
"""

from __future__ import annotations

import math
import warnings
import weakref

import numpy as np

from .flat import FlatSpec, flat_spec
from .jit.fallback import CompiledOrEager
from .linearize import linearize
from .pytree import flatten
from .rules.primitive import Traced
from .transforms import grad, hvp

__all__ = ["hvp_operator", "HvpOperator"]

#: ``diagonal()`` warns about its cost (``n`` products) above this size.
DIAGONAL_WARNING_SIZE = 2000

#: Unit vectors per batched replay in ``diagonal()``: enough to spread the Python overhead of a
#: replay over many products, few enough that the ``k x n`` intermediates stay small.
DIAGONAL_CHUNK_SIZE = 64


class HvpOperator:
    """``v -> H v`` for a symmetric ``n x n`` matrix ``H``, the Hessian of a scalar function at
    a fixed point ``x`` (see :func:`hvp_operator`).

    Parameters
    ----------
    spec:
        The :class:`~autodiff.flat.FlatSpec` of ``x``: its structure, shapes, dtypes.
    product:
        ``v -> H v`` on trees shaped like ``x``.
    batched_product:
        ``vs -> H vs`` for trees whose leaves carry a leading axis of ``k`` directions, or
        ``None`` (then ``k`` products are computed one by one).
    gradient:
        ``grad f(x)`` when it came for free (same structure as ``x``), else ``None``, or a
        function of no arguments computing it (called once, when ``.gradient`` is first read).
    vector_product:
        ``None``, or, when ``x`` is one 1-D array, ``v -> H v`` for a vector ``v`` of its dtype
        that neither writes into ``v`` nor returns an array anyone else holds: flat vectors
        then skip the raveling (``matvec`` in a conjugate-gradient loop).

    Attributes
    ----------
    shape:
        ``(n, n)`` with ``n`` the total number of entries of ``x``.
    dtype:
        The result dtype of ``x``'s leaves (float32 stays float32).
    count:
        How many Hessian-vector products have been applied (``k`` columns count ``k``).
    on_products:
        ``None``, or a callable told ``k`` after every ``k`` products (an optimizer's counter).
    """

    def __init__(self, spec: FlatSpec, product, batched_product=None, gradient=None,
                 vector_product=None):
        self.spec = spec
        self._product = product
        self._vector_product = vector_product
        self._batched_product = batched_product
        self._gradient = gradient
        self.shape = (spec.size, spec.size)
        self.dtype = spec.dtype
        self.count = 0
        self.on_products = None

    @property
    def gradient(self):
        """``grad f(x)`` (same structure as ``x``), or ``None`` when the operator has none."""
        if callable(self._gradient):
            self._gradient = self._gradient()
        return self._gradient

    def _counted(self, k: int) -> None:
        self.count += k
        if self.on_products is not None:
            self.on_products(k)

    def __call__(self, v):
        """``H v`` for ``v`` shaped like ``x``; for a flat vector ``(n,)`` (or an ``n x k``
        matrix of columns), the flat ``H v`` (or ``H V``, from one batched replay)."""
        n = self.shape[0]
        if isinstance(v, np.ndarray) and v.shape[:1] == (n,) and v.ndim <= 2:
            return self.matvec(v) if v.ndim == 1 else self.matmat(v)
        if not self.spec.matches(v):
            raise ValueError(
                f"v must be shaped like x (structure {self.spec.treedef!r}, shapes "
                f"{list(self.spec.shapes)}), a flat vector of length {n} or an ({n}, k) matrix"
            )
        self._counted(1)
        return self._product(v)

    def curvature(self, v):
        """``v^T H v``: negative means a direction of negative curvature (not a minimum).

        ``v`` may be shaped like ``x`` (traced values stay traced) or a flat vector of length
        ``n``.
        """
        if isinstance(v, np.ndarray) and v.shape == (self.shape[0],):
            return float(v @ self.matvec(v))
        products = flatten(self(v))[0]
        total = sum(np.sum(a * b) for a, b in zip(flatten(v)[0], products))
        return total if isinstance(total, Traced) else float(total)

    # -- flat vectors (scipy.sparse.linalg) --------------------------------------------------
    def matvec(self, v):
        """``H v`` on a flat vector of shape ``(n,)`` or ``(n, 1)`` (the result has the same)."""
        v = np.asarray(v)
        n = self.shape[0]
        column = v.shape != (n,)
        if column and v.shape != (n, 1):
            raise ValueError(
                f"matvec expects a flat vector of shape ({n},) or ({n}, 1), got {v.shape}; "
                "call the operator itself for a vector shaped like x"
            )
        self._counted(1)
        if self._vector_product is not None and v.dtype == self.dtype:
            product = self._vector_product(v.reshape(n) if column else v)
            if type(product) is np.ndarray and product.shape == (n,) \
                    and product.dtype == self.dtype:
                return product.reshape(v.shape) if column else product
        else:
            product = self._product(self.spec.unravel(v.reshape(n)))
        return self.spec.ravel(product, "H v").reshape(v.shape)

    rmatvec = matvec  # H is symmetric

    def matmat(self, V):
        """``H V`` for ``V`` of shape ``(n, k)``: ``k`` products in one batched replay."""
        V = np.asarray(V)
        n = self.shape[0]
        if V.ndim != 2 or V.shape[0] != n:
            raise ValueError(f"matmat expects an array of shape ({n}, k), got {V.shape}")
        return self._rows_times_h(np.ascontiguousarray(V.T)).T

    rmatmat = matmat

    def __matmul__(self, v):
        return self.matmat(v) if np.ndim(v) == 2 else self.matvec(v)

    @property
    def T(self):
        return self

    def diagonal(self, chunk_size: int = DIAGONAL_CHUNK_SIZE):
        """The exact diagonal ``H_ii``, shaped like ``x``, from ``n`` products ``H e_i``.

        The unit vectors go through batched replays of ``chunk_size`` at a time; the total
        cost is still ``n`` products, so above ``n = 2000`` a ``UserWarning`` says so (an
        estimate such as Bekas, Kokiopoulou & Saad's stochastic diagonal,
        ``E[v * (H v)]`` over random signs ``v``, costs far fewer).
        """
        n = self.shape[0]
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
                or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        if n > DIAGONAL_WARNING_SIZE:
            warnings.warn(
                f"diagonal() of this {n} x {n} Hessian costs {n} Hessian-vector products "
                f"({math.ceil(n / chunk_size)} batched replays of up to {chunk_size})",
                UserWarning,
                stacklevel=2,
            )
        pieces = []
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            rows = self._rows_times_h(np.eye(stop - start, n, start, dtype=self.dtype))
            pieces.append(rows[np.arange(stop - start), np.arange(start, stop)])
        return self.spec.unravel(np.concatenate(pieces) if pieces else np.zeros(0, self.dtype))

    def _rows_times_h(self, rows):
        """``rows @ H`` (= ``(H rows^T)^T``, H symmetric) for ``k`` flat row vectors ``(k, n)``."""
        k = rows.shape[0]
        self._counted(k)
        if k == 0:
            return np.zeros(rows.shape, self.dtype)
        if self._batched_product is None:
            return np.stack([self.spec.ravel(self._product(self.spec.unravel(row)), "H v")
                             for row in rows])
        products = self._batched_product(self.spec.unravel(rows, (k,)))
        return self.spec.ravel(products, "H V", (k,))

    def __repr__(self) -> str:
        return f"HvpOperator(shape={self.shape}, dtype={self.dtype}, count={self.count})"


#: f -> its compiled ``(x, v) -> H v`` (a CompiledOrEager), shared by every operator of ``f``
_COMPILED_HVPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _compiled_hvp(f) -> CompiledOrEager:
    """The compiled ``hvp(f, x, v)`` of ``f``: one per function (held weakly), so operators at
    new points replay the same recording."""
    try:
        compiled = _COMPILED_HVPS.get(f)
    except TypeError:  # not weakly referable (a builtin): compiled for this operator only
        compiled = None
        cache = False
    else:
        cache = True
    if compiled is None:
        f_ref = weakref.ref(f) if cache else (lambda: f)

        def hessian_vector_product(x, v):  # holds f weakly: the cache entry must not keep it
            return hvp(f_ref(), x, v)

        name = getattr(f, "__qualname__", None) or type(f).__name__
        compiled = CompiledOrEager(hessian_vector_product,
                                   f"the Hessian-vector product of {name}")
        if cache:
            _COMPILED_HVPS[f] = compiled
    return compiled


def hvp_operator(f, x, jit: bool = True) -> HvpOperator:
    """The Hessian of scalar ``f`` at ``x`` as a linear operator: ``op(v) = H v``.

    Built on :func:`~autodiff.linearize.linearize` of ``grad f``: ``f`` and its reverse sweep run
    once, and each product replays only the recorded linear operations, several times cheaper
    than repeated :func:`~autodiff.hvp` calls.  ``x`` is one argument (a tuple means
    ``f(*x)``; wrap a tuple-valued argument as ``(x,)``), a pytree of floats / arrays.
    ``op(V)`` of an ``n x k`` matrix, ``op.matmat`` and ``op.diagonal()`` push many unit or
    given directions through one batched replay.

    With ``jit=True`` (the default) single products are compiled instead (see the module
    docstring): ``hvp(f, x, v)`` is recorded once per ``f`` and replayed, bit for bit the
    eager ``ad.hvp``; the linearisation is built only when a batched product or ``op.gradient``
    asks for it, or when ``f`` cannot be recorded (one ``RuntimeWarning`` names the reason).

    Example
    -------
    >>> import numpy as np, scipy.sparse.linalg as spla, autodiff as ad
    >>> f = lambda x: np.sum(np.exp(x)) + 0.5 * np.sum(x ** 2)
    >>> op = ad.hvp_operator(f, np.zeros(3))      # H = 2 I
    >>> op(np.ones(3)), op.shape, op.curvature(np.ones(3))
    (array([2., 2., 2.]), (3, 3), 6.0)
    >>> op.diagonal()
    array([2., 2., 2.])
    >>> spla.cg(op, np.ones(3))[0]
    array([0.5, 0.5, 0.5])
    """
    argnums = tuple(range(len(x))) if isinstance(x, tuple) else 0
    if not jit:
        gradient, linear = linearize(grad(f, argnums), x)
        return HvpOperator(flat_spec(x), linear, linear.batched, gradient)
    spec = flat_spec(x)  # checks x before anything is recorded
    compiled = _compiled_hvp(f)
    at_x = compiled.at(x)  # the partials at x computed once, by this operator's first product
    # the point is held as it is now (at_x's copy), as the linearisation holds it
    (x,) = at_x.fixed
    linearized = []

    def linearization():
        if not linearized:
            linearized.extend(linearize(grad(f, argnums), x))
        return linearized

    def product(v):
        if compiled.reason is None:
            return at_x(v)  # eager hvp for this product, if the recording fails now
        return linearization()[1](v)

    def batched_product(vs):
        return linearization()[1].batched(vs)

    # x one vector: flat vectors are its trees (the replay returns new arrays, writes nothing)
    vector = product if isinstance(x, np.ndarray) and x.ndim == 1 else None
    return HvpOperator(spec, product, batched_product, lambda: linearization()[0], vector)
