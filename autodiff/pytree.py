"""Pytrees: nested dicts, lists and tuples of floats and arrays (JAX's convention).

``flatten`` lists the leaves in a fixed order (dict keys sorted, ``None`` an empty subtree) and
returns a ``TreeDef`` that ``unflatten`` uses to rebuild the same structure around new leaves.
Every transform flattens its inputs and outputs here, once. ``flatten_with_paths`` also gives
each leaf's *path*, the dict keys and sequence indices leading to it from the root, for error
messages that name a leaf: in ``{"a": [x, y]}`` the path of ``y`` is ``("a", 1)``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["TreeDef", "flatten", "flatten_with_paths", "unflatten", "tree_map"]


@dataclass(frozen=True)
class TreeDef:
    """The shape of a pytree: ``kind`` is 'leaf', 'none', 'tuple', 'list' or 'dict'."""

    kind: str
    children: tuple = ()
    keys: tuple = ()
    cls: type | None = None

    @property
    def num_leaves(self) -> int:
        if self.kind == "leaf":
            return 1
        return sum(child.num_leaves for child in self.children)

    def __repr__(self) -> str:
        if self.kind in ("leaf", "none"):
            return "*" if self.kind == "leaf" else "None"
        inner = ", ".join(
            f"{k!r}: {c!r}" for k, c in zip(self.keys, self.children)
        ) if self.kind == "dict" else ", ".join(repr(c) for c in self.children)
        return {"tuple": f"({inner})", "list": f"[{inner}]", "dict": f"{{{inner}}}"}[self.kind]


LEAF = TreeDef("leaf")
NONE = TreeDef("none")


def flatten(tree) -> tuple[list, TreeDef]:
    """Return ``(leaves, treedef)``: the leaves in visiting order and the structure around them."""
    if tree is not None and not isinstance(tree, (dict, tuple, list)):
        return [tree], LEAF  # one leaf, the common case of transform inputs and outputs
    if type(tree) is tuple and not any(
        leaf is None or isinstance(leaf, (dict, tuple, list)) for leaf in tree
    ):  # a plain tuple of leaves (a transform's positional arguments)
        return list(tree), _tuple_of_leaves(len(tree))
    pairs, treedef = flatten_with_paths(tree)
    return [leaf for _, leaf in pairs], treedef


_TUPLES_OF_LEAVES: dict = {}


def _tuple_of_leaves(n: int) -> TreeDef:
    """The treedef of a plain tuple of ``n`` leaves (one per length: treedefs are immutable)."""
    treedef = _TUPLES_OF_LEAVES.get(n)
    if treedef is None:
        treedef = TreeDef("tuple", (LEAF,) * n)
        if n <= 64:
            _TUPLES_OF_LEAVES[n] = treedef
    return treedef


def flatten_with_paths(tree) -> tuple[list[tuple[tuple, object]], TreeDef]:
    """Like :func:`flatten`, with each leaf paired with its path: ``([(path, leaf), ...], treedef)``.

    Raises ``TypeError`` naming the dict whose keys cannot be sorted (keys of mixed types).
    """
    pairs: list = []
    return pairs, _flatten(tree, (), pairs)


def _flatten(tree, path, pairs) -> TreeDef:
    if tree is None:
        return NONE
    if isinstance(tree, dict):
        try:
            keys = tuple(sorted(tree))
        except TypeError as err:
            raise TypeError(
                f"the keys of the dict at path {path} cannot be sorted ({err}); "
                "use keys of one type."
            ) from None
        children = tuple([_flatten(tree[k], path + (k,), pairs) for k in keys])
        # dict and OrderedDict come back as themselves; other mappings (defaultdict, whose
        # constructor takes a factory) come back as plain dicts
        kind = type(tree) if type(tree) in (dict, OrderedDict) else dict
        return TreeDef("dict", children, keys, kind)
    if isinstance(tree, (tuple, list)):
        children = tuple([_flatten(t, path + (i,), pairs) for i, t in enumerate(tree)])
        if isinstance(tree, list):
            return TreeDef("list", children)
        namedtuple = type(tree) if hasattr(tree, "_fields") else None  # keeps its class
        return TreeDef("tuple", children, cls=namedtuple)
    pairs.append((path, tree))
    return LEAF


def unflatten(treedef: TreeDef, leaves):
    if type(leaves) is list:  # one leaf, or a plain tuple of that many (as _unflatten builds)
        if treedef is LEAF and len(leaves) == 1:
            return leaves[0]
        if treedef is _TUPLES_OF_LEAVES.get(len(leaves)):
            return tuple(leaves)
    iterator = iter(leaves)
    tree = _unflatten(treedef, iterator)
    if next(iterator, _END) is not _END:
        raise ValueError("too many leaves for this tree structure")
    return tree


_END = object()


def _unflatten(treedef, iterator):
    kind = treedef.kind
    if kind == "leaf":
        leaf = next(iterator, _END)
        if leaf is _END:
            raise ValueError("too few leaves for this tree structure")
        return leaf
    if kind == "none":
        return None
    children = [_unflatten(child, iterator) for child in treedef.children]
    if kind == "dict":
        return (treedef.cls or dict)(zip(treedef.keys, children))
    if kind == "list":
        return children
    if treedef.cls is not None:
        return treedef.cls(*children)
    return tuple(children)


def tree_map(fn, tree, *rest):
    """Apply ``fn`` leaf by leaf to trees of one structure."""
    leaves, treedef = flatten(tree)
    others = []
    for other in rest:
        other_leaves, other_def = flatten(other)
        if other_def != treedef:
            raise ValueError(f"tree structures differ: {treedef!r} vs {other_def!r}")
        others.append(other_leaves)
    return unflatten(treedef, [fn(*items) for items in zip(leaves, *others)])
