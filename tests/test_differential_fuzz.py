"""Differential fuzzing: every NumPy entry point on traced values against NumPy itself.

Hypothesis draws arguments for every entry of the dispatch tables and every primitive, found
from their declarations (``REGISTRY``, ``UFUNCS``, ``ENTRY_POINT_CASES``; an elementwise
primitive's ``Domain``, any other primitive's ``Case`` calls), so what the families add is
fuzzed without anyone listing it here.  For each draw:

* **values**: the traced value (``ad.Var`` on a hand-built tape, inside ``ad.vjp`` and inside
  ``ad.jvp``) equals NumPy's on the plain inputs: shape, dtype, nan pattern and number, and the
  same warnings by category.  Where the same NumPy function runs the number is bit for bit;
  Python floats take the ``math`` fast path (a few ulps, as documented for the scalar path) and
  entry points written with primitives (``np.var`` is a mean of squares) agree to 1e-12
  (float64) / 1e-5 (float32) of the result's size;
* **modes**: forward and reverse derivatives agree, elementwise for elementwise functions and
  through ``<u, J v> = <J^T u, v>`` (relative 1e-12 float64, 1e-5 float32) for everything;
* **central differences** (ratio below 1e-6, plus the differences' own rounding and their
  truncation error, estimated from the differences at twice the step) where an
  elementwise primitive's inputs lie in its declared ``Domain.intervals`` and ``Domain.valid``
  (away from kinks);
* **never finite and wrong**: where NumPy's value is ``nan`` at finite inputs (outside the
  domain) no derivative is finite; where NumPy raises, the traced call raises too; a result is
  NumPy's or an exception;
* **keywords** NumPy accepts (``axis``, ``keepdims``, ``dtype``, ``where``, ``initial``, ``out``,
  ``ddof``, ``casting``, and the ufunc methods ``reduce`` / ``accumulate`` / ``outer``) are
  honoured exactly or refused with a ``TypeError`` that names them.

Values drawn include ``+-0``, ``+-inf``, ``nan``, subnormals, ``1e+-300``, ``float32``'s range
edges and points of the declared domain; shapes include 0-d arrays, Python floats, empty and
broadcasting operands; array cases are drawn at other scales, other dtypes, with a special value
planted, a leading batch axis or one axis one longer or shorter (NumPy decides whether the call
is legal, and the traced call must agree).

Deliberate deviations, not checked: derivatives at a ``nan`` or infinite *input* (JAX and
PyTorch likewise give ``d(a*b)/db = a`` at ``b = nan``; the value is checked).

Profiles: ``ci`` (the default: derandomized, bounded, the whole module in about a minute on two
cores) and ``long`` (``AUTODIFF_FUZZ=long python -m pytest tests/test_differential_fuzz.py``:
randomized, 40 times the examples).
"""

from __future__ import annotations

import functools
import inspect
import os
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from rule_domains import ARRAY_CASES, NUMPY_CASES, ArrayCase, sample_inputs

import autodiff as ad
from autodiff.rules.elementwise import Elementwise
from autodiff.rules.primitive import (
    ENTRY_POINT_CASES,
    FUNCTIONS,
    PRIMAL_FUNCTIONS,
    PRIMAL_UFUNCS,
    REGISTRY,
    Primitive,
    UFUNCS,
    primal_value,
)

_COMMON = dict(deadline=None, suppress_health_check=list(HealthCheck), database=None)
# CI reports the first failing example as drawn (shrinking one can take minutes on this machine)
settings.register_profile(
    "ci", max_examples=10, derandomize=True, phases=(Phase.explicit, Phase.generate), **_COMMON
)
settings.register_profile("long", max_examples=400, **_COMMON)
PROFILE = os.environ.get("AUTODIFF_FUZZ", "ci")
FUZZ = settings(settings.get_profile(PROFILE))
# array cases cost a Jacobian-free jvp and vjp each, but there are a few hundred of them
FUZZ_CASES = settings(FUZZ, max_examples=max(3, FUZZ.max_examples // 3))

FLOATS = (np.float64, np.float32)
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}
TINY = np.finfo(np.float64).tiny
SPECIAL_VALUES = (
    0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, TINY, -TINY, 1e-300, -1e-300,
    1e300, -1e300, 1e-45, -1e-45, 1e-38, 3.4e38, -3.4e38, 3.5e38, 1.0, -1.0, 0.5, 2.0, -2.0,
)


# ----------------------------------------------------------------------------------------------
# outcomes: a value with its warnings, or an exception
# ----------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    value: object = None
    warnings: frozenset = frozenset()
    error: BaseException | None = None


def outcome(fn, *args) -> Outcome:
    """``fn(*args)`` under NumPy's default error handling, its warnings recorded by category."""
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="warn", under="ignore"):
        warnings.simplefilter("always")
        try:
            value = fn(*args)
        except Exception as error:  # noqa: BLE001 - the exception is the outcome
            return Outcome(error=error)
    return Outcome(value, frozenset(w.category for w in caught))


def quietly(fn, *args):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*args)


def leaves(value) -> list:
    """The arrays of a result: one, or the entries of a (named) tuple or list of results."""
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in leaves(item)]
    return [value]


def assert_same_value(actual, expected, what, *, rtol=0.0, ulps=0, mask=None):
    """Shape, dtype, nan and inf pattern, and the number (bit for bit unless a tolerance)."""
    actual_leaves, expected_leaves = leaves(actual), leaves(expected)
    assert len(actual_leaves) == len(expected_leaves), f"{what}: {actual!r} vs {expected!r}"
    for a, e in zip(actual_leaves, expected_leaves):
        a = np.asarray(primal_value(a))
        e = np.asarray(e)
        assert a.shape == e.shape, f"{what}: shape {a.shape}, NumPy's {e.shape}"
        assert a.dtype == e.dtype, f"{what}: dtype {a.dtype}, NumPy's {e.dtype}"
        if mask is not None:
            a, e = a[mask], e[mask]
        a64, e64 = a.astype(np.float64), e.astype(np.float64)
        bad = np.isnan(a64) != np.isnan(e64)
        finite = np.isfinite(a64) & np.isfinite(e64)
        bad |= (np.isinf(a64) | np.isinf(e64)) & (a64 != e64)
        allowed = rtol * np.max(np.abs(e64[np.isfinite(e64)]), initial=0.0)
        if ulps:
            allowed = ulps * np.spacing(np.abs(e)).astype(np.float64)
        bad |= finite & ~(np.abs(a64 - e64) <= allowed)
        if not (rtol or ulps):
            bad |= finite & (np.signbit(a64) != np.signbit(e64))
        assert not np.any(bad), f"{what}: got {a[bad]}, NumPy gives {e[bad]}"


def assert_modes_agree(forward, reverse, dtype, what):
    """Two computations of one derivative: same nan/inf pattern, numbers to the dtype's rtol."""
    f = np.asarray(forward, dtype=np.float64)
    r = np.asarray(reverse, dtype=np.float64)
    assert f.shape == r.shape, f"{what}: forward shape {f.shape}, reverse {r.shape}"
    bad = (np.isnan(f) != np.isnan(r)) | ((np.isinf(f) | np.isinf(r)) & (f != r))
    finite = np.isfinite(f) & np.isfinite(r)
    bad |= finite & ~(np.abs(f - r) <= RTOL[np.dtype(dtype)] * np.abs(r) + TINY)
    assert not np.any(bad), f"{what}: forward {f[bad]}, reverse {r[bad]}"


def assert_pairing(u, jv, jtu, v, dtype, what):
    """``<u, J v> = <J^T u, v>`` relative to the sum of the terms' sizes, where all is finite."""
    terms = [np.asarray(a, np.float64) * np.asarray(b, np.float64)
             for a, b in [*zip(leaves(u), leaves(jv)), *zip(leaves(jtu), leaves(v))]]
    if not all(np.all(np.isfinite(t)) for t in terms):
        return  # non-finite derivatives are checked for their pattern elsewhere
    n = len(leaves(u))
    lhs = sum(float(np.sum(t)) for t in terms[:n])
    rhs = sum(float(np.sum(t)) for t in terms[n:])
    scale = max(sum(float(np.sum(np.abs(t))) for t in terms[:n]),
                sum(float(np.sum(np.abs(t))) for t in terms[n:]))
    if not np.isfinite(scale):
        return
    # each product of the dtype rounds to a multiple of its smallest subnormal (float32: 1.4e-45)
    vectors = [np.asarray(w, np.float64) for w in (*leaves(u), *leaves(v))]
    size = sum(t.size for t in terms)
    largest = max((float(np.max(np.abs(w), initial=0.0)) for w in vectors), default=0.0)
    floor = 4 * size * float(np.finfo(dtype).smallest_subnormal) * max(largest, 1.0)
    assert abs(lhs - rhs) <= RTOL[np.dtype(dtype)] * scale + floor, (
        f"{what}: <u, Jv> = {lhs} but <J^T u, v> = {rhs}"
    )


# ----------------------------------------------------------------------------------------------
# elementwise entries: every ufunc answered by an elementwise primitive, every such primitive
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ElementwiseEntry:
    label: str
    call: Callable  # what users call: NumPy's ufunc, or the primitive itself
    primitive: Elementwise

    @property
    def arity(self) -> int:
        return self.primitive.arity


def _ufunc_label(ufunc) -> str:
    """``np.sin`` or ``scipy.special.gammaln`` (SciPy's ufuncs say their module is numpy)."""
    if getattr(np, ufunc.__name__, None) is ufunc:
        return f"np.{ufunc.__name__}"
    return f"scipy.special.{ufunc.__name__}"


def _elementwise_entries() -> list[ElementwiseEntry]:
    entries, reached = [], set()
    for ufunc, rule in UFUNCS.items():
        if isinstance(rule, Elementwise):
            entries.append(ElementwiseEntry(_ufunc_label(ufunc), ufunc, rule))
            reached.add(rule.name)
    for name, prim in REGISTRY.items():
        if isinstance(prim, Elementwise) and name not in reached:
            entries.append(ElementwiseEntry(name, prim, prim))
    return sorted(entries, key=lambda e: e.label)


ELEMENTWISE_ENTRIES = _elementwise_entries()


def _in_domain(intervals):
    return [st.floats(lo, hi) for lo, hi in intervals]


def element_values(intervals) -> st.SearchStrategy:
    """Special values, points of the declared domain, and any float64 at all."""
    return st.one_of(
        st.sampled_from(SPECIAL_VALUES),
        *_in_domain(intervals),
        st.floats(allow_nan=True, allow_infinity=True),
    )


@st.composite
def elementwise_arguments(draw, prim: Elementwise):
    """Broadcasting operands (0-d, empty and Python floats included) of one float dtype."""
    dtype = draw(st.sampled_from(FLOATS))
    shapes = draw(hnp.mutually_broadcastable_shapes(
        num_shapes=prim.arity, min_dims=0, max_dims=3, min_side=draw(st.sampled_from([1, 1, 0])),
        max_side=3,
    )).input_shapes
    intervals = prim.domain.intervals if prim.domain is not None else ((-10.0, 10.0),) * prim.arity
    args = []
    for shape, domain in zip(shapes, intervals):
        values = draw(hnp.arrays(np.float64, shape, elements=element_values(domain)))
        if shape == () and dtype is np.float64 and draw(st.booleans()):
            args.append(float(values))
        else:
            args.append(quietly(values.astype, dtype))
    return dtype, args


def _full_shaped(args, like):
    """Every operand broadcast to the result's shape and dtype (Python floats stay floats)."""
    if all(type(a) is float for a in args):
        return list(args)
    value = np.asarray(like)
    return [np.broadcast_to(np.asarray(a, value.dtype), value.shape).copy() for a in args]


def _ones(x):
    return 1.0 if type(x) is float else np.ones_like(x)


def _along(entry, args, i):
    return lambda t: entry.call(*args[:i], t, *args[i + 1:])


@pytest.mark.parametrize("entry", ELEMENTWISE_ENTRIES, ids=lambda e: e.label)
@FUZZ
@given(data=st.data())
def test_elementwise_entry_matches_numpy_and_its_modes_agree(entry, data):
    dtype, args = data.draw(elementwise_arguments(entry.primitive), label="arguments")
    reference = entry.call if isinstance(entry.call, np.ufunc) else entry.primitive.impl
    expected = outcome(reference, *args)
    scalar = all(type(a) is float for a in args)
    if expected.error is not None:
        with pytest.raises(Exception):  # noqa: B017 - any exception, never a number
            quietly(ad.jvp, entry.call, tuple(args), tuple(_ones(a) for a in args))
        return
    ulps = 4 if scalar else 0  # the math module's scalar path

    # values: hand-built tape, inside vjp (value only: its warnings must be NumPy's), inside jvp
    manual = outcome(lambda: entry.call(*[ad.Var(a) for a in args]))
    assert manual.error is None, f"{entry.label} on ad.Var raised {manual.error!r}"
    assert_same_value(manual.value, expected.value, f"{entry.label} on ad.Var", ulps=ulps)
    recorded = outcome(ad.vjp, entry.call, tuple(args))
    assert recorded.error is None, f"{entry.label} inside vjp raised {recorded.error!r}"
    assert_same_value(recorded.value[0], expected.value, f"{entry.label} inside vjp", ulps=ulps)
    assert recorded.warnings == expected.warnings, (
        f"{entry.label}: warnings {set(recorded.warnings)}, NumPy's {set(expected.warnings)}"
    )
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    vs = tuple(float(rng.normal()) if type(a) is float else rng.normal(size=np.shape(a))
               .astype(dtype) for a in args)
    traced, jv = quietly(ad.jvp, entry.call, tuple(args), vs)
    assert_same_value(traced, expected.value, f"{entry.label} inside jvp", ulps=ulps)

    # derivatives, one operand at a time, on operands of the result's shape: elementwise
    full = _full_shaped(args, expected.value)
    at_full = quietly(reference, *full)
    undefined = np.isnan(at_full) & np.all([np.isfinite(a) for a in full], axis=0)
    for i in range(entry.arity):
        what = f"{entry.label} d/dx{i} at {[full[k] for k in range(entry.arity)]}"
        _, forward = quietly(ad.jvp, _along(entry, full, i), full[i], _ones(full[i]))
        _, pullback = quietly(ad.vjp, _along(entry, full, i), full[i])
        reverse = quietly(pullback, _ones(at_full))
        for d in (forward, reverse):
            assert np.shape(d) == np.shape(at_full), f"{what}: shape {np.shape(d)}"
            assert np.result_type(d) == np.result_type(at_full), f"{what}: dtype"
        assert_modes_agree(forward, reverse, dtype, what)
        assert not np.any(np.isfinite(forward) & undefined), (
            f"{what}: finite derivative {np.asarray(forward)[undefined]} where NumPy's value is nan"
        )
        if dtype is np.float64 and entry.primitive.domain is not None:
            assert_central_differences(entry, reference, full, i, forward, at_full, what)

    # all operands at once, broadcasting: the transpose identity
    u = float(rng.normal()) if scalar else rng.normal(size=np.shape(expected.value)).astype(dtype)
    _, pullback = quietly(ad.vjp, entry.call, tuple(args))
    jtu = quietly(pullback, u)
    for cotangent, a in zip(leaves(jtu), args):
        assert np.shape(cotangent) == np.shape(a), f"{entry.label}: cotangent shape"
    assert_pairing(u, jv, jtu, vs, dtype, f"{entry.label} at {args}")


def assert_central_differences(entry, reference, full, i, derivative, value, what):
    """``(f(x + h) - f(x - h)) / 2h`` where every operand lies in the declared domain."""
    domain = entry.primitive.domain
    x = [np.asarray(a, np.float64) for a in full]
    inside = np.isfinite(np.asarray(value, np.float64))
    for xk, intervals in zip(x, domain.intervals):
        inside &= np.any([(lo <= xk) & (xk <= hi) for lo, hi in intervals], axis=0)
    if domain.valid is not None and np.any(inside):
        inside &= np.asarray(quietly(domain.valid, *x), bool)
    if not np.any(inside):
        return
    h = 1e-5 * np.maximum(np.abs(x[i]), 1e-2)

    def central(step):
        plus, minus = list(x), list(x)
        plus[i], minus[i] = x[i] + step, x[i] - step
        f_plus, f_minus = quietly(reference, *plus), quietly(reference, *minus)
        # the differences' own rounding, and their underflow (below the smallest subnormal)
        rounding = (64 * np.finfo(np.float64).eps * np.maximum(abs(f_plus), abs(f_minus))
                    + 2 * np.finfo(np.float64).smallest_subnormal) / step
        return (f_plus - f_minus) / (plus[i] - minus[i]), rounding

    with np.errstate(all="ignore"):
        differences, rounding = central(h)
        # their truncation error (h^2/6 times the third derivative) is a third of D(h) - D(2h)
        # (Richardson): all there is where the derivative is 0 (kl_div(x, 1) at x = 1: -h^2/6)
        wide, wide_rounding = central(2 * h)
        truncation = np.abs(differences - wide) + rounding + wide_rounding
        truncation = np.where(np.isfinite(truncation), truncation, 0.0)
        d = np.asarray(derivative, np.float64)
        error = np.abs(differences - d)
        allowed = 1e-6 * (np.abs(differences) + np.abs(d)) + rounding + truncation
        bad = inside & ~(error <= allowed)
    assert not np.any(bad), (
        f"{what}: derivative {d[bad]}, central differences {differences[bad]} at x = {x[i][bad]}"
    )


# ----------------------------------------------------------------------------------------------
# ufunc keywords and methods
# ----------------------------------------------------------------------------------------------

UFUNC_ENTRIES = [e for e in ELEMENTWISE_ENTRIES if isinstance(e.call, np.ufunc)]
_REDUCIBLE = [e for e in UFUNC_ENTRIES if e.arity == 2]


@st.composite
def ufunc_call(draw, entry):
    """A method of the ufunc and keywords NumPy accepts for it, on float arrays."""
    dtype = draw(st.sampled_from(FLOATS))
    method = draw(st.sampled_from(
        ["__call__", "reduce", "accumulate", "outer"] if entry.arity == 2 else ["__call__"]
    ))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, max_side=3))
    n_operands = 1 if method in ("reduce", "accumulate") else entry.arity
    dtypes = [dtype] + [draw(st.sampled_from(FLOATS)) for _ in range(2)]
    operands = [
        draw(hnp.arrays(np.float64, shape, elements=st.floats(-3, 3).filter(lambda v: v != 0)))
        .astype(dtypes[k]) for k in range(n_operands)
    ]
    mask = draw(hnp.arrays(np.bool_, shape))
    other = draw(st.sampled_from(FLOATS))
    if method == "__call__":
        choices = {"dtype": st.just(other), "casting": st.sampled_from(["no", "same_kind"]),
                   "where": st.just(mask), "out": st.just("out")}
    else:
        choices = {"dtype": st.just(other), "out": st.just("out")}
        if method != "outer":
            choices["axis"] = st.sampled_from([0, -1, None] if method == "reduce" else [0, -1])
        if method == "reduce":
            choices.update(keepdims=st.booleans(), initial=st.floats(-2, 2), where=st.just(mask))
    if entry.label.startswith("scipy"):
        # SciPy 1.17's ufuncs corrupt the heap under a where= mask ("double free" after
        # scipy.special.gammaln(x, where=m), with or without out=): never asked of them
        choices.pop("where", None)
    names = draw(st.lists(st.sampled_from(sorted(choices)), min_size=1, max_size=2, unique=True))
    return method, operands, {name: draw(choices[name]) for name in names}


def _with_out(fn, keywords, shape_of_result):
    if keywords.get("out") != "out":
        return fn
    return lambda *xs: fn(*xs, **{**keywords, "out": np.zeros(shape_of_result, dtype=xs[0].dtype)})


def assert_honoured_or_refused(plain, traced, keywords, what, *, rtol, mask=None):
    """NumPy raises: the traced call raises; else NumPy's value, or a TypeError naming a keyword
    (or the unsupported function / method, when ``keywords`` holds its name)."""
    if plain.error is not None:
        assert traced.error is not None, (
            f"{what}: NumPy raises {plain.error!r}, the traced call returns {traced.value!r}"
        )
        return False
    if traced.error is not None:
        message = str(traced.error)
        assert isinstance(traced.error, TypeError) and any(k in message for k in keywords), (
            f"{what}: NumPy returns a value, the traced call raises {traced.error!r}, which does "
            f"not name any of {sorted(keywords)}"
        )
        return False
    assert_same_value(traced.value, plain.value, what, rtol=rtol, mask=mask)
    return True


@pytest.mark.parametrize("entry", UFUNC_ENTRIES, ids=lambda e: e.label)
@FUZZ
@given(data=st.data())
def test_ufunc_keywords_and_methods_are_honoured_or_refused(entry, data):
    method, operands, keywords = data.draw(ufunc_call(entry), label="call")
    bound = getattr(entry.call, method)
    with_keywords = functools.partial(bound, **{k: v for k, v in keywords.items() if k != "out"})
    plain_value = quietly(outcome, with_keywords, *operands).value
    fn = _with_out(with_keywords, keywords, np.shape(plain_value))
    plain = outcome(fn, *operands)
    named = {*keywords, entry.call.__name__ if method == "__call__" else method}
    what = f"{entry.label}.{method}(**{keywords})"
    # where= without out= leaves NumPy's unselected entries uninitialised: compare the others
    mask = keywords.get("where") if method == "__call__" and "out" not in keywords else None
    if mask is not None and plain.error is None:
        mask = np.broadcast_to(mask, np.shape(plain.value))
    rtol = 0.0 if method in ("__call__", "outer") else RTOL[np.dtype(operands[0].dtype)]
    traced = outcome(lambda: ad.jvp(fn, tuple(operands), tuple(map(np.ones_like, operands)))[0])
    assert_honoured_or_refused(plain, traced, named, what + " inside jvp", rtol=rtol, mask=mask)
    traced = outcome(lambda: ad.vjp(fn, tuple(operands))[0])
    assert_honoured_or_refused(plain, traced, named, what + " inside vjp", rtol=rtol, mask=mask)


# ----------------------------------------------------------------------------------------------
# array primitives and entry points: their declared cases, perturbed
# ----------------------------------------------------------------------------------------------



def _undeclared_entry_cases() -> list[ArrayCase]:
    """Entry points that declare no test case are called on one matrix (NumPy decides whether
    that is legal).  ``np.empty_like``'s values are uninitialised memory: nothing to compare."""
    cases = []
    for table in (UFUNCS, FUNCTIONS):
        for target, handler in table.items():
            if isinstance(handler, Primitive) or ENTRY_POINT_CASES.get(target, (None, ()))[1]:
                continue
            if target is np.empty_like:
                continue
            cases.append(ArrayCase("numpy", f"{target.__name__}-undeclared", ((3, 4),),
                                   lambda _, x, target=target: target(x)))
    return cases


ARRAY_ENTRY_CASES = ARRAY_CASES + NUMPY_CASES + _undeclared_entry_cases()

# NumPy's SVD-based LAPACK calls never return on a matrix with an infinite entry (NumPy 2.4:
# np.linalg.svd, pinv and lstsq of [[inf, 1], [1, 1]] loop forever), so linear-algebra cases get
# finite special values only (their nan/inf behaviour is NumPy's LinAlgError or a hang).
_LINEAR_ALGEBRA_MODULES = ("autodiff.rules.linalg", "autodiff.rules.decompositions")
LINEAR_ALGEBRA_CASES = {
    case.id for case in ARRAY_CASES
    if getattr(REGISTRY[case.primitive].impl, "__module__", "") in _LINEAR_ALGEBRA_MODULES
} | {
    case.id for case in NUMPY_CASES
    for target in ENTRY_POINT_CASES
    if (getattr(target, "__module__", "") or "").startswith("numpy.linalg")
    and case.label.startswith(f"numpy.{target.__name__}-")
}


def _case_function(case: ArrayCase):
    prim = REGISTRY.get(case.primitive)
    return lambda *xs: case.call(prim, *xs)


@st.composite
def perturbed_inputs(draw, case: ArrayCase):
    """The case's inputs at another dtype and scale, possibly reshaped or with a special value.

    Returns ``(inputs, as_declared)``: ``as_declared`` when shapes and finiteness are the
    declaration's own (then the traced call must succeed wherever NumPy does).
    """
    dtype = draw(st.sampled_from(FLOATS))
    shapes = [tuple(s) for s in case.shapes]
    change = draw(st.sampled_from(["none", "none", "batch", "axis"]))
    if change == "batch" and shapes:
        shapes = [(2, *s) for s in shapes]
    elif change == "axis" and any(shapes):
        j = draw(st.sampled_from([k for k, s in enumerate(shapes) if s]))
        axis = draw(st.integers(0, len(shapes[j]) - 1))
        size = max(1, shapes[j][axis] + draw(st.sampled_from([-1, 1])))
        shapes[j] = shapes[j][:axis] + (size,) + shapes[j][axis + 1:]
    seed = draw(st.integers(0, 2**32 - 1))
    perturbed = ArrayCase(case.primitive, case.label, tuple(shapes), case.call, case.sample)
    inputs = sample_inputs(perturbed, np.random.default_rng(seed), np.float64)
    scale = draw(st.sampled_from([1.0, 1.0, 1e-3, 1e3]))
    inputs = [quietly((x * scale).astype, dtype) for x in inputs]
    special = draw(st.sampled_from([None, None, None, *SPECIAL_VALUES]))
    if case.id in LINEAR_ALGEBRA_CASES and not np.isfinite(quietly(dtype, special or 0.0)):
        special = None
    if special is not None and inputs and any(x.size for x in inputs):
        j = draw(st.sampled_from([k for k, x in enumerate(inputs) if x.size]))
        flat = inputs[j].reshape(-1).copy()
        flat[draw(st.integers(0, flat.size - 1))] = quietly(dtype, special)
        inputs[j] = flat.reshape(inputs[j].shape)
    as_declared = change == "none" and all(np.all(np.isfinite(x)) for x in inputs)
    return inputs, as_declared


def _case_tolerance(case: ArrayCase, dtype) -> float:
    """Primitives run their own NumPy ``impl``: bit for bit.  Entry points written with
    primitives follow NumPy's steps, not its code: to the dtype's relative tolerance."""
    return RTOL[np.dtype(dtype)] if case.primitive == "numpy" else 0.0


@pytest.mark.parametrize("case", ARRAY_ENTRY_CASES, ids=lambda c: c.id)
@FUZZ_CASES
@given(data=st.data())
def test_array_entry_matches_numpy_and_its_modes_agree(case, data):
    inputs, as_declared = data.draw(perturbed_inputs(case), label="inputs")
    f = _case_function(case)
    dtype = inputs[0].dtype if inputs else np.float64
    expected = outcome(f, *inputs)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    vs = tuple(rng.normal(size=x.shape).astype(x.dtype) for x in inputs)
    forward = outcome(ad.jvp, f, tuple(inputs), vs)
    recorded = outcome(ad.vjp, f, tuple(inputs))
    what = f"{case.id} on {[x.shape for x in inputs]} {dtype}"
    if expected.error is not None:
        assert forward.error is not None and recorded.error is not None, (
            f"{what}: NumPy raises {expected.error!r}, the traced call returns a value"
        )
        return
    for traced in (forward, recorded):
        if traced.error is not None:
            assert not as_declared, f"{what}: NumPy returns a value, traced raises {traced.error!r}"
            return
    rtol = _case_tolerance(case, dtype)
    assert_same_value(forward.value[0], expected.value, f"{what} inside jvp", rtol=rtol)
    assert_same_value(recorded.value[0], expected.value, f"{what} inside vjp", rtol=rtol)
    u = [rng.normal(size=np.shape(y)).astype(np.result_type(y)) for y in leaves(expected.value)]
    cotangent = u if isinstance(expected.value, (tuple, list)) else u[0]
    if isinstance(expected.value, tuple) and type(expected.value) is not tuple:
        cotangent = type(expected.value)(*u)  # a named tuple (EighResult, SVDResult, ...)
    jtu = quietly(recorded.value[1], cotangent)
    jtu = jtu if isinstance(jtu, tuple) else (jtu,)
    for c, x in zip(jtu, inputs):
        assert np.shape(c) == x.shape, f"{what}: cotangent shape {np.shape(c)}, input {x.shape}"
    assert_pairing(u, forward.value[1], jtu, vs, dtype, what)


# ----------------------------------------------------------------------------------------------
# keywords of the NumPy entry points
# ----------------------------------------------------------------------------------------------

KEYWORD_NAMES = ("axis", "keepdims", "dtype", "where", "initial", "ddof", "out")


def _keywords_of(fn) -> tuple:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return ()
    return tuple(name for name in KEYWORD_NAMES if name in parameters)


KEYWORD_CASES = [
    pytest.param(target, case, id=f"{getattr(target, '__name__', target)}-{case.label}")
    for target, (_, cases) in ENTRY_POINT_CASES.items()
    if _keywords_of(target) and not isinstance(target, np.ufunc)
    for case in cases[:1]
]


@st.composite
def entry_keywords(draw, target, x):
    names = draw(st.lists(st.sampled_from(_keywords_of(target)), min_size=1, max_size=2,
                          unique=True))
    ndim = x.ndim
    axes = [None, *range(-ndim, ndim)] + ([(0, ndim - 1)] if ndim >= 2 else [])
    choices = {
        "axis": st.sampled_from(axes),
        "keepdims": st.booleans(),
        "dtype": st.sampled_from(FLOATS),
        "where": hnp.arrays(np.bool_, x.shape),
        "initial": st.floats(-2, 2),
        "ddof": st.integers(0, 2),
        "out": st.just("out"),
    }
    return {name: draw(choices[name]) for name in names}


@pytest.mark.parametrize("target, case", KEYWORD_CASES)
@FUZZ_CASES
@given(data=st.data())
def test_entry_point_keywords_are_honoured_or_refused(target, case, data):
    dtype = data.draw(st.sampled_from(FLOATS), label="dtype")
    inputs = sample_inputs(case, np.random.default_rng(0), dtype)
    keywords = data.draw(entry_keywords(target, inputs[0]), label="keywords")
    with_keywords = functools.partial(target, **{k: v for k, v in keywords.items() if k != "out"})
    plain_value = quietly(outcome, lambda *xs: case.call(with_keywords, *xs), *inputs).value
    call = _with_out(with_keywords, keywords, np.shape(plain_value))

    def f(*xs):
        return case.call(call, *xs)

    plain = outcome(f, *inputs)
    what = f"np.{target.__name__}(**{keywords}) in case {case.label}"
    rtol = RTOL[np.dtype(dtype)]
    vs = tuple(np.ones_like(x) for x in inputs)
    forward = outcome(ad.jvp, f, tuple(inputs), vs)
    value = Outcome(forward.value[0]) if forward.error is None else forward
    if assert_honoured_or_refused(plain, value, keywords, what + " inside jvp", rtol=rtol):
        recorded = outcome(ad.vjp, f, tuple(inputs))
        assert recorded.error is None, f"{what}: jvp works, vjp raises {recorded.error!r}"
        assert_same_value(recorded.value[0], plain.value, what + " inside vjp", rtol=rtol)


# ----------------------------------------------------------------------------------------------
# bad input (issue 9): no rule, refused keyword, complex values
# ----------------------------------------------------------------------------------------------

NO_RULE = sorted(
    (fn for fn in (np.sort, np.cumprod, np.diff, np.unwrap, np.i0, np.trapezoid, np.fft.fft,
                   np.convolve, np.interp, np.gradient, np.spacing, np.nextafter, np.ldexp,
                   np.frexp, np.modf, np.nancumsum, np.ptp)
     if fn not in FUNCTIONS and fn not in UFUNCS and fn not in PRIMAL_FUNCTIONS
     and fn not in PRIMAL_UFUNCS),
    key=lambda fn: fn.__name__,
)


@pytest.mark.parametrize("fn", NO_RULE, ids=lambda fn: fn.__name__)
def test_a_function_without_a_rule_names_itself_and_points_to_custom_primitive(fn):
    arity = fn.nin if isinstance(fn, np.ufunc) else 1
    x = np.linspace(0.5, 2.0, 4)
    with pytest.raises(TypeError) as raised:
        ad.grad(lambda v: np.sum(fn(*[v] * arity)))(x)
    assert fn.__name__ in str(raised.value)
    assert "custom.primitive" in str(raised.value)


def test_a_refused_keyword_names_itself():
    x = np.linspace(0.5, 2.0, 4)
    with pytest.raises(TypeError, match="out"):
        ad.grad(lambda v: np.sum(np.sin(v, out=np.zeros(4))))(x)
    with pytest.raises(TypeError, match="out"):
        ad.grad(lambda v: np.sum(np.cumsum(v, out=np.zeros(4))))(x)


@pytest.mark.parametrize(
    "f, x",
    [
        (lambda v: np.sum(np.abs(v + 1j)), 0.5),
        (lambda v: np.sum(v * np.array([1j, 2.0])), np.ones(2)),
        (lambda v: np.sum(np.exp(v) * (1 + 2j)), np.ones(2)),
    ],
    ids=["abs of a complex sum", "complex constant array", "complex scalar"],
)
@pytest.mark.parametrize("transform", ["grad", "jacfwd"])
def test_complex_values_raise_type_error(f, x, transform):
    with pytest.raises(TypeError, match="complex"):
        getattr(ad, transform)(f)(x)
