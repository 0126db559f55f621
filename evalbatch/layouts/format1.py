"""Format 1, evalbatch's own template (docs/template.md): fields by label on 基本信息, tables
by header on their sheets. Never by position: a title row above a header, columns moved or
renamed with spaces and full-width forms are all found."""

from __future__ import annotations

from xlsxwriter.utility import xl_col_to_name

from .. import schema as S
from .base import FORMAT1, Located, blank

# How far down a sheet the header row may be (a title row or two above it is tolerated).
_HEADER_SEARCH_ROWS = 10
_BY_LABEL = {S.norm_label(f.label): f for f in S.FIELDS}


def is_format1(sheet_names) -> bool:
    return S.norm_label(S.INFO_SHEET) in {S.norm_label(n) for n in sheet_names}


def find_header(rows: list[list], wanted: dict[str, str], search: int = _HEADER_SEARCH_ROWS) -> tuple[int, dict[str, int]]:
    """The row (0-based) that holds most of the wanted headers, and key → column index."""
    best_row, best = -1, {}
    for r, row in enumerate(rows[:search]):
        found = {}
        for c, cell in enumerate(row):
            key = wanted.get(S.norm_label(cell)) if isinstance(cell, str) else None
            if key and key not in found:
                found[key] = c
        if len(found) > len(best):
            best_row, best = r, found
    return best_row, best


def locate(sheets: dict[str, list[list]], loc: Located) -> Located:
    sheets = {S.norm_label(name): rows for name, rows in sheets.items()}
    info = sheets[S.norm_label(S.INFO_SHEET)]
    _locate_fields(loc, info)
    if not _version_ok(loc):
        return loc  # a wrong template version: nothing else in the file can be trusted
    loc.usable = True
    loc.layouts[FORMAT1] = 1
    for sheet in S.SHEETS:
        if sheet.kind != "table":
            continue
        rows = sheets.get(S.norm_label(sheet.name))
        if rows is None:
            if sheet.required:
                loc.add("sheet.missing", f"缺少工作表「{sheet.name}」（{sheet.purpose}）；请使用模板填写，不要删除或改名工作表", sheet.name)
            continue
        _locate_table(loc, sheet, rows)
    return loc


def _locate_fields(loc: Located, rows: list[list]) -> None:
    sheet = S.INFO_SHEET
    row0, cols = find_header(rows, {S.norm_label(h): h for h in S.INFO_HEADER})
    label_col, value_col = cols.get("项目"), cols.get("数值")
    if label_col is None or value_col is None:
        # Without a header, fall back to the template's own layout rather than give up.
        row0, label_col, value_col = 0, 0, 1
        loc.add("header.missing", f"「{sheet}」第 1 行应为表头“项目 | 数值 | 说明”；已按 A 列项目、B 列数值读取", sheet, "A1")
    letter = xl_col_to_name(value_col)
    for r in range(row0 + 1, len(rows)):
        row = rows[r]
        f = _BY_LABEL.get(S.norm_label(row[label_col])) if label_col < len(row) and isinstance(row[label_col], str) else None
        if f is None:
            continue
        if f.key in loc.fields:
            loc.add("field.duplicate", f"项目「{f.label}」出现了不止一次，只采用第一次出现的值；请删除多余的行", sheet, f"{xl_col_to_name(label_col)}{r + 1}")
            continue
        loc.fields[f.key] = (row[value_col] if value_col < len(row) else None, f"{letter}{r + 1}")
    for f in S.FIELDS:
        if f.required and f.key not in loc.fields and f.key != "template_version":
            loc.add("field.missing", f"缺少项目「{f.label}」这一行；请按模板补上该行并填写", sheet, f"A{len(rows) + 1}")


def _version_ok(loc: Located) -> bool:
    raw, cell = loc.fields.get("template_version", (None, "A2"))
    readable = "、".join(S.SUPPORTED_VERSIONS)
    if blank(raw):
        loc.add("template.version", f"缺少「模板版本」；本工具读取模板版本 {readable}，请使用 evalbatch template 生成的模板填写", S.INFO_SHEET, cell)
        return False
    version = str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw).strip().removesuffix(".0")
    if version not in S.SUPPORTED_VERSIONS:
        loc.add("template.version", f"模板版本为 {version}，本工具只读取模板版本 {readable}；请使用最新模板重新填写", S.INFO_SHEET, cell)
        return False
    loc.fields["template_version"] = (version, cell)
    return True


def _locate_table(loc: Located, sheet: S.Sheet, rows: list[list]) -> None:
    row0, cols = find_header(rows, {S.norm_label(c.header): c.key for c in sheet.columns})
    missing = [c for c in sheet.columns if c.required and c.key not in cols]
    header_row = f"{max(row0, 0) + 1}:{max(row0, 0) + 1}"
    for c in missing:
        loc.add("header.missing", f"「{sheet.name}」缺少表头列「{c.header}」；请使用模板的表头，不要删除或改名列", sheet.name, header_row)
    if missing:
        return
    positions = [cols.get(c.key) for c in sheet.columns]
    out = []
    for r in range(row0 + 1, len(rows)):
        row = rows[r]
        values = [row[p] if p is not None and p < len(row) else None for p in positions]
        if not all(blank(v) for v in values):
            out.append([r + 1, *values])
    loc.rows[sheet.name] = out
    loc.letters[sheet.name] = {key: xl_col_to_name(i) for key, i in cols.items()}
