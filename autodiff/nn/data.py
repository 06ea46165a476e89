"""A small real data set, splits, standardisation and a mini-batch loader.

The data set is the UCI "Optical Recognition of Handwritten Digits" set (E. Alpaydin and
C. Kaynak, 1998; UCI Machine Learning Repository, https://doi.org/10.24432/C50P49, licensed
CC BY 4.0): 8x8 images whose pixels count the "on" pixels of a 4x4 block of a 32x32 bitmap
(integers 0..16), labels 0..9. We ship the 1797-image version that scikit-learn distributes
(the UCI test set ``optdigits.tes``) as ``autodiff/nn/data/digits.npz``: images uint8
``(1797, 64)`` row-major, labels uint8 ``(1797,)``. ``autodiff/nn/data/README.md`` says how the
file was made. References: E. Alpaydin, C. Kaynak, "Cascading Classifiers", Kybernetika 34(4),
1998; C. Kaynak, MSc thesis, Bogazici University, 1995.

>>> X, y = load_digits()
>>> X.shape, y.shape
((1797, 64), (1797,))
>>> (X_train, y_train), (X_val, y_val), (X_test, y_test) = train_val_test_split(
...     X, y, val_fraction=0.15, test_fraction=0.15, rng=0)
>>> len(y_train), len(y_val), len(y_test)
(1257, 270, 270)
>>> scaler = Standardizer().fit(X_train)
>>> loader = DataLoader(scaler.transform(X_train), y_train, batch_size=64, rng=0)
>>> len(loader)
20
>>> X_batch, y_batch = next(iter(loader))
>>> X_batch.shape, y_batch.shape
((64, 64), (64,))
"""

import numbers
from pathlib import Path

import numpy as np

__all__ = ["DIGITS_PATH", "load_digits", "train_val_test_split", "Standardizer", "DataLoader"]

DIGITS_PATH = Path(__file__).resolve().parent / "data" / "digits.npz"


def load_digits():
    """The 1797 UCI handwritten digits: ``X`` float64 ``(1797, 64)`` in 0..16, ``y`` int64.

    Row ``i`` of ``X`` is image ``i`` flattened row by row (``X[i].reshape(8, 8)`` shows it);
    ``y[i]`` is its digit. Every class has between 174 and 183 images.
    """
    with np.load(DIGITS_PATH, allow_pickle=False) as archive:
        images, labels = archive["images"], archive["labels"]
    return images.astype(np.float64), labels.astype(np.int64)


def _generator(rng):
    """A ``numpy.random.Generator`` from a Generator, an integer seed or ``None``."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(
        f"rng must be a numpy.random.Generator, an integer seed or None, got {type(rng).__name__}"
    )


def _samples(X, y):
    X, y = np.asarray(X), np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be one-dimensional (one label per sample), got shape {y.shape}")
    if X.ndim < 1 or len(X) != len(y):
        raise ValueError(
            f"X and y must have the same number of samples (rows), got X of shape {X.shape} "
            f"and y of shape {y.shape}"
        )
    return X, y


def _apportion(total, sizes):
    """Split ``total`` into integers proportional to ``sizes`` (largest remainders, summing to
    ``total``); ties go to the earlier entry."""
    quotas = total * sizes / sizes.sum()
    counts = np.floor(quotas).astype(np.int64)
    shortfall = total - counts.sum()
    order = np.argsort(-(quotas - counts), kind="stable")
    counts[order[:shortfall]] += 1
    return counts


def train_val_test_split(X, y, val_fraction=0.15, test_fraction=0.15, rng=None, stratify=True):
    """Split ``(X, y)`` at random into ``(X_train, y_train), (X_val, y_val), (X_test, y_test)``.

    The test and validation sets get ``round(test_fraction * n)`` and ``round(val_fraction * n)``
    samples, the training set the rest. With ``stratify=True`` each class contributes to each set
    in proportion to its size (largest-remainder rounding, so a class's count is within one of
    its exact share); otherwise the samples are drawn without regard to class. Each set is in
    random order. ``rng`` is a ``numpy.random.Generator`` or an integer seed (same seed, same
    split) or ``None`` for fresh entropy.
    """
    X, y = _samples(X, y)
    for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not isinstance(fraction, numbers.Real) or not 0.0 <= fraction < 1.0:
            raise ValueError(f"{name} must be a number in [0, 1), got {fraction!r}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction = {val_fraction + test_fraction} leaves no training "
            "data; their sum must be below 1"
        )
    rng = _generator(rng)
    n = len(y)
    n_test, n_val = round(test_fraction * n), round(val_fraction * n)
    if stratify:
        classes, class_of_sample = np.unique(y, return_inverse=True)
        sizes = np.bincount(class_of_sample)
        test_counts, val_counts = _apportion(n_test, sizes), _apportion(n_val, sizes)
        crowded = np.flatnonzero(test_counts + val_counts > sizes)
        if crowded.size:
            raise ValueError(
                f"class {classes[crowded[0]]!r} has only {sizes[crowded[0]]} samples, too few "
                "for a stratified split with these fractions; use stratify=False"
            )
        parts = ([], [], [])
        for label, (n_test_c, n_val_c) in enumerate(zip(test_counts, val_counts)):
            members = rng.permutation(np.flatnonzero(class_of_sample == label))
            parts[2].append(members[:n_test_c])
            parts[1].append(members[n_test_c:n_test_c + n_val_c])
            parts[0].append(members[n_test_c + n_val_c:])
        train, val, test = (rng.permutation(np.concatenate(part)) for part in parts)
    else:
        order = rng.permutation(n)
        test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    return (X[train], y[train]), (X[val], y[val]), (X[test], y[test])


class Standardizer:
    """Per-feature standardisation ``(X - mean) / scale`` with statistics of the training set.

    ``fit(X_train)`` sets ``mean`` and ``scale`` (float64, one entry per column): ``scale`` is the
    population standard deviation (``ddof=0``), except that a column that is constant in the
    training data gets ``scale = 1``, so it maps to 0 instead of dividing by zero (the digits
    have such columns: border pixels that are always 0). ``transform`` keeps a floating input's
    dtype; integer input becomes float64.
    """

    def __init__(self):
        self.mean = None
        self.scale = None

    def fit(self, X):
        """Learn ``mean`` and ``scale`` from the rows of ``X`` (2-D); return ``self``."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) == 0:
            raise ValueError(f"fit needs a non-empty 2-D array (samples x features), got {X.shape}")
        std = X.std(axis=0)
        self.mean = X.mean(axis=0)
        self.scale = np.where(std > 0, std, 1.0)
        return self

    def _checked(self, X):
        if self.mean is None:
            raise ValueError("this Standardizer is not fitted yet; call fit(X_train) first")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.mean):
            raise ValueError(
                f"expected a 2-D array with {len(self.mean)} columns (as in fit), got {X.shape}"
            )
        return X, (X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64)

    def transform(self, X):
        """``(X - mean) / scale``."""
        X, dtype = self._checked(X)
        return ((X - self.mean) / self.scale).astype(dtype, copy=False)

    def fit_transform(self, X):
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, Z):
        """``Z * scale + mean``: undo ``transform``."""
        Z, dtype = self._checked(Z)
        return (Z * self.scale + self.mean).astype(dtype, copy=False)


class DataLoader:
    """Mini-batches ``(X_batch, y_batch)`` over ``(X, y)``, reshuffled at every pass.

    Each ``iter(loader)`` (each epoch) draws a fresh permutation from ``rng`` when
    ``shuffle=True``, so every sample appears exactly once per epoch and the sequence of epochs is
    reproducible from the seed. The last batch is smaller when ``batch_size`` does not divide the
    number of samples, unless ``drop_last=True`` drops it. ``len(loader)`` is the number of
    batches per epoch.
    """

    def __init__(self, X, y, batch_size, shuffle=True, rng=None, drop_last=False):
        self.X, self.y = _samples(X, y)
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
            raise TypeError(f"batch_size must be an integer, got {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.rng = _generator(rng)

    def __len__(self):
        n, size = len(self.y), self.batch_size
        return n // size if self.drop_last else -(-n // size)

    def __iter__(self):
        n = len(self.y)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        for batch in range(len(self)):
            chosen = order[batch * self.batch_size:(batch + 1) * self.batch_size]
            yield self.X[chosen], self.y[chosen]
