"""Writing into traced arrays: ``y[index] = v``, ``y += t``, and the views NumPy would share.

A traced array is one Python object; ``y[index] = v`` rebinds that object to a new version
``index_update(y, v, index)`` (:mod:`autodiff.rules.indexing`): the derivative flows through the
written values and not through the overwritten ones, as NumPy's semantics say.  Earlier versions
stay what tape nodes recorded, so a gradient never sees a later write.

NumPy's aliasing is kept: a value produced by basic indexing (``y[1:]``, ``y[0]`` of a matrix),
``.T`` / ``transpose`` or a reshape NumPy does without copying (``reshape``, ``ravel``) is a
*view* of its base.  A write through a view rewrites the base (``base = write_back(base,
view')``), and a write into a base refreshes every live view (``view = forward(base)``), so a
view read after its base changed shows the new values, derivative included, as in NumPy.

Values that cannot be rewritten raise ``TypeError``: an input of a reverse-mode transform (NumPy
would change the caller's array; write into ``x.copy()``), and a write of a value traced by a
transform opened *inside* the array's own (it would escape that transform).
"""

from __future__ import annotations

import sys
import weakref

import numpy as np

from ..rules import elementwise, indexing
from ..rules import shapes as rules_shape
from ..rules.primitive import Traced, lift, shape_of

__all__ = ["write", "update_in_place", "register_view", "view_of_index", "view_of_reshape"]


def register_view(base, view, forward, write_back):
    """Record that ``view = forward(base)`` shares ``base``'s memory in NumPy (a level that
    answers with ``base`` itself, a compiled-replay recording's reshape to the same shape, has
    nothing to link)."""
    if isinstance(base, Traced) and isinstance(view, Traced) and view is not base:
        view._link = (base, forward, write_back)
        views = getattr(base, "_views", None)
        if views is None:
            views = base._views = []
        elif len(views) >= 8 and not len(views) & (len(views) - 1):
            # forget views that died, at lengths 8, 16, 32...: amortised O(1) per view
            views[:] = [ref for ref in views if ref() is not None]
        views.append(weakref.ref(view))
    return view


def view_of_index(base, index, result):
    """``result = base[index]`` as NumPy returns it: a view unless every axis took an int."""
    if type(index) is not slice:  # one slice is always a view
        if not indexing.is_basic_index(index):
            return result
        items = index if isinstance(index, tuple) else (index,)
        if len(items) == len(shape_of(base)) and all(
            isinstance(item, (int, np.integer)) for item in items
        ):
            return result  # a scalar, not a view
    return register_view(
        base, result,
        lambda b: indexing.getitem(b, index=index),
        lambda b, new: indexing.index_update(b, new, index=index),
    )


def view_of_reshape(base, shape, result):
    """``result = reshape(base, shape)``: a view when NumPy reshapes without copying."""
    if not isinstance(result, Traced):
        return result
    try:
        np.reshape(_bottom(base), shape, copy=False)
    except ValueError:
        return result  # NumPy copies: later writes do not reach the base
    return register_view(
        base, result,
        lambda b: rules_shape.reshape(b, shape),
        lambda b, new: rules_shape.reshape(new, shape_of(b)),
    )


def view_of_transpose(base, axes, result):
    if not isinstance(result, Traced):
        return result
    inverse = tuple(int(i) for i in np.argsort(axes))
    return register_view(
        base, result,
        lambda b: rules_shape.transpose(b, axes),
        lambda b, new: rules_shape.transpose(new, inverse),
    )


def _bottom(value):
    while isinstance(value, Traced):
        value = value._primal_
    return value


def write(target, index, value):
    """``target[index] = value`` for a traced ``target`` (``ArrayLike.__setitem__``)."""
    value = lift(value)
    inplace = _writable_in_place(target)
    _replace(target, indexing.index_update(target, value, index=index, inplace=inplace))


def _writable_in_place(value) -> bool:
    """Whether nothing but ``value`` itself can see the arrays it holds, at every level.

    Then ``index_update`` writes into them instead of copying (a loop ``out[i] = ...`` stays
    O(n)).  Every array and traced value in ``value``'s state must be referenced by its slot
    alone (tape nodes of ``getitem`` / ``index_update`` keep shapes only; other nodes keep
    copies of writeable arrays; a NumPy view holds its base), and every array must own its
    memory and be writeable (the tape marks the arrays it keeps read-only).
    """
    if not elementwise.REFCOUNTS_EXACT:
        return False
    for name in _state_slots(type(value)):
        held = getattr(value, name)
        if isinstance(held, np.ndarray):
            # the slot and getrefcount's argument: 2 when no one else holds the array
            if sys.getrefcount(held) > 3 or held.base is not None or not held.flags.writeable:
                return False
        elif isinstance(held, Traced):
            if sys.getrefcount(held) > 3 or not _writable_in_place(held):
                return False
        elif isinstance(held, (float, np.floating)):
            return False  # a 0-d value: nothing to write into
    return True


def update_in_place(target, result):
    """``target op= t``: the whole of ``target`` becomes ``result`` (``y += t``)."""
    _replace(target, indexing.index_update(target, result, index=Ellipsis))
    return target


def _replace(target, new):
    link = getattr(target, "_link", None)
    if link is not None:  # a view: the write lands in its base
        base, _, write_back = link
        _replace(base, write_back(base, new))
        return
    _rebind(target, new)
    _refresh_views(target)


def _refresh_views(base):
    for ref in getattr(base, "_views", None) or ():
        view = ref()
        if view is not None:
            _, forward, _ = view._link
            _rebind(view, forward(base))
            _refresh_views(view)


def _rebind(target, new):
    """Make the Python object ``target`` hold the value ``new`` (same kind, same level)."""
    if getattr(target, "_node", False) is None:
        raise TypeError(
            "x[i] = v on an input of a reverse-mode transform (or an ad.Var leaf) would change "
            "the caller's array in NumPy; autodiff cannot write into it. Write into a copy: "
            "x = x.copy(); x[i] = v (or build a new array with np.where / np.concatenate)."
        )
    if type(new) is not type(target) or new._level is not target._level:
        raise TypeError(
            f"cannot write a value traced by an inner transform (level #{new._level.id}) into "
            f"an array of an outer one (level #{target._level.id}): the value would escape the "
            "transform that made it. Return it from the inner function instead."
        )
    slots = _state_slots(type(target))
    if hasattr(target, "_seq"):  # a tape value: nodes that read it keep this version
        earlier = object.__new__(type(target))  # its place in the sweep, not its values
        earlier._node, earlier._seq, earlier._level = target._node, target._seq, target._level
        earlier._earlier = getattr(target, "_earlier", None)
        target._earlier = earlier
    for name in slots:
        setattr(target, name, getattr(new, name))


_SLOTS: dict = {}


def _state_slots(cls) -> tuple:
    """The slots that hold a traced value's state (its level and ``.grad`` stay)."""
    slots = _SLOTS.get(cls)
    if slots is None:
        names = [name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())]
        slots = _SLOTS[cls] = tuple(
            n for n in names
            if n not in ("_level", "grad", "__weakref__", "_earlier", "_link", "_views")
        )
    return slots
