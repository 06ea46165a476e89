"""``ad.graph``: the computation graph of one evaluation as Graphviz DOT text.

One node per variable of the trace (inputs ``x_i = v_{i-n}``, operations ``v_k``, constant
operands), an edge from each operand to the operation that uses it.  Each variable's label
carries its operation, its value and its adjoint ``v̄_k = ∂y/∂v_k``; an edge into a scalar
operation carries the local partial ``∂v_k/∂v_j`` that the reverse sweep multiplies by.  Render
with ``dot -Tsvg graph.dot -o graph.svg`` (Graphviz) or any DOT viewer.
"""

from __future__ import annotations

from .notation import TEXT, format_value
from .trace_sweeps import trace
from .tracing import Constant, Trace

__all__ = ["graph", "trace_to_dot"]


def _quote(text: str) -> str:
    """A DOT string literal; ``\\n`` in ``text`` stays a DOT line break."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _node_id(index: int) -> str:
    return f"v_m{-index}" if index < 0 else f"v{index}"


def trace_to_dot(t: Trace) -> str:
    """DOT text for the graph recorded in trace ``t``."""
    fmt = t.format
    outputs = {out: position for position, out in enumerate(t.outputs)
               if not isinstance(out, Constant)}
    lines = [
        "digraph autodiff {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    constants = 0
    for row in t.rows:
        name = TEXT.var(row.index)
        if row.op == "input":
            head = f"{name} = {TEXT.input(row.index - 1 + t.n_inputs)}"
            extra = ", fillcolor=lightblue"
        else:
            head = f"{name} = {row.op}"
            extra = ""
        if row.index in outputs:
            head += f"  ({TEXT.output(outputs[row.index], len(t.outputs))})"
            extra += ", peripheries=2"
        label = f"{head}\nvalue {fmt(row.value)}\nadjoint {fmt(row.adjoint)}"
        lines.append(f"  {_node_id(row.index)} [label={_quote(label)}{extra}];")
        for slot, operand in enumerate(row.operands):
            if isinstance(operand, Constant):
                constants += 1
                source = f"c{constants}"
                lines.append(
                    f"  {source} [label={_quote(format_value(operand.value, t.precision))}, "
                    "shape=plaintext, style=solid];"
                )
                lines.append(f"  {source} -> {_node_id(row.index)};")
                continue
            attributes = ""
            if row.partials is not None:
                partial = f"∂{name}/∂{TEXT.var(operand)} = {fmt(row.partials[slot])}"
                attributes = f" [label={_quote(partial)}]"
            lines.append(f"  {_node_id(operand)} -> {_node_id(row.index)}{attributes};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def graph(f, *args, cotangent=None, precision: int = 3) -> str:
    """The computation graph of ``f`` at ``args`` as Graphviz DOT text.

    Nodes are the inputs and the elementary operations, labelled with the operation, the value
    and the adjoint (seeded with ``cotangent``, default ``ȳ = 1`` for a scalar output); edges go
    from operands to the operations that use them.

    Example
    -------
    >>> import numpy as np, autodiff as ad
    >>> dot = ad.graph(lambda x1, x2: np.log(x1) + x1 * x2 - np.sin(x2), 2.0, 5.0)
    >>> dot.splitlines()[0]
    'digraph autodiff {'
    """
    return trace_to_dot(trace(f, *args, cotangent=cotangent, precision=precision))
