"""Code generation for compiled replay: a recorded :class:`~autodiff.jit.recording.Program` as
Python source, one line per step, compiled once.

* Dead steps (whose results reach neither an output nor a guard) are dropped, and repeated
  ones (the same function of the same operands) computed once; ``-(c (-a))`` of float arrays
  is computed as ``c a`` (the same bits, :func:`_sign_folded`).
* A step whose operands were Python floats while recording, of ``add`` / ``subtract`` /
  ``multiply`` / ``negative``, is written with Python's operator (correctly rounded, the
  same bits as the primitive's implementation, which uses the operator too); ``divide``
  becomes ``a / b if b else divide(a, b)`` (the primitive's ``inf`` / ``nan`` with NumPy's
  warning at zero).  Every other step calls the function the recording called (the primitive's
  ``impl``, or the NumPy function), so the replay computes the same bits as the eager call.
* A variable is deleted after its last use (``del``), so intermediates are freed as early as in
  the eager reverse sweep.
* An elementwise NumPy ufunc whose result is an intermediate (never returned) writes into a
  reused buffer, its output argument ``pool<k>`` (:func:`plan_buffers`); the caller passes
  the buffers, or ``None`` (a new array, as the eager call makes).
* A guard follows the step that computes its value: ``if not v: raise RETRACE``.
* Programs longer than :data:`MAX_COMPILED_STEPS` are not compiled (Python's compiler is slow
  on a 4e5-line function): :func:`interpreter` replays them with a loop over the steps.
"""

from __future__ import annotations

import keyword
import math
import operator
import re

import numpy as np

from ..rules import elementwise
from ..rules.elementwise import _power_impl
from .recording import Ref, Step

__all__ = ["Retrace", "RETRACE", "live_steps", "shared_subexpressions", "generate",
           "interpreter", "same_value", "plan_buffers", "MAX_COMPILED_STEPS"]

#: Lines above which the program is replayed by a loop instead of compiled source (compiling
#: 150 000 lines took about 1 s here; the loop replays a scalar chain 10x slower than the code).
MAX_COMPILED_STEPS = 100_000


class Retrace(Exception):
    """A guard failed: the recorded program does not apply to these inputs."""


RETRACE = Retrace()


def same_value(a, b) -> bool:
    """Whether two values are the same (type kind, shape, dtype, every entry; nan equals nan)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if type(a) is not type(b):
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b) or (a != a and b != b)
    except (TypeError, ValueError):
        return a is b


def _constant_key(value):
    """A key equal for operands that are the same constant (floats by their bits' repr)."""
    kind = type(value)
    if kind is Ref:
        return ("ref", value.slot)
    if value is None or value is Ellipsis or kind in (bool, int, str):
        return (kind, value)
    if kind is float:
        return (kind, repr(value))
    if kind in (tuple, list):
        return (kind, tuple(_constant_key(v) for v in value))
    if kind is dict:
        return (kind, tuple((k, _constant_key(v)) for k, v in value.items()))
    if kind is slice:
        return (kind, _constant_key((value.start, value.stop, value.step)))
    return ("id", id(value))


def _renamed(value, alias):
    kind = type(value)
    if kind is Ref:
        slot = alias.get(value.slot)
        return value if slot is None else Ref(slot)
    if kind in (list, tuple):
        return kind(_renamed(v, alias) for v in value)
    if kind is dict:
        return {k: _renamed(v, alias) for k, v in value.items()}
    return value


def shared_subexpressions(program, outputs_template):
    """The program with repeated steps computed once (the same function on the same operands:
    ``x[:-1]`` read by the forward pass and again by the sweep), and the outputs renamed.

    Every step is a function of its operands (a draw from NumPy's global generator is refused
    while recording), so one result serves every repetition; a step whose result a guard reads
    keeps one guard.  Only the live steps (:func:`live_steps`, before the sharing: sharing
    never revives a dead step) are compared, in one pass: value numbering over straight-line
    code (Aho, Lam, Sethi and Ullman, "Compilers: Principles, Techniques, and Tools", 2nd ed.,
    section 8.5.2), a step's key its function and its operands' numbers or constants.
    """
    from .recording import Guard, Program  # noqa: PLC0415 - a sibling module

    output_slots = [t.slot for t in outputs_template if type(t) is Ref]
    alias: dict = {}
    seen: dict = {}
    produced: dict = {}  # slot -> the kept step computing it
    steps = []
    for step in live_steps(program, output_slots):
        args = step.args
        if step.nested:
            args = _renamed(args, alias)
            kwargs = _renamed(step.kwargs, alias)
            key = (id(step.fn), _constant_key(args), _constant_key(kwargs))
        else:  # Refs only at the top level of the positional operands
            kwargs = step.kwargs
            if alias:
                renamed = [Ref(alias.get(a.slot, a.slot)) if type(a) is Ref and a.slot in alias
                           else a for a in args]
                if any(a is not b for a, b in zip(renamed, args)):
                    args = tuple(renamed)
            folded = _sign_folded(step, args, produced)
            if folded is not None:
                step = folded
                args, kwargs = step.args, step.kwargs
            key = (id(step.fn), tuple(a.slot if type(a) is Ref else _constant_key(a)
                                      for a in args),
                   _constant_key(kwargs) if kwargs else None)
        first = seen.get(key)
        if first is not None:
            alias[step.out] = first
            continue
        seen[key] = step.out
        if args is not step.args or kwargs is not step.kwargs:
            copy = Step(step.fn, args, kwargs, step.out, step.name, step.prim, step.arg_types,
                        step.out_type, step.nested)
            copy.out_dtype = step.out_dtype
            copy.out_layout = step.out_layout
            step = copy
        steps.append(step)
        produced[step.out] = step
    simplified = Program()
    simplified.n_slots = program.n_slots
    simplified.inputs = list(program.inputs)
    simplified.steps = steps
    for guard in program.guards:
        slot = alias.get(guard.slot, guard.slot)
        if slot not in simplified.guarded:
            simplified.guarded[slot] = Guard(slot, guard.kind, guard.expected, guard.reason)
            simplified.guards.append(simplified.guarded[slot])
    if not alias:
        return simplified, list(outputs_template)
    return simplified, [_renamed(t, alias) for t in outputs_template]


def _float_array_step(step, prim) -> bool:
    """Whether ``step`` is the primitive ``prim`` (positional operands only) making a real
    floating array."""
    return (step.prim is prim and not step.kwargs and not step.nested
            and step.out_type is np.ndarray and step.out_dtype is not None
            and step.out_dtype.kind == "f")


def _sign_folded(step, args, produced):
    """``negative(multiply(c, negative(a)))`` of float arrays, ``c`` a finite non-zero Python
    float, as the step ``multiply(c, a)``; else ``None``.

    ``-(c (-a)) = c a`` entry by entry, bit for bit: IEEE 754 multiplication rounds the exact
    product, whose magnitude does not depend on the operands' signs and whose sign (a nan
    operand's sign included) each negation flips, so the two negations cancel.  A zero or
    infinite ``c`` is left alone: ``0 · inf`` is invalid, and the processor's default nan
    carries the same sign whatever the operands' signs (x86), which one negation would flip.  The
    forward-over-reverse product of Rosenbrock's ``(1 - x)²`` terms computes ``2 v`` this way;
    folded, it is the ``2 v`` the other terms compute, and the value numbering shares it.
    """
    if not _float_array_step(step, elementwise.negative) or len(args) != 1 \
            or type(args[0]) is not Ref:
        return None
    product = produced.get(args[0].slot)
    if (product is None or not _float_array_step(product, elementwise.multiply)
            or len(product.args) != 2):
        return None
    for position, scale in enumerate(product.args):
        other = product.args[1 - position]
        if type(scale) is not float or not (math.isfinite(scale) and scale) \
                or type(other) is not Ref:
            continue
        inner = produced.get(other.slot)
        if (inner is None or not _float_array_step(inner, elementwise.negative)
                or len(inner.args) != 1
                or type(inner.args[0]) is not Ref or inner.arg_types[0] is not np.ndarray
                or not inner.out_dtype == product.out_dtype == step.out_dtype):
            continue
        operands = list(product.args)
        operands[1 - position] = inner.args[0]
        folded = Step(product.fn, tuple(operands), product.kwargs, step.out, product.name,
                      product.prim, product.arg_types, step.out_type, False)
        folded.out_dtype = step.out_dtype
        folded.out_layout = step.out_layout
        return folded
    return None


def live_steps(program, output_slots):
    """The steps whose results reach an output or a guard, in order."""
    needed = set(output_slots)
    needed.update(g.slot for g in program.guards)
    live = []
    for step in reversed(program.steps):
        if step.out in needed:
            live.append(step)
            needed.update(step.reads())
    live.reverse()
    return live


_IDENT = re.compile(r"[^0-9a-zA-Z_]")
_OPERATORS = {"add": "+", "subtract": "-", "multiply": "*"}
_COMPARISONS = {"equal": "==", "not_equal": "!=", "less": "<", "less_equal": "<=",
                "greater": ">", "greater_equal": ">="}
_NUMBER_TYPES = (float, int)
_INFIX = {operator.add: "+", operator.sub: "-", operator.mul: "*", operator.truediv: "/",
          operator.pow: "**", operator.matmul: "@", operator.neg: "-"}
#: Primitives whose implementation is NumPy's function of that name, and the keywords the
#: ndarray method of that name takes as the function does
_ARRAY_METHODS = {"transpose": {"axes"}, "sum": {"axis", "keepdims"}}
_RESERVED = {"slice", "same", "RETRACE", "replay", "c", "seen", "memo", "state"}


_POOL_NAME = re.compile(r"pool[0-9]+\Z")
_RESULT_NAMES: dict = {}  # operation name -> its identifier part


class _Namer:
    """Readable, unique names: inputs ``x0``, step results ``<op>_<slot>``, constants ``c<k>``."""

    def __init__(self, program):
        self.names = {slot: f"x{i}" for i, slot in enumerate(program.inputs)}
        self.constants: dict = {}
        self.by_id: dict = {}
        self._keep: list = []

    def result(self, step) -> str:
        name = _RESULT_NAMES.get(step.name)
        if name is None:
            name = _IDENT.sub("_", step.name)[:20].strip("_") or "v"
            if not name[0].isalpha():
                name = "v" + name
            if len(_RESULT_NAMES) < 4096:
                _RESULT_NAMES[step.name] = name
        self.names[step.out] = name = f"{name}_{step.out}"
        return name

    def constant(self, value, hint="c") -> str:
        key = (id(value), hint == "seen")
        known = self.by_id.get(key)
        if known is not None:
            return known
        hint = _IDENT.sub("_", hint)[:24].strip("_") or "c"
        if not hint[0].isalpha():
            hint = "c" + hint
        name = hint
        if (name in self.constants or name in _RESERVED or keyword.iskeyword(name)
                or _POOL_NAME.match(name)):
            name = f"{hint}__{len(self.constants)}"
        self.constants[name] = value
        self.by_id[key] = name
        self._keep.append(value)  # ids stay unique while the namer lives
        return name

    def expr(self, value) -> str:
        """Source for an operand: a variable, a literal or a named constant."""
        kind = type(value)
        if kind is Ref:
            return self.names[value.slot]
        if value is None or value is Ellipsis or kind in (bool, str):
            return repr(value)
        if kind is int or (kind is float and math.isfinite(value)):
            text = repr(value)  # (-2.0) ** x is not -2.0 ** x
            return f"({text})" if text.startswith("-") else text
        if kind is float:
            return self.constant(value)
        if kind is tuple:
            inner = ", ".join(self.expr(v) for v in value)
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        if kind is list:
            return "[" + ", ".join(self.expr(v) for v in value) + "]"
        if kind is dict and all(type(k) is str for k in value):
            return "{" + ", ".join(f"{k!r}: {self.expr(v)}" for k, v in value.items()) + "}"
        if kind is slice:
            return (f"slice({self.expr(value.start)}, {self.expr(value.stop)}, "
                    f"{self.expr(value.step)})")
        return self.constant(value)


class _Float64Scalars:
    """A Python float operand of a ufunc writing a float64 array, as a 0-d float64 array
    constant (one per value, by its bits): ``multiply(f64_2_0, x0, pool0)``.

    NumPy converts a Python float operand to a 0-d array on every call (about 0.17 us of a
    0.46 us ``multiply`` of 1000 entries here); a 0-d float64 array is used as it is.  Where the
    result is float64 the two select the same loop (the float is weak: float64 with any other
    operand dtype whose result is float64, NumPy's NEP 50), so every entry is the same
    operation on the same values; where it is not (a float32 array, whose result the weak
    float leaves float32), the float stays a literal.
    """

    def __init__(self, namer):
        self.namer = namer
        self.names: dict = {}

    def operand(self, value: float) -> str:
        constant = np.array(value, dtype=np.float64)
        key = constant.tobytes()
        name = self.names.get(key)
        if name is None:
            name = self.names[key] = self.namer.constant(constant, f"f64_{value!r}")
        return name


def _closure(fn) -> dict:
    code = getattr(fn, "__code__", None)
    cells = getattr(fn, "__closure__", None) or ()
    if code is None:
        return {}
    return {name: cell.cell_contents for name, cell in zip(code.co_freevars, cells)}


#: (implementation, operand types, result type) -> the function it calls (or None): the
#: answer depends on nothing else, and the same few primitives recur in every program
_DIRECT: dict = {}


def _direct_function(step):
    """The function an elementwise primitive's implementation calls for these operand types.

    The implementations (:mod:`autodiff.rules.elementwise`) use ``math_fn`` on Python floats
    and ints (NumPy's function when ``math`` raises) and ``numpy_fn`` otherwise: the replay
    calls the same one directly (a ``math`` error makes the call replay through the
    implementations, see :class:`~autodiff.jit.compiled.Trace`).
    """
    if step.prim is None or step.kwargs or step.nested:
        return None
    key = (step.fn, step.arg_types, step.out_type)
    try:
        return _DIRECT[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable implementation
        return _direct_function_of(step)
    if len(_DIRECT) > 4096:  # primitives made at run time (custom rules): stay bounded
        _DIRECT.clear()
    found = _DIRECT[key] = _direct_function_of(step)
    return found


def _direct_function_of(step):
    cells = _closure(step.fn)
    numpy_fn = cells.get("numpy_fn")
    if numpy_fn is None or step.fn.__code__.co_name not in ("unary", "binary", "impl"):
        return None
    types = step.arg_types
    numbers = [t is float or t is int for t in types]
    if "math_fn" in cells:  # _scalar_first
        if len(types) == 1:
            scalar = numbers[0]
        elif len(types) == 2:
            scalar = (types[0] is float and numbers[1]) or (types[1] is float and types[0] is int)
        else:
            return None
        if scalar:
            return cells["math_fn"] if step.out_type is float else None
        return numpy_fn
    if step.fn.__code__.co_name == "impl" and not all(numbers):  # _float_preserving
        return numpy_fn
    return None


def _times_one(step):
    """The operand ``x`` of ``x * 1.0`` (or ``1.0 * x``) on Python floats, else ``None``."""
    if (step.name != "multiply" or step.prim is None or step.kwargs or len(step.args) != 2
            or step.out_type is not float or step.arg_types != (float, float)):
        return None
    a, b = step.args
    if type(a) is Ref and type(b) is float and b == 1.0:
        return a
    if type(b) is Ref and type(a) is float and a == 1.0:
        return b
    return None


def _subscript(index):
    """Source of a basic index (ints, ``None``, ``...``, slices of ints) in subscript syntax
    (``1:``, ``:-1, 2``), or ``None``."""
    items = index if type(index) is tuple else (index,)
    parts = []
    for item in items:
        kind = type(item)
        if kind is int or item is None:
            parts.append(repr(item))
        elif item is Ellipsis:
            parts.append("...")
        elif kind is slice and all(type(b) is int or b is None
                                   for b in (item.start, item.stop, item.step)):
            part = ":".join("" if b is None else repr(b) for b in (item.start, item.stop))
            parts.append(part if item.step is None else f"{part}:{item.step!r}")
        else:
            return None
    if not parts:
        return None
    return ", ".join(parts) + ("," if type(index) is tuple and len(parts) == 1 else "")


def _call_source(step, namer) -> str:
    prim = step.prim
    args = step.args
    name = prim.name if prim is not None else None
    if (name in _ARRAY_METHODS and len(args) == 1 and type(args[0]) is Ref and not step.nested
            and step.arg_types[0] is np.ndarray and set(step.kwargs) <= _ARRAY_METHODS[name]):
        # np.transpose(x, axes) and np.sum(x, axis, keepdims) of an array call its method
        # (NumPy's wrappers dispatch to the same ndarray method and reduction: the same bits)
        if name == "transpose":  # ndarray.transpose takes the axes by position only
            parts = [namer.expr(v) for v in step.kwargs.values()]
        else:
            parts = [f"{k}={namer.expr(v)}" for k, v in step.kwargs.items()]
        return f"{namer.expr(args[0])}.{name}({', '.join(parts)})"
    if (name == "getitem" and len(args) == 1 and type(args[0]) is Ref and not step.nested
            and step.arg_types[0] is np.ndarray and step.out_type is np.ndarray
            and len(step.kwargs) == 1):
        # the implementation's np.asarray(x)[index] of an array: the same view
        subscript = _subscript(step.kwargs.get("index", []))
        if subscript is not None:
            return f"{namer.expr(args[0])}[{subscript}]"
    floats = step.arg_types and all(t in _NUMBER_TYPES for t in step.arg_types) and (
        step.out_type is float)
    if floats and not step.kwargs:
        if name in _OPERATORS and len(args) == 2:
            return f"{namer.expr(args[0])} {_OPERATORS[name]} {namer.expr(args[1])}"
        if name == "negative" and len(args) == 1:
            return f"-{namer.expr(args[0])}"
        if name == "divide" and len(args) == 2:  # ZeroDivisionError: replayed by the impls
            return f"{namer.expr(args[0])} / {namer.expr(args[1])}"
    if (prim is None and step.name in _COMPARISONS and len(args) == 2 and not step.kwargs
            and all(t in _NUMBER_TYPES for t in step.arg_types)):
        # NumPy's comparison of two Python numbers: the same IEEE comparison, a Python bool
        return f"{namer.expr(args[0])} {_COMPARISONS[step.name]} {namer.expr(args[1])}"
    if step.fn is operator.getitem and prim is None and len(args) == 2 and not step.kwargs:
        return f"{namer.expr(args[0])}[{namer.expr(args[1])}]"
    infix = _INFIX.get(step.fn) if prim is None and not step.kwargs else None
    if infix is not None:  # Python's operator itself
        if len(args) == 2:
            return f"{namer.expr(args[0])} {infix} {namer.expr(args[1])}"
        return f"{infix}{namer.expr(args[0])}"
    direct = _direct_function(step)
    if direct is not None:
        module = "math_" if getattr(direct, "__module__", "") == "math" else ""
        fn = namer.constant(direct, module + getattr(direct, "__name__", step.name))
    else:
        fn = namer.constant(step.fn, step.name.replace(".", "_"))
    parts = [namer.expr(a) for a in args]
    parts += [f"{k}={namer.expr(v)}" for k, v in step.kwargs.items()]
    return f"{fn}({', '.join(parts)})"


def _guard_source(guard, name, namer) -> str:
    if guard.kind == "bool":
        test = f"not {name}" if guard.expected else name
        return f"if {test}: raise RETRACE  # guard: {guard.reason}"
    expected = namer.constant(guard.expected, "seen")
    return f"if not same({name}, {expected}): raise RETRACE  # guard: {guard.reason}"


def _uses(steps, output_slots, guards) -> dict:
    uses: dict = {}
    for step in steps:
        for slot in step.reads():
            uses[slot] = uses.get(slot, 0) + 1
    for slot in list(output_slots) + list(guards):
        uses[slot] = uses.get(slot, 0) + 1
    return uses


def _is_float_scatter(step) -> bool:
    """``scatter_add(g, index=i, shape=(n,))`` of a float ``g`` at an int ``i`` (x[i]'s
    cotangent): a fresh float64 array, zero except ``g`` at ``i``."""
    return (step.name == "scatter_add" and step.prim is not None and len(step.args) == 1
            and type(step.args[0]) is Ref and step.arg_types[0] is float
            and type(step.kwargs.get("index")) is int and step.out_type is np.ndarray)


def _basic_index(index) -> bool:
    items = index if type(index) is tuple else (index,)
    return all(type(item) in (int, slice) or item is Ellipsis for item in items)


def _is_scatter(step) -> bool:
    """``scatter_add(g, index, shape)`` at a basic index (ints, slices): a fresh array, zero
    except ``g`` at ``index`` (the cotangent of ``x[index]``)."""
    return (step.name == "scatter_add" and step.prim is not None and len(step.args) == 1
            and type(step.args[0]) is Ref and step.out_type is np.ndarray
            and step.out_dtype is not None and _basic_index(step.kwargs.get("index"))
            and (step.arg_types[0] is np.ndarray or (
                step.arg_types[0] is float and step.out_dtype == np.float64)))


def _array_scatter_subscript(step):
    """The subscript source of a scatter of an array at a basic index (:func:`_is_scatter`),
    emitted as ``zeros(shape, dtype)`` and ``[index] = g``, as the implementation computes it;
    else ``None``."""
    if not (_is_scatter(step) and step.arg_types[0] is np.ndarray and not step.nested
            and set(step.kwargs) == {"index", "shape"}):
        return None
    return _subscript(step.kwargs["index"])


def _plan(steps, program, uses, guards):
    """The peephole rewrites: ``{slot: (kind, data)}`` and the steps to skip.

    * ``x[i]`` of a float64 vector input: an entry of the input's ``tolist()`` (made once);
    * ``add(acc, scatter_add(g, index=i))`` with both used only there and ``acc`` a fresh
      array of this program, of the scatter's shape and dtype, ``i`` ints and slices:
      ``acc[i] += g`` in place (what the eager sweep does with the sparse cotangents of
      ``x[i]`` and ``x[1:]``), the sum's name an alias of ``acc``.
    """
    producer = {step.out: step for step in steps}
    inputs = set(program.inputs)
    rewrites: dict = {}
    skipped: set = set()
    fresh: dict = {}  # slot -> shape, of float64 arrays made and owned by this program
    for step in steps:
        if step.prim is None or step.nested:
            continue
        name = step.name
        if (name == "getitem" and type(step.args[0]) is Ref and step.args[0].slot in inputs
                and step.out_type is float and type(step.kwargs.get("index")) is int):
            rewrites[step.out] = ("listed", step.args[0].slot)
        elif _is_scatter(step):
            fresh[step.out] = (step.kwargs["shape"], step.out_dtype)
        elif name == "add" and len(step.args) == 2 and all(type(a) is Ref for a in step.args):
            for acc, other in (step.args, step.args[::-1]):
                scatter = producer.get(other.slot)
                if (acc.slot in fresh and acc.slot != other.slot and scatter is not None
                        and _is_scatter(scatter) and uses.get(acc.slot) == 1
                        and uses.get(other.slot) == 1 and acc.slot not in guards
                        and other.slot not in guards
                        and (scatter.kwargs["shape"], scatter.out_dtype) == fresh[acc.slot]):
                    rewrites[step.out] = ("inplace", acc.slot, scatter)
                    skipped.add(scatter.out)
                    fresh[step.out] = fresh[acc.slot]
                    break
    return rewrites, skipped


def _elementwise_ufunc(step):
    """``(ufunc, operands)`` when the step computes one elementwise NumPy ufunc of its operands
    into a new array of at least one dimension (so ``out=`` may name a reused buffer of that
    shape and dtype), else ``None``.

    The ufunc is the one the step's call runs on array operands: a NumPy ufunc recorded
    directly (``np.isnan`` of a mask), or the ``numpy_fn`` an elementwise primitive's
    implementation calls (:func:`_direct_function`); ``power`` of an array and the int
    exponent 2 is NumPy's ``square``, as ``_power_impl`` computes it.  A ufunc loop computes
    each entry from the same operand entries whether it writes a new array or ``out=``, so the
    bits are the same.
    """
    layout = step.out_layout
    if (layout is None or not layout[0] or layout[1].kind not in "biufc" or step.kwargs
            or step.nested):
        return None
    args = step.args
    if step.prim is None:
        fn = step.fn
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, np.ufunc) and getattr(fn, "__name__", "") == "__call__":
            fn = owner
    else:
        fn = _direct_function(step)
        if fn is _power_impl and len(args) == 2:
            base, exponent = args
            if type(exponent) is Ref:  # the square test reads the exponent's type and value
                fn = None if step.arg_types[1] is int else np.power
            elif type(exponent) is int and exponent == 2 and step.arg_types[0] is not float:
                fn, args = np.square, (base,)
            else:
                fn = np.power
    if (not isinstance(fn, np.ufunc) or fn.signature is not None or fn.nout != 1
            or fn.nin != len(args)):
        return None
    return fn, args


def _fresh_result(step, forms) -> bool:
    """Whether a step's result is new memory (never a view of an operand): a ufunc's array, a
    scatter's zeros, a number; anything else (an index, a reshape, a tuple) may share memory."""
    if step.out in forms or _is_scatter(step):
        return True
    kind = step.out_type
    return kind is not np.ndarray and issubclass(kind, (float, int, complex, np.generic))


def plan_buffers(emitted, reads, root, keep, last_use, rewrites):
    """Which ufunc results write into which buffers: ``(assign, specs, forms)``.

    ``assign[slot] = k``: the step computing ``slot`` writes into buffer ``k``, of
    ``specs[k] = (shape, dtype)`` (C order); ``forms[slot]`` is its ``(ufunc, operands)``.  It
    is a liveness analysis over the emitted steps (the register allocation of a compiler: Aho,
    Lam, Sethi and Ullman, "Compilers: Principles, Techniques, and Tools", 2nd ed., sections
    9.2.5 (live variables) and 8.8 (register allocation)) with memory sharing: a value ends at
    its last read *or that of anything that may view its memory* (the result of any step not
    known to make new memory, transitively), and the outputs never end (``keep``).  So a
    buffer is never a returned array nor the base of one, and is not overwritten while it or a
    view of it is still read.  A buffer is free for a step once its value has ended before it,
    or ends at it when the step reads the whole value itself (not a view of it): an elementwise
    ufunc reads each entry before it writes that entry, so ``out=`` may be that operand.  Only
    results the recording saw C-contiguous take buffers (a buffer's layout is C order).
    """
    forms = {}
    for step in emitted:
        if rewrites.get(step.out) is None:
            form = _elementwise_ufunc(step)
            if form is not None:
                forms[step.out] = form
    if not forms:  # no ufunc step to give a buffer (a network's step of fused rules)
        return {}, [], forms
    never = len(emitted)
    end: dict = {}
    for index, step in enumerate(emitted):
        slot = root.get(step.out, step.out)
        end[slot] = max(end.get(slot, index), last_use.get(slot, index))
    for slot in keep:
        end[slot] = never
    for index in range(len(emitted) - 1, -1, -1):  # memory shared with later values
        step = emitted[index]
        rewrite = rewrites.get(step.out)
        if rewrite is not None and rewrite[0] == "inplace":
            sources = [root.get(rewrite[1], rewrite[1])]  # acc[i] += g copies g
        elif _fresh_result(step, forms):
            continue
        else:
            sources = [root.get(s, s) for s in reads(step)]
        until = end[root.get(step.out, step.out)]
        for slot in sources:
            end[slot] = max(end.get(slot, -1), until)
    assign: dict = {}
    specs: list = []
    holder: list = []  # buffer -> the slot holding it
    owners: dict = {}  # slot -> the buffers its memory may belong to
    for index, step in enumerate(emitted):
        slot = root.get(step.out, step.out)
        operands = [root.get(s, s) for s in reads(step)]
        if step.out in forms and end[slot] < never:
            chosen = None
            for k, held in enumerate(holder):
                if specs[k] == step.out_layout and (end[held] < index or (
                        end[held] == index and held in operands
                        and all(s == held for s in operands if k in owners.get(s, ())))):
                    chosen = k
                    break
            if chosen is None:
                chosen = len(specs)
                specs.append(step.out_layout)
                holder.append(slot)
            holder[chosen] = slot
            assign[step.out] = chosen
            owners[slot] = frozenset((chosen,))
        elif not _fresh_result(step, forms):
            rewrite = rewrites.get(step.out)
            if rewrite is not None and rewrite[0] == "inplace":
                operands = [root.get(rewrite[1], rewrite[1])]
            owners[slot] = frozenset().union(*(owners.get(s, ()) for s in operands))
    return assign, specs, forms


def _hoisted(emitted, inputs, read_slots, rewrites, root, output_slots):
    """The emitted steps that read only ``inputs`` and one another's results (in order), and
    of those the results a later step reads.  In-place sums, their accumulators, outputs and
    rewritten steps stay out: a kept value is never written nor returned."""
    known = set(inputs)
    accumulators = set(root.values())
    hoisted = []
    for step in emitted:
        reads = read_slots[step.out]
        if (reads and all(slot in known for slot in reads) and step.out not in rewrites
                and step.out not in accumulators and step.out not in output_slots):
            known.add(step.out)
            hoisted.append(step)
    inside = {step.out for step in hoisted}
    boundary = {}  # slot -> None, in the order of first reading
    for step in emitted:
        if step.out not in inside:
            boundary.update((slot, None) for slot in read_slots[step.out] if slot in inside)
    return hoisted, list(boundary)


def generate(program, outputs_template, output_slots, fixed=0):
    """``(source, namespace, buffers)`` of ``def replay(x0, x1, ..., pool0=None, ...)``
    returning the flat outputs; ``buffers`` lists the ``(shape, dtype)`` of each ``pool<k>``
    (:func:`plan_buffers`).

    With ``fixed = k > 0``: ``def replay(memo, x0, ...)`` for calls whose first ``k`` inputs
    are the same arrays, never written, on every call with the same ``memo`` (a list
    ``[None]``): the steps computed from those inputs alone run first, and the values of
    theirs the other steps read are kept in ``memo[0]`` (with the replay function, so a memo
    filled by another trace is recomputed) and taken from there on later calls.  The same
    steps on the same operands: the same bits.  Partial evaluation (Jones, Gomard and
    Sestoft, "Partial Evaluation and Automatic Program Generation", 1993, ch. 1): the
    Hessian-vector product at a fixed point computes the partials at ``x`` once per point.
    ``None`` when the program has guards or no elementwise ufunc step to keep.
    """
    if fixed and program.guards:
        return None
    steps = live_steps(program, output_slots)
    namer = _Namer(program)
    guards = {g.slot: g for g in program.guards}
    uses = _uses(steps, output_slots, guards)
    rewrites, skipped = _plan(steps, program, uses, guards)
    root: dict = {}  # in-place sums share their accumulator's variable
    for step in steps:
        rewrite = rewrites.get(step.out)
        if rewrite is not None and rewrite[0] == "inplace":
            root[step.out] = root.get(rewrite[1], rewrite[1])

    read_slots: dict = {}  # step result -> the slots the emitted line reads
    emitted = []
    for step in steps:
        if step.out in skipped:
            continue
        emitted.append(step)
        rewrite = rewrites.get(step.out)
        if rewrite is None:
            read_slots[step.out] = step.reads()
        elif rewrite[0] == "inplace":
            read_slots[step.out] = [rewrite[1], rewrite[2].args[0].slot]
        else:  # listed
            read_slots[step.out] = []

    def reads(step):
        return read_slots[step.out]

    kept, hoisted = [], []
    if fixed:
        hoisted, kept = _hoisted(emitted, program.inputs[:fixed], read_slots, rewrites, root,
                                 set(output_slots))
        if not kept or not any(_elementwise_ufunc(step) is not None for step in hoisted):
            return None
        inside = {step.out for step in hoisted}
        emitted = hoisted + [step for step in emitted if step.out not in inside]
    last_use: dict = {}
    for index, step in enumerate(emitted):
        for slot in read_slots[step.out]:
            last_use[root.get(slot, slot)] = index
    keep = {root.get(s, s) for s in output_slots}
    keep.update(kept)  # kept values are new arrays, never buffers (nor views of buffers)
    assign, buffers, forms = plan_buffers(emitted, reads, root, keep, last_use, rewrites)
    params = ", ".join(["memo"] * bool(fixed) + [namer.names[s] for s in program.inputs]
                       + [f"pool{k}=None" for k in range(len(buffers))])
    lines = [f"def replay({params}):"]
    for slot in program.inputs:
        if slot in guards:
            lines.append("    " + _guard_source(guards[slot], namer.names[slot], namer))
    # the arrays whose last read is each line: ``del`` after it (numbers are small)
    inputs = set(program.inputs)
    out_types = {step.out: step.out_type for step in steps}
    held = set(inputs)  # the inputs and their basic views (x0[1:]): deleting frees nothing
    for step in emitted:
        if (step.name == "getitem" and step.prim is not None and not step.nested
                and len(step.args) == 1 and type(step.args[0]) is Ref
                and step.args[0].slot in held and step.out_type is np.ndarray
                and _subscript(step.kwargs.get("index", [])) is not None):
            held.add(step.out)
    dying: dict = {}
    for slot, index in last_use.items():
        if out_types.get(slot) is np.ndarray and slot not in keep and slot not in held:
            dying.setdefault(index, []).append(slot)
    entries: dict = {}
    listed = sorted({r[1] for r in rewrites.values() if r[0] == "listed"})
    for slot in listed:
        lines.append(f"    {namer.names[slot]}_l = {namer.names[slot]}.tolist()")
    # a chain of in-place sums into a vector accumulates in a Python list (float additions,
    # the same bits), made an array after its last term
    chain_end: dict = {}
    for index, step in enumerate(emitted):
        rewrite = rewrites.get(step.out)
        if rewrite is not None and rewrite[0] == "inplace":
            chain_end[root[step.out]] = index
    producers = {step.out: step for step in emitted}
    scalar_chain = {slot: _is_float_scatter(producers[slot]) for slot in chain_end}
    for step in emitted:
        rewrite = rewrites.get(step.out)
        if rewrite is not None and rewrite[0] == "inplace" and not _is_float_scatter(rewrite[2]):
            scalar_chain[root[step.out]] = False
    as_list = {slot for slot in chain_end
               if scalar_chain[slot] and len(producers[slot].kwargs["shape"]) == 1}
    array = namer.constant(np.array, "array")
    scalars = _Float64Scalars(namer)
    block = [len(lines), None]  # the lines of the hoisted steps
    for index, step in enumerate(emitted):
        if index == len(hoisted):
            block[1] = len(lines)
        rewrite = rewrites.get(step.out)
        if rewrite is not None and rewrite[0] == "inplace":
            acc_slot = root[step.out]
            acc = namer.names[acc_slot]
            scatter = rewrite[2]
            target = f"{acc}_l" if acc_slot in as_list else acc
            at = scatter.kwargs["index"]
            lines.append(f"    {target}[{_subscript(at) or repr(at)}] += "
                         f"{namer.expr(scatter.args[0])}  # {step.name} of {scatter.name}")
            namer.names[step.out] = acc
            if chain_end.get(acc_slot) == index and acc_slot in as_list:
                lines.append(f"    {acc} = {array}({acc}_l)")
                lines.append(f"    del {acc}_l")
        elif step.out in as_list:  # the scatter that starts a chain, as a list
            target = namer.result(step)
            (n,) = step.kwargs["shape"]
            lines.append(f"    {target}_l = [0.0] * {n}")
            lines.append(f"    {target}_l[{step.kwargs['index']!r}] = {namer.expr(step.args[0])}"
                         f"  # {step.name}")
        else:
            if rewrite is not None:  # listed: x[i] read once per (input, i)
                entry = (rewrite[1], step.kwargs["index"])
                if entry in entries:
                    namer.names[step.out] = entries[entry]
                    continue
                source = f"{namer.names[rewrite[1]]}_l[{step.kwargs['index']!r}]"
                entries[entry] = namer.result(step)
            else:
                other = _times_one(step)
                if other is not None:  # x * 1.0 is x, bit for bit, for a Python float x
                    namer.names[step.out] = namer.names[other.slot]
                    continue
                buffer = assign.get(step.out)
                subscript = _array_scatter_subscript(step)
                if buffer is not None:
                    ufunc, operands = forms[step.out]
                    fn = namer.constant(ufunc, ufunc.__name__)
                    float64 = step.out_layout[1] == np.float64
                    parts = [scalars.operand(a) if float64 and type(a) is float
                             else namer.expr(a) for a in operands]
                    # the output positional (NumPy parses no keyword: 0.03 us a call)
                    source = f"{fn}({', '.join(parts)}, pool{buffer})"
                elif subscript is not None:
                    # the implementation's zeros and assignment, without its call and its
                    # test of the index
                    target = namer.result(step)
                    zeros = namer.constant(np.zeros, "zeros")
                    dtype = namer.constant(step.out_dtype, "dtype")
                    lines.append(f"    {target} = {zeros}({step.kwargs['shape']!r}, {dtype})")
                    lines.append(f"    {target}[{subscript}] = {namer.expr(step.args[0])}"
                                 f"  # {step.name}")
                    source = None
                else:
                    source = _call_source(step, namer)
                guard = guards.get(step.out)
                if (guard is not None and guard.kind == "bool" and uses.get(step.out) == 1
                        and step.prim is None and step.name in _COMPARISONS
                        and step.out_type is not np.ndarray and " " in source):
                    # a comparison of numbers read only by its guard: one line
                    namer.result(step)
                    test = f"not ({source})" if guard.expected else source
                    lines.append(f"    if {test}: raise RETRACE  # guard: {guard.reason}")
                    continue
            if source is not None:
                target = namer.result(step)
                lines.append(f"    {target} = {source}")
        if step.out in guards:
            lines.append("    " + _guard_source(guards[step.out], namer.names[step.out], namer))
        ending = dying.get(index)
        if ending:
            own = root.get(step.out, step.out)
            dead = sorted({namer.names[slot] for slot in ending if slot != own})
            if dead:
                lines.append(f"    del {', '.join(dead)}")
    if kept:
        names = ", ".join(dict.fromkeys(namer.names[slot] for slot in kept)) + ","
        start, stop = block
        lines[start:stop] = [
            "    state = memo[0]",
            "    if state is not None and state[0] is replay:",
            f"        {names} = state[1]",
            "    else:",
            *("    " + line for line in lines[start:stop]),
            f"        memo[0] = (replay, ({names}))",
        ]
    results = [namer.expr(t) for t in outputs_template]
    lines.append(f"    return [{', '.join(results)}]")
    namespace = dict(namer.constants)
    namespace.update(RETRACE=RETRACE, same=same_value)
    return "\n".join(lines) + "\n", namespace, buffers


def _resolve(value, values):
    kind = type(value)
    if kind is Ref:
        return values[value.slot]
    if kind in (list, tuple):
        return kind(_resolve(v, values) for v in value)
    if kind is dict:
        return {k: _resolve(v, values) for k, v in value.items()}
    return value


def interpreter(program, outputs_template, output_slots):
    """A replay function that loops over the live steps (for programs too long to compile)."""
    steps = live_steps(program, output_slots)
    guards = {g.slot: g for g in program.guards}
    inputs = list(program.inputs)
    plan = []
    for step in steps:
        simple = not step.nested and not step.kwargs
        plan.append((step.fn, step.args, step.kwargs, step.out, simple, guards.get(step.out)))
    n_slots = program.n_slots

    def check(guard, value):
        if guard.kind == "bool":
            if bool(value) != guard.expected:
                raise RETRACE
        elif not same_value(value, guard.expected):
            raise RETRACE

    def replay(*args):
        values = [None] * n_slots
        for slot, value in zip(inputs, args):
            values[slot] = value
            if slot in guards:
                check(guards[slot], value)
        for fn, fargs, fkwargs, out, simple, guard in plan:
            if simple:
                values[out] = fn(*[values[a.slot] if type(a) is Ref else a for a in fargs])
            else:
                values[out] = fn(*_resolve(fargs, values), **_resolve(fkwargs, values))
            if guard is not None:
                check(guard, values[out])
        return [_resolve(t, values) for t in outputs_template]

    return replay
