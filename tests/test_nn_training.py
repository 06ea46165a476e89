"""fit / evaluate / accuracy, optimizers on real network parameters, and the digits MLP."""

import doctest
import math

import numpy as np
import pytest

import autodiff as ad
import autodiff.optim as optim
from autodiff.nn import functional as F
from autodiff.nn import training

RNG = np.random.default_rng(3)


def blobs(n=120, seed=0):
    """Two Gaussian blobs in the plane, labels 0/1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 2)) + 2.0 * (2 * y[:, None] - 1)
    return X, y


def small_model(seed=0):
    rng = np.random.default_rng(seed)
    return ad.nn.Sequential(ad.nn.Linear(2, 8, rng=rng), ad.nn.Tanh(), ad.nn.Linear(8, 2, rng=rng))


# ----------------------------------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------------------------------


def test_fit_records_a_history_and_learns():
    X, y = blobs()
    model = small_model()
    loader = ad.nn.DataLoader(X, y, batch_size=16, rng=0)
    history = ad.nn.fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), loader,
                        val_data=blobs(60, seed=1), epochs=8, progress=False)
    assert history.epochs == 8 and len(history.val_loss) == 8 and len(history.val_accuracy) == 8
    assert history.train_loss[-1] < history.train_loss[0] / 2
    assert history.val_accuracy[-1] >= 0.95 and 0 <= min(history.train_accuracy) <= 1
    assert not history.stopped_early and history.best_epoch == int(np.argmin(history.val_loss))
    assert model.training


def test_train_loss_is_the_sample_weighted_mean_of_the_batches():
    X, y = blobs(10)
    model = small_model()
    before = model.state_dict()
    loader = ad.nn.DataLoader(X, y, batch_size=4, shuffle=False)  # batches of 4, 4, 2
    history = ad.nn.fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.0), loader,
                        epochs=1, progress=False)
    model.load_state_dict(before)
    expected = np.mean([F.cross_entropy(model(X[i:i + 1]), y[i:i + 1]).value for i in range(10)])
    assert history.train_loss[0] == pytest.approx(expected, rel=1e-12)


def overfitting_setup():
    """Validation labels are the opposite of the training labels: validation loss must rise."""
    X, y = blobs(80)
    model = small_model(1)
    loader = ad.nn.DataLoader(X, y, batch_size=16, rng=0)
    return model, optim.Adam(model.parameters(), lr=0.05), loader, (X[:30], 1 - y[:30])


def test_early_stopping_stops_and_restores_the_best_weights():
    model, optimizer, loader, val_data = overfitting_setup()
    history = ad.nn.fit(model, F.cross_entropy, optimizer, loader, val_data=val_data, epochs=50,
                        early_stopping_patience=3, progress=False)
    assert history.stopped_early
    assert history.epochs == history.best_epoch + 1 + 3
    best = min(history.val_loss)
    assert history.val_loss[history.best_epoch] == best
    assert ad.nn.evaluate(model, *val_data)[0] == pytest.approx(best, rel=1e-12)


def test_without_early_stopping_the_last_weights_stay():
    model, optimizer, loader, val_data = overfitting_setup()
    history = ad.nn.fit(model, F.cross_entropy, optimizer, loader, val_data=val_data, epochs=6,
                        progress=False)
    assert ad.nn.evaluate(model, *val_data)[0] == pytest.approx(history.val_loss[-1], rel=1e-12)


def test_fit_steps_a_schedule_once_per_epoch():
    X, y = blobs(40)
    model = small_model()
    optimizer = optim.SGD(model.parameters(), lr=1.0)
    schedule = optim.StepLR(optimizer, step_size=1, gamma=0.5)
    ad.nn.fit(model, F.cross_entropy, optimizer, ad.nn.DataLoader(X, y, 8, rng=0), epochs=3,
              scheduler=schedule, progress=False)
    assert optimizer.param_groups[0]["lr"] == 0.125


def test_regression_targets_have_no_accuracy():
    X = RNG.normal(size=(32, 2))
    targets = X @ np.array([1.0, -2.0])
    model = ad.nn.Linear(2, 1, rng=0)
    history = ad.nn.fit(model, lambda out, t: F.mse_loss(out[:, 0], t),
                        optim.SGD(model.parameters(), lr=0.1),
                        ad.nn.DataLoader(X, targets, 8, rng=0), val_data=(X, targets), epochs=20,
                        progress=False)
    assert math.isnan(history.train_accuracy[0]) and math.isnan(history.val_accuracy[0])
    assert history.val_loss[-1] < 1e-3


def test_a_diverging_loss_stops_training_with_a_clear_error():
    X, y = blobs(16)
    model = small_model()
    with pytest.raises(FloatingPointError, match="learning rate"):
        ad.nn.fit(model, lambda out, t: F.cross_entropy(out, t) * np.inf,
                  optim.SGD(model.parameters(), lr=0.1), ad.nn.DataLoader(X, y, 8), epochs=2,
                  progress=False)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(epochs=0), ValueError, "epochs"),
    (dict(early_stopping_patience=2), ValueError, "val_data"),
    (dict(val_data=(np.zeros((2, 2)), np.zeros(2, int)), early_stopping_patience=0), ValueError,
     "patience"),
    (dict(val_data=np.zeros((2, 2))), TypeError, "pair"),
])
def test_fit_checks_its_arguments(kwargs, error, match):
    X, y = blobs(16)
    model = small_model()
    arguments = dict(epochs=1, progress=False) | kwargs
    with pytest.raises(error, match=match):
        ad.nn.fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1),
                  ad.nn.DataLoader(X, y, 8), **arguments)


def test_a_loss_that_ignores_the_model_is_refused():
    X, y = blobs(16)
    model = small_model()
    with pytest.raises(TypeError, match="does not depend"):
        ad.nn.fit(model, lambda out, t: 1.0, optim.SGD(model.parameters(), lr=0.1),
                  ad.nn.DataLoader(X, y, 8), epochs=1, progress=False)


def test_evaluate_and_accuracy():
    X, y = blobs(50)
    model = small_model()
    model.train()
    loss, score = ad.nn.evaluate(model, X, y)
    assert model.training  # mode restored
    logits = model(X).value
    assert loss == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-12)
    assert score == ad.nn.accuracy(logits, y) == np.mean(logits.argmax(1) == y)
    batched = ad.nn.evaluate(model, X, y, batch_size=7)
    assert batched[0] == pytest.approx(loss, rel=1e-12) and batched[1] == score
    assert ad.nn.accuracy(np.array([[0.0, 1.0], [3.0, 2.0]]), np.array([1, 1])) == 0.5
    with pytest.raises(ValueError, match="shapes"):
        ad.nn.accuracy(np.zeros((3, 2)), np.zeros(2, int))


# ----------------------------------------------------------------------------------------------
# each optimizer on real network parameters: the first steps follow its documented formula
# ----------------------------------------------------------------------------------------------


def sgd_rule(lr, momentum=0.0, nesterov=False):
    def step(w, g, state, t):
        if momentum == 0:
            return w - lr * g
        state["b"] = g.copy() if t == 1 else momentum * state["b"] + g
        return w - lr * (g + momentum * state["b"] if nesterov else state["b"])
    return step


def adagrad_rule(lr, eps=1e-10):
    def step(w, g, state, t):
        state["A"] = state.get("A", 0.0) + g * g
        return w - lr * g / (np.sqrt(state["A"]) + eps)
    return step


def rmsprop_rule(lr, alpha=0.99, eps=1e-8):
    def step(w, g, state, t):
        state["A"] = alpha * state.get("A", 0.0) + (1 - alpha) * g * g
        return w - lr * g / (np.sqrt(state["A"]) + eps)
    return step


def adadelta_rule(lr=1.0, rho=0.9, eps=1e-6):
    def step(w, g, state, t):
        state["Eg"] = rho * state.get("Eg", 0.0) + (1 - rho) * g * g
        dx = np.sqrt(state.get("Edx", 0.0) + eps) / np.sqrt(state["Eg"] + eps) * g
        state["Edx"] = rho * state.get("Edx", 0.0) + (1 - rho) * dx * dx
        return w - lr * dx
    return step


def adam_rule(lr, betas=(0.9, 0.999), eps=1e-8, decoupled_decay=0.0):
    def step(w, g, state, t):
        w = w * (1 - lr * decoupled_decay)
        state["m"] = betas[0] * state.get("m", 0.0) + (1 - betas[0]) * g
        state["v"] = betas[1] * state.get("v", 0.0) + (1 - betas[1]) * g * g
        m_hat, v_hat = state["m"] / (1 - betas[0] ** t), state["v"] / (1 - betas[1] ** t)
        return w - lr * m_hat / (np.sqrt(v_hat) + eps)
    return step


OPTIMIZERS = {
    "sgd": (lambda p: optim.SGD(p, lr=0.1), sgd_rule(0.1)),
    "momentum": (lambda p: optim.SGD(p, lr=0.1, momentum=0.9), sgd_rule(0.1, 0.9)),
    "nesterov": (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                 sgd_rule(0.1, 0.9, nesterov=True)),
    "adagrad": (lambda p: optim.AdaGrad(p, lr=0.1), adagrad_rule(0.1)),
    "rmsprop": (lambda p: optim.RMSProp(p, lr=0.01), rmsprop_rule(0.01)),
    "adadelta": (lambda p: optim.AdaDelta(p), adadelta_rule()),
    "adam": (lambda p: optim.Adam(p, lr=0.01), adam_rule(0.01)),
    "adamw": (lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1),
              adam_rule(0.01, decoupled_decay=0.1)),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_steps_on_network_parameters_follow_the_formula(name):
    build, rule = OPTIMIZERS[name]
    X, y = blobs(20)
    model = small_model(2)
    optimizer = build(model.parameters())
    states = {id(p): {} for p in model.parameters()}
    for t in (1, 2, 3):
        optimizer.zero_grad()
        F.cross_entropy(model(X), y).backward()
        expected = {id(p): rule(p.value.copy(), p.grad.copy(), states[id(p)], t)
                    for p in model.parameters()}
        optimizer.step()
        for parameter_name, p in model.named_parameters():
            np.testing.assert_allclose(p.value, expected[id(p)], rtol=1e-12, atol=1e-15,
                                       err_msg=f"{name}, step {t}, {parameter_name}")
            assert type(p) is ad.nn.Parameter and not p.value.flags.writeable


def test_clipping_acts_on_network_gradients():
    X, y = blobs(20)
    model = small_model()
    F.cross_entropy(model(X), y).backward()
    total = math.sqrt(sum(float(np.sum(p.grad ** 2)) for p in model.parameters()))
    assert optim.clip_grad_norm_(model.parameters(), max_norm=total / 2) == pytest.approx(total)
    clipped = math.sqrt(sum(float(np.sum(p.grad ** 2)) for p in model.parameters()))
    assert clipped == pytest.approx(total / 2)


# ----------------------------------------------------------------------------------------------
# the digits
# ----------------------------------------------------------------------------------------------


def digits_test_accuracy(seed):
    """64-128-10 ReLU MLP, Adam (lr 3e-3, batch 32, 30 epochs) on a stratified 80/20 split."""
    X, y = ad.nn.load_digits()
    (X_train, y_train), _, (X_test, y_test) = ad.nn.train_val_test_split(
        X, y, val_fraction=0.0, test_fraction=0.2, rng=seed)
    scaler = ad.nn.Standardizer().fit(X_train)
    rng = np.random.default_rng(seed)
    model = ad.nn.Sequential(ad.nn.Linear(64, 128, rng=rng), ad.nn.ReLU(),
                             ad.nn.Linear(128, 10, rng=rng))
    ad.nn.fit(model, F.cross_entropy, optim.Adam(model.parameters(), lr=3e-3),
              ad.nn.DataLoader(scaler.transform(X_train), y_train, batch_size=32, rng=rng),
              epochs=30, progress=False)
    assert len(y_test) == 359 and np.bincount(y_test).min() >= 34  # stratified 20 % hold-out
    return ad.nn.evaluate(model, scaler.transform(X_test), y_test)[1]


def test_digits_mlp_reaches_97_5_percent_mean_test_accuracy_over_five_seeds():
    accuracies = [digits_test_accuracy(seed) for seed in range(5)]
    assert np.mean(accuracies) >= 0.975, accuracies


def test_module_docstring_examples_run():
    result = doctest.testmod(training)
    assert result.failed == 0 and result.attempted > 0
