"""``linearize``: record the tangent program of ``f`` at ``x`` once, replay it for every ``v``.

``jvp(f, x, v)`` computes ``f(x)`` and ``J v`` together, so each new direction pays for all of
``f`` again.  Yet ``v -> J v`` is linear, and depends on ``x`` only through constants: the local
partials (``cos x`` for ``sin``), and in a Hessian-vector product the values saved by the reverse
sweep.  ``linearize`` runs forward mode once with input tangents that are leaves of a *recording*
level opened before the forward level:

* the recording level is older, so the forward level hands it only the JVP rules' arithmetic on
  tangents; the primal work runs on plain values, once, and is never recorded;
* each recorded operation is linear in its tangent operands, with the constants (partials, saved
  values) kept as they were computed;
* the operations reachable from the output tangents, in the order they ran, are the *linear
  program*.  ``f_jvp(v)`` replays it with ``v`` in place of the recorded input tangents.

Replay calls ``bind`` for every operation, so it is itself traceable: ``grad`` of
``u . f_jvp(v)`` with respect to ``v`` is the transpose ``J^T u``, and ``f_jvp.batched`` pushes
``k`` directions at once as the forward derivative of the replay.
"""

from __future__ import annotations

import numpy as np

from .levels import Level
from .pytree import flatten, unflatten
from .rules.primitive import bind, dtype_of, shape_of
from .tracer import ArrayLike
from .transforms import _cast_direction, _input_leaves, _zeros_like_with_batch, make_jvp

__all__ = ["linearize", "LinearizedFunction"]


class _Recorder(Level):
    """Records every primitive applied to its tangents (``no_grad`` does not apply: these are
    derivatives of a forward pass, not a reverse tape).

    Slots ``0 .. n_inputs - 1`` are the input tangents; step ``i`` writes slot ``n_inputs + i``.
    """

    kind = "linearize"
    __slots__ = ("steps", "n_inputs")

    def __init__(self, n_inputs: int):
        super().__init__()
        self.steps = []
        self.n_inputs = n_inputs

    def process(self, prim, args, params):
        if not self.active:
            raise self.escaped("tangent")
        values, refs = [], []
        for position, arg in enumerate(args):
            if type(arg) is _Tangent and arg._level is self:
                values.append(arg._primal_)
                refs.append((position, arg.slot))
            else:
                values.append(arg)
        out = bind(prim, *values, **params)
        for position, _ in refs:
            values[position] = None  # the replay fills tangent operands in; keep no copy
        slot = self.n_inputs + len(self.steps)
        self.steps.append((prim, values, tuple(refs), params, slot))
        return _Tangent(out, slot, self)


class _Tangent(ArrayLike):
    """A recorded tangent: its value for the dummy input direction, and its slot in the program."""

    __slots__ = ("_primal_", "slot")

    def __init__(self, value, slot: int, level):
        self._primal_ = value
        self.slot = slot
        self._level = level


def _live_steps(steps, output_slots):
    """Dead-code elimination: the steps an output depends on, and when each slot dies."""
    needed = set(output_slots)
    live = []
    for step in reversed(steps):
        if step[4] in needed:
            live.append(step)
            needed.update(slot for _, slot in step[2])
    live.reverse()
    last_use = {}
    for index, (_, _, refs, _, _) in enumerate(live):
        for _, slot in refs:
            last_use[slot] = index
    keep = set(output_slots)
    frees = [[] for _ in live]
    for slot, index in last_use.items():
        if slot not in keep:
            frees[index].append(slot)
    return [step + (tuple(frees[i]),) for i, step in enumerate(live)]


class LinearizedFunction:
    """``v -> J_f(x) v``: the recorded linear program of ``f`` at a fixed ``x``.

    Call it with ``v`` shaped like ``x`` (same pytree structure, shapes; cast to ``x``'s dtypes).
    ``batched(vs)`` takes leaves with a leading axis of ``k`` directions and returns outputs
    with the same leading axis.  ``operations`` lists the primitives replayed per call.
    """

    def __init__(self, inputs, input_def, program, outputs, out_def):
        self._inputs = inputs  # the primal input leaves: shapes, dtypes, zeros for batching
        self._input_def = input_def
        self._program = program
        self._outputs = outputs  # per output leaf: ("slot", k) or ("constant", value)
        self._out_def = out_def

    @property
    def operations(self) -> tuple:
        return tuple(step[0].name for step in self._program)

    def __call__(self, v):
        leaves = self._check(v, ())
        values = dict(enumerate(leaves))
        for prim, args, refs, params, slot, frees in self._program:
            args = list(args)
            for position, ref in refs:
                args[position] = values[ref]
            values[slot] = bind(prim, *args, **params)
            for dead in frees:
                del values[dead]
        outputs = [values[item] if kind == "slot" else item for kind, item in self._outputs]
        return unflatten(self._out_def, outputs)

    def batched(self, vs):
        """``J v`` for ``k`` directions at once: every leaf of ``vs`` is ``(k,) + x.shape``.

        The replay is linear, so its forward derivative in the directions ``vs`` is ``J vs``;
        every primitive's JVP rule carries the leading batch axis.
        """
        leaves = flatten(vs)[0]
        if not leaves:
            return self(vs)
        k = shape_of(leaves[0])[:1]
        self._check(vs, k)
        zeros = unflatten(self._input_def, [_zeros_like_with_batch(x, ()) for x in self._inputs])
        return make_jvp(self, (zeros,), (vs,), batch=k)[1]

    def _check(self, v, batch):
        leaves, treedef = flatten(v)
        if treedef != self._input_def:
            raise ValueError(
                f"the direction has structure {treedef!r}, but f was linearized at an input "
                f"of structure {self._input_def!r}; pass v shaped like x"
            )
        return [
            _cast_direction(leaf, x, batch, "direction v")
            for leaf, x in zip(leaves, self._inputs)
        ]

    def __repr__(self) -> str:
        return f"<LinearizedFunction: {len(self._program)} linear operations per call>"


def linearize(f, x):
    """``(f(x), f_jvp)`` where ``f_jvp(v) = J_f(x) v`` replays the recorded linear program.

    ``f`` runs once; every later ``f_jvp(v)`` costs only the tangent operations (no primal work,
    no partials recomputed).  ``x`` is one argument (a tuple means ``f(*x)``); pytrees in and
    out, as for :func:`autodiff.jvp`.

    Example
    -------
    >>> import numpy as np, autodiff as ad
    >>> y, f_jvp = ad.linearize(lambda x: np.sin(x) * x, np.array([0.0, 1.0]))
    >>> f_jvp(np.array([1.0, 1.0]))  # cos(x) x + sin(x)
    array([0.        , 1.38177329])
    """
    leaves, treedef = _input_leaves(x, "linearize input")
    recorder = _Recorder(len(leaves))
    try:
        seeds = [_Tangent(_ones_like(leaf), i, recorder) for i, leaf in enumerate(leaves)]
        out, out_tangent = make_jvp(f, unflatten(treedef, leaves), unflatten(treedef, seeds))
    finally:
        recorder.close()
    tangent_leaves, out_def = flatten(out_tangent)
    outputs = []
    for t in tangent_leaves:
        if type(t) is _Tangent and t._level is recorder:
            outputs.append(("slot", t.slot))
        else:  # independent of the input: the tangent is a constant (zero)
            outputs.append(("constant", t))
    output_slots = [item for kind, item in outputs if kind == "slot"]
    program = _live_steps(recorder.steps, output_slots)
    return out, LinearizedFunction(leaves, treedef, program, outputs, out_def)


def _ones_like(value):
    """The dummy input tangent used while recording (any value works: the map is linear)."""
    if type(value) is float:
        return 1.0
    return np.ones(shape_of(value), dtype_of(value))
