"""How the inspection tools write numbers, variable names and elementary operations.

The notation is that of Baydin, Pearlmutter, Radul and Siskind, "Automatic differentiation in
machine learning: a survey" (JMLR 18(153), 2018, sec. 3, Tables 2 and 3): inputs ``x1 .. xn``
become ``v_{1-n} .. v_0``, the elementary operations ``v_1 .. v_N``; a dot marks a tangent
(``v̇_i = ∂v_i/∂x`` along the chosen direction), a bar an adjoint (``v̄_i = ∂y/∂v_i``).  Plain text
writes ``v-1``; HTML writes ``v<sub>-1</sub>``.  Numbers are rounded to ``precision`` decimals,
as Baydin et al.'s tables print them (``11.652``, ``5.5``, ``-0.284``).
"""

from __future__ import annotations

import html
import math

import numpy as np

__all__ = ["Notation", "TEXT", "HTML", "format_number", "format_value"]

DOT = "\u0307"  # combining dot above: v̇
BAR = "\u0304"  # combining macron: v̄
MARKS = {"": "", "dot": DOT, "bar": BAR}


def format_number(x, precision: int = 3) -> str:
    """A float rounded to ``precision`` decimals, trailing zeros dropped (``5.500 -> 5.5``).

    Very large or very small magnitudes switch to scientific notation so they never round to a
    misleading ``0``.
    """
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x != 0 and (abs(x) >= 1e6 or abs(x) < 10.0**-precision):
        return f"{x:.{precision + 1}g}"
    text = f"{x:.{precision}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_shape(shape) -> str:
    return "×".join(str(n) for n in shape) if shape else "scalar"


def format_value(value, precision: int = 3, max_size: int = 6) -> str:
    """A scalar as a rounded number; a small array as a nested list; a large one by its shape."""
    array = np.asarray(value)
    if array.ndim == 0:
        return format_number(array, precision)
    if array.size > max_size:
        return f"[{format_shape(array.shape)} array]"

    def nested(items):
        if isinstance(items, list):
            return "[" + ", ".join(nested(item) for item in items) + "]"
        return format_number(items, precision)

    return nested(array.tolist())


def is_scalar(value) -> bool:
    return np.ndim(value) == 0


# Elementary operations Baydin et al. (2018) write with a symbol.  Everything else is written
# ``name operand`` (one operand, like their ``sin v0``) or ``name(operands, params)``.
INFIX = {
    "add": "+",
    "subtract": "−",
    "multiply": "×",
    "divide": "/",
    "power": "^",
    "matmul": "@",
}
PREFIX = {
    "negative": "−",
    "log": "ln ",
    "absolute": "abs ",
    "sqrt": "√",
}


class Notation:
    """Names and expressions in one output style (``html=False``: plain text)."""

    def __init__(self, html_output: bool):
        self.html = html_output

    def escape(self, text: str) -> str:
        return html.escape(text, quote=False) if self.html else text

    def _subscripted(self, letter: str, index, mark: str) -> str:
        if self.html:
            return f"{letter}{MARKS[mark]}<sub>{index}</sub>"
        return f"{letter}{MARKS[mark]}{index}"

    def var(self, index: int, mark: str = "") -> str:
        """``v_index`` with an optional ``"dot"`` (tangent) or ``"bar"`` (adjoint) mark."""
        return self._subscripted("v", index, mark)

    def input(self, position: int, mark: str = "") -> str:
        """``x_{position + 1}``: Baydin et al. (2018) number inputs from 1."""
        return self._subscripted("x", position + 1, mark)

    def output(self, position: int, count: int, mark: str = "") -> str:
        """``y`` for a single output, ``y1 .. ym`` for several."""
        if count == 1:
            return f"y{MARKS[mark]}"
        return self._subscripted("y", position + 1, mark)

    def partial(self, of: int, wrt: int) -> str:
        """``∂v_of/∂v_wrt``."""
        return f"∂{self.var(of)}/∂{self.var(wrt)}"

    def operation(self, op: str, operands: list[str], params: dict) -> str:
        """The right-hand side of ``v_i = ...`` for primitive ``op`` applied to ``operands``.

        Parameters left at ``None`` / ``False`` (``axis=None``, ``keepdims=False``) are omitted.
        """
        if op == "getitem":
            return f"{operands[0]}[{self.escape(format_index(params['index']))}]"
        params = {key: value for key, value in params.items() if value is not None
                  and value is not False}
        if not params:
            if op in INFIX and len(operands) == 2:
                return f"{_grouped(operands[0])} {INFIX[op]} {_grouped(operands[1])}"
            if len(operands) == 1:
                if op in PREFIX:
                    return f"{PREFIX[op]}{_grouped(operands[0])}"
                if op == "square":
                    return f"{_grouped(operands[0])}²"
                if op == "reciprocal":
                    return f"1 / {_grouped(operands[0])}"
                return f"{op} {_grouped(operands[0])}"
        arguments = list(operands) + [
            self.escape(f"{key}={value!r}") for key, value in sorted(params.items())
        ]
        return f"{op}({', '.join(arguments)})"


def _grouped(operand: str) -> str:
    """Parenthesise a negative number so ``10.693 − (-0.959)`` reads unambiguously."""
    return f"({operand})" if operand.startswith("-") else operand


def format_index(index) -> str:
    """``x[...]``'s index as NumPy users write it (``0``, ``1:3``, ``:, 2``, ``[0, 2]``)."""
    items = index if isinstance(index, tuple) else (index,)

    def one(item):
        if isinstance(item, slice):
            parts = ["" if p is None else str(p) for p in (item.start, item.stop, item.step)]
            return ":".join(parts[:2]) + (f":{parts[2]}" if item.step is not None else "")
        if item is Ellipsis:
            return "..."
        if item is None:
            return "None"
        if isinstance(item, np.ndarray):
            return str(item.tolist())
        return str(item)

    return ", ".join(one(item) for item in items)


TEXT = Notation(html_output=False)
HTML = Notation(html_output=True)
