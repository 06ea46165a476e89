"""Checks for hyper-parameters and options: one place, one error type.

Every check takes the value and the option's name (``"lr"``, ``"in_features"``), returns the
value converted to a plain Python ``float``, ``int`` or ``bool``, and otherwise raises
``ValueError`` in torch.optim's style (``torch/optim/adam.py``)::

    Invalid learning rate: -1.0 (lr must be finite and >= 0)

``what`` is the phrase after "Invalid" (torch says "learning rate" for ``lr`` and "epsilon
value" for ``eps``); it defaults to the option's name. A value of the wrong type (a string, a
bool where a number is expected, ``None``) is an invalid value too: it raises the same
``ValueError``, so a caller catches one exception type for every bad option. NaN fails every
range check, because every comparison with NaN is false.

>>> positive_float(0.5, "gamma")
0.5
>>> nonnegative(-1, "lr", "learning rate")
Traceback (most recent call last):
...
ValueError: Invalid learning rate: -1 (lr must be finite and >= 0)
"""

import argparse
import math
import numbers

import numpy as np

__all__ = [
    "real",
    "positive_float",
    "nonnegative",
    "probability",
    "positive_int",
    "nonnegative_int",
    "flag",
    "choice",
    "argparse_type",
]


def _invalid(value, name, what, requirement):
    return ValueError(f"Invalid {what or name}: {value!r} ({name} {requirement})")


def real(value, name, what=None) -> float:
    """``value`` as a float, refusing non-numbers and bools (any real value, inf and NaN too)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise _invalid(value, name, what, f"must be a real number, got {type(value).__name__}")
    return float(value)


def positive_float(value, name, what=None, *, allow_inf=False) -> float:
    """``value`` as a float with ``0 < value < inf`` (``<= inf`` when ``allow_inf``)."""
    number = real(value, name, what)
    if allow_inf and number == math.inf:
        return number
    if not 0.0 < number < math.inf:
        requirement = "must be > 0 (inf is allowed)" if allow_inf else "must be finite and > 0"
        raise _invalid(value, name, what, requirement)
    return number


def nonnegative(value, name, what=None, *, allow_inf=False) -> float:
    """``value`` as a float with ``0 <= value < inf`` (``<= inf`` when ``allow_inf``)."""
    number = real(value, name, what)
    if allow_inf and number == math.inf:
        return number
    if not 0.0 <= number < math.inf:
        requirement = "must be >= 0 (inf is allowed)" if allow_inf else "must be finite and >= 0"
        raise _invalid(value, name, what, requirement)
    return number


def probability(value, name, what=None, *, allow_one=True) -> float:
    """``value`` as a float in ``[0, 1]``, or in ``[0, 1)`` when ``allow_one`` is false.

    Decay rates (RMSProp's ``alpha``, AdaDelta's ``rho``, SGD's ``dampening``) may be 1; Adam's
    ``betas`` may not (the bias correction ``1 - beta**t`` would be 0).
    """
    number = real(value, name, what)
    if not (0.0 <= number < 1.0 or (allow_one and number == 1.0)):
        interval = "[0, 1]" if allow_one else "[0, 1)"
        raise _invalid(value, name, what, f"must lie in {interval}")
    return number


def _integer(value, name, what) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise _invalid(value, name, what, f"must be an integer, got {type(value).__name__}")
    return int(value)


def positive_int(value, name, what=None) -> int:
    """``value`` as an int ``>= 1`` (NumPy integers accepted, bools refused)."""
    number = _integer(value, name, what)
    if number < 1:
        raise _invalid(value, name, what, "must be a positive integer")
    return number


def nonnegative_int(value, name, what=None) -> int:
    """``value`` as an int ``>= 0`` (NumPy integers accepted, bools refused)."""
    number = _integer(value, name, what)
    if number < 0:
        raise _invalid(value, name, what, "must be an integer >= 0")
    return number


def flag(value, name, what=None) -> bool:
    """``value`` as a bool; only ``True``/``False`` (and NumPy bools) are accepted, not 0/1."""
    if not isinstance(value, (bool, np.bool_)):
        raise _invalid(value, name, what, "must be True or False")
    return bool(value)


def choice(value, name, options, what=None):
    """``value`` itself, if it is one of ``options``."""
    if any(type(value) is type(option) and value == option for option in options):
        return value
    listed = ", ".join(repr(option) for option in options)
    raise _invalid(value, name, what, f"must be one of {listed}")


def argparse_type(check, name, convert=int):
    """An ``argparse`` ``type=`` callable: ``check(convert(text), name)``.

    Text that ``convert`` cannot read is handed to ``check`` as it is, which refuses it by name;
    every refusal becomes ``argparse.ArgumentTypeError``, so argparse prints its usage and a
    one-line error naming the option, and exits with status 2.

    >>> parser = argparse.ArgumentParser(prog="train")
    >>> _ = parser.add_argument("--epochs", type=argparse_type(positive_int, "epochs"))
    >>> parser.parse_args(["--epochs", "3"]).epochs
    3
    """

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = text
        try:
            return check(value, name)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = f"{check.__name__} {name}"
    return parse
