"""Arrays changed in place between the forward pass and the sweep do not change the gradient.

The tape saves its own read-only copy of every array someone else can still write (an input, a
captured constant, a view of either), so the pullback differentiates the values the forward pass
used, with or without ``ad.debug()``.  Before, each case below returned the gradient of the
changed values.
"""

import numpy as np
import pytest

import autodiff as ad
from autodiff.reverse.tape import kept_for_backward


def test_captured_constant_changed_before_the_pullback():
    x = np.ones(3)
    _, pullback = ad.vjp(lambda w: np.sum(w * x), np.array([1.0, 2.0, 3.0]))
    x[0] = 5.0
    np.testing.assert_array_equal(pullback(1.0), [1.0, 1.0, 1.0])


def test_captured_matrix_changed_before_the_pullback():
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    _, pullback = ad.vjp(lambda w: A @ w, np.array([1.0, -1.0]))
    A[0, 0] = 100.0
    np.testing.assert_array_equal(pullback(np.array([1.0, 1.0])), [4.0, 6.0])


def test_input_changed_before_the_pullback():
    w0 = np.array([1.0, 2.0, 3.0])
    _, pullback = ad.vjp(lambda w: np.sum(w * w), w0)
    w0[:] = 0.0
    np.testing.assert_array_equal(pullback(1.0), [2.0, 4.0, 6.0])


def test_captured_constant_changed_before_backward_on_a_var_graph():
    x = np.array([1.0, 2.0, 3.0])
    w = ad.Var(np.ones(3))
    y = np.sum(w * x)
    x[:] = -7.0
    y.backward()
    np.testing.assert_array_equal(w.grad, [1.0, 2.0, 3.0])


@pytest.mark.parametrize("read_only_view", [False, True], ids=["view", "read-only view"])
def test_saved_view_written_through_its_base(read_only_view):
    base = np.arange(1.0, 7.0)
    view = base[:3]
    if read_only_view:  # does not protect the memory: the base can still write it
        view.flags.writeable = False
    _, pullback = ad.vjp(lambda w: np.sum(w * view), np.ones(3))
    base[:] = 0.0
    np.testing.assert_array_equal(pullback(1.0), [1.0, 2.0, 3.0])


def test_scratch_buffer_reused_inside_the_function():
    """The same buffer holds different constants at two uses: each use keeps its own values."""
    buffer = np.empty(2)

    def f(w):
        buffer[:] = [1.0, 2.0]
        first = np.sum(w * buffer)
        buffer[:] = [10.0, 20.0]
        return first + np.sum(w * buffer)

    np.testing.assert_array_equal(ad.grad(f)(np.ones(2)), [11.0, 22.0])


def test_arrays_nobody_can_write_are_kept_without_a_copy():
    owner = np.ones(4)
    owner.flags.writeable = False
    view = owner[1:]
    assert kept_for_backward(owner) is owner
    assert kept_for_backward(view) is view
    assert kept_for_backward(1.5) == 1.5


def test_the_kept_copy_is_read_only():
    original = np.ones(3)
    kept = kept_for_backward(original)
    assert kept is not original and not kept.flags.writeable
    np.testing.assert_array_equal(kept, original)
