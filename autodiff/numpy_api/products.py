"""NumPy's products on traced values: ``matmul``, ``dot``, ``outer`` (``inner`` and the other
contractions are in :mod:`.contractions`)."""

from __future__ import annotations

import numpy as np

from ..rules import elementwise as ew
from ..rules import linalg as rules_linalg
from ..rules import shapes as rules_shape
from ..rules.primitive import Case, call_with, implements, ndim_of, shape_of
from .shapes import moveaxis, ravel, reshape


@implements(np.matmul, cases=(Case("operator", ((3, 4), (4, 2)), lambda _, a, b: a @ b),))
def matmul(a, b):
    if ndim_of(a) == 0 or ndim_of(b) == 0:
        raise ValueError("matmul: input operand does not have enough dimensions (use * for scalars)")
    return rules_linalg.matmul(a, b)


@implements(np.dot, cases=tuple(
    Case(label, shapes, call_with())
    for label, shapes in [
        ("1d-1d", ((4,), (4,))), ("2d-1d", ((3, 4), (4,))), ("1d-2d", ((3,), (3, 4))),
        ("2d-2d", ((3, 4), (4, 3))), ("scalar", ((), (3, 4))), ("3d-1d", ((2, 3, 4), (4,))),
        ("1d-3d", ((3,), (2, 3, 4))), ("3d-3d", ((2, 1, 3), (2, 3, 2))),
    ]
))
def dot(a, b):
    """``np.dot``: sum over the last axis of ``a`` and the second-to-last of ``b`` (or its only).

    Scalars multiply; up to 2-D operands, or any ``a`` with a vector ``b``, it is ``matmul``.  For
    N-D ``b`` (``dot(a, b)[i, j, k] = sum_n a[i, n] b[j, n, k]``, no stacking) ``b``'s summed
    axis is moved to the front and both sides flattened into one matrix product.
    """
    if ndim_of(a) == 0 or ndim_of(b) == 0:
        return ew.multiply(a, b)
    if ndim_of(b) == 1 or (ndim_of(a) <= 2 and ndim_of(b) == 2):
        return rules_linalg.matmul(a, b)
    n = shape_of(b)[-2]
    b_first = moveaxis(b, -2, 0)
    product = rules_linalg.matmul(reshape(a, (-1, n)), reshape(b_first, (n, -1)))
    return reshape(product, shape_of(a)[:-1] + shape_of(b_first)[1:])


@implements(np.outer, cases=(
    Case("vectors", ((3,), (4,)), call_with()),
    Case("matrices", ((2, 2), (3,)), call_with()),
))
def outer(a, b):
    """Outer product of the flattened inputs: ``out[i, j] = a[i] * b[j]``."""
    a, b = ravel(a), ravel(b)
    return ew.multiply(rules_shape.reshape(a, shape_of(a) + (1,)), rules_shape.reshape(b, (1,) + shape_of(b)))
