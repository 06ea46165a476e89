"""ad.nn.functional: values, derivatives to second order in both modes, kinks, stability."""

import doctest

import numpy as np
import pytest

import autodiff as ad
from autodiff.nn import functional as F
from autodiff.testing import check_grads, check_hvp

RNG = np.random.default_rng(20240611)


def away_from(points, shape, margin=0.15, scale=1.5):
    """Random values at least ``margin`` away from every kink in ``points``."""
    x = RNG.normal(scale=scale, size=shape)
    for point in points:
        close = np.abs(x - point) < margin
        x = np.where(close, point + np.copysign(margin + 0.1, x - point), x)
    return x


LABELS = np.array([2, 0, 3])
WEIGHT, BIAS = RNG.normal(size=(2, 4)), RNG.normal(size=2)

# name -> (function of one array, input)
ACTIVATIONS = {
    "relu": (F.relu, away_from([0.0], (3, 4))),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), away_from([0.0], (3, 4))),
    "sigmoid": (F.sigmoid, RNG.normal(size=(3, 4))),
    "tanh": (F.tanh, RNG.normal(size=(3, 4))),
    "softplus": (F.softplus, RNG.normal(size=(3, 4))),
    "softplus_beta": (lambda x: F.softplus(x, beta=2.5), RNG.normal(size=(3, 4))),
    "hardtanh": (F.hardtanh, away_from([-1.0, 1.0], (3, 4))),
    "hardtanh_range": (lambda x: F.hardtanh(x, -0.5, 2.0), away_from([-0.5, 2.0], (3, 4))),
    "logsumexp": (F.logsumexp, RNG.normal(size=(3, 4))),
    "logsumexp_axis0": (lambda x: F.logsumexp(x, axis=0, keepdims=True), RNG.normal(size=(3, 4))),
    "softmax": (F.softmax, RNG.normal(size=(3, 4))),
    "softmax_axis0": (lambda x: F.softmax(x, axis=0), RNG.normal(size=(3, 4))),
    "log_softmax": (F.log_softmax, RNG.normal(size=(3, 4))),
    "linear": (lambda x: F.linear(x, WEIGHT, BIAS), RNG.normal(size=(3, 4))),
}

LOSSES = {
    "cross_entropy_mean": (lambda x: F.cross_entropy(x, LABELS), RNG.normal(size=(3, 4))),
    "cross_entropy_sum": (lambda x: F.cross_entropy(x, LABELS, reduction="sum"),
                          RNG.normal(size=(3, 4))),
    "cross_entropy_none": (lambda x: F.cross_entropy(x, LABELS, reduction="none"),
                           RNG.normal(size=(3, 4))),
    "cross_entropy_one_sample": (lambda x: F.cross_entropy(x, 1), RNG.normal(size=4)),
    "cross_entropy_3d": (lambda x: F.cross_entropy(x, np.array([[0, 1, 2], [2, 2, 0]])),
                         RNG.normal(size=(2, 3, 3))),
    "nll_loss": (lambda x: F.nll_loss(F.log_softmax(x), LABELS), RNG.normal(size=(3, 4))),
    "nll_loss_none": (lambda x: F.nll_loss(x, LABELS, reduction="none"), RNG.normal(size=(3, 4))),
    "bce_with_logits": (lambda x, t: F.binary_cross_entropy_with_logits(x, t),
                        (RNG.normal(size=(3, 2)), RNG.uniform(size=(3, 2)))),
    "bce_with_logits_sum": (lambda x: F.binary_cross_entropy_with_logits(
        x, np.array([0.0, 1.0, 0.3]), reduction="sum"), RNG.normal(size=3)),
    "mse_loss": (lambda a, b: F.mse_loss(a, b), (RNG.normal(size=(3, 2)), RNG.normal(size=(3, 2)))),
    "mse_loss_none": (lambda a: F.mse_loss(a, np.ones(4), reduction="none"), RNG.normal(size=4)),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS) + sorted(LOSSES))
def test_check_grads_both_modes_to_second_order(name):
    f, x = {**ACTIVATIONS, **LOSSES}[name]
    check_grads(f, x, modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("name", ["cross_entropy_mean", "cross_entropy_none", "nll_loss",
                                  "cross_entropy_3d"])
def test_hessian_vector_products_of_losses(name):
    f, x = LOSSES[name]
    scalar = (lambda z: np.sum(f(z) ** 2)) if name.endswith("none") else f
    check_hvp(scalar, x, RNG.normal(size=x.shape))


@pytest.mark.parametrize("name", ["cross_entropy_mean", "cross_entropy_sum", "cross_entropy_3d"])
def test_dense_hessians_agree_between_modes(name):
    f, x = LOSSES[name]
    forward_over_reverse = ad.hessian(f)(x)
    reverse_over_reverse = ad.jacrev(ad.grad(f))(x)
    reverse_over_forward = ad.jacrev(ad.jacfwd(f))(x)
    np.testing.assert_allclose(forward_over_reverse, reverse_over_reverse, atol=1e-12)
    np.testing.assert_allclose(forward_over_reverse, reverse_over_forward, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# values
# ----------------------------------------------------------------------------------------------


def reference_cross_entropy(x, labels):
    shifted = x - x.max(-1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return -np.take_along_axis(log_probabilities, labels[..., None], -1)[..., 0]


@pytest.mark.parametrize("reduction, combine", [("mean", np.mean), ("sum", np.sum),
                                                ("none", lambda v: v)])
def test_cross_entropy_matches_log_softmax_and_nll(reduction, combine):
    x = RNG.normal(size=(5, 4))
    labels = np.array([0, 3, 1, 1, 2])
    expected = combine(reference_cross_entropy(x, labels))
    np.testing.assert_allclose(F.cross_entropy(x, labels, reduction), expected, rtol=1e-13)
    np.testing.assert_allclose(F.nll_loss(F.log_softmax(x), labels, reduction), expected,
                               rtol=1e-13)


def test_cross_entropy_gradient_is_softmax_minus_one_hot():
    x = RNG.normal(size=(4, 3))
    labels = np.array([2, 0, 0, 1])
    expected = (F.softmax(x) - np.eye(3)[labels]) / 4
    np.testing.assert_allclose(ad.grad(F.cross_entropy)(x, labels), expected, rtol=1e-12)


@pytest.mark.parametrize("name, f, expected", [
    ("relu", F.relu, lambda x: np.maximum(x, 0)),
    ("leaky_relu", F.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x)),
    ("sigmoid", F.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    ("softplus", F.softplus, lambda x: np.log1p(np.exp(x))),
    ("hardtanh", F.hardtanh, lambda x: np.clip(x, -1, 1)),
    ("softmax", F.softmax, lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
])
def test_activation_values(name, f, expected):
    x = RNG.normal(scale=2, size=(3, 5))
    np.testing.assert_allclose(f(x), expected(x), rtol=1e-13, atol=1e-15)


def test_python_floats_and_lists_are_accepted():
    assert F.relu(-2.0) == 0.0 and F.relu(3.0) == 3.0
    assert F.leaky_relu(-2.0, 0.5) == -1.0
    assert float(F.cross_entropy([0.0, 0.0], 1)) == pytest.approx(np.log(2))


# ----------------------------------------------------------------------------------------------
# kinks (API.md's table)
# ----------------------------------------------------------------------------------------------

KINK_POINT = np.array([0.0, 2.0, -2.0])


@pytest.mark.parametrize("mode", ["grad", "jvp", "backward"])
@pytest.mark.parametrize("f, slope", [
    (F.relu, [0.0, 1.0, 0.0]),
    (lambda x: F.leaky_relu(x, 0.2), [0.2, 1.0, 0.2]),
    (F.leaky_relu, [0.01, 1.0, 0.01]),
])
def test_slopes_at_the_kink(f, slope, mode):
    if mode == "grad":
        computed = ad.grad(lambda x: np.sum(f(x)))(KINK_POINT)
    elif mode == "jvp":
        computed = ad.jacfwd(f)(KINK_POINT).diagonal()
    else:
        x = ad.Var(KINK_POINT)
        np.sum(f(x)).backward()
        computed = x.grad
    np.testing.assert_array_equal(computed, slope)


def test_hardtanh_slope_is_one_on_the_closed_interval():
    x = np.array([-1.0, 1.0, -1.5, 1.5, 0.0])
    np.testing.assert_array_equal(ad.grad(lambda z: np.sum(F.hardtanh(z)))(x), [1, 1, 0, 0, 1])


def test_relu_second_derivative_is_zero():
    np.testing.assert_array_equal(ad.hessian(lambda x: np.sum(F.relu(x)))(KINK_POINT),
                                  np.zeros((3, 3)))


# ----------------------------------------------------------------------------------------------
# stability
# ----------------------------------------------------------------------------------------------

HUGE = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_of_huge_logits_is_finite_and_exact(dtype):
    logits = HUGE.astype(dtype)
    labels = np.array([1, 1])
    value, gradient = ad.value_and_grad(F.cross_entropy)(logits, labels)
    np.testing.assert_allclose(value, (1e4 + np.log(2)) / 2, rtol=1e-6)
    expected = np.array([[1.0, -1.0, 0.0], [0.0, -0.5, 0.5]]) / 2
    # logsumexp = 1e4 + log 2 is rounded to the spacing of numbers near 1e4 (1e-3 in float32)
    np.testing.assert_allclose(gradient, expected, atol=1e-12 if dtype == np.float64 else 1e-3)
    assert gradient.dtype == dtype and np.asarray(value).dtype == dtype
    hvp = ad.hvp(lambda z: F.cross_entropy(z, labels), logits, np.ones_like(logits))
    assert np.all(np.isfinite(hvp))


@pytest.mark.parametrize("f", [
    lambda x: np.sum(F.log_softmax(x) * np.arange(3.0)),
    lambda x: np.sum(F.softmax(x) * np.arange(3.0)),
    lambda x: np.sum(F.logsumexp(x)),
    lambda x: F.nll_loss(F.log_softmax(x), np.array([0, 2])),
    lambda x: F.binary_cross_entropy_with_logits(x, np.full(x.shape, 0.5)),
    lambda x: np.sum(F.sigmoid(x)) + np.sum(F.softplus(x)),
], ids=["log_softmax", "softmax", "logsumexp", "nll_loss", "bce", "sigmoid_softplus"])
def test_huge_logits_give_finite_values_and_gradients(f):
    value, gradient = ad.value_and_grad(f)(HUGE)
    assert np.isfinite(value) and np.all(np.isfinite(gradient))


def test_binary_cross_entropy_of_huge_logits():
    logits = np.array([1e4, -1e4, 1e4])
    targets = np.array([1.0, 1.0, 0.0])
    losses = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    np.testing.assert_allclose(losses, [0.0, 1e4, 1e4])
    gradient = ad.grad(lambda x: F.binary_cross_entropy_with_logits(x, targets, "sum"))(logits)
    np.testing.assert_allclose(gradient, [0.0, -1.0, 1.0])


def test_minus_infinity_logits_get_probability_zero_and_gradient_zero():
    logits = np.array([[0.0, -np.inf, 1.0], [2.0, 0.5, -np.inf]])
    labels = np.array([0, 1])
    probabilities = F.softmax(logits)
    assert probabilities[0, 1] == 0.0 and probabilities[1, 2] == 0.0
    np.testing.assert_allclose(probabilities.sum(-1), 1.0)
    loss, gradient = ad.value_and_grad(F.cross_entropy)(logits, labels)
    finite = [[0.0, 1.0], [2.0, 0.5]]
    np.testing.assert_allclose(loss, np.mean(reference_cross_entropy(np.array(finite), labels)))
    assert np.all(np.isfinite(gradient)) and gradient[0, 1] == 0.0 and gradient[1, 2] == 0.0
    nll_value, nll_gradient = ad.value_and_grad(
        lambda x: F.nll_loss(F.log_softmax(x), labels))(logits)
    np.testing.assert_allclose(nll_value, loss)
    np.testing.assert_allclose(nll_gradient, gradient)


def test_label_at_minus_infinity_has_infinite_loss():
    assert F.cross_entropy(np.array([[0.0, -np.inf]]), np.array([1])) == np.inf


# ----------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("labels, error, match", [
    (np.array([0.0, 1.0]), TypeError, "integers"),
    (np.array([True, False]), TypeError, "integers"),
    (np.array([0, 1, 2]), ValueError, "shape"),
    (np.array([0, 3]), ValueError, r"0 \.\. 2"),
    (np.array([-1, 0]), ValueError, r"0 \.\. 2"),
])
@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
def test_bad_labels_are_refused(loss, labels, error, match):
    with pytest.raises(error, match=match):
        loss(np.zeros((2, 3)), labels)


def test_traced_labels_are_refused():
    with pytest.raises(TypeError, match="integer class indices"):
        F.cross_entropy(np.zeros((1, 2)), ad.Var(np.array([1.0])))


@pytest.mark.parametrize("loss, args", [
    (F.cross_entropy, (np.zeros((1, 2)), np.array([0]))),
    (F.nll_loss, (np.zeros((1, 2)), np.array([0]))),
    (F.mse_loss, (np.zeros(2), np.zeros(2))),
    (F.binary_cross_entropy_with_logits, (np.zeros(2), np.zeros(2))),
])
def test_unknown_reduction_is_refused(loss, args):
    with pytest.raises(ValueError, match="reduction"):
        loss(*args, reduction="average")


@pytest.mark.parametrize("call, match", [
    (lambda: F.mse_loss(np.zeros(3), np.zeros((3, 1))), "elementwise"),
    (lambda: F.binary_cross_entropy_with_logits(np.zeros(2), np.array([0.5, 1.5])), r"\[0, 1\]"),
    (lambda: F.binary_cross_entropy_with_logits(np.zeros(2), np.zeros(3)), "shape"),
    (lambda: F.cross_entropy(np.zeros((0, 3)), np.zeros(0, int)), "empty"),
    (lambda: F.hardtanh(np.zeros(2), 1.0, -1.0), "min_val < max_val"),
    (lambda: F.softplus(np.zeros(2), beta=0.0), "beta"),
    (lambda: F.linear(np.zeros((2, 3)), np.zeros((4, 2))), "3 features|2 features"),
    (lambda: F.linear(np.zeros((2, 3)), np.zeros((4, 3)), np.zeros(3)), "bias"),
    (lambda: F.leaky_relu(np.zeros(2), "0.1"), "negative_slope"),
])
def test_bad_arguments_raise_clear_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_module_docstring_examples_run():
    result = doctest.testmod(F, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
