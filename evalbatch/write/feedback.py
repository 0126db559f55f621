"""Feedback (结果反馈): one workbook per department with its own results, to send back.

`write_feedback` writes `<out>/feedback/<单位编码>_<单位名称>_复核结果.xlsx` for every department
of a batch (ranked or not): 评价结果 (score, grade, rank, rates, how the score was recomputed),
指标复核 (every indicator with its recomputed score and the reason for each deduction),
项目 (the department's projects) and 审核问题 (what to fix, with sheet and cell). A department
that sent only files that could not be read gets one too (`write_unread`): what went wrong and
how to send the file again, under the code and name its file name gives (fileids.py).

The tables use report.py's column specs and writer, so they read like the consolidated
workbook. Text from submissions is written as text (report.SAFE_OPTIONS). A file name is
built from what departments typed, so it is sanitised: nothing in a code or a name can
place a file outside feedback/ or give it a name Windows refuses.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd
import xlsxwriter
from xlsxwriter.utility import xl_col_to_name

from .. import findings as F
from ..files import atomic_write
from ..judge.evaluate import BatchResult
from ..judge.scoring import RATE_COLUMNS
from ..read.fileids import FROM_NAME, ids_from_name, marked_name
from ..rules import Rules
from . import places, printing
from .columns import FINDINGS, INDICATORS, PLACES, PROJECTS, REVIEW_RESULTS
from .book import Workbook
from .report import Formats, cell_values, write_table

FEEDBACK_DIR = "feedback"
# The names of the feedback files the last run wrote (in the output folder): pruning deletes only those.
FEEDBACK_RECORD = ".evalbatch-feedback.json"
SUFFIX = "_复核结果.xlsx"  # never the name of the department's own submission

# Per-department tables: the consolidated workbook's columns without the department's own
# code and name (every row of a feedback workbook is the same department).
_SAME_DEPT = ("dept_code", "dept_name")
# 项目汇总's columns for the analyst (issue 20): the department has its own 原因说明, and the
# mismatch is a finding of its 审核问题; left out, its 项目 sheet still prints on A4.
_FOR_ANALYSTS = ("dept_category", "mismatch", "reason")
IND_COLUMNS = [c for c in INDICATORS if c.source not in _SAME_DEPT]
PROJECT_COLUMNS = [c for c in PROJECTS if c.source not in _SAME_DEPT + _FOR_ANALYSTS]
FINDING_COLUMNS = [c for c in FINDINGS if c.source not in _SAME_DEPT]
# 抽评结果 as the department sees it: its results and the reviewers' comments, not the bureau's
# bookkeeping (who reviewed, in which workbook, what is still missing).
REVIEW_COLUMNS = [c for c in REVIEW_RESULTS
                  if c.source not in (*_SAME_DEPT, "draw_id", "reviewer", "reviewer_name", "review_file", "marked", "note")]
SHEET_REVIEWS = "抽评结果"

SHEET_RESULT, SHEET_INDICATORS, SHEET_PROJECTS, SHEET_FINDINGS = "评价结果", "指标复核", "项目", "审核问题"
SHEET_PLACES = "读取位置"
# A feedback workbook is small: built in memory, not through a temporary file per part (a
# dozen files made and deleted per workbook, most of its time on a busy disk).
WORKBOOK_OPTIONS = {"nan_inf_to_errors": False, "in_memory": True}
DIFF_FILL = "#FCE4D6"  # rows whose 自评得分 differs from the 复核得分

# --- file names -------------------------------------------------------------------------

CODE_CHARS, NAME_CHARS = 40, 80
STEM_BYTES = 180  # UTF-8 bytes; leaves room for "_2", atomic_write's "_YYYYMMDD-HHMMSS" and SUFFIX within 255
_FORBIDDEN = set('<>:"/\\|?*')
_SUPERSCRIPTS = "¹²³"
RESERVED_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"}
    | {f"{dev}{n}" for dev in ("COM", "LPT") for n in "0123456789" + _SUPERSCRIPTS}
)
UNNAMED = "未命名单位"


def clean_part(text: object, max_chars: int = NAME_CHARS) -> str:
    """One part of a file name, safe on Windows, macOS and Linux ("" when nothing usable is left).

    Path separators and the characters Windows forbids become "_", control and invisible
    format characters (bidi overrides, zero-width) go, runs of dots ("..") become "_",
    whitespace collapses to one space, and leading/trailing dots, spaces and "_" go.
    """
    if text is None or text is pd.NA or (isinstance(text, float) and math.isnan(text)):
        return ""
    out = []
    for ch in unicodedata.normalize("NFC", str(text)):
        cat = unicodedata.category(ch)
        if ch in _FORBIDDEN:
            out.append("_")
        elif cat == "Cc" or cat in ("Zl", "Zp"):
            out.append(" ")  # tab, newline, NUL …
        elif cat[0] == "C":
            continue  # format (bidi, zero-width), private use, unassigned, surrogates
        else:
            out.append(ch)
    s = "".join(out)
    s = re.sub(r"\.{2,}", "_", s)
    s = re.sub(r"\s+", " ", s)
    s = re.sub(r"_{2,}", "_", s)
    s = _trim(s)[:max_chars]
    return _trim(s)


def _trim(s: str) -> str:
    return s.strip(" ._").lstrip("~")


def _fit_bytes(s: str, limit: int) -> str:
    while len(s.encode("utf-8")) > limit:
        s = s[:-1]
    return _trim(s)


def _not_reserved(stem: str) -> str:
    """Windows refuses CON, NUL, COM1 … as a name, with any extension ("CON.x" too)."""
    base = stem.split(".")[0].rstrip(" ").upper()
    return f"_{stem}" if base in RESERVED_NAMES else stem


def file_stem(code: object, name: object, file: object) -> str:
    """`<单位编码>_<单位名称>`; without a usable code, the submission's file name stands in for it."""
    head = clean_part(code, CODE_CHARS)
    if not head:
        submitted = "" if file is None or file is pd.NA else str(file)
        head = clean_part(re.sub(r"\.[^./\\]*$", "", submitted), NAME_CHARS)  # without its extension
    tail = clean_part(name, NAME_CHARS)
    stem = "_".join(p for p in (head, tail) if p) or UNNAMED
    stem = _fit_bytes(stem, STEM_BYTES) or UNNAMED
    return _not_reserved(stem)


def unique_stems(stems: Iterable[str]) -> list[str]:
    """The stems, with "_2", "_3" … appended where two would name the same file.

    Compared case-insensitively (Windows and macOS file systems are)."""
    taken: set[str] = set()
    out = []
    for stem in stems:
        candidate, n = stem, 1
        while candidate.casefold() in taken:
            n += 1
            candidate = f"{stem}_{n}"
        taken.add(candidate.casefold())
        out.append(candidate)
    return out


def feedback_names(depts: pd.DataFrame) -> list[str]:
    """File names (with .xlsx) for the rows of `depts`, in their order.

    Counters are handed out in the order of 单位编码 and file, not of rank, so a department
    keeps its file name when scores change between runs."""
    stems = [file_stem(c, n, f) for c, n, f in zip(_col(depts, "dept_code"), _col(depts, "dept_name"), _col(depts, "file"))]
    order = sorted(range(len(stems)), key=lambda i: (stems[i].casefold(), str(_col(depts, "file")[i])))
    unique = unique_stems(stems[i] for i in order)
    names = [""] * len(stems)
    for i, stem in zip(order, unique):
        names[i] = stem + SUFFIX
    return names


def _col(df: pd.DataFrame, key: str) -> list:
    return df[key].tolist() if key in df else [None] * len(df)


# --- content ----------------------------------------------------------------------------


def _text(v: object) -> str:
    return "" if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else str(v)


def _number(v: object) -> float | None:
    return cell_values(pd.Series([v], dtype="object"), "score")[0]


def _rank_text(rank: object, of: int, group: str, why: str) -> str:
    r = _number(rank)
    if r is None:
        return f"未排名（{why}）"
    return f"第 {int(r)} 名 / 共 {of} 个{group}"


def _unranked_why(dept: Mapping, rules: Rules) -> str:
    """Why a department has no rank, in a word: its read status (未能复核 / 不计分), an 错误,
    a replaced file, or no department form."""
    status = _text(dept.get("read_status"))
    if status:
        return status
    if dept.get("has_error") is True or _number(dept.get("errors")):
        return "存在错误"
    if dept.get("superseded") is True:
        return "已被新文件取代"
    return rules.project_only if dept.get("has_dept_form") is False else "存在错误"


def _grade_rule(rules: Rules) -> str:
    names, bounds = rules.grade_names, rules.grade_bounds
    parts = []
    for i, (name, low) in enumerate(zip(names, bounds)):
        if i == 0:
            parts.append(f"{name} ≥ {low:g} 分")
        elif i == len(names) - 1 and low <= 0:
            parts.append(f"{name} < {bounds[i - 1]:g} 分")
        else:
            parts.append(f"{name} {low:g} 分至不足 {bounds[i - 1]:g} 分")
    return "；".join(parts)


def explanation(dept: Mapping, rules: Rules) -> list[str]:
    """How the 复核得分 came about, in a few plain sentences."""
    keep = "记 0 分" if rules.strict else "沿用自评得分，并在“审核问题”中提示"
    lines = [
        "复核得分由财政部门根据贵单位填报的原始数据重新计算，不直接采用自评得分。",
        f"整体支出复核得分＝“整体指标”各行复核得分之和（分值合计应为 {rules.department_total:g} 分）。"
        "预算执行率、三公经费控制率等六项比率由“基本信息”中的金额和人数自动计算。",
        f"比率先四舍五入到 0.01%，每项得分四舍五入保留 {rules.score_decimals} 位小数，且不超过该项分值。",
        "定量指标按计分方法比较实际值与指标值：正向指标按完成率计分或达到目标得满分，反向指标不超过指标值得满分；"
        f"定性指标按实际值中的等级词（如达成、基本达成、部分达成、未达成）计分；无法自动复核的指标{keep}。",
        f"每个项目的复核得分＝{rules.project_execution_weight:g}×min(全年执行数÷全年预算数, 100%)＋项目指标得分"
        f"（项目指标分值合计应为 {rules.project_indicator_total:g} 分）。",
        f"评价等级：{_grade_rule(rules)}。",
        "每项指标的计算过程和扣分原因见“指标复核”工作表，自评得分与复核得分不一致的行已标色；"
        "需要核实或修改的问题见“审核问题”工作表。",
    ]
    status = _text(dept.get("read_status"))
    if status:
        lines.append(f"本单位的自评{status}：{_text(dept.get('read_reason'))}；不计算总分、不评等级、不参与排名。"
                     "请按“审核问题”工作表的说明补全后重新提交。"
                     + ("“读取位置”工作表列出了表中每一项是从哪个单元格读到的。" if places.shown(dept.get("layout")) else ""))
    elif _number(dept.get("rank")) is None and _unranked_why(dept, rules) == "存在错误":
        lines.append(f"本单位的文件存在错误，未参与排名，评价等级为“{rules.unrated}”；"
                     "请按“审核问题”工作表中级别为“错误”的各项修改后重新提交，上面的复核得分仅供参考。")
    return lines


def _summary_rows(dept: Mapping, result: BatchResult, ranked: pd.DataFrame, rules: Rules) -> list[tuple[str, object, str]]:
    """(label, value, kind) for the 评价结果 sheet."""
    cat = _text(dept.get("dept_category"))
    in_cat = int((ranked["dept_category"].fillna("").astype(str) == cat).sum()) if "dept_category" in ranked else 0
    year = result.meta.get("year")
    rows: list[tuple[str, object, str]] = [
        ("单位", _text(dept.get("dept_name")), "text"),
        ("单位编码", _text(dept.get("dept_code")), "text"),
        ("单位类别", cat, "text"),
        ("提交文件", _text(dept.get("file")), "text"),
        ("评价年度", year, "int"),
        ("复核得分", dept.get("total"), "score"),
        ("自评得分", dept.get("self_total"), "score"),
        ("得分差异", dept.get("diff"), "score"),
        *([("抽评得分", dept.get("review_total"), "score"), ("最终得分", dept.get("final_total"), "score")]
          if _number(dept.get("review_total")) is not None else []),
        ("评价等级", _text(dept.get("grade")), "text"),
        ("排名", _rank_text(dept.get("rank"), len(ranked), "参评单位", _unranked_why(dept, rules)), "text"),
        ("类别排名", _rank_text(dept.get("cat_rank"), in_cat, f"“{cat}”类参评单位" if cat else "同类参评单位",
                            _unranked_why(dept, rules)), "text"),
    ]
    for method, col in RATE_COLUMNS.items():
        value = _number(dept.get(col))
        if value is None:
            zero = _number(dept.get(f"zero_{col}")) == 1
            rows.append((method, "分母为 0，无法计算" if zero else "数据不全，无法计算", "text"))
        else:
            rows.append((method, value, "rate"))
    rows += [
        ("项目数", dept.get("project_count"), "int"),
        ("项目平均得分", dept.get("project_avg"), "score"),
        ("错误 / 警告 / 提示", " / ".join(str(int(_number(dept.get(k)) or 0)) for k in ("errors", "warnings", "notes")), "text"),
        ("主要扣分项", _text(dept.get("top_deductions")) or "无", "wrap"),
    ]
    rows += [("复核方法" if i == 0 else "", line, "wrap") for i, line in enumerate(explanation(dept, rules))]
    rows.append(("评分规则", f"{rules.source}（摘要 {rules.digest}）", "text"))
    rows.append(("生成时间", _text(result.meta.get("finished") or result.meta.get("started")), "text"))
    return rows


def _write_summary(wb: xlsxwriter.Workbook, fmt: Formats, rows: list[tuple[str, object, str]]) -> None:
    ws = wb.add_worksheet(SHEET_RESULT)
    ws.set_column(0, 0, 18)
    ws.set_column(1, 1, 90)
    ws.write_string(0, 0, "事项", fmt.header)
    ws.write_string(0, 1, "内容", fmt.header)
    ws.set_row(0, 22)
    for r, (label, value, kind) in enumerate(rows, start=1):
        ws.write_string(r, 0, label, fmt.key)
        cell = fmt.kind[kind]
        if kind in ("text", "wrap"):
            if _text(value):
                ws.write_string(r, 1, _text(value), cell)
            else:
                ws.write_blank(r, 1, None, cell)
        else:
            number = cell_values(pd.Series([value], dtype="object"), kind)[0]
            if number is None:
                ws.write_blank(r, 1, None, cell)
            else:
                ws.write_number(r, 1, number, cell)
        if label == "评价等级" and value in fmt.fills:
            ws.conditional_format(r, 1, r, 1, {"type": "cell", "criteria": "==", "value": f'"{value}"', "format": fmt.fills[value]})
    ws.freeze_panes(1, 0)
    _print_summary(ws, rows)


def _print_summary(ws, rows: list[tuple[str, object, str]]) -> None:
    """评价结果 (事项 18, 内容 90 wide): wrapped text shown whole, printed on one A4 page."""
    for r, (_, value, kind) in enumerate(rows, start=1):
        if kind == "wrap" and printing.text_lines(_text(value), 90) > 1:
            ws.set_row(r, printing.row_height(_text(value), 90))
    printing.set_print_layout(ws, (18, 90), pages_high=1)


def _mark_differences(wb: xlsxwriter.Workbook, sheets: list[str], n: int, rules: Rules) -> None:
    """Colour the 指标复核 rows whose 得分差异 is not 0 (beyond the score tolerance)."""
    if n == 0:
        return
    c = next(i for i, col in enumerate(IND_COLUMNS) if col.source == "diff")
    letter = xl_col_to_name(c)
    fill = wb.add_format({"bg_color": DIFF_FILL})
    for name in sheets:
        ws = wb.get_worksheet_by_name(name)
        ws.conditional_format(1, 0, n, len(IND_COLUMNS) - 1, {
            "type": "formula",
            "criteria": f"=AND(ISNUMBER(${letter}2),ABS(${letter}2)>{rules.score_tolerance:g})",
            "format": fill,
        })


def _indicator_order(ind: pd.DataFrame) -> pd.DataFrame:
    """整体指标 first, then each project's indicators, in the order of the submission."""
    if ind.empty:
        return ind
    code = ind["project_code"].fillna("").astype(str) if "project_code" in ind else pd.Series("", index=ind.index)
    row = pd.to_numeric(ind["row"], errors="coerce") if "row" in ind else pd.Series(0, index=ind.index)
    return (ind.assign(_p=code.ne(""), _c=code, _r=row)
            .sort_values(["_p", "_c", "_r"], kind="stable").drop(columns=["_p", "_c", "_r"]))


def write_one(path: Path, dept: Mapping, result: BatchResult, parts: Mapping[str, pd.DataFrame],
              ranked: pd.DataFrame, rules: Rules) -> Path:
    """One department's feedback workbook at `path` (the caller moves it into place)."""
    wb = Workbook(str(path), WORKBOOK_OPTIONS)
    wb.set_properties({"title": "预算绩效自评复核结果反馈", "author": "evalbatch", "created": dt.datetime.now()})
    fmt = Formats(wb)
    _write_summary(wb, fmt, _summary_rows(dept, result, ranked, rules))
    ind = _indicator_order(parts["indicators"])
    sheets = write_table(wb, fmt, SHEET_INDICATORS, IND_COLUMNS, ind)
    _mark_differences(wb, sheets, len(ind), rules)
    write_table(wb, fmt, SHEET_PROJECTS, PROJECT_COLUMNS, parts["projects"])
    write_table(wb, fmt, SHEET_FINDINGS, FINDING_COLUMNS, parts["findings"])
    if places.shown(dept.get("layout")):
        write_table(wb, fmt, SHEET_PLACES, PLACES, places.read_places(dept, parts["projects"], ind))
    if len(parts.get("reviews", ())):
        write_table(wb, fmt, SHEET_REVIEWS, REVIEW_COLUMNS, parts["reviews"])
    wb.close()
    return path


def _by_file(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    if df is None or df.empty or "file" not in df:
        return {}
    return {str(k): g for k, g in df.groupby(df["file"].astype(str), sort=False)}


def _own_findings(findings: pd.DataFrame, file: str, code: str, by_file: dict, by_code: dict) -> pd.DataFrame:
    """The findings of the department's file, and those naming its code in another file
    (an older file it replaced: 被新文件取代)."""
    parts = [by_file.get(file)]
    if code:
        other = by_code.get(code)
        if other is not None:
            parts.append(other[other["file"].astype(str) != file])
    parts = [p for p in parts if p is not None and len(p)]
    return F.sort(pd.concat(parts)) if parts else F.frame()


def write_feedback(result: BatchResult, out_dir: str | Path, rules: Rules) -> list[Path]:
    """Write `out_dir/feedback/<单位编码>_<单位名称>_复核结果.xlsx` for every department, and for
    every department whose files could not be read (`unread_units`); the paths written."""
    folder, depts, unread, names = _planned(result, out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    ranked = depts[depts["rank"].notna()] if "rank" in depts else depts.iloc[0:0]
    indicators, projects = _by_file(result.indicators), _by_file(result.projects)
    findings = result.findings
    by_file = _by_file(findings)
    by_code = ({str(k): g for k, g in findings.groupby(findings["dept_code"].fillna("").astype(str), sort=False) if k}
               if len(findings) else {})
    empty = {"indicators": result.indicators.iloc[0:0], "projects": result.projects.iloc[0:0]}
    reviews = result.review.items if result.review is not None else pd.DataFrame(columns=["dept_code"])
    reviewed = {str(k): g for k, g in reviews.groupby(reviews["dept_code"].astype(str), sort=False)}
    written = []
    for dept, name in zip(depts.to_dict("records"), names):
        target = folder / name
        # Belt and braces: clean_part already made this impossible. (A planted symlink of
        # the same name is no risk: atomic_write's os.replace replaces the link itself.)
        if target.name != name or target.parent != folder or name in (".", ".."):
            raise ValueError(f"反馈文件名不安全：{name!r}")
        file, code = _text(dept.get("file")), _text(dept.get("dept_code"))
        parts = {
            "indicators": indicators.get(file, empty["indicators"]),
            "projects": projects.get(file, empty["projects"]),
            "findings": _own_findings(findings, file, code, by_file, by_code),
            "reviews": reviewed.get(code, reviews.iloc[0:0]) if code else reviews.iloc[0:0],
        }
        written.append(atomic_write(target, lambda p, d=dept, s=parts: write_one(p, d, result, s, ranked, rules)))
    for unit, name in zip(unread.to_dict("records"), names[len(depts):]):
        found = F.sort(pd.concat([by_file[f] for f in unit["files"] if f in by_file])) if unit["files"] else F.frame()
        written.append(atomic_write(_inside(folder, name), lambda p, u=unit, f=found: write_unread(p, u, f, result)))
    return written


def feedback_paths(result: BatchResult, out_dir: str | Path) -> list[Path]:
    """The paths `write_feedback` writes, in its order, without writing them."""
    folder, _, _, names = _planned(result, out_dir)
    return [folder / name for name in names]


def _planned(result: BatchResult, out_dir: str | Path) -> tuple[Path, pd.DataFrame, pd.DataFrame, list[str]]:
    """The feedback folder, the departments, the units whose files could not be read, and
    the workbooks' names (the departments', then those units')."""
    depts = result.depts.reset_index(drop=True)
    unread = unread_units(result)
    return Path(out_dir) / FEEDBACK_DIR, depts, unread, feedback_names(pd.concat([depts, unread], ignore_index=True) if len(unread) else depts)


# --- departments whose files could not be read ---------------------------------------------

RESUBMIT = [
    "按“审核问题”工作表中每个文件的说明处理后，用财政部门下发的填报模板（Excel 工作簿 .xlsx）重新保存；"
    "不要提交压缩包、PDF、图片、CSV 或 WPS 表格（.et）等其他格式，也不要给文件设置打开密码。",
    "提交前在 Excel 或 WPS 中打开一次，确认各工作表完整、能正常显示；文件名写成“单位编码_单位名称.xlsx”（如 620101_省委编办.xlsx）。",
    "把新文件按通知放到原来提交的位置即可（原来的文件可以删除；同一单位有几个文件时以最新的为准），"
    "下一次汇总时会自动重新复核，并生成新的复核结果。",
]


def unread_units(result: BatchResult) -> pd.DataFrame:
    """Those who sent only files that could not be read (status 无法使用): one row per 单位编码
    their file names give, or per file without one; a code that is also a department's of this
    batch is left out (its feedback file lists these files' problems). Columns dept_code,
    dept_name (from the file name, unmarked), file (the first file: for the file name), files."""
    from ..read.discover import REJECTED

    known = set(result.depts["dept_code"].fillna("").astype(str)) if "dept_code" in result.depts else set()
    units: dict[tuple[str, str], dict] = {}
    for rec in result.records:
        if rec.status != REJECTED or rec.name.endswith("/"):  # an unreadable folder is no department's
            continue
        code, name = ids_from_name(rec.name)
        if code in known and code:
            continue
        unit = units.setdefault((code, "" if code else rec.name), {"dept_code": code, "dept_name": name, "file": rec.name, "files": []})
        unit["dept_name"] = unit["dept_name"] or name
        unit["files"].append(rec.name)
    return pd.DataFrame(list(units.values()), columns=["dept_code", "dept_name", "file", "files"])


def _unread_rows(unit: Mapping, findings: pd.DataFrame, result: BatchResult) -> list[tuple[str, object, str]]:
    """评价结果 of a department whose files could not be read: whose (and how we know), what went
    wrong with each file, what to do."""
    code, name, files = unit["dept_code"], unit["dept_name"], unit["files"]
    errors = findings[findings["level"] == F.ERROR] if len(findings) else findings
    rows: list[tuple[str, object, str]] = [
        ("单位", marked_name(name) if code else "（文件名中没有单位编码，无法确定单位）", "text"),
        ("单位编码", f"{code}{FROM_NAME}" if code else "", "text"),
        ("提交文件", "、".join(files), "wrap"),
        ("评价年度", result.meta.get("year"), "int"),
        ("处理结果", ("提交的文件" if len(files) == 1 else f"提交的 {len(files)} 个文件都")
         + "无法读取，本次没有复核评分，也未参与排名，评价等级暂无。", "wrap"),
    ]
    problems = [f"{f}：{m}" for f, m in zip(errors["file"], errors["message"])] if len(errors) else ["文件无法读取"]
    rows += [("问题" if i == 0 else "", text, "wrap") for i, text in enumerate(problems)]
    rows += [("怎样重新提交" if i == 0 else "", text, "wrap") for i, text in enumerate(RESUBMIT)]
    rows.append(("生成时间", _text(result.meta.get("finished") or result.meta.get("started")), "text"))
    return rows


def write_unread(path: Path, unit: Mapping, findings: pd.DataFrame, result: BatchResult) -> Path:
    """The feedback workbook of a department whose files could not be read: 评价结果 (what went
    wrong, how to resubmit) and 审核问题 (every finding of its files)."""
    wb = Workbook(str(path), WORKBOOK_OPTIONS)
    wb.set_properties({"title": "预算绩效自评复核结果反馈（文件无法读取）", "author": "evalbatch", "created": dt.datetime.now()})
    fmt = Formats(wb)
    _write_summary(wb, fmt, _unread_rows(unit, findings, result))
    write_table(wb, fmt, SHEET_FINDINGS, FINDING_COLUMNS, findings)
    wb.close()
    return path


def _inside(folder: Path, name: str) -> Path:
    """folder / name, refused unless it names a file right inside `folder` (clean_part makes
    anything else impossible; this is belt and braces)."""
    target = folder / name
    if target.name != name or target.parent != folder or name in (".", ".."):
        raise ValueError(f"反馈文件名不安全：{name!r}")
    return target
