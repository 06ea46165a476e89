"""Inspection: see what the two modes compute.

* :func:`trace` -- the evaluation trace of Baydin et al., "Automatic differentiation in machine
  learning: a survey" (JMLR 2018, Tables 2 and 3): primal, tangent and adjoint columns;
* :func:`graph` -- the computation graph as Graphviz DOT text;
* :func:`compare` / :func:`compare_grid` -- forward vs reverse mode for a Jacobian, counted
  and timed.
"""

from .comparison import Comparison, ComparisonGrid, compare, compare_grid, tanh_layer
from .dot_graph import graph
from .trace_sweeps import trace
from .tracing import AdjointStep, Trace, TraceRow

__all__ = [
    "trace",
    "graph",
    "compare",
    "compare_grid",
    "tanh_layer",
    "Trace",
    "TraceRow",
    "AdjointStep",
    "Comparison",
    "ComparisonGrid",
]
