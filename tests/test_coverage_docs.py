"""The generated NumPy coverage table (docs/numpy.md): complete, and read from the declarations."""

import pathlib

from autodiff.inspection.coverage import coverage_markdown, coverage_rows, write_coverage
from autodiff.rules.primitive import FUNCTIONS, REGISTRY, UFUNCS

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def test_every_answered_callable_has_one_row():
    names = [row.name for row in coverage_rows()]
    assert len(names) == len(set(names)) == len(UFUNCS) + len(FUNCTIONS)
    assert {"np.sin", "np.linalg.solve", "np.einsum", "np.var"} <= set(names)


def test_rows_state_modes_and_conventions_from_the_declarations():
    rows = {row.name: row for row in coverage_rows()}
    assert rows["np.sin"].answered_by == "primitive `sin`" and rows["np.sin"].taylor == "yes"
    assert rows["np.floor"].convention.startswith("Derivative 0")
    assert "evenly" in rows["np.max"].convention  # from np.max's docstring
    assert rows["np.linalg.eigh"].taylor == "yes"  # found by running its test case
    assert "at `a = 0`" in rows["np.power"].convention  # from the partial's docstring


def test_an_entry_point_reaching_a_primitive_without_taylor_rule_names_it(monkeypatch):
    monkeypatch.setattr(REGISTRY["eigh"], "taylor", None)
    rows = {row.name: row for row in coverage_rows()}
    assert rows["np.linalg.eigh"].taylor == "no (eigh)"


def test_the_docs_include_the_table_the_build_writes(tmp_path):
    page = (DOCS / "numpy.md").read_text(encoding="utf-8")
    assert "```{include} generated/numpy_coverage.md" in page
    assert "write_coverage" in (DOCS / "conf.py").read_text(encoding="utf-8")
    target = tmp_path / "generated" / "numpy_coverage.md"
    assert write_coverage(target) is True
    assert target.read_text(encoding="utf-8") == coverage_markdown()
    assert write_coverage(target) is False  # unchanged: not rewritten
    assert "| `np.sin` | primitive `sin` | yes | yes | yes |" in coverage_markdown()
