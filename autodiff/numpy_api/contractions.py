"""NumPy's contractions on traced values: ``einsum``, ``tensordot``, ``kron``, ``cross``,
``vdot``, ``inner``.

``einsum`` is one primitive (:mod:`autodiff.rules.contractions`).  The others follow NumPy's
own implementations step by step, written with primitives (``tensordot`` as a transpose, a
reshape and one matrix product; ``kron`` as a broadcast product; ``cross`` from the component
products), so the values are NumPy's to the last bit and the derivatives come from those
primitives' rules.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..rules import contractions as rules_contractions
from ..rules import elementwise as ew
from ..rules import indexing as rules_indexing
from ..rules import linalg as rules_linalg
from ..rules import shapes as rules_shape
from ..rules.primitive import Case, call_with, implements, ndim_of, normalize_axes, shape_of
from .products import dot
from .protocol import refuse_keywords
from .shapes import moveaxis, ravel, stack, swapaxes

__all__ = ["einsum", "tensordot", "kron", "cross", "vdot", "inner"]


def _sublist_letter(label) -> str:
    """NumPy's mapping of a sublist label to a subscript: 0-25 -> 'A'-'Z', 26-51 -> 'a'-'z'."""
    if label is Ellipsis:
        return "..."
    label = int(label)
    if not 0 <= label < 52:
        raise ValueError(f"einsum: subscript label {label} is not in [0, 52)")
    return chr(ord("A") + label) if label < 26 else chr(ord("a") + label - 26)


def _from_sublists(arguments):
    """``einsum(x, [0, 1], y, [1, 2], [0, 2])`` as ``("Ab,bc->Ac"-style string, (x, y))``."""
    operands = arguments[0::2]
    sublists = list(arguments[1::2])
    output = None
    if len(arguments) % 2:
        operands, output = operands[:-1], arguments[-1]
    inputs = ",".join("".join(_sublist_letter(s) for s in sub) for sub in sublists)
    if output is None:
        return inputs, operands
    return inputs + "->" + "".join(_sublist_letter(s) for s in output), operands


@implements(np.einsum, cases=(
    Case("matrix-vector", ((3, 4), (4,)), lambda fn, a, b: fn("ij,j->i", a, b)),
    Case("bilinear-form", ((3,), (3, 4), (4,)), lambda fn, x, a, y: fn("i,ij,j", x, a, y)),
    Case("transpose-implicit", ((3, 4),), lambda fn, a: fn("ba", a)),
    Case("batched-ellipsis", ((2, 3, 4), (4, 5)), lambda fn, a, b: fn("...k,kl", a, b)),
    Case("attention-scores", ((5, 4), (5, 4)), lambda fn, q, k: fn("qd,kd->qk", q, k)),
    Case("same-operand-twice", ((3, 4),), lambda fn, a: fn("ij,ij->", a, a)),
    Case("diagonal-of-product", ((3, 3), (3, 3)), lambda fn, a, b: fn("ij,ji->i", a, b)),
    Case("3d-contraction", ((2, 3, 4), (3, 2, 5)), lambda fn, a, b: fn("ijk,jil->kl", a, b)),
    Case("optimize-greedy", ((2, 3), (3, 4), (4, 2)),
         lambda fn, a, b, c: fn("ij,jk,kl->il", a, b, c, optimize="greedy")),
    Case("sublists", ((3, 4), (4, 2)), lambda fn, a, b: fn(a, [0, 1], b, [1, 2], [0, 2])),
))
def einsum(*operands, out=None, dtype=None, order="K", casting="safe", optimize=False):
    """Einstein summation (``np.einsum``): any subscripts, implicit output, ellipsis, repeated
    indices (diagonals), the interleaved sublist form; ``optimize`` chooses only the order in
    which NumPy contracts (never the value's meaning).  ``out``, ``dtype``, ``order`` and
    ``casting`` are refused unless left at their defaults."""
    refuse_keywords("einsum", out=(out, None), dtype=(dtype, None), order=(order, "K"),
            casting=(casting, "safe"))
    if not operands:
        raise TypeError("einsum() needs at least the subscripts")
    if isinstance(operands[0], str):
        subscripts, arrays = operands[0], operands[1:]
    else:
        subscripts, arrays = _from_sublists(operands)
    if isinstance(optimize, list):
        optimize = tuple(optimize)
    return rules_contractions.einsum(*arrays, subscripts=subscripts, optimize=optimize)


def _tensordot_axes(axes):
    """NumPy's reading of ``axes``: an int ``N`` (last N of a, first N of b) or a pair."""
    try:
        iter(axes)
    except TypeError:
        n = int(axes)
        return list(range(-n, 0)), list(range(n))
    axes_a, axes_b = axes
    axes_a = list(axes_a) if np.ndim(axes_a) else [axes_a]
    axes_b = list(axes_b) if np.ndim(axes_b) else [axes_b]
    for side in (axes_a, axes_b):
        if len(set(side)) != len(side):
            raise ValueError("duplicate axes are not allowed in tensordot")
    return [int(a) for a in axes_a], [int(b) for b in axes_b]


@implements(np.tensordot, cases=(
    Case("axes=2", ((2, 3, 4), (3, 4, 2)), call_with()),
    Case("axes=1", ((3, 4), (4, 2)), call_with(axes=1)),
    Case("axes=0-outer", ((3,), (2,)), call_with(axes=0)),
    Case("axes-pair", ((2, 3, 4), (4, 2)), call_with(axes=([0, 2], [1, 0]))),
    Case("axes-int-pair", ((3, 4), (2, 3)), call_with(axes=(0, 1))),
))
def tensordot(a, b, axes=2):
    """``np.tensordot``: the axes summed are moved to the end of ``a`` and the front of ``b``,
    both flattened to matrices, multiplied once, and reshaped, exactly as NumPy does."""
    axes_a, axes_b = _tensordot_axes(axes)
    shape_a, shape_b = shape_of(a), shape_of(b)
    if len(axes_a) != len(axes_b) or any(
        shape_a[i] != shape_b[j] for i, j in zip(axes_a, axes_b)
    ):
        raise ValueError("shape-mismatch for sum")
    axes_a = [i % len(shape_a) for i in axes_a]
    axes_b = [j % len(shape_b) for j in axes_b]
    free_a = [k for k in range(len(shape_a)) if k not in axes_a]
    free_b = [k for k in range(len(shape_b)) if k not in axes_b]
    summed = math.prod(shape_a[i] for i in axes_a)
    a_matrix = rules_shape.reshape(
        rules_shape.transpose(a, tuple(free_a + axes_a)),
        (math.prod(shape_a[k] for k in free_a), summed),
    )
    b_matrix = rules_shape.reshape(
        rules_shape.transpose(b, tuple(axes_b + free_b)),
        (summed, math.prod(shape_b[k] for k in free_b)),
    )
    product = rules_linalg.matmul(a_matrix, b_matrix)
    return rules_shape.reshape(
        product, tuple(shape_a[k] for k in free_a) + tuple(shape_b[k] for k in free_b)
    )


@implements(np.kron, cases=(
    Case("matrices", ((2, 3), (3, 2)), call_with()),
    Case("vector-matrix", ((3,), (2, 2)), call_with()),
    Case("scalar", ((), (2, 3)), call_with()),
))
def kron(a, b):
    """Kronecker product: ``kron(a, b)[i_t s_t + j_t] = a[i] b[j]`` (shapes ``r`` and ``s``, the
    smaller rank padded with leading ones), one broadcast product and a reshape."""
    nda, ndb = ndim_of(a), ndim_of(b)
    if nda == 0 or ndb == 0:
        return ew.multiply(a, b)
    nd = max(nda, ndb)
    shape_a = (1,) * (nd - nda) + shape_of(a)
    shape_b = (1,) * (nd - ndb) + shape_of(b)
    a_spread = rules_shape.reshape(a, tuple(s for n in shape_a for s in (n, 1)))
    b_spread = rules_shape.reshape(b, tuple(s for n in shape_b for s in (1, n)))
    return rules_shape.reshape(
        ew.multiply(a_spread, b_spread), tuple(m * n for m, n in zip(shape_a, shape_b))
    )


def _component(v, i):
    return rules_indexing.getitem(v, index=(Ellipsis, i))


@implements(np.cross, cases=(
    Case("3-vectors", ((3,), (3,)), call_with()),
    Case("stacked", ((4, 3), (4, 3)), call_with()),
    Case("broadcast", ((3,), (2, 3)), call_with()),
    Case("axis=0", ((3, 4), (3, 4)), call_with(axis=0)),
    Case("axisa-axisb-axisc", ((3, 2), (2, 3)), call_with(axisa=0, axisb=1, axisc=0)),
))
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """Cross product of (arrays of) 3-vectors along ``axisa``/``axisb``, the result's vectors
    along ``axisc`` (``axis`` sets all three); 2-vectors have a zero third component (deprecated
    by NumPy 2.0, with its warning), and two of them give the scalar ``a0 b1 - a1 b0``."""
    if axis is not None:
        axisa = axisb = axisc = axis
    if ndim_of(a) < 1 or ndim_of(b) < 1:
        raise ValueError("At least one array has zero dimension")
    (axisa,) = normalize_axes(axisa, ndim_of(a))
    (axisb,) = normalize_axes(axisb, ndim_of(b))
    a = moveaxis(a, axisa, -1)
    b = moveaxis(b, axisb, -1)
    na, nb = shape_of(a)[-1], shape_of(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError("incompatible dimensions for cross product\n(dimension must be 2 or 3)")
    if na == 2 or nb == 2:
        warnings.warn(
            "Arrays of 2-dimensional vectors are deprecated. Use arrays of 3-dimensional "
            "vectors instead. (deprecated in NumPy 2.0)",
            DeprecationWarning,
            stacklevel=3,
        )
    a0, a1, b0, b1 = _component(a, 0), _component(a, 1), _component(b, 0), _component(b, 1)
    third = ew.subtract(ew.multiply(a0, b1), ew.multiply(a1, b0))
    if na == 2 and nb == 2:
        return third
    if na == 2:
        b2 = _component(b, 2)
        first, second = ew.multiply(a1, b2), ew.negative(ew.multiply(a0, b2))
    elif nb == 2:
        a2 = _component(a, 2)
        first, second = ew.negative(ew.multiply(a2, b1)), ew.multiply(a2, b0)
    else:
        a2, b2 = _component(a, 2), _component(b, 2)
        first = ew.subtract(ew.multiply(a1, b2), ew.multiply(a2, b1))
        second = ew.subtract(ew.multiply(a2, b0), ew.multiply(a0, b2))
    product = stack([first, second, third], axis=-1)
    (axisc,) = normalize_axes(axisc, ndim_of(product))
    return moveaxis(product, -1, axisc)


@implements(np.vdot, cases=(
    Case("vectors", ((4,), (4,)), call_with()),
    Case("matrices-flattened", ((2, 3), (3, 2)), call_with()),
))
def vdot(a, b):
    """``sum(a.ravel() * b.ravel())`` as one dot product (real values: no conjugation)."""
    a, b = ravel(a), ravel(b)
    if shape_of(a) != shape_of(b):
        raise ValueError("vdot: the arrays have different numbers of elements")
    return rules_linalg.matmul(a, b)


@implements(np.inner, cases=(
    Case("vectors", ((4,), (4,)), call_with()),
    Case("scalar-matrix", ((), (3, 4)), call_with()),
    Case("matrix-scalar", ((3, 4), ()), call_with()),
    Case("matrix-vector", ((3, 4), (4,)), call_with()),
    Case("vector-matrix", ((4,), (3, 4)), call_with()),
    Case("matrices", ((2, 4), (3, 4)), call_with()),
    Case("3d-2d", ((2, 3, 4), (5, 4)), call_with()),
))
def inner(a, b):
    """``inner(a, b)[i..., j...] = sum_k a[i..., k] b[j..., k]``; a scalar operand multiplies.

    As NumPy computes it: ``dot(a, b)`` with the last two axes of ``b`` swapped.
    """
    if ndim_of(a) == 0 or ndim_of(b) == 0:
        return ew.multiply(a, b)
    if shape_of(a)[-1] != shape_of(b)[-1]:
        raise ValueError(
            f"shapes {shape_of(a)} and {shape_of(b)} not aligned: {shape_of(a)[-1]} (dim "
            f"{ndim_of(a) - 1}) != {shape_of(b)[-1]} (dim {ndim_of(b) - 1})"
        )
    return dot(a, swapaxes(b, -1, -2) if ndim_of(b) >= 2 else b)
