"""Compiled replay (``ad.jit``): bit-identical to eager, guards that retrace, nesting, errors."""

import numpy as np
import pytest
from hypothesis import given, settings

import autodiff as ad
from autodiff.jit import JitCheckError, JitError
from test_linearize_hvp import SECOND_ORDER_CASES
from test_pytrees_and_transforms import JACOBIAN_CASES
from test_random_programs import _run, programs

RNG = np.random.default_rng(12)


def assert_identical(got, want):
    """Same pytree structure, same types of numbers, same bits (nan patterns included)."""
    got_leaves, got_tree = ad.pytree.flatten(got)
    want_leaves, want_tree = ad.pytree.flatten(want)
    assert got_tree == want_tree
    for g, w in zip(got_leaves, want_leaves):
        assert type(g) is type(w), (type(g), type(w))
        assert np.shape(g) == np.shape(w) and np.result_type(g) == np.result_type(w)
        np.testing.assert_array_equal(g, w, strict=True)


def rosen_loop(x):
    total = 0.0
    for i in range(len(x) - 1):
        total = total + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


def scalar_loop(x):
    """Loops over x[i] with functions NumPy and math round differently (tanh, exp)."""
    total = 0.0
    for i in range(len(x)):
        total = total + np.tanh(x[i]) * np.exp(-x[i] * x[i]) + x[i] / (1.0 + x[i] ** 2)
    return total


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


A = RNG.normal(size=(7, 4))


def tanh_layer(x):
    return np.tanh(A @ x)


def mlp_loss(params, X, y):
    W1, b1, W2, b2 = params
    hidden = np.maximum(X @ W1 + b1, 0.0)
    out = np.tanh(hidden @ W2 + b2)
    return np.mean((out - y) ** 2) + 1e-3 * np.sum(W1**2)


MLP = [RNG.normal(size=(5, 8)), RNG.normal(size=8), RNG.normal(size=(8, 2)), RNG.normal(size=2)]


def _hvp(f):
    return lambda x: ad.hvp(f, x, np.cos(np.arange(np.size(x), dtype=float)).reshape(np.shape(x)))


def _jvp(f):
    return lambda x: ad.jvp(f, (x,), (np.ones_like(x),))


def _vjp(f):
    def pulled(x):
        out, pullback = ad.vjp(f, x)
        return out, pullback(np.ones_like(out) if np.ndim(out) else 1.0)
    return pulled


TRANSFORMS = {
    "grad": ad.grad, "jvp": _jvp, "vjp": _vjp, "hvp": _hvp, "jacfwd": ad.jacfwd,
    "jacrev": ad.jacrev, "hessian": ad.hessian,
}
FUNCTIONS = {
    "rosenbrock loop": (rosen_loop, RNG.normal(size=6)),
    "scalar loop, tanh and exp": (scalar_loop, RNG.normal(size=5)),
    "vectorised rosenbrock": (rosen, RNG.normal(size=7)),
    "tanh(A @ x)": (tanh_layer, RNG.normal(size=4)),
}


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_replay_is_bit_identical_to_eager(name, transform):
    f, x = FUNCTIONS[name]
    if transform in ("grad", "hvp", "hessian") and name == "tanh(A @ x)":
        f = lambda x: np.sum(tanh_layer(x) ** 2)  # noqa: E731 - a scalar function of x
    eager = TRANSFORMS[transform](f)
    compiled = ad.jit(eager)
    for scale in (1.0, 0.5, -1.3):
        assert_identical(compiled(x * scale), eager(x * scale))
    assert compiled.stats["records"] == 1 and compiled.stats["replays"] == 2


def test_mlp_gradient_replays_new_batches_without_retracing():
    eager = ad.grad(mlp_loss)
    compiled = ad.jit(eager)
    y = RNG.normal(size=(10, 2))
    for _ in range(3):
        X = RNG.normal(size=(10, 5))  # the relu mask changes: recorded as a step, not a guard
        assert_identical(compiled(MLP, X, y), eager(MLP, X, y))
    assert compiled.stats == {"records": 1, "replays": 2, "retraces": 0, "eager": 0}
    assert "relu" in compiled.source() or "maximum" in compiled.source()


@pytest.mark.parametrize("case", sorted(JACOBIAN_CASES))
@pytest.mark.parametrize("transform", [ad.jacfwd, ad.jacrev])
def test_transform_table_under_jit(case, transform):
    f, x = JACOBIAN_CASES[case]
    args = x if isinstance(x, tuple) else (x,)
    argnums = tuple(range(len(args))) if len(args) > 1 else 0
    eager = transform(f, argnums=argnums)
    compiled = ad.jit(eager)
    assert_identical(compiled(*args), eager(*args))
    assert_identical(compiled(*args), eager(*args))  # the replay
    assert compiled.stats["replays"] == 1


@pytest.mark.parametrize("name", sorted(SECOND_ORDER_CASES))
def test_second_order_table_under_jit(name):
    f, x = SECOND_ORDER_CASES[name]
    for transform in (ad.hessian, _hvp(f)):
        eager = transform(f) if transform is ad.hessian else transform
        compiled = ad.jit(eager)
        compiled(x)
        assert_identical(compiled(x * 0.9), eager(x * 0.9))


# -- guards ------------------------------------------------------------------------------------


def branchy(x):
    if np.sum(x) > 0:
        return np.sum(np.sin(x))
    return np.sum(np.cos(x))


def test_branch_flip_retraces():
    compiled = ad.jit(ad.grad(branchy))
    x = np.array([0.5, 1.0, -0.2])
    for v in (x, -x, 2 * x, -3 * x):
        assert_identical(compiled(v), ad.grad(branchy)(v))
    assert compiled.stats == {"records": 2, "replays": 2, "retraces": 1, "eager": 0}
    assert "raise RETRACE" in compiled.source()


def test_data_dependent_index_retraces():
    def f(x):
        i = np.argmax(x)
        return x[i] ** 2 + np.sum(x)

    compiled = ad.jit(ad.grad(f))
    for v in ([1.0, 3.0, 2.0], [1.0, 5.0, 2.0], [4.0, 1.0, 2.0]):
        v = np.array(v)
        assert_identical(compiled(v), ad.grad(f)(v))
    assert compiled.stats["records"] == 2 and compiled.stats["retraces"] == 1


def test_int_and_loop_count_from_data_are_guarded():
    def f(x):
        total = 0.0
        for k in range(int(np.count_nonzero(x > 0))):
            total = total + x[k] * (k + 1)
        return total

    compiled = ad.jit(f)
    for v in ([1.0, 2.0, -1.0], [3.0, 4.0, -2.0], [1.0, 2.0, 3.0]):
        v = np.array(v)
        assert compiled(v) == f(v)
    assert compiled.stats["records"] == 2


def test_shape_and_dtype_changes_record_again():
    compiled = ad.jit(ad.grad(rosen))
    for x in (np.ones(4), np.ones(5), np.ones(5, dtype=np.float32), np.ones(5) * 2):
        assert_identical(compiled(x), ad.grad(rosen)(x))
    assert compiled.stats["records"] == 3 and compiled.stats["replays"] == 1


def test_traces_with_the_same_source_share_the_compiled_code():
    """A batch of another size records again, but its program text is the first one's: the
    code is compiled once (per function: another ad.jit compiles its own)."""
    def loss(w, X):
        return np.sum(np.tanh(X @ w) ** 2)

    compiled = ad.jit(ad.grad(loss))
    w = RNG.normal(size=3)
    for rows in (8, 5, 8, 5):
        X = RNG.normal(size=(rows, 3))
        assert_identical(compiled(w, X), ad.grad(loss)(w, X))
    assert compiled.stats["records"] == 2 and compiled.stats["replays"] == 2
    first, second = [traces[0] for traces in compiled._cache.values()]
    assert first.source == second.source and first.replay is not second.replay
    assert first.replay.__code__ is second.replay.__code__
    other = ad.jit(ad.grad(loss))
    other(w, X)
    assert other._last.replay.__code__ is not first.replay.__code__
    compiled.clear()
    compiled(w, X)
    assert compiled._last.replay.__code__ is not first.replay.__code__


def test_non_array_arguments_key_the_signature():
    compiled = ad.jit(lambda x, power: np.sum(x**power))
    x = np.arange(3.0)
    assert compiled(x, 2) == np.sum(x**2) and compiled(x, 3) == np.sum(x**3)
    assert compiled(x + 1, 2) == np.sum((x + 1) ** 2)
    assert compiled.stats["records"] == 2 and compiled.stats["replays"] == 1


def test_masks_are_recomputed_not_guarded():
    def f(x):
        return np.sum(np.where(x > 0, x**2, -x))

    compiled = ad.jit(ad.grad(f))
    for _ in range(3):
        x = RNG.normal(size=6)
        assert_identical(compiled(x), ad.grad(f)(x))
    assert compiled.stats["records"] == 1


# -- nesting and levels ------------------------------------------------------------------------


def test_jit_inside_grad_runs_eagerly():
    inner = ad.jit(lambda x: np.sum(np.sin(x) ** 2))
    x = RNG.normal(size=4)
    assert_identical(ad.grad(inner)(x), ad.grad(lambda x: np.sum(np.sin(x) ** 2))(x))
    assert_identical(ad.hessian(inner)(x), ad.hessian(lambda x: np.sum(np.sin(x) ** 2))(x))
    assert inner.stats["eager"] == 2 and inner.stats["records"] == 0


def test_grad_of_jit_inside_jit():
    inner = ad.jit(lambda x: np.sum(np.sin(x) ** 2))
    outer = ad.jit(lambda x: ad.grad(inner)(x) * 2.0)
    x = RNG.normal(size=4)
    want = ad.grad(lambda x: np.sum(np.sin(x) ** 2))(x) * 2.0
    assert_identical(outer(x), want)
    assert_identical(outer(x), want)
    assert outer.stats["replays"] == 1


def test_escaped_recorded_value_raises():
    kept = []

    def f(x):
        y = np.sin(x)
        kept.append(y)
        return np.sum(y)

    ad.jit(f)(np.ones(3))
    with pytest.raises(ad.EscapedTracerError):
        np.cos(kept[0]) + 1.0


def test_escaped_tracer_of_a_transform_inside_jit():
    kept = []

    def f(x):
        kept.append(x)
        return np.sum(x**2)

    compiled = ad.jit(lambda x: ad.grad(f)(x))
    compiled(np.ones(3))
    with pytest.raises(ad.EscapedTracerError):
        ad.jit(lambda x: kept[0] * x)(np.ones(3))


def test_side_effects_run_only_while_recording():
    calls = []

    def f(x):
        calls.append(1)
        return np.sum(x**2)

    compiled = ad.jit(f)
    for _ in range(3):
        compiled(np.ones(2))
    assert len(calls) == 1


# -- check mode and errors ---------------------------------------------------------------------


def test_check_catches_a_mutated_captured_constant():
    W = np.array([[1.0, 2.0], [3.0, 4.0]])

    def f(x):
        scaled = W * 2.0  # computed from a constant while recording: baked into the program
        return np.sum(np.tanh(scaled @ x))

    compiled = ad.jit(f, check=True)
    x = np.array([0.1, -0.2])
    compiled(x)
    compiled(x)  # replay, checked
    W[0, 0] = 5.0
    with pytest.raises(JitCheckError, match="changed in place"):
        compiled(x)
    compiled.clear()
    assert compiled(x) == f(x)


def test_recording_failure_names_the_reason():
    def noisy(x):
        return np.sum(x * np.random.normal(size=x.shape))

    with pytest.raises(JitError, match="random"):
        ad.jit(noisy)(np.ones(3))

    hand_built = ad.Var(2.0)
    with pytest.raises(JitError, match="another level"):
        ad.jit(lambda x: np.sum(x * hand_built))(np.ones(3))

    buffer = np.zeros(3)
    with pytest.raises(JitError, match="out="):
        ad.jit(lambda x: np.sin(x, out=buffer))(np.ones(3))


def test_source_is_readable_python():
    compiled = ad.jit(ad.grad(rosen_loop))
    compiled(np.ones(4))
    source = compiled.source()
    assert source.startswith("def replay(x0):\n    x0_l = x0.tolist()\n")  # x[i] as floats
    assert " * " in source and "math_pow(" in source  # Python floats: operators, math.pow
    assert "_l[0] += " in source  # x[i]'s cotangents summed in place, as the eager sweep does
    compile(source, "replay", "exec")


def test_sign_flips_and_float_operands_replay_the_same_bits():
    """-(2 (-v)) of the (1 - x)² terms replays as 2 v, shared with the other terms' 2 v, and
    a Python float operand of a float64 ufunc is a 0-d float64 array: the same bits as the
    eager hvp, signed zeros, infinities and the sign of nan included; a float32 buffer keeps
    the float literal (a float64 constant would promote it)."""
    compiled = ad.jit(lambda x, v: ad.hvp(rosen, x, v))
    x = np.linspace(-1.0, 1.0, 9)
    v = np.array([1.5, -0.0, 0.0, np.nan, -np.nan, np.inf, -np.inf, 1e308, -3.0])
    with np.errstate(all="ignore"):
        compiled(x, v)
        got = compiled(x, v)
        want = ad.hvp(rosen, x, v)
    assert got.tobytes() == want.tobytes()
    source = compiled.source()
    assert source.count("negative(") == 2 and "f64_2_0" in source  # was 4 negations
    assert compiled.stats["replays"] == 1

    compiled32 = ad.jit(lambda x, v: ad.hvp(rosen, x, v))
    x32, v32 = x.astype(np.float32), np.abs(x[::-1]).astype(np.float32)
    compiled32(x32, v32)
    assert compiled32(x32, v32).tobytes() == ad.hvp(rosen, x32, v32).tobytes()
    assert "f64_" not in compiled32.source()


def test_math_errors_replay_through_the_implementations():
    f = ad.jit(lambda x: 1.0 / x[0] + np.exp(x[1]))
    x = np.array([2.0, 1.0])
    assert f(x) == 0.5 + np.exp(1.0)
    with np.errstate(divide="ignore", over="ignore"):
        assert f(np.array([0.0, 1.0])) == np.inf  # ZeroDivisionError in math: NumPy's inf
        assert f(np.array([1.0, 1e4])) == np.inf  # OverflowError in math.exp: NumPy's inf
    assert f.stats["records"] == 1


def test_long_programs_use_the_replay_loop():
    from autodiff.jit import codegen

    def chain(x):
        y = x
        for _ in range(40):
            y = np.sin(y) * 1.0001
        return y

    limit = codegen.MAX_COMPILED_STEPS
    codegen.MAX_COMPILED_STEPS = 50
    try:
        compiled = ad.jit(ad.grad(chain))
        compiled(0.3)
        assert compiled(0.4) == ad.grad(chain)(0.4)
        assert compiled.stats["replays"] == 1 and not compiled._last.compiled
    finally:
        codegen.MAX_COMPILED_STEPS = limit


RULE_DECISIONS = {  # rules that decide from values: recorded steps, checked against eager
    "sort": lambda x: np.sum(np.sort(x) * np.arange(5.0)),
    "median": lambda x: np.median(x) + np.sort(x)[1],
    "clip": lambda x: np.sum(np.clip(x, -0.5, 0.5) ** 2),
    "interp": lambda x: np.sum(np.interp(x, [-1.0, 0.0, 1.0], [0.0, 1.0, 3.0])),
    "maximum": lambda x: np.sum(np.maximum(x[:3], x[2:])),
    "max and prod": lambda x: np.max(x) * np.prod(x[:3]),
}


@pytest.mark.parametrize("name", sorted(RULE_DECISIONS))
def test_rule_decisions_are_recomputed_on_replay(name):
    compiled = ad.jit(ad.grad(RULE_DECISIONS[name]), check=True)
    rng = np.random.default_rng(7)
    for _ in range(5):
        compiled(rng.normal(size=5))  # check=True raises on any difference from eager
    assert compiled.stats["replays"] >= 2  # (interp guards whether x leaves [xp[0], xp[-1]])


# -- minimize compiles its derivatives ---------------------------------------------------------


def test_minimize_compiles_derivatives_and_matches_eager():
    x0 = np.tile([1.3, 0.7, 0.8, 1.9, 1.2], 4)
    compiled = ad.optim.minimize(rosen, x0, method="newton-cg")
    eager = ad.optim.minimize(rosen, x0, method="newton-cg", jit=False)
    assert compiled.success and eager.success and compiled.nit == eager.nit
    np.testing.assert_allclose(compiled.x, eager.x, rtol=1e-12)
    np.testing.assert_allclose(compiled.x, np.ones_like(x0), atol=1e-5)


def test_minimize_falls_back_to_eager_with_a_warning():
    def noisy(x):  # a draw from the global generator cannot be recorded
        return np.sum((x - 1.0) ** 2) + 0.0 * np.random.random()

    with pytest.warns(RuntimeWarning, match="could not be compiled.*random"):
        result = ad.optim.minimize(noisy, np.zeros(3), method="newton-cg")
    assert result.success
    np.testing.assert_allclose(result.x, np.ones(3), atol=1e-6)


def test_nan_aware_reductions_recompute_their_mask():
    compiled = ad.jit(ad.grad(lambda x: np.nanmax(np.where(x > 1.0, np.nan, x))), check=True)
    rng = np.random.default_rng(8)
    for _ in range(4):
        compiled(rng.normal(size=6) * 2)  # the nan pattern changes: check=True compares


def test_nan_outside_the_domain_is_recomputed():
    compiled = ad.jit(ad.grad(lambda x: np.nansum(np.log(x))), check=True)
    with np.errstate(invalid="ignore"):
        for x in ([1.0, 2.0, 3.0], [1.0, -2.0, 3.0], [-1.0, 2.0, 3.0]):
            compiled(np.array(x))  # log's derivative is nan where log is: check=True compares


def test_plain_numpy_functions_replay_as_numpy_runs_them():
    def f(x):  # no transform: NumPy's own functions, np.float64 entries, data-dependent picks
        return x[np.argmax(x)] + x[x > 0.5].sum() + np.linalg.norm(x) * np.median(x) + x[0]

    compiled = ad.jit(f)
    for x in ([0.2, 0.9, 0.4, 0.7], [0.3, 0.1, 0.8, 0.6], [0.25, 0.95, 0.45, 0.75]):
        x = np.array(x)
        assert_identical(compiled(x), f(x))
    assert compiled.stats["records"] == 2  # the argmax and the mask are guarded indices


def test_writes_through_views_of_intermediates_replay():
    def f(x):
        y = x * 2.0
        view = y[:2]
        view[0] = 5.0  # NumPy writes through the view into y
        return np.sum(y)

    compiled = ad.jit(f)
    for x in (np.ones(3), np.arange(3.0)):
        assert_identical(compiled(x), f(x))

    def scatter(x):
        y = x.copy()
        np.add.at(y, [0, 0], x[1:])  # repeated indices accumulate
        return y

    compiled = ad.jit(scatter)
    for x in (np.ones(3), np.arange(3.0)):
        assert_identical(compiled(x), scatter(x))


def test_writes_into_arguments_are_refused():
    def f(x):
        x[1:] += 1.0  # the eager call changes the caller's array; a replay could not
        return np.sum(x)

    with pytest.raises(JitError, match="writes into its argument"):
        ad.jit(f)(np.ones(3))


def test_jit_decorates_methods():
    class Model:
        def __init__(self):
            self.weights = np.arange(3.0)

        @ad.jit
        def loss(self, x):
            return np.sum(self.weights * x**2)

    model = Model()
    assert model.loss(np.ones(3)) == 3.0 and model.loss(np.full(3, 2.0)) == 12.0
    assert Model.loss.stats["records"] == 1 and Model.loss.stats["replays"] == 1


@settings(max_examples=100, deadline=None)
@given(program=programs())
def test_random_programs_under_jit(program):
    """The random programs of the transform tests (indexing, masks, reductions, joins, ...):
    the plain call, jacfwd and jacrev replay bit for bit, on new values too."""
    inputs, steps = program
    argnums = tuple(range(len(inputs)))

    def f(*xs):
        return _run(steps, *xs)

    for eager in (f, ad.jacfwd(f, argnums=argnums), ad.jacrev(f, argnums=argnums)):
        compiled = ad.jit(eager)
        for scale in (1.0, 0.75):
            args = tuple(np.asarray(x * scale) for x in inputs)
            with np.errstate(all="ignore"):
                assert_identical(compiled(*args), eager(*args))


def test_numpy_float_scalars_are_taken_as_the_transforms_take_them():
    f = ad.grad(lambda t: np.logaddexp(t, 0.2) * np.tanh(t))  # math and NumPy round differently
    compiled = ad.jit(f)
    for t in (np.float64(-1.1002), np.float64(0.3)):
        assert compiled(t) == f(t) and type(compiled(t)) is type(f(t))


def test_tuples_of_arrays_take_the_direct_path(monkeypatch):
    """hvp_operator passes its point as a tuple: (x,) and (v,) replay without flattening, and
    their shapes still key the signature."""
    from autodiff.jit import compiled as compiled_module

    product = ad.jit(lambda x, v: ad.hvp(rosen_loop, x, v))
    x, v = RNG.standard_normal(5), RNG.standard_normal(5)
    assert_identical(product((x,), (v,)), ad.hvp(rosen_loop, (x,), (v,)))
    with monkeypatch.context() as patched:
        patched.setattr(compiled_module, "flatten", None)  # the direct path does not flatten
        replays = [product((scale * x,), (v,)) for scale in (1.0, 2.0)]
    for scale, replay in zip((1.0, 2.0), replays):
        assert_identical(replay, ad.hvp(rosen_loop, (scale * x,), (v,)))
    assert product.stats == {"records": 1, "replays": 2, "retraces": 0, "eager": 0}
    longer = (RNG.standard_normal(6),), (RNG.standard_normal(6),)
    assert_identical(product(*longer), ad.hvp(rosen_loop, *longer))  # a new signature
    two = ad.jit(lambda pair, scale: np.sum(np.sin(pair[0]) * pair[1]) * scale)
    pair = (RNG.standard_normal(3), RNG.standard_normal(3))
    for scale in (1.5, 2.5):
        assert two(pair, scale) == np.sum(np.sin(pair[0]) * pair[1]) * scale
    assert product.stats["records"] == 2 and two.stats["records"] == 1


def test_lists_of_floats_take_the_direct_path(monkeypatch):
    """Scalar code takes a list of floats: it replays without flattening, its length keys the
    signature, and a list differs from a tuple of the same floats."""
    from autodiff.jit import compiled as compiled_module

    gradient = ad.jit(ad.grad(rosen_loop))
    x = [float(v) for v in RNG.standard_normal(6)]
    assert_identical(gradient(x), ad.grad(rosen_loop)(x))
    with monkeypatch.context() as patched:
        patched.setattr(compiled_module, "flatten", None)  # the direct path does not flatten
        replays = [gradient([scale * v for v in x]) for scale in (1.0, 2.0)]
    for scale, replay in zip((1.0, 2.0), replays):
        assert type(replay) is list
        assert_identical(replay, ad.grad(rosen_loop)([scale * v for v in x]))
    assert gradient.stats == {"records": 1, "replays": 2, "retraces": 0, "eager": 0}
    assert type(gradient(tuple(x))) is tuple and gradient.stats["records"] == 2
    assert_identical(gradient(x[:4]), ad.grad(rosen_loop)(x[:4]))  # a new length records
    mixed = [x[0], np.array([1.0, 2.0])]
    assert_identical(ad.jit(ad.grad(lambda p: p[0] * np.sum(p[1])))(mixed),
                     ad.grad(lambda p: p[0] * np.sum(p[1]))(mixed))
    assert gradient.stats["records"] == 3


def test_fixed_arguments_compute_their_part_once_with_the_same_bits():
    """jit(f).at(x): the steps of x alone (Rosenbrock's partials at x in its hvp) run on the
    first call and are kept; every call gives the bits of the plain call, special values of v
    included; a new trace (after clear) recomputes them; x in float32 too."""
    for dtype in (np.float64, np.float32):
        compiled = ad.jit(lambda x, v: ad.hvp(rosen, x, v))
        x = np.linspace(-1.0, 1.0, 9).astype(dtype)
        at_x = compiled.at(x)
        vs = [np.array([1.5, -0.0, 0.0, np.nan, -np.nan, np.inf, -np.inf, 1e30, -3.0]),
              np.linspace(2.0, -2.0, 9), np.zeros(9)]
        with np.errstate(all="ignore"):
            for v in [vs[0]] + vs + [vs[1]]:  # the first call records, the others replay
                v = v.astype(dtype)
                assert at_x(v).tobytes() == ad.hvp(rosen, x, v).tobytes()
            kept = at_x.memo[0]
            staged = compiled._last.staged(1)
            assert kept[0] is staged.replay and "state = memo[0]" in staged.source
            compiled.clear()
            v = vs[1].astype(dtype)
            assert at_x(v).tobytes() == ad.hvp(rosen, x, v).tobytes()
            at_x(v)
            assert at_x.memo[0][0] is not kept[0]  # another trace's replay: recomputed
            assert at_x(v).tobytes() == ad.hvp(rosen, x, v).tobytes()
        assert compiled.stats["records"] == 2


def test_fixed_arguments_are_held_as_they_were_when_fixed():
    """A write into the caller's array after ``at(x)`` reaches neither the kept values (sin x)
    nor the steps that read x with v (x v): every call is the one at x's values when it was
    fixed, never a mixture of old and new values."""
    def f(x, v):
        return x * v + np.sin(x) * v

    x = np.linspace(-1.0, 1.0, 9)
    vs = (np.ones(9), np.arange(9.0))
    want = [f(x, v) for v in vs]
    at_x = ad.jit(f).at(x)
    at_x(vs[0])  # records
    at_x(vs[0])  # keeps sin x
    assert at_x.memo[0] is not None
    x[:] = 7.0
    assert all(at_x(v).tobytes() == w.tobytes() for v, w in zip(vs, want))

    # arrays inside a fixed tuple too (the kept sin x and the step y v read the copies)
    def g(point, v):
        x, y = point
        return np.sin(x) * v + y * v

    x, y = np.linspace(-1.0, 1.0, 9), np.ones(9)
    want = [g((x, y), v) for v in vs]
    at_xy = ad.jit(g).at((x, y))
    at_xy(vs[0])
    at_xy(vs[0])
    assert at_xy.memo[0] is not None
    x[:], y[:] = 7.0, 2.0
    assert all(at_xy(v).tobytes() == w.tobytes() for v, w in zip(vs, want))


def test_fixed_arguments_with_nothing_to_keep_or_guards_run_the_plain_replay():
    only_v = ad.jit(lambda x, v: np.sin(v) * 2.0)  # nothing computed from x alone
    at_x = only_v.at(np.ones(3))
    v = np.arange(3.0)
    assert np.array_equal(at_x(v), np.sin(v) * 2.0) and np.array_equal(at_x(v), only_v(
        np.ones(3), v))
    assert only_v._last.staged(1) is None and at_x.memo == [None]

    def branchy(x, v):
        return np.exp(x) * v if float(np.sum(x)) > 0 else -np.exp(x) * v

    guarded = ad.jit(branchy)
    for x in (np.ones(3), -np.ones(3)):
        at_x = guarded.at(x)
        for _ in range(2):
            assert np.array_equal(at_x(v), branchy(x, v))
        assert guarded._last.staged(1) is None

    not_plain = ad.jit(lambda x, v: np.sum(x["a"] ** 2) * v).at({"a": np.ones(2)})
    assert not_plain(np.ones(2)).tolist() == [2.0, 2.0] and not_plain.n_fixed == 0


def test_reshapes_and_unbroadcasts_to_the_same_shape_record_no_step():
    """The VJPs of broadcasting operations and reshapes send most cotangents through
    ``unbroadcast`` / ``reshape`` to their own shape: the recording keeps the operand (no
    step), with the eager bits; a sum that broadcasting needs stays."""
    rng = np.random.default_rng(0)
    params = [rng.standard_normal((5, 4)), rng.standard_normal(5),
              rng.standard_normal((3, 5)), rng.standard_normal(3)]
    X = rng.standard_normal((6, 4))

    def loss(params, X):
        h = np.maximum(X @ params[0].T + params[1], 0.0)
        return np.sum((h @ params[2].T + params[3]) ** 2)

    compiled = ad.jit(ad.grad(loss))
    compiled(params, X)
    got, want = compiled(params, X), ad.grad(loss)(params, X)
    assert all(g.tobytes() == w.tobytes() for g, w in zip(got, want))
    source = compiled.source()
    assert source.count("unbroadcast(") == 2  # the two bias gradients sum over the batch
    assert "reshape(" not in source


def test_a_write_through_a_same_shape_reshape_reaches_the_array_as_in_numpy():
    def f(x):
        y = x * 1.0
        z = y.reshape(y.shape)
        z[0] = 5.0
        return y + z

    compiled = ad.jit(f)
    x = np.arange(3.0)
    compiled(x)
    assert compiled(x).tolist() == f(x).tolist() == [10.0, 2.0, 4.0]


def test_replayed_gradients_are_laid_out_as_the_eager_ones():
    """``X @ W.T`` leaves W's gradient a transposed view; grad hands it over C-contiguous, and
    the replay does too (a recorded ``astype(order='C')``), with the same bits."""
    rng = np.random.default_rng(1)
    W, X = rng.standard_normal((5, 4)), rng.standard_normal((6, 4))

    def loss(W, X):
        return np.sum(np.tanh(X @ W.T))

    compiled = ad.jit(ad.grad(loss))
    compiled(W, X)
    got, want = compiled(W, X), ad.grad(loss)(W, X)
    assert want.flags.c_contiguous and got.flags.c_contiguous
    assert got.tobytes() == want.tobytes()
