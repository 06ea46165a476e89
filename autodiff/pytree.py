"""Pytrees: nested dicts, lists and tuples of floats and arrays (JAX's convention).

``flatten`` lists the leaves in a fixed order (dict keys sorted, ``None`` an empty subtree) and
returns a ``TreeDef`` that ``unflatten`` uses to rebuild the same structure around new leaves.
Every transform flattens its inputs and outputs here, once.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TreeDef", "flatten", "unflatten", "tree_map"]


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
    leaves: list = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree, leaves) -> TreeDef:
    if tree is None:
        return NONE
    if isinstance(tree, dict):
        keys = tuple(sorted(tree))
        return TreeDef("dict", tuple(_flatten(tree[k], leaves) for k in keys), keys, type(tree))
    if isinstance(tree, tuple) and not hasattr(tree, "_fields"):
        return TreeDef("tuple", tuple(_flatten(t, leaves) for t in tree))
    if isinstance(tree, tuple):  # a namedtuple keeps its class
        return TreeDef("tuple", tuple(_flatten(t, leaves) for t in tree), cls=type(tree))
    if isinstance(tree, list):
        return TreeDef("list", tuple(_flatten(t, leaves) for t in tree))
    leaves.append(tree)
    return LEAF


def unflatten(treedef: TreeDef, leaves):
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
