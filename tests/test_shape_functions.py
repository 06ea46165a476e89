"""Splitting, joining and rearranging traced arrays: ``split`` and its family, ``column_stack``,
``dstack``, ``block``, ``append``, ``atleast_3d``, ``tile``, ``repeat``, ``flip``, ``roll``,
``rot90``, ``rollaxis``, ``swapaxes``, ``pad`` and ``sliding_window_view``.

The rule table sweeps the declared cases (central differences, the transpose identity, batched
directions, float32, second order); here NumPy's values, shapes and dtypes for hypothesis-drawn
arguments and keywords (every ``pad_width`` spelling, tuples of shifts and axes), views that
share writes, refused keywords and bad input.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view
from test_ordering import an_axis, arrays, assert_numpys

import autodiff as ad

SETTINGS = settings(max_examples=25, deadline=None)


def assert_numpys_pieces(f, x):
    """``f`` returns a list of arrays: each is NumPy's (value, shape, dtype)."""
    expected = f(x)
    for i in range(len(expected)):
        assert_numpys(lambda x, i=i: f(x)[i], x)


@SETTINGS
@given(st.data())
def test_splits_are_numpys(data):
    x = data.draw(arrays(min_dims=3, max_dims=3))
    axis = data.draw(an_axis(x))
    sections = data.draw(st.one_of(
        st.integers(1, 5), st.lists(st.integers(-5, 5), max_size=3)))
    assert_numpys_pieces(lambda x: np.array_split(x, sections, axis=axis), x)
    divisor = x.shape[axis]
    assert_numpys_pieces(lambda x: np.split(x, divisor, axis=axis), x)
    assert_numpys_pieces(lambda x: np.hsplit(x, [1]), x)
    assert_numpys_pieces(lambda x: np.vsplit(x, [1, 1]), x)
    assert_numpys_pieces(lambda x: np.dsplit(x, 1), x)


def test_split_errors_are_numpys():
    x = ad.Dual(np.ones((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="equal division"):
        np.split(x, 2)
    with pytest.raises(ValueError, match="larger than 0"):
        np.array_split(x, 0)
    with pytest.raises(TypeError):
        np.split(x, 3, axis=None)
    with pytest.raises(ValueError, match="dsplit"):
        np.dsplit(x, 1)


def test_a_split_piece_is_a_view_that_shares_writes():
    def f(x):
        y = x.copy()
        first, _ = np.split(y, 2)
        first[0] = 10.0 * x[3]
        return y

    x = np.arange(4.0)
    np.testing.assert_array_equal(ad.jvp(f, x, np.ones(4))[0], [30.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(ad.jacrev(f)(x)[0], [0.0, 0.0, 0.0, 10.0])


@SETTINGS
@given(st.data())
def test_joins_are_numpys(data):
    x = data.draw(arrays(min_dims=0, max_dims=3))
    constant = np.full(x.shape, 2.0)
    assert_numpys(lambda x: np.atleast_3d(x), x)
    assert_numpys(lambda x: np.atleast_3d(x, constant)[0], x)
    assert_numpys(lambda x: np.dstack([x, constant]), x)
    axis = data.draw(st.one_of(st.none(), an_axis(x))) if x.ndim else None
    assert_numpys(lambda x: np.append(x, constant, axis=axis), x)
    if x.ndim <= 2:
        assert_numpys(lambda x: np.column_stack([x, constant]), x)
    assert_numpys(lambda x: np.block([[x], [constant]]), x)
    if x.ndim <= 1:
        assert_numpys(lambda x: np.block([x, 1.5]), x)


def test_block_errors_are_numpys():
    x = ad.Dual(np.ones(2), np.ones(2))
    with pytest.raises(TypeError, match="tuple"):
        np.block((x, x))
    with pytest.raises(ValueError, match="cannot be empty"):
        np.block([x, []])
    with pytest.raises(ValueError, match="depths are mismatched"):
        np.block([[x], x])


def test_float32_scalar_gradient_keeps_its_shape():
    """Regression: a 0-d float32 input's cotangent, promoted to float64 by a constant, came
    back with shape (1,) (``np.ascontiguousarray`` makes 0-d arrays 1-d)."""
    gradient = ad.grad(lambda a, b: np.sum(np.block([a, b, 1.0])), argnums=1)(
        np.ones(3, np.float32), np.float32(0.5))
    assert np.shape(gradient) == () and gradient.dtype == np.float32 and gradient == 1.0


@SETTINGS
@given(st.data())
def test_tile_and_repeat_are_numpys(data):
    x = data.draw(arrays(min_dims=0, max_dims=3))
    reps = data.draw(st.one_of(st.integers(0, 3), st.lists(st.integers(0, 3), max_size=4)))
    assert_numpys(lambda x: np.tile(x, reps), x)
    axis = data.draw(st.one_of(st.none(), an_axis(x))) if x.ndim else None
    size = x.size if axis is None else x.shape[axis]
    repeats = data.draw(st.one_of(
        st.integers(0, 3), st.lists(st.integers(0, 3), min_size=size, max_size=size)))
    assert_numpys(lambda x: np.repeat(x, repeats, axis=axis), x)


def test_repeat_errors_are_numpys():
    x = ad.Dual(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(TypeError):
        np.repeat(x, 2, axis=(0, 1))
    with pytest.raises(ValueError):
        np.repeat(x, [1, 2], axis=1)


@SETTINGS
@given(st.data())
def test_flips_rolls_and_rotations_are_numpys(data):
    x = data.draw(arrays(min_dims=2, max_dims=3))
    axes = st.lists(an_axis(x), min_size=1, max_size=3)
    distinct = st.lists(st.integers(0, x.ndim - 1), min_size=1, unique=True).map(tuple)
    flip_axis = data.draw(st.one_of(st.none(), an_axis(x), distinct))
    assert_numpys(lambda x: np.flip(x, flip_axis), x)
    assert_numpys(np.fliplr, x)
    assert_numpys(np.flipud, x)
    roll_axes = data.draw(st.one_of(st.none(), an_axis(x), axes.map(tuple)))
    n_shifts = 1 if roll_axes is None or np.ndim(roll_axes) == 0 else len(roll_axes)
    shift = data.draw(st.one_of(
        st.integers(-9, 9), st.lists(st.integers(-9, 9), min_size=n_shifts, max_size=n_shifts)))
    if roll_axes is None:
        shift = shift if np.ndim(shift) == 0 else shift[0]
    assert_numpys(lambda x: np.roll(x, shift, axis=roll_axes), x)
    k = data.draw(st.integers(-5, 5))
    plane = data.draw(st.lists(an_axis(x), min_size=2, max_size=2).filter(
        lambda a: a[0] % x.ndim != a[1] % x.ndim))
    assert_numpys(lambda x: np.rot90(x, k, plane), x)
    axis, start = data.draw(an_axis(x)), data.draw(st.integers(-x.ndim, x.ndim))
    assert_numpys(lambda x: np.rollaxis(x, axis, start), x)
    assert_numpys(lambda x: np.swapaxes(x, axis, plane[0]), x)


def test_rotation_and_rollaxis_errors_are_numpys():
    x = ad.Dual(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="different"):
        np.rot90(x, 1, (1, -1))
    with pytest.raises(ValueError, match="len"):
        np.rot90(x, 1, (0,))
    with pytest.raises(np.exceptions.AxisError):
        np.rollaxis(x, 0, 4)
    with pytest.raises(ValueError, match="scalars or 1D"):
        np.roll(x, [[1]], axis=0)
    with pytest.raises(ValueError, match=">= 2-d"):
        np.fliplr(x[0])


# axes out of range (or repeated, or too few) on traced input: NumPy's error, never another
# axis taken modulo ndim
AXIS_ERRORS = {
    "concatenate": lambda x: np.concatenate([x, x], axis=2),
    "concatenate-negative": lambda x: np.concatenate([x, x], axis=-3),
    "stack": lambda x: np.stack([x, x], axis=3),
    "stack-negative": lambda x: np.stack([x, x], axis=-4),
    "append": lambda x: np.append(x, x, axis=2),
    "cumsum": lambda x: np.cumsum(x, axis=2),
    "cumprod": lambda x: np.cumprod(x, axis=-3),
    "cumsum-of-0d": lambda x: np.cumsum(x[0, 0], axis=1),
    "transpose-range": lambda x: np.transpose(x, (0, 2)),
    "transpose-count": lambda x: np.transpose(x, (1, 0, 2)),
    "moveaxis-range": lambda x: np.moveaxis(x, 0, 2),
    "moveaxis-repeated": lambda x: np.moveaxis(x, [0, 0], [1, 0]),
    "moveaxis-count": lambda x: np.moveaxis(x, [0, 1], [1]),
    "swapaxes": lambda x: np.swapaxes(x, 0, -3),
}


@pytest.mark.parametrize("name", sorted(AXIS_ERRORS))
def test_bad_axes_raise_numpys_error(name):
    f, x = AXIS_ERRORS[name], np.ones((2, 3))
    with pytest.raises(Exception) as numpys:
        f(x)
    same_error = pytest.raises(type(numpys.value), match=re.escape(str(numpys.value)))
    with same_error:
        ad.jvp(f, x, x)
    with same_error:
        ad.vjp(f, x)


@pytest.mark.parametrize("source, destination", [([1, 0], [2, 0]), ([2, 0], [0, 1]), (-1, 0)])
def test_moveaxis_sends_each_source_axis_to_its_destination(source, destination):
    assert_numpys(lambda x: np.moveaxis(x, source, destination), np.arange(24.0).reshape(2, 3, 4))


def test_cumulative_functions_of_a_0d_array_are_1d():
    for f in (np.cumsum, np.cumprod):
        assert_numpys(lambda x, f=f: f(x, axis=-1), np.float64(2.0))
        np.testing.assert_array_equal(ad.jacfwd(lambda x, f=f: f(x, axis=0))(2.0), [1.0])


PAD_WIDTHS = st.one_of(
    st.integers(0, 4),
    st.tuples(st.integers(0, 4)),
    st.tuples(st.integers(0, 4), st.integers(0, 4)),
    st.tuples(st.tuples(st.integers(0, 4), st.integers(0, 4))),
)


@SETTINGS
@given(st.data())
def test_pad_is_numpys_in_every_mode_and_width_spelling(data):
    x = data.draw(arrays(min_dims=1, max_dims=3))
    per_axis = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)),
                        min_size=x.ndim, max_size=x.ndim).map(tuple)
    width = data.draw(st.one_of(PAD_WIDTHS, per_axis))
    mode = data.draw(st.sampled_from(["constant", "edge", "reflect", "symmetric", "wrap"]))
    keywords = {}
    if mode == "constant":
        keywords = data.draw(st.sampled_from([
            {}, {"constant_values": -1.5}, {"constant_values": (1, 2)},
            {"constant_values": tuple((i, -i) for i in range(x.ndim))}]))
    assert_numpys(lambda x: np.pad(x, width, mode=mode, **keywords), x)


def test_pad_refusals_name_the_keyword_or_mode():
    x = ad.Dual(np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match="mean"):
        np.pad(x, 1, mode="mean")
    with pytest.raises(TypeError, match="reflect_type"):
        np.pad(x, 1, mode="reflect", reflect_type="odd")
    with pytest.raises(TypeError, match="constant_values"):
        np.pad(x, 1, constant_values=x[0])
    with pytest.raises(ValueError, match="unsupported keyword"):
        np.pad(x, 1, mode="edge", constant_values=1)
    with pytest.raises(TypeError, match="integral"):
        np.pad(x, 1.5)
    with pytest.raises(ValueError, match="negative"):
        np.pad(x, -1)


@SETTINGS
@given(st.data())
def test_sliding_window_view_is_numpys(data):
    x = data.draw(arrays(min_dims=1, max_dims=3))
    axes = data.draw(st.one_of(st.none(), st.lists(an_axis(x), min_size=1, max_size=3)))
    chosen = range(x.ndim) if axes is None else [a % x.ndim for a in axes]
    shape = list(x.shape)
    window = []
    for a in chosen:  # windows that fit, also when an axis is windowed twice
        w = data.draw(st.integers(1, shape[a]))
        shape[a] -= w - 1
        window.append(w)
    assert_numpys(lambda x: sliding_window_view(x, window, axis=axes), x)


def test_sliding_window_view_refusals_and_errors():
    x = ad.Dual(np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match="writeable"):
        sliding_window_view(x, 2, writeable=True)
    with pytest.raises(ValueError, match="larger than input"):
        sliding_window_view(x, 4)
    with pytest.raises(ValueError, match="matching length"):
        sliding_window_view(x, (2, 2), axis=0)
