"""autodiff: automatic differentiation for NumPy.

Forward mode on dual numbers (:class:`Dual`), reverse mode on a tape (:class:`Var`), and their
compositions (``hvp``, ``hessian``), all reading one table of primitive rules.

>>> import numpy as np, autodiff as ad
>>> ad.grad(lambda x: np.log(x[0]) + x[0] * x[1] - np.sin(x[1]))(np.array([2.0, 5.0]))
array([5.5       , 1.71633781])
"""

from . import custom, nn, optim, testing
from .check import check_grad
from .forward.dual import Dual
from .forward.taylor import taylor
from .inspection import compare, graph, trace
from .jit import jit
from .levels import EscapedTracerError, no_grad
from .linearize import linearize
from .numpy_api import array, logsumexp, stack, stop_gradient
from .reverse.tape import debug
from .reverse.var import Var
from .rules.elementwise import erf, sigmoid, softplus
from .second_order import hvp_operator
from .transforms import (
    derivative,
    grad,
    hessian,
    hvp,
    jacfwd,
    jacrev,
    jvp,
    make_jvp,
    make_vjp,
    value_and_grad,
    vjp,
)

__version__ = "0.1.0"

__all__ = [
    "Dual",
    "Var",
    "EscapedTracerError",
    "no_grad",
    "debug",
    "stop_gradient",
    "array",
    "stack",
    "sigmoid",
    "softplus",
    "logsumexp",
    "erf",
    "jvp",
    "jacfwd",
    "derivative",
    "taylor",
    "linearize",
    "vjp",
    "grad",
    "value_and_grad",
    "jacrev",
    "hvp",
    "hessian",
    "hvp_operator",
    "jit",
    "make_jvp",
    "make_vjp",
    "trace",
    "graph",
    "compare",
    "check_grad",
    "custom",
    "nn",
    "optim",
    "testing",
]
