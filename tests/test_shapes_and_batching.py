"""Shapes swept and directions batched, over the whole rule table.

* Every elementwise primitive on scalars, vectors, matrices and broadcasting operands
  (``(1, n)``, ``(m, 1)`` against ``(1, n)``, a scalar against a matrix): the whole Jacobian
  against SymPy's partials (a broadcast operand's block sums them), ``jacfwd == jacrev``, and
  Jacobians assembled in chunks.
* Every array case of ``tests/rule_domains.py``: ``k`` directions pushed (``make_jvp`` with
  ``batch=(k,)``) or pulled (``pullback(U, batch=(k,))``) at once agree with ``k`` single passes,
  for ``k`` equal to each data dimension, so that a rule which broadcasts a batch axis against a
  data axis of the same size cannot hide.
* float32 inputs give float32 tangents and cotangents.
"""

from __future__ import annotations

import numpy as np
import pytest
from rule_domains import (
    ARRAY_CASES,
    NUMPY_CASES,
    central_jacobian,
    elementwise_spec,
    error_ratio,
    exact_partials,
    registered_elementwise,
    sample_elementwise,
    sample_inputs,
)

import autodiff as ad
from autodiff.rules.primitive import REGISTRY

SHAPES_BY_ARITY = {
    1: [((),), ((4,),), ((3, 4),), ((1, 4),)],
    2: [
        ((3, 4), (3, 4)),
        ((3, 4), (4,)),
        ((3, 4), (1, 4)),
        ((3, 1), (1, 4)),
        ((), (3, 4)),
        ((3, 4), ()),
    ],
    3: [((3, 4), (), ()), ((3, 4), (1, 4), (3, 1))],
}

ELEMENTWISE_SWEEP = [
    pytest.param(name, shapes, id=f"{name}-{'-'.join(map(str, shapes))}")
    for name in registered_elementwise()
    for shapes in SHAPES_BY_ARITY[REGISTRY[name].arity]
]


def _data_dims(shapes) -> list[int]:
    """The batch sizes to try: every data dimension (and 1)."""
    return sorted({1} | {d for shape in shapes for d in shape})


def _assert_jacobians(f, inputs, chunk_dims, expected=None):
    """jacfwd and jacrev against ``expected`` (default: central differences) and each other."""
    argnums = tuple(range(len(inputs)))
    forward = ad.jacfwd(f, argnums=argnums)(*inputs)
    reverse = ad.jacrev(f, argnums=argnums)(*inputs)
    if expected is None:
        expected, tolerance = central_jacobian(f, inputs), 1e-6
    else:
        tolerance = 1e-12
    for i, (want, jf, jr) in enumerate(zip(expected, forward, reverse)):
        assert np.shape(jf) == np.shape(jr) == np.shape(want), f"Jacobian block {i}: shape"
        assert error_ratio(want, jf) < tolerance, f"jacfwd vs the reference, input {i}"
        assert error_ratio(jf, jr) < 1e-12, f"jacfwd vs jacrev, input {i}"
    for k in chunk_dims:
        chunked_forward = ad.jacfwd(f, argnums=argnums, chunk_size=k)(*inputs)
        chunked_reverse = ad.jacrev(f, argnums=argnums, chunk_size=k)(*inputs)
        for i, (jf, cf, cr) in enumerate(zip(forward, chunked_forward, chunked_reverse)):
            assert error_ratio(jf, cf) < 1e-12, f"jacfwd with chunk_size={k}, input {i}"
            assert error_ratio(jf, cr) < 1e-12, f"jacrev with chunk_size={k}, input {i}"


def _broadcast_jacobian(shape, out_shape):
    """``d broadcast_to(x, out_shape) / dx``: 0/1 entries, shape ``out_shape + shape``."""
    size = int(np.prod(shape, dtype=int))
    identity = np.eye(size).reshape((size,) + (1,) * (len(out_shape) - len(shape)) + shape)
    spread = np.broadcast_to(identity, (size,) + out_shape)
    return np.moveaxis(spread, 0, -1).reshape(out_shape + shape)


def _exact_elementwise_jacobian(name, inputs):
    """Blocks ``out.shape + x_i.shape``: SymPy's partial at each output point, routed back."""
    out_shape = np.broadcast_shapes(*[np.shape(x) for x in inputs])
    points = [np.broadcast_to(x, out_shape).ravel() for x in inputs]
    blocks = []
    for i, x in enumerate(inputs):
        partials = exact_partials(name, i, points).reshape(out_shape)
        selector = _broadcast_jacobian(np.shape(x), out_shape)
        blocks.append(partials.reshape(out_shape + (1,) * np.ndim(x)) * selector)
    return blocks


@pytest.mark.parametrize("name, shapes", ELEMENTWISE_SWEEP)
def test_elementwise_shapes_and_broadcasting(name, shapes):
    spec, prim = elementwise_spec(name), REGISTRY[name]
    inputs = sample_elementwise(spec, shapes, np.random.default_rng(3))
    out_shape = np.broadcast_shapes(*shapes)
    expected = _exact_elementwise_jacobian(name, inputs)
    _assert_jacobians(prim, inputs, _data_dims(shapes + (out_shape,)), expected)


CASES = [pytest.param(case, id=case.id) for case in ARRAY_CASES + NUMPY_CASES]


def _function(case):
    prim = REGISTRY.get(case.primitive)
    return lambda *xs: case.call(prim, *xs)


@pytest.mark.parametrize("case", CASES)
def test_array_jacobians_in_chunks_of_each_data_dimension(case):
    f = _function(case)
    inputs = sample_inputs(case, np.random.default_rng(4))
    out_shape = np.shape(f(*inputs))
    _assert_jacobians(f, inputs, _data_dims(case.shapes + (out_shape,)))


def _batched_cases():
    for case in ARRAY_CASES + NUMPY_CASES:
        yield pytest.param(_function(case), case, id=case.id)
    for name in registered_elementwise():
        spec = elementwise_spec(name)
        for shapes in SHAPES_BY_ARITY[spec.arity]:
            label = "-".join(map(str, shapes))
            yield pytest.param(REGISTRY[name], (spec, shapes), id=f"{name}-{label}")


def _inputs(case, rng):
    if isinstance(case, tuple):
        spec, shapes = case
        return sample_elementwise(spec, shapes, rng)
    return sample_inputs(case, rng)


@pytest.mark.parametrize("f, case", list(_batched_cases()))
def test_batched_directions_match_single_directions(f, case):
    """``k`` tangents / cotangents at once == ``k`` single passes, ``k`` = each data dimension."""
    rng = np.random.default_rng(5)
    inputs = tuple(_inputs(case, rng))
    out = f(*inputs)
    _, pullback = ad.vjp(f, inputs)
    shapes = tuple(np.shape(x) for x in inputs)
    for k in _data_dims(shapes):
        tangents = tuple(rng.normal(size=(k,) + np.shape(x)) for x in inputs)
        _, pushed = ad.make_jvp(f, inputs, tangents, batch=(k,))
        assert np.shape(pushed) == (k,) + np.shape(out)
        for j in range(k):
            _, single = ad.jvp(f, inputs, tuple(t[j] for t in tangents))
            assert error_ratio(single, pushed[j]) < 1e-12, f"direction {j} of {k} pushed"
    for k in _data_dims((np.shape(out),)):
        cotangents = rng.normal(size=(k,) + np.shape(out))
        pulled = pullback(cotangents, batch=(k,))
        for i, x in enumerate(inputs):
            assert np.shape(pulled[i]) == (k,) + np.shape(x)
        for j in range(k):
            single = pullback(cotangents[j])
            for i in range(len(inputs)):
                assert error_ratio(single[i], pulled[i][j]) < 1e-12, f"direction {j} of {k} pulled"


@pytest.mark.parametrize("case", CASES)
def test_float32_stays_float32_through_array_rules(case):
    f = _function(case)
    rng = np.random.default_rng(6)
    inputs = tuple(sample_inputs(case, rng, dtype=np.float32))
    tangents = tuple(np.ones_like(x) for x in inputs)
    out, tangent = ad.jvp(f, inputs, tangents)
    expected = np.result_type(f(*inputs))  # float32, unless NumPy promotes (np.cov, quantiles)
    assert np.result_type(out) == expected and np.result_type(tangent) == expected
    _, pullback = ad.vjp(f, inputs)
    cotangents = pullback(np.ones(np.shape(out), np.float32))
    assert [np.result_type(c) for c in cotangents] == [np.float32] * len(inputs)


@pytest.mark.parametrize("case", CASES)
def test_array_rules_differentiate_again(case):
    """Hessians of ``sum(w * f(x))`` by all four nestings of the two modes agree, and match
    central differences of the gradient (the rules are written in primitives)."""
    f = _function(case)
    rng = np.random.default_rng(7)
    inputs = sample_inputs(case, rng)
    weights = rng.normal(size=np.shape(f(*inputs)))
    for i in range(len(inputs)):

        def g(x, i=i):
            args = list(inputs)
            args[i] = x
            return np.sum(weights * f(*args))

        gradient = ad.grad(g)
        forward_over_reverse = ad.jacfwd(gradient)(inputs[i])
        (differences,) = central_jacobian(gradient, [inputs[i]])
        assert error_ratio(differences, forward_over_reverse) < 1e-6, f"input {i}"
        for outer, inner in [(ad.jacrev, ad.grad), (ad.jacfwd, ad.jacfwd), (ad.jacrev, ad.jacfwd)]:
            hessian = outer(inner(g))(inputs[i])
            assert error_ratio(forward_over_reverse, hessian) < 1e-12, (
                f"input {i}: {outer.__name__}({inner.__name__}) vs jacfwd(grad)"
            )
