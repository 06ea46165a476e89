"""Pytrees as flat vectors, and back: the one layout every ``R^n`` view of a pytree uses.

Linear solvers, ``minimize``, finite differences, Hessian operators and Jacobian seeds work on
flat vectors ``z`` in ``R^n``; users write their functions on whatever pytree suits them. The
layout is :mod:`autodiff.pytree`'s leaf order (dict keys sorted, ``None`` an empty subtree),
each leaf raveled in C order, the pieces concatenated::

    ravel_pytree({"b": np.zeros((2, 2)), "a": 1.0})[0] -> [a, b00, b01, b10, b11]

This is the construction of JAX's ``jax.flatten_util.ravel_pytree``. A :class:`FlatSpec`
remembers the structure, shapes and dtypes, so that :meth:`FlatSpec.unravel` rebuilds a tree
(Python floats stay Python floats, NumPy scalars stay NumPy scalars) and :meth:`FlatSpec.ravel`
flattens any other tree of the same layout (a gradient, a Hessian-vector product), naming the
first leaf that differs. Every leaf keeps its dtype (float32 stays float32; integer leaves
become float64) unless the spec is built with one ``dtype`` for all, as the float64 solvers do.
A leading ``batch`` axis carries ``k`` vectors at once: ``(k, n)`` flat, ``(k,) + shape`` per
leaf.

>>> z, spec = ravel_pytree({"w": np.ones(2), "b": 0.5})
>>> z
array([0.5, 1. , 1. ])
>>> spec.unravel(2 * z)
{'b': 1.0, 'w': array([2., 2.])}
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import replace

import numpy as np

from .pytree import LEAF, TreeDef, flatten, flatten_with_paths, unflatten
from .rules.primitive import Traced, dtype_of, primal_value, shape_of

__all__ = ["FlatSpec", "describe_path", "flat_spec", "is_number_list", "ravel", "ravel_pytree"]


def is_number_list(tree) -> bool:
    """Whether ``tree`` is a non-empty list of real numbers, which SciPy's solvers read as a
    vector (``x0=[1, 2]``); as a pytree it would be a list of scalar leaves."""
    return isinstance(tree, list) and bool(tree) and all(
        isinstance(item, (numbers.Real, np.floating, np.integer))
        and not isinstance(item, (bool, np.bool_))
        for item in tree
    )


def describe_path(what: str, path: tuple) -> str:
    """A leaf's name in messages: ``describe_path("x0", ("w", 0)) == "x0['w'][0]"``."""
    return what + "".join(f"[{key!r}]" for key in path)


def _leaf_dtype(leaf, path, what):
    """The floating dtype ``leaf`` has in the flat layout; ``TypeError`` naming anything else."""
    if isinstance(leaf, Traced):
        return dtype_of(leaf)
    if type(leaf) is np.ndarray and leaf.dtype.kind == "f":  # the common leaf, checked first
        return leaf.dtype
    where = describe_path(what, path)
    if isinstance(leaf, (bool, np.bool_)):
        raise TypeError(f"{where} is a bool; a pytree of real numbers is needed here.")
    if isinstance(leaf, (int, float)):
        return np.dtype(np.float64)
    if isinstance(leaf, (np.ndarray, np.generic)):
        kind = leaf.dtype.kind
        if kind == "c":
            raise TypeError(
                f"{where} is complex ({leaf.dtype}); complex numbers are out of scope: "
                "use the real and imaginary parts as two real arrays."
            )
        if kind not in "fiu":
            raise TypeError(f"{where} has dtype {leaf.dtype}; a pytree of real numbers is "
                            "needed here.")
        return leaf.dtype if kind == "f" else np.dtype(np.float64)
    raise TypeError(
        f"{where} is a {type(leaf).__name__}; a pytree holds floats, NumPy arrays, None, "
        "and dict/list/tuple containers of them."
    )


def _skeleton(treedef: TreeDef) -> TreeDef:
    """The container skeleton without container classes (a namedtuple matches a tuple)."""
    if treedef.cls is None and not treedef.children:  # a leaf, None, an empty container
        return treedef
    return replace(treedef, cls=None, children=tuple(_skeleton(c) for c in treedef.children))


class FlatSpec:
    """The layout of one pytree as a flat vector of length ``size``.

    ``shapes``, ``dtypes`` and ``sizes`` are per leaf, in pytree order; ``dtype`` is the result
    type of the leaves' dtypes (float64 for a tree without leaves), the dtype of raveled vectors.
    ``what`` names the tree in error messages (``"x0"``, ``"b"``).
    """

    def __init__(self, treedef, leaves, dtypes, what):
        self.treedef = treedef
        self.what = what
        self.shapes = tuple([shape_of(leaf) for leaf in leaves])
        self.dtypes = tuple(dtypes)
        self.sizes = tuple([math.prod(shape) for shape in self.shapes])
        self.size = sum(self.sizes)
        self.dtype = np.result_type(*self.dtypes) if self.dtypes else np.dtype(np.float64)
        self._python_float = tuple([type(leaf) is float for leaf in leaves])
        self._numpy_scalar = tuple([isinstance(leaf, np.generic) for leaf in leaves])

    @functools.cached_property
    def _skeleton(self) -> TreeDef:
        return _skeleton(self.treedef)

    def __repr__(self) -> str:
        return f"FlatSpec({self.treedef!r}, size={self.size}, dtype={self.dtype})"

    def matches(self, tree, batch: tuple = ()) -> bool:
        """Whether ``tree`` has this structure and leaf shapes (each behind ``batch``)."""
        leaves, treedef = flatten(tree)
        return _skeleton(treedef) == self._skeleton and all(
            shape_of(leaf) == batch + shape for leaf, shape in zip(leaves, self.shapes)
        )

    def ravel(self, tree, what: str = "tree", batch: tuple = ()) -> np.ndarray:
        """The leaves of ``tree`` (this layout, each behind ``batch``) as one ``batch + (n,)``
        array of ``self.dtype`` (traced leaves by their values). ``ValueError`` names the first
        leaf whose place or shape differs."""
        pairs, treedef = flatten_with_paths(tree)
        if _skeleton(treedef) != self._skeleton:
            raise ValueError(f"the {what} has structure {treedef!r}; {self.what} has "
                             f"{self.treedef!r}")
        for (path, leaf), shape in zip(pairs, self.shapes):
            if np.iscomplexobj(primal_value(leaf)):
                raise TypeError(f"{describe_path(what, path)} is complex; complex numbers are "
                                "out of scope here")
            if shape_of(leaf) != batch + shape:
                raise ValueError(
                    f"{describe_path(what, path)} has shape {shape_of(leaf)}, expected "
                    f"{batch + shape} (the shape of {describe_path(self.what, path)})"
                )
        return _concatenate([leaf for _, leaf in pairs], self.dtype, batch)

    def unravel(self, vector, batch: tuple = ()):
        """The tree whose leaves are the consecutive pieces of ``vector`` (``batch + (n,)``).

        Each leaf is a copy in its own dtype; without ``batch``, Python-float leaves come back
        as Python floats and NumPy scalars as NumPy scalars.
        """
        vector = np.asarray(vector)
        if vector.shape != batch + (self.size,):
            raise ValueError(f"expected a flat vector of shape {batch + (self.size,)} for "
                             f"{self.what}, got {vector.shape}")
        leaves, offset = [], 0
        for shape, size, dtype, python_float, numpy_scalar in zip(
                self.shapes, self.sizes, self.dtypes, self._python_float, self._numpy_scalar):
            piece = vector[..., offset:offset + size].astype(dtype).reshape(batch + shape)
            if not batch and python_float:
                piece = float(piece)
            elif not batch and numpy_scalar:
                piece = piece[()]
            leaves.append(piece)
            offset += size
        return unflatten(self.treedef, leaves)

    def unit_vectors(self, start: int, stop: int):
        """Rows ``start .. stop - 1`` of the ``n x n`` identity as a batch of trees (leaves
        ``(stop - start,) + shape``): the seeds of Jacobian columns and of Hessian diagonals."""
        count = stop - start
        leaves, offset = [], 0
        for shape, size, dtype in zip(self.shapes, self.sizes, self.dtypes):
            block = np.zeros((count, size), dtype)
            rows = np.arange(max(start, offset), min(stop, offset + size))
            block[rows - start, rows - offset] = 1
            leaves.append(block.reshape((count,) + shape))
            offset += size
        return unflatten(self.treedef, leaves)


def flat_spec(tree, what: str = "x", dtype=None) -> FlatSpec:
    """The :class:`FlatSpec` of ``tree``; ``dtype`` (e.g. ``np.float64``) overrides every leaf's.

    Bool, complex and non-numeric leaves raise ``TypeError`` naming the leaf (``x0['w'][0]``).
    """
    if type(tree) is np.ndarray and tree.dtype.kind == "f" and (dtype is None
                                                                or tree.dtype == dtype):
        return _array_spec(tree.shape, tree.dtype, what)
    pairs, treedef = flatten_with_paths(tree)
    dtypes = [_leaf_dtype(leaf, path, what) for path, leaf in pairs]
    if dtype is not None:
        dtypes = [np.dtype(dtype)] * len(dtypes)
    return FlatSpec(treedef, [leaf for _, leaf in pairs], dtypes, what)


@functools.lru_cache(maxsize=64)
def _array_spec(shape, dtype, what) -> FlatSpec:
    """The spec of one float array: one per shape, dtype and name (a spec is never changed, so
    every array of that layout shares it; a solver asks for one per iteration)."""
    return FlatSpec(LEAF, [np.broadcast_to(np.zeros((), dtype), shape)], [dtype], what)


def ravel_pytree(tree, what: str = "x", dtype=None):
    """``(z, spec)``: the leaves of ``tree`` as one flat vector, and the layout to undo it."""
    spec = flat_spec(tree, what, dtype)
    return spec.ravel(tree, what), spec


def ravel(tree, dtype=np.float64) -> np.ndarray:
    """Every leaf of any pytree (traced leaves by their values) in one flat ``dtype`` vector,
    without a layout to check against: for comparing results, as the testing helpers do."""
    return _concatenate(flatten(tree)[0], dtype, ())


def _concatenate(leaves, dtype, batch):
    if not leaves:
        return np.zeros(batch + (0,), dtype)
    arrays = [np.asarray(primal_value(leaf), dtype=dtype) for leaf in leaves]
    # each leaf's own entries, counted (a -1 cannot be resolved for an empty batch)
    return np.concatenate(
        [a.reshape(batch + (math.prod(a.shape[len(batch):]),)) for a in arrays], axis=-1
    )
