"""NumPy on traced values: the entry points users call through NumPy's protocols.

``np.sin(d)`` on a ``Dual`` or ``Var`` reaches ``__array_ufunc__``, ``np.sum(d)`` reaches
``__array_function__``; both look the NumPy callable up in the tables of
:mod:`autodiff.rules.primitive`.  Primitives answer for their NumPy callables in their own
declarations (``np.sin`` is the ``sin`` primitive); the entry points written with primitives
(``mean`` is ``sum / count``, ``moveaxis`` a transpose, ...) live in the modules of this package,
one per family, each declared with :func:`~autodiff.rules.primitive.implements` and its test
calls.  :mod:`.protocol` holds the refusals and the functions that run on primal values.
"""

from .. import rules
from ..rules.primitive import FUNCTIONS, PRIMAL_FUNCTIONS, PRIMAL_UFUNCS, UFUNCS
# imported for their declarations: each module's @implements registers its entry points
from . import arithmetic, diagonals, grids, integration, joining, linalg  # noqa: F401
from . import ordering, polynomials, rearranging  # noqa: F401
from .building import copy, empty_like, full_like, ones_like, zeros_like
from .contractions import cross, einsum, inner, kron, tensordot, vdot
from .products import dot, matmul, outer
from .protocol import call_on_primals, unsupported
from .reductions import cumsum, log_softmax, logsumexp, max, mean, min, prod, softmax, sum
from .selection import clip, positive, round, stop_gradient, where
from .statistics import (
    average,
    corrcoef,
    cov,
    median,
    nanmax,
    nanmean,
    nanmin,
    nansum,
    percentile,
    quantile,
    std,
    var,
)
from .shapes import (
    array,
    atleast_1d,
    atleast_2d,
    broadcast_to,
    concatenate,
    expand_dims,
    hstack,
    moveaxis,
    ravel,
    reshape,
    squeeze,
    stack,
    swapaxes,
    transpose,
    vstack,
)

if rules.special is not None:  # SciPy installed: its Python-level logsumexp / softmaxes too
    from . import scipy_functions

    scipy_functions.install()

__all__ = [
    "UFUNCS",
    "PRIMAL_UFUNCS",
    "FUNCTIONS",
    "PRIMAL_FUNCTIONS",
    "unsupported",
    "call_on_primals",
    "sum",
    "mean",
    "prod",
    "max",
    "min",
    "cumsum",
    "logsumexp",
    "log_softmax",
    "softmax",
    "dot",
    "matmul",
    "outer",
    "inner",
    "einsum",
    "tensordot",
    "kron",
    "cross",
    "vdot",
    "var",
    "std",
    "average",
    "median",
    "quantile",
    "percentile",
    "nansum",
    "nanmean",
    "nanmax",
    "nanmin",
    "cov",
    "corrcoef",
    "transpose",
    "moveaxis",
    "swapaxes",
    "reshape",
    "ravel",
    "squeeze",
    "expand_dims",
    "broadcast_to",
    "atleast_1d",
    "atleast_2d",
    "concatenate",
    "stack",
    "vstack",
    "hstack",
    "array",
    "zeros_like",
    "ones_like",
    "empty_like",
    "full_like",
    "copy",
    "where",
    "clip",
    "round",
    "positive",
    "stop_gradient",
]
