"""How NumPy's protocols reach the rule table: refusals, and functions run on primal values.

Three outcomes, kept apart (three kinds of "no derivative"):

* a differentiable function: a primitive or an entry point written with primitives (the
  tables ``UFUNCS`` / ``FUNCTIONS`` of :mod:`autodiff.rules.primitive`, filled by the
  declarations);
* an integer- or bool-valued function (comparisons, ``argmax``, ``shape``, ...): it runs on the
  primal values and its result is a plain array (declared here with ``on_primals``);
* anything else: ``TypeError`` naming the function, never a silently dropped derivative.
"""

from __future__ import annotations

import numpy as np

from ..rules.primitive import data_value, on_primals


def unsupported(name: str) -> TypeError:
    return TypeError(
        f"autodiff has no derivative rule for NumPy's {name!r}, so it cannot be applied to a "
        "traced value (Dual/Var) without silently losing the derivative. Write it with "
        "supported operations, apply it to ad.stop_gradient(x) if you want it treated as a "
        "constant, or declare it as a primitive with autodiff.custom.primitive."
    )


def refuse_keywords(function: str, **keywords) -> None:
    """``TypeError`` naming the first keyword given something other than its default.

    ``refuse_keywords("einsum", out=(out, None), order=(order, "K"))``: each keyword maps to
    ``(value, default)``; a keyword left at its default passes.
    """
    for name, (value, default) in keywords.items():
        if value is not default and not (isinstance(value, str) and value == default):
            raise TypeError(
                f"np.{function}({name}={value!r}) is not supported on traced values; "
                f"leave {name} at its default ({default!r})"
            )


def _primal_args(args, kwargs):
    return (
        [_deep_primal(a) for a in args],
        {k: _deep_primal(v) for k, v in kwargs.items()},
    )


def _deep_primal(value):
    if isinstance(value, (list, tuple)):
        return type(value)(_deep_primal(v) for v in value)
    return data_value(value)  # a compiled-replay recording's value records the call


def call_on_primals(func, args, kwargs):
    """Run an integer/bool-valued function on the primal values."""
    args, kwargs = _primal_args(args, kwargs)
    return func(*args, **kwargs)


on_primals(
    np.greater,
    np.greater_equal,
    np.less,
    np.less_equal,
    np.equal,
    np.not_equal,
    np.isfinite,
    np.isinf,
    np.isnan,
    np.signbit,
    np.logical_and,
    np.logical_or,
    np.logical_not,
    np.logical_xor,
)
on_primals(
    np.shape,
    np.ndim,
    np.size,
    np.argmax,
    np.argmin,
    np.argsort,
    np.argwhere,
    np.nonzero,
    np.flatnonzero,
    np.count_nonzero,
    np.all,
    np.any,
    np.isclose,
    np.allclose,
    np.array_equal,
    np.searchsorted,
    np.result_type,
    np.iscomplexobj,
    np.isrealobj,
)
