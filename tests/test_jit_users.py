"""The library's users of derivatives compile them (issue 12, item 4): hvp_operator (and so
conjugate_gradient on it), check_grad, compare and fit replay recordings by default, fall back to
the eager path once with a warning naming the reason, and take jit=False."""

import gc
import warnings
import weakref

import numpy as np
import pytest

import autodiff as ad
from autodiff.jit.fallback import CompiledOrEager
from autodiff.inspection.comparison import Comparison
from autodiff.optim import conjugate_gradient
from autodiff.optim.ad_objective import _COMPILED
from autodiff.second_order import _COMPILED_HVPS


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def noisy(x):  # a draw from NumPy's global generator cannot be recorded
    return np.sum(np.sin(x) ** 2) + 0.0 * np.random.random()


# -- the shared fallback ----------------------------------------------------------------------


def test_compiled_or_eager_warns_once_and_then_calls_the_function():
    calls = []

    def f(x):
        calls.append(1)
        return noisy(x)

    compiled = CompiledOrEager(f, "the test function")
    with pytest.warns(RuntimeWarning, match="the test function could not be compiled.*random"):
        first = compiled(np.ones(2))
    assert compiled.reason is not None and "random" in compiled.reason
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        second = compiled(np.ones(2))
    assert first == second == noisy(np.ones(2))
    assert len(calls) == 3  # the failed recording, then two eager calls


def test_compiled_or_eager_refuse_names_the_reason():
    compiled = CompiledOrEager(np.sum, "the sum")
    with pytest.warns(RuntimeWarning, match="pass jit=False.*state the step cannot take"):
        compiled.refuse("state the step cannot take")
    assert compiled(np.ones(3)) == 3.0 and compiled.compiled.stats["records"] == 0


# -- hvp_operator and conjugate gradients -----------------------------------------------------


def test_hvp_operator_products_are_the_eager_hvp_bit_for_bit():
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    op = ad.hvp_operator(rosen, x)
    for _ in range(3):
        v = rng.normal(size=30)
        assert np.array_equal(op(v), ad.hvp(rosen, x, v))
    eager = ad.hvp_operator(rosen, x, jit=False)
    v = rng.normal(size=30)
    np.testing.assert_allclose(op(v), eager(v), rtol=1e-13)
    np.testing.assert_allclose(op.matmat(np.eye(30)[:, :3]), eager.matmat(np.eye(30)[:, :3]),
                               rtol=1e-13)
    np.testing.assert_allclose(op.gradient, ad.grad(rosen)(x), rtol=1e-14)


def test_operators_at_new_points_replay_one_recording():
    def f(x):
        return np.sum(np.exp(x) * x**2)

    for seed in range(3):
        x = np.random.default_rng(seed).normal(size=5)
        np.testing.assert_array_equal(ad.hvp_operator(f, x)(np.ones(5)), ad.hvp(f, x, np.ones(5)))
    shared = _COMPILED_HVPS[f]  # the compiled product of f, one for every operator
    assert shared.compiled.stats["records"] == 1 and shared.compiled.stats["replays"] == 2


def test_operators_at_two_points_keep_their_own_partials():
    """Each operator computes the partials at its point once (Jitted.at) and keeps them:
    products of two operators taken in turn are each point's eager hvp, bit for bit."""
    def f(x):
        return rosen(x)

    rng = np.random.default_rng(5)
    points = [rng.normal(size=12) for _ in range(2)]
    ops = [ad.hvp_operator(f, x) for x in points]
    for _ in range(3):
        v = rng.normal(size=12)
        for op, x in zip(ops, points):
            assert op(v).tobytes() == ad.hvp(f, x, v).tobytes()
    stats = _COMPILED_HVPS[f].compiled.stats
    assert stats["records"] == 1 and stats["replays"] == 5


def test_the_operator_holds_the_point_it_was_built_at():
    x = np.linspace(-1.0, 1.0, 6)
    op = ad.hvp_operator(rosen, x)
    expected = ad.hvp(rosen, x.copy(), np.ones(6))
    x[:] = 5.0  # the caller reuses its array; the operator is the Hessian at the old point
    np.testing.assert_array_equal(op(np.ones(6)), expected)


def test_conjugate_gradient_on_a_compiled_operator_matches_the_eager_one():
    x = np.tile([1.3, 0.7, 0.8, 1.9, 1.2], 4) * 0.5
    b = -ad.grad(rosen)(x)
    compiled, info = conjugate_gradient(ad.hvp_operator(rosen, x), b)
    eager, eager_info = conjugate_gradient(ad.hvp_operator(rosen, x, jit=False), b)
    assert info.iterations == eager_info.iterations
    np.testing.assert_allclose(compiled, eager, rtol=1e-9)


def test_hvp_operator_falls_back_to_the_linearisation_with_one_warning():
    x = np.array([0.3, -0.2, 0.5])
    with pytest.warns(RuntimeWarning, match="Hessian-vector product of noisy could not be "
                                            "compiled.*random"):
        op = ad.hvp_operator(noisy, x)
        first = op(np.ones(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = op(np.ones(3))
        third = ad.hvp_operator(noisy, 2 * x)(np.ones(3))
    expected = ad.hvp_operator(noisy, x, jit=False)(np.ones(3))
    np.testing.assert_allclose(first, expected, rtol=1e-14)
    np.testing.assert_allclose(second, expected, rtol=1e-14)
    np.testing.assert_allclose(third, ad.hvp(noisy, 2 * x, np.ones(3)), rtol=1e-14)


def test_hvp_operator_on_a_float32_point_takes_float64_vectors():
    x = np.linspace(-1.0, 1.0, 5).astype(np.float32)
    op = ad.hvp_operator(rosen, x)
    v = np.linspace(0.5, 1.5, 5)  # float64: raveled into the point's dtype first
    product = op.matvec(v)
    assert product.dtype == np.float32
    np.testing.assert_array_equal(product, op.matvec(v.astype(np.float32)))


# -- minimize keeps its recordings per function -------------------------------------------------


def _records(f):
    derivatives = _COMPILED[f]
    return (derivatives.value_and_grad.compiled.stats["records"],
            _COMPILED_HVPS[derivatives.checked_f].compiled.stats["records"])


def test_minimize_replays_the_recordings_of_an_earlier_call():
    def f(x):
        return rosen(x)

    x0 = np.tile([1.3, 0.7, 0.8, 1.9, 1.2], 4)
    first = ad.optim.minimize(f, x0)
    assert _records(f) == (1, 1)
    second = ad.optim.minimize(f, x0 * 0.9)
    third = ad.optim.minimize(f, x0)
    assert _records(f) == (1, 1)  # nothing recorded again
    assert first.success and second.success and third.nit == first.nit
    np.testing.assert_array_equal(third.x, first.x)


def test_minimize_records_again_when_what_f_reads_has_changed():
    target = np.arange(4.0)

    def f(x):
        return np.sum((x - target) ** 2) + 0.1 * np.sum(x[1:] * x[:-1])

    def solution():
        h = 2.0 * np.eye(4) + 0.1 * (np.eye(4, k=1) + np.eye(4, k=-1))
        return np.linalg.solve(h, 2.0 * target)

    np.testing.assert_allclose(ad.optim.minimize(f, np.zeros(4)).x, solution(), atol=1e-6)
    target = np.full(4, 7.0)  # the captured name now means another array
    np.testing.assert_allclose(ad.optim.minimize(f, np.zeros(4)).x, solution(), atol=1e-6)
    assert _records(f) == (2, 2)  # the check at x0 saw a different value: recorded afresh


def test_minimize_holds_its_function_weakly():
    def f(x):
        return np.sum(x ** 2)

    ad.optim.minimize(f, np.ones(3))
    assert f in _COMPILED
    held = weakref.ref(f)
    del f
    gc.collect()
    assert held() is None


# -- check_grad -------------------------------------------------------------------------------


def test_check_grad_checks_the_compiled_gradient():
    x = np.linspace(-1.0, 1.5, 12)
    assert ad.check_grad(rosen, x) == ad.check_grad(rosen, x, jit=False) < 1e-8


def test_check_grad_catches_a_wrong_compiled_gradient(monkeypatch):
    from autodiff.jit import compiled as compiled_module

    run = compiled_module.Trace.run

    def wrong(self, data):  # a replay that is off: check_grad must see the replay, not eager
        return 2.0 * run(self, data)

    monkeypatch.setattr(compiled_module.Trace, "run", wrong)
    x = np.linspace(-1.0, 1.5, 5)
    assert ad.check_grad(rosen, x) == pytest.approx(1 / 3, rel=1e-6)
    assert ad.check_grad(rosen, x, jit=False) < 1e-8


def test_check_grad_falls_back_with_a_warning():
    with pytest.warns(RuntimeWarning, match="gradient of noisy could not be compiled.*random"):
        ratio = ad.check_grad(noisy, np.array([0.1, 0.4]))
    assert ratio < 1e-8
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ad.check_grad(noisy, np.array([0.1, 0.4]), jit=False) < 1e-8


# -- compare ----------------------------------------------------------------------------------


def test_compare_times_eager_and_compiled_jacobians():
    A = np.random.default_rng(1).normal(size=(4, 6))
    c = ad.compare(lambda x: np.tanh(A @ x), np.ones(6), repeat=1)
    assert c.compiled and c.compiled_forward_seconds > 0 and c.compiled_reverse_seconds > 0
    assert c.compiled_reason is None
    text = str(c)
    assert "compiled (best)" in text and "eager (best)" in text
    eager = ad.compare(lambda x: np.tanh(A @ x), np.ones(6), repeat=1, jit=False)
    assert not eager.compiled and eager.compiled_forward_seconds is None
    assert "not measured" in str(eager)


def test_compare_falls_back_to_eager_times_with_a_warning():
    def f(x):
        return np.sin(x) + 0.0 * np.random.random()

    with pytest.warns(RuntimeWarning, match="jacfwd of .*f could not be compiled.*random"):
        c = ad.compare(f, np.ones(3), repeat=1)
    assert not c.compiled and "random" in c.compiled_reason
    assert "not compiled" in str(c) and c.forward_seconds > 0


@pytest.mark.parametrize(
    "forward, reverse, compiled_forward, compiled_reverse, expected",
    [
        (1.0, 2.0, 2.0, 1.0, "reverse"),  # the compiled times decide when both exist
        (2.0, 1.0, 1.0, 2.0, "forward"),
        (1.0, 2.0, None, None, "forward"),  # else the eager ones
    ],
)
def test_the_recommendation_follows_the_compiled_times(forward, reverse, compiled_forward,
                                                       compiled_reverse, expected):
    c = Comparison(3, 3, 2, 100, forward, reverse, 0.0, 1, compiled_forward, compiled_reverse)
    assert c.recommended == expected
    assert ("compiled" in c.reason) == (compiled_forward is not None)


# -- fit --------------------------------------------------------------------------------------


def blobs(n=96, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 4)) + 2.0 * np.eye(3, 4)[y]
    return X, y


def train(layers, jit, epochs=3, optimizer=ad.optim.Adam, **kwargs):
    """A model from ``layers()`` trained on the blobs; its state, history and the warnings."""
    X, y = blobs()
    model = ad.nn.Sequential(*layers())
    loader = ad.nn.DataLoader(X, y, batch_size=20, rng=0)  # batches of 20 and a last one of 16
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = ad.nn.fit(model, ad.nn.functional.cross_entropy,
                            optimizer(model.parameters(), lr=0.05), loader,
                            val_data=blobs(30, seed=1), epochs=epochs, progress=False, jit=jit,
                            **kwargs)
    compiled = [w for w in caught if "could not be compiled" in str(w.message)]
    return model.state_dict(), history, compiled


def mlp():
    return [ad.nn.Linear(4, 16, rng=0), ad.nn.ReLU(), ad.nn.Linear(16, 3, rng=1)]


def assert_same_training(a, b, rtol=1e-12):
    (state_a, history_a, _), (state_b, history_b, _) = a, b
    assert state_a.keys() == state_b.keys()
    for name in state_a:
        np.testing.assert_allclose(state_a[name], state_b[name], rtol=rtol, atol=1e-14,
                                   err_msg=name)
    np.testing.assert_allclose(history_a.train_loss, history_b.train_loss, rtol=rtol)
    assert history_a.train_accuracy == history_b.train_accuracy
    np.testing.assert_allclose(history_a.val_loss, history_b.val_loss, rtol=rtol)


def test_fit_compiles_its_step_and_trains_as_the_eager_loop(monkeypatch):
    steps = []
    original = ad.nn.training._TrainingStep.__init__

    def keep(self, *args):
        original(self, *args)
        steps.append(self)

    monkeypatch.setattr(ad.nn.training._TrainingStep, "__init__", keep)
    compiled = train(mlp, jit=True)
    eager = train(mlp, jit=False)
    assert compiled[2] == [] and eager[2] == []
    stats = steps[0].compiled.compiled.stats
    assert stats["records"] == 2  # batches of 20, and the last one of 16
    assert stats["replays"] == 3 * 5 - 2 and stats["eager"] == 0
    assert steps[1].compiled is None
    assert_same_training(compiled, eager, rtol=0)  # the same operations: the same bits
    assert compiled[1].val_accuracy[-1] >= 0.9


def test_the_compiled_step_computes_the_softmax_once():
    X, y = blobs()
    model = ad.nn.Sequential(*mlp())
    step = ad.nn.training._TrainingStep(model, ad.nn.functional.cross_entropy, jit=True)
    loss, _, correct = step(X[:20], y[:20])
    grads = [parameter.grad for parameter in step.parameters]
    source = step.compiled.compiled.source()
    # the value and the VJP share one recorded logsumexp; the VJPs of cross_entropy and relu
    # are one step each (no mask, cast, one-hot, second softmax)
    calls = [line.split(" = ")[1].split("(")[0].rsplit(".", 1)[-1]  # x.transpose(...): a method
             for line in source.splitlines() if " = " in line]
    assert calls.count("logsumexp_last") == 1 and "log_normalisers=logsumexp" in source
    assert sum(call.startswith("cross_entropy_vjp") for call in calls) == 1  # (names are cut)
    assert sum(call.startswith("relu_vjp") for call in calls) == 1
    assert not {"exp", "subtract", "equal", "astype", "relu_slope_of_value"} & set(calls)
    model.zero_grad()
    eager = ad.nn.functional.cross_entropy(model(X[:20]), y[:20])
    eager.backward()
    assert float(loss) == float(eager.value)
    # the training accuracy's count is a step of the replay, on the logits it made
    assert calls.count("correct") == 1 and type(correct) is int
    assert correct == np.count_nonzero(np.argmax(model(X[:20]).value, -1) == y[:20]) > 0
    for parameter, grad in zip(step.parameters, grads):
        np.testing.assert_array_equal(parameter.grad, grad)  # the same bits as the tape
    _, _, correct = step(X[20:40], y[20:40])  # a replay
    assert step.compiled.compiled.stats["replays"] == 1
    assert correct == np.count_nonzero(np.argmax(model(X[20:40]).value, -1) == y[20:40])


def test_nested_transforms_of_cross_entropy_under_jit_keep_their_rules():
    labels = np.array([2, 0, 1, 1])

    def loss(logits):
        return ad.nn.functional.cross_entropy(np.tanh(logits) * 3.0, labels)

    logits = np.random.default_rng(3).normal(size=(4, 3))
    v = np.ones((4, 3))
    compiled = ad.jit(lambda x, v: ad.hvp(loss, x, v), check=True)  # checks against eager
    for scale in (1.0, 2.0):
        np.testing.assert_array_equal(compiled(scale * logits, v), ad.hvp(loss, scale * logits, v))
    jacobian = ad.jit(ad.jacrev(ad.grad(loss)), check=True)
    np.testing.assert_array_equal(jacobian(logits), ad.jacrev(ad.grad(loss))(logits))


def test_fit_with_dropout_stays_eager_with_a_warning_naming_the_layer():
    def layers():
        return [ad.nn.Linear(4, 16, rng=0), ad.nn.ReLU(), ad.nn.Dropout(0.3, rng=5),
                ad.nn.Linear(16, 3, rng=1)]

    compiled = train(layers, jit=True)
    eager = train(layers, jit=False)
    assert len(compiled[2]) == 1 and eager[2] == []
    assert "'2' (Dropout) draws a new dropout mask" in str(compiled[2][0].message)
    assert_same_training(compiled, eager, rtol=0)  # the same masks, drawn in the same order


def test_fit_with_batch_norm_updates_running_statistics_once_per_batch():
    def layers():
        return [ad.nn.Linear(4, 16, rng=0), ad.nn.BatchNorm1d(16), ad.nn.ReLU(),
                ad.nn.Linear(16, 3, rng=1)]

    compiled = train(layers, jit=True)
    eager = train(layers, jit=False)
    assert len(compiled[2]) == 1
    assert "'1' (BatchNorm1d) updates its running statistics" in str(compiled[2][0].message)
    assert_same_training(compiled, eager, rtol=0)
    assert int(compiled[0]["1.num_batches_tracked"]) == 3 * 5
    assert not np.allclose(compiled[0]["1.running_mean"], 0.0)


def test_fit_compiles_batch_norm_without_running_statistics():
    def layers():
        return [ad.nn.Linear(4, 16, rng=0),
                ad.nn.BatchNorm1d(16, track_running_stats=False), ad.nn.ReLU(),
                ad.nn.Linear(16, 3, rng=1)]

    compiled = train(layers, jit=True)
    assert compiled[2] == []
    assert_same_training(compiled, train(layers, jit=False))


def test_fit_refuses_a_layer_that_draws_from_its_generator_while_recording():
    class Noise(ad.nn.Module):  # a custom stateful layer fit cannot know about
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(4)

        def forward(self, x):
            return x + 0.01 * self.rng.normal(size=x.shape)

    def layers():
        return [ad.nn.Linear(4, 16, rng=0), Noise(), ad.nn.Linear(16, 3, rng=1)]

    compiled = train(layers, jit=True)
    eager = train(layers, jit=False)
    assert len(compiled[2]) == 1
    assert "'1' draws from its random generator ('rng')" in str(compiled[2][0].message)
    # the recording drew what the eager call draws, then the loop is eager: the same stream
    assert_same_training(compiled, eager)


def test_fit_with_a_loss_that_cannot_be_recorded_falls_back_once():
    X, y = blobs()
    model = ad.nn.Sequential(*mlp())

    def loss(outputs, targets):
        return ad.nn.functional.cross_entropy(outputs, targets) + 0.0 * np.random.random()

    with pytest.warns(RuntimeWarning, match="fit's training step could not be compiled.*random"):
        history = ad.nn.fit(model, loss, ad.optim.SGD(model.parameters(), lr=0.1),
                            ad.nn.DataLoader(X, y, batch_size=20, rng=0), epochs=2,
                            progress=False)
    assert history.train_loss[-1] < history.train_loss[0]


def test_fit_compiled_step_keeps_the_loss_checks():
    X, y = blobs(20)
    model = ad.nn.Sequential(*mlp())
    sgd = ad.optim.SGD(model.parameters(), lr=0.1)
    loader = ad.nn.DataLoader(X, y, batch_size=10)
    with pytest.raises(ValueError, match="must be a scalar"):
        ad.nn.fit(model, lambda o, t: ad.nn.functional.cross_entropy(o, t, reduction="none"),
                  sgd, loader, epochs=1, progress=False)
    with pytest.raises(TypeError, match="does not depend on the model"):
        ad.nn.fit(model, lambda o, t: 1.0, sgd, loader, epochs=1, progress=False)
    bad = ad.nn.DataLoader(X, np.where(np.arange(20) == 15, 3, y), batch_size=10, shuffle=False)
    with pytest.raises(ValueError, match=r"labels must lie in 0 \.\. 2"):
        ad.nn.fit(model, ad.nn.functional.cross_entropy, sgd, bad, epochs=1, progress=False)


def test_fit_stops_compiling_a_step_that_records_again_on_most_batches():
    X, y = blobs()
    model = ad.nn.Sequential(*mlp())

    def loss(outputs, targets):  # class weights index with the labels: a guard per batch
        return ad.nn.functional.cross_entropy(outputs, targets, weight=np.array([1.0, 2.0, 0.5]))

    with pytest.warns(RuntimeWarning, match="recorded again on 4 batches"):
        compiled = ad.nn.fit(model, loss, ad.optim.SGD(model.parameters(), lr=0.1),
                             ad.nn.DataLoader(X, y, batch_size=20, rng=0), epochs=2,
                             progress=False)
    model = ad.nn.Sequential(*mlp())
    eager = ad.nn.fit(model, loss, ad.optim.SGD(model.parameters(), lr=0.1),
                      ad.nn.DataLoader(X, y, batch_size=20, rng=0), epochs=2, progress=False,
                      jit=False)
    np.testing.assert_allclose(compiled.train_loss, eager.train_loss, rtol=1e-12)
