"""SciPy's Python-level functions on traced values: ``scipy.special.logsumexp``, ``softmax``
and ``log_softmax``.

SciPy's ufuncs (``gammaln``, ``erf``, ...) reach the rule table through NumPy's
``__array_ufunc__`` protocol.  These three are Python functions written against the array API:
they convert their argument with ``np.asarray`` (a traced array becomes an object array) and
branch on its dtype, so no protocol reaches autodiff and SciPy takes its complex-number path
(``TypeError: ... complex which has no callable exp method``).  When SciPy is installed,
``import autodiff`` therefore wraps the three names in ``scipy.special`` (:func:`install`): a
call with a traced argument (``a``, ``b`` or ``x``) runs autodiff's own ``logsumexp``
primitive (whose derivative is the softmax) and the ``softmax`` and ``log_softmax`` of
:mod:`.reductions` built on it; every other call is SciPy's function, unchanged.  A name bound before autodiff was imported
(``from scipy.special import logsumexp`` first) is SciPy's unwrapped function: import autodiff
first, or call ``ad.logsumexp``.
"""

from __future__ import annotations

import functools

import scipy.special as sc

from ..rules.primitive import Traced
from .reductions import log_softmax, logsumexp, softmax

__all__ = ["install"]


_OURS = {"logsumexp": logsumexp, "softmax": softmax, "log_softmax": log_softmax}


def _dispatching(scipy_function, ours):
    @functools.wraps(scipy_function)
    def function(*args, **kwargs):
        if any(isinstance(arg, Traced) for arg in (*args, *kwargs.values())):
            return ours(*args, **kwargs)
        return scipy_function(*args, **kwargs)

    function.autodiff_wraps = scipy_function
    return function


def install():
    """Wrap ``scipy.special``'s ``logsumexp``, ``softmax`` and ``log_softmax`` (once)."""
    for name, ours in _OURS.items():
        current = getattr(sc, name)
        if not hasattr(current, "autodiff_wraps"):
            setattr(sc, name, _dispatching(current, ours))
