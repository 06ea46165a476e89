"""New arrays from traced ones: ``np.zeros_like(x)``, ``np.full_like(x, t)``, ``np.copy(x)``.

Each gives a traced array of ``x``'s level that takes traced writes (``y = np.zeros_like(x);
y[1:] = x[:-1]``), with NumPy's value, shape and dtype.  ``np.full_like(x, t)`` keeps the
derivative of a traced fill value.  An integer or bool ``dtype`` cannot carry a derivative: the
result is then NumPy's own plain array.
"""

from __future__ import annotations

import numpy as np

from ..rules import building as rules_building
from ..rules import indexing
from . import writing
from .selection import where as where_
from ..rules.primitive import Case, Traced, call_with, implements, on_data, primal_value, shape_of

__all__ = ["zeros_like", "ones_like", "empty_like", "full_like", "copy", "copyto"]


def _check_layout(name, order, subok, shape, device):
    """``order`` and ``subok`` change no value (honoured as no-ops); a new shape is refused."""
    if order not in ("K", "A", "C", "F"):
        raise ValueError(f"{name}: order must be one of 'C', 'F', 'A' or 'K', not {order!r}")
    if device not in (None, "cpu"):
        raise TypeError(f"np.{name}(device={device!r}) is not supported on traced values")
    if shape is not None:
        wanted = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
        raise TypeError(
            f"np.{name}(x, shape={wanted}) of a traced x is not supported: the new array would "
            "not be x's shape; use np.zeros(shape) for a constant and write traced values into "
            "np.zeros_like of a traced array of that shape"
        )


def _filled(name, a, fill, dtype, order, subok, shape, device):
    _check_layout(name, order, subok, shape, device)
    if dtype is not None and not np.issubdtype(np.dtype(dtype), np.floating):
        return np.full_like(primal_value(a), fill, dtype=dtype)
    return rules_building.filled_like(a, fill=fill, dtype=dtype)


_LIKE_CASES = (Case("matrix", ((3, 4),), call_with()),)


@implements(np.zeros_like, cases=_LIKE_CASES)
def zeros_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return _filled("zeros_like", a, 0, dtype, order, subok, shape, device)


@implements(np.ones_like, cases=_LIKE_CASES)
def ones_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return _filled("ones_like", a, 1, dtype, order, subok, shape, device)


@implements(np.empty_like)  # no value to compare: NumPy's are unspecified
def empty_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    """Zeros: NumPy leaves the values unspecified, and zeros are one choice of them."""
    return _filled("empty_like", a, 0, dtype, order, subok, shape, device)


@implements(np.full_like, cases=(
    # x + 0 t: a traced array whenever t is traced (a plain one cannot hold t's derivative)
    Case("traced-fill", ((3, 4), ()), lambda fn, x, t: fn(x + 0.0 * t, t)),
    Case("constant-fill", ((3, 4),), lambda fn, x: fn(x, 2.5)),
))
def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    """``x``'s shape filled with ``fill_value``; a traced fill keeps its derivative."""
    if not isinstance(fill_value, Traced):
        return _filled("full_like", a, fill_value, dtype, order, subok, shape, device)
    filled = _filled("full_like", a, 0, dtype, order, subok, shape, device)
    if not isinstance(filled, Traced):  # an integer dtype: no derivative to keep
        return on_data(np.full_like, filled, fill_value)  # (under ad.jit: a recorded step)
    return indexing.index_update(filled, fill_value, index=Ellipsis)


@implements(np.copyto)
def copyto(dst, src, casting="same_kind", where=True):
    """``np.copyto(dst, src)`` into a traced ``dst`` is a write (``dst[...] = src``).

    A plain ``dst`` cannot hold a derivative; NumPy's own ``np.full_like(plain, t)`` comes
    here too, so the error names the spellings that work.
    """
    if not isinstance(dst, Traced):
        raise TypeError(
            "np.copyto would write traced values into a plain NumPy array, which cannot hold "
            "derivatives (np.full_like(a, t) of a plain a does this): start from a traced "
            "array, np.full_like(x, t) or np.zeros_like(x) of a traced x, or write "
            "np.zeros(shape) + t"
        )
    if not np.can_cast(np.result_type(primal_value(src)), dst.dtype, casting=casting):
        raise TypeError(f"Cannot cast array data from {np.result_type(primal_value(src))} to "
                        f"{dst.dtype} according to the rule {casting!r}")
    if where is not True:
        src = where_(indexing.bool_mask(where, shape_of(dst)), src, dst)
    writing.write(dst, Ellipsis, src)


@implements(np.copy, cases=(Case("matrix", ((3, 4),), call_with()),))
def copy(a, order="K", subok=False):
    _check_layout("copy", order, subok, None, None)
    return rules_building.copy(a)
