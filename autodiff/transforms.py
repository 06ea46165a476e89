"""The transforms: two doors into the two modes, and thin wrappers around them.

:func:`make_jvp` (forward) and :func:`make_vjp` (reverse) are the only places that open a level,
wrap inputs, run the user's function and unwrap its outputs.  ``jvp``, ``jacfwd``, ``derivative``,
``grad``, ``value_and_grad``, ``vjp``, ``jacrev``, ``hvp`` and ``hessian`` are compositions;
pytrees and ``argnums`` are handled here, once.

Conventions (JAX's): inputs and outputs are pytrees of floats / floating arrays; the Jacobian of a
pytree-to-pytree function is an output-tree of input-trees whose array blocks have shape
``out.shape + in.shape``.  ``jvp``, ``vjp``, ``hvp``, ``linearize`` take one primal argument:
when it is a tuple, ``f`` is called with its items as separate arguments (wrap a tuple-valued
single argument as ``(x,)``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from . import numpy_api as api
from .forward.dual import Dual, JvpLevel
from .flat import FlatSpec
from .forward.taylor import MissingTaylorRuleError, derivative_by_taylor
from .levels import hold_module_state
from .pytree import flatten, unflatten
from .reverse.tape import (
    _sweep,
    cyclic_gc_spaced,
    inputs_held_read_only,
    kept_for_backward,
)
from .reverse.var import Var, VjpLevel
from .rules.arithmetic import astype
from .rules.primitive import Traced, dtype_of, lift, primal_value, shape_of
from .values import as_float_value, check_float_input

__all__ = [
    "make_jvp",
    "make_vjp",
    "jvp",
    "jacfwd",
    "derivative",
    "vjp",
    "grad",
    "value_and_grad",
    "jacrev",
    "hvp",
    "hessian",
]


# ----------------------------------------------------------------------------------------------
# inputs and outputs
# ----------------------------------------------------------------------------------------------


def _input_leaves(tree, what: str):
    """Flatten transform inputs; each leaf must be a float / floating array (maybe traced)."""
    leaves, treedef = flatten(tree)
    checked = []
    for leaf in leaves:
        leaf = lift(leaf)  # np.array([t1, t2]) of an outer transform's values
        if isinstance(leaf, Traced):
            checked.append(leaf)
            continue
        if isinstance(leaf, (bool, int, np.integer, np.bool_)):
            check_float_input(np.asarray(leaf), what)
        checked.append(as_float_value(leaf, what))
    return checked, treedef


def _call(f, args):
    return f(*args) if isinstance(args, tuple) else f(args)


def _output_leaves(out, level):
    """Flatten a transform's output; refuse callables and values of closed/newer levels."""
    leaves, treedef = flatten(out)
    leaves = [lift(leaf) for leaf in leaves]  # np.array([...]) of traced values
    for leaf in leaves:
        if isinstance(leaf, Traced):
            owner = leaf._level
            if owner is not level and (not owner.active or owner.id > level.id):
                raise owner.escaped(type(leaf).__name__)
        elif callable(leaf):
            raise TypeError(
                "the function returned a callable from inside a transform; the callable would "
                "capture traced values that die when the transform returns. Return values, or "
                "apply the transform inside the returned function instead."
            )
    return leaves, treedef


def _zeros_like_with_batch(value, batch):
    shape = shape_of(value)
    dtype = dtype_of(value)
    if not np.issubdtype(dtype, np.floating):
        dtype = np.dtype(np.float64)
    if not batch and not shape:
        return dtype.type(0.0) if dtype != np.float64 else 0.0
    return np.zeros(batch + shape, dtype)


_FLOAT_SCALARS = (float, np.float64)


def _cast_direction(direction, like, batch, what):
    """A tangent / cotangent for ``like``: checked shape ``batch + like.shape``, like's dtype."""
    if type(direction) is float and not batch and (
            type(like) is float or type(primal_value(like)) in _FLOAT_SCALARS):
        return direction  # (a float64 scalar: grad's seed 1.0 for np.sum's value)
    if type(direction) is np.ndarray and not batch:  # already a floating array of like's kind
        value = primal_value(like)
        if (type(value) is np.ndarray and direction.dtype == value.dtype
                and direction.shape == value.shape and value.dtype.kind == "f"):
            return direction
    dtype = dtype_of(like)
    if not isinstance(direction, Traced):
        direction = as_float_value(direction, what, dtype)
    expected = batch + shape_of(like)
    if shape_of(direction) != expected:
        raise ValueError(f"{what} has shape {shape_of(direction)}, expected {expected}")
    return direction


# ----------------------------------------------------------------------------------------------
# the two doors
# ----------------------------------------------------------------------------------------------


def make_jvp(f, primals, tangents, batch: tuple = ()):
    """Run ``f`` on duals: ``(f(primals), J tangents)`` as pytrees.

    ``batch`` is ``()`` for one direction or ``(k,)`` when every tangent leaf has a leading axis
    of ``k`` directions.
    """
    primal_leaves, treedef = _input_leaves(primals, "jvp input")
    tangent_leaves, tangent_def = flatten(tangents)
    if tangent_def is not treedef and tangent_def != treedef:  # (treedefs are shared)
        raise ValueError(f"tangent structure {tangent_def!r} differs from primal {treedef!r}")
    level = JvpLevel()
    try:
        duals = [
            Dual._make(p, _cast_direction(t, p, batch, "tangent"), level, len(batch))
            for p, t in zip(primal_leaves, tangent_leaves)
        ]
        out = _call(f, unflatten(treedef, duals))
        out_leaves, out_def = _output_leaves(out, level)
        primal_out, tangent_out = [], []
        for leaf in out_leaves:
            if type(leaf) is Dual and leaf._level is level:
                primal_out.append(leaf._primal_)
                tangent_out.append(leaf.tangent)
            else:
                primal_out.append(leaf)
                tangent_out.append(_zeros_like_with_batch(leaf, batch))
    finally:
        level.close()
    return unflatten(out_def, primal_out), unflatten(out_def, tangent_out)


class _Pullback:
    """``u -> u^T J``, the reverse sweep of one recorded evaluation (reusable)."""

    def __init__(self, level, input_vars, input_def, out_leaves, out_def):
        self._level = level
        self._inputs = input_vars
        self._input_def = input_def
        self._outputs = out_leaves
        self._out_def = out_def

    def __call__(self, cotangent, batch: tuple = (), retain_graph: bool = True):
        with cyclic_gc_spaced():
            return self._swept(cotangent, batch, retain_graph)

    def _swept(self, cotangent, batch: tuple, retain_graph: bool):
        """The pullback inside a pause of the cyclic collector that the caller holds."""
        leaves, treedef = flatten(cotangent)
        if treedef is not self._out_def and treedef != self._out_def:
            raise ValueError(
                f"cotangent structure {treedef!r} differs from the output's {self._out_def!r}"
            )
        roots, seeds = [], []
        for out, seed in zip(self._outputs, leaves):
            seed = _cast_direction(seed, out, batch, "cotangent")
            if isinstance(out, Var) and out._level is self._level:
                roots.append(out)
                seeds.append(seed)
        reached = _sweep(roots, seeds, retain_graph) if roots else {}
        grads = [
            _in_dtype_of(reached[v], v) if v in reached else _zeros_like_with_batch(v, batch)
            for v in self._inputs
        ]
        return unflatten(self._input_def, grads)


def _in_dtype_of(cotangent, var):
    """A cotangent as a C-contiguous array of its input's dtype (float32 in, float32 out).

    Rules may leave a gradient as a transposed view (``W`` used as ``W.T``); handing it over
    contiguous keeps the user's next array operation on it at full speed (NumPy's Adam update
    of a 128 x 64 weight with a transposed gradient: 40 us more per step).  Under a
    compiled-replay recording the same conversion is a recorded ``astype`` step, so a replay
    hands over what the eager call does.
    """
    if isinstance(cotangent, np.ndarray):
        dtype = dtype_of(var)
        if cotangent.dtype != dtype or not cotangent.flags.c_contiguous:
            return np.asarray(cotangent, dtype=dtype, order="C")  # keeps 0-d as 0-d
    elif isinstance(cotangent, Traced) and cotangent._staged:
        value = cotangent._primal_
        if isinstance(value, np.ndarray) and value.ndim and (
                value.dtype != dtype_of(var) or not value.flags.c_contiguous):
            return astype(cotangent, dtype=dtype_of(var), order="C")
    return cotangent


def make_vjp(f, primals):
    """Run ``f`` on a fresh tape: ``(f(primals), pullback)``, ``pullback(u) = u^T J``."""
    with cyclic_gc_spaced():
        return _recorded_vjp(f, primals)


def _recorded_vjp(f, primals):
    """:func:`make_vjp` inside a pause of the cyclic collector that the caller holds."""
    primal_leaves, treedef = _input_leaves(primals, "vjp input")
    level = VjpLevel(below=_forward_level_of(primal_leaves))
    try:
        inputs = [Var._make(kept_for_backward(p), None, level) for p in primal_leaves]
        out = _call(f, unflatten(treedef, inputs))
        out_leaves, out_def = _output_leaves(out, level)
    finally:
        level.close()
    values = [leaf._primal_ if isinstance(leaf, Var) and leaf._level is level else leaf
              for leaf in out_leaves]
    pullback = _Pullback(level, inputs, treedef, out_leaves, out_def)
    return unflatten(out_def, values), pullback


def _forward_level_of(leaves):
    """The forward level of the duals among ``leaves`` if they all have one (``ad.hvp``: the
    reverse level records on its duals, :meth:`VjpLevel.process`), else ``None``."""
    level = None
    for leaf in leaves:
        if type(leaf) is Dual:
            if level is not None and leaf._level is not level:
                return None
            level = leaf._level
    return level


# ----------------------------------------------------------------------------------------------
# forward-mode wrappers
# ----------------------------------------------------------------------------------------------


def jvp(f, x, v):
    """``(f(x), J_f(x) v)`` in one forward pass.

    Example: ``ad.jvp(np.sin, 0.5, 1.0) == (sin 0.5, cos 0.5)``.
    """
    return make_jvp(f, x, v)


def _select(args, argnums):
    """The differentiated arguments and a function that puts new values back in place."""
    many = not isinstance(argnums, int)
    nums = tuple(argnums) if many else (argnums,)
    for n in nums:
        if not -len(args) <= n < len(args):
            raise ValueError(f"argnums {argnums!r} out of range for {len(args)} arguments")
    nums = tuple(n % len(args) for n in nums)
    chosen = tuple(args[n] for n in nums) if many else args[nums[0]]

    def rebuild(values):
        full = list(args)
        for n, value in zip(nums, values if many else (values,)):
            full[n] = value
        return full

    return chosen, rebuild


def _flat_layout(leaves, treedef):
    """The :mod:`autodiff.flat` layout of checked leaves: its ``unit_vectors`` seed Jacobians."""
    return FlatSpec(treedef, leaves, [dtype_of(leaf) for leaf in leaves], "x")


def _chunks(total, chunk_size):
    if chunk_size is None:
        return [(0, total)] if total else []
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return [(s, min(s + int(chunk_size), total)) for s in range(0, total, int(chunk_size))]


def _concat_batches(parts):
    return parts[0] if len(parts) == 1 else api.concatenate(parts, axis=0)


def _jacobian_blocks(stacked, out_leaves, in_leaves, batch_is_input):
    """Split ``(N,) + shape`` batches into ``out.shape + in.shape`` blocks.

    ``stacked[i]`` holds, for output leaf i (forward) or input leaf i (reverse), the derivative
    along all N flattened directions of the other side.
    """
    blocks = []
    if batch_is_input:  # forward: stacked per output, directions over inputs
        for out, columns in zip(out_leaves, stacked):
            row, offset = [], 0
            for leaf in in_leaves:
                size = math.prod(shape_of(leaf))
                part = columns[offset:offset + size] if len(in_leaves) > 1 else columns
                part = api.reshape(part, shape_of(leaf) + shape_of(out))
                n_in = len(shape_of(leaf))
                n_out = len(shape_of(out))
                order = tuple(range(n_in, n_in + n_out)) + tuple(range(n_in))
                row.append(api.transpose(part, order) if n_in and n_out else part)
                offset += size
            blocks.append(row)
        return blocks
    rows = [[] for _ in out_leaves]  # reverse: stacked per input, directions over outputs
    for leaf, cotangents in zip(in_leaves, stacked):
        offset = 0
        for i, out in enumerate(out_leaves):
            size = math.prod(shape_of(out))
            part = cotangents[offset:offset + size] if len(out_leaves) > 1 else cotangents
            rows[i].append(api.reshape(part, shape_of(out) + shape_of(leaf)))
            offset += size
    return rows


def _assemble(blocks, out_def, in_def):
    return unflatten(out_def, [unflatten(in_def, row) for row in blocks])


def jacfwd(f, argnums=0, chunk_size=None):
    """Jacobian by forward mode: all input directions in one vectorised pass.

    ``jacfwd(f)(x)`` has shape ``f(x).shape + x.shape`` for arrays (an output-tree of input-trees
    for pytrees).  ``chunk_size`` bounds memory by pushing that many directions per pass.
    """

    @hold_module_state()  # one network for every chunk of directions
    def jacobian(*args):
        chosen, rebuild = _select(args, argnums)
        in_leaves, in_def = _input_leaves(chosen, "jacfwd input")
        layout = _flat_layout(in_leaves, in_def)
        per_output, out_leaves, out_def = None, None, None
        for start, stop in _chunks(layout.size, chunk_size):
            seeds = layout.unit_vectors(start, stop)
            chosen_tree = unflatten(in_def, in_leaves)
            out, tangents = make_jvp(
                lambda c: f(*rebuild(c)), (chosen_tree,), (seeds,), batch=(stop - start,)
            )
            out_leaves, out_def = flatten(out)
            tangent_leaves = flatten(tangents)[0]
            if per_output is None:
                per_output = [[t] for t in tangent_leaves]
            else:
                for parts, t in zip(per_output, tangent_leaves):
                    parts.append(t)
        if per_output is None:  # no input directions at all
            out_leaves, out_def = flatten(f(*rebuild(unflatten(in_def, in_leaves))))
            per_output = [[np.zeros((0,) + shape_of(o))] for o in out_leaves]
        stacked = [_concat_batches(parts) for parts in per_output]
        return _assemble(_jacobian_blocks(stacked, out_leaves, in_leaves, True), out_def, in_def)

    return jacobian


# From this order on one Taylor-mode pass (O(k^2) per operation) replaces k nested duals (O(2^k));
# measured: nested duals are faster up to order 3, Taylor mode from order 4 (2x at 5, 30x at 7).
TAYLOR_FROM_ORDER = 4


def derivative(f, x, order: int = 1):
    """The ``order``-th derivative of ``f: R -> R`` (or ``R -> R^m``) at ``x``.

    Below order ``TAYLOR_FROM_ORDER`` (4): nested dual numbers, one level per order, so
    perturbations never mix (``f`` runs once, at ``2**order`` times the cost of a plain call).
    From order 4 on: one pass of Taylor mode (:func:`autodiff.taylor`), ``O(order**2)`` per
    operation.  If that pass reaches a primitive without a Taylor rule, ``f`` is evaluated again
    with nested duals, and a ``RuntimeWarning`` names the primitive (side effects of ``f`` repeat).
    """
    if int(order) != order or order < 0:
        raise ValueError(f"order must be a non-negative integer, got {order!r}")
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        check_float_input(np.asarray(x), "derivative input")
    if order >= TAYLOR_FROM_ORDER:
        try:
            return derivative_by_taylor(f, x, int(order))
        except MissingTaylorRuleError as missing:
            warnings.warn(
                f"ad.derivative(order={order}) evaluates f a second time, with nested dual "
                f"numbers (its side effects repeat; cost 2**{order} times a call): {missing}",
                RuntimeWarning,
                stacklevel=2,
            )
    fn = f
    for _ in range(int(order)):
        fn = _differentiate_once(fn)
    return fn(x)


def _differentiate_once(fn):
    def first_derivative(y):
        if shape_of(y) != ():
            raise ValueError(f"derivative needs a scalar input, got shape {shape_of(y)}")
        return make_jvp(fn, y, 1.0)[1]

    return first_derivative


# ----------------------------------------------------------------------------------------------
# reverse-mode wrappers
# ----------------------------------------------------------------------------------------------


def vjp(f, x):
    """``(f(x), pullback)`` with ``pullback(u) = u^T J_f(x)``, same structure as ``x``.

    The pullback may be called many times (the tape is kept until it is garbage-collected).
    """
    return make_vjp(f, x)


def _split_aux(out, has_aux):
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError("has_aux=True needs the function to return a pair (value, aux)")
    return out


def _scalar_seed(value):
    if isinstance(value, (tuple, list)):
        raise TypeError(
            f"grad needs a scalar output, but the function returned a {type(value).__name__}; "
            "if it returns (value, aux), pass has_aux=True"
        )
    if isinstance(primal_value(value), float):  # a float (or np.float64) output: scalar, real
        return 1.0
    if shape_of(value) != ():
        raise TypeError(
            f"grad needs a scalar output, got shape {shape_of(value)}; use jacrev or vjp for "
            "non-scalar outputs"
        )
    check_float_input(np.asarray(primal_value(value)), "grad output")
    return 1.0 if isinstance(primal_value(value), float) else np.ones((), dtype_of(value))


def _recorded_gradient(f, primals: tuple):
    """``(value, pullback, gradient)``: ``f(*primals)`` recorded on a fresh tape, and the
    gradient of its scalar value (a tuple like ``primals``) by one sweep."""
    # one pause of the cyclic collector over recording and sweep (between them it would
    # visit the whole tape once), entered once: a nested entry costs a lock and a count of
    # threads (hvp of np.sum(x), n = 1e3: 1 us of 33)
    with inputs_held_read_only(flatten(primals)[0]), cyclic_gc_spaced():
        value, pullback = _recorded_vjp(f, primals)
        # one sweep: each node is released once its rule ran, so the forward values die
        # during the sweep and the sweep's own arrays reuse their memory (issue 13)
        gradient = pullback._swept(_scalar_seed(value), (), retain_graph=False)
    return value, pullback, gradient


def value_and_grad(f, argnums=0, has_aux: bool = False):
    """``(f(*args), gradient)``; the gradient has the structure of the chosen argument(s)."""

    def wrapped(*args, **kwargs):
        chosen, rebuild = _select(args, argnums)
        aux_box = []

        def objective(*values):
            selected = values[0] if isinstance(argnums, int) else values
            value, aux = _split_aux(f(*rebuild(selected), **kwargs), has_aux)
            aux_box.append(aux)
            return value

        primals = (chosen,) if isinstance(argnums, int) else chosen
        value, pullback, gradient = _recorded_gradient(objective, primals)
        if isinstance(argnums, int):
            gradient = gradient[0]
        aux = _strip_level(aux_box[0], pullback._level) if has_aux else None
        return ((value, aux) if has_aux else value), gradient

    return wrapped


def _strip_level(tree, level):
    """Aux outputs leave the transform as plain values of that level (no escaping tracers)."""
    leaves, treedef = flatten(tree)
    return unflatten(
        treedef,
        [leaf._primal_ if isinstance(leaf, Traced) and leaf._level is level else leaf
         for leaf in leaves],
    )


def grad(f, argnums=0, has_aux: bool = False):
    """Gradient of a scalar ``f`` with respect to argument(s) ``argnums``, by one reverse sweep.

    Example: ``ad.grad(lambda x: np.sum(x ** 2))(np.array([1.0, 2.0]))`` is ``[2., 4.]``.
    """
    value_and_gradient = value_and_grad(f, argnums, has_aux)

    def gradient(*args, **kwargs):
        value, g = value_and_gradient(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return gradient


def jacrev(f, argnums=0, chunk_size=None):
    """Jacobian by reverse mode: all output directions in one vectorised sweep.

    Same shapes and values as :func:`jacfwd`.
    """

    def jacobian(*args):
        chosen, rebuild = _select(args, argnums)
        in_leaves, in_def = _input_leaves(chosen, "jacrev input")
        with inputs_held_read_only(in_leaves), cyclic_gc_spaced():
            out, pullback = _recorded_vjp(
                lambda c: f(*rebuild(c)), (unflatten(in_def, in_leaves),))
            out_leaves, out_def = flatten(out)
            layout = _flat_layout(out_leaves, out_def)
            total = layout.size
            per_input = [[] for _ in in_leaves]
            for start, stop in _chunks(total, chunk_size):
                seeds = layout.unit_vectors(start, stop)
                cotangents = flatten(pullback._swept(seeds, (stop - start,), True))[0]
                for parts, c in zip(per_input, cotangents):
                    parts.append(c)
        if total == 0:
            per_input = [[np.zeros((0,) + shape_of(leaf))] for leaf in in_leaves]
        stacked = [_concat_batches(parts) for parts in per_input]
        return _assemble(_jacobian_blocks(stacked, out_leaves, in_leaves, False), out_def, in_def)

    return jacobian


# ----------------------------------------------------------------------------------------------
# second order
# ----------------------------------------------------------------------------------------------


def hvp(f, x, v):
    """``H v`` for scalar ``f`` at ``x``: forward over reverse, never forming ``H``.

    A dual number with tangent ``v`` flows through the reverse sweep of ``grad f``: the tangent
    of the gradient is ``d/de grad f(x + e v) = H v``, at a small multiple of a gradient's cost.
    The gradient is ``grad(f, argnums)``'s (all of ``x``'s items), without its wrapping of
    the arguments (their selection, ``has_aux``, keywords), which ``hvp`` never needs.
    """
    if isinstance(x, tuple):
        return make_jvp(lambda *xs: _recorded_gradient(f, xs)[2], x, v)[1]
    return make_jvp(lambda x: _recorded_gradient(f, (x,))[2][0], x, v)[1]


def hessian(f, argnums=0, chunk_size=None):
    """Dense Hessian, shape ``x.shape + x.shape``: ``jacfwd`` of ``grad`` (forward over reverse)."""
    return jacfwd(grad(f, argnums), argnums, chunk_size)

