"""Small tables as plain text, Markdown and HTML (for ``print`` and for notebooks).

A :class:`Table` has a title, column headers and *sections* of rows; sections are separated by a
rule, like the horizontal lines between inputs, operations and outputs in the traces of Baydin
et al., "Automatic differentiation in machine learning: a survey" (JMLR 2018, Tables 2 and 3).
"""

from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass

__all__ = ["Table", "display_width"]


def display_width(text: str) -> int:
    """Columns ``text`` occupies in a terminal: combining marks (v̇, v̄) take none."""
    return sum(0 if unicodedata.combining(ch) else 1 for ch in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    fill = " " * (width - display_width(text))
    return fill + text if right else text + fill


@dataclass(frozen=True)
class Table:
    """``sections`` is a list of row lists; every row has one cell per header."""

    title: str
    headers: tuple
    sections: tuple
    equation: bool = False

    @property
    def rows(self) -> list:
        return [row for section in self.sections for row in section]

    def text(self) -> str:
        """Aligned plain text.  An ``equation`` table joins its cells with `` = ``, as
        Baydin et al. (2018, Table 2) write ``v1 = ln v-1 = ln 2 = 0.693``; empty cells are
        skipped."""
        shown = self.rows if self.equation else [self.headers, *self.rows]
        widths = [
            max(display_width(row[i]) for row in shown) if shown else 0
            for i in range(len(self.headers))
        ]
        joiner = " = " if self.equation else "  "
        lines = []
        for section in self.sections:
            if lines:
                lines.append(None)
            for row in section:
                parts = [_pad(row[0], widths[0])]
                for cell, width in zip(row[1:], widths[1:]):
                    if not width:
                        continue
                    parts.append(
                        joiner + _pad(cell, width) if cell else " " * (len(joiner) + width)
                    )
                lines.append("".join(parts).rstrip())
        if not self.equation:
            header = "  ".join(_pad(h, w) for h, w in zip(self.headers, widths) if w)
            lines = [header.rstrip(), None] + lines
        rule_width = max([display_width(line) for line in lines if line] + [len(self.title)])
        rule = "─" * rule_width
        body = [rule if line is None else line for line in lines]
        return "\n".join([self.title, rule, *body, rule])

    def markdown(self) -> str:
        """A GitHub-flavoured Markdown table (cells may hold inline HTML such as ``<sub>``)."""
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.headers) + " |",
                 "|" + "---|" * len(self.headers)]
        for row in self.rows:
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
        return "\n".join(lines)

    def html(self) -> str:
        """An HTML table; cells are already HTML, the title is escaped here."""
        head = "".join(f"<th>{h}</th>" for h in self.headers)
        parts = [
            "<table>",
            f"<caption style=\"text-align: left\"><b>{html.escape(self.title)}</b></caption>",
            f"<thead><tr>{head}</tr></thead>",
        ]
        for number, section in enumerate(self.sections):
            style = ' style="border-top: 2px solid"' if number else ""
            parts.append(f"<tbody{style}>")
            for row in section:
                cells = "".join(f"<td style=\"text-align: left\">{cell}</td>" for cell in row)
                parts.append(f"<tr>{cells}</tr>")
            parts.append("</tbody>")
        parts.append("</table>")
        return "\n".join(parts)
