"""Ravel a pytree of floats and arrays into one float64 vector, and back.

The solvers in :mod:`autodiff.optim` work on flat vectors ``z`` in ``R^n``; users write ``f`` on
whatever structure suits them. A *pytree* is a Python float, a NumPy scalar or array, or a nested
``dict`` (keys visited in sorted order) / ``list`` / ``tuple`` of pytrees; ``None`` is an empty
subtree. Raveling concatenates the leaves, each flattened in C order::

    ravel({"b": np.zeros((2, 2)), "a": 1.0}) -> [a, b00, b01, b10, b11]

and :meth:`PyTreeSpec.unravel` is its inverse. The traversal is :mod:`autodiff.pytree`'s; this
module adds the float64 layout and the leaf checks (real numbers only, each error naming the leaf
by its path, as in ``x0['w'][0]``). Example::

    >>> z, spec = ravel_pytree({"w": np.ones(2), "b": 0.5})
    >>> z
    array([0.5, 1. , 1. ])
    >>> spec.unravel(2 * z)
    {'b': 1.0, 'w': array([2., 2.])}
"""

from dataclasses import dataclass, replace

import numpy as np

from ..pytree import flatten_with_paths, unflatten

__all__ = ["PyTreeSpec", "ravel_pytree", "tree_leaves"]


@dataclass(frozen=True)
class _Leaf:
    """Where one leaf lives in the flat vector, and how to rebuild it."""

    shape: tuple
    python_float: bool
    numpy_scalar: bool

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def rebuild(self, values):
        if self.python_float:
            return float(values[0])
        if self.numpy_scalar:
            return np.float64(values[0])
        return values.reshape(self.shape).copy()


def _describe(path):
    return "x0" + "".join(f"[{key!r}]" for key in path)


def _check_leaf(leaf, path):
    """Return a `_Leaf` for a real-number leaf; raise TypeError naming anything else."""
    where = _describe(path)
    if isinstance(leaf, (bool, np.bool_)):
        raise TypeError(f"{where} is a bool; optimisation variables must be real numbers.")
    if isinstance(leaf, (int, float)):
        return _Leaf((), python_float=True, numpy_scalar=False)
    if isinstance(leaf, (np.ndarray, np.generic)):
        kind = leaf.dtype.kind
        if kind == "c":
            raise TypeError(
                f"{where} is complex ({leaf.dtype}); complex numbers are out of scope: "
                "optimise the real and imaginary parts as two real arrays."
            )
        if kind not in "fiu":
            raise TypeError(
                f"{where} has dtype {leaf.dtype}; optimisation variables must be real numbers."
            )
        return _Leaf(tuple(leaf.shape), python_float=False,
                     numpy_scalar=isinstance(leaf, np.generic))
    raise TypeError(
        f"{where} is a {type(leaf).__name__}; a pytree holds floats, NumPy arrays, None, "
        "and dict/list/tuple containers of them."
    )


def _flatten_checked(tree):
    """Return ``(leaves, leaf_defs, treedef)``, each leaf checked by `_check_leaf`."""
    pairs, treedef = flatten_with_paths(tree)
    leaf_defs = [_check_leaf(leaf, path) for path, leaf in pairs]
    return [leaf for _, leaf in pairs], leaf_defs, treedef


def _drop_classes(treedef, kinds):
    """``treedef`` with the container classes of the given kinds dropped: such containers then
    rebuild as a plain ``dict`` / ``tuple`` and compare equal to one."""
    return replace(
        treedef,
        cls=None if treedef.kind in kinds else treedef.cls,
        children=tuple(_drop_classes(child, kinds) for child in treedef.children),
    )


def _skeleton(treedef):
    """The container skeleton, ignoring container classes (a namedtuple matches a tuple)."""
    return _drop_classes(treedef, ("dict", "tuple"))


def tree_leaves(tree):
    """The leaves of ``tree`` in raveling order (dict keys sorted, ``None`` contributes none)."""
    return _flatten_checked(tree)[0]


class PyTreeSpec:
    """The structure of a pytree: converts between trees of that structure and flat vectors.

    ``size`` is the length ``n`` of the flat vector. :meth:`ravel` accepts any tree with the same
    structure and leaf shapes (for instance a gradient returned for ``x0``) and raises
    ``ValueError`` naming the first difference otherwise.
    """

    def __init__(self, treedef, leaves):
        self._treedef = _drop_classes(treedef, ("dict",))  # dicts come back as plain dicts
        self._skeleton = _skeleton(treedef)
        self._leaves = tuple(leaves)
        self.size = sum(leaf.size for leaf in self._leaves)

    def __repr__(self):
        return f"PyTreeSpec(leaves={len(self._leaves)}, size={self.size})"

    @property
    def leaf_sizes(self):
        """The number of entries of each leaf, in raveling order."""
        return tuple(leaf.size for leaf in self._leaves)

    def ravel(self, tree, what="tree"):
        """Concatenate the leaves of ``tree`` (same structure as this spec) into float64."""
        leaves, _, treedef = _flatten_checked(tree)
        if _skeleton(treedef) != self._skeleton:
            raise ValueError(f"the {what} does not have the structure of x0")
        for index, (value, leaf) in enumerate(zip(leaves, self._leaves)):
            if np.shape(value) != leaf.shape:
                raise ValueError(
                    f"leaf {index} of the {what} has shape {np.shape(value)}, "
                    f"x0's has shape {leaf.shape}"
                )
        if not leaves:
            return np.zeros(0)
        return np.concatenate([np.asarray(value, dtype=np.float64).ravel() for value in leaves])

    def unravel(self, vector):
        """Rebuild a tree of this structure from a flat vector of length ``size`` (copies)."""
        vector = np.asarray(vector, dtype=np.float64)
        if vector.shape != (self.size,):
            raise ValueError(f"expected a flat vector of shape ({self.size},), got {vector.shape}")
        offsets = np.cumsum((0,) + self.leaf_sizes)
        leaves = [
            leaf.rebuild(vector[start:stop])
            for leaf, start, stop in zip(self._leaves, offsets[:-1], offsets[1:])
        ]
        return unflatten(self._treedef, leaves)


def ravel_pytree(tree):
    """Return ``(z, spec)``: the leaves of ``tree`` as one float64 vector, and its structure.

    Integer leaves are accepted and become floats (a starting point may well be written
    ``[1, 2]``); bool, complex and non-numeric leaves raise ``TypeError`` naming the leaf.
    """
    _, leaf_defs, treedef = _flatten_checked(tree)
    spec = PyTreeSpec(treedef, leaf_defs)
    return spec.ravel(tree), spec
