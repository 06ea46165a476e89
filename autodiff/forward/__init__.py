"""Forward mode: dual numbers (and, in :mod:`.taylor`, truncated Taylor polynomials)."""

from .dual import Dual, JvpLevel

__all__ = ["Dual", "JvpLevel"]
