"""Benchmarks: the same workloads timed with ``autodiff`` and with what users would pick instead.

``python -m benchmarks.run`` (see ``benchmarks/README.md``) runs the workloads in two passes
that differ only in glibc's allocator settings, and writes one table of medians, interquartile
ranges and ratios to ``benchmarks/results/``.

Layout:

* :mod:`benchmarks.harness` -- sides, benchmarks, target ratios; the interleaved timing loop.
* :mod:`benchmarks.anchors` -- which anchor libraries are installed, their versions, the BLAS
  that runs, and conversion of their results to NumPy.
* :mod:`benchmarks.problems` -- test functions and their analytic derivatives (NumPy).
* :mod:`benchmarks.workloads` -- one small module per workload.
* :mod:`benchmarks.worker` -- one pass (one allocator setting): starts the side processes and
  interleaves their samples.
* :mod:`benchmarks.side_process` -- a library's (or a workload's) sides in a process of their own.
* :mod:`benchmarks.report` -- merges the passes into the markdown table and the JSON record.
* :mod:`benchmarks.run` -- the command line: spawns the workers, writes the results.
* :mod:`benchmarks.profiling` -- cProfile of one side: where its time goes.
"""
