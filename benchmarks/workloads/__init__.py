"""The workloads, one module each, in issue order.

Each module has ``NAME`` (what ``--only`` selects), ``benchmarks(quick) -> list[Benchmark]`` and
``LARGE_ARRAYS``: whether it allocates arrays above glibc's default mmap threshold (128 kB), the
only workloads the tuned-allocator pass re-runs when both passes run; and ``ISOLATION``:
``"library"`` (each library's sides in a fresh process of their own) or ``"workload"`` (one
fresh process for all sides).  Modules import their anchor libraries only inside the sides, so
listing them is cheap.
"""

from dataclasses import replace

from . import (
    array_building,
    attention,
    digits,
    digits_cnn,
    gp_likelihood,
    hessian_vector,
    jacobian,
    lenet,
    mlp_step,
    optimizers,
    rosenbrock_grad,
    rosenbrock_loop,
    scalar_chain,
    second_order_training,
)

__all__ = ["WORKLOADS", "select"]

WORKLOADS = {
    module.NAME: module
    for module in (jacobian, rosenbrock_loop, scalar_chain, rosenbrock_grad, hessian_vector,
                   optimizers, mlp_step, digits, second_order_training, lenet, digits_cnn,
                   attention, gp_likelihood, array_building)
}


def select(names=None, quick=False):
    """The benchmarks of the named workloads (all when ``names`` is empty), tagged by workload."""
    unknown = sorted(set(names or ()) - set(WORKLOADS))
    if unknown:
        raise SystemExit(f"unknown workload {unknown[0]!r}; choose from: {', '.join(WORKLOADS)}")
    chosen = [name for name in WORKLOADS if not names or name in names]
    return [replace(bench, workload=name)
            for name in chosen for bench in WORKLOADS[name].benchmarks(quick)]
