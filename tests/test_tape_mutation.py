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


def _count_copies(monkeypatch):
    """The arrays the tape copied (every caller of kept_for_backward sees the counting one)."""
    import autodiff.reverse.tape as tape

    copies = []
    real = tape.kept_for_backward

    def counting(value):
        kept = real(value)
        if kept is not value:
            copies.append(value)
        return kept

    for module in (tape, ad.transforms, ad.reverse.var):
        monkeypatch.setattr(module, "kept_for_backward", counting)
    return copies


def test_grad_holds_its_inputs_read_only_instead_of_copying_them(monkeypatch):
    """grad's sweep runs before it returns: the inputs are shared, read-only meanwhile."""
    copies = _count_copies(monkeypatch)
    w = np.array([1.0, 2.0, 3.0])
    seen = []

    def f(v):
        seen.append(w.flags.writeable)
        return np.sum(v * v)

    np.testing.assert_array_equal(ad.grad(f)(w), [2.0, 4.0, 6.0])
    assert seen == [False] and not any(c is w for c in copies)
    assert w.flags.writeable  # restored


def test_a_write_into_a_held_input_from_inside_the_function_raises_and_the_flag_comes_back():
    w = np.array([1.0, 2.0])

    def f(v):
        w[0] = 5.0  # through the closure, not the traced argument
        return np.sum(v)

    with pytest.raises(ValueError, match="read-only"):
        ad.grad(f)(w)
    assert w.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        ad.jacrev(lambda v: (f(v), v)[1])(w)
    assert w.flags.writeable


def test_inputs_held_by_two_transforms_at_once_are_released_by_the_last():
    from autodiff.reverse.tape import inputs_held_read_only

    w = np.ones(3)
    with inputs_held_read_only([w]):
        with inputs_held_read_only([w, w[:2]]):
            assert not w.flags.writeable
        assert not w.flags.writeable
    assert w.flags.writeable
    frozen = np.ones(2)
    frozen.flags.writeable = False
    with inputs_held_read_only([frozen]):
        pass
    assert not frozen.flags.writeable  # a user's read-only array stays read-only


def test_views_are_held_read_only_with_their_base_instead_of_copied(monkeypatch):
    """np.linspace and reshape return views: grad shares them as it shares owned arrays, and
    a write through the view or its base inside the function raises."""
    copies = _count_copies(monkeypatch)
    x = np.linspace(-1.0, 2.0, 6)
    assert x.base is not None and x.base.flags.writeable
    flags = []

    def rosen(v):
        flags.append((x.flags.writeable, x.base.flags.writeable))
        return np.sum(100.0 * (v[1:] - v[:-1] ** 2) ** 2 + (1 - v[:-1]) ** 2)

    expected = ad.grad(rosen)(x.copy())
    copies.clear()
    np.testing.assert_array_equal(ad.grad(rosen)(x), expected)
    assert copies == []  # neither the input nor any intermediate was copied
    assert flags[-1] == (False, False) and x.flags.writeable and x.base.flags.writeable

    def writes_base(v):
        x.base[0] = 5.0
        return np.sum(v)

    with pytest.raises(ValueError, match="read-only"):
        ad.grad(writes_base)(x)
    assert x.flags.writeable and x.base.flags.writeable
    pair = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(
        ad.grad(lambda a, b: np.sum(a * b), argnums=(0, 1))(pair[0], pair[1])[0], pair[1]
    )
    assert pair.flags.writeable and pair.base.flags.writeable


def test_outputs_of_rules_that_do_not_read_them_are_read_only_until_released():
    """``x - c`` keeps only its output's shape; the array is still read-only while the node
    holds it (so ``(x - c) ** 2`` need not copy it) and writeable again after the sweep."""
    made = []

    def f(v):
        difference = v - 1.0
        made.append((difference._primal_, difference._primal_.flags.writeable))
        return np.sum(difference ** 2)

    np.testing.assert_array_equal(ad.grad(f)(np.array([1.0, 3.0])), [0.0, 4.0])
    array, writeable_while_held = made[0]
    assert not writeable_while_held and array.flags.writeable
