"""The HTML export reader (formats/html.py) against a model of the table it was given.

Hypothesis writes pages the way budget systems and people write them — spans, <br>s,
entities, comments, inline tags, end tags left out, upper-case tags, three kinds of attribute
quoting — and each sheet must be the table the markup describes: a cell in the first column
that earlier rowspans leave free (its colspan stopping before one they still hold), its text
with white space collapsed per line, merges filled.
The model is built from the generated structure, never by parsing the page.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalbatch.formats.base import Limits, dense
from evalbatch.formats.html import read_html

# (markup, what a browser shows of it)
TOKENS = [
    ("预算", "预算"), ("执行数", "执行数"), ("95%", "95%"), ("1,202.5", "1,202.5"), ("&amp;", "&"), ("&lt;", "<"),
    ("&gt;", ">"), ("&#20013;", "中"), ("&#x6587;", "文"), ("&nbsp;", " "), ("<!-- 注释 -->", ""), ("<b>粗</b>", "粗"),
    ("<span style='mso-number-format:\"\\@\"'>细</span>", "细"), (" ", " "), ("\n", " "), ("\t", " "),
]
_SPACES = re.compile(r"\s+")

token = st.sampled_from(TOKENS)
line = st.lists(token, max_size=4)
cell = st.tuples(st.lists(line, min_size=1, max_size=3), st.integers(1, 3), st.integers(1, 3),
                 st.booleans(), st.sampled_from(["{}", "'{}'", '"{}"']), st.booleans())
row = st.tuples(st.lists(cell, min_size=1, max_size=4), st.booleans())
table = st.tuples(st.lists(row, min_size=1, max_size=5), st.sampled_from(["", "基本信息", "绩效指标"]))


def shown(lines: list[list[tuple[str, str]]]) -> str:
    """A cell's text: its <br>-separated lines, white space collapsed within each."""
    return "\n".join(_SPACES.sub(" ", "".join(t for _, t in ln)).strip() for ln in lines).strip()


def markup(tables: list) -> str:
    out = ['<html><head><meta charset="utf-8"></head><body>']
    for rows, caption in tables:
        out.append("<table border=1>" + (f"<caption>{caption}</caption>" if caption else ""))
        for cells, close_row in rows:
            out.append("<tr>")
            for lines, down, across, upper, quote, close in cells:
                tag = "TD" if upper else "td"
                spans = "".join(f" {k}={quote.format(n)}" for k, n in (("rowspan", down), ("colspan", across)) if n > 1)
                out.append(f"<{tag}{spans}>" + "<br>".join("".join(m for m, _ in ln) for ln in lines) + (f"</{tag}>" if close else ""))
            out.append("</tr>" if close_row else "")
        out.append("</table>\n")
    return "".join(out) + "</body></html>"


def model(rows: list, name: str):
    cells, merges, taken = {}, [], set()
    for r, (row_cells, _) in enumerate(rows):
        c = 0
        for lines, down, across, *_ in row_cells:
            while (r, c) in taken:
                c += 1
            across = next((j - c for j in range(c + 1, c + across) if (r, j) in taken), across)  # never over a rowspan
            taken |= {(r + i, c + j) for i in range(down) for j in range(across)}
            if down > 1 or across > 1:
                merges.append((r, c, r + down - 1, c + across - 1))
            if shown(lines):
                cells[(r, c)] = shown(lines)
            c += across
    return dense(name, cells, merges, Limits())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(table, min_size=1, max_size=2, unique_by=lambda t: t[1] or id(t)))
def test_a_page_reads_as_the_tables_its_markup_describes(tables):
    names = [caption or f"表{i}" for i, (_, caption) in enumerate(tables, start=1)]
    if len(tables) == 1 and not tables[0][1]:
        names = ["表1"]
    got = read_html(markup(tables).encode("utf-8"), lambda _: True, Limits())
    assert got == {name: model(rows, name) for name, (rows, _) in zip(names, tables)}
