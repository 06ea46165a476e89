"""The one rule table: every primitive with its value, JVP, VJP and Taylor rules.

``REGISTRY`` maps each primitive's name to it.  Each primitive is declared once, beside its
siblings, in the module of its family; the declaration carries everything about it: the value,
its partials (elementwise) or JVP/VJP (structural), its Taylor rule (or ``NO_TAYLOR``), the
NumPy callables it answers for, and its test domain (see :mod:`.primitive`).

* :mod:`.elementwise` -- arithmetic, exponentials, trigonometry, piecewise functions;
* :mod:`.reductions`  -- sum, max, min, prod, cumsum, logsumexp;
* :mod:`.shapes`      -- reshape, transpose, broadcasting, concatenation;
* :mod:`.indexing`    -- getitem, scatter-add, where;
* :mod:`.linalg`      -- matrix products;
* :mod:`.network`     -- the dense layer, ReLU, leaky ReLU, fused cross-entropy;
* :mod:`.convolution` -- sliding windows (im2col) and their transpose, for convolution and pooling;
* :mod:`.series`      -- Taylor-series algebra used by the Taylor rules.
"""

from . import convolution, elementwise, indexing, linalg, network, reductions, series, shapes
from .primitive import MINUS_ONE, ONE, REGISTRY, Primitive, Traced, bind, primal_value

__all__ = [
    "convolution",
    "elementwise",
    "indexing",
    "linalg",
    "network",
    "reductions",
    "series",
    "shapes",
    "Primitive",
    "Traced",
    "bind",
    "primal_value",
    "ONE",
    "MINUS_ONE",
    "REGISTRY",
]
