"""``ad.compare``: forward against reverse mode for one Jacobian, counted and timed.

For ``f: R^n -> R^m`` the Jacobian costs

* forward mode: ``n`` JVPs, one per input direction ``e_j`` (a column ``J e_j`` each);
* reverse mode: ``m`` VJPs, one per output direction ``e_i`` (a row ``e_iᵀ J`` each), plus a tape
  holding what every recorded operation saved.

``jacfwd`` and ``jacrev`` vectorise: each pushes all its directions in *one* batched pass, so the
counts above become the batch size, and the cost of a pass grows with it.  Hence the rule of thumb
(Baydin et al., "Automatic differentiation in machine learning: a survey", JMLR 2018, sec. 3.2):
forward when ``n <= m``, reverse when ``n > m``.  :func:`compare` reports the counts,
the tape, and the measured times of both on this machine, and recommends a mode.
:func:`compare_grid` does that over a family ``f: R^n -> R^m`` to show the crossover.

Each mode is timed twice: eagerly (every primitive dispatched through the tracing machinery)
and compiled (``ad.jit(jacfwd(f))``, :mod:`autodiff.jit`: recorded once, replayed as NumPy
code).  The difference between the two columns is the Python cost of tracing; what remains in
the compiled column is the arithmetic of the mode, so the recommendation follows the compiled
times when both modes compiled (the code ``minimize``, ``fit`` and ``ad.jit`` users run).  A
function that cannot be recorded gets one ``RuntimeWarning`` and eager times only
(:mod:`autodiff.jit.fallback`); ``jit=False`` skips compiling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..jit.fallback import CompiledOrEager
from ..pytree import flatten
from ..transforms import jacfwd, jacrev
from .recording import record
from .tables import Table

__all__ = [
    "Comparison",
    "compare",
    "ComparisonGrid",
    "compare_grid",
    "tanh_layer",
    "format_seconds",
    "format_bytes",
]

#: Times closer than this fraction are a tie: the pass counts decide.
TIE = 0.10


def format_seconds(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def format_bytes(count: int) -> str:
    for unit, size in (("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} B"


@dataclass(frozen=True)
class Comparison:
    """Forward vs reverse mode for the Jacobian of one function at one point.

    ``forward_passes`` (= n) and ``reverse_passes`` (= m) count single-direction passes;
    ``jacfwd`` / ``jacrev`` run each set as one vectorised pass.  Times are seconds per
    Jacobian, the best of ``repeat`` samples; ``max_difference`` is ``max |jacfwd - jacrev|``
    (should be ~1e-15 relative).  ``compiled_forward_seconds`` / ``compiled_reverse_seconds``
    time the replays of ``ad.jit(jacfwd(f))`` / ``ad.jit(jacrev(f))`` (``None`` when not
    compiled; ``compiled_reason`` then says why, if a recording failed).
    """

    n_inputs: int
    n_outputs: int
    primitives: int
    tape_bytes: int
    forward_seconds: float
    reverse_seconds: float
    max_difference: float
    repeat: int
    compiled_forward_seconds: float | None = None
    compiled_reverse_seconds: float | None = None
    compiled_reason: str | None = None

    @property
    def compiled(self) -> bool:
        """Whether both modes were timed compiled (then they decide the recommendation)."""
        return self.compiled_forward_seconds is not None and \
            self.compiled_reverse_seconds is not None

    def _deciding_times(self) -> tuple[float, float]:
        if self.compiled:
            return self.compiled_forward_seconds, self.compiled_reverse_seconds
        return self.forward_seconds, self.reverse_seconds

    @property
    def forward_passes(self) -> int:
        return self.n_inputs

    @property
    def reverse_passes(self) -> int:
        return self.n_outputs

    @property
    def by_passes(self) -> str:
        """The rule of thumb: forward when ``n <= m`` (no tape), reverse otherwise."""
        return "forward" if self.n_inputs <= self.n_outputs else "reverse"

    @property
    def recommended(self) -> str:
        """The measured faster mode (compiled times when both compiled, else eager ones);
        within a 10 % tie, the one with fewer passes."""
        forward, reverse = self._deciding_times()
        fast, slow = sorted((forward, reverse))
        if slow - fast <= TIE * fast:
            return self.by_passes
        return "forward" if forward < reverse else "reverse"

    @property
    def reason(self) -> str:
        fast, slow = sorted(self._deciding_times())
        kind = "compiled" if self.compiled else "eager"
        if slow - fast <= TIE * fast:
            return (
                f"{kind} times within {TIE:.0%}; {self.n_inputs} input direction(s) vs "
                f"{self.n_outputs} output direction(s) decide"
            )
        return f"measured {slow / fast:.1f}× faster than the other mode ({kind})"

    def table(self) -> Table:
        n, m = self.n_inputs, self.n_outputs
        rows = [
            ["Jacobian", f"{m}×{n}, {n} column(s) J e_j", f"{m}×{n}, {m} row(s) e_iᵀ J"],
            ["passes, one direction each", f"{n} JVP(s)", f"{m} VJP(s)"],
            ["passes, vectorised", f"1 pass of {n} tangent(s)", f"1 sweep of {m} cotangent(s)"],
            ["primitives recorded", str(self.primitives), str(self.primitives)],
            ["memory held", "none (no tape)", f"tape {format_bytes(self.tape_bytes)}"],
            ["time per Jacobian, eager (best)", format_seconds(self.forward_seconds),
             format_seconds(self.reverse_seconds)],
            ["time per Jacobian, compiled (best)", _seconds_or(self.compiled_forward_seconds,
                                                              self.compiled_reason),
             _seconds_or(self.compiled_reverse_seconds, self.compiled_reason)],
            ["recommended", "yes" if self.recommended == "forward" else "",
             "yes" if self.recommended == "reverse" else ""],
        ]
        return Table(
            f"Forward vs reverse mode for f: R^{n} -> R^{m}",
            ("", "forward", "reverse"),
            (tuple(rows),),
        )

    def __str__(self) -> str:
        return f"{self.table().text()}\nrecommended: {self.recommended} ({self.reason})"

    def _repr_html_(self) -> str:
        return f"{self.table().html()}\n<p>recommended: {self.recommended} ({self.reason})</p>"


def _seconds_or(seconds, reason) -> str:
    if seconds is not None:
        return format_seconds(seconds)
    return "not compiled" if reason else "not measured"


def _best_times(functions, repeat: int, min_sample: float = 2e-3) -> list[float]:
    """Seconds per call of each function: the best of ``repeat`` samples of at least
    ``min_sample`` seconds each (the sample least disturbed by other processes, as ``timeit``
    advises), samples of the functions interleaved so drift hits all alike."""
    loops = []
    for fn in functions:
        fn()  # warm-up
        start = time.perf_counter()
        fn()
        once = time.perf_counter() - start
        loops.append(max(1, int(min_sample / max(once, 1e-9))))
    samples = [[] for _ in functions]
    for _ in range(repeat):
        for fn, count, bucket in zip(functions, loops, samples):
            start = time.perf_counter()
            for _ in range(count):
                fn()
            bucket.append((time.perf_counter() - start) / count)
    return [min(bucket) for bucket in samples]


def _max_difference(a, b) -> float:
    diffs = [
        float(np.max(np.abs(np.asarray(x) - np.asarray(y)), initial=0.0))
        for x, y in zip(flatten(a)[0], flatten(b)[0])
    ]
    return max(diffs, default=0.0)


def compare(f, x, repeat: int = 5, jit: bool = True) -> Comparison:
    """Forward against reverse mode for the Jacobian of ``f`` at ``x``.

    Counts inputs ``n`` and outputs ``m`` (scalar coordinates), the primitives one evaluation
    records, the bytes its tape holds, and times ``jacfwd(f)(x)`` and ``jacrev(f)(x)`` (best of
    ``repeat`` samples), eagerly and, with ``jit=True``, compiled (see the module docstring).
    ``print`` it for a table; the fields are data.

    Example
    -------
    >>> import numpy as np, autodiff as ad
    >>> A = np.ones((3, 100))
    >>> c = ad.compare(lambda x: np.tanh(A @ x), np.ones(100), repeat=1)
    >>> (c.n_inputs, c.n_outputs, c.by_passes)
    (100, 3, 'reverse')
    """
    if int(repeat) < 1:
        raise ValueError(f"repeat must be a positive integer, got {repeat!r}")
    recording = record(f, (x,), "compare input")
    n = sum(int(np.size(var._primal_)) for var in recording.inputs)
    m = sum(int(np.size(value)) for value in recording.output_values)
    forward, reverse = jacfwd(f), jacrev(f)
    difference = _max_difference(forward(x), reverse(x))
    timed = [lambda: forward(x), lambda: reverse(x)]
    reason = None
    if jit:
        name = getattr(f, "__qualname__", None) or type(f).__name__
        compiled = [CompiledOrEager(forward, f"jacfwd of {name}"),
                    CompiledOrEager(reverse, f"jacrev of {name}")]
        for jacobian in compiled:
            jacobian(x)  # recorded (or refused: then both stay eager, with one warning)
            if jacobian.reason is not None:
                reason = jacobian.reason
                break
        else:
            timed += [lambda: compiled[0](x), lambda: compiled[1](x)]
    seconds = _best_times(timed, int(repeat)) + [None, None]
    return Comparison(
        n_inputs=n,
        n_outputs=m,
        primitives=len(recording.operations),
        tape_bytes=recording.tape_bytes,
        forward_seconds=seconds[0],
        reverse_seconds=seconds[1],
        max_difference=difference,
        repeat=int(repeat),
        compiled_forward_seconds=seconds[2],
        compiled_reverse_seconds=seconds[3],
        compiled_reason=reason,
    )


# ----------------------------------------------------------------------------------------------
# a family of functions R^n -> R^m: where is the crossover?
# ----------------------------------------------------------------------------------------------


def tanh_layer(n: int, m: int, seed: int = 0):
    """``(f, x)`` with ``f(x) = tanh(A x)``, ``A`` an ``m×n`` Gaussian matrix scaled by
    ``1/sqrt(n)``, and ``x`` a point in ``R^n``: one dense layer, ``f: R^n -> R^m``."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / np.sqrt(n)
    x = rng.standard_normal(n)

    def f(v):
        return np.tanh(A @ v)

    return f, x


@dataclass(frozen=True)
class ComparisonGrid:
    """:func:`compare` over a grid of sizes: ``results[(n, m)]`` is a :class:`Comparison`."""

    family: str
    ns: tuple
    ms: tuple
    results: dict

    def table(self) -> Table:
        rows = []
        for n in self.ns:
            for m in self.ms:
                c = self.results[(n, m)]
                forward, reverse = c._deciding_times()
                rows.append([
                    str(n), str(m), str(c.primitives), format_bytes(c.tape_bytes),
                    format_seconds(c.forward_seconds), format_seconds(c.reverse_seconds),
                    _seconds_or(c.compiled_forward_seconds, c.compiled_reason),
                    _seconds_or(c.compiled_reverse_seconds, c.compiled_reason),
                    f"{forward / reverse:.2f}", c.recommended,
                ])
        return Table(
            f"Jacobian of {self.family}: forward (jacfwd) vs reverse (jacrev), eager and "
            "compiled (ad.jit)",
            ("n", "m", "primitives", "tape", "jacfwd", "jacrev", "jacfwd jit", "jacrev jit",
             "fwd/rev", "use"),
            (tuple(rows),),
        )

    def crossover(self) -> Table:
        """The recommended mode on the (n, m) grid: ``F`` forward, ``R`` reverse."""
        rows = [
            [f"n = {n}"] + [self.results[(n, m)].recommended[0].upper() for m in self.ms]
            for n in self.ns
        ]
        return Table(
            "Faster mode by size (F forward, R reverse)",
            ("",) + tuple(f"m = {m}" for m in self.ms),
            (tuple(rows),),
        )

    def __str__(self) -> str:
        return f"{self.table().text()}\n\n{self.crossover().text()}"

    def _repr_html_(self) -> str:
        return f"{self.table().html()}\n{self.crossover().html()}"


def compare_grid(ns, ms, family=tanh_layer, repeat: int = 3,
                 name: str = "f(x) = tanh(A x)", jit: bool = True) -> ComparisonGrid:
    """:func:`compare` for ``family(n, m) -> (f, x)`` at every ``n`` in ``ns``, ``m`` in ``ms``
    (``fwd/rev`` is the ratio of the times that decide: compiled ones when measured)."""
    ns, ms = tuple(int(n) for n in ns), tuple(int(m) for m in ms)
    if not ns or not ms or min(ns + ms) < 1:
        raise ValueError(f"sizes must be positive integers, got ns={ns}, ms={ms}")
    results = {}
    for n in ns:
        for m in ms:
            f, x = family(n, m)
            results[(n, m)] = compare(f, x, repeat=repeat, jit=jit)
    return ComparisonGrid(name, ns, ms, results)
