"""ad.testing.check_grads / check_hvp and ad.check_grad: they pass on right rules, and each
kind of wrong rule is caught by the check designed for it."""

import numpy as np
import pytest

import autodiff as ad
from autodiff import custom
from autodiff.rules.primitive import REGISTRY
from autodiff.testing import check_grads, check_hvp


@pytest.fixture(autouse=True)
def leave_the_table_as_found():
    before = set(REGISTRY)
    yield
    for name in set(REGISTRY) - before:
        custom.unregister(name)


def sine_with(jvp_factor=1.0, vjp_factor=1.0, frozen_jvp=False):
    """``sin`` as a custom primitive whose rules can be wrong in controlled ways."""

    def jvp(primals, tangents, out):
        x = ad.stop_gradient(primals[0]) if frozen_jvp else primals[0]
        return jvp_factor * np.cos(x) * tangents[0]

    def vjp(cotangent, primals, out):
        return vjp_factor * np.cos(primals[0]) * cotangent

    return custom.primitive("test_sine", np.sin, jvp=jvp, vjp=vjp)


X = np.array([0.1, -0.4, 2.0])

CORRECT_FUNCTIONS = {
    "scalar": (lambda x: x * np.sin(x) + np.exp(-x * x), 0.7),
    "vector": (lambda x: np.tanh(x) * x[::-1], X),
    "matrix to scalar": (lambda w: np.sum(np.log1p(w ** 2) @ w.T), np.arange(6.0).reshape(2, 3)),
    "several arguments": (lambda a, b: a * np.cos(b) + b ** 3, (1.3, np.array([1.0, -2.0]))),
    "pytree in and out": (
        lambda p: {"y": p["w"] @ p["x"], "z": [np.sum(p["x"] ** 2), None]},
        {"w": np.array([[1.0, 2.0], [0.5, -1.0]]), "x": np.array([0.3, -0.8])},
    ),
    "float32": (lambda x: np.sum(np.sin(x) * x), X.astype(np.float32)),
}


@pytest.mark.parametrize("name", sorted(CORRECT_FUNCTIONS))
@pytest.mark.parametrize("modes", [("fwd", "rev"), ("fwd",), ("rev",)])
def test_check_grads_passes_on_correct_derivatives(name, modes):
    f, x = CORRECT_FUNCTIONS[name]
    check_grads(f, x, modes=modes, order=2)


def test_a_wrong_vjp_fails_both_reverse_checks():
    wrong = sine_with(vjp_factor=1.01)
    with pytest.raises(AssertionError) as failure:
        check_grads(wrong, X, order=1)
    report = str(failure.value)
    assert "check_grads found 2 problem(s) (modes fwd, rev, order 1)" in report
    assert "[rev] <J^T u, v> of f" in report
    assert "[fwd/rev] exact identity fails for f" in report
    assert "[fwd] J v" not in report  # the forward rule is right


def test_the_exact_identity_sees_what_finite_differences_cannot():
    """A relative error of 1e-8 hides below any finite-difference tolerance, not the identity."""
    wrong = sine_with(vjp_factor=1 + 1e-8)
    with pytest.raises(AssertionError, match="exact identity fails") as failure:
        check_grads(wrong, X, order=1)
    assert "[rev]" not in str(failure.value) and "[fwd]" not in str(failure.value)


def test_a_wrong_forward_rule_names_the_worst_element():
    wrong = sine_with(jvp_factor=2.0)
    with pytest.raises(AssertionError, match=r"\[fwd\] J v of f vs central differences: 3 of 3 "
                                             r"values differ; worst at \[\d\]: AD"):
        check_grads(wrong, X, order=1)


def test_a_rule_not_written_in_primitives_fails_only_at_second_order():
    wrong = sine_with(frozen_jvp=True)  # right first derivative, no second derivative
    check_grads(wrong, X, modes=("fwd",), order=1)
    with pytest.raises(AssertionError, match=r"J v of \(x, v\) -> J v of f vs central"):
        check_grads(wrong, X, modes=("fwd",), order=2)


def test_modes_select_what_is_checked():
    wrong = sine_with(vjp_factor=2.0)
    check_grads(wrong, X, modes=("fwd",))
    with pytest.raises(AssertionError, match=r"\[rev\]"):
        check_grads(wrong, X, modes=("rev",))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(modes=("fwd", "reverse")), "modes must be a non-empty subset of"),
        (dict(modes=()), "modes must be a non-empty subset of"),
        (dict(order=0), "order must be a positive integer"),
        (dict(eps=0.0), "step eps must be positive"),
    ],
)
def test_check_grads_validates_its_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_grads(np.sin, X, **kwargs)


def test_check_grads_refuses_integer_points():
    with pytest.raises(TypeError, match="floating-point inputs"):
        check_grads(np.sin, np.arange(3))


@pytest.mark.parametrize(
    "f, x, v",
    [
        (lambda x: np.sum(x ** 4), np.array([1.0, -2.0]), np.array([0.5, 1.0])),
        (lambda x: np.sum(np.tanh(np.outer(x, x))), X, np.array([1.0, 0.0, -2.0])),
        (lambda a, b: np.sum(a * np.sin(b)), (0.3, np.array([1.0, 2.0])), (1.0, np.ones(2))),
        (lambda p: p["a"] ** 2 * np.sum(p["b"] ** 3), {"a": 1.5, "b": X}, {"a": -1.0, "b": X}),
    ],
)
def test_check_hvp_passes_on_correct_functions(f, x, v):
    check_hvp(f, x, v)


def test_check_hvp_catches_a_vjp_that_does_not_differentiate_again():
    frozen = custom.primitive(
        "test_frozen_sine",
        np.sin,
        jvp=lambda primals, tangents, out: np.cos(primals[0]) * tangents[0],
        vjp=lambda g, primals, out: np.cos(ad.stop_gradient(primals[0])) * g,
    )
    check_hvp(lambda x: np.sum(np.sin(x) ** 2), X, np.ones(3))
    with pytest.raises(AssertionError, match="check_hvp failed: hvp vs differenced gradients"):
        check_hvp(lambda x: np.sum(frozen(x) ** 2), X, np.ones(3))


# ----------------------------------------------------------------------------------------------
# ad.check_grad: the ratio of Aggarwal (2018, sec. 3.3)
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "f, x",
    [
        (lambda x: np.sum(np.sin(x) ** 2), X),
        (lambda x: np.log(x[0]) + x[0] * x[1] - np.sin(x[1]), np.array([2.0, 5.0])),
        (lambda a, b: np.sum(a @ b), (np.ones((2, 3)), np.arange(3.0))),
        (lambda p: np.sum(p["w"] ** 2) * p["s"], {"w": X, "s": 3.0}),
    ],
)
def test_check_grad_is_tiny_for_right_gradients(f, x):
    ratio = ad.check_grad(f, x)
    assert isinstance(ratio, float)
    assert ratio < 1e-8


def test_check_grad_of_float32_is_within_single_precision():
    """The AD gradient is float32 (rounding ~6e-8); the differences are taken in float64."""
    ratio = ad.check_grad(lambda x: np.sum(np.exp(x)), X.astype(np.float32))
    assert 0 < ratio < 1e-6


def test_check_grad_measures_a_wrong_gradient():
    """G_e = 2 G_a gives |2 - 1| / (2 + 1) = 1/3 whatever the point."""
    doubled = sine_with(vjp_factor=2.0)
    assert ad.check_grad(lambda x: np.sum(doubled(x)), X) == pytest.approx(1 / 3, rel=1e-8)


def test_check_grad_is_zero_when_both_gradients_vanish():
    assert ad.check_grad(lambda x: np.sum(np.sign(x)), X) == 0.0


@pytest.mark.parametrize(
    "f, x, error, message",
    [
        (np.sin, X, TypeError, "grad needs a scalar output"),
        (np.sum, np.arange(3), TypeError, "floating-point inputs"),
        (lambda x: np.sum(x), X, ValueError, "step eps must be positive"),
    ],
)
def test_check_grad_errors(f, x, error, message):
    eps = -1.0 if error is ValueError else None
    with pytest.raises(error, match=message):
        ad.check_grad(f, x, eps=eps)
