"""``linearize``, ``hvp``, ``hvp_operator`` and ``hessian``.

References: ``jvp`` / ``vjp`` of the same function, SciPy's analytic Rosenbrock Hessian
(``rosen_hess_prod``, ``rosen_hess``), differenced gradients (Aggarwal, *Neural Networks and Deep
Learning*, 2018, sec. 3.5.6.1, central form), and the three nestings of first-order transforms against each other.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize as so
import scipy.sparse.linalg as spla

import autodiff as ad
from autodiff.rules.primitive import REGISTRY


def rosenbrock(x):
    """SciPy's ``rosen``, vectorised: sum of 100 (x_(i+1) - x_i^2)^2 + (1 - x_i)^2."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def relative_error(actual, expected):
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    return np.linalg.norm(actual - expected) / np.linalg.norm(expected)


RNG = np.random.default_rng(3)
W1, W2 = RNG.normal(size=(4, 3)), RNG.normal(size=(3, 2))


def mlp_loss(params, data=RNG.normal(size=(5, 4)), labels=np.array([0, 1, 1, 0, 1])):
    """A two-layer network's cross-entropy: tanh, matmul, broadcasting, logsumexp, indexing."""
    hidden = np.tanh(data @ params["W1"] + params["b1"])
    logits = hidden @ params["W2"]
    picked = logits[np.arange(5), labels]
    return np.mean(ad.logsumexp(logits, axis=1) - picked) + 0.1 * np.sum(params["W1"] ** 2)


MLP_PARAMS = {"W1": W1, "b1": RNG.normal(size=3), "W2": W2}


def random_like(tree, rng):
    return ad.pytree.tree_map(lambda leaf: rng.normal(size=np.shape(leaf)), tree)


# ----------------------------------------------------------------------------------------------
# linearize
# ----------------------------------------------------------------------------------------------

LINEARIZE_CASES = {
    "scalar": (lambda x: np.sin(x) * np.exp(x) / (1 + x**2), 0.7),
    "elementwise": (lambda x: np.tanh(x) ** 2 + np.log1p(x**2), RNG.normal(size=5)),
    "matmul, broadcasting": (
        lambda x: np.exp(x @ W1)[:, :, None] * x[:, None, :] + x[0], RNG.normal(size=(2, 4))
    ),
    "reductions, indexing": (
        lambda x: ad.stack([np.max(x), np.prod(x[1:3]), ad.logsumexp(x), x[::-1][0]]),
        RNG.normal(size=6),
    ),
    "where, concatenate": (
        lambda x: np.concatenate([np.where(x > 0, np.sqrt(np.abs(x)), x**3), np.cumsum(x)]),
        RNG.normal(size=4),
    ),
    "pytree in and out": (
        lambda p: {"loss": mlp_loss(p), "hidden": np.sin(p["W1"]) @ p["W2"]},
        MLP_PARAMS,
    ),
    "tuple means several arguments": (lambda a, b: (a * b, np.sum(a**2) * b), (1.5, np.ones(3))),
}


@pytest.mark.parametrize("name", sorted(LINEARIZE_CASES))
def test_linearize_matches_jvp(name):
    f, x = LINEARIZE_CASES[name]
    out, f_jvp = ad.linearize(f, x)
    rng = np.random.default_rng(0)
    for _ in range(3):
        v = random_like(x, rng) if not isinstance(x, float) else rng.normal()
        expected_out, expected = ad.jvp(f, x, v)
        for a, b in zip(ad.pytree.flatten(f_jvp(v))[0], ad.pytree.flatten(expected)[0]):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
    for a, b in zip(ad.pytree.flatten(out)[0], ad.pytree.flatten(expected_out)[0]):
        np.testing.assert_allclose(a, b, rtol=1e-15)


@pytest.mark.parametrize("name", sorted(LINEARIZE_CASES))
def test_batched_replay_equals_one_at_a_time(name):
    f, x = LINEARIZE_CASES[name]
    _, f_jvp = ad.linearize(f, x)
    rng = np.random.default_rng(1)
    directions = [random_like(x, rng) if not isinstance(x, float) else rng.normal()
                  for _ in range(3)]
    stacked = ad.pytree.tree_map(lambda *leaves: np.stack(leaves), *directions)
    batched = ad.pytree.flatten(f_jvp.batched(stacked))[0]
    singles = [ad.pytree.flatten(f_jvp(v))[0] for v in directions]
    for i, leaf in enumerate(batched):
        np.testing.assert_allclose(leaf, np.stack([s[i] for s in singles]), rtol=1e-13, atol=1e-14)


def test_f_runs_once_and_replay_is_linear_operations_only():
    calls = []

    def f(x):
        calls.append(1)
        return np.exp(np.sin(x)) * np.log(x)

    _, f_jvp = ad.linearize(f, np.array([0.5, 1.5]))
    for _ in range(4):
        f_jvp(np.array([1.0, -1.0]))
    assert len(calls) == 1
    assert set(f_jvp.operations) <= {"multiply", "add"}, f_jvp.operations


def test_hvp_operator_replays_far_fewer_primitives_than_hvp(monkeypatch):
    counts = [0]

    def counting(impl):
        def counted(*args, **params):
            counts[0] += 1
            return impl(*args, **params)

        return counted

    for prim in REGISTRY.values():
        monkeypatch.setattr(prim, "impl", counting(prim.impl))
    x, v = np.linspace(-1, 1, 50), np.ones(50)
    op = ad.hvp_operator(rosenbrock, x, jit=False)  # the linearisation's replay
    counts[0] = 0
    op(v)
    replay = counts[0]
    counts[0] = 0
    ad.hvp(rosenbrock, x, v)
    # 20 against 40 here (63 before the sweep added dual cotangents and took d * ones as d
    # itself, without a primitive: issue 13)
    assert 3 * replay < 2 * counts[0]


def test_replay_is_differentiable_its_gradient_is_the_transpose():
    f, x = LINEARIZE_CASES["matmul, broadcasting"]
    _, f_jvp = ad.linearize(f, x)
    u = np.random.default_rng(2).normal(size=f(x).shape)
    transpose = ad.grad(lambda v: np.sum(u * f_jvp(v)))(np.zeros_like(x))
    np.testing.assert_allclose(transpose, ad.vjp(f, x)[1](u), rtol=1e-13)


def test_linearize_keeps_dtype_and_ignores_no_grad_inside_f():
    def f(x):
        with ad.no_grad():
            return np.sin(x) * 2.0

    x = np.array([0.1, 0.2], dtype=np.float32)
    _, f_jvp = ad.linearize(f, x)
    product = f_jvp(np.array([1.0, 1.0]))  # float64 direction: cast to x's dtype
    assert product.dtype == np.float32
    np.testing.assert_allclose(product, 2 * np.cos(x), rtol=1e-6)


def test_output_independent_of_input_has_zero_tangent():
    out, f_jvp = ad.linearize(lambda x: (np.sin(x), np.ones(3)), np.array([0.3]))
    tangent = f_jvp(np.array([2.0]))
    np.testing.assert_allclose(tangent[0], 2 * np.cos(0.3))
    np.testing.assert_array_equal(tangent[1], np.zeros(3))


@pytest.mark.parametrize(
    "v, error, match",
    [
        ({"W1": W1, "b1": np.ones(3)}, ValueError, "structure"),
        ({"W1": W1, "b1": np.ones(4), "W2": W2}, ValueError, "shape"),
        ({"W1": W1 + 1j, "b1": np.ones(3), "W2": W2}, TypeError, "complex"),
    ],
    ids=["structure", "shape", "complex"],
)
def test_linearized_direction_is_checked(v, error, match):
    _, f_jvp = ad.linearize(mlp_loss, MLP_PARAMS)
    with pytest.raises(error, match=match):
        f_jvp(v)


def test_replay_after_outer_transform_closed_raises():
    kept = []

    def outer(x):
        kept.append(ad.linearize(lambda y: np.sin(x * y), 1.0)[1])
        return x

    ad.jvp(outer, 0.5, 1.0)
    with pytest.raises(ad.EscapedTracerError):
        kept[0](1.0)


# ----------------------------------------------------------------------------------------------
# hvp and hessian against SciPy's analytic Rosenbrock
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 10, 1000])
def test_hvp_and_operator_on_rosenbrock_match_rosen_hess_prod(n):
    rng = np.random.default_rng(n)
    x, v = rng.normal(size=n), rng.normal(size=n)
    expected = so.rosen_hess_prod(x, v)
    assert relative_error(ad.hvp(rosenbrock, x, v), expected) < 1e-10
    assert relative_error(ad.hvp_operator(rosenbrock, x)(v), expected) < 1e-10


def test_hessian_matches_rosen_hess():
    x = np.random.default_rng(5).normal(size=6)
    np.testing.assert_allclose(ad.hessian(rosenbrock)(x), so.rosen_hess(x), rtol=1e-12, atol=1e-9)


SECOND_ORDER_CASES = {
    "rosenbrock": (rosenbrock, np.random.default_rng(6).normal(size=5)),
    "log-sum-exp plus quartic": (
        lambda x: ad.logsumexp(np.sin(x) * 3) + np.sum(x**4) / 4, np.linspace(-1, 1, 4)
    ),
    "network loss, flat weights": (
        lambda w: mlp_loss({"W1": w[:12].reshape(4, 3), "b1": w[12:15], "W2": w[15:].reshape(3, 2)}),
        np.concatenate([W1.ravel(), MLP_PARAMS["b1"], W2.ravel()]),
    ),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER_CASES))
def test_all_orders_of_nesting_give_the_same_hessian(name):
    f, x = SECOND_ORDER_CASES[name]
    forward_over_reverse = ad.jacfwd(ad.grad(f))(x)
    reverse_over_reverse = ad.jacrev(ad.grad(f))(x)
    forward_over_forward = ad.jacfwd(ad.jacfwd(f))(x)
    operator = ad.hvp_operator(f, x).matmat(np.eye(x.size))
    np.testing.assert_allclose(ad.hessian(f)(x), forward_over_reverse, rtol=1e-12, atol=1e-12)
    for other in (reverse_over_reverse, forward_over_forward, operator):
        np.testing.assert_allclose(other, forward_over_reverse, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(forward_over_reverse, forward_over_reverse.T, rtol=1e-12, atol=1e-12)


def test_hvp_on_network_pytree_equals_differenced_gradients():
    rng = np.random.default_rng(8)
    v = random_like(MLP_PARAMS, rng)
    step = 1e-5  # differenced gradients in central form: error O(step^2)
    shifted = [ad.pytree.tree_map(lambda p, d, s=s: p + s * step * d, MLP_PARAMS, v)
               for s in (1.0, -1.0)]
    plus, minus = (ad.grad(mlp_loss)(p) for p in shifted)
    differenced = ad.pytree.tree_map(lambda a, b: (a - b) / (2 * step), plus, minus)
    exact = ad.hvp(mlp_loss, MLP_PARAMS, v)
    from_operator = ad.hvp_operator(mlp_loss, MLP_PARAMS)(v)
    for key in MLP_PARAMS:
        assert relative_error(exact[key], differenced[key]) < 1e-7
        np.testing.assert_allclose(from_operator[key], exact[key], rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------------------------
# hvp_operator as a linear operator
# ----------------------------------------------------------------------------------------------


def convex(x):
    """exp-sum plus a quadratic: positive definite Hessian, for CG."""
    A = np.arange(1.0, 1.0 + x.size)
    return np.sum(np.exp(0.3 * x)) + 0.5 * np.sum(A * x**2) + 0.25 * np.sum(x[1:] * x[:-1])


@pytest.mark.parametrize("x", [np.linspace(-1, 1, 6), np.zeros(1)], ids=["n=6", "n=1"])
def test_operator_drops_into_scipy_cg(x):
    op = ad.hvp_operator(convex, x)
    b = np.arange(1.0, x.size + 1.0)
    expected = np.linalg.solve(ad.hessian(convex)(x), b)
    direct, info = spla.cg(op, b, rtol=1e-12)
    assert info == 0
    np.testing.assert_allclose(direct, expected, rtol=1e-8)
    wrapped = spla.LinearOperator(op.shape, matvec=op.matvec, dtype=op.dtype)
    np.testing.assert_allclose(spla.cg(wrapped, b, rtol=1e-12)[0], expected, rtol=1e-8)
    assert op.count > 0


def test_operator_attributes_count_and_shapes():
    params = MLP_PARAMS
    op = ad.hvp_operator(mlp_loss, params)
    n = sum(np.size(leaf) for leaf in params.values())
    assert op.shape == (n, n) and op.dtype == np.float64 and op.count == 0
    flat = np.random.default_rng(9).normal(size=n)
    tree = op.spec.unravel(flat)
    np.testing.assert_allclose(op.matvec(flat), op.spec.ravel(ad.hvp(mlp_loss, params, tree)),
                               rtol=1e-12, atol=1e-14)
    assert op.matvec(flat[:, None]).shape == (n, 1)
    assert op.matmat(np.eye(n)[:, :4]).shape == (n, 4)
    assert op.count == 1 + 1 + 4
    np.testing.assert_allclose(op.gradient["W2"], ad.grad(mlp_loss)(params)["W2"], rtol=1e-14)
    assert op.curvature(tree) == pytest.approx(flat @ op.matvec(flat), rel=1e-12)
    assert op.curvature(flat) == pytest.approx(flat @ op.matvec(flat), rel=1e-12)
    with pytest.raises(ValueError, match="flat vector"):
        op.matvec(np.ones(n + 1))


def test_curvature_flags_a_saddle():
    op = ad.hvp_operator(lambda x: x[0] ** 2 - 3 * x[1] ** 2 + x[0] * x[1], np.zeros(2))
    assert op.curvature(np.array([1.0, 0.0])) == pytest.approx(2.0)
    assert op.curvature(np.array([0.0, 1.0])) == pytest.approx(-6.0)


def test_operator_with_several_arguments_and_float32():
    def f(a, b):
        return np.sum(a**2 * b) + np.sum(np.sin(b))

    a = np.array([1.0, 2.0], dtype=np.float32)
    b = np.array([0.5, -0.5], dtype=np.float32)
    op = ad.hvp_operator(f, (a, b))
    assert op.shape == (4, 4) and op.dtype == np.float32
    v = (np.ones(2, np.float32), np.ones(2, np.float32))
    for got, expected in zip(op(v), ad.hvp(f, (a, b), v)):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert op.matvec(np.ones(4)).dtype == np.float32


def test_operator_takes_a_matrix_of_columns_in_one_batched_replay(monkeypatch):
    # before: op(V) for V of shape (n, k) raised "direction v has shape (n, k)"
    params = MLP_PARAMS
    op = ad.hvp_operator(mlp_loss, params)
    n = op.shape[0]
    columns = np.random.default_rng(10).normal(size=(n, 5))
    replays = []
    batched = op._batched_product
    monkeypatch.setattr(op, "_batched_product", lambda vs: replays.append(1) or batched(vs))
    product = op(columns)
    assert product.shape == (n, 5) and replays == [1] and op.count == 5
    for j in range(5):
        np.testing.assert_allclose(product[:, j], op.matvec(columns[:, j]), rtol=1e-12,
                                   atol=1e-14)


def test_operator_on_one_column_and_on_x_shaped_column_agree():
    op = ad.hvp_operator(convex, np.linspace(-1.0, 1.0, 4)[:, None])  # x of shape (4, 1)
    v = np.arange(4.0)[:, None]
    np.testing.assert_array_equal(op(v), op.matmat(v))


@pytest.mark.parametrize("x", [
    np.linspace(-1.0, 1.0, 7),
    {"a": np.linspace(0.0, 1.0, 3), "b": (np.ones((2, 2)), 0.5)},
], ids=["vector", "pytree"])
@pytest.mark.parametrize("chunk_size", [1, 3, 64])
def test_diagonal_is_exact_and_shaped_like_x(x, chunk_size):
    def f(p):
        leaves = ad.pytree.flatten(p)[0]
        flat = np.concatenate([np.reshape(leaf, (-1,)) for leaf in leaves])
        return convex(flat) + np.sum(flat[:-1] ** 2 * flat[1:])

    op = ad.hvp_operator(f, x)
    diagonal = op.diagonal(chunk_size=chunk_size)
    dense = op.matmat(np.eye(op.shape[0]))
    np.testing.assert_allclose(op.spec.ravel(diagonal), np.diag(dense), rtol=1e-12, atol=1e-14)
    assert ad.pytree.flatten(diagonal)[1] == ad.pytree.flatten(x)[1]
    assert op.count == 2 * op.shape[0]


def test_diagonal_warns_about_its_cost_above_2000_entries():
    op = ad.hvp_operator(lambda x: np.sum(x ** 3), np.ones(2001))
    with pytest.warns(UserWarning, match="2001 Hessian-vector products"):
        diagonal = op.diagonal(chunk_size=1000)
    np.testing.assert_allclose(diagonal, 6.0 * np.ones(2001))


def test_diagonal_keeps_float32_and_checks_its_chunk_size():
    op = ad.hvp_operator(lambda x: np.sum(x ** 3), np.ones(3, np.float32))
    assert op.diagonal().dtype == np.float32
    with pytest.raises(ValueError, match="chunk_size"):
        op.diagonal(chunk_size=0)


def test_operator_rejects_vectors_of_another_shape():
    op = ad.hvp_operator(mlp_loss, MLP_PARAMS)
    with pytest.raises(ValueError, match="shaped like x"):
        op({"W1": np.ones(3)})
    with pytest.raises(ValueError, match="shaped like x"):
        op(np.ones(op.shape[0] + 1))


def test_binds_short_pass_is_its_full_pass():
    """bind's one short pass (numbers, real arrays, one level's traced values: the duals of
    ad.hvp) gives what the full pass gives, and the rest still takes the full pass: a traced
    value inside an object array, two levels at once and a complex operand."""
    from autodiff.forward.dual import Dual
    from autodiff.rules import elementwise as ew
    from autodiff.rules.primitive import _bind_general, bind

    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    for prim, args in [(ew.multiply, [Dual(a, b), 2]), (ew.add, [Dual(a, b), Dual(b, a)]),
                       (ew.power, [Dual(a, b), 3.0]), (ew.subtract, [1.0, a])]:
        got, want = bind(prim, *args), _bind_general(prim, args, {})
        assert type(got) is type(want)
        for part in ("_primal_", "tangent"):
            np.testing.assert_array_equal(getattr(got, part, got), getattr(want, part, want))
    holder = np.empty(1, dtype=object)
    holder[0] = Dual(1.0, 2.0)
    assert bind(ew.multiply, holder, 3.0).tangent.tolist() == [6.0]

    def outer(y):
        return ad.jvp(lambda z: bind(ew.multiply, y, z), 2.0, 1.0)[1]

    assert ad.jvp(outer, 5.0, 1.0)[1] == 1.0  # d/dy (y * 1): the outer level's value survives
    with pytest.raises(TypeError, match="complex"):
        bind(ew.multiply, Dual(a, b), 1j)


def test_reverse_level_on_its_forward_levels_duals_gives_binds_results(monkeypatch):
    """Forward over reverse, the reverse level hands operands that are duals of the forward
    level under it (or numbers and real arrays) to that level directly (``VjpLevel.below``):
    the same bits as with every operation going through bind, for a Hessian-vector product, a
    Hessian (batched duals), a value of an outer transform in the expression, and a dual of a
    closed level (its escape error)."""
    from autodiff import transforms

    x, v = RNG.normal(size=7), RNG.normal(size=7)

    def f(x):
        return rosenbrock(x) + np.sum(np.sin(x) * x[::-1]) + np.sum(np.exp(x[2:5]) / 3.0)

    def outer(s):  # s: a dual of an older level, a constant to the reverse level's operations
        return ad.hvp(lambda y: np.sum(y ** 3 * s) + f(y), x, v)

    leaked = []

    def leaking(y):
        leaked.append(y._primal_)  # the dual under the Var: its level closes with hvp
        return f(y)

    def runs():
        results = [ad.hvp(f, x, v), ad.hessian(f)(x), ad.jvp(outer, 2.0, 1.0),
                   ad.hvp(leaking, x, v)]
        with pytest.raises(ad.EscapedTracerError):
            ad.hvp(lambda y: np.sum(y * leaked[-1]), x, v)
        return results

    direct = runs()
    monkeypatch.setattr(transforms, "_forward_level_of", lambda leaves: None)
    through_bind = runs()
    for got, want in zip(ad.pytree.flatten(direct)[0], ad.pytree.flatten(through_bind)[0]):
        assert np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_array_equal(got, want)
