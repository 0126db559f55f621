"""Checks across the assembled frames (审核规则 of docs/scoring.md), vectorised over all files.

Money is compared in whole hundredths of 万元: a difference within the tolerance is a 提示
(尾差), beyond it a 警告.
"""

from __future__ import annotations

import pandas as pd

from .. import findings as F
from .. import schema as S
from ..read.assemble import INFO_FIELDS, Frames
from ..rules import Rules
from ..values import number_text, score_text, to_cents
from .scoring import APPROXIMATE, DENOMINATORS, NEGATED, TOTAL_FIELDS


def _wan(cents: pd.Series) -> pd.Series:
    """Hundredths of 万元 → "1,458.06" for messages."""
    return number_text(cents.astype("float64") / 100, "{:,.2f}")


def compare_money(df: pd.DataFrame, left: pd.Series, right: pd.Series, *, rules: Rules, sheet, cell, left_name, right_name,
                  rule_id: str = "arith.mismatch") -> pd.DataFrame:
    """尾差 / 勾稽不符 (or `rule_id`) findings where two 万元 amounts differ. Missing operands are skipped."""
    lc, rc = to_cents(left), to_cents(right)
    diff = (lc - rc).abs()
    known = lc.notna() & rc.notna()
    tol = rules.tolerance_cents
    rounding = known & (diff > 0) & (diff <= tol)
    mismatch = known & (diff > tol)
    right_name = right_name if isinstance(right_name, pd.Series) else pd.Series(right_name, index=df.index)
    base = left_name + "＝" + _wan(lc) + " 万元，" + right_name + "为 " + _wan(rc) + " 万元，相差 " + _wan(diff) + " 万元"
    return F.concat([
        F.where(df, rounding, "arith.rounding", base + f"（在容差 {rules.tolerance:g} 万元以内，属尾差，仅作记录）", sheet=sheet, cell=cell),
        F.where(df, mismatch, rule_id, base + f"，超过容差 {rules.tolerance:g} 万元；请核对并更正相关数字", sheet=sheet, cell=cell),
    ])


def _sum_known(df: pd.DataFrame, keys: list[str]) -> pd.Series:
    """The sum of the parts, blank parts as 0; missing when every part is blank."""
    parts = df[keys]
    return parts.fillna(0).sum(axis=1).where(parts.notna().any(axis=1))


def check_money(frames: Frames, rules: Rules) -> pd.DataFrame:
    d = frames.depts
    if d.empty:
        return F.frame()
    sheet = d["info_sheet"]
    income = d[["carryover_begin", "appropriation"]].sum(axis=1, min_count=2) + d["other_income"].fillna(0)
    budget = d[["basic_budget", "project_budget"]].sum(axis=1, min_count=2)
    spent = d[["basic_spent", "project_spent"]].sum(axis=1, min_count=2)
    parts = [
        compare_money(d, _sum_known(d, ["personnel_spent", "operating_spent"]).where(d[["personnel_spent", "operating_spent"]].notna().all(axis=1)),
                      d["basic_spent"], rules=rules, sheet=sheet, cell=d["cell_basic_spent"],
                      left_name="人员经费＋公用经费", right_name="基本支出执行数"),
        compare_money(d, _sum_known(d, ["car_spent", "reception_spent", "abroad_spent"]), d["sangong_spent"], rules=rules,
                      sheet=sheet, cell=d["cell_sangong_spent"], left_name="公务用车＋公务接待＋因公出国（境）费", right_name="三公经费执行数"),
        compare_money(d, income, budget, rules=rules, sheet=sheet, cell=d["cell_basic_budget"],
                      left_name="收入合计（年初结转结余＋财政拨款收入＋其他收入）", right_name="预算合计（基本支出预算数＋项目支出预算数）"),
        compare_money(d, income - spent, d["carryover_end"], rules=rules, sheet=sheet, cell=d["cell_carryover_end"],
                      left_name="收入合计－支出合计", right_name="年末结转结余"),
        _projects_within_spending(frames, rules),
        _details_add_up(frames, rules),
    ]
    return F.concat(parts)


def _projects_within_spending(frames: Frames, rules: Rules) -> pd.DataFrame:
    p = frames.projects
    if p.empty:
        return F.frame()
    total = p.groupby("file")["spent"].sum(min_count=1)
    d = frames.depts.assign(_projects=frames.depts["file"].map(total))
    over = (to_cents(d["_projects"]) - to_cents(d["project_spent"])) > rules.tolerance_cents
    msg = ("各项目全年执行数合计 " + _wan(to_cents(d["_projects"])) + " 万元，超过项目支出执行数 "
           + _wan(to_cents(d["project_spent"])) + " 万元；请核对项目表与基本信息")
    return F.where(d, over, "arith.mismatch", msg, sheet=d["info_sheet"], cell=d["cell_project_spent"])


def _details_add_up(frames: Frames, rules: Rules) -> pd.DataFrame:
    det, p = frames.details, frames.projects
    if det.empty or p.empty:
        return F.frame()
    sums = det.groupby(["file", "project_code"], as_index=False)["amount"].sum(min_count=1)
    m = p.merge(sums, on=["file", "project_code"], how="inner")
    name = "项目 " + m["project_code"].astype(str) + " 的支出明细合计"
    right = "全年执行数"
    return compare_money(m, m["amount"], m["spent"], rules=rules, sheet=S.PROJECT_SHEET, cell=m["cell_spent"], left_name=name, right_name=right)


def check_year(frames: Frames, year: int | None) -> pd.DataFrame:
    d = frames.depts
    if year is None or d.empty:
        return F.frame()
    wrong = d["year"].notna() & (d["year"] != year)
    msg = "评价年度填写为 " + d["year"].astype("Int64").astype(str) + f"，本次汇总的是 {year} 年度；请确认是否提交了其他年度的文件"
    return F.where(d, wrong, "value.year", msg, sheet=d["info_sheet"], cell=d["cell_year"])


def check_weights(frames: Frames, rules: Rules) -> pd.DataFrame:
    ind = frames.indicators
    if ind.empty:
        return F.frame()
    # Rows with points other than the execution row a funds block gives: none means 不计分.
    printed = ind["weight"].where(ind["method"].ne("预算执行率") | ind["project_code"].ne("")) if "method" in ind else ind["weight"]
    narrow = ind[["file", "project_code", "weight", "row", "sheet", "cell_weight", "dept_code", "dept_name"]]
    g = narrow.assign(_printed=printed).groupby(["file", "project_code"], as_index=False).agg(
        total=("weight", "sum"), weighted=("_printed", "count"), first=("row", "min"), last=("row", "max"), sheet=("sheet", "first"),
        col=("cell_weight", "first"), dept_code=("dept_code", "first"), dept_name=("dept_name", "first"))
    is_dept = g["project_code"].eq("")
    # A form worth 20 points of execution leaves 80 to its indicators (湖北-style forms).
    full = rules.project_indicator_total + rules.project_execution_weight
    ew = g.merge(frames.projects[["file", "project_code", "exec_weight"]].drop_duplicates(["file", "project_code"]),
                 on=["file", "project_code"], how="left")["exec_weight"].fillna(rules.project_execution_weight).to_numpy()
    want = pd.Series(full - ew, index=g.index).where(~is_dept, rules.department_total)
    off = (to_cents(g["total"]) != to_cents(want))
    letter = g["col"].str.extract(r"^([A-Z]+)")[0]
    cell = letter + g["first"].astype(str) + ":" + letter + g["last"].astype(str)
    who = is_dept.map({True: "整体指标", False: ""}) + g["project_code"].where(~is_dept, "").radd("项目 ").where(~is_dept, "")
    over = ~is_dept & (g["total"] + ew > full + rules.score_tolerance)
    plain = ("（加上预算执行率的 " + number_text(pd.Series(ew, index=g.index)) + " 分，共 " + number_text(g["total"] + ew)
             + f" 分，超过满分 {full:g} 分）").where(over, "")
    msg = who + "的分值合计为 " + number_text(g["total"]) + plain + "，应为 " + number_text(want) + "；请调整各指标分值"
    # Over the maximum, a total could pass 100: the department is not ranked on it.
    over_max = g["total"] > want + rules.score_tolerance
    # A form whose indicators carry no points at all is 不计分 (result.unscored says so), not a
    # form whose points add up to 0.
    return F.concat([F.where(g, off & ~over_max & g["weighted"].gt(0), "weight.total", msg, sheet=g["sheet"], cell=cell),
                     F.where(g, over_max, "weight.over",
                             msg.str.replace("；请调整各指标分值", "，超过满分，复核得分按满分封顶、不参与排名；请调整各指标分值", regex=False),
                             sheet=g["sheet"], cell=cell),
                     _declared_l1(ind, rules)])


def _declared_l1(ind: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """`产出指标(50分)`: the points a 一级 label declares against the sum of its rows."""
    declared = ind.loc[ind["l1_points"].notna(), ["file", "project_code", "l1", "l1_points", "weight", "sheet", "cell_l1", "dept_code", "dept_name"]]
    if declared.empty:
        return F.frame()
    g = declared.groupby(["file", "project_code", "l1"], as_index=False, observed=True).agg(
        points=("l1_points", "first"), total=("weight", "sum"), weighted=("weight", "count"), sheet=("sheet", "first"),
        cell=("cell_l1", "first"),
        dept_code=("dept_code", "first"), dept_name=("dept_name", "first"))
    # Rows that print no 分值 at all (湖北-style forms give points to the 一级 group only) have
    # nothing to add up: the form is 不计分, not a mismatch.
    off = ((to_cents(g["points"]) - to_cents(g["total"])).abs() > round(rules.score_tolerance * 100)) & g["weighted"].gt(0)
    msg = ("一级指标“" + g["l1"].astype(str) + "”注明 " + number_text(g["points"]) + " 分，其下各三级指标分值合计为 "
           + number_text(g["total"]) + "；请核对分值")
    return F.where(g, off, "weight.l1_declared", msg, sheet=g["sheet"], cell=g["cell"])


def check_score_range(frames: Frames, rules: Rules) -> pd.DataFrame:
    ind = frames.indicators
    if ind.empty:
        return F.frame()
    below = ind["self_score"] < -rules.score_tolerance
    above = ind["self_score"] > ind["weight"] + rules.score_tolerance
    return F.concat([
        F.where(ind, below, "score.range", lambda d: _name(d) + "自评得分 " + number_text(d["self_score"]) + " 为负数，应在 0 至分值 "
                + number_text(d["weight"]) + " 之间；请更正", sheet=ind["sheet"], cell=ind["cell_self_score"]),
        F.where(ind, above, "score.over_weight", lambda d: _name(d) + "自评得分 " + number_text(d["self_score"]) + " 超过分值 "
                + number_text(d["weight"]) + "，得分不能高于分值；请更正", sheet=ind["sheet"], cell=ind["cell_self_score"]),
    ])


def check_projects(frames: Frames) -> pd.DataFrame:
    p, ind, det = frames.projects, frames.indicators, frames.details
    parts = []
    if not p.empty:
        dup = p.duplicated(["file", "project_code"], keep="first") & p["project_code"].notna()
        msg = "项目编码 " + p["project_code"].astype(str) + " 重复出现；只采用第一行，请删除或更正重复的项目"
        parts.append(F.where(p, dup, "project.duplicate", msg, sheet=p["sheet"], cell=p["cell_project_code"]))
    known = p[["file", "project_code"]].drop_duplicates().assign(_known=True)
    # Only the columns a finding needs: the indicators are a country's rows, never copied whole.
    wanted = ["file", "source", "dept_code", "dept_name", "project_code", "sheet", "cell_project_code"]
    for df in (ind.loc[ind["project_code"] != "", [c for c in wanted if c in ind]], det):
        if df.empty:
            continue
        found = df[["file", "project_code"]].merge(known, on=["file", "project_code"], how="left")["_known"]
        orphan = pd.Series(found.isna().to_numpy(), index=df.index) & df["project_code"].notna()
        parts.append(F.where(df, orphan, "project.unknown", lambda d: "项目编码 " + d["project_code"].astype(str)
                             + f" 不在「{S.PROJECT_SHEET}」表中；请先在「{S.PROJECT_SHEET}」表登记该项目，或更正编码",
                             sheet=df["sheet"], cell=df["cell_project_code"]))
    return F.concat(parts)


def check_frames(frames: Frames, rules: Rules, year: int | None) -> pd.DataFrame:
    """Every check of one or many files that does not need the recomputed scores."""
    return F.concat([
        check_year(frames, year),
        check_money(frames, rules),
        check_weights(frames, rules),
        check_score_range(frames, rules),
        check_projects(frames),
    ])


# --- self-assessment checks, on the recomputed scores -----------------------------------


def check_scores(scored, rules: Rules) -> pd.DataFrame:
    """自评得分 against 复核得分, and the other checks of what the department claims."""
    ind, d, p = scored.indicators, scored.depts, scored.projects
    parts = []
    if len(ind):
        parts += _indicator_checks(ind, rules)
        parts.append(zero_denominators(ind, d))
    if len(d):
        off = d["diff"].abs() > rules.score_tolerance
        msg = ("自评总分 " + number_text(d["self_total"]) + "，复核总分 " + number_text(d["total"], "{:.2f}")
               + "，相差 " + number_text(d["diff"], "{:+.2f}") + "；请按复核结果核对各指标得分")
        parts.append(F.where(d, off, "score.total_diff", msg, sheet=d["info_sheet"], cell=d["cell_self_total"]))
        parts.append(_capped(d, "部门整体", d["rate_0"], d["info_sheet"], d["cell_self_total"]))
        for method in ("预算执行率", "基本支出执行率", "项目支出执行率"):
            col = d[f"rate_{S.AUTO_METHODS.index(method)}"]
            msg = method + " " + number_text(col * 100, "{:.2f}") + "%，超过 100%；请核对执行数与预算数"
            cell = d["cell_basic_spent"] if method == "基本支出执行率" else d["cell_project_spent"]
            parts.append(F.where(d, col > 1, "exec.over", msg, sheet=d["info_sheet"], cell=cell))
    if len(p):
        parts += _project_checks(p, rules)
    parts += _not_graded(d, p)
    return F.concat(parts)


_UNREVIEWED_THEN = "；不计算总分、不评等级、不参与排名。请补全后重新提交；如表中写法不同，请在规则 [forms] 中加上该写法"
_UNSCORED_THEN = "；已读取目标与完成情况并检查，不计算总分、不评等级、不参与排名"


def _not_graded(d: pd.DataFrame, p: pd.DataFrame) -> list[pd.DataFrame]:
    """One finding per department or project left without a grade (未能复核 / 不计分), with the reason."""
    parts = []
    whats = (lambda x: "部门整体自评", lambda x: "项目“" + x["project_name"].fillna("").astype(str) + "”")
    forms = ((d, whats[0], "info_sheet", "cell_dept_code", ("dept_budget", "cell_budget_total"), ("dept_spent", "cell_spent_total")),
             (p, whats[1], "sheet", "cell_project_code", ("budget", "cell_budget"), ("spent", "cell_spent")))
    for frame, what, sheet, cell, budget, spent in forms:
        if not len(frame) or "read_status" not in frame:
            continue
        where = _blank_amount_cell(frame, frame[cell], budget, spent)
        for status, rule, then in (("未能复核", "result.unreviewed", _UNREVIEWED_THEN), ("不计分", "result.unscored", _UNSCORED_THEN)):
            msg = what(frame) + status + "：" + frame["read_reason"].astype(str) + then
            parts.append(F.where(frame, frame["read_status"].eq(status), rule, msg, sheet=frame[sheet], cell=where))
    return parts


def _blank_amount_cell(frame: pd.DataFrame, other: pd.Series, *amounts: tuple[str, str]) -> pd.Series:
    """The cell of the blank amount that leaves execution 无法计算 (the executed amount's first),
    where the form has one; `other` (the unit or project) elsewhere."""
    out = other.astype(object)
    for value, cell in amounts:  # the last assigned wins: 执行数 (given last) before 预算数
        if value in frame and cell in frame:
            at = frame[cell].astype(object).where(frame[cell].notna(), "").astype(str)
            out = at.where(frame[value].isna() & at.ne(""), out)
    return out


def _name(d: pd.DataFrame) -> pd.Series:
    return "「" + d["l3"].fillna("").astype(str) + "」"


def _target(d: pd.DataFrame) -> pd.Series:
    return "指标值“" + d["target"].fillna("").astype(str) + "”"


def _actual(d: pd.DataFrame) -> pd.Series:
    return "实际值“" + d["actual"].fillna("").astype(str) + "”"


def _reason_missing(d: pd.DataFrame) -> pd.Series:
    """What is short — the score (自评 4 / 分值 5) or, at full score, the target — then the ask."""
    # Compared as written (two decimals): 9.9999999 against 10 is not "自评 10 / 分值 10".
    short = to_cents(d["self_score"]).lt(to_cents(d["weight"])).fillna(False).astype(bool)
    what = ("得分低于分值（自评 " + score_text(d["self_score"]) + " / 分值 " + score_text(d["weight"]) + "）").where(
        short, "未完成目标（" + _actual(d) + "，" + _target(d) + "）")
    return _name(d) + what + "，但偏差原因为空；请说明偏差原因和改进措施"


def _unit_said(d: pd.DataFrame) -> pd.Series:
    """Which unit one side wrote and the other did not: %, else 万 / 亿."""
    scale = d[["target_scale", "actual_scale"]].max(axis=1)
    unit = pd.Series("“万”", index=d.index).where(scale < 1e8, "“亿”")
    how = ("一个带" + unit + "、一个不带，已按" + unit + "为单位比较").where(
        ~(d["target_pct"] | d["actual_pct"]), "一个带 %、一个不带，已按百分数比较")
    return _name(d) + _target(d) + "与" + _actual(d) + how + "；请统一单位"


def _indicator_checks(ind: pd.DataFrame, rules: Rules) -> list[pd.DataFrame]:
    # Messages are functions of the matching rows: indicators run to hundreds of thousands.
    sheet = ind["sheet"]
    diff = ind["diff"].abs() > rules.score_tolerance
    kept = ind["unverifiable"] | ind["level_unknown"]
    keep_word = "严格模式下记 0 分" if rules.strict else "暂沿用自评得分"
    full = ind["below_target"] & (ind["self_score"] >= ind["weight"]) & ind["weight"].gt(0)
    value_row = ind["method_used"].isin(S.VALUE_METHODS)
    missed = value_row & ((ind["score"] < ind["weight"] - rules.score_tolerance) | ind["below_target"])
    met = value_row & ~ind["below_target"] & ~kept & ~missed
    deducted = value_row & (ind["self_score"] < ind["weight"] - rules.score_tolerance)
    no_reason = ind["reason"].isna()
    signed = ind["actual"].fillna("").str.match(r"^\s*[≥≤<>=＜＞＝﹦]")
    return [
        F.where(ind, diff & ~kept, "score.diff",
                lambda d: _name(d) + "自评得分 " + number_text(d["self_score"]) + "，复核得分 " + number_text(d["score"], "{:.2f}")
                + "（" + d["explain"] + "）；请核对",
                sheet=sheet, cell=ind["cell_self_score"]),
        F.where(ind, ind["unverifiable"], "score.unverifiable",
                lambda d: _name(d) + "的指标值或实际值无法识别为数字（" + _target(d) + "，" + _actual(d) + "），无法复核，"
                + keep_word + "；请填写可比较的数字，如 95%、20次",
                sheet=sheet, cell=ind["cell_actual"]),
        F.where(ind, ind["level_unknown"], "score.level_unknown",
                lambda d: _name(d) + "为定性指标，" + _actual(d) + "不是可识别的等级词（如 达成、基本达成、部分达成、未达成），沿用自评得分，请人工复核",
                sheet=sheet, cell=ind["cell_actual"]),
        F.where(ind, ind["level_how"].eq(NEGATED), "score.level_negated",
                lambda d: _name(d) + "为定性指标，" + _actual(d) + "是否定的说法，按未达成记 0 分；请人工确认",
                sheet=sheet, cell=ind["cell_actual"]),
        F.where(ind, ind["level_how"].eq(APPROXIMATE), "score.level_approximate",
                lambda d: _name(d) + "为定性指标，" + _actual(d) + "按等级“" + d["actual_text"].str[:1] + "”计 "
                + number_text(d["rate"] * 100, "{:.0f}%") + "；如不妥请改写为等级词（如 达成、基本达成、部分达成、未达成）",
                sheet=sheet, cell=ind["cell_actual"]),
        F.where(ind, ind["method_inferred"] & ind["cell_method"].fillna("").ne(""), "score.method_inferred",
                lambda d: _name(d) + "未填写计分方法，已按指标值推定为“" + d["method_used"] + "”；请在下拉列表中选择",
                sheet=sheet, cell=ind["cell_method"]),
        F.where(ind, ind["unit_mismatch"], "value.unit", _unit_said, sheet=sheet, cell=ind["cell_actual"]),
        F.where(ind, full, "score.full_below_target",
                lambda d: _name(d) + _actual(d) + "未达到" + _target(d) + "，自评却得满分；请按实际完成情况打分",
                sheet=sheet, cell=ind["cell_self_score"]),
        F.where(ind, (missed | (deducted & ~met)) & no_reason, "score.reason_missing", _reason_missing,
                sheet=sheet, cell=ind["cell_reason"]),
        F.where(ind, deducted & met & no_reason, "score.deducted_met",
                lambda d: _name(d) + _actual(d) + "已达到" + _target(d) + "，自评却扣分（自评 " + score_text(d["self_score"]) + " / 分值 "
                + score_text(d["weight"]) + "），且未说明原因；请核对自评得分或说明扣分原因",
                sheet=sheet, cell=ind["cell_self_score"]),
        F.where(ind, signed, "value.actual_sign",
                lambda d: _name(d) + _actual(d) + "带有比较符；实际值应写实际达到的数值（如 85%），不写“≥”“≤”",
                sheet=sheet, cell=ind["cell_actual"]),
    ]


def zero_denominators(ind: pd.DataFrame, depts: pd.DataFrame) -> pd.DataFrame:
    """分母为零: each finding points at the figure that is zero, with what to do. For an automatic
    method, the 基本信息 cell(s) its rate divides by (年初结转结余 for 结转结余变动率, the budget
    for the execution rates); for 正向比例 (and linear 反向比例), the row's 指标值."""
    z = ind[ind["zero_den"].fillna(False).astype(bool)]
    if z.empty:
        return F.frame()
    auto = z["method_used"].isin(S.AUTO_METHODS)
    where = _zero_figures(z[auto], depts)
    return F.concat([
        F.where(z[auto], pd.Series(True, index=where.index), "score.zero_denominator", _name(z[auto]) + where["message"],
                sheet=where["sheet"], cell=where["cell"]),
        F.where(z[~auto], pd.Series(True, index=z[~auto].index), "score.zero_denominator",
                lambda d: _name(d) + "的" + _target(d) + "为 0，" + d["method_used"] + "无法计算完成率，本项得 0 分；"
                "请填写实际的目标值（如 100%、20次），目标确为 0 的请改用“反向达标”等计分方法",
                sheet=z.loc[~auto, "sheet"], cell=z.loc[~auto, "cell_target"]),
    ])


def _zero_figures(z: pd.DataFrame, depts: pd.DataFrame) -> pd.DataFrame:
    """For indicator rows of automatic methods whose denominator is zero: the sheet, cell(s) and
    a message naming the figure(s) the rate divides by (those that are 0), from the department's
    基本信息 (a department form's totals for 预算执行率 where basic and project figures are missing)."""
    info = depts.drop_duplicates("file").set_index("file")
    rows = []
    for method, file, sheet, weight_cell in zip(z["method_used"], z["file"], z["sheet"], z["cell_weight"]):
        d = info.loc[file] if file in info.index else None
        keys = DENOMINATORS[method]
        if d is not None and method == "预算执行率" and any(pd.isna(d.get(k)) for k in keys):
            keys = (TOTAL_FIELDS[1],)
        if d is None:
            rows.append((sheet, weight_cell, f"计算{method}的分母为 0，比率为空、本项得 0 分；请核对基本信息中的相关金额或人数"))
            continue
        zero = [k for k in keys if d.get(k) == 0] or list(keys)
        cells = [str(d.get(f"cell_{k}") or "") for k in zero]
        named = "、".join(f"“{_LABELS[k]}”" + (f"（{c}）" if c else "") for k, c in zip(zero, cells))
        what = f"{d.get('info_sheet') or S.INFO_SHEET}中{named}" + ("为 0" if len(zero) == 1 else "均为 0")
        todo = _ZERO_TODO.get(method, "请核对并填写实际数")
        if all(cells):
            rows.append((str(d.get("info_sheet") or S.INFO_SHEET), "、".join(cells), f"的分母为 0：{what}，{method}无法计算，本项得 0 分；{todo}"))
        else:  # the layout gives no cell for the figure: the indicator row itself
            rows.append((sheet, weight_cell, f"的分母为 0：{what}，{method}无法计算，本项得 0 分；{todo}"))
    return pd.DataFrame(rows, columns=["sheet", "cell", "message"], index=z.index, dtype=object)


# The label of every 基本信息 figure, for messages.
_LABELS = {f.key: f.label for f in INFO_FIELDS}
_IF_REALLY_ZERO = "；确实为 0 的，请在本指标的“偏差原因及改进措施”中说明，由财政部门人工复核"
_ZERO_TODO = {
    "预算执行率": "请填写全年预算数（万元）" + _IF_REALLY_ZERO,
    "基本支出执行率": "请填写基本支出预算数（万元）" + _IF_REALLY_ZERO,
    "项目支出执行率": "请填写项目支出预算数（万元）" + _IF_REALLY_ZERO,
    "三公经费控制率": "请填写三公经费预算数（万元）" + _IF_REALLY_ZERO,
    "结转结余变动率": "请核对年初结转结余（万元）" + _IF_REALLY_ZERO,
    "在职人员控制率": "请填写编制人数（人）",
}


MISMATCH_WORD = "不匹配"


def exec_mismatch(p: pd.DataFrame, rules: Rules) -> pd.Series:
    """Projects whose indicator score share exceeds their execution rate by more than the
    rules allow (绩效与预算执行不匹配): a finding here, a reason to draw it for re-review."""
    share = p["ind_score"] / p["indicator_total"]
    return (p["exec_rate"].notna() & (share > p["exec_rate"] * (1 + rules.mismatch_threshold))).fillna(False).astype(bool)


def _project_checks(p: pd.DataFrame, rules: Rules) -> list[pd.DataFrame]:
    name = "项目 " + p["project_code"].astype(str)
    share = p["ind_score"] / p["indicator_total"]
    mismatch = exec_mismatch(p, rules)
    score = ("（执行率得分 " + number_text(p["exec_score"], "{:.2f}") + "＋指标得分 " + number_text(p["ind_score"], "{:.2f}")
             + "），相差 " + number_text(p["diff"], "{:+.2f}"))
    rates = ("指标得分率 " + number_text(share * 100, "{:.2f}") + "%（" + number_text(p["ind_score"]) + "÷" + number_text(p["indicator_total"]) + "），"
             + "预算执行率仅 " + number_text(p["exec_rate"] * 100, "{:.2f}") + "%")
    return [
        F.where(p, p["diff"].abs() > rules.score_tolerance, "score.total_diff",
                name + " 自评得分 " + number_text(p["self_score"]) + "，复核得分 " + number_text(p["total"], "{:.2f}") + score,
                sheet=p["sheet"], cell=p["cell_self_score"]),
        F.where(p, mismatch, "score.exec_mismatch", name + " " + rates + _mismatch_tail(p, share, rules),
                sheet=p["sheet"], cell=p["cell_spent"]),
        F.where(p, p["exec_rate"] > 1, "exec.over",
                name + " 执行率 " + number_text(p["exec_rate"] * 100, "{:.2f}") + "%，全年执行数超过全年预算数；请核对",
                sheet=p["sheet"], cell=p["cell_spent"]),
        F.where(p, p["exec_zero"], "score.zero_denominator",
                name + " 全年预算数为 0，执行率无法计算，执行率得分记 0；请核对全年预算数",
                sheet=p["sheet"], cell=p["cell_budget"]),
        _printed_execution(p, name, rules),
        _capped(p, name, p["exec_rate"], p["sheet"], p["cell_self_score"]),
    ]


def _mismatch_tail(p: pd.DataFrame, share: pd.Series, rules: Rules) -> pd.Series:
    """How far apart the two rates are, against the threshold, said to be relative (a 5 read as
    percentage points once switched the check off); then the department's reason, or where to give one.
    Departments read this: the setting's key name stays in docs/scoring.md and the run log."""
    t = rules.mismatch_threshold
    ratio = share / p["exec_rate"]
    said = p["reason"].astype("string").str.strip().fillna("") if "reason" in p else pd.Series("", index=p.index)
    ask = pd.Series("；请说明原因", index=p.index).where(p["sheet"].ne(S.PROJECT_SHEET), f"；请在「{S.PROJECT_SHEET}」表“原因说明”列说明原因")
    tail = ask.where(said.eq(""), "；单位说明：“" + said + "”，请人工复核")
    return ("，得分率是执行率的 " + number_text(ratio, "{:.2f}") + " 倍（高出 " + number_text((ratio - 1) * 100, "{:.2f}")
            + f"%），超过允许的 {t * 100:g}%（按执行率的倍数计，不是百分点），"
            + "绩效与预算执行不匹配" + tail)


def _capped(df: pd.DataFrame, who, rate: pd.Series, sheet, cell) -> pd.DataFrame:
    """Totals the rules cap by execution (scoring.total_cap): said, with both figures."""
    capped = df["total"] < df["uncapped_total"] - 1e-9
    msg = (who + " 预算执行率 " + number_text(rate * 100, "{:.2f}") + "%，按规则总分最高 " + number_text(df["exec_cap"])
           + " 分；复核得分由 " + number_text(df["uncapped_total"], "{:.2f}") + " 封顶为 " + number_text(df["total"], "{:.2f}"))
    return F.where(df, capped, "score.capped_by_execution", msg, sheet=sheet, cell=cell)


def _printed_execution(p: pd.DataFrame, name: pd.Series, rules: Rules) -> pd.DataFrame:
    """The execution rate and score a form prints, against the recomputed ones."""
    printed = p["exec_rate_printed_value"]
    # 86 typed for 86 %: a rate above 1.5 without a % sign is a percentage.
    printed = printed.where(p["exec_rate_printed_pct"] | (printed <= 1.5), printed / 100)
    rate_off = (printed - p["exec_rate"]).abs() > 0.00005
    score_off = (p["exec_self_score"] - p["exec_score"]).abs() > rules.score_tolerance
    msg = (name + " 表中执行率 " + number_text(printed * 100, "{:.2f}") + "%、执行率得分 " + number_text(p["exec_self_score"])
           + "；按全年执行数÷全年预算数复核为 " + number_text(p["exec_rate"] * 100, "{:.2f}") + "%、" + number_text(p["exec_score"], "{:.2f}")
           + " 分（分值 " + number_text(p["exec_weight_used"]) + "），相差 " + number_text(p["exec_self_score"] - p["exec_score"], "{:+.2f}") + " 分")
    return F.where(p, (rate_off & printed.notna()) | score_off, "score.exec_diff", msg, sheet=p["sheet"], cell=p["cell_exec_self_score"])


def offer_computed(findings: pd.DataFrame, ind: pd.DataFrame, depts: pd.DataFrame) -> pd.DataFrame:
    """A blank automatic 自评得分 or 自评总分 stays 必填, but its message gives the value the
    department's own figures give, so that nobody works it out by hand (the template's formulas
    fill it in Excel, WPS and LibreOffice)."""
    required = findings["rule_id"].eq("value.required")
    if not required.any():
        return findings
    auto = ind[ind["method_used"].isin(S.AUTO_METHODS)]
    files = auto["source"] if "source" in auto else auto["file"]
    computed = {**{(f, s, c): v for f, s, c, v in zip(files, auto["sheet"], auto["cell_self_score"], auto["score"])},
                **{(f, s, c): v for f, s, c, v in zip(depts["file"], depts["info_sheet"], depts["cell_self_total"], depts["total"])}}
    keys = list(zip(findings["file"], findings["sheet"], findings["cell"]))
    value = pd.Series([computed.get(k, float("nan")) for k in keys], index=findings.index, dtype="float64")
    offer = required & value.notna()
    findings.loc[offer, "message"] = (findings.loc[offer, "message"].astype(str) + "；按本表填报的数据计算为 "
                                      + number_text(value[offer], "{:.2f}") + " 分（模板中此格有公式，自动计算）")
    return findings
