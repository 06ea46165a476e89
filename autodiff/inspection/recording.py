"""Record one evaluation of ``f`` as a Wengert list, with the core's reverse-mode tape.

Each input leaf becomes a ``Var`` of a fresh reverse level; running ``f`` records one tape
:class:`~autodiff.reverse.tape.Node` per elementary operation (primitive, saved inputs, output,
parameters, parent ``Var`` s).  Walking the parents back from the outputs and sorting by sequence
number gives the operations the outputs depend on.  They are listed in the order of Baydin et al.
("Automatic differentiation in machine learning: a survey", JMLR 2018, Table 2): by
*depth* (the longest path from an input), ties in evaluation order.  That is a topological order
(every operand comes before its use) and it numbers ``ln x1 + x1·x2 − sin x2`` exactly as
Baydin et al. do (``v3 = sin v0`` before ``v4 = v1 + v2``, although Python evaluates the sum
first).  The inspection tools read the derivative rules from these nodes' primitives;
they never restate a rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..pytree import TreeDef, flatten, unflatten
from ..reverse.var import InspectedVjpLevel, Var, VjpLevel
from ..rules.primitive import Traced, primal_value
from ..values import as_float_value, check_float_input

__all__ = ["Recording", "record"]


@dataclass(frozen=True)
class Recording:
    """One evaluation of ``f(*args)``.

    ``inputs`` are the leaf ``Var`` s (one per input leaf, in pytree order); ``operations`` the
    recorded ``Var`` s the outputs depend on, by depth then evaluation order (each has
    ``._node``);
    ``outputs`` the flattened outputs (recorded ``Var`` s, or constants that do not depend on
    the inputs).
    """

    inputs: tuple
    input_def: TreeDef
    operations: tuple
    outputs: tuple
    output_def: TreeDef
    level: VjpLevel

    def is_recorded(self, value) -> bool:
        return type(value) is Var and value._level is self.level

    @property
    def output_values(self) -> list:
        return [primal_value(out) for out in self.outputs]

    @property
    def tape_bytes(self) -> int:
        """Bytes of the distinct arrays the tape holds (saved inputs and outputs of each node)."""
        seen = {}
        for var in self.operations:
            node = var._node
            for value in (*node.primals, node.out):
                value = primal_value(value)
                if isinstance(value, (float, np.ndarray, np.generic)):
                    seen[id(value)] = np.asarray(value).nbytes
        return sum(seen.values())


def record(f, args: tuple, what: str = "input") -> Recording:
    """Run ``f(*args)`` on a fresh tape and collect the operations its outputs depend on."""
    leaves, input_def = flatten(tuple(args))
    if not leaves:
        raise ValueError("give the point to evaluate at: f(*args) needs at least one input")
    for leaf in leaves:  # as for the transforms: integers are refused, not silently cast
        if isinstance(leaf, (bool, int, np.integer, np.bool_)):
            check_float_input(np.asarray(leaf), what)
    values = [as_float_value(leaf, what) for leaf in leaves]
    level = InspectedVjpLevel()  # nodes keep every operand: the tools print them all
    try:
        inputs = tuple(Var._make(value, None, level) for value in values)
        out = f(*unflatten(input_def, list(inputs)))
        outputs, output_def = flatten(out)
        for leaf in outputs:
            if callable(leaf) and not isinstance(leaf, Traced):
                raise TypeError(
                    "the function returned a callable; inspection needs the function's values "
                    "(floats or arrays)"
                )
    finally:
        level.close()
    operations = _operations(outputs, level)
    return Recording(inputs, input_def, operations, tuple(outputs), output_def, level)


def _operations(outputs, level) -> tuple:
    """Recorded ``Var`` s reachable from the outputs, sorted by (depth, sequence number).

    Iterative walk over parents: no recursion limit on long chains.
    """
    found = {}
    stack = [out for out in outputs if type(out) is Var and out._level is level]
    while stack:
        var = stack.pop()
        if var._node is None or var._seq in found:
            continue
        found[var._seq] = var
        stack.extend(parent for parent in var._node.parents if parent is not None)
    depth = {}
    for seq in sorted(found):  # sequence order is topological: parents are done first
        parents = found[seq]._node.parents
        depth[seq] = 1 + max(
            (depth.get(p._seq, 0) for p in parents if p is not None), default=0
        )
    return tuple(found[seq] for seq in sorted(found, key=lambda s: (depth[s], s)))
