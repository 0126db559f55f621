"""Reading the roster (名单): one row per unit that must submit.

The roster is a file like any other in the folders: untrusted. It is opened with the same
safe reader as submissions (size, zip-bomb and cell limits), a CSV is bounded the same way,
and every problem in it is a finding naming the roster's sheet and cell, never a crash.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import findings as F
from ..formats.base import FileProblem
from ..layouts.base import blank, norm
from ..layouts.official import cell
from ..read.load import sandboxed
from ..read.reader import open_workbook, read_bytes, sha256_of, sha256_of_file, sniff
from ..read.sandbox import SandboxFailure, heartbeat
from ..rules import Rules
from ..schema import DEPT_CATEGORIES
from ..values import code_normalised, parse_code, parse_enum, parse_integer, parse_text

ROSTER_NAME = "名单.xlsx"

# The roster's columns: key → header in the file. 单位编码 and 单位名称 are required.
HEADERS = {
    "code": "单位编码", "name": "单位名称", "category": "单位类别", "parent": "主管部门",
    "expected_projects": "应报项目数", "contact": "联系人", "deadline": "截止日期",
}
COLUMNS = list(HEADERS)
REQUIRED = ("code", "name")
# Other words bureaus use for the same headers (compared after `norm`).
_SYNONYMS = {
    "code": ("单位代码", "预算单位编码", "部门编码", "编码"),
    "name": ("预算单位名称", "部门名称", "部门(单位)名称", "单位全称"),
    "category": ("单位性质",),
    "parent": ("主管单位", "主管部门(单位)"),
    "expected_projects": ("应报项目个数", "项目数"),
    "contact": ("联系人姓名", "填报联系人"),
    "deadline": ("报送截止日期", "截止时间"),
}
_HEADER_ROWS = 10  # a title or a note may sit above the header


@dataclass
class Roster:
    """The units that must submit (`COLUMNS`, one row per distinct normalised code), what
    was wrong in the file (the usual findings frame) and the file's SHA-256."""

    units: pd.DataFrame
    findings: pd.DataFrame
    sha256: str


def find_roster(out_dir: Path, given: Path | None = None) -> Path | None:
    """The roster given with --roster, else OUTPUT_DIR/名单.xlsx if there is one, else None."""
    if given is not None:
        return Path(given)
    path = Path(out_dir) / ROSTER_NAME
    return path if path.is_file() else None


def read_roster(path: Path, rules: Rules) -> Roster:
    path = Path(path)
    try:
        # The roster is a file like any other on the share: read under the sandbox's limits.
        data, sheets = sandboxed(rules, read_grid, path, rules)
    except (FileProblem, SandboxFailure) as exc:
        problem = F.one("roster.unreadable", f"名单 {path.name} 无法读取：{exc.message}", file=path.name)
        return Roster(empty_units(), F.frame([problem]), sha256_of_file(path))
    return _from_sheets(sheets, path.name, sha256_of(data))


def empty_units() -> pd.DataFrame:
    return _typed(pd.DataFrame({c: [] for c in COLUMNS}))


def read_grid(path: Path, rules: Rules) -> tuple[bytes, dict[str, list[list]]]:
    """The file's bytes and its sheets' rows; a CSV (any text file) is one sheet. Picklable and
    top level, so that it can run in a child process under OS limits."""
    heartbeat(Path(path).name)  # in a sandbox worker: this file's own CPU budget
    data = read_bytes(path, rules)
    if sniff(data) == "other":
        return data, {path.stem: _csv_rows(data, int(rules.limit("max_sheet_cells")))}
    return data, open_workbook(data, rules, name=path.name).sheets


def _csv_rows(data: bytes, max_cells: int) -> list[list]:
    text = _decode(data)
    if "\x00" in text:
        raise FileProblem("file.not_spreadsheet", "名单不是 Excel 工作簿，也不是 CSV 文本；请用 evalbatch roster template 生成的模板填写")
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and "," not in first else ","
    rows, cells = [], 0
    for row in csv.reader(io.StringIO(text), delimiter=delimiter):
        cells += max(len(row), 1)
        if cells > max_cells:
            raise FileProblem("file.suspicious", f"名单超过 {max_cells:,} 个单元格，远超正常名单，不予读取")
        rows.append(row)
    return rows


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030: what Excel and WPS save a CSV as in China."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


def _header_words() -> dict[str, str]:
    words = {norm(h): key for key, h in HEADERS.items()}
    for key, more in _SYNONYMS.items():
        words.update({norm(w): key for w in more})
    return words


def _find_header(sheets: dict[str, list[list]]) -> tuple[str, int, dict[str, int]] | None:
    """(sheet, header row, key → column) of the first sheet with 单位编码 and 单位名称 in a header row."""
    words = _header_words()
    for sheet, rows in sheets.items():
        for r, row in enumerate(rows[:_HEADER_ROWS]):
            found: dict[str, int] = {}
            for c, v in enumerate(row):
                key = words.get(norm(v)) if isinstance(v, str) else None
                if key and key not in found:
                    found[key] = c
            if all(k in found for k in REQUIRED):
                return sheet, r, found
    return None


def _from_sheets(sheets: dict[str, list[list]], file: str, sha: str) -> Roster:
    header = _find_header(sheets)
    if header is None:
        problem = F.one("roster.header", f"名单 {file} 中没有找到表头（需要“单位编码”和“单位名称”两列）；"
                        "请用 evalbatch roster template 生成的模板填写", file=file)
        return Roster(empty_units(), F.frame([problem]), sha)
    sheet, r0, cols = header
    body = [row for row in sheets[sheet][r0 + 1:]]
    raw = pd.DataFrame({key: [row[c] if c < len(row) else None for row in body] for key, c in cols.items()})
    raw["row"] = range(r0 + 1, r0 + 1 + len(body))
    raw = raw[~raw[list(cols)].map(blank).all(axis=1)].reset_index(drop=True)
    units, problems = _parse(raw, cols, sheet, file)
    units, dup = _without_duplicates(units, raw, cols, sheet, file)
    return Roster(_typed(units[COLUMNS].reset_index(drop=True)), F.concat([problems, dup]), sha)


def _parse(raw: pd.DataFrame, cols: dict[str, int], sheet: str, file: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed columns, and a finding for each value that cannot be used."""
    where = raw.assign(file=file)
    at = {key: raw["row"].map(lambda r, c=c: cell(r, c)) for key, c in cols.items()}
    col = {key: raw[key] if key in raw else pd.Series(None, index=raw.index, dtype=object) for key in COLUMNS}
    code, _ = parse_code(col["code"])
    name, _ = parse_text(col["name"])
    category, bad_category = parse_enum(col["category"], DEPT_CATEGORIES)
    expected, bad_expected = parse_integer(col["expected_projects"])
    deadline, bad_deadline = _parse_dates(col["deadline"])
    units = pd.DataFrame({
        "code": code, "name": name, "category": category, "parent": parse_text(col["parent"])[0],
        "expected_projects": expected.where(expected >= 0), "contact": parse_text(col["contact"])[0], "deadline": deadline,
    })
    where = where.assign(dept_code=code.fillna(""), dept_name=name.fillna(""))
    label = HEADERS

    def found(mask, rule, key, message):
        return F.where(where, mask, rule, message, sheet=sheet, cell=at.get(key, ""))

    choices = "、".join(DEPT_CATEGORIES)
    problems = F.concat([
        found(code.isna(), "roster.code_blank", "code", "名单中这一行没有单位编码，未列入名单；请填写财政部门下达的单位编码"),
        found(code.notna() & name.isna(), "roster.name_blank", "name", "名单中这个单位没有单位名称；请填写单位全称"),
        found(code_normalised(col["code"], code), "value.code_normalised", "code",
              lambda s: "名单中的单位编码“" + s["code"].astype(str) + "”含空格或全角字符，已按“" + s["dept_code"] + "”读取"),
        found(bad_category, "roster.value", "category",
              lambda s: f"{label['category']}“" + s["category"].astype(str) + f"”不是可选的类别（{choices}），按未填处理"),
        found(bad_expected | (expected < 0).fillna(False), "roster.value", "expected_projects",
              lambda s: f"{label['expected_projects']}“" + s["expected_projects"].astype(str) + "”不是非负整数，按未填处理"),
        found(bad_deadline, "roster.value", "deadline",
              lambda s: f"{label['deadline']}“" + s["deadline"].astype(str) + "”不是日期（如 2026-03-31），按未填处理"),
    ])
    keep = code.notna()
    return units[keep].assign(row=raw["row"][keep]), problems


def _without_duplicates(units: pd.DataFrame, raw: pd.DataFrame, cols: dict[str, int], sheet: str, file: str):
    """The first row of each code counts; every later one is an 错误 naming the first."""
    first = units.groupby("code", sort=False)["row"].transform("min")
    dup = units["row"] != first
    where = units.assign(file=file, dept_code=units["code"], dept_name=units["name"].fillna(""))
    c = cols["code"]
    problems = F.where(
        where, dup, "roster.duplicate",
        lambda s: "名单中单位编码 " + s["code"] + " 重复，与第 " + (first[s.index] + 1).astype(str) + " 行相同；本行未采用，请删除重复行",
        sheet=sheet, cell=units["row"].map(lambda r: cell(r, c)),
    )
    return units[~dup], problems


def _parse_dates(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Dates as ISO text (2026-03-31): Excel dates, or text such as 2026-03-31, 2026/3/31, 2026年3月31日."""
    def one(v):
        if blank(v):
            return None
        if isinstance(v, (dt.datetime, dt.date, pd.Timestamp)):
            return v.strftime("%Y-%m-%d")
        text = str(v).strip().replace("年", "-").replace("月", "-").replace("日", "").replace("/", "-").replace(".", "-")
        try:
            return dt.date.fromisoformat("-".join(p.zfill(2) for p in text.split("-"))).isoformat()
        except ValueError:
            return None

    value = pd.Series([one(v) for v in s.to_numpy(dtype=object)], index=s.index, dtype="object")
    return value, value.isna() & ~s.map(blank).astype(bool)


def _typed(units: pd.DataFrame) -> pd.DataFrame:
    text = {c: "string" for c in ("code", "name", "category", "parent", "contact")}
    out = units.astype({**text, "expected_projects": "Int64"})
    out["deadline"] = out["deadline"].astype("object")
    return out
