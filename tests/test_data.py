"""The shipped UCI digits, stratified splits, standardisation and the mini-batch loader."""

import doctest

import numpy as np
import pytest

from autodiff.nn import data
from autodiff.nn.data import DataLoader, Standardizer, load_digits, train_val_test_split

CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_digits_shapes_dtypes_and_values(digits):
    X, y = digits
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16 and np.array_equal(X, np.round(X))
    assert set(np.unique(y)) == set(range(10))


def test_digits_class_counts(digits):
    _, y = digits
    counts = np.bincount(y)
    assert counts.tolist() == CLASS_COUNTS
    assert counts.min() == 174 and counts.max() == 183


def test_digits_first_image_is_the_published_zero(digits):
    """First row of scikit-learn's digits.csv.gz (a zero), as printed in its documentation."""
    X, y = digits
    expected = [[0, 0, 5, 13, 9, 1, 0, 0], [0, 0, 13, 15, 10, 15, 5, 0],
                [0, 3, 15, 2, 0, 11, 8, 0], [0, 4, 12, 0, 0, 8, 8, 0],
                [0, 5, 8, 0, 0, 9, 8, 0], [0, 4, 11, 0, 1, 12, 7, 0],
                [0, 2, 14, 5, 10, 12, 0, 0], [0, 0, 6, 13, 10, 0, 0, 0]]
    np.testing.assert_array_equal(X[0].reshape(8, 8), expected)
    assert y[0] == 0 and y[:10].tolist() == list(range(10))


def test_the_file_needs_no_pickle():
    with np.load(data.DIGITS_PATH, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["images", "labels"]
        assert archive["images"].dtype == np.uint8 and archive["labels"].dtype == np.uint8


def test_data_is_credited():
    readme = (data.DIGITS_PATH.parent / "README.md").read_text()
    for text in (data.__doc__, readme):
        assert "Alpaydin" in text and "Kaynak" in text and "CC BY 4.0" in text


# ---------------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("val_fraction, test_fraction", [(0.15, 0.15), (0.1, 0.2), (0.0, 0.25)])
@pytest.mark.parametrize("stratify", [True, False])
def test_split_sizes_and_disjointness(digits, val_fraction, test_fraction, stratify):
    X, y = digits
    index = np.arange(len(y), dtype=np.float64)[:, None]  # identify rows by their index
    (i_tr, y_tr), (i_va, y_va), (i_te, y_te) = train_val_test_split(
        index, y, val_fraction, test_fraction, rng=3, stratify=stratify)
    assert len(y_te) == round(test_fraction * 1797) and len(y_va) == round(val_fraction * 1797)
    assert len(y_tr) + len(y_va) + len(y_te) == 1797
    rows = np.concatenate([i_tr, i_va, i_te]).ravel().astype(int)
    assert sorted(rows) == list(range(1797))  # every sample in exactly one set
    np.testing.assert_array_equal(np.concatenate([y_tr, y_va, y_te]), y[rows])  # pairs intact


@pytest.mark.parametrize("val_fraction, test_fraction", [(0.15, 0.15), (0.1, 0.2)])
def test_stratified_split_keeps_class_proportions(digits, val_fraction, test_fraction):
    X, y = digits
    (_, y_tr), (_, y_va), (_, y_te) = train_val_test_split(
        X, y, val_fraction, test_fraction, rng=0)
    counts = np.array(CLASS_COUNTS)
    for labels, fraction in ((y_va, val_fraction), (y_te, test_fraction),
                             (y_tr, 1 - val_fraction - test_fraction)):
        share = counts * len(labels) / 1797
        assert np.all(np.abs(np.bincount(labels, minlength=10) - share) < 2), fraction
    # each class's test count is within one of its exact share
    assert np.all(np.abs(np.bincount(y_te) - counts * len(y_te) / 1797) < 1)


def test_split_is_reproducible_and_seed_dependent(digits):
    X, y = digits
    first = train_val_test_split(X, y, rng=7)
    again = train_val_test_split(X, y, rng=np.random.default_rng(7))
    other = train_val_test_split(X, y, rng=8)
    for (Xa, ya), (Xb, yb) in zip(first, again):
        np.testing.assert_array_equal(Xa, Xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(first[0][1], other[0][1])
    index = np.arange(len(y))[:, None]
    members = [set(train_val_test_split(index, y, rng=seed, stratify=stratify)[2][0].ravel())
               for seed in (7, 8) for stratify in (True, False)]
    assert members[0] != members[2] and members[1] != members[3]  # which samples, not just order


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(val_fraction=-0.1), ValueError, "val_fraction"),
        (dict(test_fraction=1.0), ValueError, "test_fraction"),
        (dict(val_fraction=0.5, test_fraction=0.5), ValueError, "no training data"),
        (dict(rng="seed"), TypeError, "rng"),
    ],
)
def test_split_refuses_bad_arguments(digits, kwargs, error, message):
    X, y = digits
    with pytest.raises(error, match=message):
        train_val_test_split(X, y, **kwargs)


def test_split_refuses_mismatched_or_tiny_inputs():
    with pytest.raises(ValueError, match="same number of samples"):
        train_val_test_split(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="one-dimensional"):
        train_val_test_split(np.zeros((5, 2)), np.zeros((5, 1)))
    X, y = np.zeros((12, 1)), np.array([0] * 10 + [1, 2])
    with pytest.raises(ValueError, match="too few"):
        train_val_test_split(X, y, 0.4, 0.4, rng=0)


# ---------------------------------------------------------------------------------------------
# Standardizer
# ---------------------------------------------------------------------------------------------


def test_standardizer_on_training_data(digits):
    X, _ = digits
    scaler = Standardizer().fit(X)
    Z = scaler.transform(X)
    constant = X.std(axis=0) == 0
    assert constant.any()  # the digits have always-blank border pixels
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0)[~constant], 1, rtol=1e-12)
    assert np.all(Z[:, constant] == 0) and np.all(np.isfinite(Z))
    np.testing.assert_allclose(scaler.inverse_transform(Z), X, atol=1e-12)


def test_standardizer_uses_training_statistics_only():
    train = np.array([[0.0, 5.0], [2.0, 5.0]])
    scaler = Standardizer().fit(train)
    np.testing.assert_array_equal(scaler.mean, [1.0, 5.0])
    np.testing.assert_array_equal(scaler.scale, [1.0, 1.0])  # std 1, and 1 for the constant
    np.testing.assert_array_equal(scaler.transform(np.array([[4.0, 7.0]])), [[3.0, 2.0]])
    np.testing.assert_array_equal(Standardizer().fit_transform(train), [[-1.0, 0.0], [1.0, 0.0]])


@pytest.mark.parametrize("dtype, expected", [(np.float32, np.float32), (np.int64, np.float64)])
def test_standardizer_dtype(dtype, expected):
    X = np.arange(6).reshape(3, 2).astype(dtype)
    assert Standardizer().fit(X).transform(X).dtype == expected


def test_standardizer_refuses_misuse():
    with pytest.raises(ValueError, match="not fitted"):
        Standardizer().transform(np.zeros((2, 2)))
    scaler = Standardizer().fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="2 columns"):
        scaler.transform(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="2-D"):
        Standardizer().fit(np.zeros(4))


# ---------------------------------------------------------------------------------------------
# DataLoader
# ---------------------------------------------------------------------------------------------


def _epoch(loader):
    return [(Xb.copy(), yb.copy()) for Xb, yb in loader]


@pytest.mark.parametrize("n, batch_size, drop_last, lengths",
                         [(10, 3, False, [3, 3, 3, 1]), (10, 3, True, [3, 3, 3]),
                          (9, 3, False, [3, 3, 3]), (4, 8, False, [4]), (4, 8, True, [])])
def test_loader_batches_and_len(n, batch_size, drop_last, lengths):
    loader = DataLoader(np.arange(2 * n).reshape(n, 2), np.arange(n), batch_size,
                        rng=0, drop_last=drop_last)
    assert len(loader) == len(lengths)
    assert [len(yb) for _, yb in loader] == lengths


@pytest.mark.parametrize("shuffle", [True, False])
def test_loader_covers_every_sample_once_per_epoch(shuffle):
    n = 103
    X, y = np.arange(n)[:, None] * np.ones((1, 4)), np.arange(n)
    loader = DataLoader(X, y, batch_size=16, shuffle=shuffle, rng=5)
    epochs = [_epoch(loader) for _ in range(3)]
    for batches in epochs:
        seen = np.concatenate([yb for _, yb in batches])
        assert sorted(seen) == list(range(n))
        for Xb, yb in batches:
            np.testing.assert_array_equal(Xb[:, 0], yb)  # rows stay with their labels
    orders = [np.concatenate([yb for _, yb in batches]) for batches in epochs]
    if shuffle:
        assert not np.array_equal(orders[0], orders[1])  # reshuffled each epoch
    else:
        assert all(np.array_equal(order, np.arange(n)) for order in orders)


def test_loader_is_reproducible_from_the_seed(digits):
    X, y = digits
    first = DataLoader(X, y, batch_size=100, rng=11)
    second = DataLoader(X, y, batch_size=100, rng=np.random.default_rng(11))
    for _ in range(2):
        for (Xa, ya), (Xb, yb) in zip(_epoch(first), _epoch(second)):
            np.testing.assert_array_equal(Xa, Xb)
            np.testing.assert_array_equal(ya, yb)
    third = DataLoader(X, y, batch_size=100, rng=12)
    assert not np.array_equal(next(iter(third))[1], next(iter(DataLoader(X, y, 100, rng=11)))[1])


@pytest.mark.parametrize(
    "args, kwargs, error",
    [
        ((np.zeros((3, 2)), np.zeros(3), 0), {}, ValueError),
        ((np.zeros((3, 2)), np.zeros(3), 2.0), {}, TypeError),
        ((np.zeros((3, 2)), np.zeros(4), 2), {}, ValueError),
        ((np.zeros((3, 2)), np.zeros(3), 2), {"rng": 1.5}, TypeError),
    ],
    ids=["batch_size-zero", "batch_size-float", "length-mismatch", "rng-float"],
)
def test_loader_refuses_bad_arguments(args, kwargs, error):
    with pytest.raises(error):
        DataLoader(*args, **kwargs)


def test_docstring_example():
    result = doctest.testmod(data, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
