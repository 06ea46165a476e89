"""The ``autodiff`` command line (also ``python -m autodiff``).

Each sub-command is a :class:`Command`: a name, a one-line help, a function that adds its
arguments to an :mod:`argparse` parser, and a function that runs it and returns the exit status.
:data:`COMMANDS` lists them in the order ``autodiff --help`` shows; a new sub-command is one more
``Command`` in that tuple (its functions may live in another module).

* ``autodiff trace [FORMULA] [--at X1 X2 ...]`` -- the survey's evaluation trace (forward primal,
  forward tangent, reverse adjoint) of ``ln x1 + x1·x2 − sin x2`` at (2, 5) by default.
* ``autodiff compare [--sizes N ...]`` -- forward vs reverse Jacobian cost over the family
  ``f(x) = tanh(A x)``, ``f: R^n -> R^m``, showing where the faster mode changes.
* ``autodiff train [--optimizer NAME] [--lr LR] ...`` -- an MLP on the built-in UCI digits with
  a progress bar, validation and test accuracy (:mod:`autodiff.nn.train_cli`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable

from .nn.train_cli import configure_train_parser, run_train

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
        "formula", nargs="?", default=SURVEY_FORMULA,
        help=f"a formula in x1, x2, ... (default: the survey's {SURVEY_FORMULA!r}); numbers, "
        "+ - * / **, and functions such as sin, cos, exp, log (ln), sqrt, tanh",
    )
    parser.add_argument(
        "--at", nargs="+", type=float, metavar="X",
        help="the point: one value per variable (default 2 5 for the survey's formula)",
    )
    parser.add_argument(
        "--wrt", type=int, default=1, metavar="I",
        help="the tangent trace's input direction: x_I has tangent 1, the others 0 (default 1)",
    )
    parser.add_argument("--precision", type=int, default=3, help="decimals shown (default 3)")
    parser.add_argument(
        "--graph", action="store_true",
        help="print the computation graph as Graphviz DOT text instead of the tables",
    )


def _run_trace(args: argparse.Namespace) -> int:
    from .inspection import graph, trace
    from .inspection.expression import parse_expression

    point = args.at
    if point is None:
        if args.formula != SURVEY_FORMULA:
            raise ValueError("give the point for this formula with --at, one value per variable")
        point = SURVEY_POINT
    f, n = parse_expression(args.formula, n_inputs=len(point))
    if not 1 <= args.wrt <= n:
        raise ValueError(f"--wrt {args.wrt} is not a variable number: the formula has x1..x{n}")
    if args.graph:
        print(graph(f, *point, precision=args.precision), end="")
        return 0
    print(f"f(x) = {args.formula}   at   "
          + ", ".join(f"x{i} = {value:g}" for i, value in enumerate(point, start=1)))
    print()
    print(trace(f, *point, direction=args.wrt - 1, precision=args.precision))
    return 0


# ----------------------------------------------------------------------------------------------
# autodiff compare
# ----------------------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _configure_compare(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes", nargs="+", type=_positive_int, default=[1, 10, 100, 300], metavar="N",
        help="input and output sizes n and m to combine (default 1 10 100 300)",
    )
    parser.add_argument(
        "--inputs", nargs="+", type=_positive_int, metavar="N",
        help="input sizes n (default: --sizes)",
    )
    parser.add_argument(
        "--outputs", nargs="+", type=_positive_int, metavar="M",
        help="output sizes m (default: --sizes)",
    )
    parser.add_argument(
        "--repeat", type=_positive_int, default=3, help="timing samples per mode (the best is shown)"
    )


def _run_compare(args: argparse.Namespace) -> int:
    from .inspection import compare_grid

    ns = args.inputs or args.sizes
    ms = args.outputs or args.sizes
    print("f: R^n -> R^m, f(x) = tanh(A x): forward mode needs n directions, reverse mode m.")
    print()
    print(compare_grid(ns, ms, repeat=args.repeat))
    return 0


COMMANDS: tuple[Command, ...] = (
    Command("trace", "print the evaluation trace: forward primal, forward tangent, reverse "
            "adjoint", _configure_trace, _run_trace),
    Command("compare", "forward vs reverse Jacobian cost over f: R^n -> R^m (the crossover)",
            _configure_compare, _run_compare),
    Command("train", "train an MLP on the built-in digits with a chosen optimizer; report the "
            "test accuracy", configure_train_parser, run_train),
)


def build_parser(commands=COMMANDS) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autodiff",
        description="Automatic differentiation for NumPy: inspect forward and reverse mode.",
    )
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
    except ValueError as error:  # bad formula, point or sizes: a message, not a traceback
        parser.exit(2, f"autodiff {args.command}: error: {error}\n")
