"""``minimize`` and ``scipy_callables`` on plain functions of pytrees, differentiated by autodiff.

The solvers themselves are tested with analytic derivatives in ``test_optim_methods.py``; here
the subject is the adapter: raveling pytrees, the gradient, Hessian-vector products and dense
Hessians that ``ad.value_and_grad``, ``ad.hvp_operator`` and ``ad.hessian`` supply, and the
structure of what comes back.
"""

import numpy as np
import pytest
from scipy.optimize import minimize as scipy_minimize
from scipy.optimize import rosen, rosen_der, rosen_hess_prod

from autodiff.optim import ad_objective, minimize, scipy_callables
from autodiff.optim.ad_objective import autodiff_objective
from autodiff.flat import ravel_pytree
from optim_problems import extended_rosenbrock_problem

METHODS = ["newton-cg", "trust-ncg", "newton", "lbfgs", "cg", "gd"]
SECOND_ORDER = ["newton-cg", "trust-ncg", "newton", "lbfgs", "cg"]


def chained_rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def extended_rosenbrock(x):
    a, b = x[0::2], x[1::2]
    return np.sum(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2)


WEIGHTS = np.array([1.0, 4.0, 9.0])


def tree_objective(params):
    """A separable function of a mixed pytree; minimiser {"a": 1, "b": [0, 1, 2], "c": (-2, …)}."""
    a, b, (c0, c1) = params["a"], params["b"], params["c"]
    return ((a - 1.0) ** 2 + np.sum(WEIGHTS * (b - np.arange(3.0)) ** 2)
            + (c0 + 2.0) ** 2 + np.sum((c1 - 0.5) ** 2))


TREE_START = {"a": 3.0, "b": np.zeros(3), "c": (0.5, np.ones((2, 2)))}
TREE_MINIMUM = {"a": 1.0, "b": np.arange(3.0), "c": (-2.0, np.full((2, 2), 0.5))}


@pytest.mark.parametrize("method", METHODS)
def test_pytree_start_gives_pytree_result(method):
    result = minimize(tree_objective, TREE_START, method=method)
    assert result.success, result.message
    assert set(result.x) == {"a", "b", "c"}
    assert isinstance(result.x["a"], float) and isinstance(result.x["c"], tuple)
    assert result.x["b"].shape == (3,) and result.x["c"][1].shape == (2, 2)
    assert result.x["b"].dtype == np.float64
    assert result.x["a"] == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(result.x["b"], TREE_MINIMUM["b"], atol=1e-5)
    assert result.x["c"][0] == pytest.approx(-2.0, abs=1e-5)
    np.testing.assert_allclose(result.x["c"][1], TREE_MINIMUM["c"][1], atol=1e-5)
    # the gradient comes back in the same structure, and is small
    assert set(result.grad) == {"a", "b", "c"} and result.jac is result.grad
    assert abs(result.grad["a"]) <= 1e-5
    assert np.max(np.abs(result.grad["c"][1])) <= 1e-5


def test_the_start_is_not_modified():
    start = {"w": np.array([3.0, -1.0])}
    minimize(lambda p: np.sum(p["w"] ** 2), start, method="newton-cg")
    np.testing.assert_array_equal(start["w"], [3.0, -1.0])


@pytest.mark.parametrize("x0, expected", [
    (2.0, 0.0),
    ([1, 2], np.array([0.0, 0.0])),  # a list of numbers is a vector, as in SciPy
    ((np.float64(1.0), None, [np.array(2.0)]), (0.0, None, [np.array(0.0)])),
    ([np.float64(1.0), [2.0]], [0.0, [0.0]]),  # a nested list stays a pytree
])
def test_structures_round_trip(x0, expected):
    def f(x):
        return sum(np.sum(leaf**2) for leaf in _leaves(x))

    result = minimize(f, x0, method="newton")
    assert result.success
    assert type(result.x) is type(expected)
    for got, want in zip(_leaves(result.x), _leaves(expected)):
        assert np.shape(got) == np.shape(want)
        np.testing.assert_allclose(got, want, atol=1e-8)


def _leaves(tree):
    if tree is None:
        return []
    if isinstance(tree, (list, tuple)):
        return [leaf for child in tree for leaf in _leaves(child)]
    return [tree]


@pytest.mark.parametrize("method", SECOND_ORDER)
@pytest.mark.parametrize("n", [2, 100])
def test_rosenbrock_through_autodiff(method, n):
    x0 = np.tile([-1.2, 1.0], n // 2)
    result = minimize(extended_rosenbrock, x0, method=method)
    assert result.success, result.message
    np.testing.assert_allclose(result.x, np.ones(n), atol=1e-4)


@pytest.mark.parametrize("method", ["newton-cg", "trust-ncg", "newton", "lbfgs"])
def test_autodiff_and_analytic_derivatives_take_the_same_path(method):
    problem = extended_rosenbrock_problem(20)
    by_hand = minimize(problem.objective, problem.x0, method=method)
    by_ad = minimize(extended_rosenbrock, problem.x0, method=method)
    assert abs(by_ad.nit - by_hand.nit) <= 2
    np.testing.assert_allclose(by_ad.x, by_hand.x, atol=1e-6)


def test_counters_through_autodiff():
    result = minimize(chained_rosenbrock, np.array([-1.2, 1.0]), method="newton-cg")
    assert result.nfev == result.ngev > result.nit > 0
    assert result.nhvp > 0 and result.nhev == 0
    dense = minimize(chained_rosenbrock, np.array([-1.2, 1.0]), method="newton")
    assert dense.nhev == dense.nit and dense.nhvp == 0


def test_flat_objective_matches_the_analytic_derivatives():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(6)
    v = rng.standard_normal(6)
    objective = autodiff_objective(chained_rosenbrock, ravel_pytree(x, dtype=np.float64)[1])
    value, gradient = objective.value_and_grad(x)
    assert value == pytest.approx(rosen(x))
    np.testing.assert_allclose(gradient, rosen_der(x), rtol=1e-12)
    np.testing.assert_allclose(objective.hvp_operator(x)(v), rosen_hess_prod(x, v), rtol=1e-10)


def test_dense_hessian_of_a_pytree_is_assembled_in_raveling_order():
    # f(p) = Σ over the raveled vector z of  z_i z_j A_ij / 2  has Hessian A in raveled order
    tree = {"b": np.ones((2, 2)), "a": 0.5, "c": [np.arange(2.0)]}
    z, spec = ravel_pytree(tree, dtype=np.float64)
    rng = np.random.default_rng(1)
    matrix = rng.standard_normal((z.size, z.size))
    matrix = matrix + matrix.T

    def f(p):
        flat = np.concatenate([p["a"] * np.ones(1), np.reshape(p["b"], (4,)), p["c"][0]])
        return 0.5 * flat @ matrix @ flat

    objective = autodiff_objective(f, spec)
    np.testing.assert_allclose(objective.hessian(z), matrix, atol=1e-12)
    np.testing.assert_allclose(objective.hvp_operator(z)(z), matrix @ z, atol=1e-12)


def test_non_finite_start_raises_through_autodiff():
    with pytest.raises(ValueError, match=r"f\(x0\)"), np.errstate(invalid="ignore"):
        minimize(lambda x: np.sum(np.log(x)), np.array([-1.0, 1.0]))


def test_non_scalar_function_is_rejected():
    with pytest.raises((ValueError, TypeError)):
        minimize(lambda x: x**2, np.ones(3))


@pytest.mark.parametrize("x0, match", [
    ({"a": "1.0"}, "str"),
    ([True, 1.0], "bool"),
    (np.ones(2) + 1j, "complex"),
    ({"a": {1, 2}}, "set"),
])
def test_bad_leaves_are_named(x0, match):
    with pytest.raises(TypeError, match=match):
        minimize(lambda x: 0.0, x0)


def test_f_must_be_callable():
    with pytest.raises(TypeError, match="callable"):
        minimize(3.0, 1.0)


def test_empty_start_is_rejected():
    with pytest.raises(ValueError, match="no entries"):
        minimize(lambda x: 0.0, {"a": None, "b": []})


# -- scipy_callables ------------------------------------------------------------------------

def test_scipy_callables_match_the_analytic_derivatives():
    fun, jac, hessp = scipy_callables(chained_rosenbrock)
    x = np.array([0.3, -0.7, 1.1, 2.0])
    p = np.array([1.0, 0.5, -2.0, 0.25])
    assert fun(x) == pytest.approx(rosen(x))
    np.testing.assert_allclose(jac(x), rosen_der(x), rtol=1e-12)
    np.testing.assert_allclose(hessp(x, p), rosen_hess_prod(x, p), rtol=1e-10)
    assert isinstance(fun(x), float) and jac(x).dtype == np.float64


@pytest.mark.parametrize("method", ["Newton-CG", "trust-ncg", "BFGS"])
def test_scipy_minimize_with_autodiff_callables(method):
    fun, jac, hessp = scipy_callables(chained_rosenbrock)
    kwargs = {} if method == "BFGS" else {"hessp": hessp}
    result = scipy_minimize(fun, np.array([-1.2, 1.0]), jac=jac, method=method, **kwargs)
    assert result.success
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-4)


def test_scipy_callables_share_work_at_one_point(monkeypatch):
    linearisations = []
    original = ad_objective.hessian_operator

    def counting(f, x, **kwargs):
        linearisations.append(x)
        return original(f, x, **kwargs)

    monkeypatch.setattr(ad_objective, "hessian_operator", counting)
    value_calls = []
    original_value_and_grad = ad_objective.value_and_gradient

    def counting_value_and_grad(f, *args, **kwargs):
        value_calls.append(1)
        return original_value_and_grad(f, *args, **kwargs)

    monkeypatch.setattr(ad_objective, "value_and_gradient", counting_value_and_grad)
    fun, jac, hessp = scipy_callables(chained_rosenbrock)
    x = np.array([0.5, 0.5, 0.5])
    fun(x)
    jac(x)
    for k in range(3):
        hessp(x, np.eye(3)[k])
    assert len(value_calls) == 1 and len(linearisations) == 1
    jac(x + 1.0)
    hessp(x + 1.0, np.ones(3))
    assert len(value_calls) == 2 and len(linearisations) == 2


def test_scipy_callables_reject_non_vectors():
    fun, _, _ = scipy_callables(chained_rosenbrock)
    with pytest.raises(ValueError, match="1-D"):
        fun(np.ones((2, 2)))


# -- habits users bring from scipy.optimize ---------------------------------------------------

@pytest.mark.parametrize("scipy_name, ours", [
    ("Newton-CG", "newton-cg"), ("trust-ncg", "trust-ncg"), ("CG", "cg"),
    ("L-BFGS-B", "lbfgs"), ("BFGS", "lbfgs"), ("NEWTON", "newton"), ("Gd", "gd"),
])
def test_scipy_method_names_and_any_case_are_accepted(scipy_name, ours):
    by_alias = minimize(tree_objective, TREE_START, method=scipy_name)
    by_name = minimize(tree_objective, TREE_START, method=ours)
    assert by_alias.success and by_alias.method == ours and by_alias.nit == by_name.nit
    assert by_alias.fun == by_name.fun


def test_bfgs_says_it_ran_limited_memory_bfgs():
    result = minimize(chained_rosenbrock, np.array([-1.2, 1.0]), method="BFGS")
    assert result.success and "ran as limited-memory BFGS" in result.message
    assert "BFGS" not in minimize(chained_rosenbrock, np.array([-1.2, 1.0]),
                                  method="lbfgs").message


def test_l_bfgs_b_with_bounds_none_is_unconstrained():
    result = minimize(chained_rosenbrock, np.array([-1.2, 1.0]), method="L-BFGS-B", bounds=None)
    assert result.success


@pytest.mark.parametrize("method", METHODS)
def test_maxiter_zero_evaluates_the_start(method):
    x0 = {"w": np.array([-1.2, 1.0])}
    result = minimize(lambda p: chained_rosenbrock(p["w"]), x0, method=method, maxiter=0)
    assert result.nit == 0 and not result.success and "maxiter = 0" in result.message
    np.testing.assert_array_equal(result.x["w"], x0["w"])
    assert result.fun == pytest.approx(rosen(x0["w"]))
    np.testing.assert_allclose(result.grad["w"], rosen_der(x0["w"]), rtol=1e-12)
    assert result.nfev == result.ngev == 1


def test_a_list_of_numbers_is_a_vector():
    seen = []

    def f(x):
        seen.append((isinstance(x, list), np.shape(x)))
        return chained_rosenbrock(x)

    result = minimize(f, [-1.2, 1], method="newton-cg")
    assert set(seen) == {(False, (2,))} and isinstance(result.x, np.ndarray)
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_f_returning_none_says_so(method):
    def forgot_return(x):
        np.sum(x ** 2)

    with pytest.raises(TypeError, match="f returned None"):
        minimize(forgot_return, np.ones(2), method=method)


@pytest.mark.parametrize("method", METHODS)
def test_dict_of_arrays_of_different_shapes(method):
    target = {"W": np.arange(6.0).reshape(3, 2), "b": np.array([1.0, -1.0]), "s": 2.0,
              "t": np.float32(-0.5) * np.ones((1, 1, 2), np.float32)}
    scales = {"W": 1.0, "b": 3.0, "s": 0.5, "t": 2.0}

    def f(p):
        return sum(scales[k] * np.sum((p[k] - target[k]) ** 2) for k in target) \
            + 0.1 * np.sum(p["W"][:2] @ p["b"]) ** 2

    x0 = {"W": np.zeros((3, 2)), "b": np.zeros(2), "s": 0.0, "t": np.zeros((1, 1, 2), np.float32)}
    result = minimize(f, x0, method=method, tol=1e-8)
    assert result.success, result.message
    assert {k: np.shape(v) for k, v in result.x.items()} == {k: np.shape(v) for k, v in x0.items()}
    assert isinstance(result.x["s"], float) and result.x["t"].dtype == np.float64
    reference = minimize(f, x0, method="newton", tol=1e-10)
    for key in target:
        np.testing.assert_allclose(result.x[key], reference.x[key], atol=1e-6)
