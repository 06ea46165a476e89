"""Shape primitives: reshaping, transposing, broadcasting, joining.

Each declares a JVP and a VJP explicitly: both are linear maps written with primitives, and each
is the transpose of the other (the table test checks ``<u, JVP(v)> = <VJP(u), v>``).  Every rule
accepts tangents / cotangents with leading batch axes (``batch + shape``).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from . import indexing
from .primitive import (
    Case,
    ParametrizedPrimitive,
    Primitive,
    batch_ndim,
    call_with,
    ndim_of,
    shape_of,
    zeros,
)
from .series import FIRST_ORDER

__all__ = [
    "reshape", "transpose", "broadcast_to", "unbroadcast", "concatenate", "pad_to", "batched_axis",
]


def batched_axis(axis: int, ndim: int, n_batch: int) -> int:
    """``axis`` of a value with ``ndim`` axes (negatives count from its end, as in NumPy) as a
    position in a tangent or cotangent of it with ``n_batch`` leading batch axes."""
    return normalize_axis_index(axis, ndim) + n_batch


def _reshape_jvp(primals, tangents, out, shape):
    (t,) = tangents
    return reshape(t, shape_of(t)[: batch_ndim(t, primals[0])] + shape_of(out))


def _reshape_vjp(g, primals, out, wanted, shape):
    return [reshape(g, shape_of(g)[: batch_ndim(g, out)] + shape_of(primals[0]))]


def _reshape_impl(x, shape):
    """``np.reshape``; where it must copy (a transposed or strided array), the copy is an array
    of its own, not NumPy's view of a hidden C-order copy, so the tape can freeze and share it
    instead of copying it again for the next node that keeps it
    (:func:`autodiff.reverse.tape.kept_for_backward`)."""
    if type(x) is not np.ndarray:
        return np.reshape(x, shape)
    try:
        return np.reshape(x, shape, copy=False)
    except ValueError:  # no view has this shape: copy in C order, as np.reshape does
        # (the shape with its -1 filled in, from a reshape of x's shape of zero strides)
        out = np.empty(np.broadcast_to(x.dtype.type(0), x.shape).reshape(shape).shape,
                       dtype=x.dtype)
        out.reshape(x.shape)[...] = x
        return out


reshape = ParametrizedPrimitive(
    "reshape",
    _reshape_impl,
    _reshape_jvp,
    _reshape_vjp,
    taylor=FIRST_ORDER,
    n_operands=1,
    param_names=("shape",),
    cases=(
        Case("matrix-to-matrix", ((3, 4),), call_with(shape=(4, 3))),
        Case("vector-to-3d", ((12,),), call_with(shape=(2, 3, 2))),
        Case("scalar-to-(1,1)", ((),), call_with(shape=(1, 1))),
        Case("(1,n)-to-scalar", ((1, 1),), call_with(shape=())),
    ),
)


def _batched_axes(axes, n_batch):
    return tuple(range(n_batch)) + tuple(batched_axis(a, len(axes), n_batch) for a in axes)


def _transpose_jvp(primals, tangents, out, axes):
    (t,) = tangents
    return transpose(t, _batched_axes(axes, batch_ndim(t, primals[0])))


def _transpose_vjp(g, primals, out, wanted, axes):
    inverse = tuple(int(i) for i in np.argsort(_batched_axes(axes, 0)))
    return [transpose(g, _batched_axes(inverse, batch_ndim(g, out)))]


transpose = ParametrizedPrimitive(
    "transpose",
    lambda x, axes: np.transpose(x, axes),
    _transpose_jvp,
    _transpose_vjp,
    taylor=FIRST_ORDER,
    n_operands=1,
    param_names=("axes",),
    cases=(
        Case("matrix", ((3, 4),), call_with(axes=(1, 0))),
        Case("3d", ((2, 3, 4),), call_with(axes=(2, 0, 1))),
        Case("negative-axes", ((2, 3, 4),), call_with(axes=(-1, 0, -2))),
        Case("(1,n)", ((1, 4),), call_with(axes=(1, 0))),
    ),
)


def pad_to(t, x_ndim: int, target_ndim: int):
    """Insert unit axes after the batch axes of ``t`` so its value part has ``target_ndim``."""
    if x_ndim == target_ndim:
        return t
    shape = shape_of(t)
    n_batch = len(shape) - x_ndim
    return reshape(t, shape[:n_batch] + (1,) * (target_ndim - x_ndim) + shape[n_batch:])


def _broadcast_to_jvp(primals, tangents, out, shape):
    (t,) = tangents
    n_batch = batch_ndim(t, primals[0])
    t = pad_to(t, ndim_of(primals[0]), len(shape))
    return broadcast_to(t, shape_of(t)[:n_batch] + tuple(shape))


def _broadcast_to_vjp(g, primals, out, wanted, shape):
    return [unbroadcast(g, shape_of(primals[0]), batch_ndim(g, out))]


def _broadcast_to_impl(x, shape):
    """A read-only broadcast view: no copy (writing into it raises, loudly)."""
    return np.broadcast_to(x, shape)


broadcast_to = ParametrizedPrimitive(
    "broadcast_to",
    _broadcast_to_impl,
    _broadcast_to_jvp,
    _broadcast_to_vjp,
    taylor=FIRST_ORDER,
    n_operands=1,
    param_names=("shape",),
    cases=(
        Case("scalar", ((),), call_with(shape=(3, 4))),
        Case("vector", ((4,),), call_with(shape=(3, 4))),
        Case("column", ((3, 1),), call_with(shape=(3, 4))),
        Case("(1,n)-to-3d", ((1, 4),), call_with(shape=(2, 3, 4))),
    ),
)


def _unbroadcast_impl(x, shape, n_batch=0):
    """Sum ``x`` (shape ``batch + S``, S a broadcast of ``shape``) down to ``batch + shape``."""
    x = np.asarray(x)
    shape = tuple(shape)
    value_ndim = x.ndim - n_batch
    lead = value_ndim - len(shape)
    axes = tuple(range(n_batch, n_batch + lead))
    axes += tuple(
        n_batch + lead + i
        for i, size in enumerate(shape)
        if size == 1 and x.shape[n_batch + lead + i] != 1
    )
    summed = np.sum(x, axis=axes, keepdims=True) if axes else x
    return summed.reshape(x.shape[:n_batch] + shape)


def _unbroadcast_jvp(primals, tangents, out, shape, n_batch=0):
    (t,) = tangents
    extra = batch_ndim(t, primals[0])
    return unbroadcast(t, shape, n_batch + extra)


def _unbroadcast_vjp(g, primals, out, wanted, shape, n_batch=0):
    (x,) = primals
    full = shape_of(x)
    extra = batch_ndim(g, out)
    g_shape = shape_of(g)
    value_ndim = len(full) - n_batch
    padded = g_shape[: extra + n_batch] + (1,) * (value_ndim - len(shape)) + tuple(shape)
    return [broadcast_to(reshape(g, padded), g_shape[:extra] + full)]


unbroadcast = ParametrizedPrimitive(
    "unbroadcast",
    _unbroadcast_impl,
    _unbroadcast_jvp,
    _unbroadcast_vjp,
    taylor=FIRST_ORDER,
    n_operands=1,
    param_names=("shape", "n_batch"),
    cases=(
        Case("to-vector", ((3, 4),), call_with(shape=(4,))),
        Case("to-(1,n)", ((3, 4),), call_with(shape=(1, 4))),
        Case("to-column", ((3, 4),), call_with(shape=(3, 1))),
        Case("to-scalar", ((2, 3, 4),), call_with(shape=())),
        Case("n_batch=1", ((2, 3, 4),), call_with(shape=(1, 4), n_batch=1)),
    ),
)


def _concatenate_jvp(primals, tangents, out, axis):
    n_batch = next(batch_ndim(t, x) for t, x in zip(tangents, primals) if t is not None)
    parts = []
    for t, x in zip(tangents, primals):
        if t is None:
            batch = shape_of(next(tt for tt in tangents if tt is not None))[:n_batch]
            t = zeros(batch + shape_of(x), out)
        parts.append(t)
    return concatenate(*parts, axis=batched_axis(axis, ndim_of(out), n_batch))


def _concatenate_vjp(g, primals, out, wanted, axis):
    n_batch = batch_ndim(g, out)
    bounds = np.cumsum([0] + [shape_of(x)[axis] for x in primals])
    results = []
    for i in wanted:
        index = (slice(None),) * batched_axis(axis, ndim_of(out), n_batch) + (
            slice(int(bounds[i]), int(bounds[i + 1])),)
        results.append(indexing.getitem(g, index=index))
    return results


concatenate = Primitive(
    "concatenate",
    lambda *xs, axis: np.concatenate(xs, axis=axis),
    _concatenate_jvp,
    _concatenate_vjp,
    taylor=FIRST_ORDER,
    cases=(
        Case("axis=0", ((2, 3), (4, 3)), call_with(axis=0)),
        Case("axis=1", ((3, 2), (3, 4)), call_with(axis=1)),
        Case("three-vectors", ((2,), (3,), (1,)), call_with(axis=0)),
        Case("negative-axis", ((3, 2), (3, 1)), call_with(axis=-1)),
    ),
)
