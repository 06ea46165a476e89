"""Sides, benchmarks and target ratios; the interleaved timing loop.

A :class:`Benchmark` is one workload at one size, done by several :class:`Side` s (autodiff and
the anchors), each a function doing the same work.  For every side the harness

1. checks that its library is installed (else "not installed") and builds it (an autodiff
   feature that does not exist yet raises :class:`~benchmarks.anchors.Unavailable`: "not
   available");
2. calls it once to warm up (imports, JIT compilation, caches) and compares the result with the
   side's expected value, so a side doing different work is flagged, not timed in silence;
3. times a second call to choose ``number``, the calls per sample (a sample lasts at least
   ``min_sample`` seconds, so the timer's resolution does not matter), and the number of
   samples (about ``budget`` seconds per side, between ``min_repeats`` and ``max_repeats``);
   a call slower than ``heavy`` seconds is sampled ``heavy_repeats`` times, that second call
   counted (never the warm-up);
4. takes the samples in rounds across all sides of the benchmark (one sample per side per round,
   the order rotated each round), so a slow drift of the machine hits every side alike.

Each sample also counts the process's minor page faults per call (first touches of memory the
kernel had to map, ``getrusage``'s ``ru_minflt``).  At n = 1e5 a call's time depends on them
more than on its arithmetic: glibc returns the top of its heap to the kernel when a call frees
more than its trim threshold, so the next call faults its peak back in (about 1.4 µs per 4 kB
page on this machine); whether a sample does depends on the heap's history.  The report shows
the median and range per side, so a bimodal timing can be read.

Steps 1-3 and each sample run in a :class:`SideRunner`; :mod:`benchmarks.worker` gives every
library its own runner process per workload (:mod:`benchmarks.side_process`), so what one
library allocates, frees or spins up (glibc adapts its mmap threshold to the largest block
freed so far; torch and JAX import with their own thread pools) never shapes another library's
timings, while the coordinator still interleaves the samples.  The record of a side keeps
every sample (seconds per call), the median and the quartiles.
"""

from __future__ import annotations

import math
import time
try:
    from resource import RUSAGE_SELF, getrusage
except ImportError:  # not on Windows: faults are not counted there
    getrusage = None
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .anchors import Unavailable, as_array, blas_report, installed

__all__ = ["Benchmark", "Ratio", "Settings", "Side", "SideRunner", "DEFAULT", "QUICK",
           "describe_error", "run_benchmark", "unrunnable"]


@dataclass(frozen=True)
class Side:
    """One way of doing a benchmark's work.

    ``build()`` imports and prepares (untimed) and returns the timed callable. ``expect()``
    returns the value the first call must give, or, with ``checked_calls=2``, a pair for the
    first two calls (a training step returns its loss: the second loss checks the update).
    ``info(result)`` extracts counts worth reporting (iterations, accuracy) from the last result.
    """

    label: str
    library: str
    build: Callable[[], Callable[[], Any]]
    expect: Callable[[], Any] | None = None
    checked_calls: int = 1
    info: Callable[[Any], dict] | None = None
    note: str = ""
    slow: bool = False


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` of two sides' medians (or of an ``info`` count).

    With a ``target`` the ratio is met when ``numerator <= target * denominator + slack``
    (``slack`` in seconds, e.g. issue 3's "within 3x of hand NumPy + 50 us").
    """

    numerator: str
    denominator: str
    target: float | None = None
    slack: float = 0.0
    metric: str = "time"
    source: str = ""


@dataclass(frozen=True)
class Benchmark:
    """One workload at one size: its sides, the label of its limit (``baseline``, the side every
    row's ``× limit`` ratio divides by), its ratios, and how closely results must agree with the
    sides' expected values (``np.allclose(rtol, atol)``)."""

    name: str
    issue: str
    description: str
    baseline: str
    sides: tuple[Side, ...]
    ratios: tuple[Ratio, ...] = ()
    rtol: float = 1e-8
    atol: float = 1e-12
    workload: str = ""


@dataclass(frozen=True)
class Settings:
    """How long to sample (seconds) and how often; see the module docstring."""

    min_sample: float
    budget: float
    min_repeats: int
    max_repeats: int
    heavy: float
    heavy_repeats: int


DEFAULT = Settings(min_sample=0.005, budget=0.4, min_repeats=7, max_repeats=31, heavy=1.0,
                   heavy_repeats=3)
QUICK = Settings(min_sample=0.001, budget=0.02, min_repeats=3, max_repeats=5, heavy=0.25,
                 heavy_repeats=1)


def describe_error(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".replace("\n", " ")
    return text if len(text) <= 160 else text[:157] + "..."


def _page_faults() -> int | None:
    """Minor page faults of this process so far, ``None`` where ``getrusage`` is missing."""
    return None if getrusage is None else getrusage(RUSAGE_SELF).ru_minflt


def _timed(call, number: int = 1):
    """``(seconds per call, page faults per call, last result)`` of ``number`` calls."""
    faults = _page_faults()
    start = time.perf_counter()
    for _ in range(number):
        result = call()
    seconds = (time.perf_counter() - start) / number
    if faults is not None:
        faults = (_page_faults() - faults) / number
    return seconds, faults, result


def _mismatch(results, side, bench) -> str:
    """Empty when the first call(s) gave the expected value(s), else what differs."""
    expected = side.expect()
    expected = list(expected) if side.checked_calls > 1 else [expected]
    for index, (got, want) in enumerate(zip(results, expected)):
        got, want = as_array(got), as_array(want)
        if got.shape != want.shape:
            return f"call {index + 1}: shape {got.shape}, expected {want.shape}"
        if not np.allclose(got, want, rtol=bench.rtol, atol=bench.atol):
            error = np.abs(got - want)
            return (f"call {index + 1}: error up to {np.max(error):.2e} (relative "
                    f"{np.max(error / np.maximum(np.abs(want), 1e-300)):.1e}); allowed "
                    f"{bench.atol:.0e} + {bench.rtol:.0e} x |expected|")
    return ""


class SideRunner:
    """Builds, checks and samples sides in the current process.

    The harness talks to one runner per library (:mod:`benchmarks.side_process` puts each in
    its own process, so one library's allocations and threads never shape another's timings);
    tests use it in-process.
    """

    def __init__(self, benchmarks, settings: Settings):
        self._benchmarks = {bench.name: bench for bench in benchmarks}
        self._settings = settings
        self._calls = {}

    def prepare(self, bench_name: str, label: str) -> dict:
        """Build, warm up, check and calibrate one side: its status, calls per sample
        (``number``), ``repeats``, any sample already taken, and its ``info``."""
        bench = self._benchmarks[bench_name]
        side = next(side for side in bench.sides if side.label == label)
        settings = self._settings
        out = {"status": "ok", "detail": "", "number": 1, "repeats": 0, "samples": [],
               "faults": [], "info": {}, "per_call": None}
        try:
            call = side.build()
        except Unavailable as missing:
            return out | {"status": "not available", "detail": str(missing)}
        except Exception as error:  # an anchor's own failure is reported, never fatal
            return out | {"status": "error", "detail": describe_error(error)}
        try:
            results = [call()]  # warm-up: imports, JIT compilation, caches
            per_call, faults, result = _timed(call)
            results.append(result)
        except Exception as error:
            return out | {"status": "error", "detail": describe_error(error)}
        out["per_call"] = per_call
        if per_call >= settings.heavy:
            out["samples"], out["repeats"] = [per_call], settings.heavy_repeats
            out["faults"] = [faults]
        else:
            out["number"] = max(1, math.ceil(settings.min_sample / max(per_call, 1e-9)))
            wanted = round(settings.budget / (out["number"] * per_call))
            out["repeats"] = min(settings.max_repeats, max(settings.min_repeats, wanted))
        if side.expect is not None:
            problem = _mismatch(results, side, bench)
            if problem:
                out["status"], out["detail"] = "mismatch", problem
        if side.info is not None:
            out["info"] = side.info(results[-1])
        self._calls[bench_name, label] = call
        return out

    def sample(self, bench_name: str, label: str, number: int) -> tuple[float, float | None]:
        """Seconds and page faults per call, over ``number`` calls."""
        seconds, faults, _ = _timed(self._calls[bench_name, label], number)
        return seconds, faults

    def release(self, bench_name: str) -> None:
        """Drop the state of a finished benchmark's sides."""
        for key in [key for key in self._calls if key[0] == bench_name]:
            del self._calls[key]

    def blas(self) -> dict:
        return blas_report()


def unrunnable(side: Side, libraries=None, include_slow=False) -> tuple[str, str] | None:
    """``(status, detail)`` for a side that is not run at all, else ``None``."""
    if libraries is not None and side.library not in libraries:
        return "not selected", f"{side.library} not in --libraries"
    if not installed(side.library):
        return "not installed", f"pip install {side.library} (or .[bench])"
    if side.slow and not include_slow:
        return "skipped", "slow; run with --slow"
    return None


@dataclass
class _Run:
    side: Side
    runner: Any = None
    status: str = "ok"
    detail: str = ""
    number: int = 1
    repeats: int = 0
    samples: list = field(default_factory=list)
    faults: list = field(default_factory=list)
    info: dict = field(default_factory=dict)

    @property
    def pending(self) -> bool:
        return self.status in ("ok", "mismatch") and len(self.samples) < self.repeats


def _prepared(side, bench, runner_for, libraries, include_slow, log) -> _Run:
    run = _Run(side)
    skipped = unrunnable(side, libraries, include_slow)
    if skipped:
        run.status, run.detail = skipped
        return run
    run.runner = runner_for(side.library)
    try:
        prepared = run.runner.prepare(bench.name, side.label)
    except Exception as error:  # the side's process died
        run.status, run.detail = "error", describe_error(error)
        return run
    run.status, run.detail, run.info = prepared["status"], prepared["detail"], prepared["info"]
    run.number, run.repeats = prepared["number"], prepared["repeats"]
    run.samples = list(prepared["samples"])
    run.faults = list(prepared["faults"])
    if prepared["per_call"] is not None:
        log(f"    {side.label}: {prepared['per_call'] * 1e3:.3g} ms per call, {run.repeats} "
            f"samples x {run.number} calls")
    return run


def _summary(run) -> dict:
    record = {"label": run.side.label, "library": run.side.library, "status": run.status,
              "detail": run.detail, "note": run.side.note, "info": run.info,
              "number": run.number, "samples": run.samples}
    faults = [count for count in run.faults if count is not None]
    if faults:
        record["faults"] = {"median": float(np.median(faults)), "min": min(faults),
                            "max": max(faults)}
    if run.samples:
        q1, median, q3 = np.percentile(run.samples, [25, 50, 75])
        record.update(median=float(median), q1=float(q1), q3=float(q3), n=len(run.samples))
    return record


def _ratio_value(ratio, sides) -> tuple[float | None, bool | None]:
    top, bottom = sides.get(ratio.numerator), sides.get(ratio.denominator)
    if top is None or bottom is None:
        return None, None
    if ratio.metric == "time":
        a, b = top.get("median"), bottom.get("median")
    else:
        a, b = top["info"].get(ratio.metric), bottom["info"].get(ratio.metric)
    if a is None or b is None or b == 0:
        return None, None
    value = a / b
    if ratio.target is None:
        return value, None
    return value, bool(a <= ratio.target * b + (ratio.slack if ratio.metric == "time" else 0.0))


def run_benchmark(bench: Benchmark, runner_for: Callable, libraries=None, include_slow=False,
                  log=print) -> dict:
    """Time every side of ``bench``, interleaved; return its record (sides and ratios).

    ``runner_for(library)`` gives the :class:`SideRunner` (or the process holding one) that
    runs that library's sides.
    """
    log(f"  {bench.name}")
    started = time.perf_counter()
    runs = [_prepared(side, bench, runner_for, libraries, include_slow, log)
            for side in bench.sides]
    rounds = 0
    while any(run.pending for run in runs):
        active = [run for run in runs if run.pending]
        shift = rounds % len(active)
        for run in active[shift:] + active[:shift]:
            try:
                seconds, faults = run.runner.sample(bench.name, run.side.label, run.number)
                run.samples.append(seconds)
                run.faults.append(faults)
            except Exception as error:
                run.status, run.detail = "error", describe_error(error)
        rounds += 1
    for runner in {id(run.runner): run.runner for run in runs if run.runner}.values():
        try:
            runner.release(bench.name)
        except Exception:  # a process that died is reported on its sides already
            pass
    sides = [_summary(run) for run in runs]
    by_label = {side["label"]: side for side in sides}
    ratios = []
    for ratio in bench.ratios:
        value, met = _ratio_value(ratio, by_label)
        ratios.append({"numerator": ratio.numerator, "denominator": ratio.denominator,
                       "target": ratio.target, "slack": ratio.slack, "metric": ratio.metric,
                       "source": ratio.source, "value": value, "met": met})
    seconds = time.perf_counter() - started
    log(f"  ({seconds:.1f} s)")
    return {"name": bench.name, "workload": bench.workload, "issue": bench.issue,
            "description": bench.description, "baseline": bench.baseline, "sides": sides,
            "ratios": ratios, "seconds": seconds}
