"""One pass of the harness in this process: ``python -m benchmarks.worker --out FILE ...``.

:mod:`benchmarks.run` starts one worker per allocator setting, with the environment already
set, and reads the JSON it writes: the benchmarks' records plus what describes this process
(allocator variables, BLAS kernels per library process, load average).  Each workload gets
fresh processes, one per library (:mod:`benchmarks.side_process`), unless ``--isolation none``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

from .harness import DEFAULT, QUICK, SideRunner, run_benchmark, unrunnable
from .side_process import SideFailed, SideProcess
from .workloads import WORKLOADS, select

__all__ = ["main"]

#: environment variables recorded with each pass
RECORDED_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "OPENBLAS_CORETYPE",
                "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY",
                "MKL_NUM_THREADS", "JAX_PLATFORMS")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run_workload(workload, args, settings, libraries, blas) -> list:
    """The workload's benchmarks, each library's sides in a fresh process of its own (or, with
    ``--isolation none``, every side in this process).

    ``blas`` collects, per library, the BLAS report of the first process that ran it.
    """
    benchmarks = select([workload], args.quick)
    if args.isolation == "none":
        runner = SideRunner(benchmarks, settings)
        records = [run_benchmark(bench, lambda library: runner, libraries, args.slow, _log)
                   for bench in benchmarks]
        blas["all sides (one process)"] = runner.blas()
        return records
    needed = sorted({side.library for bench in benchmarks for side in bench.sides
                     if unrunnable(side, libraries, args.slow) is None})
    processes = {library: SideProcess(library, workload, args.quick, settings)
                 for library in needed}
    try:
        records = [run_benchmark(bench, processes.__getitem__, libraries, args.slow, _log)
                   for bench in benchmarks]
        for library, process in processes.items():
            if library not in blas:
                try:
                    blas[library] = process.blas()
                except SideFailed as error:
                    blas[library] = {"error": str(error)}
    finally:
        for process in processes.values():
            process.close()
    return records


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="where to write this pass's JSON")
    parser.add_argument("--label", default="default", help="name of this pass")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--slow", action="store_true")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--libraries", nargs="*", default=None)
    parser.add_argument("--isolation", choices=("library", "none"), default="library")
    args = parser.parse_args(argv)

    settings = QUICK if args.quick else DEFAULT
    libraries = set(args.libraries) if args.libraries else None
    started = time.time()
    load_before = os.getloadavg()
    _log(f"pass {args.label!r}: "
         + ", ".join(f"{k}={os.environ[k]}" for k in RECORDED_ENV if k in os.environ))
    records, blas = [], {}
    for workload in args.only or list(WORKLOADS):
        records += _run_workload(workload, args, settings, libraries, blas)
    result = {
        "label": args.label,
        "environment": {name: os.environ.get(name) for name in RECORDED_ENV},
        "settings": vars(settings) | {"isolation": args.isolation},
        "blas": blas,
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "seconds": time.time() - started,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "benchmarks": records,
    }
    with open(args.out, "w", encoding="utf-8") as stream:
        json.dump(result, stream)


if __name__ == "__main__":
    main()
