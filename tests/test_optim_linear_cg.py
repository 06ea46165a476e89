"""Linear conjugate gradients: convergence, preconditioning, curvature detection, bad input."""

import numpy as np
import pytest
from scipy.sparse.linalg import aslinearoperator

import autodiff as ad
from autodiff.flat import ravel
from autodiff.optim import conjugate_gradient
from optim_problems import spd_matrix


@pytest.mark.parametrize("n", [5, 20, 60, 200])
@pytest.mark.parametrize("condition", [1.0, 10.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_spd_system_converges_within_n_iterations(n, condition, seed):
    matrix = spd_matrix(n, condition, seed)
    b = np.random.default_rng(seed + 10).standard_normal(n)
    x, info = conjugate_gradient(lambda v: matrix @ v, b, tol=1e-10)
    assert info.converged and info.status == "converged"
    assert not info.negative_curvature and info.direction is None
    assert 1 <= info.iterations <= n
    assert np.linalg.norm(matrix @ x - b) <= 1e-9 * np.linalg.norm(b)
    assert info.residual_norm == pytest.approx(np.linalg.norm(matrix @ x - b), abs=1e-9)
    np.testing.assert_allclose(x, np.linalg.solve(matrix, b), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("condition", [1e2, 1e4])
def test_ill_conditioned_spd_system_converges(condition):
    # rounding destroys the n-step termination of exact arithmetic; the iteration still
    # converges, in about √κ log(1/tol) steps
    matrix = spd_matrix(100, condition, 2)
    b = np.random.default_rng(12).standard_normal(100)
    x, info = conjugate_gradient(matrix, b, tol=1e-10)
    assert info.converged
    assert info.iterations <= 10 * np.sqrt(condition) * np.log(1e10)
    np.testing.assert_allclose(x, np.linalg.solve(matrix, b), rtol=1e-5)


def test_bowl_needs_two_conjugate_directions():
    # on L = x² + 4y² two conjugate directions reach the minimum (Aggarwal 2018, sec. 3.5.6.1);
    # the minimiser of ½ wᵀA w - bᵀw with A = diag(2, 8) solves A w = b
    x, info = conjugate_gradient(np.diag([2.0, 8.0]), np.array([6.0, 8.0]))
    assert info.iterations == 2 and info.converged
    np.testing.assert_allclose(x, [3.0, 1.0])


@pytest.mark.parametrize("tol", [1e-2, 1e-6, 1e-12])
def test_tolerance_is_relative_to_b(tol):
    matrix = spd_matrix(40, 1e3, 3)
    b = 1e6 * np.random.default_rng(4).standard_normal(40)
    x, info = conjugate_gradient(matrix, b, tol=tol, maxiter=10_000)
    assert info.converged
    assert np.linalg.norm(b - matrix @ x) <= 1.01 * tol * np.linalg.norm(b)


@pytest.mark.parametrize("make_operator", [
    lambda a: a,
    lambda a: (lambda v: a @ v),
    aslinearoperator,
], ids=["ndarray", "callable", "LinearOperator"])
def test_operator_forms(make_operator):
    matrix = spd_matrix(10, 50.0, 5)
    b = np.arange(1.0, 11.0)
    x, info = conjugate_gradient(make_operator(matrix), b)
    assert info.converged
    np.testing.assert_allclose(matrix @ x, b, rtol=1e-8)


@pytest.mark.parametrize("as_matrix", [False, True])
def test_jacobi_preconditioner_cuts_iterations_on_badly_scaled_system(as_matrix):
    rng = np.random.default_rng(6)
    n = 80
    scales = np.logspace(0, 6, n)
    matrix = np.diag(scales) + 0.1 * np.sqrt(np.outer(scales, scales)) * \
        spd_matrix(n, 2.0, 7) / n
    b = rng.standard_normal(n)
    inverse_diagonal = 1.0 / np.diag(matrix)
    preconditioner = np.diag(inverse_diagonal) if as_matrix else (lambda r: inverse_diagonal * r)
    _, plain = conjugate_gradient(matrix, b, tol=1e-8, maxiter=10 * n)
    x, preconditioned = conjugate_gradient(matrix, b, tol=1e-8, M=preconditioner)
    assert preconditioned.converged
    assert preconditioned.iterations < plain.iterations // 3
    assert np.linalg.norm(matrix @ x - b) <= 1e-8 * np.linalg.norm(b) * 1.01


def test_warm_start_at_the_solution_takes_no_iterations():
    matrix = spd_matrix(12, 10.0, 8)
    b = np.ones(12)
    solution = np.linalg.solve(matrix, b)
    x, info = conjugate_gradient(matrix, b, x0=solution, tol=1e-8)
    assert info.iterations == 0 and info.converged
    np.testing.assert_array_equal(x, solution)


def test_warm_start_converges_to_the_same_solution():
    matrix = spd_matrix(12, 10.0, 9)
    b = np.ones(12)
    x, info = conjugate_gradient(matrix, b, x0=np.full(12, 5.0))
    assert info.converged
    np.testing.assert_allclose(x, np.linalg.solve(matrix, b), rtol=1e-8)


def test_zero_right_hand_side_gives_zero():
    x, info = conjugate_gradient(np.eye(3), np.zeros(3), x0=np.ones(3))
    assert info.converged and info.iterations == 0 and info.residual_norm == 0.0
    np.testing.assert_array_equal(x, np.zeros(3))


@pytest.mark.parametrize("diagonal, b, first_bad_iteration", [
    ([-1.0, 2.0, 3.0], [1.0, 0.0, 0.0], 0),      # b itself is a negative-curvature direction
    ([1.0, -1.0, 2.0], [1.0, 1.0, 1.0], 1),      # found after one CG step
    ([0.0, 0.0], [1.0, 2.0], 0),                 # zero curvature counts too
])
def test_indefinite_operator_reports_negative_curvature(diagonal, b, first_bad_iteration):
    matrix = np.diag(diagonal)
    x, info = conjugate_gradient(matrix, np.array(b))
    assert info.negative_curvature and info.status == "negative curvature"
    assert not info.converged
    assert info.iterations == first_bad_iteration
    assert info.curvature <= 0.0
    assert info.direction @ matrix @ info.direction == pytest.approx(info.curvature)
    if first_bad_iteration == 0:
        np.testing.assert_array_equal(x, np.zeros_like(x))
    else:
        assert np.any(x != 0.0)


def test_maxiter_stops_without_convergence():
    matrix = spd_matrix(50, 1e4, 11)
    x, info = conjugate_gradient(matrix, np.ones(50), maxiter=3)
    assert info.iterations == 3 and not info.converged and info.status == "maxiter"
    assert "maxiter" in info.message
    assert info.residual_norm == pytest.approx(np.linalg.norm(matrix @ x - np.ones(50)))


def test_non_finite_operator_output_is_reported_not_raised():
    x, info = conjugate_gradient(lambda v: np.full_like(v, np.nan), np.ones(3))
    assert info.status == "non-finite" and not info.converged
    assert np.all(np.isfinite(x))


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_one_non_finite_entry_of_a_product_is_reported(bad):
    """A p is tested entry by entry only when pᵀA p is not finite: one nan or inf entry makes
    it so, also where p is zero (0 · inf is nan).  The status reports it, without a
    RuntimeWarning from the dot ("invalid value encountered in dot")."""
    def matvec(v):
        product = 2.0 * v
        product[1] = bad
        return product

    x, info = conjugate_gradient(matvec, np.array([1.0, 0.0, 2.0]))
    assert info.status == "non-finite" and info.iterations == 0


@pytest.mark.filterwarnings("error")
def test_an_overflowing_curvature_of_finite_products_is_not_non_finite():
    # A p is finite, pᵀA p overflows to inf: not a non-finite product (the step is then 0)
    x, info = conjugate_gradient(lambda v: 1e300 * v, np.full(3, 1e5), maxiter=3)
    assert info.status == "maxiter" and np.all(x == 0.0)


@pytest.mark.parametrize("start", [None, "x0"])
@pytest.mark.parametrize("preconditioned", [False, True])
def test_vectors_handed_to_the_operators_are_never_written_afterwards(start, preconditioned):
    """x and r are updated in place: never an array A or M was given (they may keep it)."""
    A = spd_matrix(6, 100.0, seed=3)
    b = np.arange(1.0, 7.0)
    x0 = np.full(6, 0.5) if start else None
    seen = []

    def keep(matrix):
        def apply(v):
            seen.append((v, v.copy()))
            return matrix @ v
        return apply

    M = keep(np.diag(1.0 / np.diag(A))) if preconditioned else None
    x, info = conjugate_gradient(keep(A), b, x0=x0, tol=1e-12, M=M)
    assert info.converged and len(seen) >= 6
    assert all(np.array_equal(v, copy) for v, copy in seen)
    assert not any(np.shares_memory(x, v) for v, _ in seen)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(matvec=np.eye(2), b=np.ones((2, 1))), ValueError, "1-D"),
    (dict(matvec=np.eye(2), b=np.array([1.0, np.nan])), ValueError, "non-finite"),
    (dict(matvec=np.eye(2), b=np.array([1.0, np.inf])), ValueError, "non-finite"),
    (dict(matvec=np.eye(2), b=np.ones(2) + 1j), TypeError, "complex"),
    (dict(matvec=np.eye(3), b=np.ones(2)), ValueError, "shape"),
    (dict(matvec=lambda v: np.ones(3), b=np.ones(2)), ValueError, "matvec returned shape"),
    (dict(matvec="A", b=np.ones(2)), TypeError, "matvec must be"),
    (dict(matvec=np.eye(2), b=np.ones(2), x0=np.ones(3)), ValueError, "x0 has shape"),
    (dict(matvec=np.eye(2), b=np.ones(2), tol=-1.0), ValueError, "tol"),
    (dict(matvec=np.eye(2), b=np.ones(2), maxiter=1.5), ValueError, "maxiter"),
    (dict(matvec=np.eye(2), b=np.ones(2), M=-np.eye(2)), ValueError, "preconditioner"),
    (dict(matvec=np.eye(2), b=np.ones(2), M=lambda r: r[:1]), ValueError, "M returned shape"),
])
def test_bad_input_raises_a_clear_error(kwargs, error, match):
    with pytest.raises(error, match=match):
        conjugate_gradient(**kwargs)


# -- pytree right-hand sides and operators on pytrees ------------------------------------------

TREE_SCALES = {"bias": np.array([2.0, 3.0]), "weight": np.array([[1.0, 4.0, 5.0], [6.0, 7.0, 8.0]])}


def scale_tree(tree):
    """A diagonal SPD operator on trees shaped like ``TREE_SCALES``."""
    return {name: TREE_SCALES[name] * leaf for name, leaf in tree.items()}


def test_dict_right_hand_side_and_operator_on_dicts():
    # before: float() argument must be a string or a real number, not 'dict'
    b = {"bias": np.array([2.0, 6.0]), "weight": np.ones((2, 3))}
    x, info = conjugate_gradient(scale_tree, b)
    assert info.converged and set(x) == {"bias", "weight"}
    np.testing.assert_allclose(x["bias"], [1.0, 2.0])
    np.testing.assert_allclose(x["weight"], 1.0 / TREE_SCALES["weight"])
    assert x["weight"].shape == (2, 3)


def test_pytree_cg_takes_a_warm_start_and_a_preconditioner_on_trees():
    b = {"bias": np.array([2.0, 6.0]), "weight": np.ones((2, 3))}
    inverse = {name: 1.0 / s for name, s in TREE_SCALES.items()}
    x, info = conjugate_gradient(scale_tree, b, x0=scale_tree(b),
                                 M=lambda r: {k: inverse[k] * v for k, v in r.items()})
    assert info.converged and info.iterations == 1  # the exact inverse as preconditioner
    np.testing.assert_allclose(x["bias"], [1.0, 2.0])


def test_pytree_cg_solves_with_an_hvp_operator_and_keeps_float32():
    params = {"a": np.float32(0.5) * np.ones(3, np.float32), "b": (np.ones((2, 2), np.float32),)}

    def loss(p):
        return np.sum(p["a"] ** 4) + np.sum(np.exp(p["b"][0])) + np.sum(p["a"]) * p["b"][0][0, 1]

    operator = ad.hvp_operator(loss, params)
    b = {"a": np.ones(3, np.float32), "b": (np.arange(4.0, dtype=np.float32).reshape(2, 2),)}
    x, info = conjugate_gradient(operator, b, tol=1e-6)
    assert info.converged
    assert x["a"].dtype == np.float32 and x["b"][0].dtype == np.float32
    residual = ravel(operator(x)) - ravel(b)
    assert np.linalg.norm(residual) <= 1e-4 * np.linalg.norm(ravel(b))


def test_pytree_cg_returns_the_negative_curvature_direction_as_a_tree():
    x, info = conjugate_gradient(lambda t: {"u": -t["u"], "v": 2.0 * t["v"]},
                                 {"u": np.ones(2), "v": 1.0})
    assert info.negative_curvature and not info.converged
    assert set(info.direction) == {"u", "v"} and isinstance(info.direction["v"], float)


def test_a_two_dimensional_array_is_a_one_leaf_tree_for_a_callable_operator():
    matrix = np.diag([1.0, 2.0, 4.0, 8.0])
    x, info = conjugate_gradient(lambda v: (matrix @ v.ravel()).reshape(2, 2), np.ones((2, 2)))
    assert info.converged and x.shape == (2, 2)
    np.testing.assert_allclose(x.ravel(), [1.0, 0.5, 0.25, 0.125])


def test_a_list_of_numbers_is_a_vector():
    x, info = conjugate_gradient(np.diag([2.0, 4.0]), [2.0, 2.0])
    assert isinstance(x, np.ndarray) and x.shape == (2,)
    np.testing.assert_allclose(x, [1.0, 0.5])


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(matvec=lambda t: {"u": t["u"][:1]}, b={"u": np.ones(2)}), ValueError,
     r"the result of matvec\['u'\] has shape \(1,\)"),
    (dict(matvec=lambda t: [t["u"]], b={"u": np.ones(2)}), ValueError,
     "the result of matvec has structure"),
    (dict(matvec=lambda t: t, b={"u": np.ones(2)}, x0={"w": np.ones(2)}), ValueError,
     "x0 has structure"),
    (dict(matvec=lambda t: t, b={"u": np.array([1.0, np.nan])}), ValueError, "non-finite"),
    (dict(matvec=lambda t: t, b={"u": np.ones(2) + 1j}), TypeError, r"b\['u'\] is complex"),
    (dict(matvec=lambda t: {"u": t["u"] * 1j}, b={"u": np.ones(2)}), TypeError, "complex"),
    (dict(matvec=np.eye(2), b={"u": np.ones(2)}), ValueError, "1-D"),
    (dict(matvec=lambda t: t, b={"u": "text"}), TypeError, r"b\['u'\] is a str"),
])
def test_bad_pytree_input_raises_a_clear_error(kwargs, error, match):
    with pytest.raises(error, match=match):
        conjugate_gradient(**kwargs)
