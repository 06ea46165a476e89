"""A realistic program: a single-head self-attention block, written as NumPy users write it.

Scaled dot-product attention (Vaswani et al., "Attention is all you need", NeurIPS 2017,
sec. 3.2.1) with the projections as ``einsum``, a residual connection and layer normalisation
(Ba, Kiros & Hinton, "Layer normalization", 2016) from ``np.mean`` and ``np.var``.  Checked in
forward mode, reverse mode (first and second order) and with Hessian-vector products, against
central differences, and against the same block written with plain matrix products.
"""

from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad

TOKENS, FEATURES = 5, 4
EPS = 1e-5


def _parameters(seed=0):
    rng = np.random.default_rng(seed)
    scale = 1 / np.sqrt(FEATURES)
    return {
        "query": rng.normal(scale=scale, size=(FEATURES, FEATURES)),
        "key": rng.normal(scale=scale, size=(FEATURES, FEATURES)),
        "value": rng.normal(scale=scale, size=(FEATURES, FEATURES)),
        "out": rng.normal(scale=scale, size=(FEATURES, FEATURES)),
        "gain": 1 + 0.1 * rng.normal(size=FEATURES),
        "bias": 0.1 * rng.normal(size=FEATURES),
    }


def attention_block(params, x):
    """``LayerNorm(x + softmax(Q K^T / sqrt(d)) V W_o)`` for tokens ``x`` of shape ``(T, d)``."""
    q = np.einsum("td,de->te", x, params["query"])
    k = np.einsum("td,de->te", x, params["key"])
    v = np.einsum("td,de->te", x, params["value"])
    scores = np.einsum("qe,ke->qk", q, k) / np.sqrt(x.shape[-1])
    scores = scores - np.max(scores, axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / np.sum(weights, axis=-1, keepdims=True)
    h = x + np.einsum("qk,ke,ef->qf", weights, v, params["out"])
    centred = h - np.mean(h, axis=-1, keepdims=True)
    normalised = centred / np.sqrt(np.var(h, axis=-1, keepdims=True) + EPS)
    return normalised * params["gain"] + params["bias"]


def attention_with_matmul(params, x):
    """The same block with ``@`` and a hand-written variance: the reference."""
    q, k, v = x @ params["query"], x @ params["key"], x @ params["value"]
    scores = q @ k.T / np.sqrt(x.shape[-1])
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = weights / weights.sum(axis=-1, keepdims=True)
    h = x + weights @ v @ params["out"]
    centred = h - h.mean(axis=-1, keepdims=True)
    variance = (centred**2).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(variance + EPS) * params["gain"] + params["bias"]


def loss(params, x):
    target = np.linspace(-1, 1, TOKENS * FEATURES).reshape(TOKENS, FEATURES)
    return np.sum((attention_block(params, x) - target) ** 2)


@pytest.fixture
def tokens():
    return np.random.default_rng(1).normal(size=(TOKENS, FEATURES))


def test_block_value_matches_the_matrix_product_reference(tokens):
    params = _parameters()
    np.testing.assert_allclose(attention_block(params, tokens),
                               attention_with_matmul(params, tokens), rtol=1e-12, atol=1e-12)


def test_forward_and_reverse_mode_against_central_differences(tokens):
    params = _parameters()
    ad.testing.check_grads(attention_block, (params, tokens), modes=("fwd", "rev"), order=2)


def test_gradients_agree_with_the_reference_block(tokens):
    params = _parameters()
    grads = ad.grad(loss, argnums=(0, 1))(params, tokens)

    def reference_loss(p, x):
        target = np.linspace(-1, 1, TOKENS * FEATURES).reshape(TOKENS, FEATURES)
        return np.sum((attention_with_matmul(p, x) - target) ** 2)

    expected = ad.grad(reference_loss, argnums=(0, 1))(params, tokens)
    for name in params:
        np.testing.assert_allclose(grads[0][name], expected[0][name], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads[1], expected[1], rtol=1e-10, atol=1e-12)


def test_jacobians_of_the_block_agree_between_modes(tokens):
    params = _parameters()
    forward = ad.jacfwd(lambda x: attention_block(params, x))(tokens)
    reverse = ad.jacrev(lambda x: attention_block(params, x))(tokens)
    assert forward.shape == (TOKENS, FEATURES, TOKENS, FEATURES)
    np.testing.assert_allclose(forward, reverse, rtol=1e-12, atol=1e-13)


def test_hessian_vector_products_against_differenced_gradients(tokens):
    params = _parameters()
    rng = np.random.default_rng(2)
    direction = {name: rng.normal(size=np.shape(value)) for name, value in params.items()}
    ad.testing.check_hvp(lambda p: loss(p, tokens), params, direction)
    ad.testing.check_hvp(lambda x: loss(params, x), tokens, rng.normal(size=tokens.shape))
