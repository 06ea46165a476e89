"""NumPy's keywords on traced values are honoured exactly or refused by name (issue 9, item 3),
and ndarray methods take NumPy's signatures (item 4)."""

from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff.testing import check_grads

X = np.array([[1.0, 2.5, -3.0, 4.0], [0.5, -1.0, 2.0, 1.5], [3.0, 1.2, 0.2, -2.0]])
MASK = np.array([[True, False, True, True], [False, True, True, False], [True, True, False, True]])

HONOURED = {
    "add.reduce-where": lambda v: np.add.reduce(v, axis=1, where=MASK),
    "add.reduce-initial": lambda v: np.add.reduce(v, initial=2.0),
    "add.reduce-default-axis": lambda v: np.add.reduce(v),
    "multiply.reduce-where-initial": lambda v: np.multiply.reduce(v, axis=0, where=MASK,
                                                                  initial=0.5),
    "maximum.reduce-where-initial": lambda v: np.maximum.reduce(v, axis=1, where=MASK,
                                                                initial=-9.0),
    "add.accumulate": lambda v: np.add.accumulate(v, axis=1),
    "multiply.accumulate": lambda v: np.multiply.accumulate(v),
    "sum-where-initial-keepdims": lambda v: np.sum(v, axis=0, where=MASK, initial=1.0,
                                                   keepdims=True),
    "sum-dtype": lambda v: np.sum(v, axis=1, dtype=np.float32),
    "mean-where": lambda v: np.mean(v, axis=1, where=MASK),
    "mean-dtype": lambda v: np.mean(v, dtype=np.float32),
    "prod-where": lambda v: np.prod(v, where=MASK),
    "max-initial": lambda v: np.max(v, axis=0, initial=3.5),
    "min-where-initial": lambda v: np.min(v, axis=1, where=MASK, initial=10.0),
    "cumsum-dtype": lambda v: np.cumsum(v, axis=0, dtype=np.float32),
    "sin-dtype": lambda v: np.sin(v, dtype=np.float32),
    "add-casting-order-subok": lambda v: np.add(v, 1.0, casting="same_kind", order="C",
                                                subok=True),
    "method-sum": lambda v: v.sum(0, None, None, True),
    "method-mean-where": lambda v: v.mean(axis=1, where=MASK),
    "method-max-initial": lambda v: v.max(axis=1, initial=0.0),
    "method-min-keepdims": lambda v: v.min(0, keepdims=True),
    "method-prod": lambda v: v.prod(axis=1),
    "method-cumsum": lambda v: v.cumsum(),
    "method-cumprod": lambda v: v.cumprod(axis=1),
    "method-clip": lambda v: v.clip(min=-1.1, max=2.1),
    "method-flatten-F": lambda v: v.flatten("F"),
    "method-ravel": lambda v: v.ravel(),
    "method-astype": lambda v: v.astype(np.float32),
    "method-copy": lambda v: v.copy(order="F"),
    "method-transpose-T": lambda v: v.transpose(1, 0) + v.T,
    "method-squeeze": lambda v: v[:1].squeeze(0),
    "method-dot": lambda v: v.dot(np.ones(4)),
    "method-reshape": lambda v: v.reshape(4, 3),
}


@pytest.mark.parametrize("name", sorted(HONOURED))
def test_keyword_is_honoured_exactly(name):
    f = HONOURED[name]
    want = f(X)
    got, _ = ad.jvp(f, X, np.ones_like(X))
    assert np.shape(got) == np.shape(want) and np.result_type(got) == np.result_type(want)
    np.testing.assert_allclose(got, want, rtol=2e-16 if np.result_type(want) == np.float64
                               else 1e-7)
    if np.result_type(want) == np.float64:
        check_grads(f, (X,), order=1)


def test_masked_entries_get_no_derivative():
    gradient = ad.grad(lambda v: np.sum(v, where=MASK, initial=1.0))(X)
    np.testing.assert_array_equal(gradient, MASK.astype(float))
    gradient = ad.grad(lambda v: np.add.reduce(v, axis=None, where=MASK))(X)
    np.testing.assert_array_equal(gradient, MASK.astype(float))


REFUSED = {
    "out": (lambda v: np.sin(v, out=np.zeros_like(X)), "out"),
    "where": (lambda v: np.exp(v, where=MASK), "where"),
    "reduce-out": (lambda v: np.add.reduce(v, out=np.zeros(4)), "out"),
    "sum-out": (lambda v: np.sum(v, out=np.zeros(())), "out"),
    "int-dtype": (lambda v: np.sum(v, dtype=np.int64), "dtype"),
    "astype-int": (lambda v: v.astype(int), "dtype"),
    "astype-complex": (lambda v: v.astype(np.complex128), "dtype"),
    "reduceat": (lambda v: np.add.reduceat(v, [0, 2]), "reduceat"),
    "signature": (lambda v: np.add(v, v, signature=("d", "f", None)), "signature"),
    "dot-out": (lambda v: v.dot(np.ones(4), out=np.zeros(3)), "out"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_keyword_is_refused_by_name(name):
    f, keyword = REFUSED[name]
    with pytest.raises(TypeError, match=keyword):
        ad.grad(lambda v: np.sum(f(v)))(X)


def test_numpy_argument_errors_are_numpys():
    with pytest.raises(ValueError, match="initial"):
        ad.grad(lambda v: np.max(v, where=MASK))(X)


def test_integer_methods_run_on_primals():
    def f(v):
        assert v.argmax() == np.argmax(X) and v.argmin(axis=1).tolist() == [2, 1, 3]
        np.testing.assert_array_equal(v.argsort(axis=0), np.argsort(X, axis=0))
        np.testing.assert_array_equal(v.nonzero()[0], np.nonzero(X)[0])
        return np.sum(v)

    ad.grad(f)(X)
