"""Optimisation: solvers for plain functions (``minimize``, linear ``conjugate_gradient``)."""

from .clipping import clip_grad_norm_, clip_grad_value_
from .first_order import SGD, AdaDelta, AdaGrad, Adam, AdamW, Optimizer, RMSProp
from .gauss_newton import GaussNewtonOperator, gauss_newton_operator, gauss_newton_product
from .hessian_free import HessianFree, HessianFreeStep
from .lbfgs_network import LBFGS
from .linear_cg import CGInfo, conjugate_gradient
from .minimize import OptimizeResult, minimize
from .objective import Objective
from .schedules import ExponentialLR, InverseDecayLR, LRScheduler, StepLR
from .scipy_interop import scipy_callables

__all__ = [
    "CGInfo",
    "Objective",
    "OptimizeResult",
    "conjugate_gradient",
    "minimize",
    "scipy_callables",
    "Optimizer",
    "SGD",
    "AdaGrad",
    "RMSProp",
    "AdaDelta",
    "Adam",
    "AdamW",
    "gauss_newton_product",
    "gauss_newton_operator",
    "GaussNewtonOperator",
    "HessianFree",
    "HessianFreeStep",
    "LBFGS",
    "LRScheduler",
    "ExponentialLR",
    "InverseDecayLR",
    "StepLR",
    "clip_grad_value_",
    "clip_grad_norm_",
]
