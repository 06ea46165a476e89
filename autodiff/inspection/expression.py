"""Safe parsing of formulas such as ``"ln(x1) + x1*x2 - sin(x2)"`` into NumPy functions.

Used by ``autodiff trace``.  The text is parsed with :mod:`ast` and every node is checked against
a whitelist before anything runs: numbers, the variables ``x1 .. xn``, ``pi`` and ``e``, the
operators ``+ - * / ** @`` and calls of the listed NumPy functions by name.  Attribute access,
subscripts, keywords, strings, comprehensions, lambdas, every other name, a function used as a
value (``sin(sin)``) and a call with the wrong number of arguments (``maximum(x1)``) are refused;
integer literals become floats (so ``9**9**9`` cannot build a huge integer: evaluating
``9**9**9**9`` raises ``OverflowError`` instead).  The check walks the tree iteratively, so long
formulas (a sum of 500 terms) need no deep recursion.  The checked tree is evaluated with no
builtins.
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


_TOO_DEEP = "the formula is nested too deeply for Python to compile; split it up"


class ExpressionError(ValueError):
    """The formula is not one ``autodiff trace`` accepts; the message says which part."""


def _arity(function) -> int:
    """How many arguments a formula function takes (NumPy ufuncs say ``nin``)."""
    return function.nin if isinstance(function, np.ufunc) else function.arity


_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Constant,
            ast.Load) + _OPERATORS


def _check(tree) -> set[int]:
    """Validate every node of ``tree``, turn integer literals into floats, and return the
    variable numbers used.

    The walk is iterative (:func:`ast.walk`), so a long sum such as ``x1 + x1 + ... + x1`` does
    not exhaust Python's recursion limit.  It visits a call before its arguments, which is how
    a function name used as a value (``sin(sin)``) is told from the function being called.
    """
    variables: set[int] = set()
    called = set()  # id() of the Name nodes in call position
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise _not_allowed(node)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise ExpressionError(
                    f"only real numbers are allowed as constants, not {node.value!r}")
            node.value = float(node.value)
        elif isinstance(node, ast.Call):
            _check_call(node)
            called.add(id(node.func))
        elif isinstance(node, ast.Name):
            match = VARIABLE.fullmatch(node.id)
            if match:
                variables.add(int(match.group(1)))
            elif node.id in FUNCTIONS and id(node) not in called:
                raise ExpressionError(
                    f"{node.id!r} is a function, not a value: call it, e.g. {node.id}(x1)")
            elif node.id not in CONSTANTS and node.id not in FUNCTIONS:
                raise ExpressionError(
                    f"unknown name {node.id!r}: variables are x1, x2, ...; constants pi, e; "
                    f"functions {', '.join(sorted(FUNCTIONS))}"
                )
    return variables


def _not_allowed(node) -> ExpressionError:
    hint = _HINTS.get(type(node), "only numbers, x1..xn, + - * / ** @ and functions "
                      f"({', '.join(sorted(FUNCTIONS))}) are allowed")
    return ExpressionError(f"{type(node).__name__} is not allowed in a formula: {hint}")


def _check_call(node) -> None:
    """A call must name a known function, without keywords, with its number of arguments."""
    if not isinstance(node.func, ast.Name):
        if not isinstance(node.func, _ALLOWED):
            raise _not_allowed(node.func)
        raise ExpressionError(f"call functions by name, not {ast.unparse(node.func)!r}")
    name = node.func.id
    if name not in FUNCTIONS:
        raise ExpressionError(
            f"{name!r} is not a known function; use one of {', '.join(sorted(FUNCTIONS))}"
        )
    if node.keywords:
        raise ExpressionError(f"{name}() takes no keyword arguments here")
    arity = _arity(FUNCTIONS[name])
    if len(node.args) != arity:
        raise ExpressionError(
            f"{name}() takes {arity} argument{'s' if arity > 1 else ''}, got {len(node.args)}"
        )


def _shown(text: str, limit: int = 60) -> str:
    """``text`` quoted for an error message, cut to ``limit`` characters."""
    return repr(text if len(text) <= limit else text[:limit - 3] + "...")


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
        raise ExpressionError(f"cannot parse {_shown(text)}: {error.msg}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(_TOO_DEEP) from None
    used = max(_check(tree), default=0)
    n = used if n_inputs is None else int(n_inputs)
    if n < 1:
        raise ExpressionError(f"the formula {_shown(text)} uses no variable x1, x2, ...")
    if used > n:
        raise ExpressionError(
            f"the formula uses x{used} but only {n} value(s) were given; give one value per "
            "variable x1..xn"
        )
    try:
        code = compile(tree, "<formula>", "eval")
    except (RecursionError, MemoryError):
        raise ExpressionError(_TOO_DEEP) from None
    names = ["x" + str(i) for i in range(1, n + 1)]

    def formula(*xs):
        if len(xs) != n:
            raise TypeError(f"the formula takes {n} argument(s) ({', '.join(names)})")
        scope = {**FUNCTIONS, **CONSTANTS, **dict(zip(names, xs))}
        return eval(code, {"__builtins__": {}}, scope)  # noqa: S307 -- tree checked above

    formula.__name__ = "formula"
    formula.__doc__ = text
    return formula, n
