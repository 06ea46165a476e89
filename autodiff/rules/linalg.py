"""Linear algebra primitives: the matrix product (NumPy's ``matmul`` semantics).

``C = A B``: ``dC = dA B + A dB`` and ``A_bar = C_bar B^T``, ``B_bar = A^T C_bar`` (Giles,
"Collected matrix derivative results for forward and reverse mode algorithmic
differentiation", 2008, sec. 3.2), with vectors promoted to matrices as ``matmul`` does and
leading batch axes folded into one BLAS call where possible.
"""

from __future__ import annotations

import numpy as np

from . import elementwise as ew
from . import reductions, series, shapes
from .primitive import Case, Primitive, batch_ndim, call_with, ndim_of, shape_of

__all__ = ["matmul"]


def _swap_last(x):
    n = ndim_of(x)
    return shapes.transpose(x, tuple(range(n - 2)) + (n - 1, n - 2))


def _fold_right(x, m):
    """``x @ m`` for ``x`` of shape ``(..., r)`` and a matrix ``m``: one matrix product.

    The leading axes of ``x`` (batch and stack axes) are folded into its rows, so NumPy runs a
    single GEMM instead of one small product per leading index.
    """
    shape = shape_of(x)
    if len(shape) <= 2:
        return matmul(x, m)
    product = matmul(shapes.reshape(x, (-1, shape[-1])), m)
    return shapes.reshape(product, shape[:-1] + shape_of(m)[-1:])


def _fold_left(m, x):
    """``m @ x`` for a matrix ``m`` and ``x`` of shape ``(..., c, s)``: one matrix product."""
    if ndim_of(x) <= 2:
        return matmul(m, x)
    return _swap_last(_fold_right(_swap_last(x), _swap_last(m)))


def _matmul_left_term(ta, a, b):
    """``ta @ b`` for a (batched) tangent ``ta`` of ``a``, batch axes kept leading."""
    a_nd, b_nd = ndim_of(a), ndim_of(b)
    if a_nd == 1 and b_nd == 1:
        return reductions.reduce_sum(ew.multiply(ta, b), axis=-1)
    if b_nd == 2:
        return _fold_right(ta, b)
    shape = shape_of(ta)
    n_batch = len(shape) - a_nd
    if a_nd == 1:  # a row vector: lift to (1, m), padded to b's stacking rank
        lifted = shapes.reshape(ta, shape[:n_batch] + (1,) * (b_nd - 2) + (1, shape[-1]))
        product = matmul(lifted, b)
        return shapes.reshape(product, shape_of(product)[:-2] + shape_of(product)[-1:])
    padded = shapes.reshape(ta, shape[:n_batch] + (1,) * max(0, b_nd - a_nd) + shape[n_batch:])
    return matmul(padded, b)


def _matmul_right_term(a, tb, b):
    """``a @ tb`` for a (batched) tangent ``tb`` of ``b``, batch axes kept leading."""
    a_nd, b_nd = ndim_of(a), ndim_of(b)
    if a_nd == 1 and b_nd == 1:
        return reductions.reduce_sum(ew.multiply(a, tb), axis=-1)
    if a_nd == 2:
        return _fold_right(tb, _swap_last(a)) if b_nd == 1 else _fold_left(a, tb)
    shape = shape_of(tb)
    n_batch = len(shape) - b_nd
    if b_nd == 1:  # a column vector: lift to (m, 1), padded to a's stacking rank
        lifted = shapes.reshape(tb, shape[:n_batch] + (1,) * (a_nd - 2) + (shape[-1], 1))
        product = matmul(a, lifted)
        return shapes.reshape(product, shape_of(product)[:-1])
    padded = shapes.reshape(tb, shape[:n_batch] + (1,) * max(0, a_nd - b_nd) + shape[n_batch:])
    return matmul(a, padded)


def _matmul_jvp(primals, tangents, out):
    a, b = primals
    ta, tb = tangents
    left = None if ta is None else _matmul_left_term(ta, a, b)
    right = None if tb is None else _matmul_right_term(a, tb, b)
    if left is None or right is None:
        return right if left is None else left
    return ew.add(left, right)


def _matrix_vector_vjp(g, a, b, wanted):
    """Cotangents of ``a @ b`` for one 2-D and one 1-D operand: a product and an outer product.

    ``A @ x``: ``A_bar = g x^T`` and ``x_bar = g A`` (``g`` has the batch axes leading).
    ``x @ A``: ``x_bar = g A^T`` and ``A_bar = x g^T``.
    """
    a_matrix = ndim_of(a) == 2
    matrix, vector = (a, b) if a_matrix else (b, a)
    g_shape = shape_of(g)
    results = []
    for i in wanted:
        if (i == 0) == a_matrix:  # the matrix operand: an outer product
            g_col = shapes.reshape(g, g_shape + (1,))
            vector_row = shapes.reshape(vector, (1,) + shape_of(vector))
            results.append(
                ew.multiply(g_col, vector_row)
                if a_matrix
                else ew.multiply(_swap_last(g_col), shapes.reshape(vector, shape_of(vector) + (1,)))
            )
        else:  # the vector operand: one product with the matrix
            results.append(matmul(g, matrix) if a_matrix else matmul(g, _swap_last(matrix)))
    return results


def _matmul_vjp(g, primals, out, wanted):
    """a_bar = g @ b^T and b_bar = a^T @ g, on vectors promoted to matrices as matmul does."""
    a, b = primals
    a_shape, b_shape = shape_of(a), shape_of(b)
    if sorted((len(a_shape), len(b_shape))) == [1, 2]:
        return _matrix_vector_vjp(g, a, b, wanted)
    a_m = shapes.reshape(a, (1,) + a_shape) if len(a_shape) == 1 else a
    b_m = shapes.reshape(b, b_shape + (1,)) if len(b_shape) == 1 else b
    am_shape, bm_shape = shape_of(a_m), shape_of(b_m)
    n_batch = batch_ndim(g, out)
    batch = shape_of(g)[:n_batch]
    stack = np.broadcast_shapes(am_shape[:-2], bm_shape[:-2])
    g_m = shapes.reshape(g, batch + stack + (am_shape[-2], bm_shape[-1]))
    results = []
    for i in wanted:
        if i == 0:
            b_t = _swap_last(b_m)
            ga = _fold_right(g_m, b_t) if len(bm_shape) == 2 else matmul(g_m, b_t)
            ga = shapes.unbroadcast(ga, am_shape, n_batch)
            results.append(shapes.reshape(ga, batch + a_shape))
        else:
            a_t = _swap_last(a_m)
            gb = _fold_left(a_t, g_m) if len(am_shape) == 2 else matmul(a_t, g_m)
            gb = shapes.unbroadcast(gb, bm_shape, n_batch)
            results.append(shapes.reshape(gb, batch + b_shape))
    return results


matmul = Primitive(
    "matmul",
    np.matmul,
    _matmul_jvp,
    _matmul_vjp,
    taylor=series.matmul,
    cases=(
        Case("1d@1d", ((4,), (4,)), call_with()),
        Case("1d@2d", ((3,), (3, 4)), call_with()),
        Case("2d@1d", ((3, 4), (4,)), call_with()),
        Case("2d@2d", ((3, 4), (4, 2)), call_with()),
        Case("(1,n)@2d", ((1, 3), (3, 4)), call_with()),
        Case("3d@2d", ((2, 3, 4), (4, 3)), call_with()),
        Case("2d@3d", ((3, 4), (2, 4, 3)), call_with()),
        Case("3d@3d", ((2, 3, 4), (2, 4, 2)), call_with()),
        Case("stack-broadcast", ((1, 3, 4), (2, 4, 2)), call_with()),
        Case("1d@3d", ((4,), (2, 4, 3)), call_with()),
        Case("3d@1d", ((2, 3, 4), (4,)), call_with()),
    ),
)
