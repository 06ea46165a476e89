"""The test suite's view of the rule table's declarations, and the exact references.

Every primitive declares its own test domain where it is declared (``autodiff.rules``): an
elementwise primitive a :class:`~autodiff.rules.primitive.Domain` (its function in SymPy's
syntax, the intervals where its rule is accurate to ~1e-12, a ``valid`` condition keeping points
away from kinks, points outside the domain where NumPy gives ``nan``); any other primitive, and
every NumPy entry point written with primitives, :class:`~autodiff.rules.primitive.Case` calls
(input shapes, how it is called, how inputs are sampled so they stay at least ``10 h`` from any
kink).  This module reads them from ``REGISTRY`` and ``ENTRY_POINT_CASES``, so a primitive
without a declaration fails the table test.

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
from autodiff.rules.primitive import ENTRY_POINT_CASES, REGISTRY

# Import every module of the package, so primitives declared anywhere are registered before the
# table test collects its parameters.  A module that fails to import is recorded (and reported by
# a test of its own) instead of stopping the whole table test.
IMPORT_FAILURES: dict[str, str] = {}
for _module in pkgutil.walk_packages(autodiff.__path__, "autodiff.", onerror=lambda name: None):
    if _module.name.endswith("__main__"):  # runs the command line when imported
        continue
    try:
        importlib.import_module(_module.name)
    except ModuleNotFoundError as error:
        if error.name != "scipy":  # SciPy is optional: the modules that need it are skipped
            IMPORT_FAILURES[_module.name] = f"{type(error).__name__}: {error}"
    except Exception as error:  # noqa: BLE001 - any failure is reported by the table test
        IMPORT_FAILURES[_module.name] = f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class ElementwiseSpec:
    """How to test one elementwise primitive against SymPy (from its declared ``Domain``)."""

    sympy: Callable  # SymPy expression of the function, from one symbol per argument
    domain: tuple  # per argument: a tuple of (lo, hi) intervals to draw from
    valid: Callable | None = None  # valid(*args) -> bool (arrays: elementwise): away from kinks
    outside: tuple = ()  # argument tuples outside the domain: NumPy's value there is nan

    @property
    def arity(self) -> int:
        return len(self.domain)


class Expm1(sp.Function):
    """``exp(x) - 1``, evaluated by mpmath without cancellation (SymPy has no expm1)."""

    def fdiff(self, argindex=1):
        return sp.exp(self.args[0])


class Log1p(sp.Function):
    """``log(1 + x)``, evaluated by mpmath without cancellation (SymPy has no log1p)."""

    def fdiff(self, argindex=1):
        return 1 / (1 + self.args[0])


# Functions SymPy lacks, and whatever a declaration's reference may name.
_SYMPY_NAMES = {"Expm1": Expm1, "Log1p": Log1p, **{k: getattr(sp, k) for k in dir(sp)}}


def _sympy_function(reference: str, arity: int) -> Callable:
    """``"a, b -> atan2(a, b)"`` as a function of ``arity`` SymPy symbols."""
    names, expression = (part.strip() for part in reference.split("->"))
    names = [n.strip() for n in names.split(",")]
    if len(names) != arity:
        raise AssertionError(f"reference {reference!r} names {len(names)} arguments, not {arity}")

    def build(*symbols):
        return sp.sympify(expression, locals={**_SYMPY_NAMES, **dict(zip(names, symbols))})

    return build


def _spec(prim) -> ElementwiseSpec:
    domain = prim.domain
    return ElementwiseSpec(
        _sympy_function(domain.reference, prim.arity), domain.intervals, domain.valid,
        domain.outside,
    )


ELEMENTWISE_SPECS: dict[str, ElementwiseSpec] = {
    name: _spec(prim)
    for name, prim in REGISTRY.items()
    if isinstance(prim, Elementwise) and prim.domain is not None
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
        values = values.reshape(shape)
        if case.sample in _MATRIX_SAMPLERS and len(shape) >= 2 and shape[-1] == shape[-2]:
            values = _MATRIX_SAMPLERS[case.sample](values)
        inputs.append(values.astype(dtype))
    return inputs


def _symmetric_positive_definite(values):
    """``M M^T / n + I`` for each stacked matrix: eigenvalues from 1 to a few units."""
    n = values.shape[-1]
    return values @ np.swapaxes(values, -1, -2) / n + np.eye(n)


def _well_conditioned(values):
    """``2 I + M / 2``: a condition number of a few units (solve, inv, det, logdet)."""
    return 2.0 * np.eye(values.shape[-1]) + 0.5 * values


# "spd" and "wellconditioned": square inputs (the last two axes) are replaced by such matrices;
# the other inputs (right-hand sides) stay normal draws
_MATRIX_SAMPLERS = {"spd": _symmetric_positive_definite, "wellconditioned": _well_conditioned}


def _entry_point_name(fn) -> str:
    module = getattr(fn, "__module__", None) or "numpy"
    return f"{module.split('.')[0]}.{fn.__name__}" if module != "numpy" else fn.__name__


def _numpy_call(target, case):
    return lambda _, *inputs: case.call(target, *inputs)


ARRAY_CASES: list[ArrayCase] = [
    ArrayCase(name, case.label, case.shapes, case.call, case.sample)
    for name, prim in REGISTRY.items()
    for case in prim.cases
]

# User-level NumPy calls written with primitives (entry points declared with ``implements``): no
# rule of their own, swept like the primitives.
NUMPY_CASES: list[ArrayCase] = [
    ArrayCase("numpy", f"{_entry_point_name(target)}-{case.label}", case.shapes,
              _numpy_call(target, case), case.sample)
    for target, (_, cases) in ENTRY_POINT_CASES.items()
    for case in cases
]


# ----------------------------------------------------------------------------------------------
# the declarations, checked against the registry
# ----------------------------------------------------------------------------------------------


def registered_elementwise() -> list[str]:
    return sorted(n for n, p in REGISTRY.items() if isinstance(p, Elementwise))


def missing_declarations() -> list[str]:
    """Registered primitives with no test declaration (a ``Domain`` or ``Case`` calls)."""
    return sorted(
        n for n, p in REGISTRY.items()
        if (getattr(p, "domain", None) is None if isinstance(p, Elementwise) else not p.cases)
    )


def elementwise_spec(name: str) -> ElementwiseSpec:
    if name not in ELEMENTWISE_SPECS:
        raise AssertionError(
            f"elementwise primitive {name!r} has no test declaration: give its declaration a "
            "domain=Domain(...) (SymPy reference, safe domain)"
        )
    return ELEMENTWISE_SPECS[name]


def array_cases(name: str) -> list[ArrayCase]:
    cases = [case for case in ARRAY_CASES if case.primitive == name]
    if not cases:
        raise AssertionError(
            f"primitive {name!r} has no test declaration: give its declaration cases=(Case(...), "
            "...)"
        )
    return cases


# ----------------------------------------------------------------------------------------------
# numerical comparisons
# ----------------------------------------------------------------------------------------------


def error_ratio(expected, actual) -> float:
    """Aggarwal's (2018, sec. 3.3) symmetric ratio ``||Ge - Ga|| / (||Ge|| + ||Ga||)``
    (0 when both are 0)."""
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
