"""``hvp_operator``: the Hessian at a fixed point as a reusable linear operator.

Conjugate gradients and Newton-CG (seed 004: "find an algorithm that works with the projection
``Hv``") apply the Hessian at one point to many vectors.  ``ad.hvp(f, x, v)`` redoes the forward
pass, the reverse sweep and every partial derivative for each ``v``; here ``grad f`` is
:func:`~autodiff.linearize.linearize` d once at ``x`` (forward over reverse, recorded), and each
product replays only the linear tangent operations of that sweep::

    H v = d/de grad f(x + e v) |_(e=0)

The operator speaks two dialects: called on ``v`` shaped like ``x`` (a pytree) it returns ``H v``
of the same shape; ``matvec`` takes and returns flat vectors of length ``n`` (the total size of
``x``), so it drops into ``scipy.sparse.linalg`` (``cg(op, b)``, ``LinearOperator(op.shape,
matvec=op.matvec, dtype=op.dtype)``).
"""

from __future__ import annotations

import numpy as np

from .linearize import linearize
from .pytree import flatten, unflatten
from .rules.primitive import Traced, dtype_of, shape_of
from .transforms import grad

__all__ = ["hvp_operator", "HvpOperator"]


class HvpOperator:
    """``v -> H v`` for ``H`` the Hessian of scalar ``f`` at ``x`` (see :func:`hvp_operator`).

    Attributes
    ----------
    shape:
        ``(n, n)`` with ``n`` the total number of entries of ``x``.
    dtype:
        The result dtype of ``x``'s leaves (float32 stays float32).
    count:
        How many Hessian-vector products have been applied (a ``matmat`` of k columns counts k).
    gradient:
        ``grad f(x)``, a by-product of recording (same structure as ``x``).
    """

    def __init__(self, f, x):
        argnums = tuple(range(len(x))) if isinstance(x, tuple) else 0
        self.gradient, self._linear = linearize(grad(f, argnums), x)
        leaves, self._treedef = flatten(x)
        self._shapes = [shape_of(leaf) for leaf in leaves]
        self._dtypes = [dtype_of(leaf) for leaf in leaves]
        self._sizes = [int(np.prod(s, dtype=int)) for s in self._shapes]
        n = sum(self._sizes)
        self.shape = (n, n)
        self.dtype = np.result_type(*self._dtypes) if leaves else np.dtype(np.float64)
        self.count = 0

    # -- x-shaped vectors --------------------------------------------------------------------
    def __call__(self, v):
        """``H v`` for ``v`` with the structure and shapes of ``x``."""
        self.count += 1
        return self._linear(v)

    def curvature(self, v) -> float:
        """``v^T H v``: negative means a direction of negative curvature (not a minimum).

        ``v`` may be shaped like ``x`` or a flat vector of length ``n``.
        """
        if self._is_flat(v):
            flat = np.asarray(v, dtype=self.dtype).reshape(-1)
            return float(flat @ self.matvec(flat))
        products = flatten(self(v))[0]
        total = sum(np.sum(a * b) for a, b in zip(flatten(v)[0], products))
        return total if isinstance(total, Traced) else float(total)

    # -- flat vectors (scipy.sparse.linalg) --------------------------------------------------
    def matvec(self, v):
        """``H v`` on a flat vector of shape ``(n,)`` or ``(n, 1)`` (the result has the same)."""
        v = np.asarray(v)
        n = self.shape[0]
        if v.shape not in ((n,), (n, 1)):
            raise ValueError(
                f"matvec expects a flat vector of shape ({n},) or ({n}, 1), got {v.shape}; "
                "call the operator itself for a vector shaped like x"
            )
        product = self._ravel(self(self._unravel(v.reshape(n), ())), ())
        return product.reshape(v.shape)

    rmatvec = matvec  # H is symmetric

    def matmat(self, V):
        """``H V`` for ``V`` of shape ``(n, k)``: ``k`` products in one batched replay."""
        V = np.asarray(V)
        n = self.shape[0]
        if V.ndim != 2 or V.shape[0] != n:
            raise ValueError(f"matmat expects an array of shape ({n}, k), got {V.shape}")
        k = V.shape[1]
        self.count += k
        directions = self._unravel(np.ascontiguousarray(V.T), (k,))
        return self._ravel(self._linear.batched(directions), (k,)).T

    rmatmat = matmat

    def __matmul__(self, v):
        return self.matmat(v) if np.ndim(v) == 2 else self.matvec(v)

    @property
    def T(self):
        return self

    # -- flat <-> x-shaped ---------------------------------------------------------------------
    def _is_flat(self, v) -> bool:
        leaves, treedef = flatten(v)
        if treedef == self._treedef and [shape_of(leaf) for leaf in leaves] == self._shapes:
            return False
        if np.shape(v) in ((self.shape[0],), (self.shape[0], 1)):
            return True
        raise ValueError(
            f"v must be shaped like x (structure {self._treedef!r}, shapes {self._shapes}) or a "
            f"flat vector of length {self.shape[0]}"
        )

    def _unravel(self, flat, batch):
        leaves, offset = [], 0
        for shape, size, dtype in zip(self._shapes, self._sizes, self._dtypes):
            block = flat[..., offset:offset + size].astype(dtype, copy=False)
            leaves.append(block.reshape(batch + shape))
            offset += size
        return unflatten(self._treedef, leaves)

    def _ravel(self, tree, batch):
        leaves = flatten(tree)[0]
        parts = [np.reshape(np.asarray(leaf, dtype=self.dtype), batch + (-1,)) for leaf in leaves]
        if not parts:
            return np.zeros(batch + (0,), self.dtype)
        return np.concatenate(parts, axis=-1)

    def __repr__(self) -> str:
        return f"HvpOperator(shape={self.shape}, dtype={self.dtype}, count={self.count})"


def hvp_operator(f, x) -> HvpOperator:
    """The Hessian of scalar ``f`` at ``x`` as a linear operator: ``op(v) = H v``.

    Built on :func:`~autodiff.linearize.linearize` of ``grad f``: ``f`` and its reverse sweep run
    once, and each product replays only the recorded linear operations, several times cheaper
    than repeated :func:`~autodiff.hvp` calls.  ``x`` is one argument (a tuple means
    ``f(*x)``), a pytree of floats / arrays.

    Example
    -------
    >>> import numpy as np, scipy.sparse.linalg as spla, autodiff as ad
    >>> f = lambda x: np.sum(np.exp(x)) + 0.5 * np.sum(x ** 2)
    >>> op = ad.hvp_operator(f, np.zeros(3))      # H = 2 I
    >>> op(np.ones(3)), op.shape, op.curvature(np.ones(3))
    (array([2., 2., 2.]), (3, 3), 6.0)
    >>> spla.cg(op, np.ones(3))[0]
    array([0.5, 0.5, 0.5])
    """
    return HvpOperator(f, x)
