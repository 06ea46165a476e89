"""One pass of the harness in this process: ``python -m benchmarks.worker --out FILE ...``.

:mod:`benchmarks.run` starts one worker per allocator setting, with the environment already
set, and reads the JSON it writes: the benchmarks' records plus what describes this process
(allocator variables, BLAS kernels, versions, load average).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

from . import anchors
from .harness import DEFAULT, QUICK, run_benchmark
from .workloads import select

__all__ = ["main"]

#: environment variables recorded with each pass
RECORDED_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "OPENBLAS_CORETYPE",
                "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "JAX_PLATFORMS")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="where to write this pass's JSON")
    parser.add_argument("--label", default="default", help="name of this pass")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--slow", action="store_true")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--libraries", nargs="*", default=None)
    args = parser.parse_args(argv)

    settings = QUICK if args.quick else DEFAULT
    libraries = set(args.libraries) if args.libraries else None
    started = time.time()
    load_before = os.getloadavg()
    _log(f"pass {args.label!r}: "
         + ", ".join(f"{k}={os.environ[k]}" for k in RECORDED_ENV if k in os.environ))
    records = [run_benchmark(bench, settings, libraries, args.slow, _log)
               for bench in select(args.only, args.quick)]
    result = {
        "label": args.label,
        "environment": {name: os.environ.get(name) for name in RECORDED_ENV},
        "settings": vars(settings),
        "blas": anchors.blas_report(),
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
