"""Random array programs: forward and reverse mode must agree on all of them.

Hypothesis draws one or two input shapes and a short program: each step applies one NumPy call
(elementwise, broadcasting binary, reduction over an axis, matmul with a constant or between two
values, reshaping, indexing, joining, selecting) to values computed so far.  For every program:

* ``jacrev == jacfwd`` to ~1e-12 (every block of the Jacobian),
* ``<u, J v> == <J^T u, v>`` between ``jvp`` and ``vjp`` for random ``u``, ``v``,
* ``Var.backward`` accumulates the same cotangents as the functional pullback,
* the traced value equals the plain NumPy value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from rule_domains import pairing

import autodiff as ad

MAX_SIZE = 24
MAX_NDIM = 3
INPUT_SHAPES = [(), (3,), (2, 3), (3, 1), (1, 3), (2, 1, 3)]

# one operand, defined on all reals (derivatives finite everywhere)
UNARY = {
    "sin": np.sin,
    "cos": np.cos,
    "tanh": np.tanh,
    "arctan": np.arctan,
    "arcsinh": np.arcsinh,
    "sigmoid": ad.sigmoid,
    "softplus": ad.softplus,
    "erf": ad.erf,
    "square": np.square,
    "abs": np.abs,
    "negative": np.negative,
    "affine": lambda x: 2.0 * x - 1.0,
    "exp-scaled": lambda x: np.exp(0.3 * x),
    "log1p-square": lambda x: np.log1p(x * x),
    "sqrt-one-plus-square": lambda x: np.sqrt(1.0 + x**2),
    "reciprocal-one-plus-square": lambda x: 1.0 / (1.0 + x * x),
    "power-of-positive": lambda x: (1.0 + x * x) ** 1.5,
    "constant-to-the-x": lambda x: 1.5**x,
    "hypot-constant": lambda x: np.hypot(x, 0.7),
    "logaddexp-constant": lambda x: np.logaddexp(x, 0.2),
    "arctan2-constant": lambda x: np.arctan2(x, 1.3),
    "maximum-constant": lambda x: np.maximum(x, 0.1),
    "clip": lambda x: np.clip(x, -0.4, 0.6),
}

# two operands, broadcast against each other
BINARY = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "divide-safe": lambda a, b: a / (1.0 + b * b),
    "power-safe": lambda a, b: (1.0 + a * a) ** np.tanh(b),
    "maximum": np.maximum,
    "minimum": np.minimum,
    "hypot": np.hypot,
    "logaddexp": np.logaddexp,
    "arctan2-safe": lambda a, b: np.arctan2(a, 2.0 + b * b),
    "matmul": np.matmul,
    "dot": np.dot,
    "outer": np.outer,
}

REDUCTIONS = {
    "sum": np.sum,
    "mean": np.mean,
    "max": np.max,
    "min": np.min,
    "prod": np.prod,
    "logsumexp": ad.logsumexp,
}


@dataclass
class Step:
    """One NumPy call on earlier values (``operands`` index the values computed so far)."""

    name: str
    operands: tuple
    params: dict = field(default_factory=dict)

    def apply(self, values):
        args = [values[i] for i in self.operands]
        return OPS[self.name](*args, **self.params)


def _reduce(name):
    return lambda x, axis, keepdims: REDUCTIONS[name](x, axis=axis, keepdims=keepdims)


OPS = {
    **{name: fn for name, fn in UNARY.items()},
    **{name: fn for name, fn in BINARY.items()},
    **{name: _reduce(name) for name in REDUCTIONS},
    "cumsum": lambda x, axis: np.cumsum(x, axis=axis),
    "matmul-constant-right": lambda x, w: x @ w,
    "matmul-constant-left": lambda x, w: w @ x,
    "transpose": lambda x, axes: np.transpose(x, axes),
    "moveaxis": lambda x, source, destination: np.moveaxis(x, source, destination),
    "reshape": lambda x, shape: np.reshape(x, shape),
    "ravel": np.ravel,
    "expand_dims": lambda x, axis: np.expand_dims(x, axis),
    "squeeze": np.squeeze,
    "broadcast_to": lambda x, shape: np.broadcast_to(x, shape),
    "getitem": lambda x, index: x[index],
    "concatenate": lambda a, b, axis: np.concatenate([a, b], axis=axis),
    "stack": lambda a, b: np.stack([a, b]),
    "where": lambda a, b, mask: np.where(mask, a, b),
}


def _pick(rng, names):
    """A uniform choice (Hypothesis draws the seed, the kinds of steps and the operands)."""
    return sorted(names)[int(rng.integers(len(names)))]


def _draw_step(data, values, rng):
    """A step applicable to the current values (checked by running it on them)."""
    n = len(values)
    kind = data.draw(
        st.sampled_from(["unary", "binary", "reduction", "structure", "constant", "join"])
    )
    i = data.draw(st.integers(0, n - 1), label="operand")
    x = values[i]
    ndim = np.ndim(x)
    if kind == "unary":
        return Step(_pick(rng, UNARY), (i,))
    if kind == "binary":
        j = data.draw(st.integers(0, n - 1), label="second operand")
        return Step(_pick(rng, BINARY), (i, j))
    if kind == "join":
        j = data.draw(st.integers(0, n - 1), label="second operand")
        choice = _pick(rng, ["concatenate", "stack", "where"])
        if choice == "concatenate":
            return Step("concatenate", (i, j), {"axis": data.draw(st.integers(-1, 0))})
        if choice == "stack":
            return Step("stack", (i, j))
        shape = np.broadcast_shapes(np.shape(x), np.shape(values[j]))
        return Step("where", (i, j), {"mask": rng.random(shape) < 0.5})
    if kind == "reduction":
        name = _pick(rng, list(REDUCTIONS) + ["cumsum"])
        axis = data.draw(st.sampled_from([None] + list(range(-ndim, ndim))))
        if name == "cumsum":
            return Step(name, (i,), {"axis": axis})
        return Step(name, (i,), {"axis": axis, "keepdims": data.draw(st.booleans())})
    if kind == "constant":
        k = data.draw(st.integers(1, 3))
        if data.draw(st.booleans()):
            inner = np.shape(x)[-1] if ndim else 1
            return Step("matmul-constant-right", (i,), {"w": rng.normal(size=(inner, k))})
        inner = np.shape(x)[-2] if ndim >= 2 else (np.shape(x)[0] if ndim else 1)
        return Step("matmul-constant-left", (i,), {"w": rng.normal(size=(k, inner))})
    choice = _pick(
        rng,
        ["transpose", "moveaxis", "reshape", "ravel", "expand_dims", "squeeze", "broadcast_to",
         "getitem"],
    )
    if choice == "transpose":
        return Step(choice, (i,), {"axes": tuple(rng.permutation(ndim).tolist())})
    if choice == "moveaxis":
        return Step(choice, (i,), {"source": 0, "destination": -1})
    if choice == "reshape":
        return Step(choice, (i,), {"shape": tuple(reversed(np.shape(x)))})
    if choice == "expand_dims":
        return Step(choice, (i,), {"axis": data.draw(st.integers(-ndim - 1, ndim))})
    if choice == "broadcast_to":
        return Step(choice, (i,), {"shape": (2,) + np.shape(x)})
    if choice == "getitem":
        return Step(choice, (i,), {"index": _draw_index(data, np.shape(x), rng)})
    return Step(choice, (i,))


def _draw_index(data, shape, rng):
    kind = _pick(rng, ["int", "reversed", "int-array", "mask", "ellipsis-none", "slices"])
    if not shape:
        return (None, Ellipsis)
    if kind == "int":
        return int(rng.integers(-shape[0], shape[0]))
    if kind == "reversed":
        return slice(None, None, -1)
    if kind == "int-array":
        return rng.integers(0, shape[0], size=4)
    if kind == "mask":
        mask = rng.random(shape) < 0.6
        mask.flat[0] = True
        return mask
    if kind == "ellipsis-none":
        return (Ellipsis, None, slice(None, None, 2))
    return tuple(slice(int(rng.integers(0, s)), None) for s in shape)


@st.composite
def programs(draw):
    """``(inputs, steps)``: a random program and the point to differentiate it at."""
    data = draw(st.data())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    n_inputs = draw(st.integers(1, 2))
    inputs = [rng.normal(size=draw(st.sampled_from(INPUT_SHAPES))) for _ in range(n_inputs)]
    values = list(inputs)
    steps = []
    for _ in range(draw(st.integers(1, 6))):
        for _attempt in range(20):
            try:
                step = _draw_step(data, values, rng)
                with np.errstate(all="raise"):
                    value = np.asarray(step.apply(values))
            except (ValueError, IndexError, np.exceptions.AxisError, FloatingPointError):
                continue
            if value.size <= MAX_SIZE and value.ndim <= MAX_NDIM and value.size > 0:
                break
        else:
            continue
        steps.append(step)
        values.append(value)
    return inputs, steps


def assert_agree(a, b, what):
    """Equal to ~1e-12: relative to their size, with an absolute floor of 1e-12 per entry.

    The floor covers exact zeros reached by cancellation (``maximum(x, c) - x`` where ``x > c``,
    the second derivative of ``logaddexp(x, x)``): each mode keeps its own rounding residue.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    difference = np.linalg.norm(a - b)
    bound = 1e-12 * (np.linalg.norm(a) + np.linalg.norm(b)) + 1e-12 * np.sqrt(a.size)
    assert difference <= bound, f"{what}: differ by {difference:.3g} (bound {bound:.3g})"


def _run(steps, *inputs):
    values = list(inputs)
    for step in steps:
        values.append(step.apply(values))
    return values[-1]


@settings(max_examples=150, deadline=None)
@given(program=programs(), seed=st.integers(0, 2**16))
def test_forward_and_reverse_agree_on_random_programs(program, seed):
    inputs, steps = program
    inputs = tuple(inputs)

    def f(*xs):
        return _run(steps, *xs)

    expected = np.asarray(f(*inputs))
    argnums = tuple(range(len(inputs)))
    forward = ad.jacfwd(f, argnums=argnums)(*inputs)
    reverse = ad.jacrev(f, argnums=argnums)(*inputs)
    for i, (jf, jr) in enumerate(zip(forward, reverse)):
        assert np.shape(jf) == np.shape(jr) == expected.shape + np.shape(inputs[i])
        assert_agree(jf, jr, f"jacfwd vs jacrev, input {i}")

    rng = np.random.default_rng(seed)
    vs = tuple(rng.normal(size=np.shape(x)) for x in inputs)
    value, tangent = ad.jvp(f, inputs, vs)
    np.testing.assert_allclose(value, expected, rtol=1e-14, atol=1e-300)
    _, pullback = ad.vjp(f, inputs)
    u = rng.normal(size=expected.shape)
    cotangents = pullback(u)
    lhs, scale = pairing([u], [tangent])
    rhs, _ = pairing(cotangents, vs)
    floor = 1e-12 * np.linalg.norm(u) * np.sqrt(sum(np.sum(v * v) for v in vs))
    assert abs(lhs - rhs) <= 1e-12 * scale + floor, f"<u, Jv> = {lhs} but <J^T u, v> = {rhs}"

    leaves = [ad.Var(x) for x in inputs]
    out = f(*leaves)
    out.backward(u)
    for leaf, cotangent in zip(leaves, cotangents):
        grad = np.zeros(np.shape(leaf.value)) if leaf.grad is None else leaf.grad
        assert_agree(cotangent, grad, "Var.backward vs the pullback")


@settings(max_examples=40, deadline=None)
@given(program=programs(), seed=st.integers(0, 2**16))
def test_second_order_agrees_on_random_programs(program, seed):
    """Hessian of ``sum(w * f(x))`` by forward over reverse and by reverse over reverse, and the
    Hessian-vector product, agree: the rules differentiate again, in either mode."""
    inputs, steps = program
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=np.shape(_run(steps, *inputs)))

    def g(x):
        return np.sum(weights * _run(steps, x, *inputs[1:]))

    x = inputs[0]
    forward_over_reverse = ad.jacfwd(ad.grad(g))(x)
    reverse_over_reverse = ad.jacrev(ad.grad(g))(x)
    assert_agree(forward_over_reverse, reverse_over_reverse, "jacfwd(grad) vs jacrev(grad)")
    v = rng.normal(size=np.shape(x))
    product = ad.hvp(g, x, v)
    size = np.size(x)
    expected = np.reshape(forward_over_reverse, (size, size)) @ np.ravel(v)
    assert_agree(expected, np.ravel(product), "hvp vs the Hessian")
