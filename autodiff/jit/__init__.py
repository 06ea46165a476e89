"""Compiled replay (``ad.jit``): record a function's primitives once, replay them as code.

:mod:`.recording` holds the recording level and the program it builds, :mod:`.codegen` the
Python source generated from a program, :mod:`.compiled` the cache of traces and ``jit``.
"""

from .compiled import JitCheckError, Jitted, jit
from .recording import JitError

__all__ = ["jit", "Jitted", "JitError", "JitCheckError"]
