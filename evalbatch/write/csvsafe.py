"""CSV files a spreadsheet opens without evaluating anything (CSV injection, OWASP).

Excel, WPS and LibreOffice read a CSV cell that starts with =, +, -, @, a tab or a carriage
return as a formula; department text (a 单位名称 of `=HYPERLINK(...)`, a file name) must
arrive as text. Every CSV evalbatch writes goes through `write_csv`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def defuse(value):
    """Text that would start a formula, with a single quote in front (OWASP's remedy);
    anything else as it is. Numbers are left alone: evalbatch writes them itself, and a
    quote would turn a negative difference into text."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """`frame` as CSV (UTF-8 with BOM, which Excel needs to read Chinese), every text cell and
    header defused."""
    safe = frame.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(defuse).astype(object)
    safe.columns = [defuse(str(c)) for c in safe.columns]
    safe.to_csv(path, index=False, encoding="utf-8-sig")
