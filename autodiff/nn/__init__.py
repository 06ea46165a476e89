"""``ad.nn``: the tensor layer -- modules, layers, stable losses, initialisation, training.

A ``Var`` over an array is the tensor (one reverse-mode engine); a :class:`Parameter` is a leaf
``Var`` that persists across tapes.  Re-exports only; see the submodules.
"""

from ..levels import hold_module_state
from . import data, functional, init, models
from .containers import ModuleDict, ModuleList
from .conv import Conv1d, Conv2d
from .dropout import Dropout
from .embedding import Embedding
from .losses import CrossEntropyLoss, MSELoss, NLLLoss
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .data import DataLoader, Standardizer, load_digits, train_val_test_split
from .layers import (
    Flatten,
    HardTanh,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    Maxout,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from .module import Module, Parameter, Sequential, functional_call
from .serialization import load, save
from .training import History, accuracy, evaluate, fit

__all__ = [
    "data",
    "functional",
    "init",
    "models",
    "Module",
    "Parameter",
    "Sequential",
    "functional_call",
    "hold_module_state",
    "Linear",
    "Maxout",
    "ReLU",
    "LeakyReLU",
    "Tanh",
    "Sigmoid",
    "HardTanh",
    "Softplus",
    "Softmax",
    "LogSoftmax",
    "Flatten",
    "Identity",
    "Conv1d",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "LayerNorm",
    "Dropout",
    "Embedding",
    "ModuleList",
    "ModuleDict",
    "CrossEntropyLoss",
    "MSELoss",
    "NLLLoss",
    "save",
    "load",
    "fit",
    "evaluate",
    "accuracy",
    "History",
    "load_digits",
    "train_val_test_split",
    "Standardizer",
    "DataLoader",
]
