"""Checks on the numbers users hand to autodiff: floats in, clear errors for the rest."""

from __future__ import annotations

import numpy as np

__all__ = ["as_float_value", "check_float_input"]


def check_float_input(value, what: str):
    """Raise ``TypeError`` unless ``value`` is a real floating scalar or array."""
    dtype = value.dtype if isinstance(value, np.ndarray) else np.result_type(value)
    if dtype.kind == "f":
        return
    if dtype.kind == "c":
        raise TypeError(f"{what} is complex ({dtype}); complex numbers are not supported")
    raise TypeError(
        f"{what} has dtype {dtype}; differentiation needs floating-point inputs: "
        "pass floats (e.g. x.astype(float) or 2.0 instead of 2)"
    )


def as_float_value(value, what: str, dtype=None):
    """``value`` as a Python float or a floating ndarray (cast to ``dtype`` when given).

    Python ints become floats (``Dual(2, 1)`` means ``Dual(2.0, 1.0)``); integer, bool, complex
    and object arrays raise ``TypeError``.
    """
    if type(value) is float and (dtype is None or dtype == np.float64):
        return value
    if type(value) is np.ndarray and value.dtype.kind == "f" and (
        dtype is None or value.dtype == dtype
    ):
        return value  # what np.asarray below returns for it
    if isinstance(value, bool):
        raise TypeError(f"{what} is a bool; pass a float")
    if isinstance(value, (int, float, np.float64)) and not isinstance(value, np.integer):
        value = float(value)
        if dtype is not None and dtype != np.float64:
            return np.asarray(value, dtype=dtype)
        return value
    array = np.asarray(value)
    if array.dtype.kind == "f" and (dtype is None or array.dtype == dtype):
        return array
    if array.dtype == object:
        raise TypeError(
            f"{what} is an object array: build arrays of traced values with ad.stack/ad.array"
        )
    if dtype is not None and np.issubdtype(array.dtype, np.integer):
        array = array.astype(dtype)
    check_float_input(array, what)
    if dtype is not None and array.dtype != dtype:
        array = array.astype(dtype)
    return array
