"""The reverse sweep's one accumulation of index-and-values cotangents (issue 13).

``accumulate_sparse`` adds the cotangent of ``x[index]`` into the buffer the sweep owns for
``x`` in place, makes that buffer when there is none, and leaves every other case (a buffer
someone else may hold, one it does not fit) to the caller's dense addition.  The plain
cotangents of indexing and the per-part cotangents of a dual cotangent (forward over reverse)
both go through it.
"""

import numpy as np
import pytest

import autodiff as ad
from autodiff.forward.dual import Dual, JvpLevel
from autodiff.reverse import tape
from autodiff.rules import reductions, shapes
from autodiff.rules.indexing import SparseCotangent, accumulate_sparse, scatter_add

INDICES = {
    "slice": slice(1, None),
    "reversed": slice(None, None, -2),
    "int": 3,
    "repeated": np.array([0, 4, 4, 1, 4]),
    "int-and-slice": (np.array([2, 0, 2]), slice(None)),
}


def _values(x, index, seed):
    return np.random.default_rng(seed).standard_normal(np.shape(x[index]))


@pytest.mark.parametrize("name", sorted(INDICES))
def test_a_missing_buffer_becomes_the_dense_scatter(name):
    index = INDICES[name]
    x = np.zeros((6, 3)) if name == "int-and-slice" else np.zeros(6)
    values = _values(x, index, 0)
    store, owned = {}, set()
    assert accumulate_sparse(store, owned, 7, SparseCotangent(index, values, x.shape, 0))
    assert owned == {7}
    np.testing.assert_array_equal(store[7], scatter_add(values, index=index, shape=x.shape))


@pytest.mark.parametrize("name", sorted(INDICES))
def test_an_owned_buffer_takes_the_values_in_place(name):
    """Repeated positions are summed as the dense scatter sums them, then added: the same
    bits as adding the dense cotangent."""
    index = INDICES[name]
    x = np.zeros((6, 3)) if name == "int-and-slice" else np.zeros(6)
    buffer = np.random.default_rng(1).standard_normal(x.shape)
    want = buffer + scatter_add(_values(x, index, 2), index=index, shape=x.shape)
    store, owned = {7: buffer}, {7}
    sparse = SparseCotangent(index, _values(x, index, 2), x.shape, 0)
    assert accumulate_sparse(store, owned, 7, sparse) is False
    assert store[7] is buffer
    np.testing.assert_array_equal(buffer, want)


def test_a_buffer_the_sweep_does_not_own_is_left_to_the_caller():
    """A cotangent the sweep received (a user's seed, another rule's result passed through)
    must not be written: ``None``, and the buffer is unchanged."""
    buffer = np.ones(5)
    store, owned = {3: buffer}, set()
    assert accumulate_sparse(store, owned, 3, SparseCotangent(slice(1, 3), np.ones(2),
                                                              (5,), 0)) is None
    np.testing.assert_array_equal(buffer, np.ones(5))
    assert owned == set()


@pytest.mark.parametrize("buffer", [np.zeros(4), np.zeros((5, 2)), 0.0],
                         ids=["other-shape", "other-rank", "float"])
def test_a_buffer_the_cotangent_does_not_fit_is_left_to_the_caller(buffer):
    store, owned = {3: buffer}, {3}
    sparse = SparseCotangent(slice(1, 3), np.ones(2), (5,), 0)
    assert accumulate_sparse(store, owned, 3, sparse) is None
    assert store[3] is buffer


@pytest.mark.parametrize("values, buffer, fits", [
    (np.ones(2), np.zeros(5), True),  # the same dtype: no NumPy cast query
    (np.ones(2, np.float32), np.zeros(5), True),
    (np.ones(2), np.zeros(5, np.float32), True),  # same kind
    (np.ones(2), np.zeros(5, np.int64), False),
    (np.ones(2, np.int64), np.zeros(5, np.int64), True),
    (1.5, np.zeros(5), True),
], ids=["float64", "float32-into-float64", "float64-into-float32", "float-into-int",
        "int64", "float"])
def test_a_buffer_fits_the_values_that_cast_to_its_dtype(values, buffer, fits):
    """``fits``: the buffer's shape and a same-kind cast of the values to its dtype (values
    of the buffer's own dtype, the usual case, fit without asking NumPy)."""
    index = 1 if type(values) is float else slice(1, 3)
    assert SparseCotangent(index, values, (5,), 0).fits(buffer) is fits
    assert SparseCotangent(index, values, (4,), 0).fits(buffer[:4]) is fits


def _dual_sparse(level, dtype=np.float64):
    index = np.array([1, 1, 3])
    primal = SparseCotangent(index, np.array([1.0, 2.0, 3.0], dtype), (5,), 0)
    tangent = SparseCotangent(index, np.array([-1.0, 0.5, 4.0], dtype), (5,), 0)
    return tape._DualSparse((primal, tangent), Dual._make(None, None, level, 0))


def test_dual_cotangents_go_into_both_parts_of_an_owned_dual_buffer():
    level = JvpLevel()
    try:
        store, owned = {}, set()
        assert accumulate_sparse(store, owned, 1, _dual_sparse(level))
        buffer = store[1]
        assert type(buffer) is Dual and buffer._level is level
        np.testing.assert_array_equal(buffer._primal_, [0.0, 3.0, 0.0, 3.0, 0.0])
        np.testing.assert_array_equal(buffer.tangent, [0.0, -0.5, 0.0, 4.0, 0.0])
        parts = buffer._primal_, buffer.tangent
        assert accumulate_sparse(store, owned, 1, _dual_sparse(level)) is False
        assert store[1] is buffer and (buffer._primal_, buffer.tangent) == parts
        np.testing.assert_array_equal(buffer._primal_, [0.0, 6.0, 0.0, 6.0, 0.0])
        np.testing.assert_array_equal(buffer.tangent, [0.0, -1.0, 0.0, 8.0, 0.0])
    finally:
        level.close()


def test_a_dual_buffer_of_another_level_or_dtype_is_left_to_the_caller():
    level, other = JvpLevel(), JvpLevel()
    try:
        mine = Dual._make(np.zeros(5), np.zeros(5), other, 0)
        assert accumulate_sparse({1: mine}, {1}, 1, _dual_sparse(level)) is None
        narrow = Dual._make(np.zeros(5, np.float32), np.zeros(5, np.float32), level, 0)
        assert accumulate_sparse({1: narrow}, {1}, 1, _dual_sparse(level)) is None
        np.testing.assert_array_equal(mine._primal_, np.zeros(5))
        np.testing.assert_array_equal(narrow.tangent, np.zeros(5))
    finally:
        other.close()
        level.close()


@pytest.mark.parametrize("shape", [(), (1,), (6,), (3, 4), (0,), (2, 0, 3)])
def test_a_full_sums_seed_is_broadcast_as_reshape_and_broadcast_to_make_it(shape):
    x = np.zeros(shape)
    (fast,) = reductions._sum_vjp(1.0, [x], 0.0, [0])
    general = shapes.broadcast_to(shapes.reshape(1.0, (1,) * len(shape)), shape)
    assert fast.shape == general.shape and fast.strides == general.strides
    assert fast.dtype == general.dtype == np.float64
    assert not fast.flags.writeable
    np.testing.assert_array_equal(fast, general)
    if fast.size:
        with pytest.raises(ValueError, match="read-only"):
            fast[...] = 2.0


def test_the_gradient_of_a_sum_is_an_array_of_its_own():
    """The broadcast seed is read-only and one element: the gradient handed out is a new,
    writable, contiguous array."""
    x = np.arange(4.0)
    g = ad.grad(np.sum)(x)
    assert g.flags.writeable and g.flags.c_contiguous and g.base is None
    g[0] = 5.0
    np.testing.assert_array_equal(ad.grad(np.sum)(x), np.ones(4))
