"""Realistic programs: Poisson and Gamma regression negative log likelihoods with
``scipy.special`` (issue 9, item 6), written as a statistician writes them.

Each is checked in forward mode, reverse mode (central differences and ``<u, Jv> = <J^T u, v>``,
to second order) and with a Hessian-vector product against differenced gradients; the gradient
is also compared with the hand-derived one (McCullagh & Nelder, *Generalized Linear Models*,
2nd ed., 1989, sections 6.2 and 8.3: the score of a log-link GLM).
"""

from __future__ import annotations

import numpy as np
import pytest

sc = pytest.importorskip("scipy.special")

import autodiff as ad  # noqa: E402
from autodiff.testing import check_grads, check_hvp  # noqa: E402

RNG = np.random.default_rng(7)
N, P = 40, 3
X = np.column_stack([np.ones(N), RNG.normal(size=(N, P - 1))])
BETA = np.array([0.4, -0.3, 0.5])
COUNTS = RNG.poisson(np.exp(X @ BETA)).astype(float)
SHAPE = 2.5
AMOUNTS = RNG.gamma(SHAPE, np.exp(X @ BETA) / SHAPE)


def poisson_nll(beta):
    """-log L = sum(mu - y log mu + log y!), mu = exp(X beta)."""
    eta = X @ beta
    mu = np.exp(eta)
    return np.sum(mu - sc.xlogy(COUNTS, mu) + sc.gammaln(COUNTS + 1.0))


def gamma_nll(params):
    """Gamma regression with log link and a free shape: params = (beta, log shape)."""
    beta, log_shape = params[:-1], params[-1]
    shape = np.exp(log_shape)
    mu = np.exp(X @ beta)
    rate = shape / mu
    log_density = (sc.xlogy(shape, rate) - sc.gammaln(shape) + sc.xlogy(shape - 1.0, AMOUNTS)
                   - rate * AMOUNTS)
    return -np.sum(log_density)


def gamma_shape_score(params):
    """d(-log L)/d shape by hand, with digamma: N (digamma(k) - log(k) - 1) + sum(...)."""
    beta, shape = params[:-1], np.exp(params[-1])
    mu = np.exp(X @ beta)
    return -np.sum(np.log(shape / mu) + 1.0 - sc.digamma(shape) + np.log(AMOUNTS) - AMOUNTS / mu)


POINT = np.array([0.2, -0.1, 0.3])
GAMMA_POINT = np.array([0.2, -0.1, 0.3, np.log(2.0)])


def test_poisson_gradient_is_the_glm_score():
    expected = X.T @ (np.exp(X @ POINT) - COUNTS)
    np.testing.assert_allclose(ad.grad(poisson_nll)(POINT), expected, rtol=1e-12)
    hessian = X.T @ (np.exp(X @ POINT)[:, None] * X)
    np.testing.assert_allclose(ad.hessian(poisson_nll)(POINT), hessian, rtol=1e-12)


def test_gamma_shape_derivative_uses_digamma():
    gradient = ad.grad(gamma_nll)(GAMMA_POINT)
    shape = np.exp(GAMMA_POINT[-1])
    np.testing.assert_allclose(gradient[-1], gamma_shape_score(GAMMA_POINT) * shape, rtol=1e-11)


@pytest.mark.parametrize("nll, point", [(poisson_nll, POINT), (gamma_nll, GAMMA_POINT)],
                         ids=["poisson", "gamma"])
def test_forward_reverse_and_hvp_against_central_differences(nll, point):
    check_grads(nll, point, modes=("fwd", "rev"), order=2)
    check_hvp(nll, point, np.linspace(-1.0, 1.0, point.size))


def test_gamma_fit_by_trust_region_newton_reaches_a_zero_score():
    result = ad.optim.minimize(gamma_nll, GAMMA_POINT, method="trust-ncg", tol=1e-10)
    assert result.success
    assert np.max(np.abs(ad.grad(gamma_nll)(result.x))) < 1e-6
