"""Testing helpers: check derivatives against finite differences and against each other.

:func:`check_grads` makes three checks at a point ``x`` along random directions ``v`` (inputs)
and ``u`` (outputs):

1. **forward mode vs central differences**: ``J v`` from ``ad.jvp`` against
   ``(f(x + h v) - f(x - h v)) / 2h`` (computed in float64), element by element;
2. **reverse mode vs central differences**: ``<J^T u, v>`` from ``ad.vjp`` against ``<u, (f(x + h v)
   - f(x - h v)) / 2h>``;
3. **forward vs reverse, exactly**: ``<u, J v> = <J^T u, v>``.  Both sides are the same bilinear
   form computed by two different programs, so they agree to rounding: no step size, no
   truncation error, no noise -- a wrong rule cannot hide behind a loose tolerance.

With ``order=2`` the same checks run again on the derivative programs themselves,
``(x, v) -> J(x) v`` and ``(x, u) -> J(x)^T u`` (forward-over-forward, reverse-over-forward, and so
on), which exercises every rule's rule.  Any failure raises one ``AssertionError`` listing every
failed check with the numbers involved.

:func:`check_hvp` compares ``ad.hvp`` with differenced gradients (Aggarwal, *Neural Networks and
Deep Learning*, Springer 2018, sec. 3.5.6.1, in its central form):
``H v ~ (grad f(x + h v) - grad f(x - h v)) / 2h``.

Inputs follow ``ad.jvp``: ``x`` is a float, an array or a pytree, and a tuple means several
arguments (``f(*x)``).  Finite differences always run in float64 (float32 inputs are upcast for
them); tolerances default by the lowest input precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .check import DEFAULT_STEP, ad_gradient, call_with, to_float64
from .flat import ravel
from .levels import hold_module_state
from .pytree import flatten, unflatten
from .rules.primitive import dtype_of
from .transforms import hvp, jvp, vjp

__all__ = ["check_grads", "check_hvp"]

_MODES = ("fwd", "rev")


@dataclass(frozen=True)
class _Tolerances:
    atol: float
    rtol: float
    identity_rtol: float
    eps: float

    @classmethod
    def for_inputs(cls, x, atol, rtol, eps):
        """Defaults by precision: float32 inputs get looser finite-difference tolerances."""
        single = any(np.result_type(leaf) == np.float32 for leaf in flatten(x)[0])
        default_atol, default_rtol, identity = (1e-4, 1e-3, 1e-4) if single else (1e-6, 1e-5, 1e-10)
        eps = DEFAULT_STEP if eps is None else float(eps)
        if not eps > 0:
            raise ValueError(f"the finite-difference step eps must be positive, got {eps!r}")
        return cls(
            default_atol if atol is None else float(atol),
            default_rtol if rtol is None else float(rtol),
            identity,
            eps,
        )


# ----------------------------------------------------------------------------------------------
# small helpers on pytrees
# ----------------------------------------------------------------------------------------------


def _random_like(tree, rng):
    """A standard-normal pytree shaped and typed like ``tree`` (floats stay Python floats)."""
    leaves, treedef = flatten(tree)
    out = []
    for leaf in leaves:
        sample = rng.standard_normal(np.shape(leaf))
        if isinstance(leaf, float):
            out.append(float(sample))
        else:
            dtype = dtype_of(leaf)
            out.append(sample.astype(dtype if np.issubdtype(dtype, np.floating) else np.float64))
    return unflatten(treedef, out)


def _shifted(x64, v, h):
    """``x + h v`` leaf by leaf (``x64`` already float64)."""
    x_leaves, treedef = flatten(x64)
    v_leaves, _ = flatten(v)
    return unflatten(
        treedef,
        [x + h * (float(d) if isinstance(x, float) else np.asarray(d, np.float64))
         for x, d in zip(x_leaves, v_leaves)],
    )


def _step(x, v, eps) -> float:
    """A step ``h`` moving each coordinate by at most ``eps * max(1, |x|_inf)``."""
    scale = max(1.0, float(np.max(np.abs(ravel(x)), initial=0.0)))
    v_size = float(np.max(np.abs(ravel(v)), initial=0.0))
    return eps * scale / v_size if v_size > 0 else eps


def _central_difference(fn, x, v, eps) -> np.ndarray:
    """``(fn(x + h v) - fn(x - h v)) / 2h`` in float64, flattened over the output's leaves."""
    x64 = to_float64(x)
    h = _step(x64, v, eps)
    upper = ravel(call_with(fn, _shifted(x64, v, h)))
    lower = ravel(call_with(fn, _shifted(x64, v, -h)))
    return (upper - lower) / (2 * h)


def _where(tree, flat_index: int) -> str:
    """A readable location of flat element ``flat_index`` of ``tree``'s leaves."""
    leaves, _ = flatten(tree)
    offset = 0
    for number, leaf in enumerate(leaves):
        shape = np.shape(leaf)
        size = int(np.prod(shape, dtype=int))
        if flat_index < offset + size:
            position = np.unravel_index(flat_index - offset, shape) if shape else ()
            place = f"[{', '.join(str(int(p)) for p in position)}]" if shape else "(scalar)"
            return place if len(leaves) == 1 else f"leaf {number} {place}"
        offset += size
    return f"element {flat_index}"


def _compare_arrays(what, computed, expected, tree, tol, problems) -> None:
    """Elementwise ``|computed - expected| <= atol + rtol |expected|``; report the worst."""
    if computed.shape != expected.shape:
        problems.append(f"{what}: {computed.size} values, expected {expected.size}")
        return
    allowed = tol.atol + tol.rtol * np.abs(expected)
    excess = np.abs(computed - expected) / allowed
    if computed.size == 0 or np.all(excess <= 1):
        return
    worst = int(np.nanargmax(np.where(np.isnan(excess), np.inf, excess)))
    bad = int(np.count_nonzero(~(excess <= 1)))
    problems.append(
        f"{what}: {bad} of {computed.size} values differ; worst at {_where(tree, worst)}: "
        f"AD {computed[worst]:.10g} vs finite differences {expected[worst]:.10g} "
        f"(|error| {abs(computed[worst] - expected[worst]):.3g}, allowed "
        f"{allowed[worst]:.3g} = atol {tol.atol:g} + rtol {tol.rtol:g} * |FD|)"
    )


def _check_dtypes(what, computed, like, problems) -> None:
    """Tangents / cotangents keep their primal's floating dtype (float32 stays float32)."""
    for number, (c, p) in enumerate(zip(flatten(computed)[0], flatten(like)[0])):
        expected = dtype_of(p)
        if np.issubdtype(expected, np.floating) and dtype_of(c) != expected:
            problems.append(
                f"{what}: leaf {number} has dtype {dtype_of(c)}, expected {expected} (the "
                "primal's)"
            )


# ----------------------------------------------------------------------------------------------
# check_grads
# ----------------------------------------------------------------------------------------------


@hold_module_state()  # finite differences need one network: no dropout redraw, no statistics
def check_grads(
    f, x, modes=_MODES, order: int = 2, *, atol=None, rtol=None, eps=None, seed: int = 0
) -> None:
    """Check ``f``'s derivatives at ``x``: finite differences and ``<u, J v> = <J^T u, v>``.

    Parameters
    ----------
    f:
        A function of float / array / pytree inputs with float / array / pytree outputs.
    x:
        The point (a tuple: several arguments, ``f(*x)``).
    modes:
        ``"fwd"`` (``ad.jvp``), ``"rev"`` (``ad.vjp``) or both; with both, the exact
        forward/reverse identity is checked too.
    order:
        ``1`` checks first derivatives; ``2`` (default) also checks the derivative programs
        ``(x, v) -> J v`` and ``(x, u) -> J^T u`` the same way; higher orders recurse further.
    atol, rtol:
        Tolerances of the finite-difference comparisons, ``|AD - FD| <= atol + rtol |FD|``
        (defaults 1e-6 and 1e-5; 1e-4 and 1e-3 when an input is float32).
    eps:
        Finite-difference step, relative to ``max(1, |x|_inf)`` (default about 6e-6).
    seed:
        Seed of the random directions ``u`` and ``v`` (checks are reproducible).

    Raises ``AssertionError`` listing every failed check.

    >>> import numpy as np, autodiff as ad
    >>> ad.testing.check_grads(lambda x: np.tanh(x) * x[::-1], np.array([0.1, -0.4, 2.0]))
    """
    modes = _validate_modes(modes)
    if not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"order must be a positive integer, got {order!r}")
    tol = _Tolerances.for_inputs(x, atol, rtol, eps)
    problems: list[str] = []
    _check(f, x, modes, int(order), tol, np.random.default_rng(seed), "f", problems)
    if problems:
        raise AssertionError(
            f"check_grads found {len(problems)} problem(s) (modes {', '.join(modes)}, "
            f"order {order}):\n" + "\n".join(f"  - {p}" for p in problems)
        )


def _validate_modes(modes) -> tuple:
    if isinstance(modes, str):
        modes = (modes,)
    modes = tuple(modes)
    unknown = [m for m in modes if m not in _MODES]
    if unknown or not modes:
        raise ValueError(f"modes must be a non-empty subset of {_MODES}, got {modes!r}")
    return modes


def _inner(a, b) -> float:
    return float(np.dot(ravel(a), ravel(b)))


def _abs_inner(a, b) -> float:
    return float(np.dot(np.abs(ravel(a)), np.abs(ravel(b))))


def _check(fn, x, modes, order, tol, rng, label, problems) -> None:
    value = call_with(fn, x)
    v = _random_like(x, rng)
    u = _random_like(value, rng)
    expected_value = ravel(value)
    forward = reverse = None
    if "fwd" in modes:
        primal_out, forward = jvp(fn, x, v)
        _compare_exact(f"jvp of {label}: primal output vs {label}(x)", ravel(primal_out),
                       expected_value, tol, problems)
        _check_dtypes(f"jvp of {label}: tangent", forward, value, problems)
    if "rev" in modes:
        primal_out, pullback = vjp(fn, x)
        _compare_exact(f"vjp of {label}: primal output vs {label}(x)", ravel(primal_out),
                       expected_value, tol, problems)
        reverse = pullback(u)
        _check_dtypes(f"vjp of {label}: cotangent", reverse, x, problems)
    differences = _central_difference(fn, x, v, tol.eps)
    if forward is not None:
        _compare_arrays(f"[fwd] J v of {label} vs central differences", ravel(forward),
                        differences, value, tol, problems)
    if reverse is not None:
        computed, expected = _inner(reverse, v), float(np.dot(ravel(u), differences))
        allowed = tol.atol * float(np.sum(np.abs(ravel(u)))) + tol.rtol * float(
            np.dot(np.abs(ravel(u)), np.abs(differences))
        )
        if not abs(computed - expected) <= allowed:
            problems.append(
                f"[rev] <J^T u, v> of {label} = {computed:.10g} vs <u, central differences> = "
                f"{expected:.10g} (|error| {abs(computed - expected):.3g}, allowed {allowed:.3g})"
            )
    if forward is not None and reverse is not None:
        left, right = _inner(u, forward), _inner(reverse, v)
        allowed = tol.identity_rtol * (_abs_inner(u, forward) + _abs_inner(reverse, v))
        if not abs(left - right) <= allowed:
            problems.append(
                f"[fwd/rev] exact identity fails for {label}: <u, J v> = {left:.15g} but "
                f"<J^T u, v> = {right:.15g} (|difference| {abs(left - right):.3g}, allowed "
                f"{allowed:.3g}): the forward and reverse rules disagree"
            )
    if order > 1:
        if "fwd" in modes:
            _check(lambda x_, v_: jvp(fn, x_, v_)[1], (x, v), modes, order - 1, tol, rng,
                   f"(x, v) -> J v of {label}", problems)
        if "rev" in modes:
            _check(lambda x_, u_: vjp(fn, x_)[1](u_), (x, u), modes, order - 1, tol, rng,
                   f"(x, u) -> J^T u of {label}", problems)


def _compare_exact(what, computed, expected, tol, problems) -> None:
    """Values that must agree to rounding (a transform's primal output vs calling f)."""
    scale = np.abs(expected) + np.abs(computed)
    if computed.shape != expected.shape or not np.all(
        np.abs(computed - expected) <= tol.identity_rtol * scale + 1e-300
    ):
        problems.append(f"{what}: {computed!r} differs from {expected!r}")


# ----------------------------------------------------------------------------------------------
# check_hvp
# ----------------------------------------------------------------------------------------------


def check_hvp(f, x, v, *, atol=None, rtol=None, eps=None) -> None:
    """Check ``ad.hvp(f, x, v)`` against differenced gradients (Aggarwal 2018, sec. 3.5.6.1).

    Aggarwal differences forward, ``(grad f(x + h v) - grad f(x)) / h``; this uses the central form,
    ``H v ~ (grad f(x + h v) - grad f(x - h v)) / 2h``, gradients by reverse mode at float64
    points.  ``x`` and ``v`` are as for ``ad.hvp`` (a tuple: several arguments).  Tolerances and
    ``eps`` as in :func:`check_grads`.  Raises ``AssertionError`` with the worst element.

    >>> import numpy as np, autodiff as ad
    >>> ad.testing.check_hvp(lambda x: np.sum(x ** 4), np.array([1.0, -2.0]), np.array([0.5, 1.0]))
    """
    tol = _Tolerances.for_inputs(x, atol, rtol, eps)
    computed = ravel(hvp(f, x, v))
    x64 = to_float64(x)
    h = _step(x64, v, tol.eps)
    upper = ravel(ad_gradient(f, _shifted(x64, v, h)))
    lower = ravel(ad_gradient(f, _shifted(x64, v, -h)))
    problems: list[str] = []
    _compare_arrays("hvp vs differenced gradients", computed, (upper - lower) / (2 * h), x, tol,
                    problems)
    if problems:
        raise AssertionError("check_hvp failed: " + problems[0])
