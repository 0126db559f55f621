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


def locate(raw, loc: Located) -> Located:
    sheets = _by_role(raw, loc)
    info = sheets.get(S.norm_label(S.INFO_SHEET))
    if info is None:
        return loc  # two candidates for 基本信息: reported, nothing can be trusted
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


def _by_role(raw, loc: Located) -> dict[str, list[list]]:
    """Sheet rows by normalised name. Where two sheets normalise alike (`基本信息`, a hidden
    `基本 信息`), the one visible sheet takes the role; otherwise neither does, and both are named."""
    groups: dict[str, list[str]] = {}
    for name in raw.sheets:
        groups.setdefault(S.norm_label(name), []).append(name)
    out = {}
    for key, names in groups.items():
        visible = [n for n in names if n not in raw.hidden]
        if len(names) == 1 or len(visible) == 1:
            chosen = names[0] if len(names) == 1 else visible[0]
            out[key] = raw.sheets[chosen]
            for other in (n for n in names if n != chosen):
                loc.add("sheet.hidden_ignored", f"隐藏的工作表「{other}」与「{chosen}」同名，未读取；请删除多余的隐藏工作表", other)
            continue
        both = "」「".join(names)
        loc.add("sheet.ambiguous", f"工作表「{both}」名称相同（只差空格或全角半角），无法确定读取哪一个；请只保留一个", names[0])
    return out


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
    keys = [c.key for c in sheet.columns]
    labels = [keys.index(k) for k in ("l1", "l2", "l3") if k in keys]
    weight = keys.index("weight") if "weight" in keys else None
    out, since_total = [], []
    for r in range(row0 + 1, len(rows)):
        row = rows[r]
        values = [row[p] if p is not None and p < len(row) else None for p in positions]
        if all(blank(v) for v in values):
            continue
        if labels and _is_total_row([values[i] for i in labels]):
            _total_row(loc, sheet.name, r + 1, f"{xl_col_to_name(positions[weight])}{r + 1}", values[weight], since_total)
            since_total = []
            continue
        out.append([r + 1, *values])
        if weight is not None:
            since_total.append(values[weight])
    loc.rows[sheet.name] = out
    loc.letters[sheet.name] = {key: xl_col_to_name(i) for key, i in cols.items()}


# A row labelled like this in an indicator table is a total people add, never an indicator.
_TOTAL_WORDS = frozenset(S.norm_label(w) for w in ("合计", "总计", "小计", "总分", "分值合计", "合计分值", "得分合计"))


def _is_total_row(labels: list) -> bool:
    first = next((v for v in labels if not blank(v)), None)
    return isinstance(first, str) and S.norm_label(first) in _TOTAL_WORDS


def _total_row(loc: Located, sheet: str, row: int, cell: str, total, parts: list) -> None:
    """A 合计 row: left out of the indicators, and its 分值 checked against the rows above it."""
    numbers = [_number(v) for v in parts]
    if _number(total) is None or None in numbers:
        loc.add("table.total_row", f"第 {row} 行是合计行，不计入指标", sheet, cell)
        return
    added = round(sum(numbers), 2)
    if abs(added - _number(total)) < 0.005:
        loc.add("table.total_row", f"合计行（分值 {_number(total):g}）不计入指标，与其上各行分值之和一致", sheet, cell)
    else:
        loc.add("table.total_mismatch", f"合计行的分值为 {_number(total):g}，其上各行分值之和为 {added:g}；合计行不计入指标，请核对", sheet, cell)


def _number(v) -> float | None:
    if isinstance(v, bool) or blank(v):
        return None
    try:
        return float(str(v).strip())
    except ValueError:
        return None
