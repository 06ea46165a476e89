"""What every traced value shares: Python operators and NumPy's protocols.

``Dual`` and ``Var`` subclass :class:`ArrayLike`, so users keep writing NumPy: operators,
``np.sin(x)``, ``np.sum(x, axis=0)``, ``x @ W``, ``x[1:, idx]`` all bind primitives.

Decided once, documented here and in the docs (ForwardDiff changed ``==`` and broke users):

* Comparisons (``<``, ``==``, ...) and ``bool()`` look at primal values only and return plain
  bools / bool arrays; ``__hash__`` is by identity, so traced values work as dict keys.
* ``float(x)`` and ``int(x)`` raise ``TypeError``: converting would silently drop the derivative
  (they also serve ``math.exp(x)`` and ``out[0] = x`` on a plain array, where NumPy reports a
  ``ValueError`` caused by it).  Use ``ad.stop_gradient(x)`` (or ``.primal`` / ``.value``) on
  purpose.  ``np.array([t1, t2])`` builds an object array (traced values offer no ``__array__``)
  that the first operation, or the transform's return, lifts into one traced array.
* A *finished* value -- one of a hand-built tape (``loss = model(X)``), outside any transform,
  holding a plain number or array -- answers ``.item()``, ``.tolist()``, ``.numpy()``,
  ``.detach()`` and ``f"{loss:.3f}"`` with plain numbers and arrays, as in PyTorch; a value
  traced by a transform raises ``TypeError`` for them, since its number is only valid inside.
* Writes follow NumPy (:mod:`autodiff.numpy_api.writing`): ``y[i] = v`` and ``y += t`` give
  ``y`` a new version whose derivative flows through the written values; views (basic indexing,
  ``.T``, reshapes) share writes with their base.
"""

from __future__ import annotations

import numpy as np

from . import numpy_api as api
from .rules import elementwise as ew
from .numpy_api import arithmetic, ufuncs, writing
from .rules import arithmetic as rules_arithmetic
from .rules import building, indexing
from .rules.primitive import (
    Traced,
    bind,
    data_value,
    dtype_of,
    index_operand,
    ndim_of,
    primal_value,
    shape_of,
)

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
            "x.item() for a number, x.numpy() for an array, ad.stop_gradient(x) for a constant. "
            + _WRITE_HINT
        )
    return TypeError(
        f"{kind} of a traced {name} would silently drop its derivative. Inside a transform, "
        f"keep computing with NumPy functions on the {name}; to use the number itself on "
        "purpose, take ad.stop_gradient(x) (or x.primal / x.value). " + _WRITE_HINT
    )


# NumPy converts with float() when a traced value is written into a float array
_WRITE_HINT = (
    "If this came from writing into a plain NumPy array (out = np.zeros(3); out[0] = t, or "
    "np.fill_diagonal(out, t)) or from np.array([...], dtype=float): start from "
    "out = np.zeros_like(x) of a traced x (it takes "
    "traced writes), or build the array with np.array([...]) without dtype. np.mean([a, b]) of "
    "traced scalars converts its result this way too: write np.mean(np.stack([a, b]))."
)


def _normalize_index(index):
    """Lists in an index become arrays; traced indices are refused (indices are integers);
    values of an ``ad.jit`` recording stay recorded or are guarded (``index_operand``)."""
    if type(index) is int or type(index) is slice:
        return index
    items = index if isinstance(index, tuple) else (index,)
    out = []
    for item in items:
        if isinstance(item, Traced):
            if item._staged:  # an index computed under ad.jit's recording: a slot or a guard
                item = index_operand(item)
            else:
                raise TypeError(
                    "an index must be integers, slices or bool masks, not a traced value")
        if isinstance(item, list):
            item = np.asarray(item)
        out.append(item)
    return tuple(out) if isinstance(index, tuple) else out[0]


class ArrayLike(Traced):
    """Operators and NumPy protocols for traced values (``_primal_`` is the wrapped value)."""

    # written values and views (numpy_api.writing): the version a write replaced, the base a
    # view shares memory with, weak references to a base's views
    __slots__ = ("__weakref__", "_earlier", "_link", "_views")
    __array_priority__ = 1000

    # -- shape and dtype, from the primal ----------------------------------------------------
    @property
    def shape(self) -> tuple:
        return shape_of(self)

    @property
    def ndim(self) -> int:
        return ndim_of(self)

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

    def __mod__(self, other):
        return self._apply_binary(rules_arithmetic.mod, self, other)

    def __rmod__(self, other):
        return self._apply_binary(rules_arithmetic.mod, other, self)

    def __floordiv__(self, other):
        return self._apply_binary(rules_arithmetic.floor_divide, self, other)

    def __rfloordiv__(self, other):
        return self._apply_binary(rules_arithmetic.floor_divide, other, self)

    def __divmod__(self, other):
        return arithmetic.divmod_(self, other)

    def __rdivmod__(self, other):
        return arithmetic.divmod_(other, self)

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
        return data_value(self) < data_value(other)

    def __le__(self, other):
        return data_value(self) <= data_value(other)

    def __gt__(self, other):
        return data_value(self) > data_value(other)

    def __ge__(self, other):
        return data_value(self) >= data_value(other)

    def __eq__(self, other):
        return data_value(self) == data_value(other)

    def __ne__(self, other):
        return data_value(self) != data_value(other)

    __hash__ = object.__hash__

    def __bool__(self):
        return bool(data_value(self))

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

    # -- indexing --------------------------------------------------------------------------------
    def __getitem__(self, index):
        index = _normalize_index(index)
        return writing.view_of_index(self, index, indexing.getitem(self, index=index))

    def __setitem__(self, index, value):
        writing.write(self, _normalize_index(index), value)

    # ``y += t`` writes into y (its views see it, as in NumPy); a 0-d value is a number and
    # rebinds instead, and so does an input of a transform (its caller's array is not ours).
    def _in_place(self, result):
        if self.ndim == 0 or getattr(self, "_node", False) is None:
            return result
        return writing.update_in_place(self, result)

    def __iadd__(self, other):
        return self._in_place(self + other)

    def __isub__(self, other):
        return self._in_place(self - other)

    def __imul__(self, other):
        return self._in_place(self * other)

    def __itruediv__(self, other):
        return self._in_place(self / other)

    def __ipow__(self, other):
        return self._in_place(self**other)

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

    def ravel(self, order="C"):
        return api.ravel(self, order)

    def flatten(self, order="C"):
        """A flat copy (``order='C'`` rows first, ``'F'`` columns first)."""
        if order == "F":
            return building.copy(api.ravel(api.transpose(self)))
        if order != "C":
            raise TypeError(f"flatten(order={order!r}) of a traced value: use 'C' or 'F'")
        return building.copy(api.ravel(self))

    def copy(self, order="C"):
        """A new array with this value (``x.copy()``): writes into it leave ``x`` alone.

        ``order`` is the memory layout of the copy: it changes no value."""
        if order not in ("C", "F", "A", "K"):
            raise ValueError(f"copy: order must be one of 'C', 'F', 'A', 'K', not {order!r}")
        return building.copy(self)

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        """The value cast to a floating ``dtype`` (float32 <-> float64); the derivative is cast
        alike.  Integer, bool and complex dtypes are refused (``TypeError``): they carry no
        derivative.  ``order``, ``subok`` and ``copy`` change no value."""
        if not np.can_cast(self.dtype, dtype, casting=casting):
            raise TypeError(f"Cannot cast from {self.dtype} to {np.dtype(dtype)} "
                            f"according to the rule {casting!r}")
        return arithmetic.astype(self, dtype, "astype")

    def squeeze(self, axis=None):
        return api.squeeze(self, axis)

    # the reductions take NumPy's ndarray signatures: (axis, dtype, out, keepdims, initial, where)
    def sum(self, *args, **kwargs):
        return api.sum(self, *args, **kwargs)

    def mean(self, *args, **kwargs):
        return api.mean(self, *args, **kwargs)

    def var(self, *args, **kwargs):
        """``ndarray.var``: NumPy's ``np.var`` signature (axis, dtype, out, ddof, keepdims, ...)."""
        return api.var(self, *args, **kwargs)

    def std(self, *args, **kwargs):
        """``ndarray.std``: NumPy's ``np.std`` signature."""
        return api.std(self, *args, **kwargs)

    def prod(self, *args, **kwargs):
        return api.prod(self, *args, **kwargs)

    def max(self, *args, **kwargs):
        return api.max(self, *args, **kwargs)

    def min(self, *args, **kwargs):
        return api.min(self, *args, **kwargs)

    def cumsum(self, *args, **kwargs):
        return api.cumsum(self, *args, **kwargs)

    def cumprod(self, *args, **kwargs):
        return arithmetic.cumprod(self, *args, **kwargs)

    def dot(self, other, out=None):
        if out is not None:
            raise TypeError("dot(out=...) would write in place; use the returned value")
        return api.dot(self, other)

    def clip(self, min=None, max=None, out=None, **kwargs):  # noqa: A002 - NumPy's names
        if out is not None:
            kwargs["out"] = out
        return api.clip(self, min, max, **kwargs)

    # integer-valued: on primal values
    def argmax(self, *args, **kwargs):
        return np.argmax(data_value(self), *args, **kwargs)

    def argmin(self, *args, **kwargs):
        return np.argmin(data_value(self), *args, **kwargs)

    def argsort(self, *args, **kwargs):
        return np.argsort(data_value(self), *args, **kwargs)

    def nonzero(self):
        return np.nonzero(data_value(self))

    # -- NumPy protocols -----------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc in api.PRIMAL_UFUNCS and method == "__call__":
            if any(isinstance(o, Traced) for o in kwargs.get("out") or ()):
                raise TypeError(
                    f"np.{ufunc.__name__}(..., out=<traced value>): a traced value cannot be "
                    "written in place; use the returned value"
                )
            return api.call_on_primals(getattr(ufunc, method), inputs, kwargs)
        if method in ("reduce", "accumulate"):
            return ufuncs.ufunc_method(ufunc, method, inputs, kwargs)
        if method == "at":  # np.add.at(a, indices, b): an in-place write into a
            return api.ordering.ufunc_at(ufunc, *inputs)
        rule = api.UFUNCS.get(ufunc)
        if rule is None or method != "__call__":
            name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
            raise api.unsupported(name)
        if kwargs:  # out=, where=, dtype=, casting=, order=, subok=: honoured or refused
            inputs = ufuncs.call_inputs(ufunc, inputs, kwargs)
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


def _ufunc_method(ufunc):
    def method(self, *others):
        return ufunc(self, *others)

    method.__name__ = method.__qualname__ = ufunc.__name__
    method.__doc__ = (
        f"``np.{ufunc.__name__}(self, ...)``: NumPy's object loops call it on each entry of an "
        "object array (``np.array([t1, t2])`` before it meets a traced value)."
    )
    return method


# ``np.sin`` of an object array calls ``entry.sin()``; every NumPy ufunc gets its method (as
# methods, not a __getattr__ hook: that would slow every attribute access of traced values).
for _ufunc in {u for u in vars(np).values() if isinstance(u, np.ufunc)}:
    if not hasattr(ArrayLike, _ufunc.__name__):
        setattr(ArrayLike, _ufunc.__name__, _ufunc_method(_ufunc))
del _ufunc
