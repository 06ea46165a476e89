"""The NumPy coverage table of the docs, generated from the rule table's declarations.

Every NumPy / SciPy callable answered on traced values is in the dispatch tables of
:mod:`autodiff.rules.primitive` (``UFUNCS`` and ``FUNCTIONS``, filled by each primitive's
declaration and by :func:`~autodiff.rules.primitive.implements`), so the table is read from
there and can never go stale: the docs build (``docs/conf.py``) writes it afresh each time.

Per function: what answers it (a primitive, or an entry point written with primitives), its
modes (forward and reverse always: every rule is written with primitives; Taylor mode where
every primitive on the way has a Taylor rule -- for an entry point this is decided by running
its first declared test case through :func:`autodiff.taylor`), and its convention at kinks,
ties and domain edges as its declaration's docstrings state it.

``python -m autodiff.inspection.coverage PATH`` writes the table to ``PATH``.
"""

from __future__ import annotations

import re
import sys
import warnings
from dataclasses import dataclass

import numpy as np

from ..forward.taylor import MissingTaylorRuleError, taylor
from ..rules.elementwise import Elementwise
from ..rules.primitive import ENTRY_POINT_CASES, FUNCTIONS, UFUNCS, Primitive

__all__ = ["CoverageRow", "coverage_rows", "coverage_markdown", "write_coverage"]

# sentences of a docstring that state a convention where the derivative is not classical
_CONVENTION = re.compile(
    r"\b(kinks?|ties?|tied|at 0|at zero|origin|repeated|nan|inf|domain|boundary|"
    r"not differentiable|zero derivative|evenly)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CoverageRow:
    """One supported NumPy / SciPy callable."""

    name: str  # as users write it: ``np.linalg.solve``, ``scipy.special.gammaln``
    answered_by: str  # ``primitive sin`` or ``entry point`` (written with primitives)
    taylor: str  # ``yes``, ``no (eigh)``, or ``no test case`` (an entry point declaring none)
    convention: str  # at kinks, ties and domain edges; ``""`` where the function is smooth


def public_name(fn) -> str:
    """``np.sin``, ``np.linalg.solve``, ``scipy.special.gammaln``: how users reach ``fn``."""
    name = fn.__name__
    if getattr(np, name, None) is fn:
        return f"np.{name}"
    if getattr(np.linalg, name, None) is fn:
        return f"np.linalg.{name}"
    module = getattr(fn, "__module__", None) or ""
    if isinstance(fn, np.ufunc) or module.startswith("scipy"):
        return f"scipy.special.{name}" if "scipy" in module or isinstance(fn, np.ufunc) else name
    return f"{module}.{name}"


def _sentences(doc: str | None) -> list[str]:
    if not doc:
        return []
    text = " ".join(doc.split())
    text = text.replace("``", "`")
    return [s.strip() for s in re.split(r"(?<=[.;])\s+(?=[A-Z`(])", text) if s.strip()]


def _convention_from(*objects) -> str:
    """The first sentence of the objects' docstrings that states a non-classical convention."""
    for obj in objects:
        for sentence in _sentences(getattr(obj, "__doc__", None)):
            if _CONVENTION.search(sentence):
                return sentence if len(sentence) <= 240 else sentence[:237].rstrip() + "..."
    return ""


def _elementwise_convention(prim: Elementwise) -> str:
    if not prim.partials:
        return "Derivative 0 wherever it exists (piecewise constant)."
    stated = _convention_from(*prim.partials)
    if stated:
        return stated
    domain = prim.domain
    if domain is not None and domain.valid is not None:
        return "Not differentiable at the points its declaration excludes (kinks, ties, poles)."
    if domain is not None and domain.outside:
        return "Outside its domain the value and every derivative are nan, as NumPy's value."
    return ""


def _primitive_row(name: str, prim: Primitive) -> CoverageRow:
    if isinstance(prim, Elementwise):
        convention = _elementwise_convention(prim)
    else:
        convention = _convention_from(prim.jvp, prim.vjp, prim.impl)
    taylor = "yes" if prim.taylor is not None else "no"
    return CoverageRow(name, f"primitive `{prim.name}`", taylor, convention)


def _case_input(values, sample: str):
    """A square input of an ``"spd"`` / ``"wellconditioned"`` case as such a matrix (``M M^T/n +
    I``, ``2 I + M/2``), so that ``cholesky`` or ``solve`` has a value to expand around."""
    shape = np.shape(values)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        return values
    n = shape[-1]
    if sample == "spd":
        return values @ np.swapaxes(values, -1, -2) / n + np.eye(n)
    if sample == "wellconditioned":
        return 2.0 * np.eye(n) + 0.5 * values
    return values


def _entry_taylor(target) -> str:
    """Run the entry point's first test case along a line through ``ad.taylor`` (order 2)."""
    _, cases = ENTRY_POINT_CASES.get(target, (None, ()))
    if not cases:
        return "no test case"
    case = cases[0]
    rng = np.random.default_rng(0)
    inputs = [_case_input(rng.uniform(0.5, 2.0, size=shape), case.sample) for shape in case.shapes]
    directions = [rng.normal(size=shape) for shape in case.shapes]

    def along(t):
        return case.call(target, *[x + t * v for x, v in zip(inputs, directions)])

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            taylor(along, 0.0, 2)
    except MissingTaylorRuleError as error:
        missing = re.search(r"primitive '([^']+)'", str(error))
        return f"no ({missing.group(1)})" if missing else "no"
    return "yes"


def _entry_row(name: str, target, fn) -> CoverageRow:
    return CoverageRow(name, "entry point", _entry_taylor(target), _convention_from(fn))


def coverage_rows() -> list[CoverageRow]:
    """One row per supported NumPy / SciPy callable, sorted by name."""
    rows = []
    for table in (UFUNCS, FUNCTIONS):
        for target, handler in table.items():
            name = public_name(target)
            if isinstance(handler, Primitive):
                rows.append(_primitive_row(name, handler))
            else:
                rows.append(_entry_row(name, target, handler))
    return sorted(rows, key=lambda row: (row.name.startswith("scipy"), row.name))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def coverage_markdown() -> str:
    """The coverage table as Markdown (MyST), with a count and how to read it."""
    rows = coverage_rows()
    lines = [
        f"{len(rows)} NumPy and SciPy functions differentiate on traced values. Forward and "
        "reverse mode work for every one (each rule is written with primitives, so it also "
        "differentiates again); *Taylor* says whether `ad.taylor` propagates through it (`no` "
        "names the primitive without a Taylor rule; `ad.derivative` then nests forward mode "
        "instead).",
        "",
        "| function | answered by | fwd | rev | Taylor | kinks, ties, domain edges |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| `{row.name}` | {row.answered_by} | yes | yes | {row.taylor} | "
            f"{_cell(row.convention)} |"
        )
    return "\n".join(lines) + "\n"


def write_coverage(path) -> bool:
    """Write the table to ``path`` if it changed; returns whether it was written."""
    from pathlib import Path

    path = Path(path)
    text = coverage_markdown()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


if __name__ == "__main__":  # pragma: no cover - the command line
    if len(sys.argv) != 2:
        sys.exit("usage: python -m autodiff.inspection.coverage PATH")
    write_coverage(sys.argv[1])
