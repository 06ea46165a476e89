"""``autodiff.flat``: the one pytree <-> flat-vector layout (solvers, finite differences,
Hessian operators and Jacobian seeds all use it)."""

from collections import OrderedDict, namedtuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autodiff as ad
from autodiff.flat import flat_spec, is_number_list, ravel, ravel_pytree

Point = namedtuple("Point", "x y")


@pytest.mark.parametrize("tree, expected", [
    (1.5, [1.5]),
    (np.arange(4.0).reshape(2, 2), [0.0, 1.0, 2.0, 3.0]),
    ({"b": np.array([2.0, 3.0]), "a": 1.0}, [1.0, 2.0, 3.0]),
    ([None, (1.0, {"z": 2.0, "y": [3.0]})], [1.0, 3.0, 2.0]),
    (Point(np.float32(1.0), np.array([2, 3])), [1.0, 2.0, 3.0]),
    (OrderedDict(b=1.0, a=np.ones(1)), [1.0, 1.0]),
])
def test_ravel_and_unravel(tree, expected):
    z, spec = ravel_pytree(tree)
    assert z.dtype == np.float64 and spec.size == len(expected)
    np.testing.assert_array_equal(z, expected)
    rebuilt = spec.unravel(z)
    np.testing.assert_array_equal(ravel_pytree(rebuilt)[0], expected)
    assert type(rebuilt) is type(tree)
    np.testing.assert_array_equal(spec.ravel(rebuilt), z)


def test_leaves_keep_their_kind_and_dtype():
    tree = {"f": 1.0, "s": np.float32(2.0), "a": np.ones(2, np.float32), "i": np.arange(2)}
    spec = flat_spec(tree)
    assert spec.dtypes == (np.float32, np.float64, np.float64, np.float32)  # keys sorted
    assert spec.dtype == np.float64
    back = spec.unravel(np.arange(6.0))
    assert type(back["f"]) is float and type(back["s"]) is np.float32
    assert back["a"].dtype == np.float32 and back["i"].dtype == np.float64
    only_float32 = flat_spec({"a": np.ones(2, np.float32), "s": np.float32(1.0)})
    assert only_float32.dtype == np.float32
    assert only_float32.ravel({"a": np.ones(2, np.float32), "s": np.float32(1.0)}).dtype == \
        np.float32


def test_one_dtype_for_all_leaves():
    z, spec = ravel_pytree({"a": np.ones(2, np.float32)}, dtype=np.float64)
    assert z.dtype == np.float64 and spec.unravel(z)["a"].dtype == np.float64


def test_unravel_copies():
    z, spec = ravel_pytree({"w": np.zeros(3)})
    tree = spec.unravel(z)
    tree["w"][0] = 5.0
    assert z[0] == 0.0


@pytest.mark.parametrize("other, error, match", [
    ({"w": np.zeros(3), "v": 1.0}, ValueError, "structure"),
    ({"w": np.zeros(4)}, ValueError, r"gradient\['w'\] has shape \(4,\), expected \(3,\) "
                                     r"\(the shape of x\['w'\]\)"),
    ([np.zeros(3)], ValueError, "structure"),
    ({"w": np.zeros(3) + 1j}, TypeError, r"gradient\['w'\] is complex"),
])
def test_ravel_checks_the_structure(other, error, match):
    _, spec = ravel_pytree({"w": np.zeros(3)})
    with pytest.raises(error, match=match):
        spec.ravel(other, "gradient")


def test_unravel_checks_the_length():
    _, spec = ravel_pytree([1.0, 2.0])
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        spec.unravel(np.zeros(3))


@pytest.mark.parametrize("leaf, match", [
    (True, r"x0\['a'\]\[1\] is a bool"),
    (np.ones(2, complex), r"x0\['a'\]\[1\] is complex"),
    ("text", r"x0\['a'\]\[1\] is a str"),
    (np.array(["a"]), r"x0\['a'\]\[1\] has dtype <U1"),
])
def test_bad_leaves_are_named_by_their_path(leaf, match):
    with pytest.raises(TypeError, match=match):
        ravel_pytree({"a": [1.0, leaf]}, "x0")


def test_batched_ravel_and_unravel():
    spec = flat_spec({"m": np.zeros((2, 2)), "s": 0.0})
    rows = np.arange(10.0).reshape(2, 5)
    tree = spec.unravel(rows, (2,))
    assert tree["m"].shape == (2, 2, 2) and tree["s"].shape == (2,)
    np.testing.assert_array_equal(spec.ravel(tree, batch=(2,)), rows)


@given(st.lists(st.lists(st.integers(0, 3), max_size=3), min_size=1, max_size=4),
       st.data())
def test_unit_vectors_are_the_rows_of_the_identity(shapes, data):
    spec = flat_spec([np.zeros(shape, np.float32) for shape in shapes])
    n = spec.size
    start = data.draw(st.integers(0, n))
    stop = data.draw(st.integers(start, n))
    rows = spec.ravel(spec.unit_vectors(start, stop), batch=(stop - start,))
    np.testing.assert_array_equal(rows, np.eye(n)[start:stop])
    assert rows.dtype == np.float32


def test_ravel_of_traced_leaves_uses_their_values():
    seen = []
    ad.grad(lambda x: seen.append(ravel({"x": x, "y": 2.0})) or np.sum(x))(np.ones(2))
    np.testing.assert_array_equal(seen[0], [1.0, 1.0, 2.0])


@pytest.mark.parametrize("tree, expected", [
    ([1, 2.5, np.float32(3)], True),
    ([], False),
    ([1.0, [2.0]], False),
    ([True, 1.0], False),
    ([1.0, 1j], False),
    ((1.0, 2.0), False),
    (np.ones(2), False),
])
def test_is_number_list(tree, expected):
    assert is_number_list(tree) is expected
