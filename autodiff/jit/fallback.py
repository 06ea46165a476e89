"""Compiled by default, eager when the recording fails: the one fallback every user of ``ad.jit``
inside the library shares (``minimize``, ``hvp_operator``, ``check_grad``, ``compare``, ``fit``).

:class:`CompiledOrEager` calls ``ad.jit(fn)`` until it raises :class:`~autodiff.jit.JitError`
(a random draw inside ``fn``, a traced value held in a closure, a write into an argument, ...);
from then on it calls ``fn`` itself, after one ``RuntimeWarning`` naming the reason.  A caller
that knows before recording that ``fn`` cannot be compiled (``fit`` on a network whose dropout
draws a mask per call) calls :meth:`CompiledOrEager.refuse` with its reason instead.  Each
library function takes ``jit=False`` to skip compiling (and the warning) altogether.
"""

from __future__ import annotations

import warnings

from .compiled import jit
from .recording import JitError

__all__ = ["CompiledOrEager"]


class CompiledOrEager:
    """``ad.jit(fn)(*args)`` until it raises :class:`JitError`; from then on ``fn(*args)``.

    ``what`` names the compiled function in the warning ("the gradient of the objective");
    ``eager`` (default ``fn``) is what runs instead once compiling failed, when the eager path
    is another function with the same results (``fit``'s step on the tape, where module state
    updates as in a plain call).  ``reason`` is ``None`` while compiling works, else the text of the warning's reason;
    ``compiled`` is the :class:`~autodiff.jit.Jitted` function (its ``stats`` count records and
    replays).
    """

    def __init__(self, fn, what: str, eager=None):
        self.fn = fn
        self.eager = fn if eager is None else eager
        self.what = what
        self.compiled = jit(fn)
        self.reason = None

    def __call__(self, *args):
        return self._either(self.compiled, args, ())

    def at(self, *fixed):
        """``self(*fixed, *rest)`` as a function of ``rest``, what ``fixed`` alone determines
        computed once (:meth:`~autodiff.jit.Jitted.at`); the eager fallback reads the same
        copies of the fixed arrays that it holds (its ``fixed``)."""
        return _EitherAt(self, self.compiled.at(*fixed))

    def _either(self, compiled, args, fixed):
        if self.reason is None:
            try:
                return compiled(*args)
            except JitError as error:
                self.refuse(str(error), stacklevel=5)
        return self.eager(*fixed, *args)

    def refuse(self, reason: str, stacklevel: int = 3) -> None:
        """Run eagerly from now on; warn once, naming ``reason``."""
        if self.reason is not None:
            return
        self.reason = reason
        warnings.warn(
            f"{self.what} could not be compiled, so it runs eagerly (pass jit=False to skip "
            f"compiling): {reason}",
            RuntimeWarning, stacklevel=stacklevel,
        )

    def __repr__(self) -> str:
        state = "compiled" if self.reason is None else f"eager ({self.reason})"
        return f"<CompiledOrEager {self.what}: {state}>"


class _EitherAt:
    """:meth:`CompiledOrEager.at`'s function of the remaining arguments; ``fixed`` are the
    fixed arguments as it holds them (copies of their arrays)."""

    __slots__ = ("owner", "compiled")

    def __init__(self, owner, compiled):
        self.owner = owner
        self.compiled = compiled

    @property
    def fixed(self) -> tuple:
        return self.compiled.fixed

    def __call__(self, *rest):
        return self.owner._either(self.compiled, rest, self.compiled.fixed)
