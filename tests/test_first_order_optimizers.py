"""Network optimizers, learning-rate schedules and gradient clipping (autodiff.optim).

The optimizers' first steps are checked against their update rules written out here
independently, in the notation of Aggarwal (*Neural Networks and Deep Learning*, 2018,
sec. 3.5) and of the original papers (Kingma & Ba, Zeiler,
Loshchilov & Hutter); when torch is installed, whole trajectories are compared with torch.optim.
"""

import doctest
import math

import numpy as np
import pytest

from autodiff.optim import clipping, first_order, schedules
from autodiff.optim.clipping import clip_grad_norm_, clip_grad_value_
from autodiff.optim.first_order import SGD, AdaDelta, AdaGrad, Adam, AdamW, RMSProp
from autodiff.optim.schedules import ExponentialLR, InverseDecayLR, StepLR


class Param:
    """Stand-in for ad.nn.Parameter: ``.value`` may only be replaced by a same-shape, same-dtype
    ndarray, ``.grad`` is an ndarray or None."""

    def __init__(self, value):
        self._value = np.array(value)
        self.grad = None

    @property
    def value(self):
        return self._value

    @value.setter
    def value(self, new):
        assert isinstance(new, np.ndarray), type(new)
        assert new.shape == self._value.shape and new.dtype == self._value.dtype, (new, self._value)
        self._value = new


# The tiny quadratic L(w) = 1/2 sum(a w^2) - b.w, gradient a w - b, minimum at b / a.
A = np.array([1.0, 3.0])
B = np.array([0.5, -1.0])
W0 = np.array([1.0, -2.0])


def gradient(w):
    return A * w - B


def run(optimizer_class, steps, dtype=np.float64, **hyper):
    """Iterates w_1 .. w_steps of the optimizer on the quadratic."""
    param = Param(W0.astype(dtype))
    optimizer = optimizer_class([param], **hyper)
    iterates = []
    for _ in range(steps):
        optimizer.zero_grad()
        param.grad = gradient(param.value).astype(dtype)
        optimizer.step()
        iterates.append(param.value)
    return iterates


# ---------------------------------------------------------------------------------------------
# Each optimizer's documented update, written out independently (three steps)
# ---------------------------------------------------------------------------------------------


def aggarwal_momentum(alpha, beta, steps):
    """Aggarwal (sec. 3.5.2): V <- beta V - alpha dL/dW; W <- W + V, V starting at 0."""
    W, V, out = W0.copy(), np.zeros(2), []
    for _ in range(steps):
        V = beta * V - alpha * gradient(W)
        W = W + V
        out.append(W)
    return out


def aggarwal_nesterov(alpha, beta, steps):
    """Aggarwal (sec. 3.5.2.1): V <- beta V - alpha dL(W + beta V)/dW; W <- W + V. torch tracks
    the look-ahead point W + beta V, so that is what we return."""
    W, V, out = W0.copy(), np.zeros(2), []
    for _ in range(steps):
        V = beta * V - alpha * gradient(W + beta * V)
        W = W + V
        out.append(W + beta * V)
    return out


def torch_sgd(lr, momentum, dampening, weight_decay, steps):
    w, b, out = W0.copy(), None, []
    for _ in range(steps):
        g = gradient(w) + weight_decay * w
        b = g if b is None else momentum * b + (1 - dampening) * g
        w = w - lr * b
        out.append(w)
    return out


def adagrad(lr, lr_decay, initial, eps, weight_decay, steps):
    """Aggarwal's AdaGrad (sec. 3.5.3.1), eps after the root, inverse decay alpha_0 / (1 + k t)."""
    w, acc, out = W0.copy(), np.full(2, initial), []
    for t in range(steps):
        g = gradient(w) + weight_decay * w
        acc = acc + g**2
        w = w - lr / (1 + lr_decay * t) * g / (np.sqrt(acc) + eps)
        out.append(w)
    return out


def rmsprop(lr, rho, eps, momentum, centered, steps):
    """Aggarwal's RMSProp (sec. 3.5.3.2), optionally centred, with momentum
    V <- mu V - lr g / denominator."""
    w, acc, mean, V, out = W0.copy(), np.zeros(2), np.zeros(2), np.zeros(2), []
    for _ in range(steps):
        g = gradient(w)
        acc = rho * acc + (1 - rho) * g**2
        mean = rho * mean + (1 - rho) * g
        denominator = np.sqrt(acc - mean**2 if centered else acc) + eps
        V = momentum * V - lr * g / denominator
        w = w + V
        out.append(w)
    return out


def zeiler_adadelta(lr, rho, eps, steps):
    """Zeiler 2012, Algorithm 1, with the increment scaled by lr."""
    x, Eg2, Edx2, out = W0.copy(), np.zeros(2), np.zeros(2), []
    for _ in range(steps):
        g = gradient(x)
        Eg2 = rho * Eg2 + (1 - rho) * g**2
        dx = -np.sqrt(Edx2 + eps) / np.sqrt(Eg2 + eps) * g
        Edx2 = rho * Edx2 + (1 - rho) * dx**2
        x = x + lr * dx
        out.append(x)
    return out


def kingma_adam(lr, beta1, beta2, eps, l2, decoupled, amsgrad, steps):
    """Kingma & Ba 2015 Algorithm 1 (+ L2 in the gradient, or Loshchilov & Hutter's decoupled
    decay, or Reddi et al.'s AMSGrad maximum)."""
    w, m, v, v_max, out = W0.copy(), np.zeros(2), np.zeros(2), np.zeros(2), []
    for t in range(1, steps + 1):
        g = gradient(w)
        if decoupled:
            w = w - lr * l2 * w
        else:
            g = g + l2 * w
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        v_max = np.maximum(v_max, v)
        m_hat = m / (1 - beta1**t)
        v_hat = (v_max if amsgrad else v) / (1 - beta2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(w)
    return out


DOCUMENTED_UPDATES = {
    "sgd": (SGD, dict(lr=0.1), lambda n: aggarwal_momentum(0.1, 0.0, n)),
    "sgd-momentum": (SGD, dict(lr=0.1, momentum=0.9), lambda n: aggarwal_momentum(0.1, 0.9, n)),
    "sgd-nesterov": (SGD, dict(lr=0.1, momentum=0.9, nesterov=True),
                     lambda n: aggarwal_nesterov(0.1, 0.9, n)),
    "sgd-dampening-decay": (SGD, dict(lr=0.1, momentum=0.8, dampening=0.3, weight_decay=0.2),
                            lambda n: torch_sgd(0.1, 0.8, 0.3, 0.2, n)),
    "adagrad": (AdaGrad, dict(lr=0.5, lr_decay=0.1, initial_accumulator_value=0.2, eps=1e-3,
                              weight_decay=0.05),
                lambda n: adagrad(0.5, 0.1, 0.2, 1e-3, 0.05, n)),
    "rmsprop": (RMSProp, dict(lr=0.05, alpha=0.9, eps=1e-3),
                lambda n: rmsprop(0.05, 0.9, 1e-3, 0.0, False, n)),
    "rmsprop-centered-momentum": (RMSProp, dict(lr=0.05, alpha=0.9, eps=1e-3, momentum=0.5,
                                                centered=True),
                                  lambda n: rmsprop(0.05, 0.9, 1e-3, 0.5, True, n)),
    "adadelta": (AdaDelta, dict(rho=0.9, eps=1e-2), lambda n: zeiler_adadelta(1.0, 0.9, 1e-2, n)),
    "adadelta-lr": (AdaDelta, dict(lr=0.5, rho=0.8, eps=1e-3),
                    lambda n: zeiler_adadelta(0.5, 0.8, 1e-3, n)),
    "adam": (Adam, dict(lr=0.1, betas=(0.9, 0.999), eps=1e-3),
             lambda n: kingma_adam(0.1, 0.9, 0.999, 1e-3, 0.0, False, False, n)),
    "adam-l2-amsgrad": (Adam, dict(lr=0.3, betas=(0.8, 0.5), eps=1e-3, weight_decay=0.1,
                                   amsgrad=True),
                        lambda n: kingma_adam(0.3, 0.8, 0.5, 1e-3, 0.1, False, True, n)),
    "adamw": (AdamW, dict(lr=0.1, betas=(0.7, 0.9), eps=1e-3, weight_decay=0.2),
              lambda n: kingma_adam(0.1, 0.7, 0.9, 1e-3, 0.2, True, False, n)),
}


@pytest.mark.parametrize("case", sorted(DOCUMENTED_UPDATES))
def test_first_three_steps_follow_the_documented_update(case):
    optimizer_class, hyper, reference = DOCUMENTED_UPDATES[case]
    got = run(optimizer_class, 3, **hyper)
    expected = reference(3)
    for step, (w, w_ref) in enumerate(zip(got, expected), start=1):
        np.testing.assert_allclose(w, w_ref, rtol=1e-13, atol=1e-15, err_msg=f"step {step}")
    assert not np.allclose(got[0], W0), "the optimizer did not move"


def test_amsgrad_case_exercises_the_maximum():
    """The AMSGrad reference would be plain Adam if v never decreased; make sure it does."""
    with_max = kingma_adam(0.3, 0.8, 0.5, 1e-3, 0.1, False, True, 3)
    without = kingma_adam(0.3, 0.8, 0.5, 1e-3, 0.1, False, False, 3)
    assert not np.allclose(with_max[-1], without[-1])


@pytest.mark.parametrize("case", sorted(DOCUMENTED_UPDATES))
def test_float32_parameters_stay_float32(case):
    optimizer_class, hyper, _ = DOCUMENTED_UPDATES[case]
    param = Param(W0.astype(np.float32))
    optimizer = optimizer_class([param], **hyper)
    for _ in range(3):
        param.grad = gradient(param.value.astype(np.float64))  # a float64 gradient is cast down
        optimizer.step()
    assert param.value.dtype == np.float32
    for name, item in optimizer.state[id(param)].items():
        assert name == "step" or item.dtype == np.float32, name
    np.testing.assert_allclose(param.value, run(optimizer_class, 3, **hyper)[-1], rtol=2e-5)


@pytest.mark.parametrize("case", sorted(DOCUMENTED_UPDATES))
def test_maximize_ascends(case):
    """maximize=True on -L takes exactly the steps of minimising L."""
    optimizer_class, hyper, _ = DOCUMENTED_UPDATES[case]
    minimised = run(optimizer_class, 3, **hyper)[-1]
    param = Param(W0)
    optimizer = optimizer_class([param], maximize=True, **hyper)
    for _ in range(3):
        param.grad = -gradient(param.value)
        optimizer.step()
    np.testing.assert_array_equal(param.value, minimised)


# ---------------------------------------------------------------------------------------------
# Hyper-parameter validation
# ---------------------------------------------------------------------------------------------

INVALID_HYPERPARAMETERS = [
    (SGD, dict(lr=-0.1), "Invalid learning rate"),
    (SGD, dict(lr=float("nan")), "Invalid learning rate"),
    (SGD, dict(lr=float("inf")), "Invalid learning rate"),
    (SGD, dict(momentum=-0.5), "Invalid momentum value"),
    (SGD, dict(dampening=1.5), "Invalid dampening value"),
    (SGD, dict(weight_decay=-1e-4), "Invalid weight_decay value"),
    (SGD, dict(nesterov=True), "Nesterov momentum requires a momentum"),
    (SGD, dict(nesterov=True, momentum=0.9, dampening=0.1), "zero dampening"),
    (AdaGrad, dict(lr=-1.0), "Invalid learning rate"),
    (AdaGrad, dict(lr_decay=-0.1), "Invalid lr_decay value"),
    (AdaGrad, dict(weight_decay=-0.1), "Invalid weight_decay value"),
    (AdaGrad, dict(initial_accumulator_value=-0.1), "Invalid initial_accumulator_value value"),
    (AdaGrad, dict(eps=-1e-10), "Invalid epsilon value"),
    (RMSProp, dict(lr=-1.0), "Invalid learning rate"),
    (RMSProp, dict(alpha=-0.1), "Invalid alpha value"),
    (RMSProp, dict(alpha=1.1), "Invalid alpha value"),
    (RMSProp, dict(eps=-1.0), "Invalid epsilon value"),
    (RMSProp, dict(weight_decay=-1.0), "Invalid weight_decay value"),
    (RMSProp, dict(momentum=-0.9), "Invalid momentum value"),
    (AdaDelta, dict(lr=-1.0), "Invalid learning rate"),
    (AdaDelta, dict(rho=1.5), "Invalid rho value"),
    (AdaDelta, dict(rho=-0.5), "Invalid rho value"),
    (AdaDelta, dict(eps=-1e-6), "Invalid epsilon value"),
    (AdaDelta, dict(weight_decay=-1.0), "Invalid weight_decay value"),
    (Adam, dict(lr=-1e-3), "Invalid learning rate"),
    (Adam, dict(eps=-1e-8), "Invalid epsilon value"),
    (Adam, dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0"),
    (Adam, dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1"),
    (Adam, dict(betas=(0.9,)), "betas must be a pair"),
    (Adam, dict(weight_decay=-0.1), "Invalid weight_decay value"),
    (AdamW, dict(lr=-1e-3), "Invalid learning rate"),
    (AdamW, dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1"),
    (AdamW, dict(weight_decay=-0.01), "Invalid weight_decay value"),
]


@pytest.mark.parametrize("optimizer_class, hyper, message", INVALID_HYPERPARAMETERS)
def test_invalid_hyperparameter_raises_value_error(optimizer_class, hyper, message):
    with pytest.raises(ValueError, match=message):
        optimizer_class([Param(W0)], **hyper)


@pytest.mark.parametrize("optimizer_class, hyper, message", INVALID_HYPERPARAMETERS)
def test_invalid_hyperparameter_in_a_group_raises_value_error(optimizer_class, hyper, message):
    with pytest.raises(ValueError, match=message):
        optimizer_class([{"params": [Param(W0)], **hyper}])


@pytest.mark.parametrize("hyper, message", [
    (dict(lr="0.1"), "Invalid learning rate: '0.1' .*real number"),
    (dict(lr=True), "Invalid learning rate: True"),
    (dict(momentum=None), "Invalid momentum value: None"),
    (dict(nesterov=1), "Invalid nesterov: 1 .*True or False"),
])
def test_hyperparameter_of_wrong_type_raises_the_same_value_error(hyper, message):
    """One error type for every bad hyper-parameter, as torch.optim (issue 10, item 7)."""
    with pytest.raises(ValueError, match=message):
        SGD([Param(W0)], **hyper)


@pytest.mark.parametrize(
    "params, error, message",
    [
        ([], ValueError, "empty parameter list"),
        (Param(W0), TypeError, "wrap it in a list"),
        (W0, TypeError, "wrap it in a list"),
        ({Param(W0)}, TypeError, "ordered iterable"),
        ([Param(np.arange(3))], TypeError, "floating-point ndarray"),
        ([np.zeros(2)], TypeError, "floating-point ndarray"),
        ([{"params": [Param(W0)]}, Param(W0)], TypeError, "mixes"),
        ([{"params": [Param(W0)], "learning_rate": 0.1}], ValueError, "unknown hyper-parameter"),
        ([{"lr": 0.1}], ValueError, "'params' entry"),
    ],
)
def test_invalid_params_are_refused(params, error, message):
    with pytest.raises(error, match=message):
        SGD(params, lr=0.1)


def test_a_parameter_listed_twice_is_refused():
    param = Param(W0)
    with pytest.raises(ValueError, match="more than once"):
        SGD([param, param], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        SGD([{"params": [param]}, {"params": [param]}], lr=0.1)


@pytest.mark.parametrize("grad", [np.zeros(3), np.zeros((2, 1)), np.array([1, 2])])
def test_gradient_of_wrong_shape_or_dtype_is_refused(grad):
    param = Param(W0)
    optimizer = Adam([param])
    param.grad = grad
    with pytest.raises((ValueError, TypeError), match="gradient"):
        optimizer.step()
    np.testing.assert_array_equal(param.value, W0)


# ---------------------------------------------------------------------------------------------
# step, zero_grad, parameter groups
# ---------------------------------------------------------------------------------------------


def test_step_calls_the_closure_and_returns_its_loss():
    param = Param(W0)
    optimizer = SGD([param], lr=0.1)

    def closure():
        optimizer.zero_grad()
        param.grad = gradient(param.value)
        return 0.5 * np.sum(A * param.value**2) - B @ param.value

    loss = optimizer.step(closure)
    assert loss == pytest.approx(0.5 * (1 + 12) - (0.5 + 2))
    np.testing.assert_allclose(param.value, W0 - 0.1 * gradient(W0))
    assert optimizer.step() is None
    with pytest.raises(TypeError, match="callable"):
        optimizer.step(closure=1.0)


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    params = [Param(W0), Param(np.ones((2, 3)))]
    optimizer = SGD(params, lr=0.1)
    for param in params:
        param.grad = np.ones_like(param.value)
    optimizer.zero_grad(set_to_none=set_to_none)
    for param in params:
        if set_to_none:
            assert param.grad is None
        else:
            np.testing.assert_array_equal(param.grad, np.zeros_like(param.value))


def test_parameters_without_gradient_are_skipped():
    used, unused = Param(W0), Param(np.ones(3))
    optimizer = Adam([used, unused], lr=0.1)
    used.grad = gradient(used.value)
    optimizer.step()
    np.testing.assert_array_equal(unused.value, np.ones(3))
    assert id(unused) not in optimizer.state and optimizer.state[id(used)]["step"] == 1


def test_parameter_groups_override_the_defaults():
    slow, fast = Param(W0), Param(W0)
    optimizer = SGD([{"params": [slow]}, {"params": [fast], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [group["lr"] for group in optimizer.param_groups] == [0.1, 0.5]
    assert all(group["momentum"] == 0.9 for group in optimizer.param_groups)
    for param in (slow, fast):
        param.grad = gradient(param.value)
    optimizer.step()
    np.testing.assert_allclose(slow.value, W0 - 0.1 * gradient(W0))
    np.testing.assert_allclose(fast.value, W0 - 0.5 * gradient(W0))


def test_add_param_group_after_construction():
    first, second = Param(W0), Param(np.ones(3))
    optimizer = Adam([first])
    optimizer.add_param_group({"params": [second], "betas": (0.5, 0.6)})
    assert optimizer.param_groups[1]["betas"] == (0.5, 0.6)
    assert optimizer.param_groups[1]["lr"] == 1e-3
    with pytest.raises(ValueError, match="more than one parameter group"):
        optimizer.add_param_group({"params": [first]})


def test_zero_dimensional_parameter_with_float_gradient():
    param = Param(np.array(2.0))
    optimizer = SGD([param], lr=0.25)
    param.grad = 4.0
    optimizer.step()
    assert isinstance(param.value, np.ndarray) and param.value.shape == ()
    assert param.value == 1.0


# ---------------------------------------------------------------------------------------------
# state_dict / load_state_dict
# ---------------------------------------------------------------------------------------------


def _train(optimizer, params, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        for param in params:
            param.grad = np.cos(param.value) + 0.3 * param.value
        optimizer.step()


def _only_plain_values(item):
    if isinstance(item, dict):
        return all(isinstance(k, (int, str)) and _only_plain_values(v) for k, v in item.items())
    if isinstance(item, (list, tuple)):
        return all(_only_plain_values(v) for v in item)
    return item is None or isinstance(item, (np.ndarray, bool, int, float))


@pytest.mark.parametrize("case", sorted(DOCUMENTED_UPDATES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_state_dict_round_trip_resumes_bitwise(case, dtype):
    optimizer_class, hyper, _ = DOCUMENTED_UPDATES[case]
    rng = np.random.default_rng(0)
    values = [rng.normal(size=(3, 2)).astype(dtype), rng.normal(size=4).astype(dtype)]
    params = [Param(v) for v in values]
    optimizer = optimizer_class([{"params": params[:1]}, {"params": params[1:], "lr": 0.01}],
                                **hyper)
    _train(optimizer, params, 3)
    saved = optimizer.state_dict()
    assert _only_plain_values(saved)

    resumed_params = [Param(p.value.copy()) for p in params]
    resumed = optimizer_class([{"params": resumed_params[:1]}, {"params": resumed_params[1:]}],
                              **hyper)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[1]["lr"] == 0.01
    _train(optimizer, params, 3)
    _train(resumed, resumed_params, 3)
    for original, copy in zip(params, resumed_params):
        np.testing.assert_array_equal(original.value, copy.value)
        assert copy.value.dtype == dtype


def test_state_dict_holds_copies():
    param = Param(W0)
    optimizer = Adam([param], lr=0.1)
    param.grad = gradient(param.value)
    optimizer.step()
    saved = optimizer.state_dict()
    saved["state"][0]["exp_avg"][:] = 123.0
    assert not np.any(optimizer.state[id(param)]["exp_avg"] == 123.0)
    assert saved["state"][0]["step"] == 1
    assert saved["param_groups"][0]["params"] == [0]


def test_adam_moments_are_updated_in_place_but_saved_copies_stay():
    param = Param(W0)
    optimizer = Adam([param], lr=0.1)
    param.grad = gradient(param.value)
    optimizer.step()
    moment = optimizer.state[id(param)]["exp_avg"]
    saved = optimizer.state_dict()
    before, value = np.array(moment), param.value
    param.grad = gradient(param.value)
    optimizer.step()
    assert optimizer.state[id(param)]["exp_avg"] is moment  # the optimizer's own array
    assert not np.array_equal(moment, before)
    np.testing.assert_array_equal(saved["state"][0]["exp_avg"], before)
    assert param.value is not value  # the parameter gets a new array


# ---------------------------------------------------------------------------------------------
# Adam's small parameters share flat moment arrays (one NumPy call per operation for them all)
# ---------------------------------------------------------------------------------------------

# shapes below and above first_order.FLAT_MAX_SIZE (2**14 elements), a 0-d one among them
MANY_SHAPES = [(3, 4), (4,), (2, 3, 2), (), (5,), (130, 130)]

ADAM_CASES = [
    (Adam, dict(lr=0.05)),
    (Adam, dict(lr=0.05, betas=(0.8, 0.9), eps=1e-3, weight_decay=0.1, amsgrad=True)),
    (Adam, dict(lr=0.05, maximize=True)),
    (AdamW, dict(lr=0.05)),
    (AdamW, dict(lr=0.05, betas=(0.5, 0.6), weight_decay=0.1, amsgrad=True, maximize=True)),
]


def _many_gradients(values, step):
    """Gradients of a nonconvex sum, one of them Fortran-ordered, one missing in steps 2-3."""
    grads = [np.cos(value) * 3 + 0.5 * value + step for value in values]
    grads[0] = np.asfortranarray(grads[0])
    if step in (2, 3):
        grads[1] = None
    return grads


@pytest.mark.parametrize("optimizer_class, hyper", ADAM_CASES,
                         ids=[f"{c.__name__}-{i}" for i, (c, _) in enumerate(ADAM_CASES)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_steps_many_parameters_as_each_alone_bit_for_bit(optimizer_class, hyper, dtype):
    """One optimizer over parameters of many sizes takes, for each, the steps an optimizer of
    that parameter alone takes: the flat moments change nothing but the number of NumPy calls,
    also when a parameter skips steps (its step count then differs: no flat update for it) and
    across a state_dict round trip in the middle."""
    assert np.prod(MANY_SHAPES[-1]) > first_order.FLAT_MAX_SIZE >= np.prod(MANY_SHAPES[0])
    rng = np.random.default_rng(3)
    values = [rng.normal(size=shape).astype(dtype) for shape in MANY_SHAPES]
    together = [Param(value) for value in values]
    optimizer = optimizer_class(together, **hyper)
    alone = [Param(value) for value in values]
    singles = [optimizer_class([param], **hyper) for param in alone]
    for step in range(7):
        if step == 4:
            saved = optimizer.state_dict()
            optimizer = optimizer_class(together, **hyper)
            optimizer.load_state_dict(saved)
        for param, grad in zip(together, _many_gradients([p.value for p in together], step)):
            param.grad = grad
        optimizer.step()
        for param, single, grad in zip(alone, singles,
                                       _many_gradients([p.value for p in alone], step)):
            param.grad = grad
            single.step()
        for mine, reference in zip(together, alone):
            assert mine.value.dtype == dtype and mine.value.shape == reference.value.shape
            np.testing.assert_array_equal(mine.value, reference.value, err_msg=f"step {step}")
    for index, single in enumerate(singles):
        for key, item in single.state_dict()["state"][0].items():
            np.testing.assert_array_equal(optimizer.state_dict()["state"][index][key], item)


def test_adam_step_is_its_documented_expressions_bit_for_bit():
    """Adam's update is ``m <- beta1 m + (1 - beta1) g``, ``v <- beta2 v + (g g)(1 - beta2)``,
    ``w <- w - lr / (1 - beta1^t) (m / (sqrt(v) / sqrt(1 - beta2^t) + eps))`` evaluated in this
    order (the bits of these NumPy expressions), for one parameter and for flat moments."""
    rng = np.random.default_rng(5)
    lr, beta1, beta2, eps = 0.01, 0.9, 0.99, 1e-6
    values = [rng.normal(size=shape) for shape in [(6, 5), (5,), (3,)]]
    for params in ([Param(values[0])], [Param(value) for value in values]):
        optimizer = Adam(params, lr=lr, betas=(beta1, beta2), eps=eps)
        w = [p.value for p in params]
        m = [np.zeros_like(x) for x in w]
        v = [np.zeros_like(x) for x in w]
        for t in range(1, 5):
            grads = [np.sin(3 * x) + x for x in w]
            for param, g in zip(params, grads):
                param.grad = g
            optimizer.step()
            for i, g in enumerate(grads):
                m[i] = beta1 * m[i] + (1 - beta1) * g
                v[i] = beta2 * v[i] + (g * g) * (1 - beta2)
                w[i] = w[i] - lr / (1 - beta1**t) * (
                    m[i] / (np.sqrt(v[i]) / math.sqrt(1 - beta2**t) + eps))
                np.testing.assert_array_equal(params[i].value, w[i])


def test_adam_steps_a_zero_dimensional_parameter():
    """A 0-d parameter (NumPy returns scalars from its arithmetic) steps as a 1-element one."""
    scalar, vector = Param(np.array(-2.0)), Param(np.array([-2.0]))
    optimizers = [Adam([scalar], lr=0.1, amsgrad=True), Adam([vector], lr=0.1, amsgrad=True)]
    for _ in range(3):
        scalar.grad = 2.0 * float(scalar.value)  # a float gradient, as a 0-d one may come
        vector.grad = 2.0 * vector.value
        for optimizer in optimizers:
            optimizer.step()
        assert scalar.value.shape == () and scalar.value == vector.value[0]
    assert float(scalar.value) > -2.0


def test_adam_flat_moments_stay_the_states_arrays_and_saved_copies_stay():
    params = [Param(np.ones((2, 3))), Param(np.ones(3))]
    optimizer = Adam(params, lr=0.1)
    for param in params:
        param.grad = np.full(param.value.shape, 2.0)
    optimizer.step()
    moments = [optimizer.state[id(param)]["exp_avg"] for param in params]
    saved = optimizer.state_dict()
    for param in params:
        param.grad = np.full(param.value.shape, -1.0)
    optimizer.step()
    first = 0.9 * 0.0 + (1 - 0.9) * 2.0
    second = 0.9 * first + (1 - 0.9) * -1.0
    for param, moment, copy in zip(params, moments, saved["state"].values()):
        assert optimizer.state[id(param)]["exp_avg"] is moment  # updated in place
        np.testing.assert_array_equal(moment, np.full(param.value.shape, second))
        np.testing.assert_array_equal(copy["exp_avg"], np.full(param.value.shape, first))


def _adam_state_dict():
    param = Param(W0)
    optimizer = Adam([param], lr=0.1)
    param.grad = gradient(W0)
    optimizer.step()
    return optimizer.state_dict()


@pytest.mark.parametrize(
    "make_target, edit, message",
    [
        (lambda: Adam([Param(W0)]), lambda sd: sd["param_groups"].append(
            {**sd["param_groups"][0], "params": [1]}), "parameter groups"),
        (lambda: Adam([Param(W0), Param(W0)]), lambda sd: None, "has 1 parameters"),
        (lambda: Adam([Param(np.ones(3))]), lambda sd: None, "shape"),
        (lambda: SGD([Param(W0)], momentum=0.9), lambda sd: None, "hyper-parameters"),
        (lambda: Adam([Param(W0)], amsgrad=True),
         lambda sd: sd["param_groups"][0].update(amsgrad=True), "max_exp_avg_sq"),
        (lambda: Adam([Param(W0)]), lambda sd: sd["param_groups"][0].update(lr=-1.0),
         "Invalid learning rate"),
        (lambda: Adam([Param(W0)]), lambda sd: sd["state"].update({5: {}}), "parameter 5"),
    ],
    ids=["group-count", "group-size", "state-shape", "other-optimizer", "state-entries",
         "invalid-hyperparameter", "unknown-index"],
)
def test_load_state_dict_refuses_mismatches(make_target, edit, message):
    saved = _adam_state_dict()
    edit(saved)
    target = make_target()
    before = target.state_dict()
    with pytest.raises(ValueError, match=message):
        target.load_state_dict(saved)
    assert target.state_dict()["param_groups"] == before["param_groups"]


# ---------------------------------------------------------------------------------------------
# Learning-rate schedules
# ---------------------------------------------------------------------------------------------

K = 0.3
SCHEDULES = {
    "exponential": (lambda opt: ExponentialLR(opt, gamma=math.exp(-K)),
                    lambda lr0, t: lr0 * math.exp(-K * t)),
    "inverse": (lambda opt: InverseDecayLR(opt, lr_decay=K), lambda lr0, t: lr0 / (1 + K * t)),
    "step": (lambda opt: StepLR(opt, step_size=3, gamma=0.5),
             lambda lr0, t: lr0 * 0.5 ** (t // 3)),
}


def _two_group_optimizer():
    return SGD([{"params": [Param(W0)]}, {"params": [Param(W0)], "lr": 0.5}], lr=2.0)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_follows_the_seed_formula(name):
    make, formula = SCHEDULES[name]
    optimizer = _two_group_optimizer()
    schedule = make(optimizer)
    for t in range(8):
        expected = [formula(2.0, t), formula(0.5, t)]
        assert schedule.get_last_lr() == pytest.approx(expected, rel=1e-14)
        assert [g["lr"] for g in optimizer.param_groups] == schedule.get_last_lr()
        schedule.step()
    assert schedule.last_epoch == 8


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_state_dict_round_trip(name):
    make, _ = SCHEDULES[name]
    optimizer = _two_group_optimizer()
    schedule = make(optimizer)
    for _ in range(4):
        schedule.step()
    saved = schedule.state_dict()
    fresh_optimizer = _two_group_optimizer()
    fresh = make(fresh_optimizer)
    fresh.load_state_dict(saved)
    assert fresh.get_last_lr() == schedule.get_last_lr()
    assert [g["lr"] for g in fresh_optimizer.param_groups] == schedule.get_last_lr()
    schedule.step()
    fresh.step()
    assert fresh.get_last_lr() == schedule.get_last_lr()
    with pytest.raises(ValueError, match="entries"):
        fresh.load_state_dict({"last_epoch": 1})


def test_step_size_round_trips_through_the_state_dict():
    schedule = StepLR(_two_group_optimizer(), step_size=5, gamma=0.2)
    other = StepLR(_two_group_optimizer(), step_size=2)
    other.load_state_dict(schedule.state_dict())
    assert (other.step_size, other.gamma) == (5, 0.2)


def test_inverse_decay_schedule_matches_adagrad_lr_decay():
    """AdaGrad's lr_decay is the same inverse decay, applied per step."""
    param, twin = Param(W0), Param(W0)
    built_in = AdaGrad([param], lr=0.5, lr_decay=K)
    scheduled = AdaGrad([twin], lr=0.5)
    schedule = InverseDecayLR(scheduled, lr_decay=K)
    for _ in range(4):
        param.grad, twin.grad = gradient(param.value), gradient(twin.value)
        built_in.step()
        scheduled.step()
        schedule.step()
    np.testing.assert_allclose(param.value, twin.value, rtol=1e-15)


@pytest.mark.parametrize(
    "make, error",
    [
        (lambda opt: ExponentialLR(opt, gamma=0.0), ValueError),
        (lambda opt: ExponentialLR(opt, gamma=float("nan")), ValueError),
        (lambda opt: ExponentialLR(opt, gamma="0.9"), ValueError),
        (lambda opt: InverseDecayLR(opt, lr_decay=-1.0), ValueError),
        (lambda opt: StepLR(opt, step_size=0), ValueError),
        (lambda opt: StepLR(opt, step_size=2.5), ValueError),
        (lambda opt: StepLR(opt, step_size=2, gamma=-0.1), ValueError),
        (lambda opt: StepLR([Param(W0)], step_size=2), TypeError),
    ],
    ids=["gamma-zero", "gamma-nan", "gamma-str", "lr_decay-negative", "step_size-zero",
         "step_size-float", "gamma-negative", "not-an-optimizer"],
)
def test_invalid_schedule_arguments(make, error):
    with pytest.raises(error):
        make(_two_group_optimizer())


# ---------------------------------------------------------------------------------------------
# Gradient clipping
# ---------------------------------------------------------------------------------------------


def _params_with_grads(dtype=np.float64):
    a, b, c = Param(np.zeros(3, dtype)), Param(np.zeros((2, 2), dtype)), Param(np.zeros(2, dtype))
    a.grad = np.array([3.0, -4.0, 0.5], dtype)
    b.grad = np.array([[-0.2, 12.0], [1.0, -2.0]], dtype)
    return [a, b, c]  # c has no gradient


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_grad_value(dtype):
    params = _params_with_grads(dtype)
    original = params[0].grad
    clip_grad_value_(params, 1.5)
    np.testing.assert_array_equal(params[0].grad, np.array([1.5, -1.5, 0.5], dtype))
    np.testing.assert_array_equal(params[1].grad, np.array([[-0.2, 1.5], [1.0, -1.5]], dtype))
    assert params[2].grad is None
    assert params[0].grad.dtype == dtype
    np.testing.assert_array_equal(original, np.array([3.0, -4.0, 0.5], dtype))  # not mutated


def test_clip_grad_value_accepts_a_single_parameter():
    param = _params_with_grads()[0]
    clip_grad_value_(param, 1.0)
    np.testing.assert_array_equal(param.grad, [1.0, -1.0, 0.5])


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, "inf"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_grad_norm_returns_the_global_norm_and_rescales(norm_type, dtype):
    params = _params_with_grads(dtype)
    everything = np.concatenate([params[0].grad.ravel(), params[1].grad.ravel()])
    p = math.inf if norm_type == "inf" else norm_type
    expected_norm = np.linalg.norm(everything.astype(np.float64), ord=p)
    total = clip_grad_norm_(params, max_norm=2.0, norm_type=norm_type)
    assert isinstance(total, float)
    assert total == pytest.approx(expected_norm, rel=1e-6 if dtype == np.float32 else 1e-14)
    scale = 2.0 / (expected_norm + 1e-6)
    clipped = np.concatenate([params[0].grad.ravel(), params[1].grad.ravel()])
    np.testing.assert_allclose(clipped, everything * scale, rtol=1e-6)
    assert np.linalg.norm(clipped.astype(np.float64), ord=p) <= 2.0
    assert params[0].grad.dtype == dtype and params[2].grad is None


@pytest.mark.parametrize("max_norm", [20.0, math.inf])
def test_clip_grad_norm_leaves_small_gradients_alone(max_norm):
    params = _params_with_grads()
    before = [params[0].grad.copy(), params[1].grad.copy()]
    total = clip_grad_norm_(params, max_norm)
    assert total == pytest.approx(math.sqrt(9 + 16 + 0.25 + 0.04 + 144 + 1 + 4))
    np.testing.assert_array_equal(params[0].grad, before[0])
    np.testing.assert_array_equal(params[1].grad, before[1])


def test_clip_grad_norm_without_gradients_is_zero():
    assert clip_grad_norm_([Param(W0)], 1.0) == 0.0


def test_clip_grad_norm_non_finite():
    params = _params_with_grads()
    params[0].grad = np.array([np.inf, 1.0, 0.0])
    with pytest.raises(ValueError, match="non-finite|inf"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    assert params[1].grad[0, 1] == 12.0
    with np.errstate(invalid="ignore"):
        assert math.isinf(clip_grad_norm_(params, 1.0))
    assert np.isnan(params[0].grad[0])  # torch's behaviour: 0 * inf


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda ps: clip_grad_norm_(ps, -1.0), ValueError),
        (lambda ps: clip_grad_norm_(ps, float("nan")), ValueError),
        (lambda ps: clip_grad_norm_(ps, 1.0, norm_type=0), ValueError),
        (lambda ps: clip_grad_norm_(ps, 1.0, norm_type="two"), ValueError),
        (lambda ps: clip_grad_value_(ps, -0.5), ValueError),
        (lambda ps: clip_grad_value_(ps, "1"), ValueError),
        (lambda ps: clip_grad_value_(np.ones(3), 1.0), TypeError),
    ],
    ids=["max_norm-negative", "max_norm-nan", "norm_type-zero", "norm_type-str",
         "clip_value-negative", "clip_value-str", "array-not-parameter"],
)
def test_invalid_clipping_arguments(call, error):
    with pytest.raises(error):
        call(_params_with_grads())


# ---------------------------------------------------------------------------------------------
# Docstring examples
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", [first_order, schedules, clipping], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# ---------------------------------------------------------------------------------------------
# Agreement with torch.optim (only where torch is installed)
# ---------------------------------------------------------------------------------------------

TORCH_CASES = [
    ("SGD", SGD, dict(lr=0.05)),
    ("SGD", SGD, dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    ("SGD", SGD, dict(lr=0.05, momentum=0.9, dampening=0.2)),
    ("SGD", SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adagrad", AdaGrad, dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1,
                              weight_decay=0.01)),
    ("RMSprop", RMSProp, dict(lr=0.01)),
    ("RMSprop", RMSProp, dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True,
                              weight_decay=0.01)),
    ("Adadelta", AdaDelta, dict(lr=1.0, rho=0.9, weight_decay=0.01)),
    ("Adam", Adam, dict(lr=0.05)),
    ("Adam", Adam, dict(lr=0.05, betas=(0.8, 0.9), weight_decay=0.01, amsgrad=True)),
    ("AdamW", AdamW, dict(lr=0.05)),
    ("AdamW", AdamW, dict(lr=0.05, betas=(0.5, 0.6), weight_decay=0.1, amsgrad=True,
                          maximize=True)),
]


@pytest.mark.parametrize(
    "torch_name, optimizer_class, hyper", TORCH_CASES,
    ids=[name + "".join(f"-{k}={v}" for k, v in hyper.items()) for name, _, hyper in TORCH_CASES],
)
def test_trajectory_matches_torch_optim(torch_name, optimizer_class, hyper):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    start = rng.normal(size=(4, 3))
    M = rng.normal(size=(3, 3))

    def grad_of(w):  # gradient of sin(w).sum() + 1/2 ||w M||^2, nonconvex and anisotropic
        return np.cos(w) + w @ M @ M.T

    ours = Param(start.copy())
    mine = optimizer_class([ours], **hyper)
    theirs = torch.tensor(start.copy(), dtype=torch.float64, requires_grad=True)
    reference = getattr(torch.optim, torch_name)([theirs], foreach=False, **hyper)
    schedule = StepLR(mine, step_size=7, gamma=0.5)
    torch_schedule = torch.optim.lr_scheduler.StepLR(reference, step_size=7, gamma=0.5)
    for _ in range(25):
        ours.grad = grad_of(ours.value)
        mine.step()
        theirs.grad = torch.from_numpy(grad_of(theirs.detach().numpy()))
        reference.step()
        schedule.step()
        torch_schedule.step()
        np.testing.assert_allclose(ours.value, theirs.detach().numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clipping_matches_torch(norm_type):
    torch = pytest.importorskip("torch")
    params = _params_with_grads()
    tensors = [torch.zeros(p.value.shape, dtype=torch.float64, requires_grad=True)
               for p in params]
    for param, tensor in zip(params, tensors):
        if param.grad is not None:
            tensor.grad = torch.from_numpy(param.grad.copy())
    total = clip_grad_norm_(params, 2.0, norm_type)
    torch_total = torch.nn.utils.clip_grad_norm_(tensors, 2.0, norm_type)
    assert total == pytest.approx(float(torch_total), rel=1e-14)
    for param, tensor in zip(params[:2], tensors[:2]):
        np.testing.assert_allclose(param.grad, tensor.grad.numpy(), rtol=1e-14)
    clip_grad_value_(params, 0.3)
    torch.nn.utils.clip_grad_value_(tensors, 0.3)
    for param, tensor in zip(params[:2], tensors[:2]):
        np.testing.assert_allclose(param.grad, tensor.grad.numpy(), rtol=1e-14)


@pytest.mark.parametrize("name", ["exponential", "inverse", "step"])
def test_schedules_match_torch(name):
    torch = pytest.importorskip("torch")
    make, _ = SCHEDULES[name]
    torch_schedule = {
        "exponential": lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, math.exp(-K)),
        "inverse": lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1 / (1 + K * t)),
        "step": lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5),
    }[name]
    tensor = torch.zeros(2, requires_grad=True)
    reference = torch_schedule(torch.optim.SGD([tensor], lr=2.0))
    schedule = make(SGD([Param(W0)], lr=2.0))
    for _ in range(10):
        assert schedule.get_last_lr() == pytest.approx(reference.get_last_lr(), rel=1e-13)
        reference.optimizer.step()
        reference.step()
        schedule.step()
