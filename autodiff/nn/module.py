"""Modules and parameters: the tensor layer's containers, in the style of ``torch.nn``.

A :class:`Parameter` is a leaf :class:`~autodiff.reverse.var.Var` over a floating array that
lives as long as the model: every forward pass records onto the tape of the current context, and
``loss.backward()`` accumulates ``dloss/dparameter`` into ``parameter.grad`` (an ndarray).  An
optimizer then assigns ``parameter.value`` a new array of the same shape and dtype.  A ``Var``
over an array is the tensor: there is one reverse-mode engine.

A :class:`Module` finds its parameters from its attributes: a :class:`Parameter`, a sub-module,
or a list/tuple of sub-modules.  Names are dotted paths (``"layers.0.weight"``), as in
``torch.nn.Module.named_parameters``.  A *buffer* (:meth:`Module.register_buffer`) is state that
is not trained, such as batch normalisation's running statistics: a plain array, saved and loaded
with the parameters, converted by :meth:`Module.to`, never traced.

:func:`functional_call` runs a module as a pure function of a pytree of parameter values
(a dict ``name -> array``, as :meth:`Module.named_parameters` names them).  The values may be
traced (``Var``/``Dual`` of a transform level), which is how ``ad.grad``/``ad.hvp`` of a network
loss work.  Substitution goes through a context variable read at attribute access, so the module
is never mutated and never holds a traced value, even if the call raises, in any thread.

>>> import numpy as np, autodiff as ad
>>> model = ad.nn.Sequential(ad.nn.Linear(3, 4, rng=0), ad.nn.Tanh(), ad.nn.Linear(4, 1, rng=1))
>>> [name for name, _ in model.named_parameters()]
['0.weight', '0.bias', '2.weight', '2.bias']
>>> x = np.ones((5, 3))
>>> loss = np.sum(model(x) ** 2)
>>> loss.backward()
>>> model[0].weight.grad.shape
(4, 3)
>>> params = {name: p.value for name, p in model.named_parameters()}
>>> g = ad.grad(lambda p: np.sum(ad.nn.functional_call(model, p, x) ** 2))(params)
>>> bool(np.allclose(g["0.weight"], model[0].weight.grad))
True
"""

from __future__ import annotations

import contextlib
import contextvars
from collections import namedtuple

import numpy as np

from ..levels import hold_module_state
from ..reverse.var import Var
from ..rules.primitive import Traced, dtype_of, shape_of

__all__ = ["Parameter", "Module", "Sequential", "functional_call", "LoadResult"]


# ----------------------------------------------------------------------------------------------
# Parameter
# ----------------------------------------------------------------------------------------------


def _floating_array(value, what: str) -> np.ndarray:
    """``value`` as a floating ndarray (Python numbers become float64); refuses the rest."""
    if isinstance(value, Traced):
        raise TypeError(
            f"{what} must be a plain array, got a traced {type(value).__name__}: module state "
            "never holds traced values. To run a module with traced parameters use "
            "ad.nn.functional_call(module, params, *inputs); to store a number, take "
            "ad.stop_gradient(x) first."
        )
    array = np.asarray(value)
    if array.dtype == object:
        raise TypeError(f"{what} is an object array; parameters are floating-point arrays")
    if np.issubdtype(array.dtype, np.integer) and not isinstance(value, np.ndarray):
        array = array.astype(np.float64)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(
            f"{what} has dtype {array.dtype}; parameters must be floating-point arrays "
            "(pass e.g. x.astype(np.float64))"
        )
    return array


class Parameter(Var):
    """A trainable array: a leaf ``Var`` that persists across tapes.

    ``Parameter(value)`` copies ``value`` (a floating array; Python numbers and integer lists
    become float64) into a read-only array.  Every operation on it records onto the tape of the
    current context, so ``loss.backward()`` fills ``.grad`` (an ndarray of the same shape) on
    every pass; :meth:`Module.zero_grad` or an optimizer's ``zero_grad()`` clears it.

    ``.value`` can be assigned an array of the same shape and dtype (an optimizer step does
    this). The new array is adopted without a copy when it owns its data (and is made read-only,
    so a tape that saved it can never see it change); a view is copied.

    Inside a transform (``ad.grad(f)(x)`` with ``f`` using a model), parameters are constants of
    that transform but still values of the hand-built tape, so a result that depends on them is
    a ``Var`` of that tape (its own gradient with respect to the parameters is one
    ``backward()`` away, like torch's ``create_graph=True``).  Run the transform inside
    ``with ad.no_grad():`` to get plain arrays, and use :func:`functional_call` to
    differentiate *with respect to* the parameters.

    >>> import numpy as np
    >>> w = Parameter(np.zeros((2, 3)))
    >>> w.value = np.ones((2, 3))
    >>> w.value.sum()
    np.float64(6.0)
    >>> w.value = np.ones(3)
    Traceback (most recent call last):
    ...
    ValueError: cannot assign an array of shape (3,) to a parameter of shape (2, 3); ...
    """

    __slots__ = ()

    def __init__(self, value):
        super().__init__(_floating_array(value, "Parameter value"))

    @property
    def value(self) -> np.ndarray:
        return self._primal_

    @value.setter
    def value(self, new) -> None:
        current = self._primal_
        if type(new) is np.ndarray and new.dtype == current.dtype and new.shape == current.shape:
            self._primal_ = _adopted(new)  # the optimizer's path: nothing else to check
            return
        array = _floating_array(new, "the value assigned to a Parameter")
        if array.shape != current.shape:
            raise ValueError(
                f"cannot assign an array of shape {array.shape} to a parameter of shape "
                f"{current.shape}; a parameter keeps its shape (build a new module to change it)"
            )
        if array.dtype != current.dtype:
            raise TypeError(
                f"cannot assign a {array.dtype} array to a {current.dtype} parameter; cast it "
                f"first (new.astype(np.{current.dtype})) or convert the whole module with "
                "module.to(dtype)"
            )
        self._primal_ = _adopted(array)

    def _replace(self, array: np.ndarray) -> None:
        """Set a new array of any shape/dtype (``Module.to``, loading); clears ``.grad``."""
        self._primal_ = _adopted(np.array(array, copy=True))
        self.grad = None

    # copy.deepcopy / pickle make a new leaf on the current context's tape (a copied Level would
    # be a stranger to every tape); deepcopy keeps the gradient, pickling drops it
    def __deepcopy__(self, memo):
        clone = Parameter(self._primal_)
        clone.grad = None if self.grad is None else np.array(self.grad)
        return clone

    def __reduce__(self):
        return Parameter, (np.array(self._primal_),)

    def __repr__(self) -> str:
        return f"Parameter({self._primal_!r})"


def _buffer_array(value, what: str) -> np.ndarray:
    """A buffer's new value: a plain floating or integer array (never traced)."""
    if isinstance(value, Traced):
        raise TypeError(
            f"{what} must be a plain array, got a traced {type(value).__name__}: module state "
            "never holds traced values (take ad.stop_gradient(value) or its .value first)"
        )
    array = np.array(value, copy=True)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.floating)
                                   or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"{what} must be a floating or integer array, got dtype {array.dtype}")
    return array


def _loaded_buffer(value, current: np.ndarray, name: str) -> np.ndarray:
    """``value`` checked against the buffer it replaces (shape and kind) and cast to its dtype."""
    array = _buffer_array(value, f"state dict entry {name!r}")
    if array.shape != current.shape:
        raise ValueError(
            f"state dict entry {name!r} has shape {array.shape}, but the buffer has shape "
            f"{current.shape}"
        )
    if np.issubdtype(current.dtype, np.floating) != np.issubdtype(array.dtype, np.floating):
        raise TypeError(
            f"state dict entry {name!r} has dtype {array.dtype}, but the buffer holds "
            f"{current.dtype} values"
        )
    return array.astype(current.dtype, copy=False)


def _adopted(array: np.ndarray) -> np.ndarray:
    """``array`` itself if it owns its data (made read-only), else a read-only copy."""
    if not (array.flags.owndata and array.flags.c_contiguous):
        array = np.array(array, order="C", copy=True)
    array.flags.writeable = False
    return array


# ----------------------------------------------------------------------------------------------
# Module
# ----------------------------------------------------------------------------------------------

# id(parameter) -> the value that replaces it inside functional_call (None outside any call)
_SUBSTITUTES: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "autodiff_nn_substitutes", default=None
)

LoadResult = namedtuple("LoadResult", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of layers and models: parameters from attributes, ``forward`` on call.

    Subclasses call ``super().__init__()`` first, then assign :class:`Parameter` s, sub-modules
    and lists of sub-modules as attributes, and define ``forward``.  Assigning a traced value
    (a ``Var``/``Dual`` that is not a Parameter) to a module raises ``TypeError``: module state
    never holds traced values.

    >>> import numpy as np, autodiff as ad
    >>> class Affine(ad.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.scale = ad.nn.Parameter(np.ones(2))
    ...         self.shift = ad.nn.Parameter(np.zeros(2))
    ...     def forward(self, x):
    ...         return x * self.scale + self.shift
    >>> sorted(Affine().state_dict())
    ['scale', 'shift']
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "training", True)

    # -- attributes ------------------------------------------------------------------------------
    def __setattr__(self, name, value):
        parameters = self.__dict__.get("_parameters")
        buffers = self.__dict__.get("_buffers")
        if buffers is not None and name in buffers:
            buffers[name] = _buffer_array(value, f"buffer {name!r} of {type(self).__name__}")
            return
        if isinstance(value, Parameter):
            if parameters is None:
                raise RuntimeError(
                    f"cannot assign parameter {name!r} before Module.__init__() ran: call "
                    "super().__init__() first in the __init__ of "
                    f"{type(self).__name__}"
                )
            self.__dict__.pop(name, None)
            parameters[name] = value
            return
        if parameters is not None and name in parameters:
            if value is not None:
                raise TypeError(
                    f"cannot assign a {type(value).__name__} to parameter {name!r} of "
                    f"{type(self).__name__}: assign a Parameter, None, or set "
                    f"module.{name}.value = array to change its values"
                )
            del parameters[name]
        elif isinstance(value, Traced):
            raise TypeError(
                f"cannot store a traced {type(value).__name__} as attribute {name!r} of "
                f"{type(self).__name__}: module state never holds traced values (they die "
                "with their transform). Wrap trainable arrays in ad.nn.Parameter, and keep "
                "intermediate results local or store ad.stop_gradient(value)."
            )
        object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # Only reached when normal lookup fails: parameters live in self._parameters.
        parameters = self.__dict__.get("_parameters")
        if parameters is not None and name in parameters:
            parameter = parameters[name]
            substitutes = _SUBSTITUTES.get()
            if substitutes is not None:
                replacement = substitutes.get(id(parameter), parameter)
                return replacement
            return parameter
        buffers = self.__dict__.get("_buffers")
        if buffers is not None and name in buffers:
            substitutes = _SUBSTITUTES.get()
            if substitutes is not None:
                return substitutes.get((id(self), name), buffers[name])
            return buffers[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        parameters = self.__dict__.get("_parameters")
        buffers = self.__dict__.get("_buffers")
        if parameters is not None and name in parameters:
            del parameters[name]
        elif buffers is not None and name in buffers:
            del buffers[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        own = set(self.__dict__.get("_parameters", {})) | set(self.__dict__.get("_buffers", {}))
        return sorted(set(super().__dir__()) | own)

    def register_buffer(self, name: str, value) -> None:
        """Add state that is not trained, e.g. running statistics: ``self.<name>`` from now on.

        ``value`` is a plain array (floating, or integer for counters); it is part of
        :meth:`state_dict`, converted by :meth:`to` when floating, and re-assigned with
        ``self.<name> = new_array``.  A buffer never holds a traced value.
        """
        buffers = self.__dict__.get("_buffers")
        if buffers is None:
            raise RuntimeError(
                f"cannot register buffer {name!r} before Module.__init__() ran: call "
                f"super().__init__() first in the __init__ of {type(self).__name__}"
            )
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"a buffer name must be an identifier, got {name!r}")
        if name in self.__dict__ or name in self._parameters:
            raise KeyError(f"{type(self).__name__} already has an attribute {name!r}")
        buffers[name] = _buffer_array(value, f"buffer {name!r} of {type(self).__name__}")

    # -- traversal -------------------------------------------------------------------------------
    def named_children(self):
        """``(name, module)`` for the direct sub-modules, in assignment order.

        An attribute that is a list or tuple contributes its modules as ``name.0``, ``name.1``...
        """
        for name, value in self.__dict__.items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for index, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{index}", item
                    elif isinstance(item, Parameter):
                        raise TypeError(
                            f"attribute {name!r} of {type(self).__name__} is a list holding a "
                            "Parameter; parameters must be attributes of a module (or held by "
                            "sub-modules in a list), so that they have a name"
                        )

    def children(self):
        """The direct sub-modules."""
        return (module for _, module in self.named_children())

    def named_modules(self, prefix: str = ""):
        """``(dotted name, module)`` for this module (name ``prefix``) and all below it, once each."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child}" if name else child, sub)
                        for child, sub in module.named_children()]
            stack.extend(reversed(children))

    def modules(self):
        """This module and all its sub-modules (depth first, each once)."""
        return (module for _, module in self.named_modules())

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        """``(dotted name, Parameter)`` pairs; a parameter shared by two modules appears once."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, parameter in module._parameters.items():
                if id(parameter) in seen:
                    continue
                seen.add(id(parameter))
                yield (f"{module_name}.{name}" if module_name else name), parameter

    def parameters(self, recurse: bool = True):
        """The parameters (an iterator, each once), ready for an optimizer."""
        return (parameter for _, parameter in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        """``(dotted name, array)`` for the buffers (running statistics), each module once."""
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, buffer in module._buffers.items():
                yield (f"{module_name}.{name}" if module_name else name), buffer

    def buffers(self, recurse: bool = True):
        """The buffers' arrays (an iterator)."""
        return (buffer for _, buffer in self.named_buffers(recurse=recurse))

    # -- modes and gradients ---------------------------------------------------------------------
    def train(self, mode: bool = True):
        """Set training mode on this module and every sub-module; returns ``self``."""
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"train(mode) takes True or False, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode (``train(False)``); returns ``self``."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's ``.grad`` (``None``, or zeros with ``set_to_none=False``)."""
        for parameter in self.parameters():
            if set_to_none:
                parameter.grad = None
            elif parameter.grad is not None:
                parameter.grad = np.zeros_like(parameter.value)

    def to(self, dtype):
        """Convert every parameter and floating buffer to ``dtype`` (e.g. ``np.float32``).

        Returns ``self``.
        Gradients are cleared; an optimizer built before the conversion still refers to the same
        Parameter objects but its state (if any) keeps the old dtype, so build it afterwards.
        """
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise TypeError(f"module.to(dtype) needs a floating dtype, got {dtype}")
        for parameter in self.parameters():
            parameter._replace(parameter.value.astype(dtype))
        for module in self.modules():
            for name, buffer in module._buffers.items():
                if np.issubdtype(buffer.dtype, np.floating):
                    module._buffers[name] = buffer.astype(dtype)
        return self

    # -- state -----------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{dotted name: array}``: copies of the parameter values, then of the buffers."""
        state = {name: np.array(parameter.value) for name, parameter in self.named_parameters()}
        state.update((name, np.array(buffer)) for name, buffer in self.named_buffers())
        return state

    def load_state_dict(self, state_dict, strict: bool = True) -> LoadResult:
        """Copy arrays from ``state_dict`` (``{name: array}``) into the parameters.

        Everything is checked before anything is assigned: with ``strict=True`` the names must be
        exactly those of :meth:`state_dict`; every loaded array must be a floating-point array of
        the parameter's shape (it is cast to the parameter's dtype); a buffer's array must have the
        buffer's shape and kind (floating or integer).  Returns
        ``LoadResult(missing_keys, unexpected_keys)`` (both empty when strict).
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(
                f"load_state_dict needs a mapping name -> array, got {type(state_dict).__name__}"
            )
        own = dict(self.named_parameters())
        own_buffers = dict(self._named_buffer_owners())
        missing = [name for name in [*own, *own_buffers] if name not in state_dict]
        unexpected = [name for name in state_dict if name not in own and name not in own_buffers]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if unexpected:
                parts.append(f"unexpected {unexpected}")
            raise KeyError(
                f"state dict does not match {type(self).__name__}: {'; '.join(parts)}. "
                f"The model's entries are {[*own, *own_buffers]}; pass strict=False to load a "
                "subset."
            )
        arrays = {}
        for name, parameter in own.items():
            if name not in state_dict:
                continue
            array = _floating_array(state_dict[name], f"state dict entry {name!r}")
            if array.shape != parameter.value.shape:
                raise ValueError(
                    f"state dict entry {name!r} has shape {array.shape}, but the parameter has "
                    f"shape {parameter.value.shape}"
                )
            arrays[name] = array.astype(parameter.value.dtype, copy=True)
        buffer_arrays = {}
        for name, (module, attribute) in own_buffers.items():
            if name in state_dict:
                current = module._buffers[attribute]
                buffer_arrays[name] = _loaded_buffer(state_dict[name], current, name)
        for name, array in arrays.items():
            own[name].value = array
        for name, array in buffer_arrays.items():
            module, attribute = own_buffers[name]
            module._buffers[attribute] = array
        return LoadResult(missing, unexpected)

    def _named_buffer_owners(self):
        """``(dotted name, (module, attribute))`` for every buffer."""
        for module_name, module in self.named_modules():
            for name in module._buffers:
                yield (f"{module_name}.{name}" if module_name else name), (module, name)

    # -- calling ---------------------------------------------------------------------------------
    def __call__(self, *inputs, **kwargs):
        forward = getattr(self, "forward", None)
        if forward is None:
            raise TypeError(
                f"{type(self).__name__} has no forward(...): a Module subclass defines "
                "forward(self, *inputs) with the computation, and calling the module runs it"
            )
        return forward(*inputs, **kwargs)

    # -- printing --------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text between the parentheses of this module's repr (its settings)."""
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied in order: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    The layers are attributes ``"0"``, ``"1"``, ... so parameter names are ``"0.weight"`` etc.,
    as in torch.  ``len()``, indexing (a slice gives a new ``Sequential`` sharing the layers) and
    iteration work like a list.
    """

    def __init__(self, *layers):
        super().__init__()
        for index, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(
                    f"Sequential takes modules, got {type(layer).__name__} at position {index}"
                )
            setattr(self, str(index), layer)

    def _layers(self):
        return [value for value in self.__dict__.values() if isinstance(value, Module)]

    def __len__(self) -> int:
        return len(self._layers())

    def __iter__(self):
        return iter(self._layers())

    def __getitem__(self, index):
        layers = self._layers()
        if isinstance(index, slice):
            return Sequential(*layers[index])
        return layers[index]

    def forward(self, x):
        for layer in self._layers():
            x = layer(x)
        return x


# ----------------------------------------------------------------------------------------------
# functional_call
# ----------------------------------------------------------------------------------------------


def functional_call(module, params, *inputs, strict: bool = False, **kwargs):
    """``module(*inputs)`` with the parameters named in ``params`` replaced by its values.

    ``params`` is a dict ``{dotted name: array}`` (the names of ``module.named_parameters()``,
    and of ``module.named_buffers()`` for running statistics: ``module.state_dict()`` fits); its
    values may be plain arrays or traced values of a transform, so

    ``ad.grad(lambda p: loss(ad.nn.functional_call(model, p, x), y))(params)``

    is the gradient of the loss with respect to every parameter, and ``ad.hvp`` of the same
    function is a Hessian-vector product over all of them.  Parameters not named in ``params``
    are used as constants (their current ``.value``; with ``strict=True`` every parameter must be
    named).  The module itself is not modified: substitution is scoped to this call (and its
    thread or task), so the module never holds a traced value.  Module state is held
    (:func:`autodiff.levels.hold_module_state`): batch normalisation uses the batch's statistics
    in training mode but leaves its running statistics alone, and dropout masks stay fixed.
    """
    if not isinstance(module, Module):
        raise TypeError(f"functional_call needs a Module, got {type(module).__name__}")
    if not hasattr(params, "items"):
        raise TypeError(
            "params must be a dict {name: array} as named by module.named_parameters(), got "
            f"{type(params).__name__}"
        )
    own = dict(module.named_parameters())
    own_buffers = dict(module._named_buffer_owners())
    unknown = [name for name in params if name not in own and name not in own_buffers]
    if unknown:
        raise KeyError(
            f"functional_call got unknown parameter name(s) {unknown}; {type(module).__name__} "
            f"has {[*own, *own_buffers]}"
        )
    if strict:
        missing = [name for name in own if name not in params]
        if missing:
            raise KeyError(f"functional_call(strict=True) is missing parameter(s) {missing}")
    parameters, values = [], []
    for name, parameter in own.items():
        if name in params:
            value = params[name]
            if not isinstance(value, Traced):
                value = _floating_array(value, f"params[{name!r}]")
            if shape_of(value) != parameter.value.shape:
                raise ValueError(
                    f"params[{name!r}] has shape {shape_of(value)}, but the parameter has shape "
                    f"{parameter.value.shape}"
                )
            if not np.issubdtype(dtype_of(value), np.floating):
                raise TypeError(f"params[{name!r}] must be floating-point, got {dtype_of(value)}")
        else:
            value = parameter.value
        parameters.append(parameter)
        values.append(value)
    buffers = []
    for name, (owner, attribute) in own_buffers.items():
        if name in params:
            value = params[name]
            if not isinstance(value, Traced):
                value = _loaded_buffer(value, owner._buffers[attribute], f"params[{name!r}]")
            elif shape_of(value) != owner._buffers[attribute].shape:
                raise ValueError(
                    f"params[{name!r}] has shape {shape_of(value)}, but the buffer has shape "
                    f"{owner._buffers[attribute].shape}"
                )
            buffers.append(((owner, attribute), value))
    with substituted_parameters(parameters, values, buffers), hold_module_state():
        return module(*inputs, **kwargs)


@contextlib.contextmanager
def substituted_parameters(parameters, values, buffers=()):
    """Inside the block, every module reads each parameter as the matching entry of ``values``.

    ``parameters`` are :class:`Parameter` objects, ``values`` arrays or traced values of their
    shapes; ``buffers`` are optional ``((module, buffer name), value)`` pairs, read likewise.  This is :func:`functional_call`'s mechanism for code that holds parameters rather
    than one module: an optimizer re-running a user's closure (``ad.optim.HessianFree``) with
    the parameters replaced by traced values.  Scoped to the block (and its thread or task).
    """
    substitutes = dict(_SUBSTITUTES.get() or {})
    substitutes.update((id(parameter), value) for parameter, value in zip(parameters, values))
    substitutes.update(((id(owner), attribute), value) for (owner, attribute), value in buffers)
    token = _SUBSTITUTES.set(substitutes)
    try:
        yield
    finally:
        _SUBSTITUTES.reset(token)
