"""ad.nn.init: the distributions of Glorot and Bengio (2010, eq. 16) and He et al. (2015).

Glorot and Bengio, "Understanding the difficulty of training deep feedforward neural networks",
AISTATS 2010; He, Zhang, Ren and Sun, "Delving deep into rectifiers", ICCV 2015 (also Aggarwal,
*Neural Networks and Deep Learning*, Springer 2018, sec. 3.3.3).
"""

import doctest
import math

import numpy as np
import pytest

import autodiff as ad
from autodiff.nn import init

SHAPE = (300, 200)  # (out, in): fan_in = 200, fan_out = 300


def parameter(shape=SHAPE, dtype=np.float64):
    return ad.nn.Parameter(np.zeros(shape, dtype))


def test_xavier_uniform_bound_is_seed_001_eq_77():
    w = init.xavier_uniform_(parameter(), rng=0)
    bound = math.sqrt(6 / (200 + 300))
    assert np.abs(w.value).max() <= bound and np.abs(w.value).max() > 0.99 * bound
    assert w.value.var() == pytest.approx(bound**2 / 3, rel=0.02)  # = 2 / (m + n)


@pytest.mark.parametrize("initialise, std", [
    (lambda p: init.xavier_normal_(p, rng=0), math.sqrt(2 / 500)),
    (lambda p: init.xavier_normal_(p, gain=2.0, rng=0), 2 * math.sqrt(2 / 500)),
    (lambda p: init.kaiming_normal_(p, rng=0), math.sqrt(2 / 200)),
    (lambda p: init.kaiming_normal_(p, mode="fan_out", rng=0), math.sqrt(2 / 300)),
    (lambda p: init.kaiming_normal_(p, a=1.0, rng=0), math.sqrt(1 / 200)),
    (lambda p: init.kaiming_uniform_(p, rng=0), math.sqrt(2 / 200)),
    (lambda p: init.normal_(p, std=0.5, rng=0), 0.5),
])
def test_standard_deviations(initialise, std):
    w = initialise(parameter())
    assert w.value.mean() == pytest.approx(0.0, abs=4 * std / math.sqrt(w.value.size))
    assert w.value.std() == pytest.approx(std, rel=0.02)


def test_zeros_uniform_and_dtype():
    w = init.uniform_(parameter(dtype=np.float32), -0.1, 0.3, rng=1)
    assert w.value.dtype == np.float32 and w.value.min() >= -0.1 and w.value.max() <= 0.3
    assert not np.any(init.zeros_(w).value)


def test_same_generator_state_same_draws():
    a = init.kaiming_normal_(parameter(), rng=np.random.default_rng(4))
    b = init.kaiming_normal_(parameter(), rng=4)
    np.testing.assert_array_equal(a.value, b.value)


def test_initialisers_act_in_place_on_a_layer_and_clear_nothing_else():
    layer = ad.nn.Linear(5, 4, rng=0)
    weight = layer.weight
    init.xavier_uniform_(layer.weight, rng=0)
    init.zeros_(layer.bias)
    assert layer.weight is weight and not np.any(layer.bias.value)


def test_fans_of_convolution_shaped_weights():
    assert init.calculate_fans((8, 3, 5, 5)) == (75, 200)


@pytest.mark.parametrize("call, error, match", [
    (lambda: init.xavier_uniform_(np.zeros((2, 2))), TypeError, "Parameter"),
    (lambda: init.xavier_normal_(parameter((3,))), ValueError, "at least 2 axes"),
    (lambda: init.kaiming_normal_(parameter(), mode="fan"), ValueError, "mode"),
    (lambda: init.normal_(parameter(), std=-1.0), ValueError, "std"),
    (lambda: init.uniform_(parameter(), 1.0, 0.0), ValueError, "a < b"),
    (lambda: init.xavier_uniform_(parameter(), rng=1.5), TypeError, "rng"),
])
def test_bad_arguments_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_module_docstring_examples_run():
    result = doctest.testmod(init)
    assert result.failed == 0 and result.attempted > 0
