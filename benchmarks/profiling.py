"""Profile one side of one benchmark with cProfile: where its time goes.

    python -m benchmarks.profiling "rosenbrock vectorised" "ad.grad" [--quick] [--top 15]

The benchmark and side are chosen by a case-insensitive substring of their names (as printed in
the results table; a unique match is required).  The side is built and warmed up as the harness
does, then called repeatedly for about ``--seconds`` under cProfile; the top entries by own time
(``tottime``) and by cumulative time are printed, per call of the side.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time

from .workloads import select

__all__ = ["main", "profile_side"]


def _unique(items, text, what, name_of):
    found = [item for item in items if text.lower() in name_of(item).lower()]
    exact = [item for item in found if name_of(item).lower() == text.lower()]
    if len(exact) == 1:
        return exact[0]
    if len(found) != 1:
        names = ", ".join(repr(name_of(item)) for item in (found or items))
        raise SystemExit(f"{len(found)} {what}s match {text!r}; choose one of: {names}")
    return found[0]


def profile_side(bench_text: str, side_text: str, quick=False, seconds=2.0, top=15) -> str:
    """The cProfile report (text) of one side, ``top`` entries by own and cumulative time."""
    bench = _unique(select(quick=quick), bench_text, "benchmark", lambda b: b.name)
    side = _unique(bench.sides, side_text, "side", lambda s: s.label)
    call = side.build()
    call()  # warm-up, as in the harness
    start = time.perf_counter()
    call()
    per_call = time.perf_counter() - start
    calls = max(1, round(seconds / max(per_call, 1e-9)))
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        call()
    profiler.disable()
    out = io.StringIO()
    out.write(f"{bench.name} / {side.label}: {calls} calls, {per_call * 1e3:.3g} ms per call "
              "unprofiled\n")
    for order in ("tottime", "cumulative"):
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(order).print_stats(top)
    return out.getvalue()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profiling",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmark", help="substring of the benchmark's name")
    parser.add_argument("side", help="substring of the side's label")
    parser.add_argument("--quick", action="store_true", help="the --quick sizes")
    parser.add_argument("--seconds", type=float, default=2.0, help="profiled time (about)")
    parser.add_argument("--top", type=int, default=15, help="entries per table")
    args = parser.parse_args(argv)
    sys.stdout.write(profile_side(args.benchmark, args.side, args.quick, args.seconds, args.top))


if __name__ == "__main__":
    main()
