"""A single reverse sweep frees the forward values as it goes (issue 13, item 3).

``grad`` sweeps its tape once, so each node is released as soon as its rule ran: the arrays the
forward pass kept for it die during the sweep, and the sweep's own temporaries reuse their
memory (at n = 1e5 the peak, and with glibc's default allocator the page faults of every call,
are what an eager HVP spends most of its time on).  A pullback that may be called again keeps
its tape.
"""

from __future__ import annotations

import weakref

import numpy as np
import pytest

import autodiff as ad
from autodiff.rules.primitive import primal_value


@pytest.fixture
def probe():
    """An identity primitive whose partial reports whether the watched array is already dead
    when the sweep reaches it (its node is the first recorded, so the last swept)."""
    watched, dead_at_partial = [], []

    def partial(x, out):
        dead_at_partial.append(watched[0]() is None)
        return np.ones_like(x)

    prim = ad.custom.elementwise("sweep_memory_probe", lambda x: x + 0.0, [partial])
    yield prim, watched, dead_at_partial
    ad.custom.unregister(prim)


def program(prim, watched):
    def f(x):
        h = np.exp(prim(x))
        big = h * 3.0
        watched.append(weakref.ref(primal_value(big)))
        return np.sum(np.sin(big))

    return f


def test_grad_releases_each_node_once_its_rule_ran(probe):
    prim, watched, dead_at_partial = probe
    x = np.linspace(-1.0, 1.0, 5)
    gradient = ad.grad(program(prim, watched))(x)
    np.testing.assert_allclose(gradient, np.cos(3 * np.exp(x)) * 3 * np.exp(x), rtol=1e-14)
    assert dead_at_partial == [True]


def test_a_reusable_pullback_keeps_its_tape(probe):
    prim, watched, dead_at_partial = probe
    x = np.linspace(-1.0, 1.0, 5)
    value, pullback = ad.vjp(program(prim, watched), x)
    first = pullback(1.0)
    np.testing.assert_array_equal(pullback(1.0), first)
    assert dead_at_partial == [False, False]


def test_hvp_is_unchanged_by_the_early_release():
    def f(x):
        return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    from scipy.optimize import rosen_hess_prod

    rng = np.random.default_rng(13)
    x, v = rng.normal(size=50), rng.normal(size=50)
    np.testing.assert_allclose(ad.hvp(f, x, v), rosen_hess_prod(x, v), rtol=1e-13)
    np.testing.assert_allclose(ad.hessian(f)(x) @ v, rosen_hess_prod(x, v), rtol=1e-13)
