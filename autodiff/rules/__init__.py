"""The one rule table: every primitive with its value, JVP, VJP and Taylor rules.

``REGISTRY`` maps each primitive's name to it; :mod:`.elementwise` declares partials,
:mod:`.structure` the array primitives with explicit linear rules.
"""

from . import elementwise, structure
from .primitive import MINUS_ONE, ONE, REGISTRY, Primitive, Traced, bind, primal_value

__all__ = [
    "elementwise",
    "structure",
    "Primitive",
    "Traced",
    "bind",
    "primal_value",
    "ONE",
    "MINUS_ONE",
    "REGISTRY",
]
