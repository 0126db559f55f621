"""Findings (审核问题): what is wrong, where, how bad, in plain Chinese.

Every rule has a stable id, a level and a short Chinese title, defined once in `RULES`.
Findings travel as rows of one DataFrame with the columns of `COLUMNS`.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

ERROR, WARNING, NOTE = "错误", "警告", "提示"
LEVEL_ORDER = {ERROR: 0, WARNING: 1, NOTE: 2}

# rule id → (level, title). The title is the 规则 column of 审核问题.
RULES: dict[str, tuple[str, str]] = {
    "file.empty": (ERROR, "空文件"),
    "file.too_large": (ERROR, "文件过大"),
    "file.unreadable": (ERROR, "文件无法读取"),
    "file.truncated": (ERROR, "文件损坏"),
    "file.not_spreadsheet": (ERROR, "不是电子表格"),
    "file.encrypted": (ERROR, "文件已加密"),
    "file.suspicious": (ERROR, "疑似恶意文件"),
    "file.internal": (ERROR, "处理异常"),
    "file.encoding": (ERROR, "不支持的文字编码"),
    "file.sandbox_memory": (ERROR, "读取时内存超限"),
    "file.sandbox_time": (ERROR, "读取超时"),
    "file.sandbox_crash": (ERROR, "读取进程异常退出"),
    # Found in the folder but not read (batch.discover, reader.read_bytes).
    "file.not_regular": (ERROR, "不是普通文件"),
    "file.archive": (ERROR, "压缩包"),
    "file.unsupported": (ERROR, "不支持的文件类型"),
    "folder.unreadable": (ERROR, "文件夹无法读取"),
    "file.long_path": (NOTE, "路径过长"),
    "file.clock_skew": (NOTE, "修改时间在未来"),
    "file.name_escaped": (NOTE, "文件名编码无效"),
    "file.name_trailing": (NOTE, "文件名以空格或句点结尾"),
    "file.macro": (WARNING, "含宏代码"),
    "file.pending": (NOTE, "文件写入中"),
    "file.superseded": (WARNING, "被新文件取代"),
    "file.identical": (NOTE, "重复提交相同文件"),
    "file.same_time": (ERROR, "同一单位两个文件无法取舍"),
    "template.version": (ERROR, "模板版本不符"),
    "sheet.missing": (ERROR, "缺少工作表"),
    "sheet.ambiguous": (ERROR, "工作表重名"),
    "sheet.hidden_ignored": (WARNING, "隐藏工作表未读取"),
    "table.total_row": (NOTE, "合计行"),
    "table.total_mismatch": (WARNING, "合计行与各行之和不符"),
    "header.missing": (ERROR, "缺少表头"),
    "field.missing": (ERROR, "缺少填报项"),
    "field.duplicate": (WARNING, "填报项重复"),
    "value.required": (ERROR, "必填项为空"),
    "value.unreadable": (ERROR, "数值无法识别"),
    "value.enum": (ERROR, "选项无效"),
    "value.negative": (ERROR, "数值为负"),
    "value.year": (ERROR, "评价年度不符"),
    "value.unit": (WARNING, "单位不一致"),
    "value.out_of_range": (ERROR, "数值超出范围"),
    "value.boolean": (ERROR, "逻辑值不是数字"),
    "value.error_cell": (ERROR, "单元格为错误值"),
    "value.formula_no_result": (ERROR, "公式没有计算结果"),
    "value.too_long": (WARNING, "文字过长已截断"),
    "value.code_normalised": (NOTE, "编码已规范化"),
    "value.digits_lost": (ERROR, "长编码按数字填写"),
    "project.duplicate": (WARNING, "项目编码重复"),
    "project.twin": (NOTE, "同一项目的两份文件"),
    "project.unknown": (WARNING, "项目编码不存在"),
    "arith.rounding": (NOTE, "尾差"),
    "arith.mismatch": (WARNING, "勾稽不符"),
    "weight.total": (WARNING, "分值合计不符"),
    "weight.over": (ERROR, "分值合计超过满分"),
    "score.range": (WARNING, "自评得分超出范围"),
    "score.diff": (WARNING, "自评得分与复核不符"),
    "score.total_diff": (WARNING, "自评总分与复核不符"),
    "score.exec_mismatch": (WARNING, "绩效与预算执行不匹配"),
    "score.full_below_target": (WARNING, "未达目标却得满分"),
    "score.reason_missing": (WARNING, "未填偏差原因"),
    "score.unverifiable": (WARNING, "无法复核"),
    "score.zero_denominator": (WARNING, "分母为零"),
    "score.level_unknown": (NOTE, "定性等级无法识别"),
    "score.level_negated": (NOTE, "定性否定词记 0 分"),
    "score.level_approximate": (NOTE, "定性等级按近似词计"),
    "score.method_inferred": (NOTE, "计分方法推定"),
    "exec.over": (WARNING, "执行率超过100%"),
    "score.capped_by_execution": (NOTE, "总分受执行率封顶"),
    # Official forms (项目支出绩效自评表, 部门整体支出绩效自评表).
    "form.unknown": (ERROR, "无可识别的自评表"),
    "form.no_unit": (ERROR, "缺少单位"),
    "form.many_units": (ERROR, "多个单位"),
    "form.grouped": (NOTE, "按主管部门汇总"),
    "form.code_derived": (NOTE, "单位编码自动生成"),
    "form.placeholder": (NOTE, "占位行"),
    "form.no_indicators": (WARNING, "缺少绩效指标表"),
    "form.no_funds": (WARNING, "缺少资金表"),
    "form.no_total": (NOTE, "缺少总分"),
    "form.extra_dept": (WARNING, "部门整体表重复"),
    "form.title_only": (NOTE, "只有表名"),
    "form.same_project": (WARNING, "同一项目的第二张表"),
    "form.weight_by_content": (NOTE, "分值列按内容识别"),
    "form.no_level1": (NOTE, "一级指标列为空"),
    "form.group_points": (NOTE, "合并的分值或得分已分配"),
    "form.exec_weight": (ERROR, "执行率分值超出规则"),
    "form.unplaced": (NOTE, "表头或行标签未识别"),
    "result.unreviewed": (WARNING, "未能复核"),
    "result.unscored": (NOTE, "不计分"),
    "project.code_derived": (NOTE, "项目编码自动生成"),
    "funds.mismatch": (WARNING, "资金总额与来源不符"),
    "funds.from_sources": (WARNING, "资金总额为空"),
    "score.over_weight": (ERROR, "得分超过分值"),
    "score.exec_diff": (WARNING, "执行率得分与复核不符"),
    "score.deducted_met": (NOTE, "达标却扣分"),
    "weight.l1_declared": (WARNING, "一级指标分值不符"),
    "value.actual_sign": (NOTE, "实际值带比较符"),
    # Re-review (抽评): the filled review workbooks a run reads (evalbatch/review/). Their
    # `file` is the review workbook, never a submission: no department is unranked by them.
    "review.unreadable": (ERROR, "抽评表无法读取"),
    "review.score_invalid": (ERROR, "抽评得分无效"),
    "review.rubric_invalid": (ERROR, "质量评分无效"),
    "review.date_invalid": (WARNING, "复核日期无效"),
    "review.unknown": (ERROR, "抽评对象不存在"),
    "review.changed": (ERROR, "抽评表锁定内容被修改"),
    "review.stale": (WARNING, "抽取后提交文件已变化"),
    "review.weight_changed": (WARNING, "抽取后分值已改变"),
    "review.conflict": (WARNING, "抽评结果不一致"),
    "review.unmatched": (WARNING, "抽评指标本次未找到"),
    "review.internal": (ERROR, "抽评处理异常"),
    # The roster (名单, evalbatch/roster/): problems in the bureau's list, and submissions
    # measured against it. The list's own findings name the roster file, not a submission.
    "roster.unreadable": (ERROR, "名单无法读取"),
    "roster.header": (ERROR, "名单缺少表头"),
    "roster.code_blank": (ERROR, "名单单位编码为空"),
    "roster.name_blank": (ERROR, "名单单位名称为空"),
    "roster.duplicate": (ERROR, "名单单位编码重复"),
    "roster.value": (WARNING, "名单数值无效"),
    "roster.unknown_unit": (WARNING, "单位不在名单中"),
    "roster.matched_by_name": (NOTE, "按单位名称匹配名单"),
    "roster.differs": (NOTE, "与名单不一致"),
}
LEVELS = (ERROR, WARNING, NOTE)

COLUMNS = ["file", "dept_code", "dept_name", "sheet", "cell", "level", "rule_id", "rule", "message"]
# The 审核问题 sheet's headers for those columns.
HEADERS = {
    "file": "文件", "dept_code": "单位编码", "dept_name": "单位名称", "sheet": "工作表", "cell": "单元格",
    "level": "级别", "rule_id": "规则编号", "rule": "规则", "message": "说明",
}


def one(rule_id: str, message: str, *, file: str = "", sheet: str = "", cell: str = "") -> dict:
    level, title = RULES[rule_id]
    return {"file": file, "dept_code": "", "dept_name": "", "sheet": sheet, "cell": cell,
            "level": level, "rule_id": rule_id, "rule": title, "message": message}


_EMPTY = pd.DataFrame([], columns=COLUMNS).astype("object")


def frame(rows: list[dict] | None = None) -> pd.DataFrame:
    # No findings is the common answer (a check of one file asks some 300 questions, most
    # answered "none"): a copy of one empty frame costs a fiftieth of building it again.
    if not rows:
        return _EMPTY.copy()
    return pd.DataFrame(rows, columns=COLUMNS).astype("object")


def where(df: pd.DataFrame, mask: pd.Series, rule_id: str, message, *, sheet, cell) -> pd.DataFrame:
    """Findings for every row of `df` where `mask` holds, vectorised.

    `df` must carry `file` (and may carry dept_code/dept_name); `sheet`, `cell` and
    `message` are Series aligned with `df`, or one value for all. `message` may also be a
    function of the matching rows (a sub-frame of `df`), so that on long tables the text
    is only built for the few rows that need it.
    """
    if mask.dtype == bool and not mask.to_numpy().any():
        return frame()  # the usual case, without the two copies below
    mask = mask.fillna(False).astype(bool)
    if not mask.any():
        return frame()
    sub = df.loc[mask]
    level, title = RULES[rule_id]
    if callable(message):
        message = message(sub).reindex(df.index)

    def pick(v):
        return v.loc[mask].astype("object").to_numpy() if isinstance(v, pd.Series) else v

    def place(v):
        """A sheet or cell that is missing (a column never filled, a letter not found) is
        written as blank, never NaN: the workbook shows it and `sort` reads it."""
        v = pick(v)
        return np.where(pd.isna(v), "", v) if isinstance(v, np.ndarray) else ("" if v is None or v is pd.NA else v)

    out = pd.DataFrame(
        {
            # Rows of a department gathered from several files name the file they came from.
            "file": (sub["source"] if "source" in sub else sub["file"]).to_numpy(),
            "dept_code": sub["dept_code"].to_numpy() if "dept_code" in sub else "",
            "dept_name": sub["dept_name"].to_numpy() if "dept_name" in sub else "",
            "sheet": place(sheet),
            "cell": place(cell),
            "level": level,
            "rule_id": rule_id,
            "rule": title,
            "message": pick(message),
        }
    )
    return out[COLUMNS].astype("object")


def concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return frame()
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def relevel(findings: pd.DataFrame, levels: dict[str, str]) -> pd.DataFrame:
    """The levels a bureau's rules file sets ([levels]: rule id → 错误/警告/提示), in place."""
    if levels and len(findings):
        findings["level"] = findings["rule_id"].map(levels).fillna(findings["level"])
    return findings


# The sheets of a submission in the order an accountant meets them in the template.
_SHEET_ORDER = ("", "基本信息", "整体指标", "项目", "项目指标", "项目支出明细")
_CELL = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)")


def _cell_keys(cells: pd.Series) -> tuple[pd.Series, pd.Series]:
    """G8 → row 8, column 7: down the sheet, then across; a cell that is no address (a range's
    text, blank, missing) before any address of its sheet."""
    parts = cells.fillna("").astype(str).str.extract(_CELL)
    letters = parts[0].fillna("").str.upper().str.pad(3, fillchar="@")  # "@" is 64: worth 0
    col = sum((letters.str[i].map(ord) - 64) * 26 ** (2 - i) for i in range(3))
    return pd.to_numeric(parts[1], errors="coerce").fillna(0).astype(int), col.astype(int)


def sort(findings: pd.DataFrame) -> pd.DataFrame:
    """As an accountant works: file by file, sheet by sheet (the template's order, then any
    other sheet by name), cell by cell down the sheet, and in one cell 错误 before 警告
    before 提示; otherwise in the order they were found."""
    if findings.empty:
        return findings
    sheet = findings["sheet"].fillna("").astype(str)
    order = {name: i for i, name in enumerate(_SHEET_ORDER)}
    rows, cols = _cell_keys(findings["cell"])
    keys = pd.DataFrame({
        "_f": findings["file"].fillna("").astype(str).to_numpy(),
        "_s": sheet.map(order).fillna(len(order)).to_numpy(),
        "_n": sheet.to_numpy(),
        "_r": rows.to_numpy(),
        "_c": cols.to_numpy(),
        "_k": findings["level"].map(LEVEL_ORDER).fillna(9).to_numpy(),
    }, index=findings.index)
    return (
        pd.concat([findings, keys], axis=1)
        .sort_values(list(keys.columns), kind="stable")
        .drop(columns=list(keys.columns))
        .reset_index(drop=True)
    )


# Rules that say the same thing about one cell (an indicator's self-score is not what its
# figures give): on the same cell they are one row. The first present in this order leads (it
# says why); what the others add follows its statement, before its request. (A total's cap,
# score.capped_by_execution, explains a figure rather than asking for a change: it stays apart.)
SAME_POINT = {
    "score.over_weight": "自评得分", "score.range": "自评得分", "score.full_below_target": "自评得分",
    "score.deducted_met": "自评得分", "score.diff": "自评得分",
}
_LEAD = {rule: i for i, rule in enumerate(SAME_POINT)}
# A message is 「name」statement；请… (the request): the name and the request are said once.
_NAMED = re.compile(r"^(「[^」]*」)")
_ASK = "；请"


def merge_same(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings about one cell that say the same thing as one row: the same message twice, or
    rules of one `SAME_POINT`. The row keeps the most severe level, the lead rule and its
    request; an accountant reads one row per thing to fix. Rows without a cell stay apart."""
    if findings.empty:
        return findings
    findings = findings.reset_index(drop=True)
    cell = findings["cell"].fillna("").astype(str)
    topic = findings["rule_id"].map(SAME_POINT).fillna("=" + findings["message"].astype(str))
    key = pd.DataFrame({"f": findings["file"].fillna("").astype(str), "s": findings["sheet"].fillna("").astype(str),
                        "c": cell, "t": topic})
    shared = key.duplicated(keep=False) & cell.ne("")
    if not shared.any():
        return findings
    rows = findings[shared].assign(
        _g=key[shared].groupby(list(key.columns), sort=False).ngroup(),
        _lead=findings["rule_id"].map(_LEAD).fillna(len(_LEAD)), _lv=findings["level"].map(LEVEL_ORDER).fillna(9))
    rows = rows.sort_values(["_g", "_lead", "_lv"], kind="stable")  # stable: found order last
    g = rows.groupby("_g", sort=True)
    # The lead row, at the place of the group's first row, with the group's most severe level.
    lead = g.head(1).set_index("_g").sort_index()
    lead["message"] = g["message"].agg(lambda m: _joined(list(m)))
    lead["level"] = g["_lv"].min().map({v: k for k, v in LEVEL_ORDER.items()}).fillna(lead["level"])
    lead.index = pd.Series(rows.index, index=rows.index).groupby(rows["_g"]).min().sort_index().to_numpy()
    return pd.concat([findings[~shared], lead[COLUMNS]]).sort_index().reset_index(drop=True).astype("object")


def _joined(messages: list[str]) -> str:
    """The lead message with what the others add: their clauses (without the repeated 「name」,
    request, or anything the lead already says) before the lead's request."""
    lead = str(messages[0])
    name = _NAMED.match(lead)
    statement, ask = (lead[: lead.rindex(_ASK)], lead[lead.rindex(_ASK):]) if _ASK in lead else (lead, "")
    said = [statement]
    for m in map(str, messages[1:]):
        part = m[: m.rindex(_ASK)] if _ASK in m else m
        if name and part.startswith(name.group(1)):
            part = part[len(name.group(1)):]
        new = "，".join(c for c in _clauses(part) if c and c not in statement)
        if new and new not in said:
            said.append(new)
    return "；".join(said) + ask


def _clauses(text: str) -> list[str]:
    """`text` split at its commas outside brackets: "自评得分 3.5，复核得分 3.00（完成率 100%，…）"."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "（(“":
            depth += 1
        elif ch in "）)”":
            depth -= 1
        elif ch == "，" and depth <= 0:
            out.append(text[start:i])
            start = i + 1
    return [*out, text[start:]]
