"""The one rule table: every primitive with its value, JVP, VJP and Taylor rules.

``REGISTRY`` maps each primitive's name to it.  Each primitive is declared once, beside its
siblings, in the module of its family; the declaration carries everything about it: the value,
its partials (elementwise) or JVP/VJP (structural), its Taylor rule (or ``NO_TAYLOR``), the
NumPy callables it answers for, and its test domain (see :mod:`.primitive`).

* :mod:`.elementwise` -- arithmetic, exponentials, trigonometry, piecewise functions;
* :mod:`.reductions`  -- sum, max, min, prod, cumsum, logsumexp;
* :mod:`.special`     -- SciPy's special functions (only when SciPy is installed);
* :mod:`.arithmetic`  -- remainders, fmax/fmin, angles, heaviside, copysign, sinc, casts, cumprod;
* :mod:`.shapes`      -- reshape, transpose, broadcasting, concatenation;
* :mod:`.indexing`    -- getitem, scatter-add, index updates (writes), where;
* :mod:`.ordering`    -- gathers along an axis and their transpose (sort, take_along_axis);
* :mod:`.building`    -- pack: arrays built from traced scalars (``np.array([a, b])``);
* :mod:`.linalg`      -- matrix products, linear systems, determinants, least squares;
* :mod:`.decompositions` -- Cholesky, eigh, SVD, QR (factors packed into one output);
* :mod:`.contractions` -- einsum;
* :mod:`.network`     -- the dense layer, ReLU, leaky ReLU, fused cross-entropy;
* :mod:`.normalization` -- batch normalisation in training mode (one node, closed-form rules);
* :mod:`.convolution` -- sliding windows (im2col) and their transpose, max pooling
  (window_max), and the convolution's product with its bias (columns_product);
* :mod:`.series`      -- Taylor-series algebra used by the Taylor rules.
"""

from . import (
    arithmetic,
    building,
    contractions,
    convolution,
    decompositions,
    elementwise,
    indexing,
    linalg,
    network,
    normalization,
    ordering,
    reductions,
    series,
    shapes,
)
from .primitive import MINUS_ONE, ONE, REGISTRY, Primitive, Traced, bind, primal_value

try:  # SciPy is optional: its special functions are declared only when it is installed
    import scipy.special  # noqa: F401
except ImportError:
    special = None
else:
    from . import special

__all__ = [
    "arithmetic",
    "building",
    "contractions",
    "convolution",
    "decompositions",
    "elementwise",
    "indexing",
    "linalg",
    "network",
    "normalization",
    "ordering",
    "reductions",
    "series",
    "shapes",
    "special",
    "Primitive",
    "Traced",
    "bind",
    "primal_value",
    "ONE",
    "MINUS_ONE",
    "REGISTRY",
]
