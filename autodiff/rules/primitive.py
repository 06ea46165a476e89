"""The primitive: one declaration of a value, its derivative rules, its NumPy names and its tests.

A :class:`Primitive` bundles

* ``impl``   -- the NumPy value on plain arrays / floats,
* ``jvp``    -- the tangent of the output given tangents of the inputs (forward mode),
* ``vjp``    -- the cotangents of the inputs given the output's cotangent (reverse mode),
* ``taylor`` -- the Taylor-coefficient propagation rule (Taylor mode), or an explicit
  ``NO_TAYLOR``,
* ``numpy``  -- the NumPy / SciPy callables it answers for (``np.sin``),
* its test domain -- :class:`Domain` for an elementwise primitive (its SymPy reference and safe
  intervals), :class:`Case` calls for any other.

Everything about a primitive is in its one declaration, in the module of its family
(:mod:`autodiff.rules`); the registry, the NumPy dispatch tables and the parametrised table test
find it from there.  NumPy entry points written with primitives (``np.mean``) are declared with
:func:`implements` and their own test cases.

Calling a primitive binds it: :func:`bind` looks for traced operands, and the newest level among
them interprets the call (see :mod:`autodiff.levels`); with no traced operand the primitive just
runs ``impl``.  Rules are written with primitives, never with raw ``.primal`` arrays, so a rule
applied to traced values is itself traced: that is how derivatives nest.

Conventions shared by every rule:

* A tangent or cotangent may carry leading *batch* axes (``jacfwd`` pushes k directions at once,
  ``jacrev`` pulls m).  Its shape is ``batch + value.shape``; rules keep the batch axes leading.
* ``None`` is a symbolic zero: an input that is a constant has tangent ``None``, and a rule may
  return ``None`` for a zero result.  Nothing is ever multiplied by a zero that could be ``nan``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = [
    "Primitive",
    "ParametrizedPrimitive",
    "Traced",
    "bind",
    "lift",
    "holds_traced",
    "ONE",
    "MINUS_ONE",
    "primal_value",
    "shape_of",
    "shape_only",
    "ndim_of",
    "dtype_of",
    "REGISTRY",
    "NO_TAYLOR",
    "normalize_axes",
    "both_signs",
    "batch_ndim",
    "zeros",
    "Domain",
    "Case",
    "call_with",
    "UFUNCS",
    "FUNCTIONS",
    "PRIMAL_UFUNCS",
    "PRIMAL_FUNCTIONS",
    "ENTRY_POINT_CASES",
    "implements",
    "on_primals",
    "data_value",
    "on_data",
    "index_operand",
    "holds_recorded",
    "shape_deciding_value",
]

REGISTRY: dict[str, "Primitive"] = {}


class Traced:
    """Base of every traced value (``Dual``, ``Var``); holds the owning level.

    ``_staged`` is true only for the values of a compiled-replay recording
    (:mod:`autodiff.jit`): what is computed from them must be recorded, not read off.
    """

    __slots__ = ("_level",)
    _staged = False


class _Unit:
    """A partial derivative known to be exactly +1 or -1 (skips a multiplication)."""

    __slots__ = ("sign",)

    def __init__(self, sign: int):
        self.sign = sign

    def __repr__(self) -> str:
        return "ONE" if self.sign > 0 else "MINUS_ONE"


ONE = _Unit(1)
MINUS_ONE = _Unit(-1)


def bind(prim: "Primitive", *args, **params):
    """Apply ``prim`` to ``args``: the newest level among traced operands interprets it.

    An operand that is an object array or a list holding traced values (``np.array([t1, t2])``
    builds one) is first lifted into one traced array (:func:`lift`), so every level sees it.

    The common case is decided in one short pass: every operand a Python number, a real array
    or a traced value of one level (the duals of ``ad.hvp`` as the reverse level hands them
    down, the arrays of ``ad.grad``), so nothing is lifted, nothing is complex and that level
    is the newest; anything else takes the full pass (:func:`_bind_general`).
    """
    level = None
    for arg in args:
        if isinstance(arg, Traced):
            if level is None:
                level = arg._level
            elif arg._level is not level:
                return _bind_general(prim, args, params)
        elif not (type(arg) is float or type(arg) is int or (
                type(arg) is np.ndarray and arg.dtype.kind in "fiub")):
            return _bind_general(prim, args, params)
    if level is not None:
        return level.process(prim, args, params)
    if RECORDING[0] and params:
        return _bind_general(prim, args, params)
    return prim.impl(*args, **params)


def _bind_general(prim, args, params):
    """:func:`bind` for any operands: lifting, the newest of several levels, complex checks,
    and under a recording a level found in the parameters."""
    level = None
    complex_operand = False
    for arg in args:
        if isinstance(arg, Traced):
            candidate = arg._level
            if level is None or candidate.id > level.id:
                level = candidate
        elif type(arg) is float:  # the common constant: nothing to lift, not complex
            continue
        elif type(arg) is np.ndarray:
            kind = arg.dtype.kind
            if kind == "O" and holds_traced(arg):
                return bind(prim, *[lift(a) for a in args], **params)
            if kind == "c":
                complex_operand = True
        elif type(arg) in _CONTAINERS and holds_traced(arg):
            return bind(prim, *[lift(a) for a in args], **params)
        elif type(arg) is complex or (isinstance(arg, np.generic) and arg.dtype.kind == "c"):
            complex_operand = True
    if level is None:
        if RECORDING[0] and params:  # ad.jit: a parameter computed from recorded values
            level = _staged_level(params.values())
            if level is not None:
                return level.process(prim, args, params)
        return prim.impl(*args, **params)
    if complex_operand:
        raise _complex_error(prim)
    return level.process(prim, args, params)


#: How many ad.jit recordings are running (bind then looks for recorded values in parameters,
#: such as the indices of a sort order, too).
RECORDING = [0]


def _staged_level(values):
    for value in values:
        if isinstance(value, Traced) and value._staged:
            return value._level
        if type(value) in (tuple, list):
            level = _staged_level(value)
            if level is not None:
                return level
    return None


def _complex_error(prim) -> TypeError:
    return TypeError(
        f"{prim.name}: a complex operand meets a traced value; complex numbers are out of scope "
        "(the derivative would silently be complex or wrong). Keep the computation real, e.g. "
        "write |x + i| as np.hypot(x, 1.0)."
    )


# ----------------------------------------------------------------------------------------------
# arrays NumPy built around traced values
# ----------------------------------------------------------------------------------------------

_CONTAINERS = (np.ndarray, list, tuple)


def holds_traced(value) -> bool:
    """Whether ``value`` is an object array or a (nested) list / tuple with a traced entry."""
    if type(value) is np.ndarray:
        return value.dtype.hasobject and any(holds_traced(v) for v in value.flat)
    if type(value) in (list, tuple):
        return any(holds_traced(v) for v in value)
    return isinstance(value, Traced)


def lift(value):
    """An object array or nested list holding traced values, as one traced array.

    NumPy builds ``np.array([t1, t2])`` as an object array (our values offer no ``__array__``;
    NumPy iterates an array-valued one element by element).  Its entries, traced scalars and
    constants, become one ``pack`` bound like any primitive, so the newest level among them
    handles it.  Anything that holds no traced value is returned unchanged.
    """
    if isinstance(value, Traced) or not holds_traced(value):
        return value
    array = value if type(value) is np.ndarray else np.array(value, dtype=object)
    elements = []
    for item in array.flat:
        if isinstance(item, Traced):
            if ndim_of(item) != 0:
                raise ValueError(
                    "cannot build an array from traced values of different shapes (NumPy's "
                    f"'inhomogeneous shape' error): an entry of shape {shape_of(item)} sits in "
                    f"a nest of shape {array.shape}"
                )
        elif type(item) in _CONTAINERS:
            raise ValueError(
                "cannot build an array from a nest of lists of different lengths (NumPy's "
                f"'inhomogeneous shape' error); the nest holds traced values, shape {array.shape}"
            )
        elements.append(item)
    return bind(REGISTRY["pack"], *elements, shape=array.shape)


# ----------------------------------------------------------------------------------------------
# the declaration format
# ----------------------------------------------------------------------------------------------


class _NoTaylor:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_TAYLOR"


#: ``taylor=NO_TAYLOR``: the primitive has no Taylor rule; Taylor mode names it in its error.
#: (The other choices, rule functions and the markers ``FIRST_ORDER`` / ``LOCALLY_CONSTANT``,
#: live in :mod:`autodiff.rules.series`.)
NO_TAYLOR = _NoTaylor()


@dataclass(frozen=True)
class Domain:
    """Where an elementwise primitive is tested, and the exact function it must reproduce.

    ``reference`` is the function in SymPy's syntax with its argument names, ``"a, b ->
    atan2(a, b)"``; the test suite differentiates it symbolically (SymPy is a test
    dependency only).  ``intervals`` gives, per argument, the ``(lo, hi)`` intervals to draw
    from: where the rule's formula is accurate to ~1e-12 relative, away from singularities.
    ``valid(*args)`` (elementwise on arrays) keeps drawn points away from kinks and ties;
    ``outside`` lists argument tuples outside the function's domain, where NumPy's value is
    ``nan`` and so must every derivative be.
    """

    reference: str
    intervals: tuple
    valid: Callable | None = None
    outside: tuple = ()


def both_signs(lo: float, hi: float) -> tuple:
    """``[-hi, -lo]`` and ``[lo, hi]``: a test domain kept away from zero."""
    return ((-hi, -lo), (lo, hi))


@dataclass(frozen=True)
class Case:
    """One test call of an array primitive or a NumPy entry point on inputs of given shapes.

    ``call(fn, *inputs)`` evaluates it, ``fn`` being the declared primitive (or NumPy entry
    point) itself, so the declaration exercises exactly the rule it names.  ``sample`` says how
    inputs are drawn: ``"normal"``, ``"separated"`` (entries at least 0.1 apart: no ties within
    10 h for max/min/sort), ``"nonzero"`` (at least 0.1 from zero, the kink of relu),
    ``"zeros"`` (exact zeros included) or ``"positive"`` (in ``[0.5, 2]``); ``"spd"`` draws
    symmetric positive-definite matrices for the last two axes.
    """

    label: str
    shapes: tuple
    call: Callable
    sample: str = "normal"


def call_with(**params) -> Callable:
    """A :class:`Case` call that passes fixed keyword parameters: ``call_with(axis=0)``."""
    return lambda fn, *inputs: fn(*inputs, **params)


#: NumPy's ufuncs answered by a primitive or an entry point: ``np.sin -> sin``.
UFUNCS: dict = {}
#: NumPy's (and SciPy's) functions answered by a primitive or an entry point.
FUNCTIONS: dict = {}
#: Integer- and bool-valued NumPy functions: they run on primal values (no derivative).
PRIMAL_UFUNCS: set = set()
PRIMAL_FUNCTIONS: set = set()
#: The test cases of each NumPy entry point that is not itself a primitive, by callable.
ENTRY_POINT_CASES: dict = {}


def _answer_for(callables, handler) -> None:
    for fn in callables:
        table = UFUNCS if isinstance(fn, np.ufunc) else FUNCTIONS
        if fn in table:
            raise ValueError(f"{_callable_name(fn)} is already answered by {table[fn]!r}")
        table[fn] = handler


def _callable_name(fn) -> str:
    module = getattr(fn, "__module__", None) or "numpy"
    return f"{module}.{getattr(fn, '__name__', repr(fn))}"


def implements(*callables, cases=()):
    """Decorator: the NumPy (or SciPy) ``callables`` are answered by the decorated function.

    For entry points written with primitives (``np.mean`` is ``sum / count``): they need no
    rule of their own; ``cases`` are their test calls, swept by the table test and the
    differential tests like every primitive's.
    """

    def register(fn):
        _answer_for(callables, fn)
        for target in callables:
            ENTRY_POINT_CASES[target] = (fn, tuple(cases))
        return fn

    return register


def on_primals(*callables) -> None:
    """Declare integer- or bool-valued NumPy functions: they run on primal values."""
    for fn in callables:
        (PRIMAL_UFUNCS if isinstance(fn, np.ufunc) else PRIMAL_FUNCTIONS).add(fn)


class Primitive:
    """A differentiable operation, declared once for every mode and every test.

    Parameters
    ----------
    name:
        The NumPy-style name, used in error messages and traces.
    impl:
        ``impl(*args, **params)`` on plain floats / arrays.
    jvp:
        ``jvp(primals, tangents, out, **params)`` -> output tangent (or ``None`` for zero).
        ``tangents[i] is None`` when input ``i`` is a constant.
    vjp:
        ``vjp(cotangent, primals, out, wanted, **params)`` -> list of input cotangents, one for
        each index in ``wanted`` (the inputs that need one).
    taylor:
        ``taylor(primals, series, order, **params)`` -> the output's Taylor coefficients
        ``0..order`` (leading axis), ``series[i]`` those of input ``i`` (``None`` for a
        constant); see :mod:`autodiff.rules.series`, which also has the markers
        ``FIRST_ORDER`` (linear / locally linear) and ``LOCALLY_CONSTANT``; or ``NO_TAYLOR``
        (Taylor mode then names this primitive in its error).  Required: every primitive
        decides.
    numpy:
        The NumPy / SciPy callables this primitive answers for as they are (``np.sin``).
    cases:
        Test calls (:class:`Case`) for an array primitive; elementwise primitives declare a
        :class:`Domain` instead.
    vjp_reads:
        The inputs whose *values* the VJP reads (``None``: all of them and the output).  The
        tape keeps only the shape and dtype of the others (:func:`shape_only`): ``getitem``
        and ``index_update`` read none, so they pin no version of a buffer written in place.
    sparse_vjp:
        Optional, for a reverse sweep on plain (untraced) cotangents: like ``vjp`` but may
        return index-and-values cotangents (:class:`~autodiff.rules.indexing.SparseCotangent`)
        that the sweep adds into its buffers in place (``x[i]`` in a loop stays O(1) per use).
    """

    __slots__ = ("name", "impl", "jvp", "vjp", "taylor", "cases", "sparse_vjp", "vjp_reads")

    def __init__(self, name, impl, jvp=None, vjp=None, *, taylor, numpy=(), cases=(),
                 sparse_vjp=None, vjp_reads=None):
        self.name = name
        self.impl = impl
        self.jvp = jvp
        self.vjp = vjp
        self.sparse_vjp = sparse_vjp
        self.vjp_reads = vjp_reads
        self.taylor = _resolve_taylor(self, taylor)
        self.cases = tuple(cases)
        if name in REGISTRY:
            raise ValueError(f"a primitive named {name!r} is already registered")
        REGISTRY[name] = self
        _answer_for(numpy, self)

    def __call__(self, *args, **params):
        return bind(self, *args, **params)

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


def _resolve_taylor(prim, taylor):
    if taylor is NO_TAYLOR:
        return None
    completed = getattr(taylor, "for_primitive", None)  # series.FIRST_ORDER, series.unary(...)
    if completed is not None:
        return completed(prim)
    if not callable(taylor):
        raise TypeError(
            f"primitive {prim.name!r}: taylor must be a rule function, a marker of "
            f"autodiff.rules.series or NO_TAYLOR, got {taylor!r}"
        )
    return taylor


class ParametrizedPrimitive(Primitive):
    """A primitive with ``n_operands`` array operands followed by named, static parameters.

    ``reshape(x, (2, 3))`` and ``reshape(x, shape=(2, 3))`` mean the same: trailing positional
    arguments are matched to ``param_names`` so a parameter is never mistaken for an operand.
    """

    __slots__ = ("n_operands", "param_names")

    def __init__(self, name, impl, jvp=None, vjp=None, *, taylor, n_operands, param_names,
                 numpy=(), cases=(), sparse_vjp=None, vjp_reads=None):
        super().__init__(name, impl, jvp, vjp, taylor=taylor, numpy=numpy, cases=cases,
                         sparse_vjp=sparse_vjp, vjp_reads=vjp_reads)
        self.n_operands = n_operands
        self.param_names = tuple(param_names)

    def __call__(self, *args, **params):
        n = self.n_operands
        if len(args) > n:
            for name, value in zip(self.param_names, args[n:]):
                if name in params:
                    raise TypeError(f"{self.name}() got multiple values for {name!r}")
                params[name] = value
            args = args[:n]
        return bind(self, *args, **params)


def primal_value(x):
    """Peel every level off ``x``: the plain float / ndarray underneath.

    Under a compiled-replay recording (:mod:`autodiff.jit`) a number read here is a constant
    of the recorded program: code that computes masks or weights from values uses
    :func:`on_data` instead (a recorded step), and branches use :func:`data_value` (a guard).
    """
    while isinstance(x, Traced):
        x = x._primal_
    return x


def data_value(x):
    """Peel the differentiation levels off ``x``, stopping at a compiled-replay recording's value.

    NumPy functions applied to the result are recorded by :mod:`autodiff.jit` when it is one
    (and run as usual otherwise): comparisons and ``bool()`` of traced values use it.
    """
    while isinstance(x, Traced) and not x._staged:
        x = x._primal_
    return x


def on_data(fn, *args, **kwargs):
    """``fn`` (a non-differentiable NumPy computation: a mask, tie weights) on the primal values
    of ``args``; under a compiled-replay recording it becomes a step of the recorded program,
    so a replay recomputes it instead of reusing the recorded mask.  A recorded value inside a
    tuple or list argument (an index holding recorded positions) counts too."""
    values = [data_value(a) for a in args]
    if RECORDING[0]:
        level = _staged_level(values)
        if level is not None:
            return level.record_call(fn, values, kwargs)
    return fn(*values, **kwargs)


def index_operand(item):
    """One entry of an index (``x[..., item]``) or the ``indices`` of a gather, as the rules
    take it: unchanged, unless it is a value of a compiled-replay recording (:mod:`autodiff.jit`).

    A recorded integer array of one or more dimensions (the labels ``y`` of
    ``z[np.arange(n), y]``, an ``argsort``, an integer argument) stays a recorded value: the
    gather (or scatter) takes it as a parameter, which the recording binds to its slot, so a
    replay reads the positions of *its* call.  Positions never change a shape (the result of an
    integer-array index has the index's shape), so nothing else depends on them.  Any other
    recorded value -- a bool mask, whose count of true entries sets the result's shape, or an
    integer scalar, which NumPy reads as a Python number (a basic index) -- is read here and
    guarded: a replay in which it differs records again, never reuses the recorded one.
    """
    if not (isinstance(item, Traced) and item._staged):
        return item
    value = item._primal_
    if type(value) is np.ndarray and value.ndim and value.dtype.kind in "iu":
        return item
    return item._read_by_python("used as an index")


def shape_deciding_value(x, reason: str):
    """The plain value of ``x`` for a computation whose *result's shape* depends on it (the
    count of a condition's true entries, repeat counts, the distinct values of ``np.unique``).

    Outside a compiled-replay recording it is :func:`primal_value`.  Under one, the value is
    read as Python reads it: a guard (``reason`` names it in the generated code), so a replay
    in which it differs records again; never a constant of the recorded program.
    """
    x = data_value(x)
    if isinstance(x, Traced):
        return x._read_by_python(reason)
    return x


def holds_recorded(value) -> bool:
    """Whether a compiled-replay recording's value sits in ``value`` (nested in tuples and
    lists: an index holding recorded positions, see :func:`index_operand`)."""
    return bool(RECORDING[0]) and _staged_level((value,)) is not None


# shape_of, ndim_of and dtype_of run several times per rule application: the primal is peeled
# inline and a float or a NumPy float64 scalar (what a full reduction returns: np.sum of an
# array) answers without NumPy's dispatch (np.shape(1.0) is (), np.ndim(1.0) is 0,
# np.result_type(1.0) is float64); a plain array, the most common argument, answers first


def shape_of(x) -> tuple:
    if type(x) is np.ndarray:
        return x.shape
    while isinstance(x, Traced):
        x = x._primal_
    if isinstance(x, np.ndarray):
        return x.shape
    return () if type(x) is float or type(x) is np.float64 else np.shape(x)


def ndim_of(x) -> int:
    if type(x) is np.ndarray:
        return x.ndim
    while isinstance(x, Traced):
        x = x._primal_
    if isinstance(x, np.ndarray):
        return x.ndim
    return 0 if type(x) is float or type(x) is np.float64 else np.ndim(x)


_FLOAT64 = np.dtype(np.float64)


def dtype_of(x):
    if type(x) is np.ndarray:
        return x.dtype
    while isinstance(x, Traced):
        x = x._primal_
    if isinstance(x, np.ndarray):
        return x.dtype
    return _FLOAT64 if type(x) is float or type(x) is np.float64 else np.result_type(x)


_SHAPE_ONLY: dict = {}


def shape_only(value):
    """A stand-in with ``value``'s shape and dtype and no data (zero strides, read-only).

    What the tape keeps of an input whose values a VJP never reads (``vjp_reads``); one per
    shape and dtype, shared.
    """
    if type(value) is np.ndarray:
        key = (value.shape, value.dtype)
    else:
        key = (shape_of(value), dtype_of(value))
    stand_in = _SHAPE_ONLY.get(key)
    if stand_in is None:
        if len(_SHAPE_ONLY) > 1024:
            _SHAPE_ONLY.clear()
        stand_in = _SHAPE_ONLY[key] = np.broadcast_to(np.zeros((), key[1]), key[0])
    return stand_in


def normalize_axes(axis, ndim: int) -> tuple:
    """``axis`` (None, int or tuple, negatives allowed) as a sorted tuple of positions."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(a, ndim)
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axis!r}")
    return tuple(sorted(out))


def batch_ndim(t, x) -> int:
    """Number of leading batch axes of tangent/cotangent ``t`` of a value shaped like ``x``."""
    if type(t) is np.ndarray and type(x) is np.ndarray:
        return t.ndim - x.ndim
    return ndim_of(t) - ndim_of(x)


def zeros(shape, like):
    """A zero array of ``shape`` in ``like``'s dtype."""
    return np.zeros(shape, dtype=dtype_of(like))
