"""Gradient clipping by value and by global norm, with ``torch.nn.utils``' semantics.

Aggarwal (*Neural Networks and Deep Learning*, 2018, sec. 3.5.5): "value-based clipping: all partial derivatives outside ranges
are set to range boundaries; norm-based clipping: the entire gradient vector is normalized by
the L2-norm of the entire vector". Both functions take a parameter object (anything with a
``.grad``) or an iterable of them, skip parameters whose ``.grad`` is ``None``, and replace each
``.grad`` by a clipped array of the same dtype. (torch edits gradients in place; replacing them
leaves any array that a caller or a tape still holds unchanged.)

>>> from types import SimpleNamespace
>>> a = SimpleNamespace(grad=np.array([3.0, 0.0]))
>>> b = SimpleNamespace(grad=np.array([4.0]))
>>> clip_grad_norm_([a, b], max_norm=1.0)
5.0
>>> np.round(a.grad, 6), np.round(b.grad, 6)
(array([0.6, 0. ]), array([0.8]))
"""

import math

import numpy as np

from ..validation import nonnegative, positive_float

__all__ = ["clip_grad_value_", "clip_grad_norm_"]


def _with_gradients(parameters):
    """The parameters (one object or an iterable of them) whose ``.grad`` is not ``None``."""
    if hasattr(parameters, "grad"):
        parameters = [parameters]
    elif isinstance(parameters, np.ndarray):
        raise TypeError(
            "pass parameter objects (with a .grad), not arrays: clipping replaces each .grad"
        )
    chosen = []
    for param in parameters:
        if not hasattr(param, "grad"):
            raise TypeError(f"each parameter needs a .grad attribute; got {type(param).__name__}")
        if param.grad is not None:
            grad = np.asarray(param.grad)
            if not np.issubdtype(grad.dtype, np.floating):
                raise TypeError(
                    f"gradients must be real floating-point arrays, got dtype {grad.dtype}"
                )
            chosen.append(param)
    return chosen


def clip_grad_value_(parameters, clip_value):
    """Clip every gradient entry to ``[-clip_value, clip_value]`` (``torch.nn.utils`` name).

    ``clip_value >= 0``; ``inf`` leaves the gradients unchanged. Returns ``None``.
    """
    clip_value = nonnegative(clip_value, "clip_value", allow_inf=True)
    for param in _with_gradients(parameters):
        grad = np.asarray(param.grad)
        param.grad = np.clip(grad, -clip_value, clip_value).astype(grad.dtype, copy=False)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Rescale all gradients together so that their global norm is at most ``max_norm``.

    The global norm is the ``norm_type``-norm of all gradients concatenated into one vector,
    ``N = (sum_i sum_j |g_ij|**p) ** (1/p)`` (``max_ij |g_ij|`` for ``norm_type=inf``, also
    given as ``"inf"``), computed in float64. Every gradient is multiplied by
    ``min(max_norm / (N + 1e-6), 1)``, exactly as torch does, so gradients with ``N <= max_norm``
    are left as they are. Returns ``N`` as a Python float (``0.0`` when no parameter has a
    gradient); ``max_norm=inf`` just measures it.

    A non-finite ``N`` turns the gradients into NaN (torch's behaviour); with
    ``error_if_nonfinite=True`` it raises ``ValueError`` instead and leaves them untouched.
    """
    max_norm = nonnegative(max_norm, "max_norm", allow_inf=True)
    if isinstance(norm_type, str) and norm_type == "inf":
        norm_type = math.inf
    norm_type = positive_float(norm_type, "norm_type", allow_inf=True)
    params = _with_gradients(parameters)
    if not params:
        return 0.0
    norms = [np.linalg.vector_norm(np.asarray(param.grad, dtype=np.float64), ord=norm_type)
             for param in params]
    total_norm = float(np.linalg.vector_norm(np.array(norms), ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total_norm):
        raise ValueError(
            f"the total norm of order {norm_type} of the gradients is {total_norm}, so they "
            "cannot be clipped; find where the loss or gradient overflows, or pass "
            "error_if_nonfinite=False to clip anyway (the gradients then become NaN)"
        )
    scale = float(np.minimum(max_norm / (total_norm + 1e-6), 1.0))
    for param in params:
        grad = np.asarray(param.grad)
        param.grad = np.asarray(grad * scale).astype(grad.dtype, copy=False)
    return total_norm
