"""Realistic programs that build arrays from traced values and write into them (issue 9).

Each program is written as a NumPy user writes it (``np.array`` right-hand sides, ``np.asarray``,
in-place boundary writes, a loop filling ``out[i]``) and checked in forward mode, reverse mode
(order 2: the derivative programs differentiate again) and with a Hessian-vector product, all
against central differences.
"""

import numpy as np
import pytest

import autodiff as ad
from autodiff.testing import check_grads, check_hvp
from benchmarks.problems import lorenz, rk4_flow

# ----------------------------------------------------------------------------------------------
# ODE flows: RK4 with np.array / np.asarray right-hand sides
# ----------------------------------------------------------------------------------------------


def lorenz_stacked(u):
    return lorenz(u, build=np.stack)


def damped_pendulum(state, damping=0.3, gravity=9.81):
    angle, velocity = state[0], state[1]
    return np.asarray([velocity, -gravity * np.sin(angle) - damping * velocity])


def sir(state, beta=0.4, gamma=0.1):
    s, i, r = state
    infections = beta * s * i
    return np.asarray([-infections, infections - gamma * i, gamma * i])


ODES = {
    "lorenz": (rk4_flow(lorenz, 20, 0.01), np.array([1.0, 1.0, 1.0])),
    "pendulum": (rk4_flow(damped_pendulum, 30, 0.05), np.array([0.8, -0.2])),
    "sir": (rk4_flow(sir, 25, 0.2), np.array([0.9, 0.1, 0.0])),
}


@pytest.mark.parametrize("name", sorted(ODES))
def test_ode_flow_in_every_mode(name):
    flow, u0 = ODES[name]
    check_grads(flow, u0, modes=("fwd", "rev"), order=2)
    check_hvp(lambda u: np.sum(flow(u) ** 2), u0, np.linspace(0.5, -0.5, u0.size))


def test_lorenz_jacobian_with_np_array_equals_np_stack_to_the_last_bit():
    u0 = np.array([1.0, 1.0, 1.0])
    with_array = rk4_flow(lorenz, 20, 0.01)
    with_stack = rk4_flow(lorenz_stacked, 20, 0.01)
    for jacobian in (ad.jacfwd, ad.jacrev):
        np.testing.assert_array_equal(jacobian(with_array)(u0), jacobian(with_stack)(u0))


# ----------------------------------------------------------------------------------------------
# PDE step: the 1-D heat equation with boundary writes and a loop filling out[i]
# ----------------------------------------------------------------------------------------------


def heat_step(u, alpha=0.2):
    """Explicit heat step: interior by np.roll, Dirichlet boundaries written in place."""
    laplacian = np.roll(u, 1) - 2 * u + np.roll(u, -1)
    new = u + alpha * laplacian
    new[0] = new[-1] = 0.0
    return new


def heat_step_by_loop(u, alpha=0.2):
    """The same step written as a loop over the interior, into np.zeros_like(u)."""
    out = np.zeros_like(u)
    for i in range(1, len(u) - 1):
        out[i] = u[i] + alpha * (u[i - 1] - 2 * u[i] + u[i + 1])
    return out


def heat_with_source(u, source):
    """Several steps; the source enters through slice writes and augmented assignment."""
    for _ in range(3):
        u = heat_step(u)
        u[1:-1] += 0.05 * source[1:-1] * np.tanh(u[1:-1])
    return u


U0 = np.sin(np.linspace(0.0, np.pi, 9)) + 0.1 * np.cos(np.arange(9.0))


@pytest.mark.parametrize("step", [heat_step, heat_step_by_loop], ids=["roll", "loop"])
def test_heat_step_in_every_mode(step):
    check_grads(lambda u: step(step(u)) ** 2, U0, modes=("fwd", "rev"), order=2)
    check_hvp(lambda u: np.sum(step(u) ** 3), U0, np.linspace(1.0, -1.0, U0.size))


def test_both_heat_steps_agree_in_value_and_jacobian():
    np.testing.assert_allclose(heat_step(U0.copy()), heat_step_by_loop(U0), rtol=1e-15)
    for jacobian in (ad.jacfwd, ad.jacrev):
        np.testing.assert_allclose(jacobian(heat_step)(U0), jacobian(heat_step_by_loop)(U0),
                                   rtol=1e-15, atol=1e-15)


def test_heat_with_source_in_every_mode():
    source = np.linspace(1.0, 2.0, U0.size)
    check_grads(heat_with_source, (U0, source), modes=("fwd", "rev"), order=2)
    check_hvp(lambda u, s: np.sum(heat_with_source(u, s) ** 2), (U0, source),
              (np.ones_like(U0), np.linspace(-1.0, 1.0, U0.size)))


def test_recurrence_filling_a_buffer_in_every_mode():
    """out[i] depends on out[i - 1]: a write after the value was read by a recorded node."""

    def recurrence(x):
        out = np.empty_like(x)
        out[0] = x[0]
        for i in range(1, len(x)):
            out[i] = np.sin(out[i - 1]) * x[i] + x[i - 1] ** 2
        return out

    x = np.linspace(0.3, 1.2, 7)
    check_grads(recurrence, x, modes=("fwd", "rev"), order=2)
    check_hvp(lambda x: np.sum(recurrence(x) ** 2), x, np.linspace(1.0, 0.2, 7))
