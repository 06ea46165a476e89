"""The evaluation trace of Baydin et al. (2018, sec. 3, Tables 2 and 3) and its tables.

For ``y = f(x_1, ..., x_n)`` the trace lists one variable per elementary operation::

    v_{i-n} = x_i                                inputs
    v_k     = phi_k(v_j for j in operands(k))    operations (a topological order)
    y       = v_N

and three columns of numbers:

* the **forward primal trace** ``v_k``;
* the **forward tangent trace** ``v̇_k = Σ_j ∂v_k/∂v_j · v̇_j`` for one input direction ``ẋ``
  (one forward-mode pass: ``ẏ = J ẋ``);
* the **reverse adjoint trace** ``v̄_j = Σ_k v̄_k · ∂v_k/∂v_j`` swept from ``ȳ`` back to the
  inputs (one reverse-mode pass: ``x̄ = ȳᵀ J``).

This module holds the data (:class:`Trace`, :class:`TraceRow`, :class:`AdjointStep`) and writes
it as the three tables of Baydin, Pearlmutter, Radul and Siskind, "Automatic differentiation in
machine learning: a survey", JMLR 18(153), 2018 (forward primal and tangent traces, Table 2;
reverse adjoint trace, Table 3); :mod:`.trace_sweeps` computes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .notation import HTML, TEXT, Notation, format_value
from .tables import Table

__all__ = ["Trace", "TraceRow", "AdjointStep", "Constant", "unit_like", "zero_like"]


@dataclass(frozen=True)
class TraceRow:
    """One variable ``v_index`` of the trace.

    ``op`` is ``"input"`` or the primitive's name; ``operands`` holds, per argument of the
    primitive, the index of a traced variable (``int``) or a :class:`Constant`; ``partials``
    the local derivatives ``∂v_index/∂operand`` (scalar operations only, else ``None``).
    """

    index: int
    op: str
    operands: tuple
    params: dict
    value: object
    tangent: object
    adjoint: object
    partials: tuple | None = None


@dataclass(frozen=True)
class Constant:
    """An operand that does not depend on the inputs (printed by value)."""

    value: object


@dataclass(frozen=True)
class AdjointStep:
    """One update of the reverse sweep: ``v̄_target (+)= v̄_source · ∂v_source/∂v_target``.

    ``before`` is ``None`` for the first contribution to ``v̄_target`` (an assignment).
    ``partial`` is the local derivative from the VJP rule (scalar operations only).
    """

    target: int
    source: int
    partial: object
    contribution: object
    before: object
    after: object


@dataclass(frozen=True)
class Trace:
    """The evaluation trace of ``f`` at a point: ``print(trace)`` shows the three tables.

    ``rows`` has one :class:`TraceRow` per variable (inputs first); ``steps`` the reverse
    sweep's updates in the order they run; ``outputs`` the variable index of each output (or a
    :class:`Constant`).  ``value``, ``tangent`` and ``input_adjoints`` are ``y``, ``ẏ`` and
    ``(x̄_1, ..., x̄_n)``.
    """

    rows: tuple
    steps: tuple
    outputs: tuple
    input_tangents: tuple
    output_cotangents: tuple
    precision: int = 3
    _by_index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_by_index", {row.index: row for row in self.rows})

    @property
    def n_inputs(self) -> int:
        return len(self.input_tangents)

    def row(self, index: int) -> TraceRow:
        """The row of ``v_index`` (``v_{1-n} .. v_0`` are the inputs)."""
        return self._by_index[index]

    def _output_field(self, name: str):
        values = []
        for out in self.outputs:
            if isinstance(out, Constant):
                values.append(out.value if name == "value" else zero_like(out.value))
            else:
                values.append(getattr(self.row(out), name))
        return values[0] if len(values) == 1 else tuple(values)

    @property
    def value(self):
        """The output ``y`` (a tuple for several outputs)."""
        return self._output_field("value")

    @property
    def tangent(self):
        """The output's tangent ``ẏ = J ẋ`` along the chosen input direction."""
        return self._output_field("tangent")

    @property
    def input_adjoints(self) -> tuple:
        """The adjoints of the inputs, ``(x̄_1, ..., x̄_n) = ȳᵀ J``."""
        return tuple(self.row(1 - self.n_inputs + i).adjoint for i in range(self.n_inputs))

    # -- tables ----------------------------------------------------------------------------
    def tables(self, notation: Notation | None = None) -> list[Table]:
        """The primal, tangent and adjoint tables (plain text notation unless given)."""
        notation = TEXT if notation is None else notation
        return [
            self._primal_table(notation),
            self._tangent_table(notation),
            self._adjoint_table(notation),
        ]

    def format(self, value) -> str:
        """``value`` rounded to the trace's precision, as the tables show it."""
        return format_value(value, self.precision)

    def _operand(self, notation, operand) -> str:
        if isinstance(operand, Constant):
            return self.format(operand.value)
        return notation.var(operand)

    def _sections(self, input_rows, operation_rows, output_rows):
        return tuple(section for section in (input_rows, operation_rows, output_rows) if section)

    def _inputs(self):
        return [row for row in self.rows if row.op == "input"]

    def _operations(self):
        return [row for row in self.rows if row.op != "input"]

    def _output_rows(self, notation, mark, field_name):
        rows = []
        for position, out in enumerate(self.outputs):
            name = notation.output(position, len(self.outputs), mark)
            if isinstance(out, Constant):
                value = out.value if field_name == "value" else 0.0
                rows.append([name, "", "", self.format(value)])
            else:
                value = getattr(self.row(out), field_name)
                rows.append([name, notation.var(out, mark), "", self.format(value)])
        return rows

    def _primal_table(self, notation) -> Table:
        inputs = [
            [notation.var(row.index), notation.input(row.index - 1 + self.n_inputs), "",
             self.format(row.value)]
            for row in self._inputs()
        ]
        operations = []
        for row in self._operations():
            symbolic = notation.operation(
                row.op, [self._operand(notation, o) for o in row.operands], row.params
            )
            numeric = ""
            if row.partials is not None:
                numeric = notation.operation(
                    row.op,
                    [self.format(o.value if isinstance(o, Constant) else self.row(o).value)
                     for o in row.operands],
                    row.params,
                )
            operations.append([notation.var(row.index), symbolic, numeric, self.format(row.value)])
        outputs = self._output_rows(notation, "", "value")
        return Table(
            "Forward primal trace",
            ("variable", "operation", "with values", "value"),
            self._sections(inputs, operations, outputs),
            equation=True,
        )

    def _tangent_table(self, notation) -> Table:
        inputs = [
            [notation.var(row.index, "dot"),
             notation.input(row.index - 1 + self.n_inputs, "dot"), "", self.format(row.tangent)]
            for row in self._inputs()
        ]
        operations = []
        for row in self._operations():
            traced = [(slot, o) for slot, o in enumerate(row.operands) if isinstance(o, int)]
            symbolic = " + ".join(
                f"{notation.partial(row.index, o)} · {notation.var(o, 'dot')}" for _, o in traced
            )
            numeric = ""
            if row.partials is not None:
                numeric = " + ".join(
                    f"{_factor(self.format(row.partials[slot]))} × "
                    f"{_factor(self.format(self.row(o).tangent))}"
                    for slot, o in traced
                )
            operations.append(
                [notation.var(row.index, "dot"), symbolic, numeric, self.format(row.tangent)]
            )
        outputs = self._output_rows(notation, "dot", "tangent")
        direction = ", ".join(
            f"{notation.input(i, 'dot')} = {self.format(t)}" for i, t in
            enumerate(self.input_tangents)
        )
        return Table(
            f"Forward tangent trace ({_plain(direction)})",
            ("tangent", "chain rule", "with values", "value"),
            self._sections(inputs, operations, outputs),
            equation=True,
        )

    def _adjoint_table(self, notation) -> Table:
        seeds = []
        for position, out in enumerate(self.outputs):
            if not isinstance(out, Constant):
                seeds.append([
                    notation.var(out, "bar"),
                    notation.output(position, len(self.outputs), "bar"),
                    "",
                    self.format(self.output_cotangents[position]),
                ])
        sweep = []
        for step in self.steps:
            target = notation.var(step.target, "bar")
            term = f"{notation.var(step.source, 'bar')} · {notation.partial(step.source, step.target)}"
            numeric = ""
            if step.partial is not None:
                numeric = (
                    f"{_factor(self.format(self.row(step.source).adjoint))} × "
                    f"{_factor(self.format(step.partial))}"
                )
            if step.before is not None:
                term = f"{target} + {term}"
                numeric = numeric and f"{self.format(step.before)} + {numeric}"
            sweep.append([target, term, numeric, self.format(step.after)])
        inputs = [
            [notation.input(row.index - 1 + self.n_inputs, "bar"), notation.var(row.index, "bar"),
             "", self.format(row.adjoint)]
            for row in self._inputs()
        ]
        seed_text = ", ".join(
            f"{notation.output(i, len(self.outputs), 'bar')} = {self.format(c)}"
            for i, c in enumerate(self.output_cotangents)
        )
        return Table(
            f"Reverse adjoint trace ({_plain(seed_text)})",
            ("adjoint", "accumulation", "with values", "value"),
            self._sections(seeds, sweep, inputs),
            equation=True,
        )

    # -- output ------------------------------------------------------------------------------
    def __str__(self) -> str:
        return "\n\n".join(table.text() for table in self.tables(TEXT))

    def _repr_markdown_(self) -> str:
        return "\n\n".join(table.markdown() for table in self.tables(HTML))

    def _repr_html_(self) -> str:
        return "\n".join(table.html() for table in self.tables(HTML))


def _factor(text: str) -> str:
    return f"({text})" if text.startswith("-") else text


def _plain(text: str) -> str:
    """Titles are escaped by the table renderers: strip the HTML subscripts from labels."""
    return text.replace("<sub>", "").replace("</sub>", "")


def unit_like(value):
    """A tangent / cotangent of ones with ``value``'s shape and dtype (``1.0`` for a float)."""
    return 1.0 if type(value) is float else np.ones(np.shape(value), np.result_type(value))


def zero_like(value):
    """A zero tangent / cotangent shaped like ``value`` (for symbolic zeros in the tables)."""
    return 0.0 if type(value) is float else np.zeros(np.shape(value), np.result_type(value))
