"""``ad.trace``: record one evaluation, then run the tangent and the adjoint sweep over it.

The evaluation is recorded on the core's tape (:mod:`.recording`).  The tangent column replays
each node's JVP rule in the trace's order; the adjoint column runs each node's VJP rule in reverse
order, accumulating ``v̄_j += v̄_k · ∂v_k/∂v_j`` one operand at a time so every update can be
shown.  The numbers are therefore exactly those of ``ad.jvp`` and ``ad.grad``.  The local partials
``∂v_k/∂v_j`` printed for scalar operations come from the same rules applied to a unit tangent
(JVP) or a unit cotangent (VJP); no derivative rule is restated here.
"""

from __future__ import annotations

import numpy as np

from ..pytree import flatten
from ..reverse.tape import backward_pass
from ..rules.primitive import primal_value
from ..values import as_float_value
from .notation import is_scalar
from .recording import Recording, record
from .tracing import AdjointStep, Constant, Trace, TraceRow, unit_like, zero_like

__all__ = ["trace"]


def _input_tangents(recording: Recording, direction) -> list:
    """``ẋ``: the unit vector ``e_direction`` (an int) or the given sequence of tangents.

    An int counts the scalar coordinates of all inputs in order, so with scalar inputs it is the
    input's position and with one array input ``x`` it picks ``x.flat[direction]``.
    """
    values = [var._primal_ for var in recording.inputs]
    if isinstance(direction, (int, np.integer)) and not isinstance(direction, bool):
        sizes = [int(np.size(v)) for v in values]
        if not 0 <= direction < sum(sizes):
            raise ValueError(
                f"direction={direction} is not an input coordinate: the inputs have "
                f"{sum(sizes)} scalar coordinate(s), numbered 0..{sum(sizes) - 1}"
            )
        tangents, offset = [], 0
        for value, size in zip(values, sizes):
            if offset <= direction < offset + size:
                if type(value) is float:
                    tangents.append(1.0)
                else:
                    unit = np.zeros(np.shape(value), np.result_type(value))
                    unit.flat[direction - offset] = 1
                    tangents.append(unit)
            else:
                tangents.append(None)
            offset += size
        return tangents
    if not isinstance(direction, (list, tuple)) or len(direction) != len(values):
        raise TypeError(
            "direction must be an input coordinate (int) or a sequence with one tangent per "
            f"input ({len(values)} values), got {direction!r}"
        )
    return _shaped_like(values, direction, "tangent", "input")


def _output_cotangents(recording: Recording, cotangent) -> list:
    """``ȳ``: 1 for a single scalar output, else the given cotangent (one leaf per output)."""
    outputs = recording.output_values
    if cotangent is None:
        if len(outputs) != 1 or not is_scalar(outputs[0]):
            raise ValueError(
                "the reverse (adjoint) trace needs a seed ȳ: the function's output is not a "
                "single scalar, so pass cotangent= with the output's structure and shapes"
            )
        return [unit_like(outputs[0])]
    leaves = flatten(cotangent)[0]
    if len(leaves) != len(outputs):
        raise ValueError(
            f"cotangent has {len(leaves)} leaves but the function returned {len(outputs)}"
        )
    return _shaped_like(outputs, leaves, "cotangent", "output")


def _shaped_like(values, given, kind: str, role: str) -> list:
    """``given`` as floats of the values' dtypes, each checked to have its value's shape."""
    checked = []
    for value, item in zip(values, given):
        item = as_float_value(item, f"trace {kind}", np.result_type(value))
        if np.shape(item) != np.shape(value):
            raise ValueError(
                f"a {kind} of shape {np.shape(item)} was given for an {role} of shape "
                f"{np.shape(value)}"
            )
        checked.append(item)
    return checked


def _is_scalar_node(node) -> bool:
    """Whether the node maps scalars to a scalar (its local partials are plain numbers)."""
    traced = [value for value, parent in zip(node.primals, node.parents) if parent is not None]
    return is_scalar(node.out) and all(is_scalar(value) for value in traced)


def _local_partials(node) -> tuple | None:
    """``∂out/∂operand`` for each traced operand of a scalar node, by the JVP rule."""
    if not _is_scalar_node(node):
        return None
    partials = []
    for slot, parent in enumerate(node.parents):
        if parent is None:
            partials.append(None)
            continue
        tangents = [unit_like(p) if i == slot else None for i, p in enumerate(node.primals)]
        t = node.prim.jvp(node.primals, tangents, node.out, **node.params)
        partials.append(zero_like(node.out) if t is None else t)
    return tuple(partials)


def _adjoint_sweep(recording: Recording, seeds, index_of) -> tuple[dict, list]:
    """The adjoint column and the update steps, from the engine's own backward sweep.

    :func:`~autodiff.reverse.tape.backward_pass` calls back after each node with the node's
    complete cotangent ``v̄_k`` and its contributions ``v̄_k · ∂v_k/∂v_j``; the adjoints are the
    engine's.  The steps are listed in the order of Baydin et al. (2018, Table 3): the reverse
    of the trace's numbering, each node's operands left to right, with the running sums
    ``before``/``after`` of each ``v̄_j`` in that order.
    """
    by_node = {}

    def on_node(node, cotangent, contributions):
        by_node[id(node)] = (cotangent, contributions)

    roots = [out for out in recording.outputs if recording.is_recorded(out)]
    root_seeds = [seed for out, seed in zip(recording.outputs, seeds) if recording.is_recorded(out)]
    leaves = backward_pass(roots, root_seeds, retain_graph=True, on_node=on_node)
    adjoints = {var._seq: g for var, g in leaves.items()}
    steps, running = [], {}
    for var in reversed(recording.operations):
        node = var._node
        if id(node) not in by_node:
            continue
        adjoints[var._seq], contributions = by_node[id(node)]
        unit = _unit_partials(node) if _is_scalar_node(node) else {}
        for slot, c in enumerate(contributions):
            if c is None:
                continue
            target = node.parents[slot]._seq
            before = running.get(target)
            running[target] = after = c if before is None else before + c
            steps.append(AdjointStep(
                target=index_of[target],
                source=index_of[var._seq],
                partial=unit.get(slot),
                contribution=c,
                before=before,
                after=after,
            ))
    return adjoints, steps


def _unit_partials(node) -> dict:
    """``∂out/∂operand`` by slot for a scalar node: its VJP rule applied to a unit cotangent."""
    wanted = [i for i, p in enumerate(node.parents) if p is not None]
    unit = node.prim.vjp(unit_like(node.out), node.primals, node.out, wanted, **node.params)
    return dict(zip(wanted, unit))


def trace(f, *args, direction=0, cotangent=None, precision: int = 3) -> Trace:
    """The evaluation trace of ``f`` at ``args``: primal, tangent and adjoint columns.

    The trace is that of Baydin, Pearlmutter, Radul and Siskind, "Automatic differentiation in
    machine learning: a survey" (JMLR 18(153), 2018, sec. 3: Table 2 forward, Table 3 reverse).

    Parameters
    ----------
    f:
        A function of ``len(args)`` arguments written with NumPy (floats or arrays, or pytrees
        of them: each leaf is one input ``x_i``).
    args:
        The point.
    direction:
        The input direction ``ẋ`` of the tangent trace: an int ``i`` for the unit vector
        ``e_i`` over the inputs' scalar coordinates in order (default ``0``: ``ẋ1 = 1``, the
        others zero; with scalar inputs ``i`` is the input's position), or a sequence of one
        tangent per input.
    cotangent:
        The seed ``ȳ`` of the adjoint trace; default ``1`` for a scalar output (then the adjoint
        trace computes the gradient).  Required for other outputs.
    precision:
        Decimals shown in the tables (the data keeps full precision).

    Returns
    -------
    Trace
        ``print(trace)`` shows the tables; ``trace.rows`` holds the data; in a notebook the
        trace renders as HTML.

    Example
    -------
    >>> import numpy as np, autodiff as ad
    >>> t = ad.trace(lambda x1, x2: np.log(x1) + x1 * x2 - np.sin(x2), 2.0, 5.0)
    >>> round(t.value, 3), t.tangent, [round(a, 3) for a in t.input_adjoints]
    (11.652, 5.5, [5.5, 1.716])
    """
    recording = record(f, args, "trace input")
    input_tangents = _input_tangents(recording, direction)
    seeds = _output_cotangents(recording, cotangent)
    n = len(recording.inputs)

    index_of = {var._seq: i + 1 - n for i, var in enumerate(recording.inputs)}
    for k, var in enumerate(recording.operations, start=1):
        index_of[var._seq] = k

    # forward: tangents by replaying each node's JVP rule
    tangents = {var._seq: t for var, t in zip(recording.inputs, input_tangents)}
    for var in recording.operations:
        node = var._node
        incoming = [None if p is None else tangents.get(p._seq) for p in node.parents]
        if any(t is not None for t in incoming):
            tangents[var._seq] = node.prim.jvp(node.primals, incoming, node.out, **node.params)

    adjoints, steps = _adjoint_sweep(recording, seeds, index_of)

    rows = []
    for var, t in zip(recording.inputs, input_tangents):
        rows.append(TraceRow(
            index=index_of[var._seq],
            op="input",
            operands=(),
            params={},
            value=var._primal_,
            tangent=zero_like(var._primal_) if t is None else t,
            adjoint=adjoints.get(var._seq, zero_like(var._primal_)),
        ))
    for var in recording.operations:
        node = var._node
        rows.append(TraceRow(
            index=index_of[var._seq],
            op=node.prim.name,
            operands=tuple(
                Constant(primal_value(value)) if parent is None else index_of[parent._seq]
                for value, parent in zip(node.primals, node.parents)
            ),
            params=dict(node.params),
            value=var._primal_,
            tangent=tangents.get(var._seq, zero_like(var._primal_)),
            adjoint=adjoints.get(var._seq, zero_like(var._primal_)),
            partials=_local_partials(node),
        ))
    outputs = tuple(
        index_of[out._seq] if recording.is_recorded(out) else Constant(primal_value(out))
        for out in recording.outputs
    )
    return Trace(
        rows=tuple(rows),
        steps=tuple(steps),
        outputs=outputs,
        input_tangents=tuple(
            zero_like(var._primal_) if t is None else t
            for var, t in zip(recording.inputs, input_tangents)
        ),
        output_cotangents=tuple(seeds),
        precision=int(precision),
    )
