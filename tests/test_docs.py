"""The documentation: it builds with warnings as errors, its examples run, and the tables of
Baydin et al. (JMLR 2018, Tables 2 and 3) it shows are the ones the library prints today."""

import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import autodiff as ad

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.md"))
EXAMPLE_PAGES = PAGES + [DOCS.parent / "README.md"]


def code_blocks(page: pathlib.Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", page.read_text(encoding="utf-8"), re.M | re.S)


def test_the_docs_build_with_warnings_as_errors(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for page in PAGES:
        assert (tmp_path / "html" / f"{page.stem}.html").exists()
    api = (tmp_path / "html" / "api.html").read_text(encoding="utf-8")
    assert ".. auto" not in api and ".. py:" not in api  # autodoc ran, not shown as text
    for name in ("autodiff.grad", "autodiff.jacfwd", "autodiff.trace", "autodiff.Var"):
        assert f'id="{name}"' in api, name


@pytest.mark.parametrize("page", EXAMPLE_PAGES, ids=[p.name for p in EXAMPLE_PAGES])
def test_python_examples_in_the_docs_run(page, capsys):
    namespace = {}
    for block in code_blocks(page, "python"):
        exec(compile(block, str(page), "exec"), namespace)


def survey_tables():
    t = ad.trace(lambda x1, x2: np.log(x1) + x1 * x2 - np.sin(x2), 2.0, 5.0)
    return [table.text() for table in t.tables()]


@pytest.mark.parametrize(
    "page, table", [("forward.md", 0), ("forward.md", 1), ("reverse.md", 2)]
)
def test_survey_tables_in_the_docs_match_the_library(page, table):
    shown = [block.rstrip("\n") for block in code_blocks(DOCS / page, "text")]
    assert survey_tables()[table] in shown
