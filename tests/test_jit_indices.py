"""Compiled replay (``ad.jit``) of the data rules read: never stale, slots where they can be.

An integer array that reaches a gather or a scatter (an argument, labels, an ``argsort``) is a
value of the recording; a replay must read the positions of *its* call.  Positions set no
shape, so the gathers keep them as recorded values (program slots): a new index array of the
same shape replays without recording again.  Values that set a shape (a bool mask's count,
repeat counts, ``np.unique``) or that NumPy reads itself (an index of a plain array) are
guarded: a replay where they differ records again.  The same holds for what derivative rules
compute from values (tie weights, ``-floor(a / b)``, nan masks): recorded steps or guards.
Every call here runs with ``check=True`` (the eager call alongside the replay, bit for bit)
and is compared with the eager call again.
"""

import numpy as np
import pytest
from scipy import special
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff as ad
from autodiff.rules.primitive import REGISTRY
from rule_domains import ARRAY_CASES, NUMPY_CASES, sample_inputs
from test_jit import assert_identical

N, M = 5, 4
RNG = np.random.default_rng(4)
X = RNG.standard_normal((N, M))


def positions(seed, low=0, high=M, size=N):
    return np.random.default_rng(seed).integers(low, high, size)


def _put(x, i):
    y = x * 1.0
    np.put_along_axis(y, i[:, None], np.sin(x[:, :1]), axis=1)
    return np.sum(y**2)


def _setitem(x, i):
    y = x * 1.0
    y[np.arange(N), i] = np.cos(x[:, 0])
    return np.sum(y**2)


def _add_at(x, i):
    y = np.zeros((N, M)) + x
    np.add.at(y, (np.arange(N), i), x[:, 0] ** 2)
    return np.sum(y**3)


def _copyto(x, i):
    y = x * 1.0
    np.copyto(y, x**2, where=i[:, None] > np.arange(M))
    return np.sum(y**2)


#: every operation that takes integer positions (or a mask computed from them): f(x, i)
INDEXED = {
    "take_along_axis": lambda x, i: np.sum(np.take_along_axis(x, i[:, None], axis=-1) ** 2),
    "x[i]": lambda x, i: np.sum(x[i] ** 3),
    "x[arange, i]": lambda x, i: np.sum(x[np.arange(N), i] ** 3),
    "x[:, i]": lambda x, i: np.sum(np.sin(x[:, i])),
    "take-axis": lambda x, i: np.sum(np.take(x, i, axis=1) ** 3),
    "take-flat": lambda x, i: np.sum(np.take(x, i) ** 3),
    "take-wrap": lambda x, i: np.sum(np.take(x, i + 3, axis=1, mode="wrap") ** 3),
    "take-clip": lambda x, i: np.sum(np.take(x, i - 1, axis=1, mode="clip") ** 3),
    "put_along_axis": _put,
    "setitem": _setitem,
    "add.at": _add_at,
    "one-hot": lambda x, i: np.sum((np.arange(M) == i[:, None]) * x**2),
    "argsort-gather": lambda x, i: np.sum(
        np.take_along_axis(x, np.argsort(x * i[:, None], axis=1), axis=1) * np.arange(M)),
    "argmax-gather": lambda x, i: np.sum(
        x[np.arange(N), np.argmax(x + i[:, None], axis=1)] ** 2),
    "choose": lambda x, i: np.sum(np.choose(i[:, None] % 2, [x, x**2]) ** 2),
    "select": lambda x, i: np.sum(
        np.select([x > 0, (i[:, None] > 1) & (x < 0)], [x, x**2], default=0.5 * x) ** 2),
    "copyto-where": _copyto,
    "sum-where": lambda x, i: np.sum(x**2, where=i[:, None] > np.arange(M)),
    "cross-entropy": lambda x, i: -np.sum(
        x[np.arange(N), i] - np.log(np.sum(np.exp(x), axis=1))),
}


def _pullback_inside(f):
    def g(x, i):
        value, pullback = ad.vjp(lambda x: f(x, i), x)
        return value, pullback(1.0)

    return g


TRANSFORMS = {
    "plain": lambda f: f,
    "grad": ad.grad,
    "value_and_grad": ad.value_and_grad,
    "jacrev": lambda f: lambda x, i: ad.jacrev(lambda x: f(x, i))(x),
    "jacfwd": lambda f: lambda x, i: ad.jacfwd(lambda x: f(x, i))(x),
    "hvp": lambda f: lambda x, i: ad.hvp(lambda x: f(x, i), x, np.cos(x)),
    "hessian": lambda f: lambda x, i: ad.hessian(lambda x: f(x, i))(x),
    "vjp-pullback": _pullback_inside,
}


@pytest.mark.parametrize("transform", list(TRANSFORMS))
@pytest.mark.parametrize("operation", list(INDEXED))
def test_integer_positions_are_slots_in_every_transform(operation, transform):
    """New positions of the same shape replay the one recording (the index array is a slot
    of the program: no guard on it) and give the eager call's bits."""
    fn = TRANSFORMS[transform](INDEXED[operation])
    compiled = ad.jit(fn, check=True)
    for seed in range(4):
        i = positions(seed)
        assert_identical(compiled(X, i), fn(X, i))
    assert compiled.stats == {"records": 1, "replays": 3, "retraces": 0, "eager": 0}
    assert "seen__" not in compiled.source()  # no value guard in the program


def test_the_reported_take_along_axis_gradient_reads_new_indices():
    """The failure that started this: the replay gathered at the recorded indices."""
    f = ad.value_and_grad(
        lambda x, i: np.sum(np.take_along_axis(x, i[:, None], axis=-1) ** 2))
    compiled = ad.jit(f, check=True)
    i1 = positions(0)
    i2 = (i1 + 1) % M
    assert_identical(compiled(X, i1), f(X, i1))
    assert_identical(compiled(X, i2), f(X, i2))
    assert compiled.stats["records"] == 1 and compiled.stats["replays"] == 1
    source = compiled.source()
    assert "take_along_axis(x0, indices=getitem" in source  # reads x1, the argument
    assert "scatter_along_axis(" in source and "indices=c__" not in source


#: values that set a shape, or that NumPy reads itself: guarded (records again on a change)
GUARDED = {
    "compress": lambda x, i: np.sum(np.compress(i > 1, x, axis=0) ** 2),
    "extract": lambda x, i: np.sum(np.extract(i[:, None] > np.arange(M), x) ** 2),
    "repeat": lambda x, i: np.sum(np.repeat(x, i + 1, axis=0) ** 2),
    "bool-mask": lambda x, i: np.sum(x[i[:, None] > np.arange(M)] ** 2),
    "unique": lambda x, i: np.sum(np.unique(x[i]) ** 2),
    "0-d argmax": lambda x, i: np.sum(x.ravel()[np.argmax(x.ravel() * i.repeat(M))] ** 2),
    "plain-array[i]": lambda x, i: np.sum(X[i] * x),
    "np.take(plain, i)": lambda x, i: np.sum(np.take(X, i, axis=0) * x),
}


@pytest.mark.parametrize("transform", ["plain", "grad", "jacfwd", "hvp"])
@pytest.mark.parametrize("operation", list(GUARDED))
def test_shape_setting_values_are_guarded_never_stale(operation, transform):
    fn = TRANSFORMS[transform](GUARDED[operation])
    compiled = ad.jit(fn, check=True)
    calls = [positions(seed) for seed in (0, 1, 0, 2, 1)]
    for i in calls:
        assert_identical(compiled(X, i), fn(X, i))
    stats = compiled.stats
    assert stats["records"] + stats["replays"] == len(calls)
    assert stats["replays"] >= 2  # the repeated index arrays replay a kept trace


def test_labels_of_a_cross_entropy_step_replay_without_recording_again():
    """``z[np.arange(n), y]`` in a hand-written cross-entropy: each new batch of labels replays
    the recorded gradient step (before, each batch recorded the step again)."""
    n, classes = 16, 3
    data = np.random.default_rng(1)
    W1, W2 = data.standard_normal((4, 8)), data.standard_normal((8, classes))
    inputs = data.standard_normal((n, 4))

    def loss(W1, W2, X, y):
        z = np.tanh(X @ W1) @ W2
        z = z - np.max(z, axis=1, keepdims=True)
        return -np.mean(z[np.arange(n), y] - np.log(np.sum(np.exp(z), axis=1)))

    eager = ad.value_and_grad(loss, argnums=(0, 1))
    step = ad.jit(eager, check=True)
    for _ in range(5):
        y = data.integers(0, classes, n)
        assert_identical(step(W1, W2, inputs, y), eager(W1, W2, inputs, y))
    assert step.stats == {"records": 1, "replays": 4, "retraces": 0, "eager": 0}


def test_ad_nn_cross_entropy_labels_are_a_slot():
    logits = np.random.default_rng(2).standard_normal((6, 3))
    grad = ad.grad(lambda z, y: ad.nn.functional.cross_entropy(z, y))
    compiled = ad.jit(grad, check=True)
    for seed in range(4):
        y = positions(seed, high=3, size=6)
        assert_identical(compiled(logits, y), grad(logits, y))
    assert compiled.stats["records"] == 1
    with pytest.raises(ValueError, match=r"labels must lie in 0 \.\. 2"):
        compiled(logits, np.array([0, 1, 2, 3, 0, 1]))  # the range guard records again


def test_a_jvp_writing_into_its_zero_tangent_gets_a_fresh_one_on_every_replay():
    """``y[idx] = v`` under jacfwd writes into a zero tangent the rule makes per call; in the
    program it is a constant, so each replay writes into a copy (positions written by an
    earlier replay would otherwise stay in it)."""
    fn = TRANSFORMS["jacfwd"](_setitem)
    compiled = ad.jit(fn, check=True)
    for seed in range(3):
        i = positions(seed)
        assert_identical(compiled(X, i), fn(X, i))
    assert "inplace=True" not in compiled.source().split("index_update(c__", 1)[-1].split("\n")[0]


def test_gathers_of_a_transposed_layout_sum_as_the_eager_call():
    """A node keeps a copy of a writable array in its own layout (a gather along axis 1 gives
    an F-ordered array), so the eager sum adds in the order NumPy and the replay add."""
    f = lambda x, i: np.sum(np.sin(x[:, i]))  # noqa: E731
    i = np.array([3, 2, 2, 1, 1])
    compiled = ad.jit(ad.value_and_grad(f), check=True)
    for seed in range(10):  # a C-ordered copy sums differently in the last bit for half of them
        x = np.random.default_rng(seed).standard_normal((N, M))
        value, _ = ad.value_and_grad(f)(x, i)
        assert value == f(x, i)
        assert_identical(compiled(x, i), ad.value_and_grad(f)(x, i))
        assert_identical(compiled(x.T.copy().T, i), ad.value_and_grad(f)(x.T.copy().T, i))


def test_integer_arguments_offer_ndarray_methods():
    f = lambda x, i: np.sum(x.ravel()[i.repeat(2)] ** 2) + float(i.any())  # noqa: E731
    compiled = ad.jit(ad.grad(f), check=True)
    for seed in range(3):
        i = positions(seed)
        assert_identical(compiled(X, i), ad.grad(f)(X, i))


def test_positions_cast_from_data_are_slots():
    """``(stop_gradient(x) * 2).astype(int)``: an integer cast of data (no derivative) is
    NumPy's cast, recorded; the positions it gives are read anew by every replay."""
    f = ad.grad(lambda x: np.sum(x[(ad.stop_gradient(x) * 2).astype(int) % M] ** 2))
    compiled = ad.jit(f, check=True)
    for seed in range(4):
        x = np.random.default_rng(seed).uniform(0.0, 2.0, M)
        assert_identical(compiled(x), f(x))
    assert compiled.stats["records"] == 1
    with pytest.raises(TypeError, match="only floating dtypes carry a derivative"):
        ad.jit(ad.grad(lambda x: np.sum(x.astype(int))))(np.ones(3))  # a traced value: refused


# one jitted function across the examples: every example replays its recording
_RANDOM = {
    "x[i]": ad.jit(ad.grad(lambda x, i: np.sum(np.sin(x.ravel()[i]) * np.arange(6))),
                   check=True),
    "take_along_axis": ad.jit(lambda x, i: ad.jacfwd(
        lambda x: np.take_along_axis(x, i.reshape(3, 2), axis=1) ** 2)(x), check=True),
    "add.at": ad.jit(lambda x, i: ad.jacrev(lambda x: _scatter(x, i))(x), check=True),
}


def _scatter(x, i):
    y = np.zeros(3 * M) + x.ravel()
    np.add.at(y, i, np.repeat(np.exp(x[0, :2]), 3))
    return y * y


@settings(max_examples=60, deadline=None)
@given(i=st.lists(st.integers(-3 * M, 3 * M - 1), min_size=6, max_size=6),
       which=st.sampled_from(list(_RANDOM)))
def test_random_index_arrays_replay_bit_for_bit(i, which):
    """Random positions (repeated, negative) into a (3, 4) array under grad, jacfwd and jacrev:
    the replay equals the eager call (check=True) and no example records again."""
    x = np.linspace(-1.0, 1.0, 3 * M).reshape(3, M)
    i = np.array(i)
    if which == "take_along_axis":
        i = i % M - (i < 0) * M  # -4 .. 3, NumPy's range along the axis
    compiled = _RANDOM[which]
    compiled(x, i)
    assert compiled.stats["records"] == 1 and compiled.stats["retraces"] == 0


@pytest.mark.parametrize("transform", ["grad", "jacfwd", "hessian"])
def test_max_pooling_derivatives_follow_each_call_s_maxima(transform):
    """The window maximum's tie weights (where each window attains its maximum: the positions
    its derivative flows to) are a recorded step: a replay on new values routes the derivative
    to the new maxima (it reused the recorded ones: LeNet's compiled training step)."""
    f = lambda x: np.sum(ad.nn.functional.max_pool2d(x, 2) ** 2)  # noqa: E731
    fn = getattr(ad, transform)(f)
    compiled = ad.jit(fn, check=True)
    for seed in range(4):
        x = np.random.default_rng(seed).standard_normal((2, 1, 4, 4))
        assert_identical(compiled(x), fn(x))
    assert compiled.stats["records"] == 1


def test_a_compiled_cnn_training_step_trains_as_the_eager_loop():
    """ad.nn.fit compiles the step of a network with max pooling: the same losses to the last
    bit as the eager loop (with the recorded maxima it trained on wrong gradients, silently)."""
    nn = ad.nn
    data = np.random.default_rng(0)
    inputs, labels = data.standard_normal((40, 1, 8, 8)), data.integers(0, 3, 40)
    losses = []
    for jit in (True, False):
        model = nn.Sequential(nn.Conv2d(1, 4, 3, rng=0), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(36, 3, rng=1))
        history = nn.fit(model, nn.functional.cross_entropy,
                         ad.optim.Adam(model.parameters(), lr=0.01),
                         nn.DataLoader(inputs, labels, batch_size=10, rng=0), epochs=3,
                         progress=False, jit=jit)
        losses.append(history.train_loss)
    assert losses[0] == losses[1]


def _values(seed, n=6):
    return np.random.default_rng(seed).uniform(0.5, 3.0, n)


#: rules whose derivative is computed from values (not a mask of positions): f(x), x > 0
VALUE_READING = {
    "mod": lambda x: np.sum(np.mod(3.0 * x[:3], x[3:])),  # d/db = -floor(a / b)
    "divmod": lambda x: np.sum(np.divmod(3.0 * x[:3], x[3:])[1]),
    "fmod": lambda x: np.sum(np.fmod(3.0 * x[:3], x[3:])),  # d/db = -trunc(a / b)
    "mod-floats": lambda x: np.mod(3.0 * x[0], x[1]) + np.fmod(x[2], x[3]),
    "copysign": lambda x: np.sum(np.copysign(x[:3], x[3:] - 1.5)),
    "fmax-nan": lambda x: np.sum(np.fmax(x[:3], np.where(x[3:] > 1.5, np.nan, x[3:]))),
    "sinc": lambda x: np.sum(np.sinc(x - 1.5)),
    "cumprod": lambda x: np.sum(np.cumprod(x - 1.0)),
    "nan_to_num": lambda x: np.sum(np.nan_to_num(np.log(x - 1.0)) ** 2),
    "stop_gradient": lambda x: np.sum(x * ad.stop_gradient(x)),
    "round-decimals": lambda x: np.sum(x * np.round(x, 2)),
    "power-zero-base": lambda x: np.sum(np.where(x[:3] > 2.0, 0.0, x[:3]) ** x[3:]),
    "hypot-origin": lambda x: np.sum(np.hypot(_zeroed(x), 0.5 * _zeroed(x))),
    "logaddexp-minus-inf": lambda x: np.sum(np.logaddexp(x, np.where(x > 2.0, -np.inf, x))),
    "log_ndtr": lambda x: np.sum(special.log_ndtr(x - 1.5)),
    "log_ndtr-floats": lambda x: special.log_ndtr(x[0] - 1.5) + special.log_ndtr(x[1] - 1.5),
    "i1-at-zero": lambda x: np.sum(special.i1(_zeroed(x))),
    "xlogy-at-zero": lambda x: np.sum(special.xlogy(_zeroed(x), x)),
    "xlogy-floats": lambda x: special.xlogy(x[0] - 1.0, x[1]) + special.xlogy(
        _zeroed(x)[2], x[3]),
    "slogdet-sign": lambda x: np.sum(np.linalg.slogdet((x - 1.5).reshape(2, 3)[:, :2]).sign
                                     * x[:2]),
    "lstsq-rank": lambda x: np.sum(np.linalg.lstsq(  # rank 1 where x[3] > 2, else 2
        np.stack([x[:3], np.where(x[3] > 2.0, 2.0 * x[:3], x[:3] ** 2)], axis=1), x[3:],
        rcond=None)[0]),
    "norm-0": lambda x: np.linalg.norm(_zeroed(x), 0) * np.sum(x),
    "norm-zero-rows": lambda x: np.sum(np.linalg.norm(_zeroed(x).reshape(3, 2), axis=1)),
    "full_like-int": lambda x: np.sum(np.full_like(x, x[0] * 3.0, dtype=int) * x),
    "interp-period": lambda x: np.sum(np.interp(np.linspace(0.0, 3.0, 7), x[:3] * 2.0,
                                                x[3:] ** 2, period=3.0)),
    "logsumexp-weights": lambda x: special.logsumexp(300.0 * x[:3], b=x[3:]),  # shift max(a)
}


def _zeroed(x):
    """``x - 0.4``, zero where ``x > 2`` (how many, and where, changes with the input)."""
    return np.where(x > 2.0, 0.0, x - 0.4)


@pytest.mark.parametrize("transform", ["grad", "jacfwd", "hessian"])
@pytest.mark.parametrize("operation", list(VALUE_READING))
def test_partials_computed_from_values_are_recomputed_by_each_replay(operation, transform):
    """``mod``'s partial in ``b`` (``-floor(a / b)``), ``fmod``'s, ``copysign``'s sign, the nan
    rule of ``fmax``, ``nan_to_num``'s mask, ``stop_gradient``'s value, the masks of special
    points (a zero base, the origin of ``hypot``, ``log_ndtr``'s two formulas) were constants
    of the recording (primal_value): now recorded steps (on_data) or guarded branches."""
    fn = getattr(ad, transform)(VALUE_READING[operation])
    compiled = ad.jit(fn, check=True)
    with np.errstate(invalid="ignore"):
        for seed in range(5):
            assert_identical(compiled(_values(seed)), fn(_values(seed)))
    stats = compiled.stats  # a branch on a float's sign (log_ndtr-floats) records per sign
    assert stats["records"] + stats["replays"] == 5 and stats["replays"] >= 2


def test_weights_given_as_data_scale_the_covariance_of_each_call():
    """np.cov's normalisation ``sum(w)`` is a constant factor of the derivative; weights passed
    to the compiled function are data, so a replay reads their sum anew."""
    f = ad.grad(lambda x, w: np.sum(np.cov(x.reshape(2, 3), aweights=w) ** 2))
    compiled = ad.jit(f, check=True)
    for seed in range(4):
        x, w = _values(seed), _values(seed + 10, 3)
        assert_identical(compiled(x, w), f(x, w))
    assert compiled.stats["records"] == 1


def _rule_case(case):
    prim = REGISTRY.get(case.primitive)
    return lambda *xs: case.call(prim, *xs)


@pytest.mark.parametrize("mode", ["jacrev", "jacfwd"])
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in ARRAY_CASES + NUMPY_CASES])
def test_every_rule_table_case_replays_on_fresh_inputs(case, mode):
    """Every primitive's and NumPy entry point's test case, its Jacobian compiled: a replay on
    inputs other than the recorded ones equals the eager Jacobian bit for bit (check=True), so
    no rule keeps a value of the recording as a constant."""
    argnums = tuple(range(len(case.shapes)))
    jacobian = getattr(ad, mode)(_rule_case(case), argnums=argnums)
    compiled = ad.jit(jacobian, check=True)
    with np.errstate(all="ignore"):
        for seed in range(2):
            inputs = sample_inputs(case, np.random.default_rng(100 + seed))
            assert_identical(compiled(*inputs), jacobian(*inputs))
