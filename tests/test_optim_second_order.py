"""Gauss-Newton products and the Hessian-free optimizer (issue 11, second-order training)."""

import copy
import doctest
import math

import numpy as np
import pytest

import autodiff as ad
from autodiff.cli import main
from autodiff.optim import gauss_newton, hessian_free
from autodiff.optim.hessian_free import _backtracking_iterations, _truncated_cg

F = ad.nn.functional


# ----------------------------------------------------------------------------------------------
# A small two-layer network as a pure function of a dict of parameters
# ----------------------------------------------------------------------------------------------

SHAPES = {"W1": (5, 3), "b1": (5,), "W2": (4, 5), "b2": (4,)}


def network(params, X):
    hidden = np.tanh(X @ params["W1"].T + params["b1"])
    return hidden @ params["W2"].T + params["b2"]


def random_tree(rng, dtype=np.float64):
    return {name: rng.normal(size=shape).astype(dtype) for name, shape in SHAPES.items()}


def flat(tree):
    return np.concatenate([np.ravel(tree[name]) for name in sorted(SHAPES)])


def unflat(vector):
    """The dict of parameters from a flat vector (sorted names, as ``flat``); traceable."""
    tree, start = {}, 0
    for name in sorted(SHAPES):
        size = math.prod(SHAPES[name])
        tree[name] = vector[start:start + size].reshape(SHAPES[name])
        start += size
    return tree


def explicit_gauss_newton(model_fn, loss_fn, params):
    """``Jᵀ H_L J`` as a matrix, from ``jacfwd`` of the model and ``hessian`` of the loss."""
    theta = flat(params)
    outputs = model_fn(params)
    J = ad.jacfwd(lambda v: model_fn(unflat(v)))(theta).reshape(outputs.size, theta.size)
    H = ad.hessian(lambda z: loss_fn(z.reshape(outputs.shape)))(outputs.ravel())
    return J.T @ H @ J


LOSSES = {
    "mse": lambda targets: (lambda z: F.mse_loss(z, targets)),
    "cross-entropy": lambda labels: (lambda z: F.cross_entropy(z, labels)),
}


def problem(loss_name, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(7, 3))
    targets = rng.normal(size=(7, 4)) if loss_name == "mse" else rng.integers(0, 4, size=7)
    return (lambda p: network(p, X)), LOSSES[loss_name](targets), random_tree(rng), rng


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_gauss_newton_product_equals_explicit_matrix(loss_name):
    model_fn, loss_fn, params, rng = problem(loss_name)
    G = explicit_gauss_newton(model_fn, loss_fn, params)
    for _ in range(3):
        v = random_tree(rng)
        product = ad.optim.gauss_newton_product(model_fn, loss_fn, params, v)
        assert set(product) == set(SHAPES)
        np.testing.assert_allclose(flat(product), G @ flat(v), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_gauss_newton_operator_reuses_one_linearisation(loss_name):
    model_fn, loss_fn, params, rng = problem(loss_name, seed=1)
    G = explicit_gauss_newton(model_fn, loss_fn, params)
    calls = []

    def counted(p):
        calls.append(1)
        return model_fn(p)

    operator = ad.optim.gauss_newton_operator(counted, loss_fn, params)
    recorded = len(calls)
    for _ in range(4):
        v = random_tree(rng)
        np.testing.assert_allclose(flat(operator(v)), G @ flat(v), rtol=1e-10, atol=1e-12)
        assert operator.curvature(v) == pytest.approx(flat(v) @ G @ flat(v), rel=1e-10)
    assert len(calls) == recorded == 2  # linearize once, vjp once; products replay
    assert operator.count == 4
    np.testing.assert_allclose(flat(operator.gradient),
                               flat(ad.grad(lambda p: loss_fn(model_fn(p)))(params)),
                               rtol=1e-12)
    assert operator.loss == pytest.approx(float(loss_fn(model_fn(params))), rel=1e-14)


def test_gauss_newton_is_positive_semidefinite_where_the_hessian_is_not():
    """Near a saddle of f the full Hessian has a negative eigenvalue; G never does."""
    model_fn, loss_fn, params, _ = problem("mse", seed=2)
    G = explicit_gauss_newton(model_fn, loss_fn, params)
    H = ad.hessian(lambda v: loss_fn(model_fn(unflat(v))))(flat(params))
    assert np.linalg.eigvalsh(H).min() < -1e-3
    assert np.linalg.eigvalsh(G).min() > -1e-10


def test_gauss_newton_keeps_float32():
    model_fn, loss_fn, _, rng = problem("mse", seed=3)
    params = random_tree(rng, np.float32)
    product = ad.optim.gauss_newton_product(model_fn, loss_fn, params, random_tree(rng,
                                                                                    np.float32))
    assert all(leaf.dtype == np.float32 for leaf in product.values())


# ----------------------------------------------------------------------------------------------
# Martens' conjugate gradients
# ----------------------------------------------------------------------------------------------


def test_truncated_cg_solves_and_keeps_martens_iterates():
    rng = np.random.default_rng(4)
    Q = rng.normal(size=(30, 30))
    A = Q @ Q.T + 0.1 * np.eye(30)
    b = rng.normal(size=30)
    saved, iterations = _truncated_cg(lambda v: [A @ v[0]], [b], [np.zeros(30)],
                                      lambda r: r, max_iter=500, tol=1e-12)
    solution = np.linalg.solve(A, b)
    np.testing.assert_allclose(saved[-1].x[0], solution, rtol=1e-6, atol=1e-8)
    kept = _backtracking_iterations(500)
    assert {1, 2, 3, 4, 5, 7, 9, 11} <= kept and 6 not in kept
    assert all(item.iteration in kept for item in saved[:-1])
    assert saved[-1].iteration == iterations
    for item in saved:  # φ(x) = ½ xᵀA x - bᵀx, tracked from the residual
        x = item.x[0]
        assert item.phi == pytest.approx(0.5 * x @ A @ x - b @ x, rel=1e-9, abs=1e-12)


def test_truncated_cg_stops_on_relative_progress():
    """With Martens' ε, CG stops long before the exact solution on an ill-conditioned system."""
    A = np.diag(np.linspace(1.0, 1e4, 400))
    b = np.ones(400)
    _, loose = _truncated_cg(lambda v: [A @ v[0]], [b], [np.zeros(400)], lambda r: r,
                             max_iter=400, tol=5e-4)
    _, tight = _truncated_cg(lambda v: [A @ v[0]], [b], [np.zeros(400)], lambda r: r,
                             max_iter=400, tol=1e-12)
    assert 10 < loose < tight


# ----------------------------------------------------------------------------------------------
# HessianFree
# ----------------------------------------------------------------------------------------------


def regression_problem(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 3))
    y = np.sin(X @ np.array([1.0, -1.0, 0.5]))
    model = ad.nn.Sequential(ad.nn.Linear(3, 8, rng=seed), ad.nn.Tanh(),
                             ad.nn.Linear(8, 1, rng=seed + 1))

    def closure():
        return model(X)[:, 0], lambda out: F.mse_loss(out, y)

    return model, closure


def test_hessian_free_decreases_the_loss_and_adapts_damping():
    model, closure = regression_problem()
    optimizer = ad.optim.HessianFree(model.parameters(), damping=1.0, cg_max_iter=50)
    losses = []
    for _ in range(15):
        damping = optimizer.param_groups[0]["damping"]
        losses.append(optimizer.step(closure))
        info = optimizer.last_step
        assert info.loss == losses[-1]
        assert info.new_loss <= info.loss
        expected = damping * (1.5 if info.rho < 0.25 else 2 / 3 if info.rho > 0.75 else 1.0)
        assert info.damping == pytest.approx(expected, rel=1e-15)
        assert info.curvature_products >= info.cg_iterations
        assert 0 < info.chosen_iteration <= info.cg_iterations
    assert losses[-1] < 0.05 * losses[0]
    assert np.all(np.diff(losses) <= 1e-15)


def test_hessian_free_returns_the_loss_before_the_update_and_leaves_grad_alone():
    model, closure = regression_problem(1)
    optimizer = ad.optim.HessianFree(model.parameters())
    with ad.no_grad():
        outputs, loss_fn = closure()
        before = float(loss_fn(outputs))
    assert optimizer.step(closure) == pytest.approx(before, rel=1e-14)
    assert all(p.grad is None for p in model.parameters())


def test_hessian_free_warm_start_uses_the_decayed_previous_direction():
    model, closure = regression_problem(2)
    optimizer = ad.optim.HessianFree(model.parameters(), warm_start_decay=0.5, cg_max_iter=1)
    optimizer.step(closure)
    first = [optimizer.state[id(p)]["direction"].copy() for p in model.parameters()]
    # with one CG iteration the next solution starts at 0.5 * first, then moves once
    twin, twin_closure = regression_problem(2)
    twin.load_state_dict(model.state_dict())
    cold = ad.optim.HessianFree(twin.parameters(), warm_start_decay=0.0, cg_max_iter=1)
    cold.load_state_dict(optimizer.state_dict())
    cold.param_groups[0]["warm_start_decay"] = 0.0
    optimizer.step(closure)
    cold.step(twin_closure)
    warm = [optimizer.state[id(p)]["direction"] for p in model.parameters()]
    plain = [cold.state[id(p)]["direction"] for p in twin.parameters()]
    assert not all(np.allclose(a, b) for a, b in zip(warm, plain))
    assert all(np.all(np.isfinite(d)) for d in first)


def test_hessian_free_state_dict_round_trip_continues_identically():
    model, closure = regression_problem(3)
    optimizer = ad.optim.HessianFree(model.parameters(), cg_max_iter=20)
    for _ in range(3):
        optimizer.step(closure)
    twin, twin_closure = regression_problem(3)
    twin.load_state_dict(copy.deepcopy(model.state_dict()))
    resumed = ad.optim.HessianFree(twin.parameters(), cg_max_iter=20)
    resumed.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    assert resumed.param_groups[0]["damping"] == optimizer.param_groups[0]["damping"]
    for _ in range(2):
        assert optimizer.step(closure) == resumed.step(twin_closure)
    for a, b in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(a.value, b.value)


def test_hessian_free_curvature_closure_on_the_same_batch_takes_the_same_step():
    """The gradient from its own reverse pass equals the curvature operator's by-product."""
    model, closure = regression_problem(4)
    twin, twin_closure = regression_problem(4)
    plain = ad.optim.HessianFree(model.parameters(), cg_max_iter=20)
    split = ad.optim.HessianFree(twin.parameters(), cg_max_iter=20)
    for _ in range(3):
        assert split.step(twin_closure, twin_closure) == pytest.approx(plain.step(closure),
                                                                       rel=1e-12)
        assert split.last_step.cg_iterations == plain.last_step.cg_iterations
    for a, b in zip(model.parameters(), twin.parameters()):
        np.testing.assert_allclose(b.value, a.value, rtol=1e-9, atol=1e-12)


def test_hessian_free_takes_curvature_on_the_curvature_closure_batch():
    """Martens 2010, §4.3: G from a subset, the gradient and the step's tests from the batch."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 3))
    y = np.sin(X @ np.array([1.0, -1.0, 0.5]))
    model = ad.nn.Sequential(ad.nn.Linear(3, 8, rng=5), ad.nn.Tanh(), ad.nn.Linear(8, 1, rng=6))
    seen = []

    def closure():
        return model(X)[:, 0], lambda out: F.mse_loss(out, y)

    def curvature_closure(rows):
        def run():
            seen.append(len(rows))
            return model(X[rows])[:, 0], lambda out: F.mse_loss(out, y[rows])
        return run

    optimizer = ad.optim.HessianFree(model.parameters(), cg_max_iter=30)
    first = optimizer.step(closure, curvature_closure(rng.choice(200, 25, replace=False)))
    for _ in range(10):
        last = optimizer.step(closure, curvature_closure(rng.choice(200, 25, replace=False)))
        assert optimizer.last_step.new_loss <= optimizer.last_step.loss
    assert set(seen) == {25}
    assert last < 0.2 * first
    with pytest.raises(TypeError, match="curvature_closure"):
        optimizer.step(closure, "not a function")


def test_hessian_free_preconditioner_is_the_empirical_fisher_diagonal():
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(20, 4)), rng.integers(0, 3, size=20)
    model = ad.nn.Sequential(ad.nn.Linear(4, 5, rng=0), ad.nn.Tanh(), ad.nn.Linear(5, 3, rng=1))
    params = list(model.parameters())
    optimizer = ad.optim.HessianFree(params, damping=0.5, preconditioner=True)
    theta = [p.value for p in params]

    def outputs(values):
        return ad.nn.functional_call(model, dict(zip(["0.weight", "0.bias", "2.weight",
                                                      "2.bias"], values)), X)

    operator = ad.optim.gauss_newton_operator(outputs, lambda z: F.cross_entropy(z, y), theta)
    inverse = hessian_free.HessianFree._inverse_preconditioner(operator, theta,
                                                               optimizer.param_groups[0])
    squares = [np.zeros_like(t) for t in theta]
    for i in range(20):
        g = ad.grad(lambda v: F.cross_entropy(outputs(v)[i:i + 1], y[i:i + 1]))(theta)
        for total, gi in zip(squares, g):
            total += gi ** 2
    ones = [np.ones_like(t) for t in theta]
    for got, total in zip(inverse(ones), squares):
        np.testing.assert_allclose(got, 1.0 / (total / 20 + 0.5) ** 0.75, rtol=1e-12)


def test_hessian_free_with_preconditioner_trains():
    model, closure = regression_problem(4)
    optimizer = ad.optim.HessianFree(model.parameters(), preconditioner=True,
                                     preconditioner_samples=16, cg_max_iter=30)
    first = optimizer.step(closure)
    for _ in range(10):
        last = optimizer.step(closure)
    assert last < 0.2 * first


def test_hessian_free_trains_the_digits_mlp_to_97_percent(capsys):
    """``autodiff train --optimizer hessian-free`` with its defaults (64-128-10 MLP, 30
    full-batch steps, weight decay 3e-4) on seed 0's split, the hardest of seeds 0-4 (test
    accuracy 97.21, 98.05, 98.89, 98.33, 98.89 %; with the former weight decay 1e-3, seed 0
    reached 96.66 %, and Adam 96.94 %).  About 4 s."""
    status = main(["train", "--optimizer", "hessian-free", "--seed", "0", "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0
    assert float(out.split("test accuracy:")[1].split("%")[0]) >= 97.0


@pytest.mark.parametrize("option, value", [
    ("lr", -1.0), ("lr", 0.0), ("damping", 0.0), ("damping", math.nan), ("cg_max_iter", 0),
    ("cg_tol", -1e-3), ("warm_start_decay", 1.5), ("adapt_damping", 1),
    ("preconditioner", "yes"), ("preconditioner_exponent", 2.0), ("preconditioner_samples", 0),
])
def test_hessian_free_refuses_bad_hyper_parameters(option, value):
    model, _ = regression_problem()
    with pytest.raises(ValueError, match=option):
        ad.optim.HessianFree(model.parameters(), **{option: value})


def test_hessian_free_refuses_parameter_groups_and_bad_closures():
    model, _ = regression_problem()
    first, second = model[0], model[2]
    with pytest.raises(ValueError, match="parameter groups"):
        ad.optim.HessianFree([{"params": list(first.parameters())},
                              {"params": list(second.parameters())}])
    optimizer = ad.optim.HessianFree(model.parameters())
    with pytest.raises(TypeError, match="closure"):
        optimizer.step()
    with pytest.raises(TypeError, match=r"\(outputs, loss_fn\)"):
        optimizer.step(lambda: model(np.ones((2, 3))))


def test_hessian_free_refuses_a_non_finite_loss():
    model, _ = regression_problem()
    optimizer = ad.optim.HessianFree(model.parameters())

    def closure():
        return model(np.ones((2, 3)))[:, 0], lambda out: F.mse_loss(out, np.array([np.nan, 0.0]))

    with pytest.raises(FloatingPointError, match="nan"):
        optimizer.step(closure)


def test_preconditioner_needs_examples_along_the_first_axis():
    model, _ = regression_problem()
    optimizer = ad.optim.HessianFree(model.parameters(), preconditioner=True)

    def closure():
        return np.sum(model(np.ones((2, 3)))), lambda out: out ** 2

    with pytest.raises(ValueError, match="first axis"):
        optimizer.step(closure)


@pytest.mark.parametrize("module", [gauss_newton, hessian_free])
def test_docstring_examples(module):
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0
