"""What every layout locator produces: `Located`, one file's values found by label, with the
cell each came from. The parse stage reads only this, never a layout."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import numpy as np

from .. import findings as F
from .. import schema as S

# Layout names, as users see them in `check`, --json and 运行信息.
FORMAT1 = "模板格式1"
FORM_A = "项目支出绩效自评表"
FORM_B = "部门整体支出绩效自评表"
LAYOUTS = (FORMAT1, FORM_A, FORM_B)


@dataclass
class Located:
    """One file's values, found but not yet read as numbers.

    `rows[table]` holds `[excel row, value per column]`; the columns of a table are those of
    `assemble.frame_columns(table)`. Format 1 has one column letter per key and sheet
    (`letters`); official forms move blocks around, so each row may carry its own sheet and
    cell addresses (`where[table][i]` = (sheet, key → "F12")).
    """

    file: str
    fields: dict[str, tuple[object, str]] = field(default_factory=dict)  # key → (raw value, cell)
    info_sheet: str = S.INFO_SHEET  # the sheet the fields were found on
    rows: dict[str, list[list]] = field(default_factory=dict)
    letters: dict[str, dict[str, str]] = field(default_factory=dict)  # table → key → column letter
    where: dict[str, list[tuple[str, dict[str, str]]]] = field(default_factory=dict)
    findings: list[dict] = field(default_factory=list)
    usable: bool = False  # got as far as a department with something to score
    layouts: dict[str, int] = field(default_factory=dict)  # layout → forms of it in the file

    def add(self, rule_id: str, message: str, sheet: str = "", cell: str = "") -> None:
        self.findings.append(F.one(rule_id, message, file=self.file, sheet=sheet, cell=cell))

    @property
    def layout(self) -> str:
        """The file's layout in a word: the one kind of form it holds, or all kinds, joined."""
        return "、".join(k for k in LAYOUTS if self.layouts.get(k)) or ""


def blank(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and np.isnan(v))


_BRACKETS = str.maketrans({"【": "(", "】": ")", "〔": "(", "〕": ")", "[": "(", "]": ")", "{": "(", "}": ")", "＜": "<", "＞": ">"})
_TRAILING_COLON = re.compile(r"[:：]+$")


def norm(text: object) -> str:
    """A label as compared: format 1's rules (no spaces or line breaks, half-width, one
    kind of quote) plus one kind of bracket and no trailing colon."""
    if not isinstance(text, str):
        return ""
    return _norm(text) if len(text) <= _REMEMBERED else _norm.__wrapped__(text)


def norm_row(row: list) -> list[str]:
    """`norm` of every cell of a row; the usual short text goes straight to the memo (a sheet
    is hundreds of cells, and the call in between was a tenth of reading an official form)."""
    return [_norm(v) if type(v) is str and len(v) <= _REMEMBERED else "" if v is None or type(v) is float else norm(v) for v in row]


# Every cell of every official form is compared so, and labels repeat form after form: short
# texts are remembered (a long one, a sentence, rarely repeats and would only fill memory).
_REMEMBERED = 64


@functools.lru_cache(maxsize=65536)
def _norm(text: str) -> str:
    return _TRAILING_COLON.sub("", S.norm_label(text).translate(_BRACKETS))
