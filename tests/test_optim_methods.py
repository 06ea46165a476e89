"""``minimize`` and its solvers on problems with analytic derivatives (no autodiff involved).

Every second-order, quasi-Newton and nonlinear-CG method must reach the known minimum of every
standard problem from its standard starting point with default options; gradient descent only
on well-conditioned ones. Also: the line search, the stopping rules and the honest reporting
when a solver cannot go on.
"""

import numpy as np
import pytest
from scipy.optimize import minimize as scipy_minimize
from scipy.optimize import rosen, rosen_der, rosen_hess_prod

from autodiff.optim import Objective, OptimizeResult, minimize
from autodiff.optim.line_search import LineSearchFailure, strong_wolfe
from optim_problems import (
    bowl_problem,
    chained_rosenbrock_problem,
    extended_rosenbrock,
    extended_rosenbrock_grad,
    extended_rosenbrock_hessp,
    extended_rosenbrock_problem,
    quadratic_problem,
    standard_problems,
)

SOLVERS = [
    ("newton-cg", {}),
    ("trust-ncg", {}),
    ("newton", {}),
    ("lbfgs", {}),
    ("cg", {}),
    ("cg", {"beta": "hessian"}),
]
SOLVER_IDS = ["newton-cg", "trust-ncg", "newton", "lbfgs", "cg-pr+", "cg-hessian"]
ALL_METHODS = ["newton-cg", "trust-ncg", "newton", "lbfgs", "cg", "gd"]


@pytest.mark.parametrize("problem", standard_problems(), ids=lambda p: p.name)
@pytest.mark.parametrize("method, options", SOLVERS, ids=SOLVER_IDS)
def test_every_solver_reaches_the_minimum_with_defaults(problem, method, options):
    result = minimize(problem.objective, problem.x0, method=method, **options)
    assert result.success, result.message
    assert problem.reached(result), (result.fun, np.max(np.abs(result.x - problem.x_star)))
    assert np.max(np.abs(result.grad)) <= 1e-5


@pytest.mark.parametrize("problem", [bowl_problem(), quadratic_problem(20, 10.0)],
                         ids=lambda p: p.name)
def test_gradient_descent_on_well_conditioned_problems(problem):
    result = minimize(problem.objective, problem.x0, method="gd")
    assert result.success, result.message
    assert problem.reached(result)


def test_gradient_descent_on_an_ill_conditioned_problem_says_it_ran_out():
    problem = quadratic_problem(100, 1e4)
    result = minimize(problem.objective, problem.x0, method="gd", maxiter=200)
    assert not result.success and result.nit == 200
    assert "maxiter" in result.message


# -- Aggarwal (2018, sec. 3.4): the elliptical bowl -------------------------------------------

def test_newton_minimises_the_bowl_in_one_step():
    # Newton's update W* = W0 - H⁻¹∇L(W0), exact for a quadratic
    problem = bowl_problem()
    result = minimize(problem.objective, problem.x0, method="newton")
    assert result.nit == 1 and result.fun == 0.0


def test_hessian_beta_cg_minimises_the_bowl_in_two_steps():
    # Aggarwal's conjugate direction (sec. 3.5.6.1) with the line search started at the model
    # minimiser: linear CG, two directions
    problem = bowl_problem()
    result = minimize(problem.objective, problem.x0, method="cg", beta="hessian", tol=1e-12)
    assert result.nit == 2
    np.testing.assert_allclose(result.x, [0.0, 0.0], atol=1e-12)


def test_hessian_beta_cg_directions_are_conjugate():
    problem = quadratic_problem(6, 30.0, seed=3)
    hessian = problem.objective.hessian(problem.x0)
    points = [problem.x0]
    minimize(problem.objective, problem.x0, method="cg", beta="hessian", tol=1e-12,
             callback=lambda state: points.append(state.x))
    steps = np.diff(np.array(points), axis=0)[:4]
    gram = steps @ hessian @ steps.T
    off_diagonal = gram - np.diag(np.diag(gram))
    assert np.max(np.abs(off_diagonal)) <= 1e-8 * np.max(np.abs(np.diag(gram)))


# -- against SciPy's Newton-CG -----------------------------------------------------------------

@pytest.mark.parametrize("problem, bound", [
    (extended_rosenbrock_problem(1000), 1.5),
    (chained_rosenbrock_problem(100), 1.5),
], ids=["extended-rosenbrock-1000", "chained-rosenbrock-100"])
def test_newton_cg_needs_at_most_1_5_times_scipys_iterations(problem, bound):
    objective = problem.objective
    reference = scipy_minimize(objective.fun, problem.x0, method="Newton-CG",
                               jac=lambda x: objective.value_and_grad(x)[1],
                               hessp=lambda x, p: objective.hvp_operator(x)(p))
    result = minimize(objective, problem.x0, method="newton-cg")
    assert result.success and problem.reached(result)
    assert result.nit <= bound * reference.nit


def test_newton_cg_on_chained_rosenbrock_1000_reaches_the_minimum():
    # SciPy's Newton-CG stops near f = 0.015 here (its step-size test); the valley is crossed
    # one coordinate at a time, so every local method needs O(n) iterations
    problem = chained_rosenbrock_problem(1000)
    result = minimize(problem.objective, problem.x0, method="newton-cg")
    assert result.success and problem.reached(result)


@pytest.mark.parametrize("method, options", SOLVERS[:2], ids=SOLVER_IDS[:2])
def test_rosenbrock_with_scipys_functions(method, options):
    objective = Objective(rosen, rosen_der, hessp=rosen_hess_prod)
    result = minimize(objective, np.array([-1.2, 1.0]), method=method, **options)
    assert result.success
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-5)


# -- non-finite values, failures, stopping ---------------------------------------------------

def _log_barrier():
    """f(x) = x - log x (minimum at 1), nan for x <= 0: a Newton step from 5 lands at -15."""
    def fun(x):
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(x[0] - np.log(x[0]))

    def grad(x):
        with np.errstate(divide="ignore"):
            return np.array([1.0 - 1.0 / x[0]]) if x[0] > 0 else np.array([np.nan])

    return Objective(fun, grad, hessp=lambda x, p: p / x**2)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_non_finite_values_make_the_search_back_off(method):
    result = minimize(_log_barrier(), np.array([5.0]), method=method)
    assert result.success, result.message
    np.testing.assert_allclose(result.x, [1.0], atol=1e-5)


def _defined_only_at(x0):
    """f(x) = ‖x‖² at x0 and nan everywhere else: no solver can make progress."""
    def fun(x):
        return float(x @ x) if np.array_equal(x, x0) else np.nan

    def grad(x):
        return 2.0 * x if np.array_equal(x, x0) else np.full_like(x, np.nan)

    return Objective(fun, grad, hessp=lambda x, p: 2.0 * p)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_a_solver_that_cannot_progress_says_so(method):
    x0 = np.array([1.0, -2.0])
    result = minimize(_defined_only_at(x0), x0, method=method)
    assert not result.success
    assert result.nit == 0 and result.fun == 5.0
    np.testing.assert_array_equal(result.x, x0)
    assert "line search" in result.message or "trust region" in result.message


@pytest.mark.parametrize("method", ["newton-cg", "trust-ncg", "newton"])
def test_non_finite_curvature_stops_with_a_message(method):
    objective = Objective(lambda x: float(x @ x), lambda x: 2.0 * x,
                          hessp=lambda x, p: np.full_like(p, np.nan))
    result = minimize(objective, np.ones(3), method=method)
    assert not result.success and result.nit == 0
    assert "non-finite" in result.message


@pytest.mark.parametrize("fun, grad, match", [
    (lambda x: np.nan, lambda x: x, r"f\(x0\) = nan"),
    (lambda x: np.inf, lambda x: x, r"f\(x0\) = inf"),
    (lambda x: 1.0, lambda x: np.array([0.0, np.inf]), "gradient of f at x0"),
])
def test_non_finite_start_raises(fun, grad, match):
    with pytest.raises(ValueError, match=match):
        minimize(Objective(fun, grad), np.ones(2), method="lbfgs")


@pytest.mark.parametrize("method", ALL_METHODS)
def test_maxiter_is_honoured_and_reported(method):
    problem = extended_rosenbrock_problem(10)
    result = minimize(problem.objective, problem.x0, method=method, maxiter=3)
    assert result.nit == 3 and not result.success
    assert "maxiter = 3" in result.message


@pytest.mark.parametrize("method", ALL_METHODS)
def test_start_at_the_minimum_takes_no_iterations(method):
    problem = bowl_problem()
    result = minimize(problem.objective, np.zeros(2), method=method)
    assert result.success and result.nit == 0 and result.nfev == 1


def test_tighter_tolerance_gets_closer():
    problem = extended_rosenbrock_problem(4)
    loose = minimize(problem.objective, problem.x0, method="newton-cg", tol=1e-3)
    tight = minimize(problem.objective, problem.x0, method="newton-cg", tol=1e-10)
    assert np.max(np.abs(loose.grad)) <= 1e-3 and np.max(np.abs(tight.grad)) <= 1e-10
    assert tight.nit > loose.nit


def test_callback_sees_every_iterate_and_can_stop_the_solver():
    problem = extended_rosenbrock_problem(4)
    seen = []

    def callback(state):
        assert isinstance(state, OptimizeResult)
        seen.append((state.nit, state.fun))
        return state.nit == 3

    result = minimize(problem.objective, problem.x0, method="lbfgs", callback=callback)
    assert [nit for nit, _ in seen] == [1, 2, 3]
    assert result.nit == 3 and not result.success and "callback" in result.message
    assert result.fun == seen[-1][1]
    values = [fun for _, fun in seen]
    assert values == sorted(values, reverse=True)


def test_progress_bar_is_shown(capsys):
    problem = bowl_problem()
    minimize(problem.objective, problem.x0, method="lbfgs", progress=True)
    assert "minimize[lbfgs]" in capsys.readouterr().err


@pytest.mark.parametrize("method, uses_products", [
    ("newton-cg", True), ("trust-ncg", True), ("lbfgs", False), ("cg", False), ("gd", False),
])
def test_counters(method, uses_products):
    problem = extended_rosenbrock_problem(6)
    first = minimize(problem.objective, problem.x0, method=method)
    second = minimize(problem.objective, problem.x0, method=method)
    # every evaluation is a value-and-gradient pair, counted per call of minimize
    assert first.nfev == first.ngev == second.nfev > first.nit
    assert (first.nhvp > 0) == uses_products
    assert first.nhev == 0
    assert problem.objective.nfev == 2 * first.nfev


def test_dense_newton_counts_hessians():
    problem = standard_problems()[3]  # wood: a dense Hessian callable
    result = minimize(problem.objective, problem.x0, method="newton")
    assert result.nhev == result.nit and result.nhvp == 0


def test_result_fields_and_repr():
    problem = bowl_problem()
    result = minimize(problem.objective, problem.x0, method="newton")
    assert result.jac is result.grad and result.method == "newton"
    text = repr(result)
    for field in ("success", "message", "fun", "x", "grad", "nit", "nfev", "ngev", "nhvp"):
        assert field in text


def test_modified_newton_escapes_a_saddle():
    # f = x² - y² + y⁴/4 from near the saddle at 0: the Hessian diag(2, -2) is indefinite there
    objective = Objective(lambda w: float(w[0] ** 2 - w[1] ** 2 + w[1] ** 4 / 4),
                          lambda w: np.array([2 * w[0], -2 * w[1] + w[1] ** 3]),
                          hessian=lambda w: np.diag([2.0, -2.0 + 3 * w[1] ** 2]))
    for method in ("newton", "newton-cg", "trust-ncg"):
        result = minimize(objective, np.array([0.5, 1e-3]), method=method)
        assert result.success
        np.testing.assert_allclose(result.x, [0.0, np.sqrt(2.0)], atol=1e-6)


# -- bad input ------------------------------------------------------------------------------

def _objective():
    return Objective(extended_rosenbrock, extended_rosenbrock_grad,
                     hessp=extended_rosenbrock_hessp)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(method="Nelder-Mead"), ValueError, "unknown method 'Nelder-Mead'"),
    (dict(method=None), TypeError, "method must be a string"),
    (dict(method="L-BFGS-B", bounds=[(0, 1)] * 2), ValueError, "bounds are not supported"),
    (dict(method="lbfgs", memroy=5), TypeError, "no option 'memroy'"),
    (dict(method="lbfgs", memory=0), ValueError, "memory"),
    (dict(method="cg", beta="fr"), ValueError, "beta"),
    (dict(method="trust-ncg", eta=0.5), ValueError, "eta"),
    (dict(method="trust-ncg", initial_radius=-1.0), ValueError, "initial_radius"),
    (dict(method="newton-cg", cg_maxiter=0), ValueError, "cg_maxiter"),
    (dict(tol=0.0), ValueError, "tol"),
    (dict(tol=np.nan), ValueError, "tol"),
    (dict(maxiter=-1), ValueError, "maxiter"),
    (dict(callback=3), TypeError, "callback"),
])
def test_bad_options_raise_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        minimize(_objective(), np.zeros(4), **kwargs)


@pytest.mark.parametrize("x0, error, match", [
    (np.zeros((2, 2)), ValueError, "1-D"),
    (np.array([np.nan, 0.0]), ValueError, "non-finite"),
    (np.zeros(0), ValueError, "no entries"),
])
def test_bad_start_raises(x0, error, match):
    with pytest.raises(error, match=match):
        minimize(_objective(), x0)


@pytest.mark.parametrize("method", ["newton-cg", "trust-ncg", "newton"])
def test_second_order_method_without_curvature_says_what_to_pass(method):
    objective = Objective(extended_rosenbrock, extended_rosenbrock_grad)
    with pytest.raises(ValueError, match="hessp="):
        minimize(objective, np.zeros(4), method=method)


@pytest.mark.parametrize("fun, grad, error, match", [
    (lambda x: x, lambda x: x, ValueError, "fun must return a scalar"),
    (lambda x: 1j, lambda x: x, TypeError, "complex"),
    (lambda x: "1", lambda x: x, TypeError, "real number"),
    (lambda x: 1.0, lambda x: x[:1], ValueError, r"grad returned shape \(1,\)"),
])
def test_objective_checks_what_the_callables_return(fun, grad, error, match):
    with pytest.raises(error, match=match):
        minimize(Objective(fun, grad), np.ones(2), method="lbfgs")


@pytest.mark.parametrize("kwargs, match", [
    (dict(), "exactly one of grad= and value_and_grad="),
    (dict(grad=lambda x: x, value_and_grad=lambda x: (0.0, x)), "exactly one"),
    (dict(grad=lambda x: x, hessp=lambda x, p: p, hvp_operator=lambda x: None), "at most one"),
    (dict(grad=3), "grad must be callable"),
])
def test_objective_construction_errors(kwargs, match):
    with pytest.raises(TypeError, match=match):
        Objective(lambda x: 0.0, **kwargs)


def test_objective_derives_missing_curvature():
    hessian = np.array([[2.0, 1.0], [1.0, 3.0]])
    from_products = Objective(lambda x: 0.0, lambda x: x, hessp=lambda x, p: hessian @ p)
    from_dense = Objective(lambda x: 0.0, lambda x: x, hessian=lambda x: hessian)
    x = np.zeros(2)
    np.testing.assert_allclose(from_products.hessian(x), hessian)
    operator = from_dense.hvp_operator(x)
    np.testing.assert_allclose(operator(np.array([1.0, -1.0])), [1.0, -2.0])
    assert operator.count == 1 and operator.curvature(np.array([1.0, 0.0])) == 2.0
    assert from_dense.nhev == 1 and from_dense.nhvp == 2


# -- the line search ------------------------------------------------------------------------

def _ray(objective, x, direction):
    def phi(step):
        value, gradient = objective.value_and_grad(x + step * direction)
        return value, float(gradient @ direction)
    return phi


@pytest.mark.parametrize("c2", [0.9, 0.1])
@pytest.mark.parametrize("initial_step", [1e-4, 1.0, 1e3])
@pytest.mark.parametrize("problem", [extended_rosenbrock_problem(2), bowl_problem(),
                                     standard_problems()[3]], ids=lambda p: p.name)
def test_line_search_meets_the_strong_wolfe_conditions(problem, initial_step, c2):
    objective, x = problem.objective, problem.x0
    f, g = objective.value_and_grad(x)
    direction = -g
    step = strong_wolfe(objective, x, f, g, direction, initial_step=initial_step, c2=c2)
    value, slope = _ray(objective, x, direction)(step.step)
    slope0 = float(g @ direction)
    assert step.wolfe
    assert value <= f + 1e-4 * step.step * slope0
    assert abs(slope) <= c2 * abs(slope0)
    np.testing.assert_array_equal(step.x, x + step.step * direction)
    assert step.fun == value


def test_line_search_backs_off_from_non_finite_values():
    objective = _log_barrier()
    x = np.array([5.0])
    f, g = objective.value_and_grad(x)
    step = strong_wolfe(objective, x, f, g, np.array([-20.0]))  # the full step lands at -15
    assert np.isfinite(step.fun) and step.x[0] > 0 and step.fun < f and step.wolfe


def test_line_search_rejects_an_ascent_direction():
    problem = bowl_problem()
    f, g = problem.objective.value_and_grad(problem.x0)
    with pytest.raises(LineSearchFailure, match="not a descent direction"):
        strong_wolfe(problem.objective, problem.x0, f, g, g)


def test_line_search_resolves_decrease_below_the_rounding_of_f():
    # f = 1e8 + ½ x² near x = 1e-5: the decrease (5e-11) is far below ulp(1e8) ≈ 1.5e-8,
    # so only the slopes can tell the step is good
    objective = Objective(lambda x: float(1e8 + 0.5 * x @ x), lambda x: x.copy())
    x = np.array([1e-5])
    f, g = objective.value_and_grad(x)
    step = strong_wolfe(objective, x, f, g, -g)
    assert step.wolfe and abs(step.x[0]) < 1e-6
