"""Jacobian of an einsum self-attention layer (issue 9).

``f(X) = softmax(Q K^T / sqrt(d)) V W_o`` with ``Q, K, V = X W_q, X W_k, X W_v`` written with
``np.einsum`` (Vaswani et al., 2017, sec. 3.2.1), for ``X`` of 16 tokens x 32 features (8 x 16
with ``--quick``): ``jacrev`` pulls all ``T d`` output directions back at once.  The limit is a
hand-written NumPy Jacobian: the same reverse pass written out by hand with every unit cotangent
batched (``G -> G W_o^T -> (P, V) -> softmax's Jacobian -> (Q, K) -> X``).  PyTorch runs the
same layer with ``torch.einsum`` under ``torch.func.jacrev``.
"""

from functools import cache

import numpy as np

from ..harness import Benchmark, Ratio, Side

NAME = "attention"
LARGE_ARRAYS = True  # the batched cotangents of a 16x32 -> 16x32 Jacobian are 2 MB
ISOLATION = "workload"  # BLAS-heavy: all sides in one process (see the README)

HAND = "hand NumPy Jacobian (batched reverse pass)"


def _data(tokens, features):
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((4, features, features)) / np.sqrt(features)
    return rng.standard_normal((tokens, features)), tuple(weights)


def _attention(x, wq, wk, wv, wo):
    """The layer as NumPy users write it."""
    q = np.einsum("td,de->te", x, wq)
    k = np.einsum("td,de->te", x, wk)
    v = np.einsum("td,de->te", x, wv)
    scores = np.einsum("qe,ke->qk", q, k) / np.sqrt(x.shape[-1])
    weights = np.exp(scores - np.max(scores, axis=-1, keepdims=True))
    weights = weights / np.sum(weights, axis=-1, keepdims=True)
    return np.einsum("qk,ke,ef->qf", weights, v, wo)


def _torch_attention(torch, x, wq, wk, wv, wo):
    """The same layer in PyTorch."""
    q = torch.einsum("td,de->te", x, wq)
    k = torch.einsum("td,de->te", x, wk)
    v = torch.einsum("td,de->te", x, wv)
    scores = torch.einsum("qe,ke->qk", q, k) / np.sqrt(x.shape[-1])
    weights = torch.exp(scores - torch.amax(scores, dim=-1, keepdim=True))
    weights = weights / torch.sum(weights, dim=-1, keepdim=True)
    return torch.einsum("qk,ke,ef->qf", weights, v, wo)


def _hand(x, wq, wk, wv, wo):
    def jacobian():
        tokens, features = x.shape
        scale = 1 / np.sqrt(features)
        q, k, v = x @ wq, x @ wk, x @ wv
        scores = q @ k.T * scale
        p = np.exp(scores - scores.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        g = np.eye(tokens * features).reshape(-1, tokens, features)  # every output direction
        ga = g @ wo.T
        gp = ga @ v.T
        gv = np.swapaxes(p, 0, 1) @ ga
        gs = p * (gp - np.sum(gp * p, axis=-1, keepdims=True)) * scale
        gq, gk = gs @ k, np.swapaxes(gs, 1, 2) @ q
        gx = gq @ wq.T + gk @ wk.T + gv @ wv.T
        return gx.reshape(tokens, features, tokens, features)

    return jacobian


def _sides(tokens, features):
    x, weights = _data(tokens, features)
    expect = cache(_hand(x, *weights))

    def autodiff(mode):
        def build():
            import autodiff as ad

            transform = getattr(ad, mode)(lambda x: _attention(x, *weights))
            return lambda: transform(x)

        return build

    def torch_jacrev():
        import torch

        xt = torch.from_numpy(x)
        wt = [torch.from_numpy(w) for w in weights]
        transform = torch.func.jacrev(lambda x: _torch_attention(torch, x, *wt))
        return lambda: transform(xt).numpy()

    return [
        Side(HAND, "numpy", lambda: _hand(x, *weights), expect),
        Side("ad.jacrev", "autodiff", autodiff("jacrev"), expect),
        Side("ad.jacfwd", "autodiff", autodiff("jacfwd"), expect),
        Side("torch.func.jacrev", "torch", torch_jacrev, expect),
    ]


def benchmarks(quick: bool) -> list[Benchmark]:
    tokens, features = (8, 16) if quick else (16, 32)
    return [
        Benchmark(
            f"attention jacrev, {tokens} tokens x {features} features", "9",
            "Jacobian of an einsum self-attention layer (softmax(QK^T/sqrt d) V W_o) w.r.t. X",
            HAND, tuple(_sides(tokens, features)),
            ratios=(
                Ratio("ad.jacrev", "torch.func.jacrev", source="issue 9"),
                Ratio("ad.jacrev", HAND),
                Ratio("ad.jacfwd", "ad.jacrev"),
            ),
        )
    ]
