"""The shared option validators: one error type (ValueError) with torch.optim's message."""

import doctest
import math

import numpy as np
import pytest

import autodiff as ad
from autodiff import validation
from autodiff.validation import (
    choice,
    flag,
    nonnegative,
    nonnegative_int,
    positive_float,
    positive_int,
    probability,
    real,
)


@pytest.mark.parametrize("check, value, expected", [
    (real, -2, -2.0),
    (real, np.float32(0.5), 0.5),
    (positive_float, 3, 3.0),
    (nonnegative, 0, 0.0),
    (probability, 1, 1.0),
    (positive_int, np.int64(4), 4),
    (nonnegative_int, 0, 0),
    (flag, np.True_, True),
])
def test_accepted_values_come_back_as_plain_python_numbers(check, value, expected):
    result = check(value, "option")
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize("check, value, requirement", [
    (real, "1", "must be a real number, got str"),
    (real, True, "must be a real number, got bool"),
    (real, None, "must be a real number, got NoneType"),
    (positive_float, 0.0, "must be finite and > 0"),
    (positive_float, math.inf, "must be finite and > 0"),
    (positive_float, math.nan, "must be finite and > 0"),
    (nonnegative, -1e-300, "must be finite and >= 0"),
    (nonnegative, math.nan, "must be finite and >= 0"),
    (probability, 1.5, r"must lie in \[0, 1\]"),
    (positive_int, 0, "must be a positive integer"),
    (positive_int, 2.0, "must be an integer, got float"),
    (positive_int, False, "must be an integer, got bool"),
    (nonnegative_int, -1, "must be an integer >= 0"),
    (flag, 1, "must be True or False"),
])
def test_refused_values_raise_value_error_naming_option_value_and_rule(check, value, requirement):
    with pytest.raises(ValueError, match=rf"^Invalid option: .* \(option {requirement}"):
        check(value, "option")


def test_what_is_the_phrase_after_invalid_as_in_torch_optim():
    with pytest.raises(ValueError, match=r"^Invalid learning rate: -1.0 \(lr must be finite"):
        nonnegative(-1.0, "lr", "learning rate")


def test_infinity_only_where_allowed():
    assert nonnegative(math.inf, "clip_value", allow_inf=True) == math.inf
    assert positive_float(math.inf, "norm_type", allow_inf=True) == math.inf
    with pytest.raises(ValueError, match=r"must be > 0 \(inf is allowed\)"):
        positive_float(0, "norm_type", allow_inf=True)
    with pytest.raises(ValueError, match=r"must be >= 0 \(inf is allowed\)"):
        nonnegative(math.nan, "clip_value", allow_inf=True)


def test_probability_with_one_excluded():
    assert probability(0.0, "beta", allow_one=False) == 0.0
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\)"):
        probability(1.0, "beta", allow_one=False)


def test_choice_compares_by_type_and_value():
    assert choice("fan_in", "mode", ("fan_in", "fan_out")) == "fan_in"
    for bad in ("fan", np.array(["fan_in"]), None):
        with pytest.raises(ValueError, match="mode must be one of 'fan_in', 'fan_out'"):
            choice(bad, "mode", ("fan_in", "fan_out"))


@pytest.mark.parametrize("call, message", [
    (lambda: ad.nn.Linear(2, "3"), "Invalid out_features: '3'"),
    (lambda: ad.nn.Softplus(beta="2"), "Invalid beta: '2'"),
    (lambda: ad.nn.HardTanh(min_val=None), "Invalid min_val: None"),
    (lambda: ad.nn.init.kaiming_normal_(ad.nn.Parameter(np.zeros((2, 2))), a="x"),
     "Invalid negative slope: 'x'"),
    (lambda: ad.nn.init.normal_(ad.nn.Parameter(np.zeros(2)), std=math.nan), "Invalid std: nan"),
])
def test_network_options_use_the_shared_validators(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_module_docstring_examples_run():
    result = doctest.testmod(validation)
    assert result.failed == 0 and result.attempted > 0
