"""Sphinx configuration: Markdown pages (MyST) plus autodoc of the public API."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "autodiff"
author = "autodiff contributors"
copyright = "autodiff contributors"  # noqa: A001 -- Sphinx's name for it

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "none"
napoleon_numpy_docstring = True
napoleon_google_docstring = False

exclude_patterns = ["_build", "generated"]  # generated/: included by the pages that show it
html_theme = "alabaster"
html_title = "autodiff"


def _write_numpy_coverage(app):
    """The NumPy coverage table (docs/numpy.md includes it), generated from the rule table."""
    from autodiff.inspection.coverage import write_coverage

    write_coverage(os.path.join(app.srcdir, "generated", "numpy_coverage.md"))


def setup(app):
    app.connect("builder-inited", _write_numpy_coverage)
