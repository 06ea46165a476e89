"""Build an :class:`~autodiff.optim.objective.Objective` from a function on a pytree, by autodiff.

For ``f`` taking a pytree shaped like ``x0``, the flat objective is ``z -> f(unravel(z))``. Its
derivatives come from the autodiff transforms applied to ``f`` on the tree itself, their results
raveled the same way:

* ``∇f``:   ``ad.value_and_grad(f)(x)``, one forward and one reverse sweep;
* ``H v``:  ``ad.hvp_operator(f, x)``, linearised once per point, then one product per call
  (``v`` and ``H v`` are trees like ``x``);
* ``H``:    ``ad.hessian(f)(x)``, whose blocks ``H[i][j]`` (shape ``leafᵢ.shape + leafⱼ.shape``)
  are reshaped to ``(sizeᵢ, sizeⱼ)`` and assembled into the ``n x n`` matrix.

``autodiff`` is imported inside the functions, so this module loads on its own.
"""

import numpy as np

from .objective import Objective
from .pytree import tree_leaves

__all__ = ["autodiff_objective"]


def _dense_hessian(hessian_tree, spec):
    """Assemble the ``n x n`` matrix from the Hessian of a function of a pytree (a tree of
    trees: block ``(i, j)`` is the ``i * L + j``-th leaf for ``L`` leaves)."""
    sizes = spec.leaf_sizes
    blocks = tree_leaves(hessian_tree)
    if len(blocks) != len(sizes) ** 2:
        raise ValueError(f"ad.hessian returned {len(blocks)} blocks for {len(sizes)} leaves; "
                         f"expected {len(sizes) ** 2}")
    rows = []
    for i, size_i in enumerate(sizes):
        row = []
        for j, size_j in enumerate(sizes):
            block = np.asarray(blocks[i * len(sizes) + j], dtype=np.float64)
            if block.size != size_i * size_j:
                raise ValueError(f"Hessian block ({i}, {j}) has shape {block.shape}; "
                                 f"expected {size_i * size_j} entries")
            row.append(block.reshape(size_i, size_j))
        rows.append(row)
    return np.block(rows)


def autodiff_objective(f, spec):
    """The flat objective ``z -> f(spec.unravel(z))`` with derivatives from ``autodiff``.

    ``spec`` is the :class:`~autodiff.optim.pytree.PyTreeSpec` of the starting point.
    """
    if not callable(f):
        raise TypeError(f"f must be a callable to minimise, got {type(f).__name__}")

    def fun(z):
        return f(spec.unravel(z))

    def value_and_grad(z):
        import autodiff as ad

        value, gradient = ad.value_and_grad(f)(spec.unravel(z))
        return value, spec.ravel(gradient, "gradient")

    def boxed(tree):
        return f(tree["x"])

    def hvp_operator(z):
        import autodiff as ad

        # the primal goes in a one-entry dict: the hvp family reads a top-level tuple as
        # several arguments, and x0 may well be a tuple
        operator = ad.hvp_operator(boxed, {"x": spec.unravel(z)})

        def apply(v):
            product = operator({"x": spec.unravel(v)})
            return spec.ravel(product["x"], "Hessian-vector product")

        return apply

    def hessian(z):
        import autodiff as ad

        return _dense_hessian(ad.hessian(f)(spec.unravel(z)), spec)

    return Objective(fun, value_and_grad=value_and_grad, hvp_operator=hvp_operator,
                     hessian=hessian)
