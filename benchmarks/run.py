"""Run the benchmark harness: ``python -m benchmarks.run [--quick] [--only NAME ...]``.

Every selected workload runs in two worker subprocesses, one per allocator setting:

* ``default``: glibc's malloc as it comes (``MALLOC_MMAP_THRESHOLD_`` and
  ``MALLOC_TRIM_THRESHOLD_`` removed from the environment);
* ``tuned``: ``MALLOC_MMAP_THRESHOLD_=32 MiB`` and ``MALLOC_TRIM_THRESHOLD_=256 MiB``, so large
  temporaries are reused from the heap instead of being mapped and unmapped on every call.
  When both passes run, the tuned one re-runs only the workloads that allocate arrays above
  glibc's default 128 kB mmap threshold (``LARGE_ARRAYS``); the scalar workloads and the small
  optimisation problems, whose arrays stay below it, are timed once (ask for them explicitly
  with ``--allocators tuned --only NAME``).

Within a pass, every workload runs in fresh processes whose samples the worker interleaves:
one per library for the allocator-sensitive elementwise workloads (glibc adapts its mmap
threshold to the largest block freed in a process, so NumPy sharing a process with torch, JAX
or an 8 MB Jacobian would be timed with an allocator already "tuned" by them), one for all
sides of the BLAS-heavy ones (OpenBLAS threads spin for a while after each call; idle processes
spinning beside the timed one on 2 cores made the MLP timings 2-10x noisier).  ``--quick`` runs
the default pass only, all workloads in one process, unless ``--allocators`` / ``--isolation``
say otherwise.  The library never
tunes the allocator itself; this only shows how much the setting moves each
side.  Both workers run with ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` unset (OpenBLAS picks
its kernel for this CPU; the one it picked is recorded), ``JAX_PLATFORMS=cpu`` and, unless the
caller set it, ``OMP_WAIT_POLICY=PASSIVE``: with libgomp's default spin-waiting, PyTorch's
OpenMP threads on a busy 2-core machine wait a scheduler time slice per parallel operation
(a 1e5-element gradient measured 80-220 ms instead of 1.5 ms here).  The merged
table is printed and written to ``benchmarks/results/<timestamp>[-quick].md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import anchors, report
from .workloads import WORKLOADS

__all__ = ["ALLOCATORS", "main"]

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

#: allocator pass -> variables set in its environment (the others are removed)
ALLOCATORS = {
    "default": {},
    "tuned": {"MALLOC_MMAP_THRESHOLD_": str(32 * 2 ** 20),
              "MALLOC_TRIM_THRESHOLD_": str(256 * 2 ** 20)},
}
_REMOVED = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "OPENBLAS_CORETYPE",
            "OPENBLAS_L2_SIZE")


def _names(values) -> list[str]:
    """``--only a,b --only c`` -> ``["a", "b", "c"]``."""
    return [name for value in values or () for name in value.split(",") if name]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Time autodiff against hand-written NumPy and the anchor libraries.")
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes, few samples: a sanity run of about 30 s")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help=f"workload(s) to run, comma-separated: {', '.join(WORKLOADS)}")
    parser.add_argument("--libraries", action="append", metavar="LIB",
                        help="sides to run, by library, comma-separated: "
                             f"{', '.join(anchors.LIBRARIES)} (default: all)")
    parser.add_argument("--allocators", action="append", metavar="PASS",
                        help=f"allocator passes, comma-separated: {', '.join(ALLOCATORS)} "
                             "(default: both; only 'default' with --quick)")
    parser.add_argument("--isolation", choices=("auto", "library", "workload", "pass"),
                        help="fresh processes per workload: one per library, or one for all "
                             "sides; 'auto' (default) takes each workload's own choice; 'pass': "
                             "one process for the whole pass (default with --quick)")
    parser.add_argument("--slow", action="store_true",
                        help="also run sides marked slow (eager JAX through the 1e5-step "
                             "chain; SciPy's Newton-CG fed by autograd, PyTorch, eager JAX)")
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="directory for the .md and .json results")
    parser.add_argument("--name", help="file stem of the results (default: a timestamp)")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    return parser


def _environment(label: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _REMOVED}
    env.update(ALLOCATORS[label])
    env["JAX_PLATFORMS"] = "cpu"
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _worker(label: str, workloads: list, args, folder: Path) -> dict:
    out = folder / f"{label}.json"
    command = [sys.executable, "-m", "benchmarks.worker", "--out", str(out), "--label", label,
               "--only", *workloads]
    if args.quick:
        command.append("--quick")
    if args.slow:
        command.append("--slow")
    command += ["--isolation", args.isolation or ("pass" if args.quick else "auto")]
    if _names(args.libraries):
        command += ["--libraries", *_names(args.libraries)]
    worker = subprocess.Popen(command, cwd=REPO, env=_environment(label))
    try:
        returncode = worker.wait()
    finally:  # interrupted or terminated: take the worker (and so its side processes) along
        if worker.poll() is None:
            worker.terminate()
            worker.wait()
    if returncode != 0:
        raise SystemExit(f"the {label!r} worker failed with exit code {returncode}")
    return json.loads(out.read_text(encoding="utf-8"))


def _git() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                                capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO, text=True, capture_output=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" (uncommitted changes in the tree)" if dirty else "")


def _write(path: Path, text: str) -> None:
    """Atomically: a temporary file in the same directory, then a rename."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if args.list:
        for name, module in WORKLOADS.items():
            print(f"{name:18} {module.__doc__.strip().splitlines()[0]}")
        return 0
    for library in _names(args.libraries):
        if library not in anchors.LIBRARIES:
            raise SystemExit(f"unknown library {library!r}; choose from "
                             f"{', '.join(anchors.LIBRARIES)}")
    labels = _names(args.allocators) or (["default"] if args.quick else list(ALLOCATORS))
    for label in labels:
        if label not in ALLOCATORS:
            raise SystemExit(f"unknown allocator pass {label!r}; choose from "
                             f"{', '.join(ALLOCATORS)}")
    now = time.localtime()
    started = time.strftime("%Y-%m-%d %H:%M:%S", now)
    stem = args.name or time.strftime("%Y%m%d-%H%M%S", now) + ("-quick" if args.quick else "")
    meta = {"command": shlex.join(["python", "-m", "benchmarks.run",
                                   *(sys.argv[1:] if argv is None else argv)]),
            "started": started, "git": _git(), "cpus": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(), "versions": anchors.versions(),
            "quick": args.quick}
    selected = _names(args.only) or list(WORKLOADS)
    for name in selected:
        if name not in WORKLOADS:
            raise SystemExit(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")
    plan = {label: selected for label in labels}
    if "default" in plan and "tuned" in plan:
        plan["tuned"] = [name for name in selected if WORKLOADS[name].LARGE_ARRAYS]
    with tempfile.TemporaryDirectory() as folder:
        passes = {label: _worker(label, workloads, args, Path(folder))
                  for label, workloads in plan.items() if workloads}
    record = report.merge(passes, meta)
    text = report.markdown(record)
    args.output.mkdir(parents=True, exist_ok=True)
    _write(args.output / f"{stem}.md", text)
    _write(args.output / f"{stem}.json", json.dumps(record, indent=1))
    print(text)
    print(f"written: {args.output / stem}.md and .json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
