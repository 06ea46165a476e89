"""The ``autodiff`` command line (also ``python -m autodiff``).

Each sub-command is a :class:`Command`: a name, a one-line help, a function that adds its
arguments to an :mod:`argparse` parser, and a function that runs it and returns the exit status.
:data:`COMMANDS` lists them in the order ``autodiff --help`` shows; a new sub-command is one more
``Command`` in that tuple (its functions may live in another module).

* ``autodiff trace [FORMULA] [--at X1 X2 ...]`` -- the evaluation trace (forward primal,
  forward tangent, reverse adjoint) of ``ln x1 + x1·x2 − sin x2`` at (2, 5) by default, the
  example of Baydin et al. 2018, "Automatic differentiation in machine learning: a survey",
  Tables 2 and 3.
* ``autodiff compare [--sizes N ...]`` -- forward vs reverse Jacobian cost over the family
  ``f(x) = tanh(A x)``, ``f: R^n -> R^m``, showing where the faster mode changes.
* ``autodiff train [--optimizer NAME] [--lr LR] ...`` -- an MLP on the built-in UCI digits with
  a progress bar, validation and test accuracy (:mod:`autodiff.nn.train_cli`).

Bad input (an option's value, a formula, a point, an output path) ends the command with one
line ``autodiff COMMAND: error: argument OPTION: ...`` and exit status 2, as argparse's own
usage errors do; ``autodiff --version`` prints the version.
"""

from __future__ import annotations

import argparse
import importlib.metadata
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .nn.train_cli import configure_train_parser, run_train
from .validation import argparse_type, nonnegative_int, positive_int, real

__all__ = ["Command", "COMMANDS", "build_parser", "main"]

SURVEY_FORMULA = "ln(x1) + x1*x2 - sin(x2)"
SURVEY_POINT = (2.0, 5.0)


@dataclass(frozen=True)
class Command:
    """One sub-command: ``configure(parser)`` adds its arguments, ``run(args)`` returns the
    exit status."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# ----------------------------------------------------------------------------------------------
# autodiff trace
# ----------------------------------------------------------------------------------------------


def _configure_trace(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "formula", nargs="?", default=SURVEY_FORMULA, metavar="FORMULA",
        help=f"a formula in x1, x2, ... (default: {SURVEY_FORMULA!r}, the example of Baydin "
        "et al. 2018, Table 2); numbers, + - * / **, and functions such as sin, cos, exp, "
        "log (ln), sqrt, tanh",
    )
    parser.add_argument(
        "--at", nargs="+", type=argparse_type(real, "at", float), metavar="X",
        help="the point: one value per variable x1..xn (default 2 5 for the default formula)",
    )
    parser.add_argument(
        "--wrt", type=argparse_type(positive_int, "wrt"), default=1, metavar="I",
        help="the tangent trace's input direction: x_I has tangent 1, the others 0 (default 1)",
    )
    parser.add_argument("--precision", type=argparse_type(nonnegative_int, "precision"),
                        default=3, help="decimals shown (default 3)")
    parser.add_argument(
        "--graph", action="store_true",
        help="print the computation graph as Graphviz DOT text instead of the tables",
    )


def _variables(n: int) -> str:
    return "x1" if n == 1 else f"x1..x{n}"


def _trace_point(args: argparse.Namespace, n: int) -> tuple[float, ...]:
    """The ``--at`` values, exactly one per variable ``x1..xn`` of the formula."""
    variables = _variables(n)
    if args.at is None:
        if args.formula != SURVEY_FORMULA:
            raise ValueError(f"argument --at: give the point, one value per variable {variables} "
                             f"({n} value{'s' if n > 1 else ''})")
        return SURVEY_POINT
    if len(args.at) != n:
        raise ValueError(f"argument --at: got {len(args.at)} value(s), but the formula uses "
                         f"{variables}: give {n}")
    return tuple(args.at)


def _run_trace(args: argparse.Namespace) -> int:
    from .inspection import graph, trace
    from .inspection.expression import parse_expression

    try:
        f, n = parse_expression(args.formula)
    except ValueError as error:
        raise ValueError(f"argument FORMULA: {error}") from None
    point = _trace_point(args, n)
    if args.wrt > n:
        raise ValueError(f"argument --wrt: the formula has no x{args.wrt}, only {_variables(n)}")
    shown_point = ", ".join(f"x{i} = {value:g}" for i, value in enumerate(point, start=1))
    try:  # evaluate everything before printing anything
        with np.errstate(all="ignore"):  # inf and nan show in the tables themselves
            if args.graph:
                output = graph(f, *point, precision=args.precision)
            else:
                tables = trace(f, *point, direction=args.wrt - 1, precision=args.precision)
                output = f"f(x) = {args.formula}   at   {shown_point}\n\n{tables}\n"
    except (ArithmeticError, ValueError, TypeError) as error:
        raise ValueError(f"argument FORMULA: cannot be evaluated at {shown_point}: "
                         f"{type(error).__name__}: {error}") from None
    print(output, end="")
    return 0


# ----------------------------------------------------------------------------------------------
# autodiff compare
# ----------------------------------------------------------------------------------------------


_POSITIVE_SIZE = argparse_type(positive_int, "size")


def _configure_compare(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes", nargs="+", type=_POSITIVE_SIZE, default=[1, 10, 100, 300], metavar="N",
        help="input and output sizes n and m to combine (default 1 10 100 300)",
    )
    parser.add_argument(
        "--inputs", nargs="+", type=_POSITIVE_SIZE, metavar="N",
        help="input sizes n (default: --sizes)",
    )
    parser.add_argument(
        "--outputs", nargs="+", type=_POSITIVE_SIZE, metavar="M",
        help="output sizes m (default: --sizes)",
    )
    parser.add_argument(
        "--repeat", type=argparse_type(positive_int, "repeat"), default=3,
        help="timing samples per mode (the best is shown)"
    )
    parser.add_argument(
        "--no-jit", dest="jit", action="store_false",
        help="time the eager Jacobians only (no compiled columns)",
    )


def _run_compare(args: argparse.Namespace) -> int:
    from .inspection import compare_grid

    ns = args.inputs or args.sizes
    ms = args.outputs or args.sizes
    print("f: R^n -> R^m, f(x) = tanh(A x): forward mode needs n directions, reverse mode m.")
    print()
    print(compare_grid(ns, ms, repeat=args.repeat, jit=args.jit))
    return 0


COMMANDS: tuple[Command, ...] = (
    Command("trace", "print the evaluation trace: forward primal, forward tangent, reverse "
            "adjoint", _configure_trace, _run_trace),
    Command("compare", "forward vs reverse Jacobian cost over f: R^n -> R^m (the crossover)",
            _configure_compare, _run_compare),
    Command("train", "train an MLP on the built-in digits with a chosen optimizer; report the "
            "test accuracy", configure_train_parser, run_train),
)


def _version() -> str:
    """The installed distribution's version, else the package's ``__version__``."""
    try:
        return importlib.metadata.version("autodiff")
    except importlib.metadata.PackageNotFoundError:
        from . import __version__

        return __version__


def build_parser(commands=COMMANDS) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autodiff",
        description="Automatic differentiation for NumPy: inspect forward and reverse mode.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in commands:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.configure(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``autodiff`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ValueError as error:  # bad input found while running: one line, as argparse's own
        parser.exit(2, f"autodiff {args.command}: error: {error}\n")
