"""Pooling: ``max_pool2d``, ``avg_pool2d``, ``adaptive_avg_pool2d`` and their layers, as torch.

Pooling summarises each window of a feature map (Goodfellow, Bengio and Courville, *Deep
Learning*, 2016, section 9.3).  The windows are :func:`autodiff.rules.convolution.im2col`'s, so

* max pooling is :func:`autodiff.rules.convolution.window_max`, the maximum over each window
  (a running maximum over the window's strided views): where several entries of a window tie
  for the maximum they share its gradient evenly (API.md's kink table); an entry in several
  overlapping windows collects from each.  Padding is ``-inf``, never the maximum.
* average pooling is the ``mean`` over each window; padding counts as zeros in the average
  (``count_include_pad=True``, torch's default) or is left out of the count.
* adaptive average pooling to ``(oh, ow)`` averages the bins ``[floor(i H / oh), ceil((i + 1)
  H / oh))`` (torch's bins) along each axis; an average over a rectangle is the average over
  its rows of the averages over its columns, so it is two matrix products with constant
  averaging matrices.

>>> import numpy as np, autodiff as ad
>>> x = np.arange(16.0).reshape(1, 1, 4, 4)
>>> ad.nn.functional.max_pool2d(x, 2)
array([[[[ 5.,  7.],
         [13., 15.]]]])
"""

from __future__ import annotations

import numpy as np

from .. import numpy_api as api
from ..rules.convolution import im2col, window_max, window_output_shape
from ..rules.elementwise import divide
from ..rules.primitive import dtype_of, shape_of
from ..validation import flag
from .conv import checked_input, spatial_tuple
from .module import Module

__all__ = [
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
]


def _windows(x, kernel_size, stride, padding, dilation, layer):
    """``(x, unbatched, settings)``: ``x`` with a sample axis and its pooling windows' settings
    ``(kernel, stride, dilation, padding pairs)``, checked."""
    x, unbatched = checked_input(x, 2, layer)
    kernel = spatial_tuple(kernel_size, 2, "kernel_size", layer)
    stride = kernel if stride is None else spatial_tuple(stride, 2, "stride", layer)
    padding = spatial_tuple(padding, 2, "padding", layer, minimum=0)
    dilation = spatial_tuple(dilation, 2, "dilation", layer)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(
            f"{layer}: padding {padding} must be at most half the kernel size {kernel}"
        )
    pairs = tuple((p, p) for p in padding)
    spatial = shape_of(x)[2:]
    if min(window_output_shape(spatial, kernel, stride, dilation, pairs)) < 1:
        raise ValueError(
            f"{layer}: kernel {kernel} (dilation {dilation}) is larger than the padded input "
            f"(input of shape {shape_of(x)}, padding {padding})"
        )
    return x, unbatched, (kernel, stride, dilation, pairs)


def _unbatch(y, unbatched):
    return api.reshape(y, shape_of(y)[1:]) if unbatched else y


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1):
    """Maximum over each ``kernel_size`` window (stride defaults to the kernel size) of ``x``
    ``(N, C, H, W)``; tied maxima share the gradient evenly."""
    x, unbatched, settings = _windows(x, kernel_size, stride, padding, dilation, "max_pool2d")
    return _unbatch(window_max(x, *settings), unbatched)


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """Mean over each ``kernel_size`` window of ``x`` ``(N, C, H, W)``; padded zeros count in
    the mean unless ``count_include_pad=False``."""
    x, unbatched, (kernel, stride, dilation, pairs) = _windows(
        x, kernel_size, stride, padding, 1, "avg_pool2d")
    total = api.sum(im2col(x, kernel, stride, dilation, pairs), axis=(-2, -1))
    if flag(count_include_pad, "count_include_pad") or not any(lo for lo, _ in pairs):
        return _unbatch(divide(total, float(kernel[0] * kernel[1])), unbatched)
    ones = np.ones(shape_of(x)[-2:], dtype=dtype_of(x))
    counts = im2col(ones, kernel, stride, dilation, pairs).sum(axis=(-2, -1))
    return _unbatch(divide(total, counts), unbatched)


def _bin_averages(size: int, bins: int, dtype) -> np.ndarray:
    """The ``(bins, size)`` matrix averaging torch's adaptive bins of an axis of ``size``."""
    matrix = np.zeros((bins, size), dtype=dtype)
    for i in range(bins):
        start, stop = (i * size) // bins, -((-(i + 1) * size) // bins)
        matrix[i, start:stop] = 1.0 / (stop - start)
    return matrix


def adaptive_avg_pool2d(x, output_size):
    """Average over torch's adaptive bins so that the output is ``(N, C, *output_size)``
    (``None`` in ``output_size`` keeps that axis' size)."""
    x, unbatched = checked_input(x, 2, "adaptive_avg_pool2d")
    height, width = shape_of(x)[2:]
    sizes = (output_size, output_size) if not isinstance(output_size, (tuple, list)) else \
        tuple(output_size)
    sizes = tuple(full if size is None else size for size, full in zip(sizes, (height, width)))
    out_h, out_w = spatial_tuple(sizes, 2, "output_size", "adaptive_avg_pool2d")
    dtype = dtype_of(x)
    rows = _bin_averages(height, out_h, dtype)
    columns = _bin_averages(width, out_w, dtype).T
    return _unbatch(api.matmul(rows, api.matmul(x, columns)), unbatched)


class MaxPool2d(Module):
    """Max pooling over ``kernel_size`` windows (``stride`` defaults to ``kernel_size``)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride
        self.padding, self.dilation = padding, dilation
        spatial_tuple(kernel_size, 2, "kernel_size", "MaxPool2d")
        if stride is not None:
            spatial_tuple(stride, 2, "stride", "MaxPool2d")

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}")


class AvgPool2d(Module):
    """Average pooling over ``kernel_size`` windows (``stride`` defaults to ``kernel_size``)."""

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad=True):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.count_include_pad = flag(count_include_pad, "count_include_pad")
        spatial_tuple(kernel_size, 2, "kernel_size", "AvgPool2d")
        if stride is not None:
            spatial_tuple(stride, 2, "stride", "AvgPool2d")

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size ``(oh, ow)`` (an int for a square)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
