"""Containers that register the modules they hold: :class:`ModuleList` and :class:`ModuleDict`.

A plain Python list or dict in a module attribute hides its modules' parameters from
``parameters()``, ``state_dict()`` and ``to()``; these containers make them sub-modules named
``"<attribute>.<index or key>.<parameter>"``, as in torch.  Neither has a ``forward``: the module
that holds one decides how its members are applied.

>>> import autodiff as ad
>>> class Tower(ad.nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.blocks = ad.nn.ModuleList([ad.nn.Linear(4, 4, rng=i) for i in range(3)])
...     def forward(self, x):
...         for block in self.blocks:
...             x = block(x)
...         return x
>>> [name for name, _ in Tower().named_parameters()][:2]
['blocks.0.weight', 'blocks.0.bias']
"""

from __future__ import annotations

from .module import Module

__all__ = ["ModuleList", "ModuleDict"]


def _checked_module(value, where: str) -> Module:
    if not isinstance(value, Module):
        raise TypeError(f"{where} holds modules, got {type(value).__name__}")
    return value


class ModuleList(Module):
    """A list of modules: indexing, slicing (a new ``ModuleList`` sharing the members),
    ``len``, iteration, ``append``, ``extend``, ``insert`` and item assignment and deletion."""

    def __init__(self, modules=()):
        super().__init__()
        self._set_all(list(modules))

    def _members(self) -> list:
        return [value for value in self.__dict__.values() if isinstance(value, Module)]

    def _set_all(self, modules: list) -> None:
        for index, module in enumerate(modules):
            _checked_module(module, f"ModuleList (position {index})")
        for name in [name for name, value in self.__dict__.items() if isinstance(value, Module)]:
            del self.__dict__[name]
        for index, module in enumerate(modules):
            object.__setattr__(self, str(index), module)

    def _position(self, index: int) -> int:
        size = len(self)
        if not -size <= index < size:
            raise IndexError(f"ModuleList index {index} out of range for {size} modules")
        return index % size

    def __len__(self) -> int:
        return len(self._members())

    def __iter__(self):
        return iter(self._members())

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(self._members()[index])
        return self._members()[self._position(index)]

    def __setitem__(self, index, module) -> None:
        members = self._members()
        members[self._position(index)] = module
        self._set_all(members)

    def __delitem__(self, index) -> None:
        members = self._members()
        del members[index if isinstance(index, slice) else self._position(index)]
        self._set_all(members)

    def append(self, module) -> ModuleList:
        self._set_all(self._members() + [module])
        return self

    def extend(self, modules) -> ModuleList:
        self._set_all(self._members() + list(modules))
        return self

    def insert(self, index: int, module) -> None:
        members = self._members()
        members.insert(index, module)
        self._set_all(members)


class ModuleDict(Module):
    """An insertion-ordered dict of modules keyed by strings (``model.heads["digit"]``).

    Keys must be non-empty strings without ``"."`` that are not attribute names of the container
    (``"train"``, ``"training"``...), as in torch; ``keys``, ``values``, ``items``, ``update``,
    ``pop``, ``in`` and ``len`` work like a dict.
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def _check_key(self, key) -> str:
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"ModuleDict keys are non-empty strings without '.', got {key!r}")
        taken = hasattr(type(self), key) or (
            key in self.__dict__ and not isinstance(self.__dict__[key], Module)
        )
        if taken:
            raise KeyError(f"ModuleDict key {key!r} is an attribute of ModuleDict; pick another")
        return key

    def __getitem__(self, key) -> Module:
        value = self.__dict__.get(key) if isinstance(key, str) else None
        if not isinstance(value, Module):
            raise KeyError(key)
        return value

    def __setitem__(self, key, module) -> None:
        key = self._check_key(key)
        object.__setattr__(self, key, _checked_module(module, f"ModuleDict (key {key!r})"))

    def __delitem__(self, key) -> None:
        self[key]  # noqa: B018 - KeyError for a missing key
        del self.__dict__[key]

    def __contains__(self, key) -> bool:
        return isinstance(key, str) and isinstance(self.__dict__.get(key), Module)

    def __len__(self) -> int:
        return len(self.keys())

    def __iter__(self):
        return iter(self.keys())

    def keys(self) -> list:
        return [key for key, value in self.__dict__.items() if isinstance(value, Module)]

    def values(self) -> list:
        return [self.__dict__[key] for key in self.keys()]

    def items(self) -> list:
        return [(key, self.__dict__[key]) for key in self.keys()]

    def update(self, modules) -> None:
        pairs = modules.items() if hasattr(modules, "items") else modules
        for key, module in pairs:
            self[key] = module

    def pop(self, key) -> Module:
        module = self[key]
        del self[key]
        return module
