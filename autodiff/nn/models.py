"""Ready-made networks for the built-in digits data (8x8 images, 10 classes).

:func:`digits_cnn` is the small convolutional network of ``autodiff train --model cnn``: two
3x3 convolutions (16 and 32 channels, ``"same"`` padding) with batch normalisation and ReLU,
2x2 max pooling after each, then dropout and a dense layer on the ``32 x 2 x 2`` features; it
reaches about 99 % test accuracy on the digits in 20 epochs of Adam (LeCun et al., "Gradient-
Based Learning Applied to Document Recognition", 1998, is the pattern: convolution, pooling,
convolution, pooling, dense).

>>> import numpy as np, autodiff as ad
>>> model = ad.nn.models.digits_cnn(rng=0)
>>> model(np.zeros((5, 64))).shape
(5, 10)
"""

from __future__ import annotations

import numpy as np

from .conv import Conv2d
from .dropout import Dropout
from .init import as_generator
from .layers import Flatten, Linear, ReLU
from .module import Module, Sequential
from .normalization import BatchNorm2d
from .pooling import MaxPool2d

__all__ = ["digits_cnn"]


class _Images(Module):
    """Rows of 64 pixels as ``(N, 1, 8, 8)`` images (a batch of images passes unchanged)."""

    def forward(self, x):
        return x if np.ndim(x) == 4 else np.reshape(x, (-1, 1, 8, 8))


def digits_cnn(rng=None, dtype=np.float64, dropout=0.25) -> Sequential:
    """The digits CNN: ``(N, 64)`` or ``(N, 1, 8, 8)`` pixels in, 10 logits out."""
    rng = as_generator(rng)
    return Sequential(
        _Images(),
        Conv2d(1, 16, 3, padding="same", rng=rng, dtype=dtype), BatchNorm2d(16, dtype=dtype),
        ReLU(), MaxPool2d(2),
        Conv2d(16, 32, 3, padding="same", rng=rng, dtype=dtype), BatchNorm2d(32, dtype=dtype),
        ReLU(), MaxPool2d(2),
        Flatten(), Dropout(dropout, rng=rng), Linear(32 * 2 * 2, 10, rng=rng, dtype=dtype),
    )
