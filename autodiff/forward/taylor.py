"""Taylor mode: truncated Taylor polynomials pushed through the primitives.

(The series algebra and every primitive's Taylor rule are in :mod:`autodiff.rules.series`.)

A :class:`Taylor` value stands for the polynomial ``x(t) = x_0 + x_1 t + ... + x_K t^K`` truncated
at order ``K``; its ``coefficients`` array has a leading *order axis*: shape ``(K + 1,) + shape``.
Applying ``f`` gives the coefficients of ``f(x(t))``, and for ``x(t) = x + t`` these are
``y_k = f^(k)(x) / k!``.  Every primitive declares how its output coefficients follow from its
inputs' (the ``taylor`` slot of the rule table); the recurrences are the standard ones of
Griewank & Walther, *Evaluating Derivatives*, ch. 13, each ``O(K^2)`` per operation, against the
``O(2^K)`` of ``K`` nested dual numbers.

Notation: ``x' = sum_k k x_k t^(k-1)`` is the derivative series, ``[a b]_k = sum_j a_j b_(k-j)``
the Cauchy product.  Three patterns cover the table:

* **Linear or locally linear** primitives (``add``, ``reshape``, ``sum``, ``getitem``, ``where``,
  ``maximum``, ``abs``, ...): every coefficient goes through the first-order rule, because
  ``L(sum_k c_k t^k) = sum_k L(c_k) t^k``.  The JVP rule is reused with the order axis as its
  batch axis.
* **Products and quotients**: ``[a b]_k`` directly; ``c = a / b`` from ``b c = a``:
  ``c_k = (a_k - sum_(j>=1) b_j c_(k-j)) / b_0``.
* **Functions with a first-order ODE**: ``y' = g x'`` gives ``y_k = (1/k) [x' g]_(k-1)``.  Where
  ``g`` depends on ``y`` (``exp``: g = y; ``tan``: g = 1 + y^2; ``sin``/``cos`` together) the
  coefficients come one order at a time; where ``g`` depends on ``x`` only (``arctan``:
  g = 1/(1 + x^2); ``arcsin``: g = (1 - x^2)^(-1/2); ``erf``; ...) ``y`` is the integral of the
  series ``x' g``.  ``x^r`` (constant r) solves ``x y' = r x' y``:
  ``y_k = sum_(j=1..k) ((r + 1) j - k) x_j y_(k-j) / (k x_0)``.
* **Everything else** (the special functions, the decompositions): ``y' = J(x(t)) x'(t)`` with
  the primitive's own JVP evaluated in Taylor mode one order lower, and integrated
  (``series.FROM_JVP``; a JVP that reads ``y`` is iterated to a fixed point).

Rules are written with primitives, so Taylor values nest with every other transform (a gradient
of a Taylor coefficient, Taylor mode inside ``jacfwd``, Taylor over Taylor).  A primitive without a
Taylor rule raises :class:`MissingTaylorRuleError` naming it.
"""

from __future__ import annotations

import math

import numpy as np

from ..levels import Level
from ..pytree import flatten, tree_map, unflatten
from ..rules.primitive import Traced, bind, dtype_of, lift, shape_of
from ..rules.series import full_series, leading, ops
from ..tracer import ArrayLike
from ..values import as_float_value

__all__ = [
    "Taylor",
    "TaylorLevel",
    "MissingTaylorRuleError",
    "taylor",
    "derivative_by_taylor",
]


class MissingTaylorRuleError(TypeError):
    """Taylor mode reached a primitive that declares no Taylor rule."""


class TaylorLevel(Level):
    """Taylor-mode interpretation: output coefficients from the primitive's Taylor rule.

    A rule is called as ``rule(primals, series, order, **params)``: ``primals[i]`` is input
    ``i``'s value (its order-0 coefficient), ``series[i]`` its coefficient array of shape
    ``(order + 1,) + shape`` or ``None`` for an input that is a constant at this level.  It returns
    the output's coefficient array, or ``None`` when the output is locally constant (``floor``).
    """

    kind = "Taylor"
    __slots__ = ("order",)

    def __init__(self, order: int):
        super().__init__()
        self.order = order

    def process(self, prim, args, params):
        if not self.active:
            raise self.escaped("Taylor value")
        primals, series = [], []
        for arg in args:
            if type(arg) is Taylor and arg._level is self:
                primals.append(arg._primal_)
                series.append(arg.coefficients)
            else:
                primals.append(arg)
                series.append(None)
        rule = prim.taylor
        if rule is None:
            raise MissingTaylorRuleError(
                f"primitive {prim.name!r} has no Taylor-mode rule, so ad.taylor cannot push a "
                "truncated Taylor polynomial through it; use nested derivatives (ad.derivative "
                "does so by itself for such functions) or declare its rule in the `taylor` slot"
            )
        coefficients = rule(primals, series, self.order, **params)
        if coefficients is None:
            return bind(prim, *primals, **params)
        return Taylor._make(coefficients, self)


class Taylor(ArrayLike):
    """A truncated Taylor polynomial: ``coefficients[k]`` multiplies ``t^k``.

    NumPy code runs on it like on a ``Dual``; the order-0 coefficient is the value.  Made by
    :func:`taylor`.
    """

    __slots__ = ("_primal_", "coefficients")

    @classmethod
    def _make(cls, coefficients, level):
        value = object.__new__(cls)
        value.coefficients = coefficients
        value._primal_ = ops.getitem(coefficients, 0)
        value._level = level
        return value

    @property
    def primal(self):
        return self._primal_

    @property
    def order(self) -> int:
        return shape_of(self.coefficients)[0] - 1

    def __repr__(self) -> str:
        return f"Taylor(coefficients={self.coefficients!r})"


class ReevaluatingTaylorLevel(TaylorLevel):
    """A Taylor level on which one function is evaluated again and again, with some inputs
    fixed and others varying between evaluations (the fixed-point iteration of
    :data:`autodiff.rules.series.FROM_JVP`).

    A primitive applied only to *fixed* values (fixed inputs, constants, and results computed
    from them) returns the result of its first evaluation: ``i0(x)`` inside ``i1``'s derivative
    ``i0(x) - i1(x)/x`` is computed once, not once per evaluation.  Without this reuse, a chain
    of derivative rules that each iterate (``i1 -> i0 -> i1 -> ...``) would cost exponentially
    in the order.  Results that read a *varying* input are varying themselves
    (:meth:`varies`) and are computed afresh.
    """

    __slots__ = ("_reused", "_varying", "_alive")

    def __init__(self, order: int):
        super().__init__(order)
        self._reused = {}  # key -> (operands, parameters, result): kept alive, ids stay unique
        self._varying = set()  # ids of varying values (kept alive in _alive)
        self._alive = []

    def fixed(self, coefficients) -> "Taylor":
        """An input that is the same in every evaluation."""
        value = Taylor._make(coefficients, self)
        self._alive.append(value)
        return value

    def varying(self, coefficients) -> "Taylor":
        """An input that changes between evaluations."""
        value = self.fixed(coefficients)
        self._varying.add(id(value))
        return value

    def varies(self, value) -> bool:
        """Whether ``value`` was computed from a varying input."""
        return id(value) in self._varying

    def coefficients(self, value):
        """``value``'s coefficient array (``[value, 0, ..., 0]`` for a constant)."""
        return _output_series(value, self, self.order)

    def process(self, prim, args, params):
        if any(id(arg) in self._varying for arg in args):
            out = super().process(prim, args, params)
            self._varying.add(id(out))
            self._alive.append(out)
            return out
        key = _reuse_key(prim, args, params)
        if key is None:
            return super().process(prim, args, params)
        reused = self._reused.get(key)
        if reused is None:
            reused = self._reused[key] = (args, params, super().process(prim, args, params))
        return reused[2]


def _reuse_key(prim, args, params):
    """A key equal for equal calls: operands by identity (kept alive by the cache), Python and
    NumPy scalars by their bits (``-0.0`` is not ``0.0``); ``None`` when a parameter is not
    hashable."""
    try:
        return (prim.name, tuple(_key_of(a, True) for a in args),
                tuple(sorted((k, _key_of(v, False)) for k, v in params.items())))
    except TypeError:
        return None


def _key_of(value, operand: bool):
    kind = type(value)
    if kind is float:
        return ("float", value.hex())
    if kind is int or kind is bool:
        return (kind.__name__, value)
    if isinstance(value, np.generic):
        return ("scalar", value.dtype.str, value.tobytes())
    if kind is slice:
        return ("slice", _key_of(value.start, False), _key_of(value.stop, False),
                _key_of(value.step, False))
    if kind is tuple or kind is list:
        return (kind.__name__,) + tuple(_key_of(v, operand) for v in value)
    if operand or isinstance(value, (np.ndarray, Traced)):
        return ("id", id(value))
    hash(value)  # raises TypeError for an unhashable parameter
    return ("value", value)


# ----------------------------------------------------------------------------------------------
# the transform
# ----------------------------------------------------------------------------------------------


def _check_order(order) -> int:
    if isinstance(order, bool) or int(order) != order or order < 0:
        raise ValueError(f"order must be a non-negative integer, got {order!r}")
    return int(order)


def _input_series(x, direction, order: int):
    """``[x, direction, 0, ..., 0]``: the input polynomial ``x + direction t``."""
    shape, dtype = shape_of(x), dtype_of(x)
    if not isinstance(x, Traced) and not isinstance(direction, Traced):
        coefficients = np.zeros((order + 1,) + shape, dtype)
        coefficients[0] = x
        if order:
            coefficients[1] = direction
        return coefficients
    parts = [leading(x)]
    if order:
        parts.append(leading(direction))
    if order > 1:
        parts.append(np.zeros((order - 1,) + shape, dtype))
    return ops.concatenate(*parts, axis=0)


def _output_series(leaf, level, order: int):
    leaf = lift(leaf)  # np.array([...]) of traced values
    if isinstance(leaf, Traced):
        owner = leaf._level
        if owner is level:
            return leaf.coefficients
        if not owner.active or owner.id > level.id:
            raise owner.escaped(type(leaf).__name__)
    else:
        leaf = as_float_value(leaf, "taylor output") if not isinstance(leaf, float) else leaf
    return full_series(leaf, None, order, len(shape_of(leaf)))


def taylor(f, x, order: int, direction=None):
    """Taylor coefficients ``[f(x), f'(x), f''(x)/2!, ..., f^(order)(x)/order!]``.

    One pass of truncated Taylor polynomials through ``f`` (``O(order^2)`` per operation).  ``x``
    is a float or a floating array; for an array, the coefficients are those of
    ``t -> f(x + direction t)`` with ``direction`` all ones by default, so an elementwise ``f``
    gets each element's own derivatives.  Each entry has ``f(x)``'s structure (pytrees allowed).

    Example
    -------
    >>> import numpy as np, autodiff as ad
    >>> [round(c, 6) for c in ad.taylor(np.exp, 0.0, 4)]
    [1.0, 1.0, 0.5, 0.166667, 0.041667]
    """
    order = _check_order(order)
    if not isinstance(x, Traced):
        x = as_float_value(x, "taylor input")
    if direction is None:
        direction = 1.0 if type(x) is float else np.ones(shape_of(x), dtype_of(x))
    elif not isinstance(direction, Traced):
        direction = as_float_value(direction, "taylor direction", dtype_of(x))
    if shape_of(direction) != shape_of(x):
        raise ValueError(
            f"direction has shape {shape_of(direction)}, expected the input's {shape_of(x)}"
        )
    level = TaylorLevel(order)
    try:
        out = f(Taylor._make(_input_series(x, direction, order), level))
        leaves, treedef = flatten(out)
        per_leaf = [_output_series(leaf, level, order) for leaf in leaves]
    finally:
        level.close()
    python_float = type(x) is float
    return [
        unflatten(treedef, [_entry(c, k, python_float) for c in per_leaf])
        for k in range(order + 1)
    ]


def _entry(coefficients, k: int, python_float: bool):
    value = ops.getitem(coefficients, k)
    if isinstance(value, Traced):
        return value
    if python_float and np.ndim(value) == 0 and np.result_type(value) == np.float64:
        return float(value)
    return np.array(value)


def derivative_by_taylor(f, x, order: int):
    """``f^(order)(x) = order! * (coefficient order)`` for ``f: R -> R`` (or ``R -> R^m``)."""
    order = _check_order(order)
    if shape_of(x) != ():
        raise ValueError(f"derivative needs a scalar input, got shape {shape_of(x)}")
    scale = float(math.factorial(order))
    return tree_map(lambda c: c * scale, taylor(f, x, order)[order])
