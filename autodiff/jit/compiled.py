"""``ad.jit``: record a function once per input signature, replay it as compiled code.

The first call for a signature (pytree structure, shapes and dtypes of the array leaves, the
values of the other leaves) runs the function under a recording level
(:mod:`autodiff.jit.recording`); its steps become Python source (:mod:`autodiff.jit.codegen`)
compiled once (a trace of another signature with the same source reuses the code).  Later calls run that code, checking the guards as they go; a failing guard
records again (a few traces are kept per signature, most recently used first).
"""

from __future__ import annotations

import ctypes
import functools
import math
import pickle
import threading
from collections import OrderedDict

import numpy as np

from ..levels import held_module_state
from ..pytree import flatten, unflatten
from ..rules.primitive import RECORDING, Traced, holds_traced, lift
from . import codegen
from .codegen import Retrace, generate, interpreter, same_value, shared_subexpressions
from .recording import JitError, Ref, RecordingLevel, Staged

__all__ = ["jit", "Jitted", "JitError", "JitCheckError"]


class JitCheckError(JitError):
    """``jit(f, check=True)``: the replay differs from the eager call."""


class _NothingToKeep(Exception):
    """A staged replay would keep no value computed from the fixed inputs alone."""


_MISS = object()  # no trace replayed these arguments directly


def _is_data(leaf) -> bool:
    """Array and float leaves are data (recorded as inputs); the rest key the signature."""
    if type(leaf) is np.ndarray:
        return leaf.dtype.kind in "fiub"
    return type(leaf) is float or isinstance(leaf, np.floating)


def _input_value(leaf):
    """A NumPy float scalar as the transforms take it (``values.as_float_value``): ``float64``
    a Python float, other widths a 0-d array; so the recording computes what they compute."""
    if type(leaf) is np.float64:
        return float(leaf)
    if isinstance(leaf, np.floating):
        return np.asarray(leaf)
    return leaf


def _static_key(leaf):
    try:
        hash(leaf)
    except TypeError:
        return ("id", type(leaf), id(leaf))
    return ("value", type(leaf), leaf)


_FLOATS = {float}


def _plain_key(args):
    """The signature of positional arguments that are all float arrays, floats or tuples and
    lists of them (``hvp_operator`` passes its point as a tuple; scalar code takes a list of
    floats), or ``None``.

    Its first entry says whether an argument is a tuple or a list (whose leaves
    :func:`_plain_data` lists); an array adds its shape and its dtype as two flat entries
    (unambiguous: a shape holds ints, the other entries are types or ``(type, ...)`` pairs),
    so the key is built and hashed with few tuples on every call.
    """
    key = [False]
    append = key.append
    for arg in args:
        kind = type(arg)
        if kind is np.ndarray:
            dtype = arg.dtype
            if dtype.kind not in "fiub":
                return None
            append(arg.shape)
            append(dtype)
        elif kind is float:
            append(float)
        elif kind is tuple or kind is list:
            key[0] = True
            if set(map(type, arg)) == _FLOATS:  # the common list of floats, keyed at C speed
                append((kind, len(arg)))
                continue
            inner = _plain_key(arg)
            if inner is None:
                return None
            append((kind, inner))
        else:
            return None
    return tuple(key)


def _plain_data(args):
    """The leaves of arguments :func:`_plain_key` accepts, in pytree order."""
    data = []
    for arg in args:
        if type(arg) is tuple or type(arg) is list:
            data.extend(arg if set(map(type, arg)) == _FLOATS else _plain_data(arg))
        else:
            data.append(arg)
    return data


def _signature(leaves, treedef):
    key = [treedef]
    for leaf in leaves:
        if type(leaf) is np.ndarray and _is_data(leaf):
            key.append(("array", leaf.shape, leaf.dtype.str))
        elif _is_data(leaf):
            key.append(("number", type(leaf)))
        else:
            key.append(_static_key(leaf))
    return tuple(key)


#: Compiled replay sources a :class:`Jitted` keeps (``compile`` of a 25-line replay takes 0.4
#: ms, as long as recording it): traces of other shapes with the same program text (a
#: training step's last, smaller batch) reuse the code.
MAX_CODES = 16

#: Bytes of reused buffers (``out=``) a trace keeps between calls; a trace needing more
#: allocates its buffers on each call.
MAX_POOL_BYTES = 64 * 2**20


class Trace:
    """One recorded program and its compiled replay.

    The intermediates that ufuncs write through ``out=`` (:func:`~autodiff.jit.codegen.
    plan_buffers`) go into a pool of C-ordered buffers the trace keeps between calls
    (allocated on the first replay, at most :data:`MAX_POOL_BYTES`): no allocation and no page
    faults on later calls.  One call at a time uses the pool (a lock taken without waiting);
    a call made while another thread (or a nested call) replays the trace gets buffers of its
    own.  Returned arrays are never buffers.  The buffers are used only when the array inputs
    are C-contiguous, at the call and at the recording: the intermediates then have the
    recording's layouts, so a reduction or a product reading them runs as in the eager call
    (other strides replay with new arrays, as the eager call allocates them).
    """

    __slots__ = ("program", "source", "replay", "out_tree", "copied", "n_steps", "compiled",
                 "_interpreter", "buffers", "_pool", "_pool_lock", "build", "contiguous",
                 "fixed", "_staged")

    def __init__(self, program, out_template, out_tree, contiguous=True, codes=None, fixed=0):
        program, out_template = shared_subexpressions(program, out_template)
        output_slots = [t.slot for t in out_template if type(t) is Ref]
        self.program = program
        self.out_tree = out_tree
        # constant array outputs are copied on every call: the caller may write into them
        self.copied = [i for i, t in enumerate(out_template) if type(t) is np.ndarray]
        generated = generate(program, out_template, output_slots, fixed)
        if generated is None:
            raise _NothingToKeep
        source, namespace, buffers = generated
        self.source = source
        self.contiguous = contiguous
        self.fixed = fixed  # > 0: the replay takes a memo first (see staged)
        self._staged = None
        pool_bytes = sum(math.prod(shape) * np.dtype(dtype).itemsize
                         for shape, dtype in buffers)
        self.buffers = buffers if buffers and contiguous else None
        self._pool = False if pool_bytes > MAX_POOL_BYTES else None
        self._pool_lock = threading.Lock()
        self.n_steps = source.count("\n") - 1
        self.compiled = self.n_steps <= codegen.MAX_COMPILED_STEPS  # lines of the live steps
        self._interpreter = (out_template, output_slots, None)
        self.build = None
        if self.compiled:
            tree = _tree_source(out_tree, iter(range(len(out_template))))
            if tree is not None and out_tree.kind != "leaf":
                # the output structure, built by one expression (pytree.unflatten walks it)
                source = self.source = f"{source}\n\ndef build(f):\n    return {tree}\n"
            code = None if codes is None else codes.get(source)
            if code is None:
                code = compile(source, "<ad.jit replay>", "exec")
                if codes is not None:
                    if len(codes) >= MAX_CODES:
                        codes.clear()
                    codes[source] = code
            exec(code, namespace)  # noqa: S102
            self.replay = namespace["replay"]
            self.build = namespace.get("build")
        else:
            self.replay = self.interpreted()

    def interpreted(self):
        """The replay loop over the steps, calling each primitive's implementation."""
        template, slots, replay = self._interpreter
        if replay is None:
            replay = interpreter(self.program, template, slots)
            self._interpreter = (template, slots, replay)
        return replay

    def staged(self, fixed):
        """This trace with what its first ``fixed`` inputs alone determine computed once per
        memo (:func:`~autodiff.jit.codegen.generate` with ``fixed``): a trace whose ``run``
        takes ``[memo, *data]``; ``None`` when there is nothing to keep."""
        entry = self._staged
        if entry is None or entry[0] != fixed:
            staged = self._staged_trace(fixed) if self.compiled else None
            entry = self._staged = (fixed, staged)
        return entry[1]

    def _staged_trace(self, fixed):
        template, _, _ = self._interpreter
        try:
            return Trace(self.program, template, self.out_tree, self.contiguous, fixed=fixed)
        except _NothingToKeep:
            return None

    def run(self, data):
        try:
            if self.buffers is None or not self.compiled or not _contiguous(data):
                flat = self.replay(*data)
            elif self._pool is not False and self._pool_lock.acquire(False):
                try:
                    pool = self._pool
                    if pool is None:
                        pool = self._pool = [np.empty(shape, dtype)
                                             for shape, dtype in self.buffers]
                    flat = self.replay(*data, *pool)
                finally:
                    self._pool_lock.release()
            else:  # the pool is in use, or too large to keep: buffers for this call
                flat = self.replay(*data, *[np.empty(shape, dtype)
                                            for shape, dtype in self.buffers])
        except (ArithmeticError, ValueError):
            if not self.compiled:
                raise
            # a math function raised where NumPy returns inf / nan with a warning (the code
            # calls math directly on floats): this call replays through the implementations
            flat = self.interpreted()(*data[1 if self.fixed else 0:])
        for i in self.copied:
            flat[i] = flat[i].copy()
        if self.out_tree.kind == "leaf":
            return flat[0]
        if self.build is not None:
            return self.build(flat)
        return unflatten(self.out_tree, flat)


def _tree_source(treedef, positions):
    """An expression building the tree ``treedef`` around the flat outputs ``f`` (``((f[0],
    f[1]), [f[2]])``), or ``None`` for trees of other nodes (named tuples, dicts)."""
    kind = treedef.kind
    if kind == "leaf":
        return f"f[{next(positions)}]"
    if kind == "none":
        return "None"
    if kind not in ("tuple", "list") or treedef.cls is not None:
        return None
    parts = [_tree_source(child, positions) for child in treedef.children]
    if any(part is None for part in parts):
        return None
    if kind == "list":
        return f"[{', '.join(parts)}]"
    return f"({parts[0]},)" if len(parts) == 1 else f"({', '.join(parts)})"


def _contiguous(data) -> bool:
    for value in data:
        if type(value) is np.ndarray and not value.flags.c_contiguous:
            return False
    return True


class Jitted:
    """The compiled-replay version of ``fn`` (what :func:`jit` returns).

    Attributes: ``fn`` (the function), ``stats`` (counts of ``records``, ``replays``,
    ``retraces`` (records after a failing guard) and ``eager`` calls).
    """

    def __init__(self, fn, *, check=False, max_traces=4, max_signatures=32):
        if not callable(fn):
            raise TypeError(f"ad.jit expects a function, got {type(fn).__name__}")
        self.fn = fn
        self.check = check
        self.max_traces = max_traces
        self.max_signatures = max_signatures
        self._cache: OrderedDict = OrderedDict()
        self._codes: dict = {}  # source -> compiled code of this function's traces
        self._last = None
        self._lock = threading.Lock()
        self.stats = {"records": 0, "replays": 0, "retraces": 0, "eager": 0}
        functools.update_wrapper(self, fn)

    # -- public --------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        key = None if kwargs else _plain_key(args)
        if key is not None:
            result = self._latest(key, args)
            if result is not _MISS:
                return result
        leaves, treedef = flatten((args, kwargs))
        if held_module_state() is not None or any(
            isinstance(leaf, Traced) or holds_traced(leaf) for leaf in leaves
        ):
            # inside a transform (or called on traced values): run eagerly, so the enclosing
            # transforms see every primitive
            self.stats["eager"] += 1
            return self.fn(*args, **kwargs)
        if key is None:
            key = _signature(leaves, treedef)
        data = [_input_value(leaf) for leaf in leaves if _is_data(leaf)]
        result, trace = self._replay(key, data, args, kwargs)
        if trace is None:
            result, trace = self._record(key, leaves, treedef)
        if self.check:
            self._check(trace, args, kwargs, data)
        return result

    def at(self, *fixed):
        """``self(*fixed, *rest)`` as a function of ``rest``, with ``fixed`` as they are now:
        what the replay computes from ``fixed`` alone (the partials at the point of a
        Hessian-vector product) is computed on the first call and kept, with the trace it came
        from; later calls compute the rest.  The same steps on the same operands: the same
        bits as ``self(*fixed, *rest)`` with the arrays' values at this call (fixed arrays are
        copied here, so a later write into the caller's array reaches neither the kept values
        nor the other steps; arrays inside a tuple, a list or a dict too).  Arrays and floats
        only (:func:`_plain_key`); other arguments,
        guarded programs and the full path (a new recording) run as ``self(*fixed, *rest)``.
        """
        fixed = tuple(_held(a) for a in fixed)
        plain = _plain_key(fixed) is not None
        return _FixedArguments(self, fixed, len(_plain_data(fixed)) if plain else 0)

    def source(self, *args, **kwargs) -> str:
        """The generated Python source of the trace for these arguments (recorded if needed),
        or, without arguments, of the trace used last."""
        if args or kwargs:
            leaves, treedef = flatten((args, kwargs))
            key = (None if kwargs else _plain_key(args)) or _signature(leaves, treedef)
            data = [_input_value(leaf) for leaf in leaves if _is_data(leaf)]
            _, trace = self._replay(key, data, args, kwargs)
            if trace is None:
                _, trace = self._record(key, leaves, treedef)
            return trace.source
        if self._last is None:
            raise JitError("ad.jit(f).source(): f has not been called yet; pass arguments")
        return self._last.source

    def clear(self) -> None:
        """Forget every trace (after rebinding a global or a captured array, say)."""
        with self._lock:
            self._cache.clear()
            self._codes.clear()
            self._last = None

    def __get__(self, instance, owner=None):
        """As a method decorator: the instance is an argument (a value of the signature; its
        arrays are constants of the trace, as a closure's are)."""
        if instance is None:
            return self
        return functools.partial(self, instance)

    def __repr__(self) -> str:
        return f"<ad.jit of {getattr(self.fn, '__qualname__', self.fn)!r}>"

    # -- internals -----------------------------------------------------------------------------
    def _latest(self, key, args, fixed=0, memo=None):
        """The common case, arrays and floats only (``key`` from :func:`_plain_key`): the most
        recent trace's result, or ``_MISS`` (none, a failing guard or an error: the full path).
        With ``fixed`` and ``memo``, its staged replay (:meth:`Trace.staged`) where it has one."""
        if self.check or held_module_state() is not None:
            return _MISS
        traces = self._cache.get(key)
        if not traces:
            return _MISS
        trace = traces[0]
        data = _plain_data(args) if key[0] else args
        if fixed:
            staged = trace.staged(fixed)
            if staged is not None:
                trace, data = staged, [memo, *data]
        try:
            result = trace.run(data)
        except Exception:  # noqa: BLE001 - a failing guard, or an error: the full path
            return _MISS
        self.stats["replays"] += 1
        self._last = traces[0]
        return result

    def _replay(self, key, data, args, kwargs):
        with self._lock:
            traces = self._cache.get(key)
            if traces is not None:
                self._cache.move_to_end(key)
                traces = list(traces)
        if not traces:
            return None, None
        for trace in traces:
            try:
                result = trace.run(data)
            except Retrace:
                continue
            except Exception:  # noqa: BLE001 - the eager call decides what the error is
                self._drop(key, trace)
                self.stats["eager"] += 1
                return self.fn(*args, **kwargs), trace
            self.stats["replays"] += 1
            with self._lock:
                entry = self._cache.get(key)
                if entry and entry[0] is not trace and trace in entry:
                    entry.remove(trace)
                    entry.insert(0, trace)
            self._last = trace
            return result, trace
        self.stats["retraces"] += 1
        return None, None

    def _drop(self, key, trace):
        with self._lock:
            entry = self._cache.get(key)
            if entry and trace in entry:
                entry.remove(trace)

    def _record(self, key, leaves, treedef):
        level = RecordingLevel()
        staged = [level.input(_input_value(leaf)) if _is_data(leaf) else leaf for leaf in leaves]
        inputs = [(s, s._slot) for s in staged if isinstance(s, Staged)]
        args, kwargs = unflatten(treedef, staged)
        random_state = _global_random_state()
        RECORDING[0] += 1
        try:
            out = self.fn(*args, **kwargs)
            out_leaves, out_tree = flatten(out)
            out_leaves = [lift(leaf) for leaf in out_leaves]
        finally:
            RECORDING[0] -= 1
            level.close()
        for value, slot in inputs:
            if value._slot != slot:
                raise JitError(
                    f"ad.jit: {_name(self.fn)} writes into its argument (x[i] = v, x += t, or "
                    "through a view of it): a replay would not change the caller's array as the "
                    "eager call does. Write into a copy: x = x.copy()."
                )
        if _global_random_state() != random_state:
            raise JitError(
                f"ad.jit: {_name(self.fn)} draws from NumPy's global random generator "
                "(np.random.*): a replay would repeat the recorded draw instead of drawing "
                "anew. Draw the numbers outside and pass them as an argument, or call the "
                "function without jit."
            )
        template = []
        concrete = []
        for leaf in out_leaves:
            if isinstance(leaf, Staged) and leaf._level is level:
                template.append(Ref(leaf._slot))
                concrete.append(leaf._primal_)
            elif isinstance(leaf, Traced):
                raise JitError(
                    f"ad.jit: {_name(self.fn)} returned a traced value of another level "
                    f"({leaf!r}); the recording can only return arrays and numbers"
                )
            else:
                template.append(leaf)
                concrete.append(leaf)
        trace = Trace(level.program, template, out_tree,
                      _contiguous(value._primal_ for value, _ in inputs), self._codes)
        self.stats["records"] += 1
        with self._lock:
            traces = self._cache.setdefault(key, [])
            traces.insert(0, trace)
            del traces[self.max_traces:]
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_signatures:
                self._cache.popitem(last=False)
        self._last = trace
        return unflatten(out_tree, concrete), trace

    def _check(self, trace, args, kwargs, data):
        expected = self.fn(*args, **kwargs)
        try:
            replayed = trace.run(data)
        except Retrace:
            raise JitCheckError(
                f"ad.jit(check=True): a guard of {_name(self.fn)}'s trace fails on the inputs "
                "it was recorded for (the function is not deterministic)"
            ) from None
        got_leaves, got_tree = flatten(replayed)
        want_leaves, want_tree = flatten(expected)
        if got_tree != want_tree:
            raise JitCheckError(
                f"ad.jit(check=True): {_name(self.fn)} returned structure {want_tree!r} eagerly "
                f"but {got_tree!r} on replay"
            )
        for i, (got, want) in enumerate(zip(got_leaves, want_leaves)):
            if not same_value(_plain(got), _plain(want)):
                raise JitCheckError(
                    f"ad.jit(check=True): output leaf {i} of {_name(self.fn)} differs between "
                    f"the eager call ({_describe(want)}) and the replay ({_describe(got)}). "
                    "Typical causes: an array captured from a closure or global changed in "
                    "place after recording (call .clear()), randomness or other side effects "
                    "inside the function, or a value read by Python that the recording did "
                    "not guard."
                )


#: Bytes of MT19937's state that a draw changes: its 624 key words and its position
_MT19937_STATE_BYTES = 624 * 4 + 4


def _global_random_state() -> bytes:
    """The state of NumPy's global generator (``np.random.*``), as bytes that any draw changes.

    For MT19937 (the legacy generator's), its key and position read from the generator's
    state struct through its ctypes interface (``BitGenerator.ctypes.state_address``): 1 us,
    where ``np.random.get_state()`` copies the key word by word (30 us, twice per recording).
    Another bit generator (``np.random.set_bit_generator``): its pickled ``state``.
    """
    generator = np.random.mtrand._rand._bit_generator
    if type(generator) is np.random.MT19937:
        return ctypes.string_at(generator.ctypes.state_address, _MT19937_STATE_BYTES)
    return pickle.dumps(generator.state)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item() if value.dtype.kind == "f" and value.dtype.itemsize == 8 else value
    return value


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"array {value.shape} {value.dtype}, first entries {value.ravel()[:3]}"
    return repr(value)


def _name(fn) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def _held(value):
    """``value`` with each array leaf copied, so a later write into the caller's arrays does
    not reach it (what :meth:`Jitted.at` fixes is held as it is now)."""
    if type(value) is np.ndarray:  # one array is its own tree: its copy, without (un)flatten
        return np.array(value)
    leaves, treedef = flatten(value)
    return unflatten(treedef, [np.array(leaf) if isinstance(leaf, np.ndarray) else leaf
                               for leaf in leaves])


class _FixedArguments:
    """``jitted(*fixed, *rest)`` as a function of ``rest`` (:meth:`Jitted.at`)."""

    __slots__ = ("jitted", "fixed", "n_fixed", "memo")

    def __init__(self, jitted, fixed, n_fixed):
        self.jitted = jitted
        self.fixed = fixed
        self.n_fixed = n_fixed  # the recording's inputs from fixed (0: nothing is kept)
        self.memo = [None]

    def __call__(self, *rest):
        args = self.fixed + rest
        if self.n_fixed:
            key = _plain_key(args)
            if key is not None:
                result = self.jitted._latest(key, args, self.n_fixed, self.memo)
                if result is not _MISS:
                    return result
        return self.jitted(*args)


def jit(fn=None, *, check: bool = False, max_traces: int = 4):
    """Compiled replay of ``fn``: same results, recorded once per input signature.

    The first call for an input signature (pytree structure; shapes and dtypes of the array
    leaves; types of the float leaves; values of every other leaf) runs ``fn`` under a
    recording level that notes every primitive it executes, including those inside nested
    ``grad``, ``jvp``, ``vjp``, ``hvp``, ``jacfwd``, ``jacrev``, ``hessian`` and ``linearize``
    calls, as a flat program; later calls replay that program as generated Python code
    (:meth:`Jitted.source` shows it).  Every value Python reads while recording (``bool()``
    of a comparison, ``int()``, ``float()``, ``.item()``, a value used as an index) becomes a
    guard: when one fails, ``fn`` is recorded again (``max_traces`` traces are kept per
    signature).  Side effects of ``fn`` (printing, appending to a list) happen only while it is
    recorded.  ``check=True`` runs the eager call alongside every replay and raises
    :class:`JitCheckError` on any difference.  Called on traced values (inside an enclosing
    transform), ``fn`` runs eagerly.  Usable as ``@ad.jit`` or ``@ad.jit(check=True)``.

    The approach is JAX's ``jit`` (Frostig, Johnson and Leary, "Compiling machine learning
    programs via high-level tracing", SysML 2018) with concrete values and guards instead of
    abstract values, and Tangent's readable generated derivative code (van Merrienboer et al.,
    "Tangent: automatic differentiation using source-code transformation for dynamically typed
    array programming", NeurIPS 2018).
    """
    if fn is None:
        return functools.partial(jit, check=check, max_traces=max_traces)
    return Jitted(fn, check=check, max_traces=max_traces)
