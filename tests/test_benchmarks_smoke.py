"""Smoke test of the benchmark harness (no timing assertions).

One quick run of two workloads with only the NumPy/Python and autodiff sides, through the real
command line (both allocator passes, each in its subprocess), checked for the rows and records
it must produce; plus the harness's statuses for sides that are missing, unavailable, failing or
wrong, and the analytic derivatives the benchmarks check the sides against.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import autodiff as ad
from benchmarks import anchors, problems
from benchmarks.harness import QUICK, Benchmark, Side, SideRunner, run_benchmark

REPO = Path(__file__).resolve().parent.parent

EXPECTED_ROWS = [
    ("jacobian tanh(A@x), n=10 -> m=1000", "hand NumPy Jacobian"),
    ("jacobian tanh(A@x), n=10 -> m=1000", "ad.jacfwd"),
    ("jacobian tanh(A@x), n=10 -> m=1000", "ad.jacrev"),
    ("jacobian tanh(A@x), n=1000 -> m=10", "ad.jacrev"),
    ("rosenbrock loop, 100 scalars: jvp", "loop on floats (value only)"),
    ("rosenbrock loop, 100 scalars: jvp", "ad.jvp (list of 100 floats)"),
    ("rosenbrock loop, 100 scalars: jvp", "ad.Dual objects by hand"),
    ("rosenbrock loop, 100 scalars: grad", "ad.grad (list of 100 floats)"),
    ("rosenbrock loop, 100 scalars: grad", "ad.Var leaves + backward()"),
]
UNSELECTED = [
    ("jacobian tanh(A@x), n=10 -> m=1000", "torch.func.jacfwd"),
    ("jacobian tanh(A@x), n=1000 -> m=10", "JAX jacrev (eager)"),
    ("rosenbrock loop, 100 scalars: grad", "micrograd Values"),
    ("rosenbrock loop, 100 scalars: grad", "autograd.grad"),
]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    env = dict(os.environ, OPENBLAS_CORETYPE="Haswell", OPENBLAS_L2_SIZE="262144")
    subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--only", "jacobian,rosenbrock_loop",
         "--libraries", "python,numpy,autodiff", "--allocators", "default,tuned",
         "--isolation", "library",  # the workloads' own choice is one process
         "--output", str(folder), "--name", "smoke"],
        cwd=REPO, env=env, check=True, capture_output=True, text=True,
    )
    record = json.loads((folder / "smoke.json").read_text(encoding="utf-8"))
    return record, (folder / "smoke.md").read_text(encoding="utf-8")


def _bench(record, bench_name):
    return next(b for b in record["benchmarks"] if b["name"] == bench_name)


def _side(record, bench_name, label):
    return next(s for s in _bench(record, bench_name)["sides"] if s["label"] == label)


@pytest.mark.parametrize("bench_name, passes", [
    ("jacobian tanh(A@x), n=10 -> m=1000", ["default", "tuned"]),
    ("rosenbrock loop, 100 scalars: grad", ["default"]),  # scalars: not re-run when tuned
])
def test_tuned_pass_reruns_only_workloads_with_large_arrays(smoke_run, bench_name, passes):
    assert _bench(smoke_run[0], bench_name)["passes_run"] == passes


@pytest.mark.parametrize("bench_name, label", EXPECTED_ROWS)
def test_selected_sides_are_measured(smoke_run, bench_name, label):
    record, text = smoke_run
    side = _side(record, bench_name, label)
    for label_of_pass in _bench(record, bench_name)["passes_run"]:
        stats = side["passes"][label_of_pass]
        assert stats["status"] == "ok", stats["detail"]
        assert stats["n"] == len(stats["samples"]) >= QUICK.heavy_repeats
        assert stats["q1"] <= stats["median"] <= stats["q3"]
    assert f"| {label} |" in text


@pytest.mark.parametrize("bench_name, label", UNSELECTED)
def test_unselected_anchors_are_reported_not_run(smoke_run, bench_name, label):
    record, text = smoke_run
    stats = _side(record, bench_name, label)["passes"]["default"]
    assert stats["status"] == "not selected" and "median" not in stats
    assert f"| {label} |" in text


@pytest.mark.parametrize("label, mmap_threshold", [("default", None), ("tuned", "33554432")])
def test_allocator_passes_set_only_their_variables(smoke_run, label, mmap_threshold):
    environment = smoke_run[0]["passes"][label]["environment"]
    assert environment["MALLOC_MMAP_THRESHOLD_"] == mmap_threshold
    assert environment["OPENBLAS_CORETYPE"] is None
    assert environment["OPENBLAS_L2_SIZE"] is None


@pytest.mark.parametrize("section", ["## Medians and ratios", "## Targets named by the issues",
                                     "| issue 2 | jacobian tanh(A@x), n=10 -> m=1000 |"])
def test_markdown_has_its_sections(smoke_run, section):
    assert section in smoke_run[1]


# ----------------------------------------------------------------------------------------------
# statuses of sides that cannot be timed
# ----------------------------------------------------------------------------------------------


def _unavailable():
    raise anchors.Unavailable("ad.something does not exist yet")


def _failing():
    def call():
        raise RecursionError("maximum recursion depth exceeded")

    return call


@pytest.mark.parametrize("side, status", [
    (Side("ghost", "ghost", lambda: (lambda: 1.0)), "not installed"),
    (Side("feature", "python", _unavailable), "not available"),
    (Side("recursive", "python", _failing), "error"),
    (Side("wrong", "python", lambda: (lambda: 2.0), expect=lambda: 1.0), "mismatch"),
    (Side("slow", "python", lambda: (lambda: 1.0), slow=True), "skipped"),
    (Side("right", "python", lambda: (lambda: 1.0), expect=lambda: 1.0), "ok"),
])
def test_side_status(monkeypatch, side, status):
    monkeypatch.setitem(anchors.LIBRARIES, "ghost", "no_module_named_like_this")
    bench = Benchmark("b", "0", "statuses", "right", (side,))
    runner = SideRunner([bench], QUICK)
    record = run_benchmark(bench, lambda library: runner, log=lambda message: None)
    assert record["sides"][0]["status"] == status
    assert ("median" in record["sides"][0]) == (status in ("ok", "mismatch"))


# ----------------------------------------------------------------------------------------------
# the analytic derivatives the sides are checked against
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("problem", problems.optimization_problems(quick=True)
                         + problems.optimization_problems(quick=False)[2:],
                         ids=lambda p: p.name)
def test_analytic_derivatives_match_autodiff(problem):
    f = problem.make(np)
    x = problem.x0 + 0.1 * np.random.default_rng(0).standard_normal(problem.x0.shape)
    v = np.random.default_rng(1).standard_normal(x.shape)
    np.testing.assert_allclose(problem.grad(x), ad.grad(f)(x), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(problem.hessp(x, v), ad.hvp(f, x, v), rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("steps", [1, 10, 200])
def test_chain_derivative_matches_autodiff(steps):
    expected = problems.chain_derivative(0.5, steps)
    assert ad.derivative(lambda y: problems.chain(y, steps, np.sin), 0.5) == pytest.approx(
        expected, rel=1e-12)
