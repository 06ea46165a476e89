"""Safe parsing of formulas such as ``"ln(x1) + x1*x2 - sin(x2)"`` into NumPy functions.

Used by ``autodiff trace``.  The text is parsed with :mod:`ast` and every node is checked against
a whitelist before anything runs: numbers, the variables ``x1 .. xn``, ``pi`` and ``e``, the
operators ``+ - * / ** @`` and calls of the listed NumPy functions by name.  Attribute access,
subscripts, keywords, strings, comprehensions, lambdas and every other name are refused, and
integer literals become floats (so ``9**9**9`` cannot build a huge integer).  The checked tree is
evaluated with no builtins.
"""

from __future__ import annotations

import ast
import re

import numpy as np

from ..rules.elementwise import erf, sigmoid, softplus

__all__ = ["FUNCTIONS", "ExpressionError", "parse_expression"]

FUNCTIONS = {
    "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "arcsin": np.arcsin, "arccos": np.arccos, "arctan": np.arctan, "arctan2": np.arctan2,
    "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
    "arcsinh": np.arcsinh, "arccosh": np.arccosh, "arctanh": np.arctanh,
    "exp": np.exp, "expm1": np.expm1, "exp2": np.exp2,
    "log": np.log, "ln": np.log, "log1p": np.log1p, "log2": np.log2, "log10": np.log10,
    "sqrt": np.sqrt, "cbrt": np.cbrt, "square": np.square, "abs": np.abs,
    "hypot": np.hypot, "maximum": np.maximum, "minimum": np.minimum,
    "logaddexp": np.logaddexp, "sigmoid": sigmoid, "softplus": softplus, "erf": erf,
}
CONSTANTS = {"pi": np.pi, "e": np.e}
VARIABLE = re.compile(r"x([1-9][0-9]*)")
MAX_LENGTH = 2000

_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.MatMult, ast.USub, ast.UAdd)
_HINTS = {
    ast.BitXor: "use ** for powers (^ is bitwise xor in Python)",
    ast.Attribute: "call functions by their bare name, e.g. sin(x1) rather than np.sin(x1)",
}


class ExpressionError(ValueError):
    """The formula is not one ``autodiff trace`` accepts; the message says which part."""


class _Checker(ast.NodeTransformer):
    """Validate every node; turn integer literals into floats; collect variable numbers."""

    def __init__(self):
        self.variables: set[int] = set()

    def generic_visit(self, node):
        allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Constant,
                   ast.Load) + _OPERATORS
        if not isinstance(node, allowed):
            hint = _HINTS.get(type(node), "only numbers, x1..xn, + - * / ** @ and functions "
                              f"({', '.join(sorted(FUNCTIONS))}) are allowed")
            raise ExpressionError(f"{type(node).__name__} is not allowed in a formula: {hint}")
        return super().generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExpressionError(f"only real numbers are allowed as constants, not {node.value!r}")
        return ast.copy_location(ast.Constant(float(node.value)), node)

    def visit_Name(self, node):
        match = VARIABLE.fullmatch(node.id)
        if match:
            self.variables.add(int(match.group(1)))
        elif node.id not in CONSTANTS and node.id not in FUNCTIONS:
            raise ExpressionError(
                f"unknown name {node.id!r}: variables are x1, x2, ...; constants pi, e; "
                f"functions {', '.join(sorted(FUNCTIONS))}"
            )
        return node

    def visit_Call(self, node):
        if not isinstance(node.func, ast.Name):
            self.generic_visit(node.func)  # refuses attributes, lambdas, ... with a hint
            raise ExpressionError(f"call functions by name, not {ast.unparse(node.func)!r}")
        if node.func.id not in FUNCTIONS:
            raise ExpressionError(
                f"{node.func.id!r} is not a known function; use one of "
                f"{', '.join(sorted(FUNCTIONS))}"
            )
        if node.keywords:
            raise ExpressionError(f"{node.func.id}() takes no keyword arguments here")
        node.args = [self.visit(arg) for arg in node.args]
        return node


def parse_expression(text: str, n_inputs: int | None = None):
    """``(f, n)``: a function ``f(x1, ..., xn)`` computing the formula, and ``n``.

    ``n`` is ``n_inputs`` when given (it must cover every ``x_i`` the formula uses), else the
    largest variable number used.  Raises :class:`ExpressionError` for anything not allowed.

    >>> f, n = parse_expression("ln(x1) + x1*x2 - sin(x2)")
    >>> n, round(float(f(2.0, 5.0)), 3)
    (2, 11.652)
    """
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the formula is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"cannot parse {text!r}: {error.msg}") from None
    checker = _Checker()
    tree = ast.fix_missing_locations(checker.visit(tree))
    used = max(checker.variables, default=0)
    n = used if n_inputs is None else int(n_inputs)
    if n < 1:
        raise ExpressionError(f"the formula {text!r} uses no variable x1, x2, ...")
    if used > n:
        raise ExpressionError(
            f"the formula uses x{used} but only {n} value(s) were given; give one value per "
            "variable x1..xn"
        )
    code = compile(tree, "<formula>", "eval")
    names = ["x" + str(i) for i in range(1, n + 1)]

    def formula(*xs):
        if len(xs) != n:
            raise TypeError(f"the formula takes {n} argument(s) ({', '.join(names)})")
        scope = {**FUNCTIONS, **CONSTANTS, **dict(zip(names, xs))}
        return eval(code, {"__builtins__": {}}, scope)  # noqa: S307 -- tree checked above

    formula.__name__ = "formula"
    formula.__doc__ = text
    return formula, n
