"""Realistic programs built on ``np.linalg``, written as scientists write them.

Each is checked in forward and reverse mode to second order (``ad.testing.check_grads``) and
with Hessian-vector products (``ad.testing.check_hvp``) against central differences, and where
a closed form exists, against it:

* the negative log marginal likelihood of a Gaussian process (Rasmussen & Williams, *Gaussian
  Processes for Machine Learning*, 2006, eq. 2.30 and Algorithm 2.1), whose gradient is
  ``1/2 tr((alpha alpha^T - K^{-1}) dK/dtheta)`` (eq. 5.9);
* the log likelihood of a Kalman filter (the prediction-error decomposition; Harvey,
  *Forecasting, Structural Time Series Models and the Kalman Filter*, 1989, sec. 3.4), written
  once with ``inv``/``det`` and once with ``solve``/``slogdet``;
* principal components: the variance captured by the top-k eigenvectors of a covariance, and the
  reconstruction error of the projection onto them;
* least squares: the ``lstsq`` fit and its residual, and the same fit by ``pinv``.
"""

from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff.testing import check_grads, check_hvp

# ----------------------------------------------------------------------------------------------
# Gaussian-process negative log likelihood
# ----------------------------------------------------------------------------------------------


def rbf_kernel(theta, x):
    """``s^2 exp(-|x_i - x_j|^2 / (2 l^2)) + sigma^2 I`` with ``theta = log(l, s^2, sigma^2)``."""
    lengthscale, signal, noise = np.exp(theta[0]), np.exp(theta[1]), np.exp(theta[2])
    squared = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    return signal * np.exp(-0.5 * squared / lengthscale**2) + noise * np.eye(len(x))


def gp_nll(theta, x, y):
    """Rasmussen & Williams, Algorithm 2.1: Cholesky, two triangular solves, the log diagonal."""
    n = len(y)
    factor = np.linalg.cholesky(rbf_kernel(theta, x))
    z = np.linalg.solve(factor, y)
    alpha = np.linalg.solve(factor.T, z)
    diagonal = factor[np.arange(n), np.arange(n)]
    return 0.5 * y @ alpha + np.sum(np.log(diagonal)) + 0.5 * n * np.log(2 * np.pi)


def gp_nll_slogdet(theta, x, y):
    """The same likelihood with ``solve`` and ``slogdet`` on ``K`` itself."""
    k = rbf_kernel(theta, x)
    return 0.5 * y @ np.linalg.solve(k, y) + 0.5 * np.linalg.slogdet(k)[1] + 0.5 * len(
        y) * np.log(2 * np.pi)


def gp_nll_gradient_by_hand(theta, x, y):
    """``1/2 tr((alpha alpha^T - K^{-1}) dK/dtheta_i)`` (Rasmussen & Williams, eq. 5.9)."""
    lengthscale, signal, noise = np.exp(theta)
    squared = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    rbf = signal * np.exp(-0.5 * squared / lengthscale**2)
    k = rbf + noise * np.eye(len(x))
    k_inv = np.linalg.inv(k)
    alpha = k_inv @ y
    inner = np.outer(alpha, alpha) - k_inv
    derivatives = [rbf * squared / lengthscale**2, rbf, noise * np.eye(len(x))]
    return np.array([-0.5 * np.sum(inner * d) for d in derivatives])


def _gp_data(n=7, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 2))
    y = np.sin(x[:, 0]) + 0.5 * x[:, 1] + 0.1 * rng.normal(size=n)
    return np.array([0.1, -0.2, np.log(0.1)]), x, y


@pytest.mark.parametrize("nll", [gp_nll, gp_nll_slogdet], ids=["cholesky", "slogdet"])
def test_gp_likelihood_gradient_is_the_closed_form(nll):
    theta, x, y = _gp_data()
    gradient = ad.grad(nll)(theta, x, y)
    np.testing.assert_allclose(gradient, gp_nll_gradient_by_hand(theta, x, y), rtol=1e-9)
    assert nll(theta, x, y) == pytest.approx(gp_nll(theta, x, y), rel=1e-12)


@pytest.mark.parametrize("nll", [gp_nll, gp_nll_slogdet], ids=["cholesky", "slogdet"])
def test_gp_likelihood_derivatives_to_second_order(nll):
    theta, x, y = _gp_data()
    check_grads(lambda t: nll(t, x, y), theta, order=2)
    check_hvp(lambda t: nll(t, x, y), theta, np.array([0.3, -1.0, 0.5]))


def test_gp_likelihood_gradient_with_respect_to_the_inputs():
    """The inputs ``x`` (inducing-point style) are differentiable too."""
    theta, x, y = _gp_data(n=5)
    check_grads(lambda points: gp_nll(theta, points, y), x, order=1)


# ----------------------------------------------------------------------------------------------
# Kalman filter log likelihood
# ----------------------------------------------------------------------------------------------

_OBSERVATIONS = np.array([[0.3, -0.1], [0.8, 0.4], [0.5, 0.9], [-0.2, 1.1], [0.1, 0.6]])


def _model(theta):
    """A damped rotation observed in noise: ``theta = (rho, log q, log r)``."""
    rho, q, r = theta[0], np.exp(theta[1]), np.exp(theta[2])
    angle = 0.3
    transition = rho * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    observation = np.array([[1.0, 0.0], [0.5, 1.0]])
    return transition, observation, q * np.eye(2), r * np.eye(2)


def kalman_loglik_inv_det(theta, observations=_OBSERVATIONS):
    """Innovations with ``inv`` and ``det``, as textbooks write them."""
    transition, observation, q, r = _model(theta)
    mean, covariance = np.zeros(2), np.eye(2)
    total = 0.0
    for y in observations:
        mean = transition @ mean
        covariance = transition @ covariance @ transition.T + q
        innovation = y - observation @ mean
        s = observation @ covariance @ observation.T + r
        s_inv = np.linalg.inv(s)
        total = total - 0.5 * (np.log(np.linalg.det(2 * np.pi * s)) + innovation @ s_inv
                               @ innovation)
        gain = covariance @ observation.T @ s_inv
        mean = mean + gain @ innovation
        covariance = covariance - gain @ observation @ covariance
    return total


def kalman_loglik_solve(theta, observations=_OBSERVATIONS):
    """The same filter with ``solve`` and ``slogdet`` (no explicit inverse)."""
    transition, observation, q, r = _model(theta)
    mean, covariance = np.zeros(2), np.eye(2)
    total = 0.0
    for y in observations:
        mean = transition @ mean
        covariance = transition @ covariance @ transition.T + q
        innovation = y - observation @ mean
        s = observation @ covariance @ observation.T + r
        sign, logdet = np.linalg.slogdet(s)
        total = total - 0.5 * (2 * np.log(2 * np.pi) + logdet
                               + innovation @ np.linalg.solve(s, innovation))
        gain = np.linalg.solve(s, observation @ covariance).T
        mean = mean + gain @ innovation
        covariance = covariance - gain @ observation @ covariance
    return total


_KALMAN_THETA = np.array([0.9, np.log(0.2), np.log(0.3)])


def test_kalman_spellings_agree():
    theta = _KALMAN_THETA
    assert kalman_loglik_solve(theta) == pytest.approx(kalman_loglik_inv_det(theta), rel=1e-12)
    np.testing.assert_allclose(ad.grad(kalman_loglik_solve)(theta),
                               ad.grad(kalman_loglik_inv_det)(theta), rtol=1e-10)


@pytest.mark.parametrize("loglik", [kalman_loglik_inv_det, kalman_loglik_solve],
                         ids=["inv-det", "solve-slogdet"])
def test_kalman_likelihood_derivatives_to_second_order(loglik):
    check_grads(loglik, _KALMAN_THETA, order=2)
    check_hvp(loglik, _KALMAN_THETA, np.array([1.0, 0.5, -0.3]))


def test_kalman_likelihood_with_respect_to_the_data():
    check_grads(lambda obs: kalman_loglik_solve(_KALMAN_THETA, obs), _OBSERVATIONS, order=1)


# ----------------------------------------------------------------------------------------------
# principal components
# ----------------------------------------------------------------------------------------------


def _pca_data(seed=0):
    """Data with well separated variances along random directions (distinct eigenvalues)."""
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    return rng.normal(size=(12, 4)) * np.array([3.0, 2.0, 1.0, 0.5]) @ rotation.T


def covariance(data):
    centred = data - np.mean(data, axis=0)
    return centred.T @ centred / (len(data) - 1)


def top_variance(data, k=2):
    """The variance captured by the top ``k`` principal axes: the top eigenvalues' sum."""
    return np.sum(np.linalg.eigvalsh(covariance(data))[-k:])


def reconstruction_error(data, k=2):
    """``|X_c - X_c P P^T|^2`` for the projection ``P`` onto the top ``k`` eigenvectors."""
    centred = data - np.mean(data, axis=0)
    _, vectors = np.linalg.eigh(covariance(data))
    basis = vectors[:, -k:]
    return np.sum((centred - centred @ basis @ basis.T) ** 2)


def test_top_eigenvalue_gradient_is_the_projector():
    """``d(sum of top-k eigenvalues)/dC = P P^T`` (Giles 2008, sec. 3.1), via the data."""
    data = _pca_data()
    c = covariance(data)
    _, vectors = np.linalg.eigh(c)
    basis = vectors[:, -2:]
    gradient = ad.grad(lambda m: np.sum(np.linalg.eigvalsh(m)[-2:]))(c)
    # eigvalsh reads the lower triangle: the symmetric part of the gradient is P P^T
    np.testing.assert_allclose((gradient + gradient.T) / 2, basis @ basis.T, atol=1e-12)


@pytest.mark.parametrize("program", [top_variance, reconstruction_error])
def test_pca_derivatives_to_second_order(program):
    data = _pca_data()
    check_grads(program, data, order=2)
    check_hvp(program, data, np.random.default_rng(1).normal(size=data.shape))


def test_pca_total_variance_is_split_between_kept_and_lost():
    data = _pca_data()
    centred = data - np.mean(data, axis=0)
    kept = top_variance(data) * (len(data) - 1)
    total = ad.grad(lambda d: top_variance(d) * (len(d) - 1) + reconstruction_error(d))(data)
    np.testing.assert_allclose(total, ad.grad(lambda d: np.sum(
        (d - np.mean(d, axis=0)) ** 2))(data), atol=1e-10)
    assert kept + reconstruction_error(data) == pytest.approx(np.sum(centred**2), rel=1e-12)


# ----------------------------------------------------------------------------------------------
# least squares
# ----------------------------------------------------------------------------------------------


def _regression(seed=0):
    rng = np.random.default_rng(seed)
    design = np.column_stack([np.ones(10), rng.normal(size=(10, 2))])
    response = design @ np.array([0.5, -1.0, 2.0]) + 0.3 * rng.normal(size=10)
    return design, response


def lstsq_fit(design, response):
    coefficients, residuals, rank, _ = np.linalg.lstsq(design, response, rcond=None)
    assert rank == design.shape[1]
    return np.sum(coefficients**2) + residuals[0]


def pinv_fit(design, response):
    coefficients = np.linalg.pinv(design) @ response
    residual = response - design @ coefficients
    return np.sum(coefficients**2) + residual @ residual


def test_lstsq_and_pinv_fits_agree():
    design, response = _regression()
    assert lstsq_fit(design, response) == pytest.approx(pinv_fit(design, response), rel=1e-10)
    for argnum in (0, 1):
        np.testing.assert_allclose(ad.grad(lstsq_fit, argnums=argnum)(design, response),
                                   ad.grad(pinv_fit, argnums=argnum)(design, response),
                                   rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("fit", [lstsq_fit, pinv_fit])
def test_least_squares_derivatives_to_second_order(fit):
    design, response = _regression()
    check_grads(fit, (design, response), order=2)
    rng = np.random.default_rng(2)
    check_hvp(fit, (design, response), (rng.normal(size=design.shape), rng.normal(size=10)))


def test_residual_gradient_with_respect_to_the_response_is_twice_the_residual():
    """``d |b - A x*|^2 / db = 2 r`` (the optimality of ``x*`` removes its own term)."""
    design, response = _regression()
    gradient = ad.grad(lambda b: np.linalg.lstsq(design, b)[1][0])(response)
    residual = response - design @ np.linalg.lstsq(design, response)[0]
    np.testing.assert_allclose(gradient, 2 * residual, atol=1e-12)
