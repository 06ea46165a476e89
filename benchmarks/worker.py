"""One pass of the harness in this process: ``python -m benchmarks.worker --out FILE ...``.

:mod:`benchmarks.run` starts one worker per allocator setting, with the environment already
set, and reads the JSON it writes: the benchmarks' records plus what describes this process
(allocator variables, BLAS kernels per process, load average).  Each workload runs in fresh
processes (:mod:`benchmarks.side_process`): one per library, or one for all its sides, as the
workload's ``ISOLATION`` says (or ``--isolation``; ``pass``: one process for all workloads).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

from .harness import DEFAULT, QUICK, run_benchmark, unrunnable
from .side_process import SideFailed, SideProcess
from .workloads import WORKLOADS, select

__all__ = ["main"]

#: environment variables recorded with each pass
RECORDED_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "OPENBLAS_CORETYPE",
                "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY",
                "MKL_NUM_THREADS", "JAX_PLATFORMS")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run(workloads, mode, args, settings, libraries, blas) -> list:
    """The benchmarks of ``workloads`` in fresh processes: one per library (``mode``
    "library"), or one for all their sides ("workload", or "pass" for all workloads at once).

    ``blas`` collects the BLAS report of the first process that ran each library (or group).
    """
    benchmarks = select(workloads, args.quick)
    needed = sorted({side.library for bench in benchmarks for side in bench.sides
                     if unrunnable(side, libraries, args.slow) is None})
    if mode == "library":
        processes = {library: SideProcess(library, workloads, args.quick, settings)
                     for library in needed}
        runner_for = processes.__getitem__
    else:
        shared = SideProcess("+".join(needed), workloads, args.quick, settings)
        processes = {shared.library: shared} if needed else {}
        runner_for = lambda library: shared  # noqa: E731 - one process for every library
    try:
        records = [run_benchmark(bench, runner_for, libraries, args.slow, _log) | {
                   "isolation": mode} for bench in benchmarks]
        for name, process in processes.items():
            if name not in blas:
                try:
                    blas[name] = process.blas()
                except SideFailed as error:
                    blas[name] = {"error": str(error)}
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
    parser.add_argument("--isolation", choices=("auto", "library", "workload", "pass"),
                        default="auto")
    args = parser.parse_args(argv)

    settings = QUICK if args.quick else DEFAULT
    libraries = set(args.libraries) if args.libraries else None
    started = time.time()
    load_before = os.getloadavg()
    _log(f"pass {args.label!r}: "
         + ", ".join(f"{k}={os.environ[k]}" for k in RECORDED_ENV if k in os.environ))
    records, blas = [], {}
    workloads = args.only or list(WORKLOADS)
    if args.isolation == "pass":
        records = _run(workloads, "pass", args, settings, libraries, blas)
    for workload in workloads if args.isolation != "pass" else ():
        mode = WORKLOADS[workload].ISOLATION if args.isolation == "auto" else args.isolation
        records += _run([workload], mode, args, settings, libraries, blas)
    result = {
        "label": args.label,
        "environment": {name: os.environ.get(name) for name in RECORDED_ENV},
        "settings": vars(settings),
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
