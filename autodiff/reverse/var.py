"""``Var``: reverse mode on a tape.

Operations on a ``Var`` record a :class:`~autodiff.reverse.tape.Node` on its level's tape;
``backward()`` sweeps it once in reverse and accumulates adjoints into the leaves' ``.grad``
(``x_bar = sum over uses of v_bar * dv/dx``: Baydin et al., "Automatic differentiation in machine
learning: a survey", JMLR 2018, sec. 3.2).  Only values that depend on a leaf
are ``Var`` s: an operation on constants alone records nothing, so a constant input batch never
receives a cotangent.
"""

from __future__ import annotations

import dis
import sys

import numpy as np

from ..forward.dual import Dual
from ..levels import Level, manual_level, recording_threshold
from ..rules import elementwise as ew
from ..rules.indexing import getitem
from ..rules.primitive import Traced, bind, shape_of, shape_only
from ..tracer import ArrayLike
from ..values import as_float_value
from .tape import Node, backward_pass, kept_for_backward, next_sequence_number

__all__ = ["Var", "VjpLevel"]


class VjpLevel(Level):
    """Reverse-mode interpretation: compute the primal below, record a node on this tape.

    A node keeps what its VJP reads and no more.  For a primitive that declares it
    (``vjp_reads``; elementwise ones per input that needs a cotangent), the values the VJP
    never reads are kept as shapes (:func:`shape_only`), and the node refers to its operands
    through their *places* in the sweep (:func:`_place`: sequence number and node, not the
    value), so a forward value that no rule reads dies as soon as the user's code drops it
    instead of living until the sweep.  Vectorised Rosenbrock at ``n = 1e5``: the tape of
    ``ad.hvp`` holds 4 arrays of ``n`` after the forward pass instead of 14 (the dual values
    of ``x[1:] - x[:-1]**2`` and ``1 - x[:-1]``, which ``**2`` reads).

    Forward over reverse, ``+``, ``-`` and ``*`` with a temporary operand whose dual no node
    keeps write the result into that dual's arrays (:func:`_temporary_operand`,
    :func:`~autodiff.rules.elementwise.into_operand`): the same Rosenbrock's forward pass
    allocates 8 arrays of ``n`` instead of 14, at most 8 alive at once instead of 10.
    """

    kind = "reverse"
    __slots__ = ("below",)
    #: Whether nodes keep every operand's value and ``Var`` (the inspection tools read the
    #: values of every recorded operation through the parents).
    keeps_values = False

    def __init__(self, manual: bool = False, below=None):
        """``below``: the forward level whose duals the inputs of this tape are (``ad.hvp``,
        ``ad.hessian``: forward over reverse), or ``None``."""
        super().__init__(manual)
        self.below = below

    def process(self, prim, args, params, donor=None):
        """``donor``: the position of an operand whose ``Var`` is a temporary of the user's
        expression (:func:`_temporary_operand`); if the node does not keep its value, the
        level below may write the result into that value's buffers (:func:`_record_read`).

        Forward over reverse, the values under this level's are duals of the forward level
        ``below``: when every operand underneath is one of them or a number or real array
        (and one is a dual), that level is the one :func:`~autodiff.rules.primitive.bind`
        would choose, and it computes the primal and tangent at once (its ``process``), without
        a second pass over the operands to choose it."""
        if not self.active:
            raise self.escaped("Var")
        # isinstance, not type(): ad.nn.Parameter is a Var subclass (a persistent leaf)
        primals = []
        parents = []
        below = self.below
        dual = array = False
        for arg in args:
            if isinstance(arg, Var) and arg._level is self:
                p = arg._primal_
                parents.append(arg)
            else:
                p = arg
                parents.append(None)
            primals.append(p)
            if below is not None:
                if type(p) is Dual and p._level is below:
                    dual = True
                elif type(p) is np.ndarray and p.dtype.kind in "fiub":
                    array = True
                elif type(p) is not float and type(p) is not int:
                    below = None  # bind decides (another level, lifting, complex operands)
        p = None  # the name would count as a holder of the last operand (into_operand)
        if not dual:
            below = None
        threshold = recording_threshold()
        if threshold and (self.manual or self.id <= threshold):
            return bind(prim, *primals, **params)
        if prim.vjp is None:
            raise TypeError(f"primitive {prim.name!r} has no reverse-mode (VJP) rule")
        parents = tuple(parents)
        reads = prim.vjp_reads
        if reads is not None and type(reads) is not tuple:
            # decided per call (elementwise: by the inputs that need a cotangent)
            reads = None if self.keeps_values else reads(primals, parents)
            if reads is not None:
                return self._record_read(prim, primals, params, parents, reads, donor, below)
        if reads is None:
            if below is None or array:  # (duals and numbers are kept as they are)
                primals = [kept_for_backward(p) if type(p) is np.ndarray else p for p in primals]
            out = below.process(prim, primals, params) if below else bind(prim, *primals, **params)
            return Var._make(out, Node(prim, primals, out, params, parents), self)
        # the VJP reads only these inputs' values: the others (and the output) are kept as
        # shapes, so a buffer written in place (y[i] = v) is not pinned by every version
        out = below.process(prim, primals, params) if below else bind(prim, *primals, **params)
        saved = [kept_for_backward(p) if i in reads else shape_only(_data(p)) for i, p in
                 enumerate(primals)]
        node = Node(prim, saved, shape_only(_data(out)), params, parents, made=out)
        return Var._make(out, node, self)

    def _record_read(self, prim, primals, params, parents, reads, donor=None, below=None):
        """Record ``prim`` keeping the values at the positions ``reads`` (of the inputs, and
        ``len(primals)`` for the output) and the others' shapes; parents by their places;
        ``below``: the forward level that computes it (:meth:`process`), or ``None`` (bind).

        The value of a temporary operand at position ``donor`` that the node does not keep
        dies with this call: a dual one takes the result in its buffers
        (:func:`~autodiff.rules.elementwise.into_operand`)."""
        saved = []
        for i, p in enumerate(primals):
            if i not in reads:
                saved.append(shape_only(_data(p)))
                continue
            if type(p) is np.ndarray:
                p = primals[i] = kept_for_backward(p)
            saved.append(p)
        out = None
        if donor is not None and donor not in reads:
            p = None  # the loop's name would count as a holder of the last operand
            out = ew.into_operand(prim, primals, donor)
        if out is None:
            out = (below.process(prim, primals, params) if below
                   else bind(prim, *primals, **params))
        node = Node(prim, saved, out if len(saved) in reads else shape_only(_data(out)), params,
                    tuple([None if p is None else _place(p) for p in parents]), made=out)
        return Var._make(out, node, self)


class InspectedVjpLevel(VjpLevel):
    """A tape whose nodes keep every operand and its ``Var`` (:mod:`autodiff.inspection`
    prints the values of every recorded operation)."""

    __slots__ = ()
    keeps_values = True


def _data(value):
    """``value`` with every level peeled off (what :func:`shape_only` reads the shape and
    dtype of), in one loop."""
    while isinstance(value, Traced):
        value = value._primal_
    return value


def _place(var):
    """What a node keeps of an operand ``var``: ``var`` itself if it is a leaf (the sweep
    returns leaves' cotangents keyed by them), else a ``Var`` holding only its place in the
    sweep -- the node that made it, its sequence number and level, not its value -- as a
    write's earlier versions are kept (:mod:`autodiff.numpy_api.writing`).  The place is the
    version the node read, so a later write into ``var`` needs no walk back."""
    if var._node is None:
        return var
    place = _new_var(Var)
    place._node = var._node
    place._seq = var._seq
    place._level = var._level
    return place


_new_var = object.__new__


_NUMBER = (float, int)
_STAND_INS: dict = {}  # length -> shape_only of a float64 vector of that length


def _vector_stand_in(vector):
    """:func:`shape_only` of a float64 vector, looked up by its length alone (``x[i]`` in a
    loop asks for the same one each time)."""
    stand_in = _STAND_INS.get(vector.size)
    if stand_in is None:
        if len(_STAND_INS) > 256:
            _STAND_INS.clear()
        stand_in = _STAND_INS[vector.size] = shape_only(vector)
    return stand_in

_NO_PARAMS: dict = {}
_FLOAT64 = np.dtype(np.float64)


def _record_scalar_binary(prim, a, b):
    """Record ``prim(a, b)`` for float Vars of one active, recording level; else ``bind``."""
    if isinstance(a, Var):  # Var or a subclass (ad.nn.Parameter)
        level = a._level
        pa, parent_a = a._primal_, a
        if isinstance(b, Var):
            if b._level is not level:
                return bind(prim, a, b)
            pb, parent_b = b._primal_, b
        elif type(b) in _NUMBER:
            pb, parent_b = b, None
        else:
            return bind(prim, a, b)
    else:
        level = b._level
        if type(a) not in _NUMBER:
            return bind(prim, a, b)
        pa, parent_a = a, None
        pb, parent_b = b._primal_, b
    if type(pa) not in _NUMBER or type(pb) not in _NUMBER or not level.active or (
        recording_threshold()
    ):
        if prim in ew.INTO_OPERAND:
            large_a, large_b = _large_dual(pa), _large_dual(pb)
            donor = (_temporary_operand(a, b, large_a, large_b) if large_a or large_b
                     else None)
            if donor is not None:
                return level.process(prim, (a, b), _NO_PARAMS, donor)
        # what bind would do: a and b are Vars of this level or numbers
        return level.process(prim, (a, b), _NO_PARAMS)
    out = prim.impl(pa, pb)
    if type(out) is not float:
        return bind(prim, a, b)
    node = Node(prim, (pa, pb), out, _NO_PARAMS, (parent_a, parent_b))
    return Var._make(out, node, level)


def _temporary_operand(a, b, large_a, large_b):
    """The position (0 or 1) of an operand of ``a + b``, ``a - b`` or ``a * b`` (Vars of one
    level, or one of them a number) that is a temporary of the user's expression, or ``None``;
    ``large_a`` / ``large_b``: whether the operand's value is a large dual (:func:`_large_dual`).

    Forward over reverse (``ad.hvp``) on large arrays: a recorded ``Var`` holding a dual of
    at least :data:`~autodiff.rules.elementwise.LARGE_BYTES`, reached from the interpreter's
    binary operator (the caller of the operator method runs ``BINARY_OP``: not C code holding a
    borrowed reference, which NumPy's own elision of temporaries guards against by walking the C
    stack) and held by nobody else: ``sys.getrefcount`` counts the interpreter's stack, the
    parameters on the way here (the operator method's, ``_apply_binary``'s,
    :func:`_record_scalar_binary`'s and its ``parent_`` name, this function's) and its own
    argument, 7 (:data:`~autodiff.rules.elementwise.REFCOUNTS_EXACT`: CPython before 3.14).
    Its value then dies with this operation unless the new node keeps it, and the result may
    take its buffers (:meth:`VjpLevel.process`).  In ``100 * (y - x ** 2) ** 2 + (1 - x) ** 2``
    the difference ``y - x ** 2`` takes the buffers of ``x ** 2``, the product with 100 those of
    the square before it, and the sum those of ``(1 - x) ** 2``.
    """
    if not ew.REFCOUNTS_EXACT:
        return None
    # the later operand first: its buffers are the newer ones, nearer the top of the heap, and
    # the result left there keeps glibc from trimming what the earlier operand's free below it
    if large_b and b._node is not None and sys.getrefcount(b) == 7:
        donor = 1
    elif large_a and a._node is not None and sys.getrefcount(a) == 7:
        donor = 0
    else:
        return None
    try:
        caller = sys._getframe(3)  # the operator method (_apply_binary, _record_scalar_binary)
    except ValueError:  # called from C code near the bottom of the stack
        return None
    user = caller.f_back
    if caller.f_code not in _OPERATORS or user is None or (
        user.f_code.co_code[user.f_lasti] != _BINARY_OP
    ):
        return None
    return donor


def _large_dual(value) -> bool:
    """Whether ``value`` is a dual of a large array (:data:`~autodiff.rules.elementwise.
    LARGE_BYTES`) that owns its memory."""
    if type(value) is not Dual:
        return False
    value = value._primal_
    return type(value) is np.ndarray and value.nbytes >= ew.LARGE_BYTES and value.base is None


_OPERATORS = frozenset(getattr(ArrayLike, name).__code__ for name in (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__"))
_BINARY_OP = dis.opmap.get("BINARY_OP")  # Python 3.11 on (3.10: None, never matched)


def _record_scalar_unary(prim, x):
    """Record ``prim(x)`` for a float Var ``x`` of an active, recording level; else ``bind``."""
    p = x._primal_
    level = x._level
    if type(p) is not float or not level.active or recording_threshold():
        return bind(prim, x)
    out = prim.impl(p)
    if type(out) is not float:
        return bind(prim, x)
    return Var._make(out, Node(prim, (p,), out, _NO_PARAMS, (x,)), level)


class Var(ArrayLike):
    """A value on the tape: a float or a floating array, with ``.value`` and ``.grad``.

    ``ad.Var(x)`` makes a *leaf* (never recorded itself).  Operations on leaves record onto the
    tape of the current context; ``y.backward()`` accumulates ``dy/dleaf`` into ``leaf.grad``.

    Example
    -------
    >>> import numpy as np, autodiff as ad
    >>> x1, x2 = ad.Var(2.0), ad.Var(5.0)
    >>> y = np.log(x1) + x1 * x2 - np.sin(x2)
    >>> y.backward()
    >>> round(x1.grad, 3), round(x2.grad, 3)
    (5.5, 1.716)
    """

    __slots__ = ("_primal_", "_node", "_seq", "grad")

    def __init__(self, value):
        value = as_float_value(value, "Var value")
        if isinstance(value, np.ndarray):
            value = np.array(value, copy=True)
            value.flags.writeable = False
        self._primal_ = value
        self._node = None
        self._seq = next_sequence_number()
        self.grad = None
        self._level = manual_level(VjpLevel)

    @classmethod
    def _make(cls, value, node, level):
        var = object.__new__(cls)
        var._primal_ = value
        var._node = node
        var._seq = next_sequence_number()
        var.grad = None
        var._level = level
        return var

    @property
    def value(self):
        return self._primal_

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Accumulate ``d self / d leaf`` (times ``gradient``) into every reached leaf's ``.grad``.

        ``gradient`` is the cotangent of ``self`` (its shape); it may be omitted only for a
        scalar.  The tape is released afterwards unless ``retain_graph=True``.
        """
        if gradient is None:
            if shape_of(self) != ():
                raise RuntimeError(
                    f"backward() of a non-scalar Var (shape {shape_of(self)}) needs `gradient`, "
                    "the cotangent of the output (same shape), e.g. np.ones_like(y.value); or "
                    "reduce the output to a scalar first"
                )
            gradient = 1.0 if isinstance(self._primal_, float) else np.ones((), self.dtype)
        elif not isinstance(gradient, Traced):
            gradient = as_float_value(gradient, "backward gradient", self.dtype)
            if np.shape(gradient) != shape_of(self):
                raise ValueError(
                    f"gradient has shape {np.shape(gradient)} but the Var has shape "
                    f"{shape_of(self)}"
                )
        for leaf, cotangent in backward_pass([self], [gradient], retain_graph).items():
            if leaf.grad is None:  # a fresh, writable array the user owns
                leaf.grad = (
                    np.array(cotangent, order="C")
                    if isinstance(cotangent, np.ndarray)
                    else cotangent
                )
            else:
                leaf.grad = leaf.grad + cotangent

    def __getitem__(self, index):
        """``x[i]`` of a float64 vector on a recording tape: a float ``Var`` in one step (the
        ``getitem`` node the general path records, without its dispatch, index normalisation
        and view registration: a float is no view).  Out-of-range indices take the general
        path, which raises NumPy's ``IndexError``."""
        p = self._primal_
        if type(index) is int and type(p) is np.ndarray and p.dtype is _FLOAT64 and p.ndim == 1:
            level = self._level
            if level.active and not recording_threshold():
                try:
                    out = p.item(index)  # float(p[index]), without the np.float64
                except IndexError:
                    pass
                else:
                    node = Node.of_float(getitem, (_vector_stand_in(p),), out, {"index": index},
                                         (self,))
                    return Var._make(out, node, level)
        return ArrayLike.__getitem__(self, index)

    # operators and elementwise ufuncs on float Vars take the scalar fast path
    @staticmethod
    def _apply_unary(prim, x):
        return _record_scalar_unary(prim, x)

    @staticmethod
    def _apply_binary(prim, a, b):
        return _record_scalar_binary(prim, a, b)

    def __repr__(self) -> str:
        kind = "leaf" if self._node is None else self._node.prim.name
        return f"Var({self._primal_!r}, {kind})"
