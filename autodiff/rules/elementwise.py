"""Elementwise primitives: each declares its local partial derivatives once.

For ``y = f(x_1, ..., x_n)`` applied elementwise (with NumPy broadcasting) the table stores the
partials ``d_i = df/dx_i`` as functions of the inputs and the output, written with primitives.
Both modes derive from them (DiffRules.jl, ChainRulesCore's ``@scalar_rule``):

* forward:  ``y_dot = sum_i d_i * x_i_dot``
* reverse:  ``x_i_bar += unbroadcast(d_i * y_bar)`` (summed back to the shape of ``x_i``)

A partial may be the marker ``ONE`` / ``MINUS_ONE`` (no multiplication) and is only evaluated for
inputs that carry a tangent or need a cotangent: ``x ** c`` with a constant ``c`` never evaluates
``log(x)``, so no ``0 * nan`` can appear.

Derivatives at kinks follow API.md: ``abs'(0) = 0``; ``maximum``/``minimum`` split ties evenly;
``clip`` has derivative 1 on ``[lo, hi]`` inclusive; ``sqrt'(0) = inf``.  ``sign``, ``floor``,
``ceil``, ``rint`` and ``round`` have derivative zero everywhere they are differentiable and are
declared with no partials: their tangent is the symbolic zero, their cotangent an explicit zero
(so a ``Var`` input is reached and its ``.grad`` is 0).  Outside a function's domain the value is
NumPy's ``nan`` and so is the derivative (``log'(-1)`` is ``nan``, not ``1/x = -1``).
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import sys
import sysconfig
import threading

import numpy as np

from . import indexing, series, shapes
from .primitive import (
    MINUS_ONE,
    ONE,
    Case,
    Domain,
    RECORDING,
    Primitive,
    Traced,
    bind,
    both_signs,
    data_value,
    dtype_of,
    ndim_of,
    on_data,
    primal_value,
    shape_of,
    zeros,
)

__all__ = ["Elementwise", "ELEMENTWISE", "chain_product"]

ELEMENTWISE: dict[str, "Elementwise"] = {}


def _scalar_first(math_fn, numpy_fn, arity):
    """An impl that uses ``math`` for Python floats (fast) and NumPy otherwise.

    ``math`` raises where NumPy returns ``inf``/``nan`` with a warning; we then defer to NumPy so
    the value (and the warning) are exactly NumPy's.
    """

    def unary(x):
        if type(x) is float or type(x) is int:
            try:
                return math_fn(x)
            except (ArithmeticError, ValueError):
                return float(numpy_fn(np.float64(x)))
        return numpy_fn(x)

    def binary(a, b):
        type_a, type_b = type(a), type(b)
        if (type_a is float and (type_b is float or type_b is int)) or (
            type_b is float and type_a is int
        ):
            try:
                return math_fn(a, b)
            except (ArithmeticError, ValueError):
                return float(numpy_fn(np.float64(a), np.float64(b)))
        return numpy_fn(a, b)

    impl = unary if arity == 1 else binary
    impl.__name__ = getattr(numpy_fn, "__name__", "impl")
    return impl


def _float_preserving(numpy_fn):
    """NumPy's function, returning a Python float for Python floats (the scalar fast path)."""

    def impl(*args):
        result = numpy_fn(*args)
        if type(result) is np.float64 and all(type(a) is float or type(a) is int for a in args):
            return float(result)
        return result

    impl.__name__ = getattr(numpy_fn, "__name__", "impl")
    return impl


def chain_product(d, direction):
    """``d * direction``: the chain rule's one product, in both modes and on every path.

    ``d = partials[i](*inputs, out)`` is a local partial from the table; ``direction`` is a
    tangent of input ``i`` (forward: ``y_dot = sum_i d_i * x_i_dot``) or the output's cotangent
    (reverse: ``x_i_bar = d_i * y_bar`` before unbroadcasting).  ``ONE`` / ``MINUS_ONE`` skip the
    multiplication; Python floats multiply in Python arithmetic (the scalar fast paths of
    ``Dual`` and of the tape's sweep call this too); anything else -- arrays, traced values --
    multiplies with the ``multiply`` primitive, so the product differentiates again.
    """
    if d is ONE:
        return direction
    if type(direction) is float:
        if type(d) is float:
            return d * direction
        if d is MINUS_ONE:
            return -direction
    elif type(direction) is np.ndarray:  # what the primitives run on plain values
        if type(d) is float or type(d) is np.ndarray:
            return multiply.impl(d, direction)
        if d is MINUS_ONE:
            return negative.impl(direction)
    if type(direction) is _dual_class() or type(d) is _dual_class():
        product = _dual_product(d, direction)
        if product is not None:
            return product
    if d is MINUS_ONE:
        return negative(direction)
    return multiply(d, direction)


def _dual_product(d, g):
    """``d * g`` on the parts of duals of one active level whose parts are plain float arrays
    of one shape and dtype (no batch), as the dual level computes it, without its dispatch;
    ``None`` for anything else (the primitive then takes it).  Forward over reverse: a partial
    times a dual cotangent, or a dual partial times a plain one (``-g`` of ``a - b``, ``c * g``
    of ``c * x``, ``b * g`` of ``a * b``, ``y * g`` of ``exp``):

    * a constant ``d`` (a float, ``MINUS_ONE``, a plain array), a dual ``g``: ``d`` carries no
      tangent and the product is linear in ``g``, so each part is ``chain_product(d, part)``;
    * a dual ``d``: the ``multiply`` primitive's own ``impl`` and JVP rule on the parts, as
      the dual level calls them.
    """
    if RECORDING[0]:
        return None
    Dual = _dual_class()
    if type(d) is not Dual:  # a constant partial: d * g is linear in g, part by part
        parts = plain_array_parts(g) if type(g) is Dual else None
        if parts is None or not (type(d) is float or d is MINUS_ONE
                                 or _same_array_kind(d, parts[0])):
            return None
        return Dual._make(chain_product(d, parts[0]), chain_product(d, parts[1]), g._level, 0)
    parts = plain_array_parts(d)
    if parts is None:
        return None
    if type(g) is Dual:
        g_parts = plain_array_parts(g) if g._level is d._level else None
        if g_parts is None or not _same_array_kind(g_parts[0], parts[0]):
            return None
        primals, tangents = [parts[0], g_parts[0]], [parts[1], g_parts[1]]
    elif _same_array_kind(g, parts[0]):
        primals, tangents = [parts[0], g], [parts[1], None]
    else:
        return None
    out = multiply.impl(*primals)
    return Dual._make(out, multiply.jvp(primals, tangents, out), d._level, 0)


def plain_array_parts(dual):
    """``(primal, tangent)`` of a dual whose parts are plain floating arrays of one shape and
    dtype, without batch, of an active level (no level below it traces them), else ``None``:
    the duals whose products and sums the reverse sweep computes on the parts, with the calls
    the dual level would make on exactly these arrays."""
    primal, tangent = dual._primal_, dual.tangent
    if (type(primal) is np.ndarray and primal.dtype.kind == "f" and not dual._n_batch
            and _same_array_kind(tangent, primal) and dual._level.active):
        return primal, tangent
    return None


def _same_array_kind(value, like) -> bool:
    """Whether ``value`` is a plain array of ``like``'s shape and dtype."""
    return type(value) is np.ndarray and value.shape == like.shape and value.dtype == like.dtype


def _align_tangent(t, x_ndim: int, out_ndim: int):
    """Insert axes after the batch axes so a tangent of ``x`` broadcasts against the output."""
    if x_ndim == out_ndim:
        return t
    t_shape = shape_of(t)
    batch = t_shape[: len(t_shape) - x_ndim]
    return shapes.reshape(t, batch + (1,) * (out_ndim - x_ndim) + t_shape[len(batch):])


#: The size from which a recorded elementwise operation keeps only what its VJP reads
#: (NumPy elides temporaries from the same size on, 256 kB: ``NPY_MIN_ELIDE_BYTES``).
LARGE_BYTES = 256 * 1024


class Elementwise(Primitive):
    """An elementwise primitive whose rules derive from ``partials``.

    ``partials[i](*inputs, out)`` is ``d out / d input_i``; ``partials`` empty means the
    derivative is zero wherever it exists (``sign``, ``floor``, ...).
    """

    __slots__ = ("partials", "arity", "domain", "reads", "_kept")

    def __init__(self, name, impl, partials, arity, *, taylor, domain, numpy=(), cases=(),
                 reads=None):
        """``reads``, optional: for each partial, the positions in ``(*inputs, out)`` whose
        values it reads: a tuple, or a function of the inputs returning them (for input 0 of
        a binary primitive, with position 1 among them: the tape keeps a constant second
        input anyway); the tape then keeps only those values of a recorded call
        (:meth:`vjp_reads_of`)."""
        super().__init__(
            name, impl, self._jvp, self._vjp, taylor=taylor, numpy=numpy, cases=cases
        )
        self.partials = partials
        self.arity = arity
        self.domain = domain
        self.reads = reads
        self._kept = None
        if reads is not None:
            # (input 0 constant, input 1 constant) -> the positions kept, None if computed
            self._kept = {
                constants: None if any(callable(reads[i]) for i in range(arity)
                                       if not constants[i])
                else frozenset(i for i in range(arity) if constants[i]).union(
                    *(reads[i] for i in range(arity) if not constants[i]))
                for constants in itertools.product((False, True), repeat=arity)
            }
            self.vjp_reads = self.vjp_reads_of
        ELEMENTWISE[name] = self

    def vjp_reads_of(self, primals, parents):
        """The positions (inputs, then ``len(primals)`` for the output) whose values the VJP
        of this call reads: what the partials of the inputs that need a cotangent read, and
        every constant input (kept as it is).  ``None`` (keep everything) when no input is
        an array of at least :data:`LARGE_BYTES`: little memory to free, and the bookkeeping
        would cost more than it saves."""
        for p in primals:
            while isinstance(p, Traced):
                p = p._primal_
            if type(p) is np.ndarray and p.nbytes >= LARGE_BYTES:
                break
        else:
            return None
        constants = (False,) if self.arity == 1 else (parents[0] is None, parents[1] is None)
        kept = self._kept[constants]
        if kept is None and constants == (False, True):  # x ** c: what d/dx reads, with c
            kept = self.reads[0](primals)
        if kept is None:  # a partial's positions depend on the inputs (power's exponent)
            kept = set()
            for i, constant in enumerate(constants):
                read = (i,) if constant else self.reads[i]
                kept.update(read(primals) if callable(read) else read)
        return kept

    def __call__(self, *args):
        for arg in args:
            if isinstance(arg, Traced):
                return bind(self, *args)
        return self.impl(*args)

    def _scalar_jvp(self, args, tangents):
        """Float inputs: the output's tangent ``sum_i d_i * t_i`` over the non-zero ``t_i``."""
        total = None
        partials = self.partials
        for i, t in enumerate(tangents):
            if t is None:
                continue
            term = chain_product(partials[i](*args), t)
            if total is None:
                total = term
            elif type(total) is float and type(term) is float:
                total = total + term
            else:
                total = add(total, term)
        return total

    def _jvp(self, primals, tangents, out):
        if not self.partials:
            return None
        args = (*primals, out)
        if type(out) is float:
            return self._scalar_jvp(args, tangents)
        total = None
        owned = False  # whether total is a plain array made here (free to overwrite)
        out_shape = out.shape if type(out) is np.ndarray else shape_of(out)
        aligned = True  # every tangent an array of the output's shape: no batch, no broadcast
        partials = self.partials
        for i, t in enumerate(tangents):
            if t is None:
                continue
            p = primals[i]
            if not (
                type(t) is np.ndarray
                and t.shape == out_shape
                and (p.shape if type(p) is np.ndarray else shape_of(p)) == out_shape
            ):
                aligned = False
                t = _align_tangent(t, ndim_of(p), len(out_shape))
            d = partials[i](*args)
            if total is None:
                # (type first: most partials are numbers or traced, and skip the call)
                if type(d) is np.ndarray and _sole_array(d, t) and sys.getrefcount(d) == 2:
                    total = np.multiply(d, t, out=d)  # no one else holds d
                else:
                    total = chain_product(d, t)
                owned = d is not ONE and type(total) is np.ndarray
            else:
                total, owned = _plus_product(total, owned, d, t)
        if total is None or aligned:  # sum_i d_i t_i has the output's shape: d_i broadcast to it
            return total
        total_shape = shape_of(total)
        n_batch = len(total_shape) - len(out_shape)
        if n_batch < 0 or total_shape[n_batch:] != out_shape:
            batch = tangent_batch(tangents, primals)
            total = shapes.broadcast_to(total, batch + out_shape)
        return total

    def _vjp(self, cotangent, primals, out, wanted):
        if not self.partials:
            return [_zero_cotangent(cotangent, primals[i], out) for i in wanted]
        args = (*primals, out)
        if type(out) is float:
            return [chain_product(self.partials[i](*args), cotangent) for i in wanted]
        results = []
        g_shape = cotangent.shape if type(cotangent) is np.ndarray else shape_of(cotangent)
        unit = type(cotangent) is np.ndarray and _unit_cotangent(cotangent)
        partials = self.partials
        for i in wanted:
            d = partials[i](*args)
            if not isinstance(d, (np.ndarray, Traced)):  # a number or ONE / MINUS_ONE
                if d is MINUS_ONE and len(wanted) == 1 and cotangent is OVERWRITABLE.value:
                    c = _negate_in_place(cotangent)  # -g into g, which the sweep alone holds
                else:
                    c = chain_product(d, cotangent)
            elif unit and _is_own_traced_partial(d, args, cotangent):
                c = d  # d * 1 is d: the same bits, without two passes
            elif type(d) is np.ndarray and _sole_array(d, cotangent) and (
                sys.getrefcount(d) == 2  # no one else holds d
            ):
                c = np.multiply(d, cotangent, out=d)
            elif isinstance(d, Traced) and sys.getrefcount(d) == 2 and _into_dual(
                d, cotangent, len(wanted) == 1 and cotangent is OVERWRITABLE.value
            ):
                c = d  # d * g into a dual partial nobody else holds, as its rules compute it
            else:
                c = chain_product(d, cotangent)
            p = primals[i]
            x_shape = p.shape if type(p) is np.ndarray else shape_of(p)
            if x_shape == g_shape:  # d * g has g's shape (d broadcasts to the output's)
                results.append(c)
                continue
            n_batch = len(g_shape) - ndim_of(out)
            c_shape = shape_of(c)
            if c_shape[n_batch:] != x_shape or len(c_shape) < n_batch + len(x_shape):
                c = shapes.unbroadcast(c, x_shape, n_batch)
            results.append(c)
        return results


#: Whether ``sys.getrefcount`` counts every holder of an object, as the in-place shortcuts
#: assume when they ask whether a name is an array's only holder (here, in the tape's sweep
#: and in ``x[i] = v`` writes).  CPython 3.14 may load a local variable as a borrowed
#: reference, so the count can be one below the holders, and free-threaded builds defer
#: reference counts: there every such shortcut is off (the same results, more allocation),
#: never a write into an array someone else still reads.
REFCOUNTS_EXACT = sys.version_info < (3, 14) and not sysconfig.get_config_var("Py_GIL_DISABLED")


def _sole_array(d, direction) -> bool:
    """Whether the chain rule's product ``d * direction`` may be written into ``d``: a plain
    array of the product's shape and dtype that owns its memory and can be written.  The
    caller also checks that its own name is the only reference to ``d`` (``sys.getrefcount``,
    as NumPy's own elision of temporaries does), i.e. that the partial made it just now (``2 *
    x`` for ``x ** 2``), not returned an input, the output or an array kept elsewhere.  The
    same ``np.multiply`` with ``out=``: the same bits, one array allocated fewer.  Never where
    reference counts may undercount (:data:`REFCOUNTS_EXACT`).
    """
    return (
        REFCOUNTS_EXACT
        and type(d) is np.ndarray
        and type(direction) is np.ndarray
        and d.shape == direction.shape
        and d.dtype == direction.dtype
        and d.base is None
        and d.flags.writeable
    )


_DUAL_CLASS: list = []


def _dual_class():
    """:class:`~autodiff.forward.dual.Dual`, imported on first use (the forward level is built
    on this module; an import statement per call costs more than the check it serves)."""
    if not _DUAL_CLASS:
        from ..forward.dual import Dual

        _DUAL_CLASS.append(Dual)
    return _DUAL_CLASS[0]


class _Overwritable(threading.local):
    """Per thread: the dual cotangent the running reverse sweep holds alone and lets the rule
    of a node with one input to send a cotangent to overwrite (``value``), or ``None``; set
    around that one rule call by the sweep (:func:`autodiff.reverse.tape.overwritable`)."""

    value = None


OVERWRITABLE = _Overwritable()


def _negate_in_place(g):
    """``-g`` written into the parts of the dual ``g`` (the sweep's own, plain array parts):
    ``np.negative`` of each part, as the ``negative`` primitive's rules on the dual level
    compute them (primal ``-g.p``, tangent ``-g.t``); no new arrays."""
    np.negative(g._primal_, out=g._primal_)
    np.negative(g.tangent, out=g.tangent)
    return g


def _into_dual(d, g, overwrite_g: bool = False) -> bool:
    """Forward over reverse: write ``d * g`` into the parts of the dual partial ``d`` (which
    the caller alone holds) if they are plain arrays nobody else holds, of ``g``'s shape and
    dtype; whether it did.  ``g`` is a plain array or a dual of ``d``'s level with such parts.

    The same NumPy calls, in the same order, as the ``multiply`` primitive's rules on the dual
    level: primal ``d.p * g``, tangent ``g * d.t`` (a plain ``g``), or primal ``d.p * g.p`` and
    tangent ``g.p * d.t + d.p * g.t``; the tangent first, since it reads ``d.p``.  Two
    allocations and the dual dispatch fewer per product; with ``overwrite_g`` (the sweep
    holds the dual ``g`` alone and reads it no more) ``d.p * g.t`` goes into ``g.t``, one
    temporary fewer.
    """
    Dual = _dual_class()
    if type(d) is not Dual or d._n_batch or not d._level.active:
        return False
    dp, dt = d._primal_, d.tangent
    if not (_sole_array(dp, dt) and sys.getrefcount(dp) == 3 and _sole_array(dt, dp)
            and sys.getrefcount(dt) == 3):  # held by d and the name here alone
        return False
    if type(g) is np.ndarray:
        if g.shape != dp.shape or g.dtype != dp.dtype:
            return False
        np.multiply(dp, g, out=dp)
        np.multiply(g, dt, out=dt)
        return True
    if type(g) is not Dual or g._level is not d._level or g._n_batch:
        return False
    gp, gt = g._primal_, g.tangent
    if not (type(gp) is np.ndarray and type(gt) is np.ndarray and gp.shape == gt.shape == dp.shape
            and gp.dtype == gt.dtype == dp.dtype):
        return False
    np.multiply(gp, dt, out=dt)
    np.add(dt, np.multiply(dp, gt, out=gt) if overwrite_g else np.multiply(dp, gt), out=dt)
    np.multiply(dp, gp, out=dp)
    return True


def into_operand(prim, primals, i):
    """Forward over reverse, recording: ``prim(*primals)`` for ``add``, ``subtract`` or
    ``multiply`` on the dual level, written into the parts of the dual ``primals[i]``, a
    temporary of the user's expression that nothing else holds (NumPy's elision of temporaries,
    ``a + b`` into ``a``'s buffer when ``a``'s reference count says no one else holds it, one
    level up); the dual result, or ``None`` (the caller binds the primitive as usual).

    The caller (the reverse level, :meth:`~autodiff.reverse.var.VjpLevel.process`) has checked
    that the ``Var`` holding the dual is a temporary whose new node does not keep its value;
    here the dual must be held by that ``Var`` and the names on the operator's path alone, its
    parts by the dual alone, plain C-contiguous arrays of one shape and dtype, unbatched, of an
    active level (no level below it traces them).  The other operand is a Python number, a
    plain C-contiguous array of the same shape and dtype, or (``add`` and ``subtract``) a dual
    of the same level with such parts.  The same NumPy calls as the primitive's rules on the
    dual level -- the primal ``np.add(a, b)``; the tangent ``a' + b'``, ``a' - b'``, ``-b'``
    (``c - b``), ``c * b'``, or the operand's tangent itself (``a + c``) -- with ``out=``:
    the same bits, and two arrays of the operand's size fewer allocated, while the result's
    arrays take the place of the dead operand's.
    """
    if RECORDING[0] or not REFCOUNTS_EXACT:
        return None
    Dual = _dual_class()
    d = primals[i]
    # held by the Var, the recording level's list of operands, the operator's path
    # (reverse.var._record_scalar_binary's name for the operand's value), the name here and
    # getrefcount's argument
    if type(d) is not Dual or d._n_batch or not d._level.active or sys.getrefcount(d) != 5:
        return None
    dp, dt = d._primal_, d.tangent
    if not (_sole_array(dp, dt) and sys.getrefcount(dp) == 3 and _sole_array(dt, dp)
            and sys.getrefcount(dt) == 3 and dp.flags.c_contiguous and dt.flags.c_contiguous):
        return None  # (held by d and the name here alone)
    other = primals[1 - i]
    ufunc = INTO_OPERAND.get(prim)
    if ufunc is None:
        return None
    if type(other) is Dual:
        if prim is multiply or other._level is not d._level or other._n_batch:
            return None
        op, ot = other._primal_, other.tangent
        if not (_same_layout(op, dp) and _same_layout(ot, dp)):
            return None
        tangent = (dt, ot) if i == 0 else (ot, dt)
        ufunc(*tangent, out=dt)
    elif type(other) is float or type(other) is int or _same_layout(other, dp):
        if np.result_type(dp, other) != dp.dtype:
            return None
        if prim is multiply:
            np.multiply(other, dt, out=dt)
        elif prim is subtract and i == 1:
            np.negative(dt, out=dt)
        op = other
    else:
        return None
    ufunc(*((dp, op) if i == 0 else (op, dp)), out=dp)
    return Dual._make(dp, dt, d._level, 0)


def _same_layout(value, like) -> bool:
    """Whether ``value`` is a plain C-contiguous array of ``like``'s shape and dtype."""
    return (type(value) is np.ndarray and value.shape == like.shape
            and value.dtype == like.dtype and value.flags.c_contiguous)


def _unit_cotangent(cotangent) -> bool:
    """Whether ``cotangent`` is ones broadcast without memory (``sum``'s VJP of the seed 1)."""
    return (
        type(cotangent) is np.ndarray
        and cotangent.ndim > 0
        and cotangent.size > 0
        and not any(cotangent.strides)
        and cotangent.item(0) == 1.0
    )


def _is_own_traced_partial(d, args, ones) -> bool:
    """Whether ``d * ones`` may be taken as ``d`` itself: a traced partial (forward over
    reverse: the dual ``2 h`` of ``h ** 2``) that the partial made (not one of the inputs or
    the output, which the user or the tape hold), of the cotangent's shape and dtype.

    ``x * 1.0`` is ``x`` exactly in IEEE arithmetic (signed zeros, infinities and ``nan`` too),
    for the primal and every tangent; the product would cost two array passes and two
    allocations per level.  A plain array partial keeps the product: the sweep may hand the
    cotangent to the user as the gradient, which must be an array of its own.
    """
    if not isinstance(d, Traced) or shape_of(d) != ones.shape or dtype_of(d) != ones.dtype:
        return False
    return all(d is not arg for arg in args)


def _plus_product(total, owned, d, t):
    """``total + d * t``, the chain rule's running sum of ``d_i * t_i``: ``(sum, owned)``.

    ``d = MINUS_ONE`` subtracts (``a - b``: one pass, where ``a + (-b)`` takes two and gives the
    same bits).  A plain array this sum made itself (``owned``, or the fresh product ``d * t``)
    takes the next term in place (``out=``): ``a*b + c*d`` allocates two arrays, not three.
    Traced terms (a nested transform differentiates the rule) always go through primitives.
    """
    if d is ONE or d is MINUS_ONE:
        term, term_owned = t, False
    else:
        term = chain_product(d, t)
        term_owned = type(term) is np.ndarray
    ufunc = np.subtract if d is MINUS_ONE else np.add
    if (
        (owned or term_owned)
        and type(total) is np.ndarray
        and type(term) is np.ndarray
        and total.shape == term.shape
        and total.dtype == term.dtype
    ):
        return ufunc(total, term, out=total if owned else term), True
    prim = subtract if d is MINUS_ONE else add
    if type(total) is np.ndarray and type(term) is np.ndarray:
        return prim.impl(total, term), True  # what the primitive runs on plain arrays
    total = prim(total, term)
    return total, type(total) is np.ndarray


def _zero_cotangent(cotangent, x, out):
    """An explicit zero for ``sign``, ``floor``, ...: the input is reached, its ``.grad`` is 0."""
    if type(cotangent) is float and type(primal_value(x)) is float:
        return 0.0
    batch = shape_of(cotangent)[: len(shape_of(cotangent)) - np.ndim(primal_value(out))]
    return np.zeros(batch + shape_of(x), dtype=dtype_of(x))


def tangent_batch(tangents, primals) -> tuple:
    """The batch shape shared by the non-zero tangents."""
    for t, x in zip(tangents, primals):
        if t is not None:
            t_shape = shape_of(t)
            return t_shape[: len(t_shape) - np.ndim(primal_value(x))]
    return ()


def _impl(math_fn, numpy_fn, arity):
    if math_fn is None:
        return _float_preserving(numpy_fn)
    return _scalar_first(math_fn, numpy_fn, arity)


def _unary(name, math_fn, numpy_fn, partial, *, taylor, domain, numpy=None, reads=None):
    """A unary primitive: ``numpy_fn`` on arrays (``math_fn`` on floats where given); it
    answers for ``numpy_fn`` when that is a ufunc, or for the callables in ``numpy``."""
    return Elementwise(
        name,
        _impl(math_fn, numpy_fn, 1),
        (partial,) if partial is not None else (),
        1,
        taylor=taylor,
        domain=domain,
        numpy=_answers(numpy_fn, numpy),
        reads=None if reads is None else (reads,),
    )


def _binary(name, math_fn, numpy_fn, partial_a, partial_b, *, taylor, domain, numpy=None,
            cases=(), reads=None):
    return Elementwise(
        name,
        _impl(math_fn, numpy_fn, 2),
        (partial_a, partial_b),
        2,
        taylor=taylor,
        domain=domain,
        numpy=_answers(numpy_fn, numpy),
        cases=cases,
        reads=reads,
    )


def _answers(numpy_fn, numpy):
    if numpy is not None:
        return numpy
    return (numpy_fn,) if isinstance(numpy_fn, np.ufunc) else ()


def _distance_to_integers(x):
    return np.abs(np.asarray(x) - np.round(x))


def _untied(a, b):
    return np.abs(a - b) > 1e-3


# Test domains: where each rule's formula is accurate to ~1e-12 relative.  Where a limit is set
# by the standard formula's conditioning rather than by the function, the comment says so.
_WIDE = ((-10.0, 10.0),)
_AWAY_FROM_ZERO = both_signs(0.1, 10.0)


# ----------------------------------------------------------------------------------------------
# arithmetic
# ----------------------------------------------------------------------------------------------

add = _binary(
    "add", operator.add, np.add, lambda a, b, y: ONE, lambda a, b, y: ONE,
    taylor=series.FIRST_ORDER, domain=Domain("a, b -> a + b", (_WIDE, _WIDE)),
    reads=((), ()),
)
subtract = _binary(
    "subtract", operator.sub, np.subtract, lambda a, b, y: ONE, lambda a, b, y: MINUS_ONE,
    taylor=series.FIRST_ORDER, domain=Domain("a, b -> a - b", (_WIDE, _WIDE)),
    reads=((), ()),
)
multiply = _binary(
    "multiply", operator.mul, np.multiply, lambda a, b, y: b, lambda a, b, y: a,
    taylor=series.multiply, domain=Domain("a, b -> a * b", (_WIDE, _WIDE)),
    reads=((1,), (0,)),
)
# d(a/b)/db = -a/b**2 = -y/b: computed from the quotient itself, never as a * (1/b).
divide = _binary(
    "divide",
    operator.truediv,
    np.divide,
    lambda a, b, y: reciprocal(b),
    lambda a, b, y: negative(divide(y, b)),
    taylor=series.divide,
    domain=Domain("a, b -> a / b", (_WIDE, _AWAY_FROM_ZERO)),
    reads=((1,), (1, 2)),
)
#: The primitives :func:`into_operand` computes into a dead operand's buffers, by their ufunc.
INTO_OPERAND = {add: np.add, subtract: np.subtract, multiply: np.multiply}


def _any_nan(value) -> bool:
    """Whether the array ``value`` holds a ``nan``: its sum of squares is ``nan`` exactly then
    (the terms are >= 0, +inf or ``nan``; no ``inf - inf`` can occur), and BLAS computes it
    in one pass without the boolean temporary of ``np.isnan(value).any()`` (1e5 elements:
    7 us vs 16 us)."""
    if value.flags.c_contiguous and value.dtype.kind == "f":
        return bool(np.isnan(np.vdot(value, value)))
    return bool(np.isnan(value).any())


def _nan_outside_domain(partial):
    """The partial, made ``nan`` wherever the value is ``nan`` (outside the function's domain).

    NumPy returns ``nan`` (with a warning) for ``log(-1)`` or ``arctanh(2)``, but the formulas
    ``1/x`` and ``1/(1 - x^2)`` would give a finite number there: a finite derivative of an
    undefined value (so would ``b a^(b-1)`` for ``(-8)**1e-300``, where ``b - 1`` rounds to the
    integer ``-1``, and the constant partial 1 of ``fmod(a, b)`` at ``b = 0``).  Where the value
    is ``nan`` the partial is the value itself, selected with ``where``: ``nan``, and its own
    derivative is the value's derivative, ``nan`` by this same rule, so every higher derivative
    is ``nan`` there too (also for constant partials such as ``ONE``).  ``partial(*inputs, y)``
    takes the output last, for any arity; the guarded partial keeps its docstring (the coverage
    table reads the convention there).
    """

    @functools.wraps(partial)
    def guarded(*args):
        d = partial(*args)
        y = args[-1]
        if type(primal_value(y)) is float:
            value = data_value(y)  # under ad.jit the test is recorded and its outcome guarded
            return d if value == value else y
        value = data_value(y)
        if type(value) is np.ndarray:  # not recorded: ask whether any nan cheaply first
            if not _any_nan(value):
                return d
            undefined = np.isnan(value)
        else:
            undefined = on_data(np.isnan, y)
            if not np.any(undefined):
                return d
        if d is ONE or d is MINUS_ONE:
            d = 1.0 if d is ONE else -1.0
        return indexing.where(undefined, y, d)

    return guarded


def _power_d_base(a, b, y):
    """d(a**b)/da = b * a**(b - 1); at ``a = 0`` (a constant ``b``) it is 0 for ``b = 0``, 1 for
    ``b = 1`` and ``b * 0**(b - 1)`` otherwise (0 for ``b > 1``, inf for ``0 < b < 1``), exact to
    every order (API.md's kink table).

    ``b = 0`` gives 0 and ``b = 1`` gives 1 (not ``0 * 0**-1 = nan``), so differentiating a
    polynomial again and again at 0 reaches the exponents 1 and 0 and stays exact.  A constant
    array exponent with zero entries takes the exponent 1 there (the double-``where`` trick: no
    ``0 * inf`` enters the product, nor its derivatives).  A traced exponent keeps the formula:
    its own derivative needs ``a**(b - 1)`` (API.md's rule at 0 is for constant exponents).
    """
    if isinstance(b, (int, float)):
        if b == 2:  # the common square: 2a, no power evaluation (a dual's parts doubled
            return chain_product(2.0, a)  # without the level's dispatch: chain_product)
        if b == 1:
            return ONE
        if b == 0:
            return 0.0 if type(a) is float else zeros(shape_of(a), a)
        return multiply(b, power(a, subtract(b, 1.0)))
    zero_exponent = primal_value(b) == 0
    if isinstance(b, Traced) or not np.any(zero_exponent):  # a traced b: d/db needs b a^(b-1)
        return multiply(b, power(a, subtract(b, 1.0)))
    safe_b = indexing.where(zero_exponent, 1.0, b)
    return indexing.where(zero_exponent, 0.0, multiply(safe_b, power(a, subtract(safe_b, 1.0))))


def _power_d_exponent(a, b, y):
    """d(a**b)/db = a**b * log(a), taken as 0 where a == 0 (a**b is 0 or 1 there).

    The inner ``where`` keeps ``log(0) = -inf`` out of the product (the double-``where`` trick),
    so no ``0 * -inf = nan`` reaches the result.
    """
    at_zero = data_value(a) == 0  # under ad.jit: recorded, the branch guarded
    if not np.any(at_zero):
        return multiply(y, log(a))
    safe_a = indexing.where(at_zero, 1.0, a)
    return indexing.where(at_zero, 0.0, multiply(y, log(safe_a)))


def _power_impl(a, b):
    """NumPy's power, with ``x ** 2`` computed as a square (half the cost on arrays)."""
    if type(b) is int and b == 2 and type(a) is not float:
        return np.square(a)
    return np.power(a, b)



_power_d_base_guarded = _nan_outside_domain(_power_d_base)


def _power_d_base_reads(primals) -> tuple:
    """What ``d(a**b)/da`` reads (:func:`_power_d_base_outside_domain`): ``a`` and ``b``,
    and the value ``a**b`` unless ``b`` is a constant integral number other than 1."""
    b = primals[1]
    if (type(b) is int or type(b) is float) and b != 1 and float(b).is_integer():
        return _BASE_AND_EXPONENT
    return _BASE_EXPONENT_AND_VALUE


_BASE_AND_EXPONENT = frozenset((0, 1))
_BASE_EXPONENT_AND_VALUE = frozenset((0, 1, 2))


@functools.wraps(_power_d_base)  # the coverage table reads the kink convention there
def _power_d_base_outside_domain(a, b, y):
    # nan where the value is (_nan_outside_domain); a constant integral exponent other than 1
    # skips that test: a**b is then nan only where a is, and so is b * a**(b - 1) (a**0 is 1
    # everywhere, never nan)
    if type(b) in (int, float) and b != 1 and float(b).is_integer():
        return _power_d_base(a, b, y)
    return _power_d_base_guarded(a, b, y)


power = _binary(
    "power", math.pow, _power_impl, _power_d_base_outside_domain, _power_d_exponent,
    taylor=series.power,
    domain=Domain(
        "a, b -> a**b", (((0.1, 10.0),), ((-3.0, 3.0),)), outside=((-1.0, 0.5), (-8.0, 1 / 3))
    ),
    numpy=(np.power,),
    reads=(_power_d_base_reads, (0, 2)),
)
negative = _unary(
    "negative", operator.neg, np.negative, lambda x, y: MINUS_ONE,
    taylor=series.FIRST_ORDER, domain=Domain("x -> -x", (_WIDE,)),
    reads=(),
)
reciprocal = _unary(
    "reciprocal",
    lambda x: 1.0 / x,
    lambda x: np.divide(1.0, x),  # np.reciprocal truncates integers: 1 / 2 -> 0
    lambda x, y: negative(square(y)),
    taylor=series.reciprocal,
    domain=Domain("x -> 1/x", (_AWAY_FROM_ZERO,)),
    numpy=(np.reciprocal,),
)
square = _unary(
    "square", lambda x: x * x, np.square, lambda x, y: multiply(2.0, x),
    taylor=series.square, domain=Domain("x -> x**2", (_WIDE,)),
    reads=(0,),
)
absolute = _unary(
    "absolute", abs, np.absolute, lambda x, y: sign(x),
    taylor=series.FIRST_ORDER, domain=Domain("x -> Abs(x)", (both_signs(1e-2, 10.0),)),
    numpy=(np.absolute, np.fabs),
)

# ----------------------------------------------------------------------------------------------
# exponentials and logarithms
# ----------------------------------------------------------------------------------------------

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


exp = _unary(
    "exp", math.exp, np.exp, lambda x, y: y,
    taylor=series.exp, domain=Domain("x -> exp(x)", (((-20.0, 20.0),),)),
    reads=(1,),
)
# expm1' = expm1(x) + 1 (as JAX and PyTorch): for x << 0 the sum cancels, so x >= -5
# (Expm1 and Log1p are the test suite's cancellation-free SymPy functions)
expm1 = _unary(
    "expm1", math.expm1, np.expm1, lambda x, y: add(y, 1.0),
    taylor=series.expm1, domain=Domain("x -> Expm1(x)", (((-5.0, 20.0),),)),
)
exp2 = _unary(
    "exp2", lambda x: 2.0**x, np.exp2, lambda x, y: multiply(y, _LN2),
    taylor=series.exp2, domain=Domain("x -> 2**x", (((-20.0, 20.0),),)),
)
log = _unary(
    "log", math.log, np.log, _nan_outside_domain(lambda x, y: reciprocal(x)),
    taylor=series.log,
    domain=Domain("x -> log(x)", (((1e-3, 1e3),),), outside=((-1.0,), (-1e-3,))),
    reads=(0, 1),
)
log1p = _unary(
    "log1p", math.log1p, np.log1p, _nan_outside_domain(lambda x, y: reciprocal(add(x, 1.0))),
    taylor=series.log1p,
    domain=Domain("x -> Log1p(x)", (((-0.9, 1e3),),), outside=((-2.0,),)),
)
log2 = _unary(
    "log2", math.log2, np.log2, _nan_outside_domain(lambda x, y: reciprocal(multiply(x, _LN2))),
    taylor=series.log2,
    domain=Domain("x -> log(x, 2)", (((1e-3, 1e3),),), outside=((-1.0,),)),
)
log10 = _unary(
    "log10",
    math.log10,
    np.log10,
    _nan_outside_domain(lambda x, y: reciprocal(multiply(x, _LN10))),
    taylor=series.log10,
    domain=Domain("x -> log(x, 10)", (((1e-3, 1e3),),), outside=((-1.0,),)),
)
sqrt = _unary(  # sqrt'(0) = inf, as the maths says
    "sqrt", math.sqrt, np.sqrt, lambda x, y: divide(0.5, y),
    taylor=series.sqrt, domain=Domain("x -> sqrt(x)", (((1e-3, 1e3),),), outside=((-1.0,),)),
    reads=(1,),
)
cbrt = _unary(
    "cbrt", None, np.cbrt, lambda x, y: reciprocal(multiply(3.0, square(y))),
    taylor=series.cbrt,
    domain=Domain("x -> sign(x)*Abs(x)**Rational(1, 3)", (both_signs(1e-3, 1e3),)),
)

# ----------------------------------------------------------------------------------------------
# trigonometric and hyperbolic
# ----------------------------------------------------------------------------------------------

sin = _unary(
    "sin", math.sin, np.sin, lambda x, y: cos(x),
    taylor=series.sin, domain=Domain("x -> sin(x)", (_WIDE,)),
    reads=(0,),
)
cos = _unary(
    "cos", math.cos, np.cos, lambda x, y: negative(sin(x)),
    taylor=series.cos, domain=Domain("x -> cos(x)", (_WIDE,)),
    reads=(0,),
)
tan = _unary(
    "tan", math.tan, np.tan, lambda x, y: add(1.0, square(y)),
    taylor=series.tan, domain=Domain("x -> tan(x)", (((-1.4, 1.4),),)),
)
arcsin = _unary(
    "arcsin",
    math.asin,
    np.arcsin,
    lambda x, y: reciprocal(sqrt(subtract(1.0, square(x)))),
    taylor=series.arcsin,
    domain=Domain("x -> asin(x)", (((-0.9, 0.9),),), outside=((2.0,), (-2.0,))),
)
arccos = _unary(
    "arccos",
    math.acos,
    np.arccos,
    lambda x, y: negative(reciprocal(sqrt(subtract(1.0, square(x))))),
    taylor=series.arccos,
    domain=Domain("x -> acos(x)", (((-0.9, 0.9),),), outside=((2.0,), (-2.0,))),
)
arctan = _unary(
    "arctan", math.atan, np.arctan, lambda x, y: reciprocal(add(1.0, square(x))),
    taylor=series.arctan, domain=Domain("x -> atan(x)", (((-100.0, 100.0),),)),
)
sinh = _unary(
    "sinh", math.sinh, np.sinh, lambda x, y: cosh(x),
    taylor=series.sinh, domain=Domain("x -> sinh(x)", (_WIDE,)),
)
cosh = _unary(
    "cosh", math.cosh, np.cosh, lambda x, y: sinh(x),
    taylor=series.cosh, domain=Domain("x -> cosh(x)", (_WIDE,)),
)
# tanh' = 1 - tanh^2 (as everyone): 1 - y^2 cancels for |x| large, so |x| <= 3
tanh = _unary(
    "tanh", math.tanh, np.tanh, lambda x, y: subtract(1.0, square(y)),
    taylor=series.tanh, domain=Domain("x -> tanh(x)", (((-3.0, 3.0),),)),
    reads=(1,),
)
arcsinh = _unary(
    "arcsinh",
    math.asinh,
    np.arcsinh,
    lambda x, y: reciprocal(sqrt(add(square(x), 1.0))),
    taylor=series.arcsinh,
    domain=Domain("x -> asinh(x)", (((-100.0, 100.0),),)),
)
arccosh = _unary(
    "arccosh",
    math.acosh,
    np.arccosh,
    _nan_outside_domain(lambda x, y: reciprocal(sqrt(subtract(square(x), 1.0)))),
    taylor=series.arccosh,
    domain=Domain("x -> acosh(x)", (((1.1, 100.0),),), outside=((0.5,), (-2.0,))),
)
arctanh = _unary(
    "arctanh",
    math.atanh,
    np.arctanh,
    _nan_outside_domain(lambda x, y: reciprocal(subtract(1.0, square(x)))),
    taylor=series.arctanh,
    domain=Domain("x -> atanh(x)", (((-0.9, 0.9),),), outside=((2.0,), (-2.0,))),
)


def _atan2_denominator(a, b):
    return add(square(a), square(b))


arctan2 = _binary(
    "arctan2",
    math.atan2,
    np.arctan2,
    lambda a, b, y: divide(b, _atan2_denominator(a, b)),
    lambda a, b, y: negative(divide(a, _atan2_denominator(a, b))),
    taylor=series.arctan2,
    domain=Domain("a, b -> atan2(a, b)", (_AWAY_FROM_ZERO, _AWAY_FROM_ZERO)),
)


def _hypot_partial(which):
    """d hypot(a, b) / da = a / hypot(a, b); taken as 0 at the origin (like ``norm``)."""

    def partial(a, b, y):
        x = (a, b)[which]
        at_origin = data_value(y) == 0  # under ad.jit: recorded, the branch guarded
        if not np.any(at_origin):
            return divide(x, y)
        safe_y = indexing.where(at_origin, 1.0, y)
        return indexing.where(at_origin, 0.0, divide(x, safe_y))

    return partial


hypot = _binary(
    "hypot", math.hypot, np.hypot, _hypot_partial(0), _hypot_partial(1),
    taylor=series.hypot,
    domain=Domain("a, b -> sqrt(a**2 + b**2)", (_AWAY_FROM_ZERO, _AWAY_FROM_ZERO)),
)
def _logaddexp_partial(which, exponential=None):
    """d logaddexp(a, b)/da = e^a / (e^a + e^b) = exp(a - y): bounded by 1, never overflows.

    (``logaddexp2`` passes ``exponential=exp2``: ``2^(a - y)``.)  Where the *other* argument is
    ``-inf`` the function is the identity in this one, so the partial is exactly 1, also at
    ``a = -inf`` (where ``a - y`` would be ``-inf + inf = nan``).
    """

    def partial(a, b, y):
        raise_to = exp if exponential is None else exponential
        mine, other = (a, b) if which == 0 else (b, a)
        other_absent = data_value(other) == -np.inf  # under ad.jit: recorded, branch guarded
        if not np.any(other_absent):
            return raise_to(subtract(mine, y))
        safe_mine = indexing.where(other_absent, 0.0, mine)
        safe_y = indexing.where(other_absent, 0.0, y)
        return indexing.where(other_absent, 1.0, raise_to(subtract(safe_mine, safe_y)))

    return partial


logaddexp = _binary(
    "logaddexp",
    None,
    np.logaddexp,
    _logaddexp_partial(0),
    _logaddexp_partial(1),
    taylor=series.logaddexp,
    domain=Domain("a, b -> log(exp(a) + exp(b))", (((-30.0, 30.0),), ((-30.0, 30.0),))),
)

# ----------------------------------------------------------------------------------------------
# piecewise: kinks decided here, once (API.md's table)
# ----------------------------------------------------------------------------------------------


def _selection_weight(mine, other, pick_greater: bool):
    """1 where ``mine`` wins, 0 where it loses, 1/2 on a tie (ties split evenly)."""
    return on_data(_selection_weight_of_values, mine, other, pick_greater)


def _selection_weight_of_values(m, o, pick_greater: bool):
    wins = (m > o) if pick_greater else (m < o)
    if type(m) is float and type(o) is float:
        return 1.0 if wins else (0.5 if m == o else 0.0)
    # NumPy's promotion of the raw values: a Python-float bound keeps float32 arrays float32
    weight = np.asarray(wins, dtype=np.result_type(m, o))
    ties = m == o
    if np.any(ties):
        weight = np.where(ties, 0.5, weight).astype(weight.dtype, copy=False)
    return weight


maximum = _binary(
    "maximum",
    None,
    np.maximum,
    lambda a, b, y: _selection_weight(a, b, True),
    lambda a, b, y: _selection_weight(b, a, True),
    taylor=series.FIRST_ORDER,
    domain=Domain("a, b -> Max(a, b)", (_WIDE, _WIDE), valid=_untied),
    cases=(Case("broadcast", ((3, 4), (4,)), lambda fn, a, b: fn(a, b + 0.05), "separated"),),
)
minimum = _binary(
    "minimum",
    None,
    np.minimum,
    lambda a, b, y: _selection_weight(a, b, False),
    lambda a, b, y: _selection_weight(b, a, False),
    taylor=series.FIRST_ORDER,
    domain=Domain("a, b -> Min(a, b)", (_WIDE, _WIDE), valid=_untied),
)


def _mask(test, x, lo, hi):
    """``test(x, lo, hi)`` on the primal values as a 0/1 slope in x's dtype (a recorded step
    under ad.jit)."""
    return on_data(_mask_of_values, test, x, lo, hi, dtype_of(x))


def _mask_of_values(test, x, lo, hi, dtype):
    condition = test(x, lo, hi)
    if type(condition) is bool:  # Python floats compared: stay on the scalar path
        return float(condition)
    return np.asarray(condition, dtype=dtype)


# clip: slope 1 on [lo, hi] inclusive, 0 outside; the active bound carries the derivative.
# NumPy's clip is minimum(maximum(x, lo), hi): with lo > hi the value is hi wherever x is.
clip = Elementwise(
    "clip",
    _float_preserving(np.clip),
    (
        lambda x, lo, hi, y: _mask(lambda x, lo, hi: (x >= lo) & (x <= hi), x, lo, hi),
        lambda x, lo, hi, y: _mask(lambda x, lo, hi: (x < lo) & (lo <= hi), x, lo, hi),
        lambda x, lo, hi, y: _mask(lambda x, lo, hi: (x > hi) | (lo > hi), x, lo, hi),
    ),
    3,
    taylor=series.FIRST_ORDER,
    domain=Domain(
        "x, lo, hi -> Min(Max(x, lo), hi)",
        (_WIDE, ((-5.0, -0.5),), ((0.5, 5.0),)),
        valid=lambda x, lo, hi: (np.abs(x - lo) > 1e-3) & (np.abs(x - hi) > 1e-3),
    ),
)

# zero derivative wherever differentiable: the tangent is the symbolic zero
# (drawn at least 1e-3, >> 10 h, from the jumps)
sign = _unary(
    "sign", None, np.sign, None,
    taylor=series.LOCALLY_CONSTANT, domain=Domain("x -> sign(x)", (both_signs(1e-2, 10.0),)),
)
floor = _unary(
    "floor", None, np.floor, None,
    taylor=series.LOCALLY_CONSTANT,
    domain=Domain("x -> floor(x)", (_WIDE,), valid=lambda x: _distance_to_integers(x) > 1e-3),
)
ceil = _unary(
    "ceil", None, np.ceil, None,
    taylor=series.LOCALLY_CONSTANT,
    domain=Domain("x -> ceiling(x)", (_WIDE,), valid=lambda x: _distance_to_integers(x) > 1e-3),
)
# away from half-integers, round-half-to-even is floor(x + 1/2)
rint = _unary(
    "rint", None, np.rint, None,
    taylor=series.LOCALLY_CONSTANT,
    domain=Domain(
        "x -> floor(x + Rational(1, 2))",
        (_WIDE,),
        valid=lambda x: _distance_to_integers(np.asarray(x) + 0.5) > 1e-3,
    ),
)
trunc = _unary(
    "trunc", None, np.trunc, None,
    taylor=series.LOCALLY_CONSTANT,
    domain=Domain(
        "x -> sign(x)*floor(Abs(x))", (_WIDE,), valid=lambda x: _distance_to_integers(x) > 1e-3
    ),
)

# ----------------------------------------------------------------------------------------------
# functions NumPy lacks
# ----------------------------------------------------------------------------------------------


def _sigmoid_impl(x):
    """1 / (1 + e^-x), evaluated without overflow for either sign of x."""
    if type(x) is float:
        if x >= 0:
            return 1.0 / (1.0 + math.exp(-x))
        z = math.exp(x)
        return z / (1.0 + z)
    x = np.asarray(x)
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z)).astype(x.dtype, copy=False)[()]


def _softplus_impl(x):
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|), stable for large |x|."""
    if type(x) is float:
        return max(x, 0.0) + math.log1p(math.exp(-abs(x)))
    x = np.asarray(x)
    return (np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))))[()]


try:  # SciPy is optional; where installed, rules.special declares scipy.special.erf as erf
    from scipy.special import erf as _scipy_erf
except ImportError:
    _scipy_erf = None


def _erf_impl(x):
    """``math.erf`` on Python floats (the scalar fast path); on arrays SciPy's ufunc where SciPy
    is installed (``scipy.special.erf`` on traced values is then SciPy's value bit for bit, and
    vectorised), else ``math.erf`` entry by entry."""
    if type(x) is float:
        return math.erf(x)
    if _scipy_erf is not None:
        return _scipy_erf(x)
    return np.vectorize(math.erf, otypes=[np.result_type(x, np.float32)])(x)[()]


# sigma'(x) = sigma(x) (1 - sigma(x))
# sigmoid' = y (1 - y): 1 - y cancels for x >> 0, so the test domain stops at 5
sigmoid = Elementwise(
    "sigmoid", _sigmoid_impl, (lambda x, y: multiply(y, subtract(1.0, y)),), 1,
    taylor=series.sigmoid, domain=Domain("x -> 1/(1 + exp(-x))", (((-20.0, 5.0),),)),
)
# softplus'' = sigmoid' has the same limit
softplus = Elementwise(
    "softplus", _softplus_impl, (lambda x, y: sigmoid(x),), 1,
    taylor=series.softplus, domain=Domain("x -> log(1 + exp(x))", (((-20.0, 5.0),),)),
)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
erf = Elementwise(
    "erf",
    _erf_impl,
    (lambda x, y: multiply(_TWO_OVER_SQRT_PI, exp(negative(square(x)))),),
    1,
    taylor=series.erf,
    domain=Domain("x -> erf(x)", (((-5.0, 5.0),),)),
)
