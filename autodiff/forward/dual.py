"""Dual numbers: forward mode.

A :class:`Dual` is ``primal + tangent * eps`` with ``eps**2 = 0`` (Baydin et al., "Automatic
differentiation in machine learning: a survey", JMLR 2018, sec. 3.1.1): pushing it
through ``f`` gives ``f(x) + f'(x) tangent * eps``, so one pass computes a directional
derivative ``J v``.  With ``batched=True`` the tangent carries ``k`` directions on a leading axis
(``tangents.shape == (k,) + primal.shape``) and one pass computes ``J V`` for a ``k``-column ``V``.

Each ``Dual`` belongs to a :class:`JvpLevel`; nesting levels gives higher derivatives, and values
of different levels never mix (see :mod:`autodiff.levels`).
"""

from __future__ import annotations

import numpy as np

from ..levels import Level, manual_level
from ..rules.elementwise import chain_product
from ..rules.primitive import RECORDING, Traced, bind, shape_of
from ..tracer import ArrayLike
from ..values import as_float_value

__all__ = ["Dual", "JvpLevel"]


class JvpLevel(Level):
    """Forward-mode interpretation: primal by the levels below, tangent by the JVP rule."""

    kind = "forward"
    __slots__ = ()

    def process(self, prim, args, params):
        if not self.active:
            raise self.escaped("Dual")
        primals = []
        tangents = []
        n_batch = None
        # every primal a number or a real array (no level, no object array to lift, nothing
        # complex): bind would call impl with them, so it is called directly
        plain = not RECORDING[0]
        for arg in args:
            if type(arg) is Dual and arg._level is self:
                primal = arg._primal_
                tangents.append(arg.tangent)
                if n_batch != arg._n_batch:
                    if n_batch is not None:
                        raise _mixed_batch_error(prim)
                    n_batch = arg._n_batch
            else:
                primal = arg
                tangents.append(None)
            primals.append(primal)
            if plain and type(primal) not in _NUMBER and not (
                type(primal) is np.ndarray and primal.dtype.kind in "fiub"
            ):
                plain = False
        if params:
            out = prim.impl(*primals, **params) if plain else bind(prim, *primals, **params)
        else:  # elementwise primitives: no keywords to pass on
            out = prim.impl(*primals) if plain else bind(prim, *primals)
        jvp = prim.jvp
        if jvp is None:
            raise TypeError(f"primitive {prim.name!r} has no forward-mode (JVP) rule")
        tangent = jvp(primals, tangents, out, **params) if params else jvp(primals, tangents, out)
        if tangent is None:
            return out
        dual = _new_object(Dual)  # Dual._make, inlined
        dual._primal_ = out
        dual.tangent = tangent
        dual._n_batch = n_batch
        dual._level = self
        return dual


_new_object = object.__new__
_NUMBER = (float, int)


def _scalar_binary(prim, a, b):
    """``prim(a, b)`` on float Duals of one active level; anything else goes through ``bind``.

    The type checks are spelled out inline: this is the per-operation hot path.
    """
    if type(a) is Dual:
        level = a._level
        pa, ta = a._primal_, a.tangent
        if type(b) is Dual:
            if b._level is not level:
                return bind(prim, a, b)
            pb, tb = b._primal_, b.tangent
            if type(tb) is not float:
                return bind(prim, a, b)
        elif type(b) in _NUMBER:
            pb, tb = b, None
        else:
            return bind(prim, a, b)
        if type(ta) is not float:
            return bind(prim, a, b)
    else:
        level = b._level
        if type(a) not in _NUMBER:
            return bind(prim, a, b)
        pa, ta = a, None
        pb, tb = b._primal_, b.tangent
        if type(tb) is not float:
            return bind(prim, a, b)
    if type(pa) is not float and type(pb) is not float or not level.active:
        return bind(prim, a, b)
    out = prim.impl(pa, pb)
    if type(out) is not float:
        return bind(prim, a, b)
    partials = prim.partials
    if ta is None:
        tangent = chain_product(partials[1](pa, pb, out), tb)
    elif tb is None:
        tangent = chain_product(partials[0](pa, pb, out), ta)
    else:
        tangent = (chain_product(partials[0](pa, pb, out), ta)
                   + chain_product(partials[1](pa, pb, out), tb))
    if type(tangent) is not float:
        return bind(prim, a, b)
    dual = _new_object(Dual)  # Dual._make, inlined on the hot path
    dual._primal_ = out
    dual.tangent = tangent
    dual._n_batch = 0
    dual._level = level
    return dual


def _scalar_unary(prim, x):
    """``prim(x)`` for a float Dual ``x`` (the operand is always this Dual); else ``bind``."""
    p, t = x._primal_, x.tangent
    if type(p) is not float or type(t) is not float or not x._level.active:
        return bind(prim, x)
    out = prim.impl(p)
    if type(out) is not float:
        return bind(prim, x)
    if not prim.partials:
        return out
    tangent = chain_product(prim.partials[0](p, out), t)
    if type(tangent) is not float:
        return bind(prim, x)
    return Dual._make(out, tangent, x._level, 0)


def _mixed_batch_error(prim) -> ValueError:
    return ValueError(
        f"{prim.name}: cannot combine a batched Dual with an unbatched one of the same level; "
        "give every input the same number of directions"
    )


class Dual(ArrayLike):
    """``primal + tangent * eps``: a value with its directional derivative(s).

    Parameters
    ----------
    primal:
        A float or a floating NumPy array (float32 stays float32).
    tangent:
        Same shape as ``primal`` (default: zeros), cast to the primal's dtype; with
        ``batched=True`` shape ``(k,) + primal.shape``: ``k`` directions at once.
    batched:
        Whether the tangent's leading axis holds several directions.  Never guessed: a tangent
        whose shape only fits as a batch raises ``ValueError`` asking for ``batched=True``.

    Example
    -------
    >>> import numpy as np, autodiff as ad
    >>> x = ad.Dual(2.0, 1.0)
    >>> y = np.log(x) + x * 5.0 - np.sin(5.0)
    >>> y.tangent
    5.5
    """

    __slots__ = ("_primal_", "tangent", "_n_batch")

    def __init__(self, primal, tangent=None, batched: bool = False):
        primal = as_float_value(primal, "Dual primal")
        shape = np.shape(primal)
        dtype = np.result_type(primal)
        if tangent is None:
            if batched:
                raise ValueError("Dual(..., batched=True) needs the tangents (k,) + shape")
            tangent = 0.0 if isinstance(primal, float) else np.zeros(shape, dtype)
        elif not isinstance(tangent, Traced):
            tangent = as_float_value(tangent, "Dual tangent", dtype)
        t_shape = shape_of(tangent)
        if batched:
            if t_shape[1:] != shape or len(t_shape) != len(shape) + 1:
                raise ValueError(
                    f"batched tangents must have shape (k,) + primal.shape = (k,) + {shape}, "
                    f"got {t_shape}"
                )
        elif t_shape != shape:
            hint = (
                "; it fits as k directions: pass batched=True"
                if t_shape[1:] == shape and len(t_shape) == len(shape) + 1
                else ""
            )
            raise ValueError(
                f"tangent shape {t_shape} does not match primal shape {shape}{hint}"
            )
        self._primal_ = primal
        self.tangent = tangent
        self._n_batch = 1 if batched else 0
        self._level = manual_level(JvpLevel)

    @classmethod
    def _make(cls, primal, tangent, level, n_batch):
        dual = object.__new__(cls)
        dual._primal_ = primal
        dual.tangent = tangent
        dual._n_batch = n_batch
        dual._level = level
        return dual

    @property
    def primal(self):
        return self._primal_

    @property
    def batched(self) -> bool:
        return bool(self._n_batch)

    # operators and elementwise ufuncs on float Duals take the scalar fast path
    @staticmethod
    def _apply_unary(prim, x):
        return _scalar_unary(prim, x)

    @staticmethod
    def _apply_binary(prim, a, b):
        return _scalar_binary(prim, a, b)

    def __repr__(self) -> str:
        batched = ", batched=True" if self._n_batch else ""
        return f"Dual({self._primal_!r}, {self.tangent!r}{batched})"
