"""What every traced value shares: Python operators and NumPy's protocols.

``Dual`` and ``Var`` subclass :class:`ArrayLike`, so users keep writing NumPy: operators,
``np.sin(x)``, ``np.sum(x, axis=0)``, ``x @ W``, ``x[1:, idx]`` all bind primitives.

Decided once, documented here and in the docs (ForwardDiff changed ``==`` and broke users):

* Comparisons (``<``, ``==``, ...) and ``bool()`` look at primal values only and return plain
  bools / bool arrays; ``__hash__`` is by identity, so traced values work as dict keys.
* ``float(x)``, ``int(x)``, ``np.asarray(x)`` raise ``TypeError``: converting would silently drop
  the derivative (they also serve ``math.exp(x)`` and ``out[0] = x``).  Use
  ``ad.stop_gradient(x)`` (or ``.primal`` / ``.value``) on purpose.
* A *finished* value -- one of a hand-built tape (``loss = model(X)``), outside any transform,
  holding a plain number or array -- answers ``.item()``, ``.tolist()``, ``.numpy()``,
  ``.detach()`` and ``f"{loss:.3f}"`` with plain numbers and arrays, as in PyTorch; a value
  traced by a transform raises ``TypeError`` for them, since its number is only valid inside.
* There are no in-place operations: ``x[i] = v`` raises; ``x += v`` rebinds ``x`` to a new value.
"""

from __future__ import annotations

import numpy as np

from . import numpy_api as api
from .rules import elementwise as ew
from .rules import indexing
from .rules.primitive import Traced, bind, dtype_of, primal_value

__all__ = ["ArrayLike"]


def _is_finished(value) -> bool:
    """A hand-built value outside any transform, holding a plain number or array."""
    return value._level.manual and not isinstance(value._primal_, Traced)


def _conversion_error(kind: str, value) -> TypeError:
    name = type(value).__name__
    if _is_finished(value):
        return TypeError(
            f"{kind} of a traced {name} would silently drop its derivative (the same conversion "
            "serves math.exp(x) and writes into plain arrays). Take its value on purpose: "
            "x.item() for a number, x.numpy() for an array, ad.stop_gradient(x) for a constant."
        )
    return TypeError(
        f"{kind} of a traced {name} would silently drop its derivative. Inside a transform, "
        f"keep computing with NumPy functions on the {name}; to use the number itself on "
        "purpose, take ad.stop_gradient(x) (or x.primal / x.value)."
    )


def _normalize_index(index):
    """Lists in an index become arrays; traced indices are refused (indices are integers)."""
    items = index if isinstance(index, tuple) else (index,)
    out = []
    for item in items:
        if isinstance(item, Traced):
            raise TypeError("an index must be integers, slices or bool masks, not a traced value")
        if isinstance(item, list):
            item = np.asarray(item)
        out.append(item)
    return tuple(out) if isinstance(index, tuple) else out[0]


class ArrayLike(Traced):
    """Operators and NumPy protocols for traced values (``_primal_`` is the wrapped value)."""

    __slots__ = ()
    __array_priority__ = 1000

    # -- shape and dtype, from the primal ----------------------------------------------------
    @property
    def shape(self) -> tuple:
        return np.shape(primal_value(self))

    @property
    def ndim(self) -> int:
        return np.ndim(primal_value(self))

    @property
    def size(self) -> int:
        return int(np.size(primal_value(self)))

    @property
    def dtype(self):
        return dtype_of(self)

    def __len__(self) -> int:
        shape = self.shape
        if not shape:
            raise TypeError("len() of a 0-d traced value")
        return shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # -- arithmetic ----------------------------------------------------------------------------
    # Elementwise primitives go through these two hooks; Dual and Var override them with a
    # fast path for Python-float values that evaluates the same table entry.
    @staticmethod
    def _apply_unary(prim, x):
        return bind(prim, x)

    @staticmethod
    def _apply_binary(prim, a, b):
        return bind(prim, a, b)

    def __add__(self, other):
        return self._apply_binary(ew.add, self, other)

    def __radd__(self, other):
        return self._apply_binary(ew.add, other, self)

    def __sub__(self, other):
        return self._apply_binary(ew.subtract, self, other)

    def __rsub__(self, other):
        return self._apply_binary(ew.subtract, other, self)

    def __mul__(self, other):
        return self._apply_binary(ew.multiply, self, other)

    def __rmul__(self, other):
        return self._apply_binary(ew.multiply, other, self)

    def __truediv__(self, other):
        return self._apply_binary(ew.divide, self, other)

    def __rtruediv__(self, other):
        return self._apply_binary(ew.divide, other, self)

    def __pow__(self, other):
        return self._apply_binary(ew.power, self, other)

    def __rpow__(self, other):
        return self._apply_binary(ew.power, other, self)

    def __matmul__(self, other):
        return api.matmul(self, other)

    def __rmatmul__(self, other):
        return api.matmul(other, self)

    def __neg__(self):
        return self._apply_unary(ew.negative, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return ew.absolute(self)

    # -- comparisons: on primals ---------------------------------------------------------------
    def __lt__(self, other):
        return primal_value(self) < primal_value(other)

    def __le__(self, other):
        return primal_value(self) <= primal_value(other)

    def __gt__(self, other):
        return primal_value(self) > primal_value(other)

    def __ge__(self, other):
        return primal_value(self) >= primal_value(other)

    def __eq__(self, other):
        return primal_value(self) == primal_value(other)

    def __ne__(self, other):
        return primal_value(self) != primal_value(other)

    __hash__ = object.__hash__

    def __bool__(self):
        return bool(primal_value(self))

    # -- conversions that would drop the derivative ------------------------------------------
    def __float__(self):
        raise _conversion_error("float()", self)

    def __int__(self):
        raise _conversion_error("int()", self)

    def _finished_value(self, kind: str):
        """The plain value of a finished value; ``TypeError`` for a value traced by a transform."""
        if _is_finished(self):
            return self._primal_
        if not self._level.active:
            raise self._level.escaped(type(self).__name__)
        name = type(self).__name__
        raise TypeError(
            f"{kind} of a {name} inside a transform would drop its derivative: the number is "
            f"only valid inside this call. Keep computing with NumPy functions on the {name}; "
            "return what you want to see (has_aux=True returns extra values), or take "
            "ad.stop_gradient(x) to use it as a constant on purpose."
        )

    def item(self):
        """The value as a Python number (a size-1 value of a finished tape), as in PyTorch."""
        value = self._finished_value(".item()")
        return value.item() if isinstance(value, (np.ndarray, np.generic)) else value

    def tolist(self):
        """The value as (nested lists of) Python numbers, for a finished value."""
        value = self._finished_value(".tolist()")
        return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value

    def numpy(self) -> np.ndarray:
        """The value as an ndarray (read-only while a tape holds it), for a finished value."""
        return np.asarray(self._finished_value(".numpy()"))

    def detach(self):
        """The plain value without its derivative (a float or an ndarray), for a finished value."""
        return self._finished_value(".detach()")

    def __format__(self, spec: str) -> str:
        """``f"{loss:.3f}"`` formats the number of a finished value; ``f"{x}"`` is ``str(x)``."""
        if not spec:
            return str(self)
        return format(self._finished_value(f"formatting with {spec!r}"), spec)

    def __complex__(self):
        raise _conversion_error("complex()", self)

    def __index__(self):
        raise _conversion_error("using as an index", self)

    def __array__(self, dtype=None, copy=None):
        raise _conversion_error("np.asarray()/np.array()", self)

    # -- indexing --------------------------------------------------------------------------------
    def __getitem__(self, index):
        return indexing.getitem(self, index=_normalize_index(index))

    def __setitem__(self, index, value):
        raise TypeError(
            f"traced {type(self).__name__} values are immutable: x[i] = v would be an in-place "
            "write the derivative cannot see. Build the new array with np.where(mask, v, x), "
            "ad.stack/ad.array, or np.concatenate."
        )

    # -- ndarray-style methods -----------------------------------------------------------------
    @property
    def T(self):
        return api.transpose(self)

    def reshape(self, *shape, order="C"):
        shape = shape[0] if len(shape) == 1 and np.ndim(shape[0]) else shape
        return api.reshape(self, shape, order)

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 and np.ndim(axes[0]) else (axes or None)
        return api.transpose(self, axes)

    def ravel(self):
        return api.ravel(self)

    flatten = ravel

    def squeeze(self, axis=None):
        return api.squeeze(self, axis)

    def sum(self, axis=None, keepdims=False):
        return api.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return api.mean(self, axis, keepdims)

    def prod(self, axis=None, keepdims=False):
        return api.prod(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return api.max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return api.min(self, axis, keepdims)

    def cumsum(self, axis=None):
        return api.cumsum(self, axis)

    def dot(self, other):
        return api.dot(self, other)

    def clip(self, a_min=None, a_max=None):
        return api.clip(self, a_min, a_max)

    # -- NumPy protocols -----------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if kwargs.get("out") is not None:
            raise TypeError(
                f"np.{ufunc.__name__}(..., out=...) would write into an array in place; traced "
                "values are immutable: use the returned value instead"
            )
        if ufunc in api.PRIMAL_UFUNCS and method == "__call__":
            return api.call_on_primals(getattr(ufunc, method), inputs, kwargs)
        if method == "reduce" and ufunc in (np.add, np.maximum, np.minimum, np.multiply):
            reduce = {np.add: api.sum, np.maximum: api.max, np.minimum: api.min,
                      np.multiply: api.prod}[ufunc]
            return reduce(inputs[0], kwargs.get("axis", 0), kwargs.get("keepdims", False))
        rule = api.UFUNCS.get(ufunc)
        if rule is None or method != "__call__":
            name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
            raise api.unsupported(name)
        unsupported_kwargs = {k for k, v in kwargs.items() if v is not None and k != "casting"}
        if unsupported_kwargs:
            raise TypeError(
                f"np.{ufunc.__name__}: arguments {sorted(unsupported_kwargs)} are not supported "
                "on traced values"
            )
        if isinstance(rule, ew.Elementwise):
            if len(inputs) == 1:
                return self._apply_unary(rule, inputs[0])
            if len(inputs) == 2:
                return self._apply_binary(rule, inputs[0], inputs[1])
        return rule(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        rule = api.FUNCTIONS.get(func)
        if rule is not None:
            return rule(*args, **kwargs)
        if func in api.PRIMAL_FUNCTIONS:
            return api.call_on_primals(func, args, kwargs)
        raise api.unsupported(func.__name__)
