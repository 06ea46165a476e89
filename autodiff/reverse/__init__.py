"""Reverse mode: ``Var`` values recorded on a tape, swept back once."""

from .tape import debug
from .var import Var, VjpLevel

__all__ = ["Var", "VjpLevel", "debug"]
