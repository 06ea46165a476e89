"""Test declarations for every primitive of the rule table, and the exact references.

Every name in ``autodiff.rules.primitive.REGISTRY`` must be declared here, or the table test
fails: a new primitive cannot skip it.

* An elementwise primitive declares :class:`ElementwiseSpec`: the SymPy expression of the same
  function, its *safe domain* (intervals per argument where the rule is accurate to ~1e-12
  relative, away from singularities and kinks), an optional ``valid`` condition on drawn points
  (distance from ties and kinks), and points *outside* the domain where NumPy gives ``nan``.
* Any other primitive declares one or more :class:`ArrayCase` calls: input shapes, how the
  primitive is called on them (axis, keepdims, indices, ...), and how inputs are sampled so that
  they stay at least ``10 h`` away from any kink (ties of ``max``/``min``).

The exact derivatives come from SymPy, differentiated symbolically and evaluated with mpmath at 50
digits; ``Heaviside``/``DiracDelta`` (from ``Max``, ``Min``, ``sign``) are evaluated away from
their jumps, and ``floor``/``ceiling``, which SymPy leaves underived, are locally constant there.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

import mpmath
import numpy as np
import sympy as sp

import autodiff
from autodiff.rules.elementwise import Elementwise
from autodiff.rules.primitive import REGISTRY

# Import every module of the package, so primitives declared anywhere are registered before the
# table test collects its parameters.  A module that fails to import is recorded (and reported by
# a test of its own) instead of stopping the whole table test.
IMPORT_FAILURES: dict[str, str] = {}
for _module in pkgutil.walk_packages(autodiff.__path__, "autodiff.", onerror=lambda name: None):
    if _module.name.endswith("__main__"):  # runs the command line when imported
        continue
    try:
        importlib.import_module(_module.name)
    except Exception as error:  # noqa: BLE001 - any failure is reported by the table test
        IMPORT_FAILURES[_module.name] = f"{type(error).__name__}: {error}"


def both_signs(lo: float, hi: float) -> tuple:
    """``[-hi, -lo]`` and ``[lo, hi]``: a domain kept away from zero."""
    return ((-hi, -lo), (lo, hi))


@dataclass(frozen=True)
class ElementwiseSpec:
    """How to test one elementwise primitive against SymPy."""

    sympy: Callable  # SymPy expression of the function, from one symbol per argument
    domain: tuple  # per argument: a tuple of (lo, hi) intervals to draw from
    valid: Callable | None = None  # valid(*args) -> bool (arrays: elementwise): away from kinks
    outside: tuple = ()  # argument tuples outside the domain: NumPy's value there is nan

    @property
    def arity(self) -> int:
        return len(self.domain)


def _unary(fn, *intervals, **kw):
    return ElementwiseSpec(fn, (tuple(intervals),), **kw)


def _binary(fn, a_intervals, b_intervals, **kw):
    return ElementwiseSpec(fn, (tuple(a_intervals), tuple(b_intervals)), **kw)


class Expm1(sp.Function):
    """``exp(x) - 1``, evaluated by mpmath without cancellation (SymPy has no expm1)."""

    def fdiff(self, argindex=1):
        return sp.exp(self.args[0])


class Log1p(sp.Function):
    """``log(1 + x)``, evaluated by mpmath without cancellation (SymPy has no log1p)."""

    def fdiff(self, argindex=1):
        return 1 / (1 + self.args[0])


def _distance_to_integers(x):
    return np.abs(np.asarray(x) - np.round(x))


_WIDE = ((-10.0, 10.0),)
_AWAY_FROM_ZERO = both_signs(0.1, 10.0)

# Domains are where the rule's formula is accurate to ~1e-12 relative.  Where a limit is set
# by the standard formula's conditioning rather than by the function, the comment says so.
ELEMENTWISE_SPECS: dict[str, ElementwiseSpec] = {
    # arithmetic
    "add": _binary(lambda a, b: a + b, _WIDE, _WIDE),
    "subtract": _binary(lambda a, b: a - b, _WIDE, _WIDE),
    "multiply": _binary(lambda a, b: a * b, _WIDE, _WIDE),
    "divide": _binary(lambda a, b: a / b, _WIDE, _AWAY_FROM_ZERO),
    "power": _binary(
        lambda a, b: a**b, ((0.1, 10.0),), ((-3.0, 3.0),), outside=((-1.0, 0.5), (-8.0, 1 / 3))
    ),
    "negative": _unary(lambda x: -x, *_WIDE),
    "reciprocal": _unary(lambda x: 1 / x, *_AWAY_FROM_ZERO),
    "square": _unary(lambda x: x**2, *_WIDE),
    "absolute": _unary(sp.Abs, *both_signs(1e-2, 10.0)),
    # exponentials and logarithms
    "exp": _unary(sp.exp, (-20.0, 20.0)),
    # expm1' = expm1(x) + 1 (as JAX and PyTorch): for x << 0 the sum cancels, so x >= -5
    "expm1": _unary(Expm1, (-5.0, 20.0)),
    "exp2": _unary(lambda x: 2**x, (-20.0, 20.0)),
    "log": _unary(sp.log, (1e-3, 1e3), outside=((-1.0,), (-1e-3,))),
    "log1p": _unary(Log1p, (-0.9, 1e3), outside=((-2.0,),)),
    "log2": _unary(lambda x: sp.log(x, 2), (1e-3, 1e3), outside=((-1.0,),)),
    "log10": _unary(lambda x: sp.log(x, 10), (1e-3, 1e3), outside=((-1.0,),)),
    "sqrt": _unary(sp.sqrt, (1e-3, 1e3), outside=((-1.0,),)),
    "cbrt": _unary(lambda x: sp.sign(x) * sp.Abs(x) ** sp.Rational(1, 3), *both_signs(1e-3, 1e3)),
    # trigonometric and hyperbolic
    "sin": _unary(sp.sin, *_WIDE),
    "cos": _unary(sp.cos, *_WIDE),
    "tan": _unary(sp.tan, (-1.4, 1.4)),
    "arcsin": _unary(sp.asin, (-0.9, 0.9), outside=((2.0,), (-2.0,))),
    "arccos": _unary(sp.acos, (-0.9, 0.9), outside=((2.0,), (-2.0,))),
    "arctan": _unary(sp.atan, (-100.0, 100.0)),
    "sinh": _unary(sp.sinh, *_WIDE),
    "cosh": _unary(sp.cosh, *_WIDE),
    # tanh' = 1 - tanh^2 (as everyone): 1 - y^2 cancels for |x| large, so |x| <= 3
    "tanh": _unary(sp.tanh, (-3.0, 3.0)),
    "arcsinh": _unary(sp.asinh, (-100.0, 100.0)),
    "arccosh": _unary(sp.acosh, (1.1, 100.0), outside=((0.5,), (-2.0,))),
    "arctanh": _unary(sp.atanh, (-0.9, 0.9), outside=((2.0,), (-2.0,))),
    "arctan2": _binary(sp.atan2, _AWAY_FROM_ZERO, _AWAY_FROM_ZERO),
    "hypot": _binary(lambda a, b: sp.sqrt(a**2 + b**2), _AWAY_FROM_ZERO, _AWAY_FROM_ZERO),
    "logaddexp": _binary(
        lambda a, b: sp.log(sp.exp(a) + sp.exp(b)), ((-30.0, 30.0),), ((-30.0, 30.0),)
    ),
    # piecewise: drawn at least 1e-3 (>> 10 h) from ties and kinks
    "maximum": _binary(sp.Max, _WIDE, _WIDE, valid=lambda a, b: np.abs(a - b) > 1e-3),
    "minimum": _binary(sp.Min, _WIDE, _WIDE, valid=lambda a, b: np.abs(a - b) > 1e-3),
    "clip": ElementwiseSpec(
        lambda x, lo, hi: sp.Min(sp.Max(x, lo), hi),
        (_WIDE, ((-5.0, -0.5),), ((0.5, 5.0),)),
        valid=lambda x, lo, hi: (np.abs(x - lo) > 1e-3) & (np.abs(x - hi) > 1e-3),
    ),
    "sign": _unary(sp.sign, *both_signs(1e-2, 10.0)),
    "floor": _unary(sp.floor, *_WIDE, valid=lambda x: _distance_to_integers(x) > 1e-3),
    "ceil": _unary(sp.ceiling, *_WIDE, valid=lambda x: _distance_to_integers(x) > 1e-3),
    # away from half-integers, round-half-to-even is floor(x + 1/2)
    "rint": _unary(
        lambda x: sp.floor(x + sp.Rational(1, 2)),
        *_WIDE,
        valid=lambda x: _distance_to_integers(np.asarray(x) + 0.5) > 1e-3,
    ),
    "trunc": _unary(
        lambda x: sp.sign(x) * sp.floor(sp.Abs(x)),
        *_WIDE,
        valid=lambda x: _distance_to_integers(x) > 1e-3,
    ),
    # functions NumPy lacks
    # sigmoid' = y (1 - y) (seed 000): 1 - y cancels for x >> 0, so x <= 5
    "sigmoid": _unary(lambda x: 1 / (1 + sp.exp(-x)), (-20.0, 5.0)),
    # softplus'' = sigmoid' has the same limit
    "softplus": _unary(lambda x: sp.log(1 + sp.exp(x)), (-20.0, 5.0)),
    "erf": _unary(sp.erf, (-5.0, 5.0)),
}


# ----------------------------------------------------------------------------------------------
# exact derivatives from SymPy
# ----------------------------------------------------------------------------------------------


def _heaviside(x, half=0.5):
    if x == 0:
        raise ValueError("Heaviside evaluated at its jump: the point is not away from the kink")
    return mpmath.mpf(1 if x > 0 else 0)


def _dirac_delta(x, *order):
    if x == 0:
        raise ValueError("DiracDelta evaluated at its support: the point is at a kink")
    return mpmath.mpf(0)


_MPMATH = [
    {
        "Heaviside": _heaviside,
        "DiracDelta": _dirac_delta,
        "sign": mpmath.sign,
        "Expm1": mpmath.expm1,
        "Log1p": mpmath.log1p,
    },
    "mpmath",
]


def _locally_constant(expr):
    """SymPy leaves d floor(x)/dx underived; away from integers it is 0."""
    return expr.replace(
        lambda e: isinstance(e, sp.Derivative) and isinstance(e.expr, (sp.floor, sp.ceiling)),
        lambda e: sp.Integer(0),
    )


@dataclass(frozen=True)
class ExactRule:
    """Value, gradient and Hessian of one elementwise function, evaluated at 50 digits."""

    value: Callable
    gradient: tuple
    hessian: tuple

    def _eval(self, fn, args) -> float:
        with mpmath.workdps(50):
            return float(fn(*[mpmath.mpf(float(a)) for a in args]))

    def at(self, args) -> float:
        return self._eval(self.value, args)

    def partial(self, i, args) -> float:
        return self._eval(self.gradient[i], args)

    def second_partial(self, i, j, args) -> float:
        return self._eval(self.hessian[i][j], args)


@functools.cache
def exact_rule(name: str) -> ExactRule:
    spec = elementwise_spec(name)
    symbols = sp.symbols(f"x0:{spec.arity}", real=True)
    expr = spec.sympy(*symbols)
    gradient = [_locally_constant(sp.diff(expr, s)) for s in symbols]
    hessian = [[_locally_constant(sp.diff(g, s)) for s in symbols] for g in gradient]
    for e in gradient + [h for row in hessian for h in row]:
        if e.has(sp.Derivative):
            raise AssertionError(f"SymPy could not differentiate the declaration of {name}: {e}")

    def compile_(e):
        return sp.lambdify(symbols, e, modules=_MPMATH)

    return ExactRule(
        compile_(expr),
        tuple(compile_(g) for g in gradient),
        tuple(tuple(compile_(h) for h in row) for row in hessian),
    )


def exact_partials(name: str, i: int, arrays) -> np.ndarray:
    """SymPy's ``d f / d x_i`` at each point ``zip(*arrays)`` (1-d arrays of one length)."""
    exact = exact_rule(name)
    return np.array([exact.partial(i, point) for point in zip(*arrays)])


def sample_elementwise(spec: ElementwiseSpec, shapes, rng: np.random.Generator) -> tuple:
    """Uniform draws from the declared safe domain (float64 arrays of ``shapes``), redrawn
    until every point is away from the declared kinks."""
    for _ in range(200):
        args = []
        for intervals, shape in zip(spec.domain, shapes):
            bounds = np.array(intervals)[rng.integers(len(intervals), size=shape)]
            args.append(np.asarray(rng.uniform(bounds[..., 0], bounds[..., 1]), np.float64))
        if spec.valid is None or np.all(spec.valid(*args)):
            return tuple(args)
    raise AssertionError("could not draw points away from the declared kinks")


# ----------------------------------------------------------------------------------------------
# array primitives: calls and sampling
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArrayCase:
    """One call of an array primitive (or a NumPy composite) on inputs of given shapes.

    ``call(prim, *inputs)`` evaluates it; ``prim`` is the registered primitive itself, so the
    declaration exercises exactly the rule it names.  ``sample`` is ``"normal"``, ``"separated"``
    (entries at least 0.1 apart: no ties within 10 h for max/min), ``"nonzero"`` (at least 0.1
    from the kink of relu), ``"zeros"`` (one exact zero, two in larger inputs: the exact path of
    prod) or ``"positive"``.
    """

    primitive: str
    label: str
    shapes: tuple
    call: Callable
    sample: str = "normal"

    @property
    def id(self) -> str:
        return f"{self.primitive}-{self.label}"


def sample_inputs(case: ArrayCase, rng: np.random.Generator, dtype=np.float64) -> list:
    inputs = []
    for shape in case.shapes:
        size = int(np.prod(shape, dtype=int))
        if case.sample == "separated":
            values = (rng.permutation(size) - size / 2) * 0.3 + rng.uniform(-0.05, 0.05, size)
        elif case.sample == "positive":
            values = rng.uniform(0.5, 2.0, size)
        elif case.sample == "nonzero":
            values = rng.normal(size=size)
            values += np.where(values < 0, -0.1, 0.1)
        else:
            values = rng.normal(size=size)
        if case.sample == "zeros":
            values[rng.choice(size, 1 if size < 6 else 2, replace=False)] = 0.0
        inputs.append(values.reshape(shape).astype(dtype))
    return inputs


def _p(**params):
    """A call of the primitive with fixed keyword parameters."""
    return lambda prim, *xs: prim(*xs, **params)


_MASK = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])
_COND = np.array([[True, False, True, False], [False, True, True, False], [True, False, False, True]])


def _reductions(name, sample="normal"):
    cases = [ArrayCase(name, "vector", ((5,),), _p(), sample)]
    for axis in (None, 0, 1, -1, (0, 1)):
        for keepdims in (False, True):
            cases.append(
                ArrayCase(name, f"axis={axis}-keepdims={keepdims}", ((3, 4),),
                          _p(axis=axis, keepdims=keepdims), sample)
            )
    cases.append(ArrayCase(name, "3d-axis=(0,2)", ((2, 3, 4),), _p(axis=(0, 2)), sample))
    cases.append(ArrayCase(name, "row-(1,n)", ((1, 4),), _p(axis=0), sample))
    return cases


def _getitem(label, index, shape=(3, 4)):
    return ArrayCase("getitem", label, (shape,), lambda prim, x: prim(x, index=index))


ARRAY_CASES: list[ArrayCase] = [
    *_reductions("sum"),
    ArrayCase("sum", "scalar", ((),), _p()),
    *_reductions("max", "separated"),
    *_reductions("min", "separated"),
    *_reductions("prod"),
    *_reductions("prod", "zeros")[::3],
    *_reductions("logsumexp"),
    ArrayCase("cumsum", "vector", ((5,),), _p(axis=0)),
    ArrayCase("cumsum", "axis=0", ((3, 4),), _p(axis=0)),
    ArrayCase("cumsum", "axis=1", ((3, 4),), _p(axis=1)),
    ArrayCase("cumsum", "3d-axis=1", ((2, 3, 4),), _p(axis=1)),
    ArrayCase("reshape", "matrix-to-matrix", ((3, 4),), _p(shape=(4, 3))),
    ArrayCase("reshape", "vector-to-3d", ((12,),), _p(shape=(2, 3, 2))),
    ArrayCase("reshape", "scalar-to-(1,1)", ((),), _p(shape=(1, 1))),
    ArrayCase("reshape", "(1,n)-to-scalar", ((1, 1),), _p(shape=())),
    ArrayCase("transpose", "matrix", ((3, 4),), _p(axes=(1, 0))),
    ArrayCase("transpose", "3d", ((2, 3, 4),), _p(axes=(2, 0, 1))),
    ArrayCase("transpose", "(1,n)", ((1, 4),), _p(axes=(1, 0))),
    ArrayCase("broadcast_to", "scalar", ((),), _p(shape=(3, 4))),
    ArrayCase("broadcast_to", "vector", ((4,),), _p(shape=(3, 4))),
    ArrayCase("broadcast_to", "column", ((3, 1),), _p(shape=(3, 4))),
    ArrayCase("broadcast_to", "(1,n)-to-3d", ((1, 4),), _p(shape=(2, 3, 4))),
    ArrayCase("unbroadcast", "to-vector", ((3, 4),), _p(shape=(4,))),
    ArrayCase("unbroadcast", "to-(1,n)", ((3, 4),), _p(shape=(1, 4))),
    ArrayCase("unbroadcast", "to-column", ((3, 4),), _p(shape=(3, 1))),
    ArrayCase("unbroadcast", "to-scalar", ((2, 3, 4),), _p(shape=())),
    ArrayCase("unbroadcast", "n_batch=1", ((2, 3, 4),), _p(shape=(1, 4), n_batch=1)),
    ArrayCase("matmul", "1d@1d", ((4,), (4,)), _p()),
    ArrayCase("matmul", "1d@2d", ((3,), (3, 4)), _p()),
    ArrayCase("matmul", "2d@1d", ((3, 4), (4,)), _p()),
    ArrayCase("matmul", "2d@2d", ((3, 4), (4, 2)), _p()),
    ArrayCase("matmul", "(1,n)@2d", ((1, 3), (3, 4)), _p()),
    ArrayCase("matmul", "3d@2d", ((2, 3, 4), (4, 3)), _p()),
    ArrayCase("matmul", "2d@3d", ((3, 4), (2, 4, 3)), _p()),
    ArrayCase("matmul", "3d@3d", ((2, 3, 4), (2, 4, 2)), _p()),
    ArrayCase("matmul", "stack-broadcast", ((1, 3, 4), (2, 4, 2)), _p()),
    ArrayCase("matmul", "1d@3d", ((4,), (2, 4, 3)), _p()),
    ArrayCase("matmul", "3d@1d", ((2, 3, 4), (4,)), _p()),
    ArrayCase("concatenate", "axis=0", ((2, 3), (4, 3)), _p(axis=0)),
    ArrayCase("concatenate", "axis=1", ((3, 2), (3, 4)), _p(axis=1)),
    ArrayCase("concatenate", "three-vectors", ((2,), (3,), (1,)), _p(axis=0)),
    _getitem("int", 1),
    _getitem("negative-int", -1),
    _getitem("int-int", (2, 1)),
    _getitem("column", (slice(None), 2)),
    _getitem("slices", (slice(1, None), slice(None, None, 2))),
    _getitem("reversed", slice(None, None, -1), shape=(5,)),
    _getitem("int-array-repeated", np.array([0, 2, 2]), shape=(5,)),
    _getitem("int-arrays", (np.array([0, 2]), np.array([1, 3]))),
    _getitem("int-array-slice", (np.array([2, 0, 2]), slice(1, 3))),
    _getitem("bool-mask", _MASK),
    _getitem("bool-row-mask", np.array([True, False, True])),
    _getitem("ellipsis", (Ellipsis, 1)),
    _getitem("ellipsis-3d", (0, Ellipsis, slice(1, 3)), shape=(2, 3, 4)),
    _getitem("none", (None, slice(None), 1)),
    _getitem("ellipsis-none", (Ellipsis, None)),
    _getitem("scalar-of-vector", 3, shape=(5,)),
    ArrayCase("scatter_add", "int-array-repeated", ((3,),),
              lambda prim, y: prim(y, index=np.array([0, 2, 2]), shape=(5,))),
    ArrayCase("scatter_add", "column", ((3,),),
              lambda prim, y: prim(y, index=(slice(None), 1), shape=(3, 4))),
    ArrayCase("scatter_add", "broadcast-value", ((),),
              lambda prim, y: prim(y, index=(slice(1, None), slice(None, None, 2)), shape=(3, 4))),
    ArrayCase("scatter_add", "bool-mask", ((7,),),
              lambda prim, y: prim(y, index=_MASK, shape=(3, 4))),
    ArrayCase("scatter_add", "int-arrays", ((2, 2),),
              lambda prim, y: prim(y, index=(np.array([[0], [2]]), np.array([1, 1])), shape=(3, 4))),
    ArrayCase("linear", "batch", ((5, 3), (4, 3), (4,)), _p()),
    ArrayCase("linear", "no-bias", ((5, 3), (4, 3)), _p()),
    ArrayCase("linear", "one-sample", ((3,), (4, 3), (4,)), _p()),
    ArrayCase("linear", "3d-input", ((2, 5, 3), (4, 3), (4,)), _p()),
    ArrayCase("relu", "matrix", ((3, 4),), _p(), "nonzero"),
    ArrayCase("relu", "scalar", ((),), _p(), "nonzero"),
    ArrayCase("leaky_relu", "matrix", ((3, 4),), _p(negative_slope=0.1), "nonzero"),
    ArrayCase("leaky_relu", "vector", ((5,),), _p(negative_slope=0.01), "nonzero"),
    *[
        ArrayCase("cross_entropy", f"{reduction}", ((3, 4),),
                  _p(labels=np.array([0, 3, 1]), reduction=reduction))
        for reduction in ("mean", "sum", "none")
    ],
    ArrayCase("cross_entropy", "3d-mean", ((2, 3, 4),),
              _p(labels=np.array([[0, 3, 1], [2, 2, 0]]), reduction="mean")),
    ArrayCase("where", "same-shape", ((3, 4), (3, 4)), lambda prim, a, b: prim(_COND, a, b)),
    ArrayCase("where", "broadcast", ((4,), (3, 1)), lambda prim, a, b: prim(_COND, a, b)),
    ArrayCase("where", "constant-branch", ((3, 4),), lambda prim, a: prim(_COND, 0.0, a)),
    ArrayCase("where", "scalar-branch", ((),), lambda prim, a: prim(_COND, a, 1.0)),
]

# User-level NumPy calls written with primitives (numpy_api composites): no rule of their own,
# swept like the primitives.
NUMPY_CASES: list[ArrayCase] = [
    ArrayCase("numpy", "mean", ((3, 4),), lambda _, x: np.mean(x)),
    ArrayCase("numpy", "mean-axis=0-keepdims", ((3, 4),), lambda _, x: np.mean(x, 0, keepdims=True)),
    ArrayCase("numpy", "mean-axis=(0,2)", ((2, 3, 4),), lambda _, x: np.mean(x, axis=(0, 2))),
    ArrayCase("numpy", "sum-axis=1", ((3, 4),), lambda _, x: np.sum(x, axis=1)),
    ArrayCase("numpy", "prod", ((3, 4),), lambda _, x: np.prod(x, axis=0)),
    ArrayCase("numpy", "max", ((3, 4),), lambda _, x: np.max(x, axis=1), "separated"),
    ArrayCase("numpy", "cumsum-flat", ((3, 4),), lambda _, x: np.cumsum(x)),
    ArrayCase("numpy", "dot-1d-1d", ((4,), (4,)), lambda _, a, b: np.dot(a, b)),
    ArrayCase("numpy", "dot-2d-1d", ((3, 4), (4,)), lambda _, a, b: np.dot(a, b)),
    ArrayCase("numpy", "dot-1d-2d", ((3,), (3, 4)), lambda _, a, b: np.dot(a, b)),
    ArrayCase("numpy", "dot-2d-2d", ((3, 4), (4, 3)), lambda _, a, b: np.dot(a, b)),
    ArrayCase("numpy", "dot-scalar", ((), (3, 4)), lambda _, a, b: np.dot(a, b)),
    ArrayCase("numpy", "dot-3d-1d", ((2, 3, 4), (4,)), lambda _, a, b: np.dot(a, b)),
    ArrayCase("numpy", "dot-1d-3d", ((3,), (2, 3, 4)), lambda _, a, b: np.dot(a, b)),
    ArrayCase("numpy", "dot-3d-3d", ((2, 1, 3), (2, 3, 2)), lambda _, a, b: np.dot(a, b)),
    ArrayCase("numpy", "matmul-operator", ((3, 4), (4, 2)), lambda _, a, b: a @ b),
    ArrayCase("numpy", "outer", ((3,), (4,)), lambda _, a, b: np.outer(a, b)),
    ArrayCase("numpy", "outer-matrices", ((2, 2), (3,)), lambda _, a, b: np.outer(a, b)),
    ArrayCase("numpy", "transpose", ((2, 3, 4),), lambda _, x: np.transpose(x)),
    ArrayCase("numpy", "T", ((3, 4),), lambda _, x: x.T),
    ArrayCase("numpy", "moveaxis", ((2, 3, 4),), lambda _, x: np.moveaxis(x, 0, -1)),
    ArrayCase("numpy", "moveaxis-many", ((2, 3, 4),), lambda _, x: np.moveaxis(x, [0, 1], [2, 0])),
    ArrayCase("numpy", "swapaxes", ((2, 3, 4),), lambda _, x: np.swapaxes(x, 0, 2)),
    ArrayCase("numpy", "reshape-minus-one", ((3, 4),), lambda _, x: np.reshape(x, (2, -1))),
    ArrayCase("numpy", "ravel", ((3, 4),), lambda _, x: np.ravel(x)),
    ArrayCase("numpy", "squeeze", ((1, 4, 1),), lambda _, x: np.squeeze(x)),
    ArrayCase("numpy", "squeeze-axis", ((1, 4, 1),), lambda _, x: np.squeeze(x, axis=2)),
    ArrayCase("numpy", "expand_dims", ((3, 4),), lambda _, x: np.expand_dims(x, 1)),
    ArrayCase("numpy", "expand_dims-last", ((3,),), lambda _, x: np.expand_dims(x, -1)),
    ArrayCase("numpy", "broadcast_to", ((1, 4),), lambda _, x: np.broadcast_to(x, (3, 4))),
    ArrayCase("numpy", "concatenate", ((2, 3), (1, 3)), lambda _, a, b: np.concatenate([a, b])),
    ArrayCase("numpy", "concatenate-axis=-1", ((3, 2), (3, 1)),
              lambda _, a, b: np.concatenate([a, b], axis=-1)),
    ArrayCase("numpy", "stack", ((3,), (3,)), lambda _, a, b: np.stack([a, b])),
    ArrayCase("numpy", "stack-axis=1", ((3, 2), (3, 2)), lambda _, a, b: np.stack([a, b], axis=1)),
    ArrayCase("numpy", "stack-scalars", ((), ()), lambda _, a, b: autodiff.stack([a, b])),
    ArrayCase("numpy", "where", ((3, 4), (3, 4)), lambda _, a, b: np.where(_COND, a, b)),
    ArrayCase("numpy", "where-guard", ((3, 4),),
              lambda _, x: np.where(x > 0, np.sqrt(np.where(x > 0, x, 1.0)), 0.0)),
    ArrayCase("numpy", "clip", ((3, 4),), lambda _, x: np.clip(x, -0.5, 0.5), "separated"),
    ArrayCase("numpy", "maximum-broadcast", ((3, 4), (4,)),
              lambda _, a, b: np.maximum(a, b + 0.05), "separated"),
    ArrayCase("numpy", "logsumexp", ((3, 4),), lambda _, x: autodiff.logsumexp(x, axis=1)),
    ArrayCase("numpy", "getitem-list", ((5,),), lambda _, x: x[[0, 3, 3]]),
    ArrayCase("numpy", "getitem-mask-of-primal", ((3, 4),), lambda _, x: x[x > 0]),
]


# ----------------------------------------------------------------------------------------------
# the declarations, checked against the registry
# ----------------------------------------------------------------------------------------------


def registered_elementwise() -> list[str]:
    return sorted(n for n, p in REGISTRY.items() if isinstance(p, Elementwise))


def missing_declarations() -> list[str]:
    """Registered primitives with no test declaration here."""
    declared_arrays = {case.primitive for case in ARRAY_CASES}
    return sorted(
        n for n, p in REGISTRY.items()
        if (n not in ELEMENTWISE_SPECS if isinstance(p, Elementwise) else n not in declared_arrays)
    )


def stale_declarations() -> list[str]:
    """Declarations naming primitives that are no longer registered."""
    declared = set(ELEMENTWISE_SPECS) | {case.primitive for case in ARRAY_CASES}
    return sorted(declared - set(REGISTRY))


def elementwise_spec(name: str) -> ElementwiseSpec:
    if name not in ELEMENTWISE_SPECS:
        raise AssertionError(
            f"elementwise primitive {name!r} has no test declaration: add an ElementwiseSpec "
            "(SymPy expression, safe domain) to ELEMENTWISE_SPECS in tests/rule_domains.py"
        )
    return ELEMENTWISE_SPECS[name]


def array_cases(name: str) -> list[ArrayCase]:
    cases = [case for case in ARRAY_CASES if case.primitive == name]
    if not cases:
        raise AssertionError(
            f"primitive {name!r} has no test declaration: add ArrayCase calls for it to "
            "ARRAY_CASES in tests/rule_domains.py"
        )
    return cases


# ----------------------------------------------------------------------------------------------
# numerical comparisons
# ----------------------------------------------------------------------------------------------


def error_ratio(expected, actual) -> float:
    """Seed 004's symmetric ratio ``||Ge - Ga|| / (||Ge|| + ||Ga||)`` (0 when both are 0)."""
    expected = np.asarray(expected, dtype=np.float64).ravel()
    actual = np.asarray(actual, dtype=np.float64).ravel()
    scale = np.linalg.norm(expected) + np.linalg.norm(actual)
    return 0.0 if scale == 0 else float(np.linalg.norm(expected - actual) / scale)


def central_jacobian(f, inputs, h=1e-6) -> list:
    """Jacobian blocks ``out.shape + x.shape`` of ``f(*inputs)`` by central differences."""
    out = np.asarray(f(*inputs))
    blocks = []
    for i, x in enumerate(inputs):
        x = np.asarray(x, dtype=np.float64)
        block = np.zeros(out.shape + (x.size,))
        for k in range(x.size):
            step = np.zeros(x.size)
            step[k] = h
            plus = list(inputs)
            minus = list(inputs)
            plus[i] = x + step.reshape(x.shape)
            minus[i] = x - step.reshape(x.shape)
            block[..., k] = (np.asarray(f(*plus)) - np.asarray(f(*minus))) / (2 * h)
        blocks.append(block.reshape(out.shape + x.shape))
    return blocks


def assert_close_relative(actual, expected, rtol, atol=0.0, what=""):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    bad = ~(np.abs(actual - expected) <= rtol * np.abs(expected) + atol)
    if np.any(bad):
        raise AssertionError(
            f"{what}: got {actual[bad] if actual.ndim else actual}, expected "
            f"{expected[bad] if expected.ndim else expected} (rtol={rtol}, atol={atol})"
        )


def pairing(u, v) -> tuple[float, float]:
    """``<u, v>`` summed over a list of arrays, and the sum of ``|u v|`` (its scale)."""
    total = scale = 0.0
    for a, b in zip(u, v):
        product = np.asarray(a, dtype=np.float64) * np.asarray(b, dtype=np.float64)
        total += float(np.sum(product))
        scale += float(np.sum(np.abs(product)))
    return total, scale
