"""The primitive: one declaration of a value and its derivative rules.

A :class:`Primitive` bundles

* ``impl``   -- the NumPy value on plain arrays / floats,
* ``jvp``    -- the tangent of the output given tangents of the inputs (forward mode),
* ``vjp``    -- the cotangents of the inputs given the output's cotangent (reverse mode),
* ``taylor`` -- the Taylor-coefficient propagation rule (Taylor mode), where one is declared.

Calling a primitive binds it: :func:`bind` looks for traced operands, and the newest level among
them interprets the call (see :mod:`autodiff.levels`); with no traced operand the primitive just
runs ``impl``.  Rules are written with primitives, never with raw ``.primal`` arrays, so a rule
applied to traced values is itself traced: that is how derivatives nest.

Conventions shared by every rule:

* A tangent or cotangent may carry leading *batch* axes (``jacfwd`` pushes k directions at once,
  ``jacrev`` pulls m).  Its shape is ``batch + value.shape``; rules keep the batch axes leading.
* ``None`` is a symbolic zero: an input that is a constant has tangent ``None``, and a rule may
  return ``None`` for a zero result.  Nothing is ever multiplied by a zero that could be ``nan``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "Primitive",
    "ParametrizedPrimitive",
    "Traced",
    "bind",
    "ONE",
    "MINUS_ONE",
    "primal_value",
    "shape_of",
    "ndim_of",
    "dtype_of",
    "REGISTRY",
]

REGISTRY: dict[str, "Primitive"] = {}


class Traced:
    """Base of every traced value (``Dual``, ``Var``); holds the owning level."""

    __slots__ = ("_level",)


class _Unit:
    """A partial derivative known to be exactly +1 or -1 (skips a multiplication)."""

    __slots__ = ("sign",)

    def __init__(self, sign: int):
        self.sign = sign

    def __repr__(self) -> str:
        return "ONE" if self.sign > 0 else "MINUS_ONE"


ONE = _Unit(1)
MINUS_ONE = _Unit(-1)


def bind(prim: "Primitive", *args, **params):
    """Apply ``prim`` to ``args``: the newest level among traced operands interprets it."""
    level = None
    for arg in args:
        if isinstance(arg, Traced):
            candidate = arg._level
            if level is None or candidate.id > level.id:
                level = candidate
    if level is None:
        return prim.impl(*args, **params)
    return level.process(prim, args, params)


class Primitive:
    """A differentiable operation, declared once for every mode.

    Parameters
    ----------
    name:
        The NumPy-style name, used in error messages and traces.
    impl:
        ``impl(*args, **params)`` on plain floats / arrays.
    jvp:
        ``jvp(primals, tangents, out, **params)`` -> output tangent (or ``None`` for zero).
        ``tangents[i] is None`` when input ``i`` is a constant.
    vjp:
        ``vjp(cotangent, primals, out, wanted, **params)`` -> list of input cotangents, one for
        each index in ``wanted`` (the inputs that need one).
    taylor:
        ``taylor(primals, series, order, **params)`` -> the output's Taylor coefficients
        ``0..order`` (leading axis), ``series[i]`` those of input ``i`` (``None`` for a
        constant); see :mod:`autodiff.forward.taylor`.  ``None`` if not declared (Taylor mode
        then names this primitive in its error).
    """

    __slots__ = ("name", "impl", "jvp", "vjp", "taylor", "linear", "__dict__")

    def __init__(self, name, impl, jvp=None, vjp=None, taylor=None, linear=False):
        self.name = name
        self.impl = impl
        self.jvp = jvp
        self.vjp = vjp
        self.taylor = taylor
        self.linear = linear
        if name in REGISTRY:
            raise ValueError(f"a primitive named {name!r} is already registered")
        REGISTRY[name] = self

    def __call__(self, *args, **params):
        return bind(self, *args, **params)

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


class ParametrizedPrimitive(Primitive):
    """A primitive with ``n_operands`` array operands followed by named, static parameters.

    ``reshape(x, (2, 3))`` and ``reshape(x, shape=(2, 3))`` mean the same: trailing positional
    arguments are matched to ``param_names`` so a parameter is never mistaken for an operand.
    """

    __slots__ = ("n_operands", "param_names")

    def __init__(self, name, impl, jvp=None, vjp=None, taylor=None, linear=False, *,
                 n_operands, param_names):
        super().__init__(name, impl, jvp, vjp, taylor, linear)
        self.n_operands = n_operands
        self.param_names = tuple(param_names)

    def __call__(self, *args, **params):
        n = self.n_operands
        if len(args) > n:
            for name, value in zip(self.param_names, args[n:]):
                if name in params:
                    raise TypeError(f"{self.name}() got multiple values for {name!r}")
                params[name] = value
            args = args[:n]
        return bind(self, *args, **params)


def primal_value(x):
    """Peel every level off ``x``: the plain float / ndarray underneath."""
    while isinstance(x, Traced):
        x = x._primal_
    return x


def shape_of(x) -> tuple:
    x = primal_value(x)
    return x.shape if isinstance(x, np.ndarray) else np.shape(x)


def ndim_of(x) -> int:
    x = primal_value(x)
    return x.ndim if isinstance(x, np.ndarray) else np.ndim(x)


def dtype_of(x):
    value = primal_value(x)
    return value.dtype if isinstance(value, np.ndarray) else np.result_type(value)
