"""The recording level of compiled replay: every primitive and NumPy call on its values, as steps.

A :class:`RecordingLevel` is opened *before* anything the jitted function runs, so its id is
the smallest of the live levels: every transform inside the function (``grad``, ``jvp``,
``hvp``, ...) opens newer levels, interprets its primitives and hands the primal computation
down (:mod:`autodiff.levels`), until a primitive with a :class:`Staged` operand reaches
:meth:`RecordingLevel.process`.  There it is computed concretely and appended to a flat
:class:`Program` (the function called, its inputs as slots or constants, its parameters).

A :class:`Staged` value wraps the concrete value and its slot.  What leaves the recorded world
becomes a *guard* (:meth:`Staged._read_by_python`): ``bool()`` of a comparison (an ``if``),
``int()`` / ``float()`` / ``.item()`` / ``len``-style reads, a scalar or a bool mask used as
an index, a value that sets a shape (:func:`~autodiff.rules.primitive.shape_deciding_value`),
an integer array NumPy converts itself (:class:`StagedPositions`).  NumPy's integer- and
bool-valued functions (comparisons, ``argmax``, ``nonzero``) and the masks rules compute with
:func:`~autodiff.rules.primitive.on_data` are recorded as steps, so a replay recomputes them;
integer arrays used as positions stay recorded values that the gathers and scatters take as
parameters (:func:`~autodiff.rules.primitive.index_operand`), read from their slots on replay.
"""

from __future__ import annotations

import operator
import sys

import numpy as np

from ..levels import Level, new_level_id
from ..rules.primitive import FUNCTIONS, Traced, holds_traced, index_operand, lift
from ..numpy_api import writing
from ..rules import shapes
from ..tracer import ArrayLike

__all__ = ["JitError", "Ref", "Step", "Guard", "Program", "RecordingLevel", "Staged"]


class JitError(RuntimeError):
    """``ad.jit`` could not record the function; the message names the reason."""


class Ref:
    """A reference to slot ``slot`` of the program (an input or a step's result)."""

    __slots__ = ("slot",)

    def __init__(self, slot: int):
        self.slot = slot

    def __repr__(self) -> str:
        return f"Ref({self.slot})"


class Step:
    """``out = fn(*args, **kwargs)``, ``args`` / ``kwargs`` holding :class:`Ref` s.

    ``name`` names the operation (a primitive's name, a NumPy function's); ``prim`` is the
    primitive or ``None``; ``arg_types`` are the types the operands had while recording (the
    code generator writes Python operators where they were Python floats).
    """

    __slots__ = ("fn", "args", "kwargs", "out", "name", "prim", "arg_types", "out_type",
                 "nested", "out_dtype", "out_layout", "_reads")

    def __init__(self, fn, args, kwargs, out, name, prim, arg_types, out_type, nested):
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.out = out
        self.name = name
        self.prim = prim
        self.arg_types = arg_types
        self.out_type = out_type
        self.nested = nested  # whether a Ref sits inside a list / tuple / dict operand
        self.out_dtype = None  # the dtype of an array result
        self.out_layout = None  # (shape, dtype) of a C-contiguous array result
        self._reads = None

    def reads(self):
        """The slots this step reads (found once: the operands do not change)."""
        found = self._reads
        if found is None:
            found = []
            _collect_refs((self.args, self.kwargs), found)
            self._reads = found
        return found


class Guard:
    """After slot ``slot`` is computed, it must equal ``expected`` (``kind`` 'bool' or 'value')."""

    __slots__ = ("slot", "kind", "expected", "reason")

    def __init__(self, slot, kind, expected, reason):
        self.slot = slot
        self.kind = kind
        self.expected = expected
        self.reason = reason


def _collect_refs(value, found):
    if type(value) is Ref:
        found.append(value.slot)
    elif type(value) in (list, tuple):
        for v in value:
            _collect_refs(v, found)
    elif type(value) is dict:
        for v in value.values():
            _collect_refs(v, found)
    elif type(value) is slice:
        _collect_refs((value.start, value.stop, value.step), found)


class Program:
    """The flat program a recording builds: input slots, steps, guards."""

    def __init__(self):
        self.n_slots = 0
        self.inputs: list[int] = []
        self.steps: list[Step] = []
        self.guards: list[Guard] = []
        self.guarded: dict = {}  # slot -> Guard (one guard per slot suffices)

    def new_slot(self) -> int:
        slot = self.n_slots
        self.n_slots += 1
        return slot


def _origin() -> str:
    """Where the value was read: the user's line, and the autodiff function in between (a rule
    deciding on a value), for the guard's comment."""
    frame = sys._getframe(2)
    inner = None
    while frame is not None:
        path = frame.f_code.co_filename.replace("\\", "/")
        where = f"{path.rsplit('/', 1)[-1]}:{frame.f_lineno}"
        if "/autodiff/" not in path:
            return where if inner is None else f"{where} (in {inner})"
        if inner is None and "/autodiff/jit/" not in path and not path.endswith(
                ("/tracer.py", "/primitive.py")):
            inner = f"{frame.f_code.co_name}, {where}"
        frame = frame.f_back
    return inner or "?"


class RecordingLevel(Level):
    """The level of ``ad.jit``'s recording: computes every primitive and appends it as a step.

    It does not hold module state (a recorded plain call behaves like a plain call).
    """

    kind = "recording"
    __slots__ = ("program",)

    def __init__(self):  # noqa: D107 - no module-state holding scope (see the class docstring)
        self.id = new_level_id()
        self.active = True
        self.manual = False
        self._hold_token = None
        self.program = Program()

    # -- values ------------------------------------------------------------------------------
    def input(self, value):
        slot = self.program.new_slot()
        self.program.inputs.append(slot)
        return Staged._make(value, self, slot)

    def _split(self, value):
        """``(concrete, template)`` for an operand: our values become ``Ref`` s."""
        if isinstance(value, Traced):
            if value._level is self:
                return value._primal_, Ref(value._slot)
            if not value._level.active:
                raise value._level.escaped(type(value).__name__)
            raise JitError(
                f"ad.jit: the function uses a traced value of another level ({value!r}, of "
                f"{value._level!r}): a hand-built ad.Var / ad.Dual or a value of an enclosing "
                "transform, held in a closure or a global. A replay could not see it change; "
                "pass it to the jitted function as an argument."
            )
        kind = type(value)
        if kind in (list, tuple):
            pairs = [self._split(v) for v in value]
            return kind(c for c, _ in pairs), kind(t for _, t in pairs)
        if kind is dict:
            pairs = {k: self._split(v) for k, v in value.items()}
            return {k: c for k, (c, _) in pairs.items()}, {k: t for k, (_, t) in pairs.items()}
        if kind is slice:  # bounds read by Python: guarded constants
            bounds = [b._read_by_python("a slice bound") if isinstance(b, Staged) else b
                      for b in (value.start, value.stop, value.step)]
            value = slice(*bounds)
            return value, value
        if kind is np.ndarray and value.dtype.hasobject and holds_traced(value):
            return self._split(lift(value))
        return value, value

    def record_call(self, fn, args, kwargs, name=None, prim=None):
        """Run ``fn`` on the concrete values of ``args`` and append it as a step; the result
        (or each entry of a tuple result) is a :class:`Staged` value.

        Operands are split in one pass: a recorded value of this level becomes a ``Ref`` (and
        a slot the step reads), a number, string, ``None`` or non-object array stays itself,
        and anything else (containers, slices, other traced values) goes through
        :meth:`_split`.  The slots read are kept on the step when no ``Ref`` is nested.
        """
        if not self.active:
            raise self.escaped("recorded value")
        concrete_args = []
        arg_template = []
        reads = []
        nested = False
        for arg in args:
            kind = type(arg)
            if kind in _STAGED_TYPES and arg._level is self:
                concrete_args.append(arg._primal_)
                arg_template.append(Ref(arg._slot))
                reads.append(arg._slot)
            elif kind in _ATOMS or (kind is np.ndarray and not arg.dtype.hasobject):
                concrete_args.append(arg)
                arg_template.append(arg)
            else:
                concrete, template = self._split(arg)
                concrete_args.append(concrete)
                arg_template.append(template)
                if type(template) is Ref:
                    reads.append(template.slot)
                elif _has_ref(template):
                    nested = True
        if kwargs:
            concrete_kwargs = {}
            kw_template = {}
            for key, value in kwargs.items():
                kind = type(value)
                if kind in _ATOMS or (kind is np.ndarray and not value.dtype.hasobject):
                    concrete_kwargs[key] = kw_template[key] = value
                    continue
                if (kind is slice and type(value.start) in _ATOMS
                        and type(value.stop) in _ATOMS and type(value.step) in _ATOMS) or (
                        kind is tuple and all(type(v) in _ATOMS for v in value)):
                    concrete_kwargs[key] = kw_template[key] = value
                    continue
                concrete, template = self._split(value)
                concrete_kwargs[key] = concrete
                kw_template[key] = template
                if not nested and _has_ref(template):
                    nested = True
        else:
            concrete_kwargs = kw_template = {}
        out = fn(*concrete_args, **concrete_kwargs)
        program = self.program
        slot = program.n_slots
        program.n_slots = slot + 1
        step = Step(
            fn, tuple(arg_template), kw_template, slot,
            name or getattr(fn, "__name__", type(fn).__name__), prim,
            tuple(map(type, concrete_args)), type(out), nested,
        )
        if not nested:
            step._reads = reads
        if type(out) is np.ndarray:
            step.out_dtype = out.dtype
            if out.flags.c_contiguous:
                step.out_layout = (out.shape, out.dtype)
            program.steps.append(step)
            return Staged._make(out, self, slot)
        program.steps.append(step)
        return self._result(out, slot)

    def _result(self, out, slot):
        if isinstance(out, tuple) and not isinstance(out, Traced):
            items = []
            for i, item in enumerate(out):
                item_slot = self.program.new_slot()
                self.program.steps.append(Step(
                    _item, (Ref(slot), i), {}, item_slot, "item", None,
                    (tuple, int), type(item), False))
                items.append(self._result(item, item_slot))
            make = getattr(type(out), "_make", None)  # namedtuples (np.linalg results)
            return make(items) if make is not None else tuple(items)
        if isinstance(out, Traced):
            raise JitError(
                f"ad.jit: a recorded operation returned a traced value ({out!r}); the recording "
                "cannot replay it"
            )
        return Staged._make(out, self, slot)

    def process(self, prim, args, params):
        if prim is shapes.reshape or prim is shapes.unbroadcast:
            operand = args[0]
            if (isinstance(operand, Staged) and operand._level is self
                    and type(operand._primal_) is np.ndarray
                    and tuple(params["shape"]) == operand._primal_.shape
                    and not params.get("n_batch")):
                # to its own shape: a view of the same memory with the same strides (reshape)
                # or nothing to sum (unbroadcast); the operand serves, no step is recorded
                # (the VJPs of broadcasting operations and of reshapes send most cotangents
                # through these unchanged: 10 of the 46 steps of an MLP's gradient)
                return operand
        if params.get("inplace") and not (isinstance(args[0], Staged) and args[0]._level is self):
            # a write into an array the program holds as a constant (the zero tangent a JVP
            # rule made for this call): every replay writes into a copy of it instead, so no
            # replay sees the positions an earlier one wrote
            params = dict(params, inplace=False)
        return self.record_call(prim.impl, args, params, name=prim.name, prim=prim)

    # -- guards ------------------------------------------------------------------------------
    def guard(self, staged, kind, expected, reason):
        program = self.program
        known = program.guarded.get(staged._slot)
        if known is not None and (known.kind == "value" or kind == "bool"):
            return  # a value guard implies the bool guard
        guard = Guard(staged._slot, kind, expected, f"{reason} at {_origin()}")
        program.guarded[staged._slot] = guard
        if known is not None:
            program.guards.remove(known)
        program.guards.append(guard)


#: Operand types that are never recorded values nor hold any: taken as they are
_ATOMS = frozenset({float, int, bool, str, type(None), type(Ellipsis), np.float64, np.float32,
                    np.int64, np.intp, np.bool_, np.dtype, type})


def _has_ref(value) -> bool:
    found = []
    _collect_refs(value, found)
    return bool(found)


def _item(values, i):
    return values[i]


def _snapshot(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


_STATIC_FUNCTIONS = {np.shape, np.ndim, np.size, np.result_type, np.iscomplexobj, np.isrealobj}
#: NumPy functions that write into their first argument: NumPy's own call would change the
#: recording's array once, unseen by the program; the library's versions record the write
_WRITING_FUNCTIONS = {np.put_along_axis, np.copyto, np.fill_diagonal}


class Staged(ArrayLike):
    """A value of a recording: its concrete value (``_primal_``) and its slot in the program.

    It behaves like the array (or float) it wraps: NumPy functions and operators on it are
    recorded; reading its number from Python (``bool``, ``int``, ``float``, ``.item()``, an
    index) records a guard.
    """

    __slots__ = ("_primal_", "_slot")
    _staged = True

    @classmethod
    def _make(cls, value, level, slot):
        if type(value) is np.ndarray and value.dtype.kind in "iub":
            cls = StagedPositions  # positions and masks: NumPy may read them (see the class)
        staged = object.__new__(cls)
        staged._primal_ = value
        staged._level = level
        staged._slot = slot
        return staged

    def __repr__(self) -> str:
        return f"Staged(slot {self._slot}, {self._primal_!r})"

    # -- reads by Python: guards -------------------------------------------------------------
    def _read_by_python(self, reason):
        """The concrete value, guarded: a replay in which it differs records again."""
        level = self._level
        if not level.active:
            raise level.escaped("recorded value")
        level.guard(self, "value", _snapshot(self._primal_), reason)
        return self._primal_

    def __bool__(self):
        level = self._level
        if not level.active:
            raise level.escaped("recorded value")
        outcome = bool(self._primal_)
        level.guard(self, "bool", outcome, "bool() (a branch on a value)")
        return outcome

    def __float__(self):
        return float(self._read_by_python("float()"))

    def __int__(self):
        return int(self._read_by_python("int()"))

    def __index__(self):
        value = self._primal_
        if type(value) is np.ndarray and value.ndim:  # NumPy's error, before any guard
            raise TypeError("only integer scalar arrays can be converted to a scalar index")
        return self._read_by_python("used as an integer").__index__()

    def __complex__(self):
        return complex(self._read_by_python("complex()"))

    def item(self, *args):
        value = self._read_by_python(".item()")
        return value.item(*args) if isinstance(value, (np.ndarray, np.generic)) else value

    def tolist(self):
        value = self._read_by_python(".tolist()")
        return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value

    def numpy(self):
        return np.asarray(self._read_by_python(".numpy()"))

    def detach(self):
        return self._read_by_python(".detach()")

    # printing shows the recording's value and guards nothing: side effects such as print run
    # only while recording (documented)
    def __format__(self, spec):
        return format(self._primal_, spec)

    def __str__(self):
        return str(self._primal_)

    # -- comparisons and NumPy: recorded steps -------------------------------------------------
    def __lt__(self, other):
        return np.less(self, other)

    def __le__(self, other):
        return np.less_equal(self, other)

    def __gt__(self, other):
        return np.greater(self, other)

    def __ge__(self, other):
        return np.greater_equal(self, other)

    def __eq__(self, other):
        return np.equal(self, other)

    def __ne__(self, other):
        return np.not_equal(self, other)

    __hash__ = object.__hash__

    def __invert__(self):
        return np.invert(self)

    def __and__(self, other):
        return np.bitwise_and(self, other)

    def __or__(self, other):
        return np.bitwise_or(self, other)

    def __xor__(self, other):
        return np.bitwise_xor(self, other)

    def _own_level(self, values):
        for value in values:
            if isinstance(value, Staged):
                return value._level
        return self._level

    # -- Python's operators: recorded as Python applies them to the values (an np.float64 power
    # is NumPy's scalar power, which can differ in the last bit from np.power) ------------------
    def _operator(self, fn, *operands):
        if _foreign(operands):
            return NotImplemented  # a transform's value: its level interprets the call
        return self._own_level(operands).record_call(fn, operands, {}, name=fn.__name__)

    def __add__(self, other):
        return self._operator(operator.add, self, other)

    def __radd__(self, other):
        return self._operator(operator.add, other, self)

    def __sub__(self, other):
        return self._operator(operator.sub, self, other)

    def __rsub__(self, other):
        return self._operator(operator.sub, other, self)

    def __mul__(self, other):
        return self._operator(operator.mul, self, other)

    def __rmul__(self, other):
        return self._operator(operator.mul, other, self)

    def __truediv__(self, other):
        return self._operator(operator.truediv, self, other)

    def __rtruediv__(self, other):
        return self._operator(operator.truediv, other, self)

    def __pow__(self, other):
        return self._operator(operator.pow, self, other)

    def __rpow__(self, other):
        return self._operator(operator.pow, other, self)

    def __matmul__(self, other):
        return self._operator(operator.matmul, self, other)

    def __rmatmul__(self, other):
        return self._operator(operator.matmul, other, self)

    def __neg__(self):
        return self._operator(operator.neg, self)

    def __abs__(self):
        return self._operator(operator.abs, self)

    def __getitem__(self, index):
        """``x[index]`` as NumPy computes it (a float64 entry is ``np.float64``, as in the eager
        call); recorded integer arrays in the index are read from their slots on replay, other
        recorded values (a bool mask, a scalar) are guarded (shapes stay fixed):
        :func:`~autodiff.rules.primitive.index_operand`."""
        items = index if type(index) is tuple else (index,)
        items = tuple(
            index_operand(item) if isinstance(item, Staged)
            else np.asarray(item) if type(item) is list else item for item in items)
        if any(isinstance(item, Traced) and not item._staged for item in items):
            return ArrayLike.__getitem__(self, index)  # a value of a transform: its error
        index = items if type(index) is tuple else items[0]
        result = self._level.record_call(operator.getitem, (self, index), {}, name="getitem")
        return writing.view_of_index(self, index, result)  # writes reach the base, as in NumPy

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if _foreign(inputs):
            return NotImplemented  # a transform's value: its level interprets the call
        if method == "at":  # an in-place write: recorded as the traced values' writes are
            return ArrayLike.__array_ufunc__(self, ufunc, method, *inputs, **kwargs)
        out = kwargs.get("out")
        if out is not None:
            raise JitError(
                f"ad.jit: np.{ufunc.__name__}(..., out=...) writes into an array the recording "
                "does not own; a replay would not repeat the write. Use the returned value."
            )
        return self._own_level(inputs).record_call(
            getattr(ufunc, method), inputs, kwargs,
            name=ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}")

    def __array_function__(self, func, types, args, kwargs):
        if _foreign(args) or _foreign(kwargs.values()):
            return NotImplemented  # a transform's value: its level interprets the call
        if func in _STATIC_FUNCTIONS:  # shapes and dtypes: fixed by the signature
            return func(*_peel_all(args), **_peel_all(kwargs))
        if func in _WRITING_FUNCTIONS:  # writes into an argument: recorded as y[i] = v is
            return FUNCTIONS[func](*args, **kwargs)
        if kwargs.get("out") is not None:
            raise JitError(f"ad.jit: np.{func.__name__}(..., out=...) writes into an array the "
                           "recording does not own; use the returned value")
        # NumPy's own function, as the eager call on arrays runs it (bit for bit)
        return self._own_level(args).record_call(func, args, kwargs, name=func.__name__)


def _numpy_method(func):
    def method(self, *args, **kwargs):
        return func(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = func.__name__
    method.__doc__ = f"``np.{func.__name__}(self, ...)``, recorded (as ndarray's method)."
    return method


# ndarray methods traced values do not offer, for the recording's integer and bool arrays
# (labels, masks): ``i.repeat(2)`` and ``mask.any()`` work under ad.jit as on the eager arrays
for _func in (np.all, np.any, np.repeat, np.take, np.swapaxes, np.diagonal, np.trace,
              np.compress, np.choose, np.searchsorted, np.round, np.conj):
    if not hasattr(Staged, _func.__name__):
        setattr(Staged, _func.__name__, _numpy_method(_func))


class StagedPositions(Staged):
    """A recorded integer or bool array (positions, labels, a mask).

    The library's gathers keep it recorded (:func:`~autodiff.rules.primitive.index_operand`).
    Where NumPy takes it without asking it (an index of a plain array, ``W[i]``; ``np.take``'s
    ``indices``, which NumPy does not dispatch on), NumPy converts it with ``__array__``: that
    read is guarded, so a replay with other positions records again instead of reusing the
    recorded ones.  (Float values offer no ``__array__``, so ``np.array([a, b])`` of recorded
    numbers stays a recorded step.)
    """

    __slots__ = ()

    def __array__(self, dtype=None, copy=None):
        value = self._read_by_python("read by NumPy as an array (an index of a plain array)")
        if copy:
            return np.array(value, dtype=dtype, copy=True)
        return np.asarray(value, dtype=dtype)


_STAGED_TYPES = frozenset({Staged, StagedPositions})


def _foreign(values) -> bool:
    """Whether a traced value that is not a recording's sits among ``values`` (nested)."""
    for value in values:
        if isinstance(value, Traced):
            if not value._staged:
                return True
        elif type(value) in (list, tuple) and _foreign(value):
            return True
    return False


def _peel_all(value):
    if isinstance(value, (list, tuple)):
        return type(value)(_peel_all(v) for v in value)
    if isinstance(value, dict):
        return {k: _peel_all(v) for k, v in value.items()}
    while isinstance(value, Traced):
        value = value._primal_
    return value
