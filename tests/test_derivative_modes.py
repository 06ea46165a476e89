"""``ad.derivative``'s switch between nested duals and Taylor mode, and what it costs ``f``.

Below order 4 nested duals run ``f`` once; from order 4 one Taylor pass runs it once.  A
primitive without a Taylor rule makes ``derivative`` evaluate ``f`` again with nested duals:
before, silently (a counting ``f`` counted two calls and nothing said why); now a
``RuntimeWarning`` names the primitive.
"""

import math
import warnings

import numpy as np
import pytest

import autodiff as ad
from autodiff import custom
from autodiff.transforms import TAYLOR_FROM_ORDER

@pytest.fixture
def sine_without_taylor():
    """A custom primitive (custom primitives declare no Taylor rule), unregistered afterwards."""
    prim = custom.primitive(
        "test_sine_without_taylor", np.sin,
        jvp=lambda primals, tangents, out: np.cos(primals[0]) * tangents[0],
    )
    yield prim
    custom.unregister(prim)


def counting(body):
    calls = []

    def f(x):
        calls.append(x)
        return body(x)

    return f, calls


def fourth_derivative_of_x_sin_x(x):
    return x * math.sin(x) - 4.0 * math.cos(x)


@pytest.mark.parametrize("order", range(0, 7))
def test_a_function_with_taylor_rules_runs_once_and_quietly(order):
    f, calls = counting(lambda x: np.sin(x) * x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ad.derivative(f, 0.3, order)
    assert len(calls) == 1


@pytest.mark.parametrize("order", range(1, TAYLOR_FROM_ORDER))
def test_nested_duals_below_the_switch_need_no_taylor_rule(order, sine_without_taylor):
    f, calls = counting(lambda x: sine_without_taylor(x) * x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = ad.derivative(f, 0.3, order)
    assert len(calls) == 1
    assert value == pytest.approx(ad.derivative(lambda x: np.sin(x) * x, 0.3, order), rel=1e-14)


def test_a_missing_taylor_rule_is_named_when_f_runs_again(sine_without_taylor):
    f, calls = counting(lambda x: sine_without_taylor(x) * x)
    with pytest.warns(RuntimeWarning, match=r"ad.derivative\(order=4\) evaluates f a second time, "
                                            r"with nested dual numbers.*primitive "
                                            "'test_sine_without_taylor' has no Taylor-mode rule"):
        value = ad.derivative(f, 0.3, 4)
    assert len(calls) == 2
    assert value == pytest.approx(fourth_derivative_of_x_sin_x(0.3), rel=1e-12)
