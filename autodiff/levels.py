"""Levels: what keeps nested transforms apart.

Every transform call (``jvp``, ``grad``, ``jacfwd``, ...) opens a :class:`Level` with a unique,
increasing id.  A traced value (:class:`~autodiff.forward.dual.Dual` or
:class:`~autodiff.reverse.var.Var`) belongs to exactly one level.  When a primitive sees traced
operands of several levels, the newest (highest id) level handles it and treats every value of an
older level as a constant; the primal computation is handed down to the older levels.  This is the
tagging of ForwardDiff.jl and the trace levels of autograd/JAX, and it is why perturbations of
different transforms never mix (the "perturbation confusion" of Siskind & Pearlmutter).

While a transform's level is open, module state is *held* (:func:`hold_module_state`): network
layers with state (batch-norm statistics, dropout masks) see one fixed network, however often the
transform runs the function.

A level closes when its transform returns.  A value of a closed level that is used later (kept in
a closure, a generator, a module attribute) raises :class:`EscapedTracerError` instead of being
confused with a newer level.

Values built by hand outside any transform (``ad.Dual(2.0, 1.0)``, ``ad.Var(x)``) belong to the
*manual* levels of their context (a :mod:`contextvars` variable), which never close: each thread
makes its own on first use; asyncio tasks share their parent's when it had made one already.
Sharing a level never mixes tapes: a tape is the graph reached backwards from an output, so two
computations recorded at one level stay apart.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools

__all__ = [
    "Level",
    "EscapedTracerError",
    "new_level_id",
    "manual_level",
    "no_grad",
    "recording_threshold",
    "hold_module_state",
    "held_module_state",
]

_ids = itertools.count(1)


def new_level_id() -> int:
    """A fresh id, larger than every id handed out before (so newer levels win)."""
    return next(_ids)


class EscapedTracerError(RuntimeError):
    """A traced value was used after the transform that made it had returned."""


class Level:
    """One interpretation of the primitives: a forward (JVP) or reverse (tape) level.

    Subclasses implement :meth:`process`, which receives a primitive with at least one operand
    of this level, and is the only place that level's values are unpacked.
    """

    kind = "level"
    __slots__ = ("id", "active", "manual", "_hold_token", "__weakref__")

    def __init__(self, manual: bool = False):
        self.id = new_level_id()
        self.active = True
        self.manual = manual
        self._hold_token = None if manual else _start_holding()

    def close(self) -> None:
        self.active = False
        if self._hold_token is not None:
            _held_state.reset(self._hold_token)
            self._hold_token = None

    def escaped(self, what: str = "value") -> EscapedTracerError:
        return EscapedTracerError(
            f"a {what} of {self.kind} level #{self.id} was used after the transform that created "
            "it returned (it escaped through a closure, a generator or saved state). Values "
            "produced inside a transform are only valid inside it: return them from the "
            "function instead, or apply ad.stop_gradient to keep a constant copy."
        )

    def __repr__(self) -> str:
        state = "manual" if self.manual else ("active" if self.active else "closed")
        return f"<{type(self).__name__} #{self.id} {state}>"


_manual_levels: contextvars.ContextVar[dict] = contextvars.ContextVar("autodiff_manual_levels")


def manual_level(cls: type[Level]) -> Level:
    """The never-closing level of kind ``cls`` for hand-built values in the current context."""
    try:
        levels = _manual_levels.get()
    except LookupError:
        levels = {}
        _manual_levels.set(levels)
    level = levels.get(cls)
    if level is None:
        level = levels[cls] = cls(manual=True)
    return level


_no_grad_below: contextvars.ContextVar[int] = contextvars.ContextVar(
    "autodiff_no_grad_below", default=0
)


#: ``recording_threshold()``: reverse levels with an id at or below this number record nothing
#: (``no_grad``).  The context variable's own ``get``, with no Python frame around it: the
#: reverse level asks on every operation it records.
recording_threshold = _no_grad_below.get


class no_grad:
    """Context manager: operations on existing tapes record nothing inside it.

    Every reverse level that exists when the block is entered (the hand-built tape included)
    stops recording; results are plain NumPy values.  Transforms *called* inside the block open
    new levels and still work, so ``with ad.no_grad(): ad.grad(f)(x)`` is the gradient of f.
    """

    def __enter__(self):
        self._token = _no_grad_below.set(new_level_id())
        return self

    def __exit__(self, *exc):
        _no_grad_below.reset(self._token)
        return False


# ----------------------------------------------------------------------------------------------
# module state held fixed inside a transform
# ----------------------------------------------------------------------------------------------

# the store shared by everything that runs inside the outermost holding scope (None: a plain call)
_held_state: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "autodiff_held_module_state", default=None
)


def _start_holding():
    """Open a holding scope unless one is open already: the token to close it, or ``None``."""
    if _held_state.get() is not None:
        return None
    return _held_state.set({})


def held_module_state() -> dict | None:
    """The store of the open holding scope, or ``None`` in a plain call.

    Stateful layers read it: batch normalisation updates its running statistics only when it is
    ``None``; dropout keeps the mask it drew first in the store and reuses it for the rest of the
    scope.
    """
    return _held_state.get()


@contextlib.contextmanager
def hold_module_state():
    """Context manager (and decorator): run a function several times as one fixed network.

    Inside it, batch normalisation never updates its running statistics and each dropout layer
    draws one mask and reuses it, so repeated evaluations (finite differences, Jacobian chunks,
    the curvature products of a Hessian-free step re-running its closure) all see the same
    function.  Every transform holds module state while it runs, and so do
    ``ad.nn.functional_call`` and ``ad.testing.check_grads``; nested scopes share the outermost
    one's store.
    """
    token = _start_holding()
    try:
        yield _held_state.get()
    finally:
        if token is not None:
            _held_state.reset(token)
