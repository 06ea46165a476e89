"""Tensor contractions: ``einsum``, one primitive for every subscript string.

``einsum`` is multilinear in its operands, so each rule is another ``einsum``:

* JVP: ``d out = sum_k einsum(x_1, ..., dx_k, ..., x_n)``, the tangent's batch axes carried
  by an ellipsis;
* VJP for operand ``k``: the cotangent contracted with the other operands into operand ``k``'s
  subscripts.  Two things need more than a contraction, and both are folded into the same call
  as constant operands: an index of operand ``k`` that appears nowhere else (summed away in the
  forward pass) is broadcast back by a ones vector, and a repeated index (a diagonal, ``"ii->i"``)
  is scattered onto the diagonal by identity matrices tying each repetition to its first
  occurrence (``x_bar[i, j] = y_bar[i] delta_ij`` for ``"ii->i"``); an index along which operand
  ``k`` was broadcast (size 1 against a longer axis) is summed and kept as a unit axis;
* Taylor: with ``m`` varying operands, coefficient ``r`` of the output is the sum of
  ``einsum(A_1[p_1], ..., A_m[p_m])`` over ``p_1 + ... + p_m = r`` (Griewank & Walther,
  *Evaluating Derivatives*, 2nd ed., 2008, sec. 13.2, for products), one ``einsum`` with the
  constant "Cauchy" tensor ``C[p_1, ..., p_m, r] = [p_1 + ... + p_m = r]``.

Every rule is an ``einsum`` of primitives, so rules differentiate again.  The same structure is
derived for ``einsum`` by Laue, Mitterreiter & Giesen, "Computing higher order derivatives of
matrix and tensor expressions" (NeurIPS 2018), sec. 3.

Subscripts are parsed once per operand rank into an explicit form: the ellipsis replaced by
letters the string does not use, the implicit output (ellipsis axes, then the letters seen
once, in ASCII order) written out.  The value itself is NumPy's ``einsum`` on the subscripts as
given, so it is exactly NumPy's.
"""

from __future__ import annotations

import functools
import itertools
import math
import string
from dataclasses import dataclass

import numpy as np

from . import elementwise as ew
from . import indexing, shapes
from .primitive import Case, Primitive, call_with, dtype_of, shape_of

__all__ = ["einsum", "parse_subscripts", "PAIRWISE"]

_LETTERS = string.ascii_letters


@dataclass(frozen=True)
class Subscripts:
    """An einsum specification with every index written out: ``inputs`` and ``output``."""

    inputs: tuple
    output: str

    def spec(self, inputs=None, output=None) -> str:
        return ",".join(self.inputs if inputs is None else inputs) + "->" + (
            self.output if output is None else output
        )

    def unused_letters(self, extra=""):
        used = set("".join(self.inputs) + self.output + extra)
        return iter(c for c in _LETTERS if c not in used)


@functools.lru_cache(maxsize=1024)
def parse_subscripts(subscripts: str, ndims: tuple) -> Subscripts:
    """The explicit form of ``subscripts`` for operands of ranks ``ndims``.

    ``"...ij,jk"`` for ranks ``(3, 2)`` becomes ``("Aij", "jk") -> "Aik"``.  Bad subscripts
    raise ``ValueError`` naming the problem (NumPy's own call reports the rest).
    """
    text = subscripts.replace(" ", "")
    explicit = "->" in text
    left, output = text.split("->") if explicit else (text, None)
    inputs = left.split(",")
    if len(inputs) != len(ndims):
        raise ValueError(
            f"einsum: {len(inputs)} operands in the subscripts {subscripts!r}, {len(ndims)} given"
        )
    for part in inputs + ([output] if explicit else []):
        letters = part.replace("...", "")
        if not all(c in _LETTERS for c in letters) or part.count("...") > 1:
            raise ValueError(f"einsum: invalid subscripts {subscripts!r}")
    spare = iter(c for c in _LETTERS if c not in text)
    ellipsis_ndims = [
        ndim - len(part.replace("...", "")) if "..." in part else 0
        for part, ndim in zip(inputs, ndims)
    ]
    if any(n < 0 for n in ellipsis_ndims):
        raise ValueError(f"einsum: subscripts {subscripts!r} have more indices than dimensions")
    broadcast = "".join(next(spare) for _ in range(max(ellipsis_ndims, default=0)))
    written = tuple(
        part.replace("...", broadcast[len(broadcast) - n:] if n else "")
        for part, n in zip(inputs, ellipsis_ndims)
    )
    for part, ndim in zip(written, ndims):
        if len(part) != ndim:
            raise ValueError(
                f"einsum: subscripts {subscripts!r} do not match an operand of rank {ndim}"
            )
    if explicit:
        output = output.replace("...", broadcast)
    else:
        counts = {}
        for c in "".join(written):
            counts[c] = counts.get(c, 0) + 1
        output = broadcast + "".join(
            sorted(c for c, n in counts.items() if n == 1 and c not in broadcast)
        )
    return Subscripts(written, output)


def _sizes(parsed: Subscripts, primals) -> dict:
    """The broadcast length of every index."""
    sizes = {}
    for part, x in zip(parsed.inputs, primals):
        for c, n in zip(part, shape_of(x)):
            sizes[c] = max(sizes.get(c, 1), n)
    return sizes


def _parsed(subscripts, primals) -> Subscripts:
    return parse_subscripts(subscripts, tuple(len(shape_of(x)) for x in primals))


def _einsum_impl(*operands, subscripts, optimize=False):
    if optimize is PAIRWISE:
        return _contract_pairwise(subscripts, operands)
    return np.einsum(subscripts, *operands, optimize=optimize)


class _PairwiseMatmul:
    """``optimize=PAIRWISE``: the contraction order of the rules' einsums (see
    :func:`_contract_pairwise`); users' calls keep NumPy's ``optimize`` and NumPy's value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "PAIRWISE"


PAIRWISE = _PairwiseMatmul()


def _contract_pairwise(subscripts, operands):
    """``np.einsum(subscripts, *operands)`` as a sequence of BLAS matrix products.

    Each operand first loses its diagonals and the indices summed only within it (one small
    ``einsum`` each); then, greedily, the pair whose result is smallest is contracted: indices
    shared and still needed are batch axes, shared and no longer needed are summed, by one
    (batched) ``matmul`` of the two operands flattened to ``(batch, free, summed)`` and
    ``(batch, summed, free)``.  NumPy's own ``optimize`` path (``bmm_einsum`` in NumPy 2.4)
    is 5-20 times slower than ``matmul`` on the batched cotangents of ``jacrev``.  Without
    batch indices the left operand's first index stacks small products (as ``x @ W`` on a 3-d
    ``x``) rather than forming one tall product: OpenBLAS threads a tall product, and on a busy
    machine its threads wait for cores (the attention benchmark's ``jacrev``: 130-190 ms tall,
    12-22 ms stacked, on 2 loaded cores).
    """
    operands = [np.asarray(x) for x in operands]
    parsed = _parsed(subscripts, operands)
    sizes = _sizes(parsed, operands)
    terms = []
    for k, (part, x) in enumerate(zip(parsed.inputs, operands)):
        needed = set(parsed.output).union(*(p for i, p in enumerate(parsed.inputs) if i != k))
        letters = "".join(dict.fromkeys(c for c in part if c in needed))
        if letters != part:
            x = np.einsum(f"{part}->{letters}", x)
        terms.append((letters, x))
    while len(terms) > 1:
        i, j = _cheapest_pair(terms, parsed.output, sizes)
        (a_letters, a), (b_letters, b) = terms[i], terms[j]
        rest = [t for k, t in enumerate(terms) if k not in (i, j)]
        needed = set(parsed.output).union(*(letters for letters, _ in rest))
        terms = rest + [_contract_two(a_letters, a, b_letters, b, needed, sizes)]
    letters, result = terms[0]
    if set(letters) != set(parsed.output):
        result = np.einsum(f"{letters}->{parsed.output}", result)
        letters = parsed.output
    return np.transpose(result, [letters.index(c) for c in parsed.output])


def _cheapest_pair(terms, output, sizes):
    """The pair of terms whose contraction has the fewest elements."""
    best = None
    for i, j in itertools.combinations(range(len(terms)), 2):
        others = set(output).union(*(t[0] for k, t in enumerate(terms) if k not in (i, j)))
        kept = (set(terms[i][0]) | set(terms[j][0])) & others
        size = math.prod(sizes[c] for c in kept)
        if best is None or size < best[0]:
            best = (size, i, j)
    return best[1], best[2]


def _contract_two(a_letters, a, b_letters, b, needed, sizes):
    """``a`` and ``b`` contracted over their shared indices not ``needed`` later.

    The larger operand goes on the left with its free indices in its own order, so the
    flattening copies at most the smaller one when the summed indices already come last.
    """
    if a.size < b.size:
        a_letters, a, b_letters, b = b_letters, b, a_letters, a
    batch = [c for c in a_letters if c in b_letters and c in needed]
    summed = [c for c in a_letters if c in b_letters and c not in needed]
    a_free = [c for c in a_letters if c not in b_letters]
    b_free = [c for c in b_letters if c not in a_letters]
    a_only = [c for c in a_free if c not in needed]
    b_only = [c for c in b_free if c not in needed]
    if a_only or b_only:  # summed within one side only: sum first
        a_free = [c for c in a_free if c in needed]
        b_free = [c for c in b_free if c in needed]
        a = np.einsum(f"{a_letters}->{''.join(batch + a_free + summed)}", a)
        b = np.einsum(f"{b_letters}->{''.join(batch + summed + b_free)}", b)
        a_letters, b_letters = "".join(batch + a_free + summed), "".join(batch + summed + b_free)

    def arranged(x, letters, order):
        x = np.transpose(x, [letters.index(c) for c in order])
        return np.broadcast_to(x, tuple(sizes[c] for c in order))

    a = arranged(a, a_letters, batch + a_free + summed)
    b = arranged(b, b_letters, batch + summed + b_free)
    n_batch, n_a, n_b, n_sum = (math.prod(sizes[c] for c in group)
                                for group in (batch, a_free, b_free, summed))
    if n_batch == 1 and len(a_free) > 1:  # a stack of small products over a's first index
        stack = sizes[a_free[0]]
        product = np.matmul(a.reshape(stack, n_a // stack, n_sum), b.reshape(n_sum, n_b))
    elif n_batch == 1:
        product = np.matmul(a.reshape(n_a, n_sum), b.reshape(n_sum, n_b))
    else:
        product = np.matmul(a.reshape(n_batch, n_a, n_sum), b.reshape(n_batch, n_sum, n_b))
    letters = "".join(batch + a_free + b_free)
    return letters, product.reshape(tuple(sizes[c] for c in letters))


def _einsum_jvp(primals, tangents, out, subscripts, optimize=False):
    parsed = _parsed(subscripts, primals)
    result = None
    for k, t in enumerate(tangents):
        if t is None:
            continue
        inputs = list(parsed.inputs)
        inputs[k] = "..." + inputs[k]
        operands = list(primals)
        operands[k] = t
        term = einsum(*operands, subscripts=parsed.spec(inputs, "..." + parsed.output),
                      optimize=PAIRWISE)
        result = term if result is None else ew.add(result, term)
    return result


def _operand_cotangent(g, primals, k, parsed: Subscripts):
    """``x_k_bar``: one einsum of ``g`` with the other operands (and constants) into ``x_k``."""
    sizes = _sizes(parsed, primals)
    target = parsed.inputs[k]
    elsewhere = set(parsed.output).union(*(p for i, p in enumerate(parsed.inputs) if i != k))
    spare = parsed.unused_letters()
    operands = [g] + [x for i, x in enumerate(primals) if i != k]
    inputs = ["..." + parsed.output] + [p for i, p in enumerate(parsed.inputs) if i != k]
    dtype = dtype_of(g)
    written = ""
    for c, n in zip(target, shape_of(primals[k])):
        if c in written:  # a repeated index: a fresh one, tied to the first by the identity
            fresh = next(spare)
            operands.append(np.eye(n, dtype=dtype))
            inputs.append(c + fresh)
            written += fresh
        elif n != sizes[c]:  # broadcast along c: summed, kept as a unit axis
            fresh = next(spare)
            operands.append(np.ones(1, dtype=dtype))
            inputs.append(fresh)
            written += fresh
        else:
            if c not in elsewhere:  # summed away in the forward pass: broadcast back
                operands.append(np.ones(n, dtype=dtype))
                inputs.append(c)
            written += c
    return einsum(*operands, subscripts=",".join(inputs) + "->..." + written,
                  optimize=PAIRWISE)


def _einsum_vjp(g, primals, out, wanted, subscripts, optimize=False):
    parsed = _parsed(subscripts, primals)
    return [_operand_cotangent(g, primals, k, parsed) for k in wanted]


def _cauchy_tensor(m: int, order: int, dtype):
    """``C[p_1, ..., p_m, r] = 1`` where ``p_1 + ... + p_m = r`` (all indices ``0..order``)."""
    tensor = np.zeros((order + 1,) * (m + 1), dtype=dtype)
    for ps in itertools.product(range(order + 1), repeat=m):
        if sum(ps) <= order:
            tensor[ps + (sum(ps),)] = 1
    return tensor


def _einsum_taylor(primals, series, order, subscripts, optimize=False):
    parsed = _parsed(subscripts, primals)
    value = einsum(*primals, subscripts=subscripts, optimize=optimize)
    leading = shapes.reshape(value, (1,) + shape_of(value))
    varying = [k for k, s in enumerate(series) if s is not None]
    if order == 0 or not varying:
        return leading if order == 0 else None
    spare = parsed.unused_letters()
    order_letters = [next(spare) for _ in varying]
    result_letter = next(spare)
    inputs = list(parsed.inputs)
    operands = list(primals)
    for k, letter in zip(varying, order_letters):
        inputs[k] = letter + inputs[k]
        operands[k] = series[k]
    operands.append(_cauchy_tensor(len(varying), order, dtype_of(value)))
    inputs.append("".join(order_letters) + result_letter)
    coefficients = einsum(*operands, subscripts=parsed.spec(inputs, result_letter + parsed.output),
                          optimize=PAIRWISE)
    higher = indexing.getitem(coefficients, index=slice(1, None))
    return shapes.concatenate(leading, higher, axis=0)


einsum = Primitive(
    "einsum",
    _einsum_impl,
    _einsum_jvp,
    _einsum_vjp,
    taylor=_einsum_taylor,
    cases=(
        Case("matrix-product", ((3, 4), (4, 2)), call_with(subscripts="ij,jk->ik")),
        Case("implicit-output", ((3, 4), (4, 2)), call_with(subscripts="ij,jk")),
        Case("diagonal", ((3, 3),), call_with(subscripts="ii->i")),
        Case("trace", ((3, 3),), call_with(subscripts="ii")),
        Case("diagonal-times-vector", ((3, 3, 4), (4,)), call_with(subscripts="iij,j->i")),
        Case("summed-only-here", ((3, 4), (4,)), call_with(subscripts="ij,j->")),
        Case("batched", ((2, 3, 4), (2, 4, 3)), call_with(subscripts="...ij,...jk->...ik")),
        Case("ellipsis-broadcast", ((4,), (3, 1, 4)), call_with(subscripts="...j,...j->...")),
        Case("unit-axis-broadcast", ((1, 3), (2, 3)), call_with(subscripts="ij,ij->ij")),
        Case("three-operands", ((2, 3), (3, 4), (4, 2)),
             call_with(subscripts="ij,jk,kl->il", optimize="greedy")),
        Case("scalar-operand", ((4,), ()), call_with(subscripts="i,->i")),
    ),
)
