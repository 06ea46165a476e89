"""NumPy's selection functions on traced values: ``where``, ``clip``, ``round``; constants."""

from __future__ import annotations

import numpy as np

from ..rules import elementwise as ew
from ..rules import indexing as rules_indexing
from ..rules.primitive import Case, data_value, implements, on_data


@implements(np.where, cases=(
    Case("same-shape", ((3, 4), (3, 4)), lambda fn, a, b: fn(a > b, a, b)),
    Case("guard", ((3, 4),), lambda fn, x: fn(x > 0, np.sqrt(fn(x > 0, x, 1.0)), 0.0)),
))
def where(condition, x=None, y=None):
    """Select ``x`` where ``condition`` holds, else ``y`` (derivatives select the same way).

    The condition is evaluated on primal values.  A nan/inf *derivative* in the branch not
    taken does not leak through ``where`` itself, but the branch is still evaluated: guard its
    input too (``np.where(x > 0, np.sqrt(np.where(x > 0, x, 1)), 0)``), as in every AD system.
    """
    if x is None and y is None:
        return on_data(np.where, condition)
    # on the primal values (a recorded step under ad.jit: a replay recomputes the mask)
    condition = on_data(np.asarray, condition, dtype=bool)
    return rules_indexing.where(condition, x, y)


@implements(np.clip, cases=(Case("inside", ((3, 4),), lambda fn, x: fn(x, -0.5, 0.5), "separated"),))
def clip(x, a_min=None, a_max=None, **kwargs):
    """Clip to ``[a_min, a_max]``: derivative 1 on the closed interval, 0 outside."""
    if kwargs:
        raise TypeError(f"clip: unsupported arguments {sorted(kwargs)} for traced values")
    lo = -np.inf if a_min is None else a_min
    hi = np.inf if a_max is None else a_max
    return ew.clip(x, lo, hi)


@implements(np.round, np.around)
def round(x, decimals=0):  # noqa: A001
    """Rounding is piecewise constant: its derivative is zero, so the result is a constant."""
    if decimals == 0:
        return ew.rint(x)
    return np.round(data_value(x), decimals)  # under ad.jit: a recorded step


def stop_gradient(x):
    """``x`` as a constant: every level is peeled off, so no transform sees a derivative.

    Under ``ad.jit`` the peeling stops at the recording's value (beneath every transform), so
    the constant is a recorded value that a replay computes anew, not the recorded array.
    """
    return data_value(x)


@implements(np.positive)
def positive(x):
    return x
