"""Realistic programs: PDE time steps and an image pipeline, written as NumPy users write them.

* An explicit finite-difference step of the 2-D advection-diffusion equation
  ``u_t + c . grad u = kappa Laplace u`` on a periodic grid (forward Euler in time, second-order
  central differences in space: LeVeque, "Finite Difference Methods for Ordinary and Partial
  Differential Equations", SIAM 2007, ch. 9 and 10), neighbours taken with ``np.roll`` or with
  ``np.pad(mode="wrap")`` slices; and the 1-D heat equation with zero-flux (Neumann) boundaries
  from ``np.pad(mode="edge")``.
* A small image pipeline: a 2-D correlation from ``sliding_window_view`` and ``tensordot`` over
  a reflect-padded image, then a robust (trimmed-mean) loss from ``np.sort``.

Each is checked in forward mode, reverse mode and order 2 against central differences
(``ad.testing.check_grads``), with Hessian-vector products against differenced gradients
(``ad.testing.check_hvp``), and against an independent reference or an exact identity.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import autodiff as ad

GRID, STEPS, SPACING, DT = 8, 4, 1.0 / 8, 2e-3


def initial_field(seed=0):
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, GRID, endpoint=False)
    bump = np.exp(-40 * ((x[:, None] - 0.5) ** 2 + (x[None, :] - 0.4) ** 2))
    return bump + 0.05 * rng.normal(size=(GRID, GRID))


def step_with_roll(u, kappa, velocity):
    """One forward-Euler step of advection-diffusion, periodic neighbours by ``np.roll``."""
    laplacian = (np.roll(u, 1, axis=0) + np.roll(u, -1, axis=0) + np.roll(u, 1, axis=1)
                 + np.roll(u, -1, axis=1) - 4 * u) / SPACING**2
    du_dx = (np.roll(u, -1, axis=1) - np.roll(u, 1, axis=1)) / (2 * SPACING)
    du_dy = (np.roll(u, -1, axis=0) - np.roll(u, 1, axis=0)) / (2 * SPACING)
    return u + DT * (kappa * laplacian - velocity[0] * du_dx - velocity[1] * du_dy)


def step_with_wrap_padding(u, kappa, velocity):
    """The same step with a one-cell periodic halo, ``np.pad(u, 1, mode="wrap")``."""
    p = np.pad(u, 1, mode="wrap")
    laplacian = (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * u) / SPACING**2
    du_dx = (p[1:-1, 2:] - p[1:-1, :-2]) / (2 * SPACING)
    du_dy = (p[2:, 1:-1] - p[:-2, 1:-1]) / (2 * SPACING)
    return u + DT * (kappa * laplacian - velocity[0] * du_dx - velocity[1] * du_dy)


def simulate(step, u, kappa, velocity):
    for _ in range(STEPS):
        u = step(u, kappa, velocity)
    return u


def heat_with_zero_flux(u, kappa):
    """The 1-D heat equation, Neumann boundaries from ``np.pad(mode="edge")``."""
    for _ in range(STEPS):
        p = np.pad(u, (1, 1), mode="edge")
        u = u + DT * kappa * (p[2:] - 2 * u + p[:-2]) / SPACING**2
    return u


def pde_loss(u0, kappa, velocity):
    target = initial_field(seed=3)
    return np.sum((simulate(step_with_roll, u0, kappa, velocity) - target) ** 2)


@pytest.fixture
def state():
    return initial_field(), 0.7, np.array([0.8, -0.3])


def test_roll_and_wrap_padding_steps_agree(state):
    u0, kappa, velocity = state
    np.testing.assert_allclose(simulate(step_with_roll, *state),
                               simulate(step_with_wrap_padding, *state), rtol=1e-13, atol=1e-14)
    gradients = [ad.grad(lambda u, s=s: np.sum(np.sin(simulate(s, u, kappa, velocity))))(u0)
                 for s in (step_with_roll, step_with_wrap_padding)]
    np.testing.assert_allclose(gradients[0], gradients[1], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("step", [step_with_roll, step_with_wrap_padding])
def test_pde_steps_forward_and_reverse_against_central_differences(state, step):
    ad.testing.check_grads(lambda u, k, c: simulate(step, u, k, c), state,
                           modes=("fwd", "rev"), order=2)


def test_the_periodic_scheme_conserves_mass_exactly_in_its_derivatives(state):
    """``sum(u_T) = sum(u_0)`` for any kappa and velocity: its gradient is ones and zeros."""
    grad_u, grad_kappa, grad_velocity = ad.grad(
        lambda u, k, c: np.sum(simulate(step_with_wrap_padding, u, k, c)), argnums=(0, 1, 2))(
        *state)
    np.testing.assert_allclose(grad_u, np.ones((GRID, GRID)), rtol=1e-12)
    assert abs(grad_kappa) < 1e-10 and np.all(np.abs(grad_velocity) < 1e-10)


def test_pde_hessian_vector_products_against_differenced_gradients(state):
    u0, kappa, velocity = state
    rng = np.random.default_rng(4)
    ad.testing.check_hvp(pde_loss, (u0, kappa, velocity),
                         (rng.normal(size=u0.shape), 0.5, rng.normal(size=2)))
    jacobian_fwd = ad.jacfwd(lambda u: simulate(step_with_roll, u, kappa, velocity))(u0)
    jacobian_rev = ad.jacrev(lambda u: simulate(step_with_roll, u, kappa, velocity))(u0)
    np.testing.assert_allclose(jacobian_fwd, jacobian_rev, rtol=1e-12, atol=1e-14)


def test_zero_flux_heat_equation(state):
    u0 = np.linspace(0, 1, 10) ** 2
    ad.testing.check_grads(heat_with_zero_flux, (u0, 0.7), modes=("fwd", "rev"), order=2)
    # zero flux: the trapezoid-free sum is conserved, so its gradient is exactly ones
    np.testing.assert_allclose(ad.grad(lambda u: np.sum(heat_with_zero_flux(u, 0.7)))(u0),
                               np.ones(10), rtol=1e-12)
    ad.testing.check_hvp(lambda u: np.sum(heat_with_zero_flux(u, 0.7) ** 3), u0,
                         np.sin(np.arange(10.0)))


# ----------------------------------------------------------------------------------------------
# an image pipeline: correlation by sliding windows, a trimmed-mean loss by sorting
# ----------------------------------------------------------------------------------------------

TRIM = 4


def correlate_same(image, kernel):
    """``'same'``-size 2-D correlation of an image with a 3 x 3 kernel, reflect-padded."""
    padded = np.pad(image, 1, mode="reflect")
    windows = sliding_window_view(padded, kernel.shape)
    return np.tensordot(windows, kernel, axes=((2, 3), (0, 1)))


def trimmed_mean(values):
    """The mean of the sorted values without the ``TRIM`` smallest and largest (a robust loss)."""
    ordered = np.sort(values, axis=None)
    return np.mean(ordered[TRIM:-TRIM])


def image_loss(image, kernel):
    return trimmed_mean(np.tanh(correlate_same(image, kernel)) ** 2)


@pytest.fixture
def image_and_kernel():
    rng = np.random.default_rng(5)
    return rng.normal(size=(6, 7)), rng.normal(size=(3, 3)) / 3


def test_correlation_matches_a_direct_loop(image_and_kernel):
    image, kernel = image_and_kernel
    padded = np.pad(image, 1, mode="reflect")
    expected = np.array([[np.sum(padded[i:i + 3, j:j + 3] * kernel) for j in range(7)]
                         for i in range(6)])
    np.testing.assert_allclose(correlate_same(image, kernel), expected, rtol=1e-13)
    value, tangent = ad.jvp(correlate_same, image_and_kernel,
                            (np.ones_like(image), np.zeros_like(kernel)))
    np.testing.assert_allclose(value, expected, rtol=1e-13)
    # linear in the image: the tangent along ones is the correlation of the padded ones
    np.testing.assert_allclose(tangent, np.full((6, 7), np.sum(kernel)), rtol=1e-13)


def test_image_program_forward_and_reverse_against_central_differences(image_and_kernel):
    ad.testing.check_grads(correlate_same, image_and_kernel, modes=("fwd", "rev"), order=2)
    ad.testing.check_grads(image_loss, image_and_kernel, modes=("fwd", "rev"), order=2)


def test_trimmed_mean_gradient_lives_on_the_kept_entries(image_and_kernel):
    image, kernel = image_and_kernel
    response = np.tanh(correlate_same(image, kernel)) ** 2
    kept = np.zeros(response.size, bool)
    kept[np.argsort(response, axis=None, kind="stable")[TRIM:-TRIM]] = True
    gradient = ad.grad(trimmed_mean)(response)
    np.testing.assert_array_equal(gradient.ravel(), kept / kept.sum())


def test_image_hessian_vector_products(image_and_kernel):
    image, kernel = image_and_kernel
    rng = np.random.default_rng(6)
    ad.testing.check_hvp(image_loss, image_and_kernel,
                         (rng.normal(size=image.shape), rng.normal(size=kernel.shape)))
