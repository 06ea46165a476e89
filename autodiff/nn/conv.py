"""Convolution layers: ``conv1d``/``conv2d`` and ``Conv1d``/``Conv2d``, NCHW, as in torch.

A convolution layer (in deep learning: a cross-correlation, as torch computes it) with weight
``W`` of shape ``(out, in / groups, *K)`` maps ``x`` of shape ``(N, in, *S)`` to

    y[n, o, p] = b[o] + sum_(c in group(o)) sum_k W[o, c, k] x_pad[n, c, p * stride + k * dilation]

(Goodfellow, Bengio and Courville, *Deep Learning*, 2016, eq. 9.6 and section 9.5 for stride,
padding and groups).  It is computed as one matrix product of the weight matrix
``(out, in / groups * prod K)`` with the unfolded input
(:func:`autodiff.rules.convolution.im2col`, Chellapilla et al. 2006) laid out as
``(in * prod K, N * prod P)``, the bias added into the product in place (one primitive,
:func:`~autodiff.rules.convolution.columns_product`); a batched product for ``groups > 1``.
Its derivatives come from the primitives it is made of: with respect to the input, ``col2im`` of a product with the weight
(the transposed convolution); with respect to the weight, the product of the output cotangent
with the unfolded input (a correlation); both differentiate again.

``padding`` is a number or a tuple per spatial axis, ``"valid"`` (none) or ``"same"`` (output
size equals input size; stride 1 only, as in torch: ``dilation * (k - 1)`` split with the
smaller half before).  ``padding_mode`` is ``"zeros"``, ``"reflect"``, ``"replicate"`` or
``"circular"``; the non-zero modes gather the border from the input (by indexing), so the border
carries derivatives too.

>>> import numpy as np, autodiff as ad
>>> conv = ad.nn.Conv2d(1, 6, kernel_size=5, padding=2, rng=0)
>>> conv(np.zeros((4, 1, 28, 28))).shape
(4, 6, 28, 28)
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import numpy_api as api
from ..rules import shapes
from ..rules.convolution import columns_product, im2col, window_output_shape
from ..rules.elementwise import add
from ..rules.primitive import Traced, shape_of
from ..validation import choice, flag, positive_int
from ..values import as_float_value
from .init import as_generator
from .module import Module, Parameter

__all__ = ["conv1d", "conv2d", "Conv1d", "Conv2d", "spatial_tuple", "checked_input"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_NUMPY_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def spatial_tuple(value, d: int, name: str, layer: str, minimum: int = 1) -> tuple:
    """``value`` (an int, or a tuple of ``d`` ints) as a tuple of ``d`` ints ``>= minimum``."""
    values = (value,) * d if isinstance(value, numbers.Integral) else tuple(value)
    if len(values) != d or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum
        for v in values
    ):
        bound = "positive" if minimum == 1 else "non-negative"
        raise ValueError(
            f"{layer}: {name} must be a {bound} integer or a tuple of {d} of them, got {value!r}"
        )
    return tuple(int(v) for v in values)


def checked_input(x, d: int, layer: str, channels: int | None = None):
    """``x`` as a floating (maybe traced) ``(N, C, *S)`` value, ``d`` spatial axes; an unbatched
    ``(C, *S)`` gets a sample axis.  Returns ``(x, unbatched)``."""
    x = x if isinstance(x, Traced) else as_float_value(x, f"{layer} input")
    shape = shape_of(x)
    layout = {1: "(N, C, L)", 2: "(N, C, H, W)"}[d]
    if len(shape) not in (d + 1, d + 2):
        raise ValueError(
            f"{layer} expects input of shape {layout} (or one sample without N), got shape "
            f"{shape} ({len(shape)} axes)"
        )
    unbatched = len(shape) == d + 1
    if unbatched:
        x = api.reshape(x, (1,) + shape)
    if channels is not None and shape_of(x)[1] != channels:
        raise ValueError(
            f"{layer} expects {channels} input channels, got input of shape {shape}"
        )
    return x, unbatched


def _padding_pairs(padding, kernel, stride, dilation, layer):
    """``((lo, hi), ...)`` from a number, a tuple, ``"valid"`` or ``"same"``."""
    d = len(kernel)
    if isinstance(padding, str):
        mode = choice(padding, "padding", ("valid", "same"))
        if mode == "valid":
            return ((0, 0),) * d
        if any(s != 1 for s in stride):
            raise ValueError(
                f"{layer}: padding='same' is not supported for strided convolutions "
                f"(stride={stride}), as in torch; give the padding as numbers"
            )
        totals = [r * (k - 1) for k, r in zip(kernel, dilation)]
        return tuple((total // 2, total - total // 2) for total in totals)
    return tuple((p, p) for p in spatial_tuple(padding, d, "padding", layer, minimum=0))


def _border(x, pairs, mode, layer):
    """``x`` extended by ``pairs`` entries per spatial axis, gathered as ``padding_mode`` says."""
    shape = shape_of(x)
    d = len(pairs)
    spatial = shape[-d:]
    for size, (lo, hi) in zip(spatial, pairs):
        limit = size if mode == "circular" else size - 1
        if max(lo, hi) > limit:
            raise ValueError(
                f"{layer}: padding {max(lo, hi)} is too large for padding_mode={mode!r} on an "
                f"input of shape {shape} (at most {limit} along each spatial axis)"
            )
    index = [np.pad(np.arange(size), pair, mode=_NUMPY_PAD_MODES[mode])
             for size, pair in zip(spatial, pairs)]
    return x[(slice(None),) * (len(shape) - d) + np.ix_(*index)]


def _sealed(columns):
    """The unfolded input of a constant ``x`` made read-only when it is an array of its own
    (the transposing copy just made), so that the tape shares it with the matrix product's node
    instead of copying it again (:func:`autodiff.reverse.tape.kept_for_backward` copies
    writeable arrays; for LeNet-5's first layer that is 25 x 50176 entries per step).  Traced
    columns are frozen by their own node; a view is returned unchanged."""
    if type(columns) is np.ndarray and columns.flags.owndata:
        columns.flags.writeable = False
    return columns


def _convolve(x, weight, bias, stride, padding, dilation, groups, padding_mode, layer):
    """The checked convolution of ``x`` ``(N, C, *S)`` or ``(C, *S)`` with ``weight``."""
    w_shape = shape_of(weight)
    d = len(w_shape) - 2
    stride = spatial_tuple(stride, d, "stride", layer)
    dilation = spatial_tuple(dilation, d, "dilation", layer)
    groups = positive_int(groups, "groups")
    out_channels, group_channels, kernel = w_shape[0], w_shape[1], w_shape[2:]
    if out_channels % groups:
        raise ValueError(f"{layer}: {out_channels} output channels do not split into "
                         f"groups={groups}")
    x, unbatched = checked_input(x, d, layer, group_channels * groups)
    pairs = _padding_pairs(padding, kernel, stride, dilation, layer)
    mode = choice(padding_mode, "padding_mode", _PADDING_MODES)
    if mode != "zeros" and any(lo or hi for lo, hi in pairs):
        x, pairs = _border(x, pairs, mode, layer), ((0, 0),) * d
    n, spatial = shape_of(x)[0], shape_of(x)[2:]
    positions = window_output_shape(spatial, kernel, stride, dilation, pairs)
    if min(positions) < 1:
        padded = tuple(size + lo + hi for size, (lo, hi) in zip(spatial, pairs))
        raise ValueError(
            f"{layer}: kernel {kernel} (dilation {dilation}) is larger than the padded input "
            f"{padded} (input of shape {shape_of(x)}, padding {pairs})"
        )
    columns = im2col(x, kernel, stride, dilation, pairs)  # (N, C, *P, *K)
    n_positions, n_taps = math.prod(positions), math.prod(kernel)
    position_axes = tuple(range(2, 2 + d))
    kernel_axes = tuple(range(2 + d, 2 + 2 * d))
    if groups == 1:
        # (C K, N P) columns: the copy reads whole rows of the input, the product is
        # (out, C K) x (C K, N P), and the VJP hands col2im one contiguous block per offset
        # (the rules' reshape and transpose, 4-5 us each instead of NumPy's entry points, 8-9)
        columns = _sealed(shapes.reshape(
            shapes.transpose(columns, (1,) + kernel_axes + (0,) + position_axes),
            (group_channels * n_taps, n * n_positions)))
        matrix = shapes.reshape(weight, (out_channels, group_channels * n_taps))
        # W U + b: one node, the bias added into the product in place
        y = columns_product(matrix, columns, *(() if bias is None else (bias,)))
        y = shapes.transpose(shapes.reshape(y, (out_channels, n) + positions),
                             (1, 0) + tuple(range(2, d + 2)))
    else:
        per_group = out_channels // groups
        grouped = api.reshape(columns, (n, groups, group_channels) + positions + kernel)
        order = (1, 0) + tuple(a + 1 for a in position_axes) + (2,) + tuple(
            a + 1 for a in kernel_axes)
        rows = _sealed(api.reshape(api.transpose(grouped, order),
                                   (groups, n * n_positions, group_channels * n_taps)))
        matrices = api.transpose(
            api.reshape(weight, (groups, per_group, group_channels * n_taps)), (0, 2, 1))
        y = api.reshape(api.matmul(rows, matrices), (groups, n) + positions + (per_group,))
        y = api.reshape(api.transpose(y, (1, 0, d + 2) + tuple(range(2, d + 2))),
                        (n, out_channels) + positions)
        if bias is not None:
            y = add(y, api.reshape(bias, (1, out_channels) + (1,) * d))
    return api.reshape(y, shape_of(y)[1:]) if unbatched else y


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros"):
    """1-D convolution of ``x`` ``(N, C_in, L)`` with ``weight`` ``(C_out, C_in / groups, k)``
    and optional ``bias`` ``(C_out,)``; see the module docstring for the options."""
    if len(shape_of(weight)) != 3:
        raise ValueError(f"conv1d: weight must have shape (out, in/groups, k), got "
                         f"{shape_of(weight)}")
    return _convolve(x, weight, bias, stride, padding, dilation, groups, padding_mode, "conv1d")


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros"):
    """2-D convolution of ``x`` ``(N, C_in, H, W)`` with ``weight`` ``(C_out, C_in / groups,
    kh, kw)`` and optional ``bias`` ``(C_out,)``; see the module docstring for the options."""
    if len(shape_of(weight)) != 4:
        raise ValueError(f"conv2d: weight must have shape (out, in/groups, kh, kw), got "
                         f"{shape_of(weight)}")
    return _convolve(x, weight, bias, stride, padding, dilation, groups, padding_mode, "conv2d")


class _ConvNd(Module):
    _d = 0

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", rng=None, dtype=np.float64):
        super().__init__()
        name, d = type(self).__name__, self._d
        self.in_channels = positive_int(in_channels, "in_channels")
        self.out_channels = positive_int(out_channels, "out_channels")
        self.kernel_size = spatial_tuple(kernel_size, d, "kernel_size", name)
        self.stride = spatial_tuple(stride, d, "stride", name)
        self.dilation = spatial_tuple(dilation, d, "dilation", name)
        self.groups = positive_int(groups, "groups")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"{name}: in_channels={self.in_channels} and out_channels={self.out_channels} "
                f"must both be divisible by groups={self.groups}"
            )
        _padding_pairs(padding, self.kernel_size, self.stride, self.dilation, name)  # checks
        self.padding = padding if isinstance(padding, str) else spatial_tuple(
            padding, d, "padding", name, minimum=0)
        self.padding_mode = choice(padding_mode, "padding_mode", _PADDING_MODES)
        rng, dtype = as_generator(rng), np.dtype(dtype)
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        # torch's default: kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and
        # the same bound for the bias
        bound = 1.0 / math.sqrt(math.prod(shape[1:]))
        self.weight = Parameter(rng.uniform(-bound, bound, shape).astype(dtype))
        self.bias = (Parameter(rng.uniform(-bound, bound, self.out_channels).astype(dtype))
                     if flag(bias, "bias") else None)

    def forward(self, x):
        return _convolve(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                         self.groups, self.padding_mode, type(self).__name__)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")
        if self.dilation != (1,) * self._d:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode!r}"
        return text


class Conv1d(_ConvNd):
    """1-D convolution layer: ``(N, in_channels, L) -> (N, out_channels, L_out)``; weight
    ``(out_channels, in_channels / groups, k)``, torch's layout and default initialisation."""

    _d = 1


class Conv2d(_ConvNd):
    """2-D convolution layer: ``(N, in_channels, H, W) -> (N, out_channels, H_out, W_out)``;
    weight ``(out_channels, in_channels / groups, kh, kw)``, torch's layout and default
    initialisation (``kaiming_uniform_`` with ``a = sqrt(5)``, bias ``U(+-1/sqrt(fan_in))``)."""

    _d = 2
