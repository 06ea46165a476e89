"""The ``autodiff`` command line: sub-commands, Baydin et al.'s trace by default (JMLR 2018,
Tables 2 and 3), safe formulas."""

import argparse
import importlib.metadata
import math
import re
import subprocess
import sys
import unicodedata

import pytest

import autodiff
from autodiff import cli


def run(capsys, *argv):
    status = cli.main(list(argv))
    out = capsys.readouterr().out
    return status, unicodedata.normalize("NFC", out)


def nfc(text):
    return unicodedata.normalize("NFC", text)


def six_decimals(x):
    return re.escape(f"{x:.6f}".rstrip("0").rstrip("."))


def test_help_lists_the_sub_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in ("trace", "compare"):
        assert re.search(rf"^\s+{name}\s", out, re.M), out


def test_a_sub_command_is_required(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([])
    assert exit_info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


@pytest.mark.parametrize(
    "line",
    [
        r"^v1\s+= ln v-1\s+= ln 2\s+= 0\.693$",
        r"^v2\s+= v-1 × v0\s+= 2 × 5\s+= 10$",
        r"^v3\s+= sin v0\s+= sin 5\s+= -0\.959$",
        r"^y\s+= v5\s+= 11\.652$",
        r"^ẏ\s+= v̇5\s+= 5\.5$",
        r"^v̄3\s+= v̄5 · ∂v5/∂v3 .*= -1$",
        r"^x̄1\s+= v̄-1\s+= 5\.5$",
        r"^x̄2\s+= v̄0\s+= 1\.716$",
    ],
)
def test_trace_defaults_to_the_survey_example(capsys, line):
    status, out = run(capsys, "trace")
    assert status == 0
    assert re.search(nfc(line), out, re.M), out


def test_trace_prints_all_three_tables(capsys):
    _, out = run(capsys, "trace")
    titles = ["Forward primal trace", "Forward tangent trace", "Reverse adjoint trace"]
    positions = [out.index(title) for title in titles]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    "argv, tangent, adjoints",
    [
        (["x1*sin(x2)", "--at", "1", "2"], math.sin(2.0), (math.sin(2.0), math.cos(2.0))),
        (["x1*sin(x2)", "--at", "1", "2", "--wrt", "2"], math.cos(2.0),
         (math.sin(2.0), math.cos(2.0))),
        (["exp(x1) / x1", "--at", "-0.5"], math.exp(-0.5) * (1 / -0.5 - 1 / 0.25),
         (math.exp(-0.5) * (1 / -0.5 - 1 / 0.25),)),
    ],
)
def test_trace_takes_a_formula_and_a_point(capsys, argv, tangent, adjoints):
    status, out = run(capsys, "trace", *argv, "--precision", "6")
    assert status == 0
    assert re.search(nfc(rf"^ẏ\s+= \S+\s+= {six_decimals(tangent)}$"), out, re.M), out
    for i, adjoint in enumerate(adjoints, start=1):
        assert re.search(nfc(rf"^x̄{i}\s+= \S+\s+= {six_decimals(adjoint)}$"), out, re.M), out


def test_trace_graph_prints_dot(capsys):
    status, out = run(capsys, "trace", "--graph")
    assert status == 0
    assert out.startswith("digraph autodiff {") and "adjoint 1.716" in out


LONG_SUM = "+".join(["x1"] * 500)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["x1 ^ 2", "--at", "1"], r"FORMULA: .*use \*\*"),
        (["__import__('os').system('echo hacked')", "--at", "1"], "FORMULA: Attribute"),
        (["+" * 1990 + "x1", "--at", "1"], "FORMULA: the formula is nested too deeply"),
        (["9**9**9**9 + x1", "--at", "1"],
         "FORMULA: cannot be evaluated at x1 = 1: OverflowError"),
        (["1/0 + x1", "--at", "1"], "FORMULA: cannot be evaluated at x1 = 1: ZeroDivisionError"),
        (["maximum(x1)", "--at", "1"], r"FORMULA: maximum\(\) takes 2 arguments, got 1"),
        (["sin(sin)", "--at", "1"], "FORMULA: 'sin' is a function, not a value"),
        (["sin(x1"], "FORMULA: cannot parse 'sin\\(x1'"),  # a formula error, not "give --at"
        (["x1 * x2"], r"--at: give the point, one value per variable x1..x2 \(2 values\)"),
        (["x1 * x3", "--at", "1", "2"], r"--at: got 2 value\(s\), but the formula uses x1..x3"),
        (["x1", "--at", "1", "2"], r"--at: got 2 value\(s\), but the formula uses x1: give 1"),
        (["x1", "--at", "one"], "--at: Invalid at: 'one'"),
        (["x1", "--at", "1", "--wrt", "2"], "--wrt: the formula has no x2, only x1$"),
        (["x1", "--at", "1", "--wrt", "0"], "--wrt: Invalid wrt: 0"),
        (["x1", "--at", "1", "--precision", "-2"], "--precision: Invalid precision: -2"),
    ],
    ids=["xor", "attribute", "too-deep", "overflow", "division", "arity", "function-value",
         "syntax-without-at", "no-at", "missing-at", "extra-at", "at-text", "wrt-range",
         "wrt-zero", "precision"],
)
def test_trace_errors_are_one_line_naming_the_option(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["trace", *argv])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert len(errors) == 1, captured.err
    assert re.search(rf"^autodiff trace: error: argument {message}", errors[0]), errors[0]


def test_a_long_sum_is_traced_not_a_recursion_error(capsys):
    status, out = run(capsys, "trace", LONG_SUM, "--at", "1")
    assert status == 0
    assert re.search(nfc(r"^x̄1\s+= \S+\s+= 500$"), out, re.M), out[-300:]


@pytest.mark.parametrize("installed, shown", [("9.9.9", "9.9.9"), (None, autodiff.__version__)])
def test_version_is_the_installed_one_else_the_packages(capsys, monkeypatch, installed, shown):
    def version(name):
        if installed is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return installed

    monkeypatch.setattr(importlib.metadata, "version", version)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"autodiff {shown}\n"


def test_compare_prints_the_grid_and_the_crossover(capsys):
    status, out = run(capsys, "compare", "--inputs", "1", "5", "--outputs", "2", "--repeat", "1")
    assert status == 0
    assert "jacfwd" in out and "jacrev" in out
    rows = re.findall(r"^(\d+)\s+(\d+)\s+2\s+", out, re.M)
    assert rows == [("1", "2"), ("5", "2")]
    assert re.search(r"^n = 5\s+[FR]$", out, re.M), out


@pytest.mark.parametrize("sizes", [["0"], ["-3"], ["x"], ["2.5"]])
def test_compare_rejects_sizes_that_are_not_positive_integers(capsys, sizes):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare", "--sizes", *sizes])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert re.search(rf"argument --sizes: Invalid size: '?{re.escape(sizes[0])}", error), error


def test_a_new_command_plugs_into_the_registry(capsys):
    def configure(parser):
        parser.add_argument("--epochs", type=int, default=1)

    def run_echo(args):
        print(f"epochs={args.epochs}")
        return 0

    commands = cli.COMMANDS + (cli.Command("echo", "a test command", configure, run_echo),)
    parser = cli.build_parser(commands)
    assert "echo" in parser.format_help()
    args = parser.parse_args(["echo", "--epochs", "3"])
    assert isinstance(args, argparse.Namespace)
    assert args.run(args) == 0
    assert capsys.readouterr().out == "epochs=3\n"


def test_python_dash_m_autodiff_runs_the_same_cli():
    result = subprocess.run(
        [sys.executable, "-m", "autodiff", "trace"], capture_output=True, text=True, check=True
    )
    assert "11.652" in result.stdout and "1.716" in result.stdout
