"""Custom primitives: declare a new operation with its value and its derivative rules.

Like ``torch.autograd.Function`` (PyTorch documentation, "Extending torch.autograd": a ``forward``
and a ``backward`` that multiplies the upstream gradient by the local one), but one declaration
serves *every* mode and every nesting:

* :func:`primitive` -- a general primitive: ``impl`` computes the value on plain NumPy values,
  ``jvp`` maps input tangents to the output tangent (forward mode), ``vjp`` maps the output
  cotangent to the input cotangents (reverse mode).  Give both rules, or only one: the other is
  then *derived* from it by materialising the Jacobian one basis vector at a time, so a custom
  VJP never blocks forward mode (JAX's ``custom_vjp`` trap) and a custom JVP never blocks reverse
  mode.  The derived rule costs one call of the given rule per output element (JVP from VJP) or
  per input element (VJP from JVP): fine for small blocks, give both rules for large ones.
* :func:`elementwise` -- an elementwise primitive declared by its local partial derivatives once;
  both rules derive from them (``y_dot = sum_i d_i x_i_dot``, ``x_i_bar = d_i y_bar`` summed
  back over broadcasting), exactly like the built-in ``sin`` or ``multiply``.

Rules must be written with primitives -- autodiff functions, NumPy calls and operators on the
values they receive -- never with ``float()``, ``math.*`` or a raw ``.primal``: inside ``grad(grad
(f))``, ``hvp`` or ``jacfwd(grad(f))`` the values a rule receives are themselves traced, and the
rule is differentiated in turn.  A rule that leaves NumPy's protocols fails loudly (``float()`` of
a traced value raises ``TypeError``), never with a silently wrong higher derivative.

Check a declaration with ``ad.testing.check_grads(prim, x)``: central differences for both rules,
and the exact identity ``<u, J v> = <J^T u, v>`` between them, to second order.

Example: a numerically stable sigmoid block (Goodfellow, Bengio and Courville, *Deep Learning*, MIT
Press 2016, sec. 4.1 on overflow, sec. 3.10 for ``sigma' = sigma (1 - sigma)``), with the
derivative written from the output itself:

>>> import numpy as np, autodiff as ad
>>> def stable_sigmoid(x):
...     z = np.exp(-np.abs(x))
...     return np.where(x >= 0, 1 / (1 + z), z / (1 + z))
>>> sig = ad.custom.primitive(
...     "doc_sigmoid", stable_sigmoid,
...     jvp=lambda primals, tangents, out: out * (1 - out) * tangents[0],
...     vjp=lambda cotangent, primals, out: cotangent * out * (1 - out),
... )
>>> round(float(ad.derivative(sig, 1.0)), 4)
0.1966
>>> round(float(ad.derivative(sig, 1.0, order=2)), 4)
-0.0909
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from . import numpy_api as api
from .rules import elementwise as ew
from .rules import indexing, linalg, series, shapes
from .rules.elementwise import ELEMENTWISE, Elementwise
from .rules.primitive import NO_TAYLOR, REGISTRY, Primitive, dtype_of, shape_of

__all__ = ["CustomPrimitive", "CustomElementwise", "primitive", "elementwise", "unregister"]

_CUSTOM_NAMES: set[str] = set()


# ----------------------------------------------------------------------------------------------
# validating a declaration
# ----------------------------------------------------------------------------------------------


def _claim_name(name, replace: bool) -> None:
    """Check ``name`` is free (or, with ``replace=True``, a custom primitive) and free it."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"a primitive's name must be a non-empty string, got {name!r}")
    if name not in REGISTRY:
        return
    if name not in _CUSTOM_NAMES:
        raise ValueError(
            f"a built-in primitive named {name!r} already exists; choose another name "
            "(built-in primitives cannot be replaced)"
        )
    if not replace:
        raise ValueError(
            f"a custom primitive named {name!r} is already registered; choose another name, or "
            "pass replace=True to redefine it (e.g. when re-running a notebook cell)"
        )
    unregister(name)


def _signature(fn):
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins and ufuncs have none: nothing to check
        return None


def _require_callable(fn, what: str, name: str) -> None:
    if not callable(fn):
        raise TypeError(f"{what} of primitive {name!r} must be callable, got {fn!r}")


def _check_accepts(fn, n_positional: int, what: str, name: str, expected: str,
                   params: bool = False) -> None:
    """Raise ``TypeError`` unless ``fn`` can be called with ``n_positional`` arguments.

    With ``params=True`` further parameters are allowed when they can be passed by keyword (the
    primitive's params, like ``axis``, reach the rules that way).
    """
    signature = _signature(fn)
    if signature is None:
        return
    if params:
        parameters = list(signature.parameters.values())
        positional = [
            p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        accepts = any(p.kind is p.VAR_POSITIONAL for p in parameters) or (
            len(positional) >= n_positional
            and not any(
                p.kind is p.POSITIONAL_ONLY and p.default is p.empty
                for p in positional[n_positional:]
            )
        )
    else:
        try:
            signature.bind(*([None] * n_positional))
            accepts = True
        except TypeError:
            accepts = False
    if not accepts:
        raise TypeError(
            f"{what} of primitive {name!r} must accept {expected}; its signature is "
            f"{signature}"
        )


def _single_output(impl, name):
    """``impl``, checked at each call to return one float or floating array (not a tuple)."""

    def checked_impl(*args, **params):
        out = impl(*args, **params)
        if isinstance(out, (tuple, list)):
            raise TypeError(
                f"impl of primitive {name!r} returned a {type(out).__name__}; a primitive has "
                "one output: declare one primitive per output"
            )
        if not np.issubdtype(np.result_type(out), np.floating):
            raise TypeError(
                f"impl of primitive {name!r} returned dtype {np.result_type(out)}; its output "
                "must be floating-point (cast it, e.g. out.astype(float))"
            )
        return out

    checked_impl.__name__ = getattr(impl, "__name__", name)
    checked_impl.__doc__ = getattr(impl, "__doc__", None)
    return checked_impl


def _input_count(impl) -> int | None:
    """Number of array inputs of ``impl``: its positional parameters without defaults.

    Parameters with defaults and keyword-only ones are the primitive's *params* (like ``axis``);
    ``None`` means variadic (``*xs``) or unknown.
    """
    signature = _signature(impl)
    if signature is None:
        return None
    count = 0
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.VAR_POSITIONAL:
            return None
        if (
            parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
            and parameter.default is parameter.empty
        ):
            count += 1
    return count


# ----------------------------------------------------------------------------------------------
# general primitives
# ----------------------------------------------------------------------------------------------


def _size(shape) -> int:
    return math.prod(shape)


def _batch_shape(direction, value) -> tuple:
    """The leading batch axes of a tangent / cotangent ``direction`` of ``value``."""
    shape = shape_of(direction)
    return shape[: len(shape) - len(shape_of(value))]


def _zeros(shape, like):
    dtype = dtype_of(like)
    if not np.issubdtype(dtype, np.floating):
        dtype = np.dtype(np.float64)
    return np.zeros(shape, dtype)


def _flat_batch(direction, batch, value):
    """``direction`` reshaped to ``(prod(batch),) + value.shape`` (one row per direction)."""
    return shapes.reshape(direction, (_size(batch),) + shape_of(value))


def _unflat_batch(rows, batch, shape):
    return shapes.reshape(rows, tuple(batch) + tuple(shape))


def _as_like(result, like):
    """A plain-array rule result in ``like``'s floating dtype (float32 stays float32)."""
    if type(result) is np.ndarray:
        dtype = dtype_of(like)
        if np.issubdtype(dtype, np.floating) and result.dtype != dtype:
            return result.astype(dtype)
    return result


class CustomPrimitive(Primitive):
    """A primitive declared by :func:`primitive`; call it like a function.

    Attributes ``jvp_rule`` / ``vjp_rule`` hold the user's rules (``None`` where derived);
    ``jvp`` / ``vjp`` are the core-facing rules that adapt them (batch axes, symbolic zeros,
    shape checks).
    """

    __slots__ = ("jvp_rule", "vjp_rule", "n_inputs", "vectorized", "materialize_zeros")

    def __init__(self, name, impl, jvp_rule, vjp_rule, n_inputs, vectorized, materialize_zeros):
        self.jvp_rule = jvp_rule
        self.vjp_rule = vjp_rule
        self.n_inputs = n_inputs
        self.vectorized = vectorized
        self.materialize_zeros = materialize_zeros
        jvp = self._jvp_given if jvp_rule is not None else self._jvp_derived
        vjp = self._vjp_given if vjp_rule is not None else self._vjp_derived
        super().__init__(name, _single_output(impl, name), jvp, vjp, taylor=NO_TAYLOR)

    def __call__(self, *args, **params):
        if self.n_inputs is not None and len(args) != self.n_inputs:
            raise TypeError(
                f"primitive {self.name!r} takes {self.n_inputs} array input(s), got {len(args)}; "
                "pass other parameters by keyword"
            )
        return super().__call__(*args, **params)

    # -- forward mode --------------------------------------------------------------------------
    def _jvp_given(self, primals, tangents, out, **params):
        """The user's JVP, called once per direction unless it is ``vectorized``."""
        live = [(t, x) for t, x in zip(tangents, primals) if t is not None]
        if not live:
            return None
        batch = _batch_shape(*live[0])
        if self.materialize_zeros:
            tangents = [
                _zeros(batch + shape_of(x), out) if t is None else t
                for t, x in zip(tangents, primals)
            ]
        if self.vectorized or not batch:
            return self._checked_tangent(
                self.jvp_rule(primals, list(tangents), out, **params), batch, out
            )
        flat = [None if t is None else _flat_batch(t, batch, x) for t, x in zip(tangents, primals)]
        rows = [
            self._checked_tangent(
                self.jvp_rule(
                    primals, [None if t is None else indexing.getitem(t, k) for t in flat], out, **params
                ),
                (),
                out,
            )
            for k in range(_size(batch))
        ]
        rows = [_zeros(shape_of(out), out) if r is None else r for r in rows]
        return _unflat_batch(api.stack(rows), batch, shape_of(out))

    def _checked_tangent(self, tangent, batch, out):
        if tangent is None:
            return None
        expected = tuple(batch) + shape_of(out)
        if shape_of(tangent) != expected:
            raise ValueError(
                f"the jvp rule of primitive {self.name!r} returned a tangent of shape "
                f"{shape_of(tangent)}; the output's tangent must have shape {expected}"
                + (" (batch axes first: the rule was declared vectorized=True)" if batch else "")
            )
        return _as_like(tangent, out)

    def _jvp_derived(self, primals, tangents, out, **params):
        """``(J v)_j = <e_j^T J, v>``: one VJP per output element ``j``, then a matrix product."""
        wanted = [i for i, t in enumerate(tangents) if t is not None]
        if not wanted:
            return None
        out_shape = shape_of(out)
        m = _size(out_shape)
        seeds = np.eye(m, dtype=dtype_of(out)).reshape((m,) + out_shape)
        rows = self._vjp_given(seeds, primals, out, wanted, **params)
        total, batch = None, ()
        for i, row in zip(wanted, rows):
            if row is None:
                continue
            t, x = tangents[i], primals[i]
            batch = _batch_shape(t, x)
            n = _size(shape_of(x))
            term = linalg.matmul(
                shapes.reshape(t, (_size(batch), n)),
                shapes.transpose(shapes.reshape(row, (m, n)), (1, 0)),
            )
            total = term if total is None else ew.add(total, term)
        if total is None:
            return None
        return _unflat_batch(total, batch, out_shape)

    # -- reverse mode --------------------------------------------------------------------------
    def _vjp_given(self, cotangent, primals, out, wanted, **params):
        """The user's VJP (all input cotangents), the ``wanted`` ones picked and checked."""
        batch = _batch_shape(cotangent, out)
        if self.vectorized or not batch:
            return self._checked_cotangents(
                self.vjp_rule(cotangent, primals, out, **params), primals, wanted, batch
            )
        flat = _flat_batch(cotangent, batch, out)
        per_direction = [
            self._checked_cotangents(
                self.vjp_rule(indexing.getitem(flat, k), primals, out, **params), primals, wanted, ()
            )
            for k in range(_size(batch))
        ]
        results = []
        for position, i in enumerate(wanted):
            rows = [cotangents[position] for cotangents in per_direction]
            if all(r is None for r in rows):
                results.append(None)
                continue
            rows = [_zeros(shape_of(primals[i]), primals[i]) if r is None else r for r in rows]
            results.append(_unflat_batch(api.stack(rows), batch, shape_of(primals[i])))
        return results

    def _checked_cotangents(self, returned, primals, wanted, batch):
        if len(primals) == 1 and not isinstance(returned, (tuple, list)):
            returned = (returned,)
        if not isinstance(returned, (tuple, list)) or len(returned) != len(primals):
            raise ValueError(
                f"the vjp rule of primitive {self.name!r} must return one cotangent per input "
                f"({len(primals)}, None for a zero), got {returned!r}"
            )
        picked = []
        for i in wanted:
            cotangent = returned[i]
            if cotangent is not None:
                expected = tuple(batch) + shape_of(primals[i])
                if shape_of(cotangent) != expected:
                    raise ValueError(
                        f"the vjp rule of primitive {self.name!r} returned a cotangent of shape "
                        f"{shape_of(cotangent)} for input {i}, which needs shape {expected}; "
                        "if that input was broadcast, sum the cotangent over the broadcast axes "
                        "(np.sum(..., axis=..., keepdims=...))"
                    )
                cotangent = _as_like(cotangent, primals[i])
            picked.append(cotangent)
        return picked

    def _vjp_derived(self, cotangent, primals, out, wanted, **params):
        """``(u^T J)_k = <u, J e_k>``: one JVP per input element ``k``, then a matrix product."""
        batch = _batch_shape(cotangent, out)
        m = _size(shape_of(out))
        u = shapes.reshape(cotangent, (_size(batch), m))
        results = []
        for i in wanted:
            x = primals[i]
            n = _size(shape_of(x))
            seeds = [None] * len(primals)
            seeds[i] = np.eye(n, dtype=dtype_of(x)).reshape((n,) + shape_of(x))
            columns = self._jvp_given(primals, seeds, out, **params)
            if columns is None:
                results.append(None)
                continue
            product = linalg.matmul(u, shapes.transpose(shapes.reshape(columns, (n, m)), (1, 0)))
            results.append(_unflat_batch(product, batch, shape_of(x)))
        return results

    def __repr__(self) -> str:
        return f"<custom primitive {self.name}>"


def primitive(
    name,
    impl=None,
    *,
    jvp=None,
    vjp=None,
    vectorized: bool = False,
    materialize_zeros: bool = True,
    replace: bool = False,
):
    """Declare a new primitive ``name`` with its value ``impl`` and derivative rules.

    Parameters
    ----------
    name:
        Unique name (used in errors, traces, graphs).  Taken names raise ``ValueError``.
    impl:
        ``impl(*inputs, **params)`` on plain floats / NumPy arrays.  Its positional parameters
        without defaults are the array inputs; parameters with defaults or keyword-only are
        non-differentiable *params*, passed by keyword to the rules too.  Omit ``impl`` to use
        ``primitive`` as a decorator: ``@ad.custom.primitive("f", jvp=..., vjp=...)``.
    jvp:
        ``jvp(primals, tangents, out, **params)`` -> the output's tangent, shape ``out.shape``.
        ``tangents[i]`` has ``primals[i]``'s shape (zeros for a constant input, or ``None`` with
        ``materialize_zeros=False``); ``out`` is ``impl``'s result, so rules may reuse it.
    vjp:
        ``vjp(cotangent, primals, out, **params)`` -> one cotangent per input (a bare value for a
        one-input primitive; ``None`` for a zero), each of its input's shape.  This is
        ``torch.autograd.Function.backward``: upstream gradient times local gradient.
    vectorized:
        ``False`` (default): rules see one direction at a time; several directions
        (``jacfwd``, ``jacrev``, batched ``Dual`` s) call them once per direction.  ``True``: the
        rules accept tangents / cotangents with leading batch axes (``batch + shape``) and
        return them that way, like the built-in rules (elementwise formulas usually do).
    materialize_zeros:
        Pass zeros (default) or ``None`` as the tangent of a constant input.
    replace:
        Allow redefining a *custom* primitive of the same name (re-running a notebook cell).

    Returns
    -------
    CustomPrimitive
        Callable as ``prim(*inputs, **params)`` on floats, arrays, ``Dual`` s and ``Var`` s.

    Notes
    -----
    At least one of ``jvp`` / ``vjp`` is required; a missing one is derived from the other
    (see the module docstring for the cost).  Rules must be written with primitives to nest.
    """
    if impl is None:
        return lambda fn: primitive(
            name,
            fn,
            jvp=jvp,
            vjp=vjp,
            vectorized=vectorized,
            materialize_zeros=materialize_zeros,
            replace=replace,
        )
    _require_callable(impl, "impl", name)
    if jvp is None and vjp is None:
        raise TypeError(
            f"primitive {name!r} needs a jvp rule, a vjp rule, or both (the missing one is "
            "derived from the other); for a function with zero derivative use "
            "ad.custom.elementwise(name, impl, partials=[], arity=n)"
        )
    if jvp is not None:
        _require_callable(jvp, "the jvp rule", name)
        _check_accepts(
            jvp, 3, "the jvp rule", name, "(primals, tangents, out, **params)", params=True
        )
    if vjp is not None:
        _require_callable(vjp, "the vjp rule", name)
        _check_accepts(
            vjp, 3, "the vjp rule", name, "(cotangent, primals, out, **params)", params=True
        )
    _claim_name(name, replace)
    prim = CustomPrimitive(
        name, impl, jvp, vjp, _input_count(impl), bool(vectorized), bool(materialize_zeros)
    )
    _CUSTOM_NAMES.add(name)
    return prim


# ----------------------------------------------------------------------------------------------
# elementwise primitives
# ----------------------------------------------------------------------------------------------


class CustomElementwise(Elementwise):
    """An elementwise primitive declared by :func:`elementwise` (same rules as the built-ins)."""

    __slots__ = ()

    def __call__(self, *args):
        if len(args) != self.arity:
            raise TypeError(
                f"elementwise primitive {self.name!r} takes {self.arity} input(s), "
                f"got {len(args)}"
            )
        return super().__call__(*args)

    def __repr__(self) -> str:
        return f"<custom elementwise primitive {self.name}>"


def elementwise(name, impl, partials, *, arity=None, replace: bool = False):
    """Declare an elementwise primitive by its local partial derivatives, once for all modes.

    ``impl(*inputs)`` computes the value elementwise with NumPy broadcasting (on floats and
    arrays).  ``partials[i](*inputs, out)`` is ``d out / d input_i``, written with primitives
    (NumPy calls and operators on the values it receives, which may be traced).  The rules are
    then ``y_dot = sum_i partials[i] * x_i_dot`` and ``x_i_bar = partials[i] * y_bar`` summed back
    over broadcast axes, exactly as for the built-in ``sin`` or ``multiply``; batch axes are
    handled for you.  ``partials=[]`` declares a zero derivative (``arity`` then required), like
    ``floor``.  Taylor mode (``ad.taylor``, ``ad.derivative`` at high order) integrates the same
    partials (:data:`autodiff.rules.series.FROM_JVP`).

    >>> import numpy as np, autodiff as ad
    >>> softsign = ad.custom.elementwise(
    ...     "doc_softsign", lambda x: x / (1 + np.abs(x)),
    ...     partials=[lambda x, y: 1 / (1 + np.abs(x)) ** 2],
    ... )
    >>> float(ad.grad(softsign)(1.0))
    0.25
    """
    _require_callable(impl, "impl", name)
    if isinstance(partials, (str, bytes)) or not hasattr(partials, "__iter__"):
        raise TypeError(
            f"partials of primitive {name!r} must be a list of functions, one per input, "
            f"got {partials!r}"
        )
    partials = tuple(partials)
    if arity is None:
        if not partials:
            raise ValueError(
                f"primitive {name!r}: partials=[] (zero derivative) needs arity=<number of inputs>"
            )
        arity = len(partials)
    if int(arity) != arity or arity < 1:
        raise ValueError(f"arity of primitive {name!r} must be a positive integer, got {arity!r}")
    arity = int(arity)
    if partials and len(partials) != arity:
        raise ValueError(
            f"primitive {name!r} has {arity} input(s) but {len(partials)} partial(s); give one "
            "partial derivative per input"
        )
    _check_accepts(impl, arity, "impl", name, f"{arity} input(s)")
    arguments = ", ".join(f"x{i}" for i in range(arity))
    for i, partial in enumerate(partials):
        _require_callable(partial, f"partials[{i}]", name)
        _check_accepts(partial, arity + 1, f"partials[{i}]", name, f"({arguments}, out)")
    _claim_name(name, replace)
    prim = CustomElementwise(
        name, _single_output(impl, name), partials, arity, taylor=series.FROM_JVP, domain=None
    )
    _CUSTOM_NAMES.add(name)
    return prim


def unregister(prim) -> None:
    """Remove a custom primitive (or its name) from the rule table; built-ins are refused.

    Values already computed stay valid; calling the removed primitive still works, but its name
    is free for a new declaration (test suites use this to leave the table as they found it).
    """
    name = prim if isinstance(prim, str) else getattr(prim, "name", None)
    if name not in REGISTRY:
        raise ValueError(f"cannot unregister {name!r}: no primitive of that name is registered")
    if name not in _CUSTOM_NAMES:
        raise ValueError(f"cannot unregister {name!r}: it is a built-in primitive")
    if not isinstance(prim, str) and REGISTRY[name] is not prim:
        raise ValueError(
            f"cannot unregister this {name!r}: it was already replaced by a newer declaration"
        )
    del REGISTRY[name]
    ELEMENTWISE.pop(name, None)
    _CUSTOM_NAMES.discard(name)
