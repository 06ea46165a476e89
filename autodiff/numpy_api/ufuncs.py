"""NumPy's ufunc protocol on traced values: the keywords of a call, and ``reduce``/``accumulate``.

``np.sin(x, dtype=np.float32)`` and ``np.add.reduce(x, axis=1, where=m, initial=0.5)`` reach
``__array_ufunc__`` with their keywords.  Each is honoured exactly or refused with a
``TypeError`` naming it, never ignored:

* ``dtype`` (or ``signature`` naming one floating type): the inputs are cast to it first, as
  NumPy computes in that type; ``casting`` (with or without ``dtype``) is checked by NumPy's
  own type resolution: its ``UFuncTypeError`` is raised wherever the plain call raises it;
* ``order`` and ``subok`` change no value (memory layout, ndarray subclasses): accepted;
* ``out`` would write in place into an array (traced values are immutable); ``where`` without
  ``out`` leaves NumPy's unselected entries uninitialised: both refused, pointing to the returned
  value and ``np.where``;
* ``ufunc.reduce`` of ``add``/``multiply``/``maximum``/``minimum`` is ``np.sum``/``np.prod``/
  ``np.max``/``np.min`` with NumPy's ``axis=0`` default (``dtype``, ``keepdims``, ``initial``,
  ``where`` honoured there); ``ufunc.accumulate`` of ``add``/``multiply`` is
  ``cumsum``/``cumprod``.
"""

from __future__ import annotations

import numpy as np

from ..rules.primitive import Traced, primal_value
from .arithmetic import astype, cumprod
from .protocol import unsupported
from .reductions import cumsum, max, min, prod, sum

__all__ = ["call_inputs", "ufunc_method"]

_ANY = object()  # a refused keyword whose value is not worth printing (arrays)
_LAYOUT_ONLY = {"order": ("K", "A", "C", "F"), "subok": (True, False)}
_REDUCTIONS = {np.add: sum, np.multiply: prod, np.maximum: max, np.minimum: min}
_ACCUMULATIONS = {np.add: cumsum, np.multiply: cumprod}


def _refuse(ufunc, name, value, hint):
    shown = "..." if value is _ANY else repr(value)
    return TypeError(
        f"np.{ufunc.__name__}(..., {name}={shown}) is not supported on traced values: {hint}"
    )


def _requested_dtype(ufunc, kwargs):
    dtype = kwargs.pop("dtype", None)
    signature = kwargs.pop("signature", None)
    if signature is not None:
        types = signature if isinstance(signature, tuple) else (signature,)
        types = {np.dtype(t) for t in types if t is not None}
        if len(types) != 1 or dtype is not None:
            raise _refuse(ufunc, "signature", signature, "give one floating dtype with dtype=")
        dtype = types.pop()
    return None if dtype is None else np.dtype(dtype)


def _stand_in(x):
    """What NumPy's type resolution sees of an operand: a Python scalar itself (NEP 50: its type
    is weak, ``float32_array + 2.0`` stays float32), otherwise an empty array of its dtype."""
    value = primal_value(x)
    if type(value) in (float, int, bool):
        return value
    return np.empty(0, dtype=np.asarray(value).dtype)


def _check_casting(ufunc, inputs, casting, dtype):
    """NumPy's own check of ``casting`` (and ``dtype``): the ufunc called on stand-ins of the
    operands, which raises NumPy's ``UFuncTypeError`` where the plain call would (``casting='no'``
    with a float32 and a float64 operand).  ``ufunc.resolve_dtypes`` would answer without a call
    but crashes the interpreter on a Python float under ``casting='equiv'`` (NumPy 2.4)."""
    keywords = {"casting": casting} if dtype is None else {"casting": casting, "dtype": dtype}
    with np.errstate(all="ignore"):
        ufunc(*map(_stand_in, inputs), **keywords)


def call_inputs(ufunc, inputs, kwargs):
    """The inputs of ``ufunc(*inputs, **kwargs)`` once its keywords are applied."""
    kwargs = dict(kwargs)
    out = kwargs.pop("out", None)
    if out is not None and any(o is not None for o in out):
        raise _refuse(ufunc, "out", _ANY, "it would write into an array in place; traced "
                      "values are immutable: use the returned value instead")
    where = kwargs.pop("where", True)
    if where is not True:
        raise _refuse(ufunc, "where", _ANY, "without out= NumPy leaves the unselected entries "
                      "uninitialised; write np.where(mask, f(x), fallback) instead")
    for name, allowed in _LAYOUT_ONLY.items():
        if name in kwargs and kwargs.pop(name) not in allowed:
            raise ValueError(f"np.{ufunc.__name__}: {name} must be one of {allowed}")
    casting = kwargs.pop("casting", "same_kind")
    dtype = _requested_dtype(ufunc, kwargs)
    if kwargs:
        name = sorted(kwargs)[0]
        raise _refuse(ufunc, name, kwargs[name], "this keyword has no meaning here")
    _check_casting(ufunc, inputs, casting, dtype)
    if dtype is None:
        return inputs
    return tuple(astype(x, dtype, f"np.{ufunc.__name__}") if isinstance(x, Traced) else
                 np.asarray(x).astype(dtype) for x in inputs)


def ufunc_method(ufunc, method, inputs, kwargs):
    """``ufunc.reduce`` / ``ufunc.accumulate`` on a traced value, by the matching reduction."""
    kwargs = dict(kwargs)
    table = {"reduce": _REDUCTIONS, "accumulate": _ACCUMULATIONS}.get(method, {})
    target = table.get(ufunc)
    if target is None or len(inputs) != 1:
        raise unsupported(f"{ufunc.__name__}.{method}")
    axis = kwargs.pop("axis", 0)
    if method == "accumulate":
        return target(inputs[0], axis=axis, **kwargs)
    if target in (max, min) and "dtype" in kwargs:
        if kwargs.pop("dtype") is not None:
            raise _refuse(ufunc, "dtype", _ANY, "cast the input first")
    return target(inputs[0], axis, **kwargs)
