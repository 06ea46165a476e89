"""Build an :class:`~autodiff.optim.objective.Objective` from a function on a pytree, by autodiff.

For ``f`` taking a pytree shaped like ``x0``, the flat objective is ``z -> f(unravel(z))`` in the
layout of :mod:`autodiff.flat`. Its derivatives come from the autodiff transforms applied to
``f`` on the tree itself:

* ``∇f``:   ``value_and_grad(f)(x)``, one forward and one reverse sweep, raveled;
* ``H v``:  ``hvp_operator(f, (x,))``; its flat vectors are exactly the objective's (``(x,)``
  says that ``x`` is one argument even when it is a tuple);
* ``H``:    the linearisation of ``grad f`` at the point applied to the ``n`` unit vectors in one
  batched replay.

With ``jit=True`` (the default) the gradient and the Hessian-vector products are compiled
(:func:`autodiff.jit`): ``value_and_grad(f)`` and ``hvp(f, x, v)`` (inside ``hvp_operator``) are
recorded once and replayed for every point and every direction, without a per-point
linearisation.  A function that cannot be recorded (:class:`~autodiff.jit.JitError`: a random
draw inside it, a traced value held in a closure, ...) falls back to the eager derivatives,
once, with a ``RuntimeWarning`` naming the reason (:mod:`autodiff.jit.fallback`).

The compiled derivatives belong to ``f`` (held weakly, as :func:`~autodiff.hvp_operator` holds
its compiled products): a later ``minimize(f, ...)`` of the same function replays the recordings
of the earlier calls instead of recording again (about 4 ms at n = 1000, more than the whole
minimisation of 1000-d Rosenbrock otherwise costs), as a function under ``jax.jit`` is compiled
once. A recording holds the arrays ``f`` captured as constants, so before reusing one the first
evaluation also calls ``f`` itself at the starting point and compares the values: when they
differ (a global or a captured array changed in between), ``f`` is recorded afresh.
"""

import functools
import weakref

import numpy as np

from ..jit.fallback import CompiledOrEager
from ..second_order import _compiled_hvp
from ..second_order import hvp_operator as hessian_operator
from ..transforms import value_and_grad as value_and_gradient
from .objective import Objective

__all__ = ["autodiff_objective"]


def _checked(f, f_ref):
    """``f`` (called through ``f_ref()``), refusing a ``None`` result with a hint."""

    @functools.wraps(f, assigned=("__module__", "__name__", "__qualname__"), updated=())
    def checked_f(x):
        value = f_ref()(x)
        if value is None:
            raise TypeError("f returned None; it must return the scalar to minimise "
                            "(is a return statement missing?)")
        return value

    del checked_f.__wrapped__  # wraps() would hold f strongly, and the caches key on f weakly
    return checked_f


class _CompiledDerivatives:
    """``f``'s compiled ``value_and_grad`` and (through :func:`~autodiff.hvp_operator`'s cache,
    keyed by ``checked_f``) its compiled Hessian-vector product; ``f`` is held weakly."""

    def __init__(self, f, f_ref):
        self.checked_f = _checked(f, f_ref)
        checked_f = self.checked_f
        self.value_and_grad = CompiledOrEager(
            lambda x: value_and_gradient(checked_f)(x),
            f"the gradient of the objective {checked_f.__qualname__}")

    def clear(self):
        """Forget the recordings: the next calls record ``f`` again."""
        self.value_and_grad.compiled.clear()
        _compiled_hvp(self.checked_f).compiled.clear()


_FLOATS = (float, np.float64)

#: f -> its _CompiledDerivatives, shared by every minimisation of f
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _compiled_derivatives(f):
    """``(derivatives, reused)``: ``f``'s compiled derivatives, and whether an earlier
    minimisation made them (so their recordings may predate a change of what ``f`` reads)."""
    try:
        derivatives = _COMPILED.get(f)
    except TypeError:  # not weakly referable: compiled for this minimisation only
        return _CompiledDerivatives(f, lambda: f), False
    if derivatives is not None:
        return derivatives, True
    derivatives = _COMPILED[f] = _CompiledDerivatives(f, weakref.ref(f))
    return derivatives, False


def _same_value(a, b) -> bool:
    if type(a) in _FLOATS and type(b) in _FLOATS:
        return a == b or (a != a and b != b)  # equal, or both nan
    try:
        return bool(np.array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64),
                                   equal_nan=True))
    except (TypeError, ValueError):  # not a number: the objective's own check names it
        return True


def autodiff_objective(f, spec, jit_derivatives: bool = True):
    """The flat objective ``z -> f(spec.unravel(z))`` with derivatives from ``autodiff``.

    ``spec`` is the float64 :class:`~autodiff.flat.FlatSpec` of the starting point;
    ``jit_derivatives`` compiles the gradient and the Hessian-vector products (see the module
    docstring).
    """
    if not callable(f):
        raise TypeError(f"f must be a callable to minimise, got {type(f).__name__}")

    if jit_derivatives:
        derivatives, unchecked = _compiled_derivatives(f)
        checked_f = derivatives.checked_f
        compiled = derivatives.value_and_grad

        def value_and_grad_of_tree(x):
            nonlocal unchecked
            value, gradient = compiled(x)
            if unchecked:  # recorded by an earlier minimisation: is it still f?
                unchecked = False
                if compiled.reason is None and not _same_value(checked_f(x), value):
                    derivatives.clear()
                    value, gradient = compiled(x)
            return value, gradient
    else:
        checked_f = _checked(f, lambda: f)

        def value_and_grad_of_tree(x):
            return value_and_gradient(checked_f)(x)

    one_vector = spec.treedef.kind == "leaf" and len(spec.shapes[0]) == 1
    if one_vector:
        # x0 is one vector (of float64, as every flat vector here): its trees are the vectors
        def unravel(z):
            if z.shape != (spec.size,):
                return spec.unravel(z)  # which raises, naming the shape
            return z.copy()  # f gets its own array, as from spec.unravel

        def ravel(gradient):
            if type(gradient) is np.ndarray and gradient.dtype == np.float64 \
                    and gradient.shape == (spec.size,):
                return gradient  # a new array from the transform: spec.ravel would copy it
            return spec.ravel(gradient, "gradient")
    else:
        unravel = spec.unravel

        def ravel(gradient):
            return spec.ravel(gradient, "gradient")

    def fun(z):
        return checked_f(unravel(z))

    def value_and_grad(z):
        value, gradient = value_and_grad_of_tree(unravel(z))
        return value, ravel(gradient)

    def hvp_operator(z):
        # hessian_operator holds its own copy of the point: a vector goes as it is
        x = z if one_vector and z.shape == (spec.size,) else unravel(z)
        # one argument: (x,) even when x is a tuple, x itself if an array
        return hessian_operator(checked_f, x if isinstance(x, np.ndarray) else (x,),
                                jit=jit_derivatives)

    def hessian(z):  # the n unit vectors in one batched replay of the linearisation
        return hessian_operator(checked_f, (unravel(z),), jit=False).matmat(np.eye(spec.size))

    return Objective(fun, value_and_grad=value_and_grad, hvp_operator=hvp_operator,
                     hessian=hessian)
