"""``check_grad``: how far an AD gradient is from central differences, as one number.

Aggarwal (*Neural Networks and Deep Learning*, 2018, sec. 3.3, "Checking the correctness of
gradient computation") compares the algorithm-determined derivative ``G_e`` with a finite-difference
estimate ``G_a`` through a ratio that should stay below ``1e-6`` (``1e-3`` with ReLU kinks
about).  :func:`check_grad` computes its symmetric,
whole-gradient form

    rho = ||G_e - G_a|| / (||G_e|| + ||G_a||),

with ``G_e`` the gradient by reverse mode and ``G_a`` central differences in float64,
``(f(x + h e_i) - f(x - h e_i)) / 2h`` for every coordinate ``i`` (error ``O(h^2)`` instead of the
one-sided ``O(h)`` difference in Aggarwal's sec. 3.3).  ``rho`` is symmetric in the two gradients,
lies in ``[0, 1]``, and is ``0`` when both are zero.

With ``jit=True`` (the default) the gradient checked is the compiled one (:func:`autodiff.jit`,
through :mod:`autodiff.jit.fallback`): ``grad f`` is recorded at ``x`` and the *replay* is
compared, the code a user calling ``ad.jit(ad.grad(f))``, ``minimize`` or ``fit`` runs (bit for
bit the eager gradient where the same operations run, so a difference between the two is a
bug of the replay, caught here).  The evaluations of ``f`` at perturbed points stay plain calls:
on arrays ``f`` is NumPy code already, which a replay would only wrap.  A function whose
gradient cannot be recorded is checked eagerly, after one ``RuntimeWarning`` naming the reason;
``jit=False`` checks the eager gradient.

The helpers below (evaluation at perturbed points) are shared with :mod:`autodiff.testing`; the
pytree is a flat float64 vector in :mod:`autodiff.flat`'s layout.
"""

from __future__ import annotations

import functools

import numpy as np

from .flat import ravel, ravel_pytree
from .jit.fallback import CompiledOrEager
from .pytree import flatten, unflatten
from .rules.primitive import primal_value
from .transforms import grad

__all__ = ["check_grad"]

#: Default central-difference step: the cube root of float64's machine epsilon balances the
#: O(h^2) truncation error against the O(eps / h) rounding error.
DEFAULT_STEP = float(np.cbrt(np.finfo(np.float64).eps))


def call_with(f, x):
    """``f(*x)`` for a tuple (several arguments), else ``f(x)`` -- the convention of ``jvp``."""
    return f(*x) if isinstance(x, tuple) else f(x)


def to_float64(tree):
    """A copy of the pytree ``tree`` whose leaves are float64 (floats stay Python floats)."""
    leaves, treedef = flatten(tree)
    return unflatten(
        treedef,
        [leaf if isinstance(leaf, float) else np.asarray(leaf, dtype=np.float64) for leaf in leaves],
    )


def _argnums(x):
    return tuple(range(len(x))) if isinstance(x, tuple) else 0


def ad_gradient(f, x):
    """``grad f`` at ``x`` (a tuple: all arguments), with the structure of ``x``."""
    return grad(f, _argnums(x))(*(x if isinstance(x, tuple) else (x,)))


def central_difference_gradient(f, x, eps=None) -> np.ndarray:
    """The gradient of scalar ``f`` at ``x`` by central differences, flat, in float64.

    Coordinate ``i`` uses the step ``h_i = eps * max(1, |x_i|)``.
    """
    eps = DEFAULT_STEP if eps is None else float(eps)
    if not eps > 0:
        raise ValueError(f"the finite-difference step eps must be positive, got {eps!r}")
    point, spec = ravel_pytree(x, "x", np.float64)
    estimate = np.empty_like(point)
    for i in range(point.size):
        h = eps * max(1.0, abs(point[i]))
        shifted = point.copy()
        shifted[i] = point[i] + h
        upper = _scalar_value(call_with(f, spec.unravel(shifted)))
        shifted[i] = point[i] - h
        lower = _scalar_value(call_with(f, spec.unravel(shifted)))
        estimate[i] = (upper - lower) / (2 * h)
    return estimate


def _scalar_value(value) -> float:
    value = np.asarray(primal_value(value), dtype=np.float64)
    if value.shape != ():
        raise TypeError(
            f"check_grad needs a scalar-valued function, got an output of shape {value.shape}"
        )
    return float(value)


def _name(f) -> str:
    return getattr(f, "__qualname__", None) or type(f).__name__


def check_grad(f, x, eps=None, jit: bool = True) -> float:
    """``||G_e - G_a|| / (||G_e|| + ||G_a||)``: reverse-mode gradient vs central differences.

    Parameters
    ----------
    f:
        A scalar-valued function.
    x:
        A float, an array or a pytree; a tuple means several arguments (``f(*x)``), as for
        ``ad.jvp`` and ``ad.hvp``.
    eps:
        Relative finite-difference step (default: the cube root of float64's machine
        epsilon, about 6e-6).
    jit:
        Check the compiled gradient's replay (the default; see the module docstring), or, with
        ``False``, the eager gradient.

    Returns the ratio as a float; Aggarwal's rule of thumb (sec. 3.3): below ``1e-6`` is right,
    around ``1e-3`` is expected only near kinks.

    >>> import numpy as np, autodiff as ad
    >>> ad.check_grad(lambda x: np.sum(np.sin(x) ** 2), np.array([0.1, 0.7, 2.0])) < 1e-9
    True
    """
    gradient = functools.partial(ad_gradient, f)
    if jit:
        gradient = CompiledOrEager(gradient, f"the gradient of {_name(f)}")
        gradient(x)  # recorded here: the replay below is the gradient checked
    exact = ravel(gradient(x))
    approximate = central_difference_gradient(f, x, eps)
    scale = np.linalg.norm(exact) + np.linalg.norm(approximate)
    if scale == 0:
        return 0.0
    return float(np.linalg.norm(exact - approximate) / scale)
