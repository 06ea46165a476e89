"""Inspection: the evaluation trace of Baydin et al., the DOT graph, forward-vs-reverse
comparison, and the safe formula parser behind ``autodiff trace``.

The example of Baydin, Pearlmutter, Radul and Siskind, "Automatic differentiation in machine
learning: a survey" (JMLR 18(153), 2018, sec. 3) is ``y = ln x1 + x1·x2 − sin x2`` at ``(2, 5)``;
its numbers below are written out from their Tables 2 and 3, not computed by the library.
"""

import doctest
import math
import re
import unicodedata

import numpy as np
import pytest

import autodiff as ad
from autodiff.inspection import comparison, dot_graph, expression, trace_sweeps
from autodiff.inspection.comparison import Comparison, compare_grid, tanh_layer
from autodiff.inspection.expression import ExpressionError, parse_expression
from autodiff.inspection.notation import format_number, format_value


def nfc(text: str) -> str:
    """Compare text with combining marks (v̇, ȳ) independently of how the source spells them."""
    return unicodedata.normalize("NFC", text)


def survey(x1, x2):
    return np.log(x1) + x1 * x2 - np.sin(x2)


@pytest.fixture(scope="module")
def survey_trace():
    return ad.trace(survey, 2.0, 5.0)


# --------------------------------------------------------------------------------------------
# Baydin et al.'s three tables
# --------------------------------------------------------------------------------------------

# index: (expression, value, tangent with ẋ1 = 1, adjoint), from Baydin et al.'s Tables 2 and 3
SURVEY_ROWS = {
    -1: ("x1", 2.0, 1.0, 5.5),
    0: ("x2", 5.0, 0.0, 2.0 - math.cos(5.0)),
    1: ("ln v-1", math.log(2.0), 0.5, 1.0),
    2: ("v-1 × v0", 10.0, 5.0, 1.0),
    3: ("sin v0", math.sin(5.0), 0.0, -1.0),
    4: ("v1 + v2", math.log(2.0) + 10.0, 5.5, 1.0),
    5: ("v4 − v3", math.log(2.0) + 10.0 - math.sin(5.0), 5.5, 1.0),
}


@pytest.mark.parametrize("index", sorted(SURVEY_ROWS))
def test_survey_rows_match_the_seed(survey_trace, index):
    _, value, tangent, adjoint = SURVEY_ROWS[index]
    row = survey_trace.row(index)
    assert row.value == pytest.approx(value, rel=1e-14)
    assert row.tangent == pytest.approx(tangent, rel=1e-14, abs=1e-15)
    assert row.adjoint == pytest.approx(adjoint, rel=1e-14)


@pytest.mark.parametrize("index", [i for i in SURVEY_ROWS if i > 0])
def test_survey_rows_are_labelled_like_the_seed(survey_trace, index):
    text = str(survey_trace)
    assert re.search(rf"^v{index}\s+= {re.escape(SURVEY_ROWS[index][0])} ", text, re.M), text


@pytest.mark.parametrize(
    "line",
    [
        r"^y\s+= v5\s+= 11\.652$",
        r"^ẏ\s+= v̇5\s+= 5\.5$",
        r"^v̄5\s+= ȳ\s+= 1$",
        r"^v̄4\s+= v̄5 · ∂v5/∂v4 .*= 1$",
        r"^v̄3\s+= v̄5 · ∂v5/∂v3 .*= -1$",
        r"^v̄0\s+= v̄3 · ∂v3/∂v0 .*= -0\.284$",
        r"^v̄-1\s+= v̄2 · ∂v2/∂v-1 .*= 5$",
        r"^v̄0\s+= v̄0 \+ v̄2 · ∂v2/∂v0\s+= -0\.284 \+ 1 × 2\s+= 1\.716$",
        r"^v̄-1\s+= v̄-1 \+ v̄1 · ∂v1/∂v-1\s+= 5 \+ 1 × 0\.5\s+= 5\.5$",
        r"^x̄1\s+= v̄-1\s+= 5\.5$",
        r"^x̄2\s+= v̄0\s+= 1\.716$",
        r"^v̇2\s+= ∂v2/∂v-1 · v̇-1 \+ ∂v2/∂v0 · v̇0\s+= 5 × 1 \+ 2 × 0\s+= 5$",
        r"^v5\s+= v4 − v3\s+= 10\.693 − \(-0\.959\)\s+= 11\.652$",
    ],
)
def test_survey_tables_print_the_seed_digits(survey_trace, line):
    assert re.search(nfc(line), nfc(str(survey_trace)), re.M), str(survey_trace)


def test_survey_summary_values(survey_trace):
    assert survey_trace.value == pytest.approx(11.652071455223084)
    assert survey_trace.tangent == 5.5
    assert survey_trace.input_adjoints == pytest.approx((5.5, 2.0 - math.cos(5.0)))


def test_adjoint_sweep_runs_in_the_seed_order(survey_trace):
    order = [(s.source, s.target) for s in survey_trace.steps]
    assert order == [(5, 4), (5, 3), (4, 1), (4, 2), (3, 0), (2, -1), (2, 0), (1, -1)]
    firsts = [s for s in survey_trace.steps if s.before is None]
    assert {s.target for s in firsts} == {4, 3, 1, 2, 0, -1}


def test_local_partials_from_jvp_and_vjp_agree(survey_trace):
    for step in survey_trace.steps:
        row = survey_trace.row(step.source)
        slot = row.operands.index(step.target)
        assert step.partial == pytest.approx(row.partials[slot], rel=1e-15)


@pytest.mark.parametrize("method", ["_repr_html_", "_repr_markdown_"])
def test_notebook_renderings_carry_the_three_tables(survey_trace, method):
    text = getattr(survey_trace, method)()
    for title in ("Forward primal trace", "Forward tangent trace", "Reverse adjoint trace"):
        assert title in text
    assert "v<sub>-1</sub>" in text and "11.652" in text and "1.716" in text


# --------------------------------------------------------------------------------------------
# the trace agrees with the transforms on other functions
# --------------------------------------------------------------------------------------------

CASES = [
    (lambda x, y: x * np.exp(-y) / (1.0 + x**2), (0.7, -1.3)),
    (lambda x: np.tanh(np.tanh(np.tanh(x))), (0.4,)),
    (lambda x: x * x * x, (1.5,)),  # one variable used by several operations
    (lambda x, W: np.sum(np.tanh(W @ x) ** 2), (np.array([0.5, -1.0, 2.0]),
                                                np.arange(6.0).reshape(2, 3) / 6)),
    (lambda x: np.maximum(x[0], x[1]) * np.sqrt(x[2]), (np.array([1.0, 3.0, 4.0]),)),
    (lambda x: np.sum(x[1:] * np.cumsum(x)[:-1]), (np.array([0.5, 1.5, -2.0, 1.0]),)),
]


def _flat(values):
    return np.concatenate([np.ravel(v) for v in values])


@pytest.mark.parametrize("f, args", CASES)
@pytest.mark.parametrize("direction", [0, 2])
def test_tangent_column_is_the_jvp(f, args, direction):
    size = sum(np.size(a) for a in args)
    direction = direction % size
    t = ad.trace(f, *args, direction=direction)
    unit = np.eye(size)[direction]
    tangents, offset = [], 0
    for a in args:
        tangents.append(unit[offset:offset + np.size(a)].reshape(np.shape(a)))
        offset += np.size(a)
    tangents = [float(v) if np.ndim(a) == 0 else v for a, v in zip(args, tangents)]
    value, tangent = ad.jvp(f, tuple(args), tuple(tangents))
    assert t.value == pytest.approx(value, rel=1e-13)
    assert t.tangent == pytest.approx(tangent, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("f, args", CASES)
def test_adjoint_column_is_the_gradient(f, args):
    t = ad.trace(f, *args)
    gradient = ad.grad(f, argnums=tuple(range(len(args))))(*args)
    np.testing.assert_allclose(_flat(t.input_adjoints), _flat(gradient), rtol=1e-12, atol=1e-14)


def test_adjoint_column_is_the_engines_own_sweep(monkeypatch):
    """The trace reads reverse mode's sweep through its per-node hook: one sweep, same numbers.

    Before, the trace ran an adjoint loop of its own over the tape's private fields.
    """
    sweeps = []
    engine = trace_sweeps.backward_pass

    def counted(*args, **kwargs):
        sweeps.append(kwargs.get("on_node"))
        return engine(*args, **kwargs)

    monkeypatch.setattr(trace_sweeps, "backward_pass", counted)

    def f(x, y):
        shared = np.sin(x) * y
        return shared * shared + np.exp(shared) * x

    t = ad.trace(f, 0.7, -1.3)
    assert len(sweeps) == 1 and sweeps[0] is not None
    assert t.input_adjoints == ad.grad(f, argnums=(0, 1))(0.7, -1.3)  # bit for bit
    for step in t.steps:  # each update's contribution is the source's adjoint times its partial
        source = t.row(step.source)
        assert step.contribution == pytest.approx(source.adjoint * step.partial, rel=1e-15)


def test_explicit_direction_and_cotangent_for_a_vector_output():
    A = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]])
    x = np.array([0.3, -0.2])
    v = np.array([1.0, 2.0])
    u = np.array([1.0, 0.0, -2.0])
    t = ad.trace(lambda x: np.sin(A @ x), x, direction=[v], cotangent=u)
    np.testing.assert_allclose(t.tangent, ad.jvp(lambda x: np.sin(A @ x), x, v)[1])
    np.testing.assert_allclose(t.input_adjoints[0], ad.vjp(lambda x: np.sin(A @ x), x)[1](u))


def test_several_outputs_and_a_constant_output():
    t = ad.trace(lambda x, y: (x * y, 3.0), 2.0, 4.0, cotangent=(1.0, 1.0))
    assert t.value == (8.0, 3.0)
    assert t.tangent == (4.0, 0.0)
    assert t.input_adjoints == (4.0, 2.0)
    assert "y2" in str(t) and nfc("ȳ1 = 1") in nfc(str(t))


def test_a_long_chain_needs_no_recursion():
    def chain(y):
        for _ in range(3000):
            y = np.sin(y) / 2.0 + y / 2.0
        return y

    t = ad.trace(chain, 0.3)
    assert len(t.rows) == 1 + 4 * 3000  # sin, two divisions, add
    assert t.input_adjoints[0] == pytest.approx(ad.grad(chain)(0.3), rel=1e-12)


@pytest.mark.parametrize(
    "kwargs, args, error, match",
    [
        ({"direction": 5}, (1.0, 2.0), ValueError, "not an input coordinate"),
        ({"direction": 1.0}, (1.0, 2.0), TypeError, "direction must be"),
        ({"direction": [1.0]}, (1.0, 2.0), TypeError, "one tangent per"),
        ({"direction": [np.ones(3), 1.0]}, (1.0, 2.0), ValueError, "shape"),
        ({"cotangent": np.ones(3)}, (1.0, 2.0), ValueError, "shape"),
        ({}, (1, 2.0), TypeError, "floating-point"),
    ],
)
def test_bad_trace_arguments_raise_with_the_cause(kwargs, args, error, match):
    with pytest.raises(error, match=match):
        ad.trace(lambda x, y: x * y, *args, **kwargs)


def test_a_vector_output_needs_a_cotangent():
    with pytest.raises(ValueError, match="cotangent="):
        ad.trace(lambda x: x * 2.0, np.ones(2))


def test_no_input_is_an_error():
    with pytest.raises(ValueError, match="at least one input"):
        ad.trace(lambda: 1.0)


# --------------------------------------------------------------------------------------------
# the DOT graph
# --------------------------------------------------------------------------------------------


def test_graph_is_dot_with_one_node_per_variable_and_an_edge_per_operand():
    dot = ad.graph(survey, 2.0, 5.0)
    assert dot.startswith("digraph autodiff {") and dot.rstrip().endswith("}")
    nodes = dict(re.findall(r"^  (\w+) \[label=\"([^\"]*)\"", dot, re.M))
    assert set(nodes) == {"v_m1", "v0", "v1", "v2", "v3", "v4", "v5"}
    edges = re.findall(r"^  (\w+) -> (\w+)", dot, re.M)
    assert sorted(edges) == sorted([("v_m1", "v1"), ("v_m1", "v2"), ("v0", "v2"), ("v0", "v3"),
                                    ("v1", "v4"), ("v2", "v4"), ("v4", "v5"), ("v3", "v5")])
    assert nodes["v3"] == "v3 = sin\\nvalue -0.959\\nadjoint -1"
    assert "adjoint 1.716" in nodes["v0"] and "adjoint 5.5" in nodes["v_m1"]
    assert "(y)" in nodes["v5"]


def test_graph_shows_constants_as_their_own_nodes():
    dot = ad.graph(lambda x: 3.0 * x, 2.0)
    assert re.search(r'^  c1 \[label="3"', dot, re.M) and "c1 -> v1" in dot


# --------------------------------------------------------------------------------------------
# forward vs reverse
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, m", [(6, 2), (2, 6), (3, 3)])
def test_compare_counts_sizes_primitives_and_tape(n, m):
    f, x = tanh_layer(n, m)
    c = ad.compare(f, x, repeat=1)
    assert (c.n_inputs, c.n_outputs) == (n, m)
    assert (c.forward_passes, c.reverse_passes) == (n, m)
    assert c.primitives == 2  # matmul, tanh
    # saved: A (m×n), x (n), A x (m), tanh(A x) (m); each array counted once
    assert c.tape_bytes == 8 * (m * n + n + m + m)
    assert c.max_difference < 1e-14
    assert c.by_passes == ("forward" if n <= m else "reverse")
    assert c.forward_seconds > 0 and c.reverse_seconds > 0
    assert f"R^{n} -> R^{m}" in str(c) and "recommended:" in str(c)


@pytest.mark.parametrize(
    "n, m, forward, reverse, expected",
    [
        (10, 2, 1.0, 2.0, "forward"),  # measured faster wins over the pass count
        (2, 10, 2.0, 1.0, "reverse"),
        (10, 2, 1.0, 1.05, "reverse"),  # a tie: fewer passes decide
        (2, 10, 1.05, 1.0, "forward"),
    ],
)
def test_recommendation_rule(n, m, forward, reverse, expected):
    c = Comparison(n, m, 2, 100, forward, reverse, 0.0, 1)
    assert c.recommended == expected
    assert ("within" in c.reason) == (abs(forward - reverse) <= 0.1 * min(forward, reverse))


def test_compare_grid_tabulates_every_size_and_the_crossover():
    grid = compare_grid([1, 4], [2, 3], repeat=1)
    assert set(grid.results) == {(1, 2), (1, 3), (4, 2), (4, 3)}
    text = str(grid)
    assert "Faster mode by size" in text
    assert re.search(r"^n = 4\s+[FR]\s+[FR]$", text, re.M), text
    assert "<table>" in grid._repr_html_()


@pytest.mark.parametrize("bad", [{"repeat": 0}])
def test_compare_rejects_bad_arguments(bad):
    with pytest.raises(ValueError, match="repeat"):
        ad.compare(np.sin, np.ones(2), **bad)


def test_compare_grid_rejects_empty_sizes():
    with pytest.raises(ValueError, match="sizes"):
        compare_grid([], [1])


# --------------------------------------------------------------------------------------------
# number formatting and the formula parser
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x, text",
    [(11.652071455, "11.652"), (5.5, "5.5"), (10.0, "10"), (-0.28366, "-0.284"),
     (-1e-9, "-1e-09"), (0.0, "0"), (-0.0001, "-0.0001"), (2.5e7, "2.5e+07"),
     (float("nan"), "nan")],
)
def test_numbers_print_to_the_seed_digits(x, text):
    assert format_number(x) == text


def test_large_arrays_print_by_shape():
    assert format_value(np.zeros((3, 4))) == "[3×4 array]"
    assert format_value(np.array([1.0, 0.5])) == "[1, 0.5]"


@pytest.mark.parametrize(
    "formula, point, value",
    [
        ("ln(x1) + x1*x2 - sin(x2)", (2.0, 5.0), math.log(2) + 10 - math.sin(5)),
        ("x1**2 / 3", (3.0,), 3.0),
        ("-x1 + pi * e", (1.0,), -1 + math.pi * math.e),
        ("sqrt(hypot(x1, x2))", (3.0, 4.0), math.sqrt(5.0)),
        ("sigmoid(x2) * 0 + x1", (1.0, 7.0), 1.0),
    ],
)
def test_formulas_parse_to_numpy_functions(formula, point, value):
    f, n = parse_expression(formula, n_inputs=len(point))
    assert n == len(point)
    assert f(*point) == pytest.approx(value, rel=1e-14)


@pytest.mark.parametrize(
    "formula, match",
    [
        ("__import__('os').system('true')", "Attribute"),
        ("__import__('os')", "not a known function"),
        ("x1.real", "Attribute"),
        ("np.sin(x1)", "Attribute"),
        ("x1[0]", "Subscript"),
        ("(lambda: 1)()", "Lambda"),
        ("[x1 for x1 in ()]", "ListComp"),
        ("'a' * 3", "real numbers"),
        ("x1 ^ 2", r"use \*\*"),
        ("sin(x1, out=x1)", "keyword"),
        ("open('f')", "not a known function"),
        ("y + 1", "unknown name 'y'"),
        ("x0 * 2", "unknown name 'x0'"),
        ("x3 * x1", "uses x3"),
        ("(x1 := 2)", "NamedExpr"),
        ("1j * x1", "real numbers"),
        ("x1 +", "cannot parse"),
        ("x1 + " * 1000 + "x1", "longer than"),
    ],
)
def test_unsafe_or_unknown_formulas_are_refused(formula, match):
    with pytest.raises(ExpressionError, match=match):
        parse_expression(formula, n_inputs=2)


def test_a_formula_needs_a_variable():
    with pytest.raises(ExpressionError, match="no variable"):
        parse_expression("1 + 2")


def test_integer_powers_become_float_so_they_cannot_blow_up():
    f, _ = parse_expression("9**9**9 + x1", n_inputs=1)
    with pytest.raises(OverflowError):
        f(1.0)


@pytest.mark.parametrize("module", [trace_sweeps, dot_graph, comparison, expression])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
