"""Recomputation (复核) of every score, as column arithmetic over all departments at once.

docs/scoring.md is the specification. Rates are rounded half up to 0.01 % before use, scores
half up to 2 decimals, totals are sums of rounded scores. A zero denominator gives an empty
rate (NaN here, a blank cell in the workbook) and a 警告, never inf.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import schema as S
from ..layouts import FORMAT1
from ..layouts.labels import budget_execution_row
from ..read.assemble import Frames
from ..rules import Rules
from ..values import number_text, round_half_up

# Automatic methods: (numerator fields, denominator fields, subtract-from-numerator field).
# The template's formulas (write/template.py) are built from the same table.
AUTO_PARTS = _AUTO = {
    "预算执行率": (("basic_spent", "project_spent"), ("basic_budget", "project_budget"), None),
    "基本支出执行率": (("basic_spent",), ("basic_budget",), None),
    "项目支出执行率": (("project_spent",), ("project_budget",), None),
    "三公经费控制率": (("sangong_spent",), ("sangong_budget",), None),
    "结转结余变动率": (("carryover_end",), ("carryover_begin",), "carryover_begin"),
    "在职人员控制率": (("staff_actual",), ("staff_quota",), None),
}
# Column names of the six rates on 汇总排名, in the order of docs/scoring.md.
RATE_COLUMNS = {m: f"rate_{i}" for i, m in enumerate(S.AUTO_METHODS)}
EXECUTION_METHODS = _EXECUTION = ("预算执行率", "基本支出执行率", "项目支出执行率")
CEILING_METHODS = _CEILING = ("三公经费控制率", "在职人员控制率")


@dataclass
class Scored:
    depts: pd.DataFrame
    indicators: pd.DataFrame
    projects: pd.DataFrame


def _ratio(num: pd.Series, den: pd.Series, decimals: int) -> pd.Series:
    """num / den rounded half up; NaN (never inf) where den is 0 or either side missing."""
    ok = den.notna() & num.notna() & (den != 0)
    raw = np.divide(num.to_numpy(dtype="float64"), den.to_numpy(dtype="float64"), out=np.full(len(num), np.nan), where=ok.to_numpy())
    return pd.Series(round_half_up(raw, decimals), index=num.index)


# A department form (部门整体支出绩效自评表) gives only its totals (金额合计, spent and budget):
# 预算执行率 and a department's money fall back on them.
TOTAL_FIELDS = ("spent_total", "budget_total")
# The 基本信息 figures each automatic rate divides by: a zero there leaves the rate empty.
DENOMINATORS = {m: den for m, (_, den, _) in _AUTO.items()}


def dept_money(depts: pd.DataFrame) -> pd.DataFrame:
    """Each department's budget and spending in 万元 (dept_budget, dept_spent): basic + project
    支出, or a department form's totals; missing where neither is known."""
    spent_keys, budget_keys, _ = _AUTO["预算执行率"]
    return pd.DataFrame({
        "dept_budget": depts[list(budget_keys)].sum(axis=1, min_count=len(budget_keys)).fillna(depts[TOTAL_FIELDS[1]]),
        "dept_spent": depts[list(spent_keys)].sum(axis=1, min_count=len(spent_keys)).fillna(depts[TOTAL_FIELDS[0]]),
    }, index=depts.index)


def rate_parts(depts: pd.DataFrame) -> dict[str, tuple[pd.Series, pd.Series]]:
    """Numerator and denominator of each automatic rate, per department (NaN where a figure is missing)."""
    money = dept_money(depts)
    parts = {}
    for method, (num_keys, den_keys, minus) in _AUTO.items():
        if method == "预算执行率":
            parts[method] = money["dept_spent"], money["dept_budget"]
            continue
        num = depts[list(num_keys)].sum(axis=1, min_count=len(num_keys))
        if minus:
            num = num - depts[minus]
        parts[method] = num, depts[list(den_keys)].sum(axis=1, min_count=len(den_keys))
    return parts


def dept_rates(depts: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """The six automatic rates of every department, and where each denominator is zero."""
    out = pd.DataFrame(index=depts.index)
    for method, (num, den) in rate_parts(depts).items():
        out[RATE_COLUMNS[method]] = _ratio(num, den, rules.rate_decimals)
        out[f"zero_{RATE_COLUMNS[method]}"] = den.eq(0)
    return out


def pooled_rates(depts: pd.DataFrame, rules: Rules) -> dict[str, float]:
    """The six rates of the departments taken together (汇总排名's 合计 row): the sum of the
    numerators ÷ the sum of the denominators, over the departments that have both; NaN where
    none has, or the sum of the denominators is 0."""
    out = {}
    for method, (num, den) in rate_parts(depts).items():
        known = num.notna() & den.notna()
        total = _ratio(pd.Series([num[known].sum()]), pd.Series([den[known].sum()]), rules.rate_decimals)
        out[RATE_COLUMNS[method]] = float(total.iloc[0]) if known.any() else float("nan")
    return out


def _pick(method: pd.Series, table: pd.DataFrame, prefix: str) -> pd.Series:
    """For each row, the column of `table` named prefix + the row's method's rate column."""
    out = pd.Series(np.nan, index=method.index, dtype="object" if prefix == "zero_" else "float64")
    for m, col in RATE_COLUMNS.items():
        hit = method.eq(m)
        out = out.where(~hit, table[prefix + col])
    return out


def _infer_method(ind: pd.DataFrame, rules: Rules, dated: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Where 计分方法 is blank, the sign in 指标值 decides (rules' scoring.inferred_methods):
    ≤/< reverse, = equal, another number forward; without numbers on both sides, 定性.
    A deadline (dates on both sides) and a target of nothing (0起, 0次, =0) are met or missed,
    never a ratio: 反向达标 — not later than the date, not more than 0."""
    m = rules.inferred_methods
    reverse = ind["target_op"].isin(["≤", "<"])
    numeric = ind["target_value"].notna() & ind["actual_value"].notna()
    equal = ind["target_op"].eq("=") & numeric
    nothing = numeric & ind["target_value"].eq(0) & ind["target_op"].isin(["", "=", "≤"])
    guess = pd.Series(np.select([dated | nothing, reverse, equal, numeric], ["反向达标", m["reverse"], m["equal"], m["forward"]], "定性"),
                      index=ind.index)
    return ind["method"].fillna(guess).astype(str), ind["method"].isna()


def _deadlines(ind: pd.DataFrame, year: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Rows whose target and actual are both dates (时效指标: 12月底前 against 于11月完成), and
    the two as comparable numbers (y·10000 + m·100 + d). A year not written is the form's; a
    day not written is the month's last for the target (by December) and its first for the
    actual (in December): a month is never read as late within itself."""
    td, ad = ind["target_date"].astype("float64"), ind["actual_date"].astype("float64")
    ty, ay = (td // 10000).where(td >= 10000, year), (ad // 10000).where(ad >= 10000, year)
    ty, ay = ty.fillna(ay).fillna(0), ay.fillna(ty).fillna(0)
    t_day = td % 100
    t = ty * 10000 + td % 10000 + (31 - t_day).where(t_day == 0, 0)
    a = ay * 10000 + ad % 10000
    return td.notna() & ad.notna(), a, t


# A level word right after one of these is negated (不及时, 尚未完成, 没有达到 where no word matches).
_NEGATIONS = "不未没无非"
# How a 定性 actual was read, beyond the word itself: each kind has a note for a person.
BASIC, NEGATED, APPROXIMATE, AS_TARGET = "基本", "否定", "近似", "同指标值"
# What a 定性 actual puts before its target's own words to say it was missed: 未达标, 不合格, 尚未建立.
_MISSED = re.compile(r"(?:尚|仍|还)?(?:未能?|不|没有?|非)")


def level_reading(text: pd.Series, levels: dict[str, float], basic: float) -> pd.DataFrame:
    """The 定性 share of each actual and how it was read (`how`, "" when the word is plain).

    The level word itself; else the longest level word (two characters or more) the text
    contains — `未达成（受疫情影响）` is 未达成, `已达成` is 达成. A negation right before
    that word (不健全, 尚未规范) scores 0 (NEGATED); 基本 before it (基本健全) scores at most
    the rules' `basic` share (BASIC): a partial word must never read as full. A text that
    only begins with a one-character word (优秀 → 优) is read as that word (APPROXIMATE).
    Otherwise NaN (kept for a person). Computed once per distinct text: a country has few.
    """
    words = sorted(((S.norm_label(w), v) for w, v in levels.items()), key=lambda wv: -len(wv[0]))
    exact = dict(words)

    def one(t: str) -> tuple[float, str]:
        if t in exact:
            return exact[t], ""
        for w, v in words:
            i = t.find(w) if len(w) > 1 else -1
            if i < 0:
                continue
            if i > 0 and t[i - 1] in _NEGATIONS and w[0] not in _NEGATIONS:
                return 0.0, NEGATED
            if t[:i].endswith(BASIC) and v > basic:
                return basic, BASIC
            return v, ""
        if t[:1] in exact:
            return exact[t[:1]], APPROXIMATE
        return np.nan, ""

    read = {t: one(t) for t in text.dropna().unique()}
    # Plain Python over the values: a column with no text at all may come typed as Arrow null.
    values = [read.get(t, (np.nan, "")) if isinstance(t, str) else (np.nan, "") for t in text.to_numpy(dtype=object)]
    return pd.DataFrame({"share": [v for v, _ in values], "how": [h for _, h in values]}, index=text.index).astype(
        {"share": "float64", "how": object})


def _same_scale(ind: pd.DataFrame, a: pd.Series, t: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """A 万 / 亿 on one side only, the other a bare number nearer the written side's number
    than its value (≥50万元 against 50): the bare one is in that unit, as a person reads the row.
    Nearer in ratio: below the value over √万 (1 / 100 of it), as 50 is of 500,000 and 12,000 is
    not of 10,000 (≥1万人次 against 12000 stays 12000)."""
    ts, as_ = ind["target_scale"].astype("float64"), ind["actual_scale"].astype("float64")
    a_up = ts.gt(1) & as_.eq(1) & ind["actual_bare"] & (a > 0) & (a < t / np.sqrt(ts))
    t_up = as_.gt(1) & ts.eq(1) & ind["target_bare"] & (t > 0) & (t < a / np.sqrt(as_))
    return a.where(~a_up, a * ts), t.where(~t_up, t * as_), a_up | t_up


def against_target(reading: pd.DataFrame, actual: pd.Series, target: pd.Series) -> pd.DataFrame:
    """A 定性 actual compared with its own target: the target's own words are the target met,
    whatever level they would read as (无 against 无, 良好 against 良好: AS_TARGET); where no
    level word reads it, the target's words negated are it missed (未达标 against 达标, 不合格
    against 合格: NEGATED)."""
    share, how = reading["share"].to_numpy(dtype="float64", copy=True), reading["how"].to_numpy(dtype=object, copy=True)
    # Words, not marks: / or — in both cells says nothing was set or done.
    same = (actual.eq(target) & actual.str.contains(r"\w", regex=True)).fillna(False).to_numpy(dtype=bool)
    share[same], how[same] = 1.0, AS_TARGET
    actual, target = actual.to_numpy(dtype=object), target.to_numpy(dtype=object)
    for i in np.flatnonzero(np.isnan(share)):  # the few rows no word reads, not a country's all
        if _negates(actual[i], target[i]):
            share[i], how[i] = 0.0, NEGATED
    return pd.DataFrame({"share": share, "how": how}, index=reading.index)


def _negates(actual, target) -> bool:
    return (isinstance(actual, str) and isinstance(target, str) and bool(target) and actual.endswith(target)
            and bool(_MISSED.fullmatch(actual[: len(actual) - len(target)])))


def score_indicators(ind: pd.DataFrame, depts: pd.DataFrame, rates: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    # Columns are added to `ind` itself: a copy of a country's indicators is gigabytes.
    # Per-row department figures, for the automatic methods and the year of a date.
    per_dept = pd.concat([depts[["file", "carryover_end", "year"]], rates], axis=1)
    rowd = ind[["file"]].merge(per_dept, on="file", how="left").set_index(ind.index)
    dated, a_date, t_date = _deadlines(ind, rowd["year"].astype("float64"))
    method, inferred = _infer_method(ind, rules, dated)
    ind["method_used"], ind["method_inferred"] = method, inferred
    dated &= method.isin(("正向达标", "反向达标"))  # a ratio of two dates means nothing
    w = ind["weight"].astype("float64")
    dec = rules.rate_decimals

    auto_rate = _pick(method, rowd, "")
    auto_zero = _pick(method, rowd, "zero_").fillna(False).astype(bool)
    is_auto = method.isin(S.AUTO_METHODS)

    # Values written by the department; a % on one side only is a unit slip (0.95 vs 95).
    a = ind["actual_value"].astype("float64")
    t = ind["target_value"].astype("float64")
    a_slip = ind["target_pct"] & ~ind["actual_pct"] & (t <= 1) & (a > 1)
    t_slip = ind["actual_pct"] & ~ind["target_pct"] & (a <= 1) & (t > 1)
    a = a.where(~a_slip, a / 100)
    t = t.where(~t_slip, t / 100)
    a, t, scaled = _same_scale(ind, a, t)
    ind["unit_mismatch"] = a_slip | t_slip | scaled
    a, t = a.where(~dated, a_date), t.where(~dated, t_date)

    quantitative = method.isin(("正向比例", "正向达标", "反向比例", "反向达标"))
    readable = a.notna() & t.notna()
    achieved = _ratio(a, t, dec)  # a / t, uncapped: what deviation and linear 反向 look at
    forward_rate = achieved.clip(upper=rules.forward_rate_cap)
    reverse_rate = _ratio(t, a, dec)
    reading = against_target(level_reading(ind["actual_text"], rules.levels, rules.basic_share), ind["actual_text"], ind["target_text"])
    share = reading["share"]
    ind["level_how"] = reading["how"].where(method.eq("定性"), "")

    rate = pd.Series(np.select(
        [is_auto, method.isin(("正向比例", "正向达标")), method.isin(("反向比例", "反向达标")), method.eq("定性")],
        [auto_rate, forward_rate, reverse_rate, share], np.nan), index=ind.index)

    carry_zero_ok = method.eq("结转结余变动率") & auto_zero & rowd["carryover_end"].eq(0)
    raw = pd.Series(np.select(
        [
            method.isin(_EXECUTION),
            method.isin(_CEILING),
            method.eq("结转结余变动率"),
            method.eq("正向比例"),
            method.eq("正向达标"),
            method.eq("反向比例"),
            method.eq("反向达标"),
            method.eq("定性"),
        ],
        [
            w * (np.minimum(auto_rate, 1) if rules.execution_cap else auto_rate),
            w * (auto_rate <= 1),
            np.where(carry_zero_ok, w, w * (auto_rate <= 0)),
            w * np.minimum(forward_rate, 1),
            w * (a >= t),
            np.where(a <= t, w, w * _reverse_share(reverse_rate, achieved, rules)),
            w * (a <= t),
            w * share,
        ],
        np.nan,
    ), index=ind.index)
    deviating = _deviating(method, achieved, rules)
    raw = raw.where(~deviating, (raw - rules.deviation[1]).clip(lower=0))

    linear_zero = method.eq("反向比例") & readable & t.eq(0) & (a > t) & (rules.reverse_formula == "linear")
    zero_den = (is_auto & auto_zero & ~carry_zero_ok) | (method.eq("正向比例") & readable & t.eq(0)) | linear_zero
    unverifiable = quantitative & ~readable
    level_unknown = method.eq("定性") & share.isna()
    keep_self = level_unknown | (unverifiable & (not rules.strict))
    raw = raw.where(~zero_den, 0.0)
    raw = raw.where(~(unverifiable & rules.strict), 0.0)
    raw = raw.where(~keep_self, ind["self_score"].astype("float64"))
    score = round_half_up(raw.clip(lower=0).where(raw.notna()), rules.score_decimals)
    # Every score is capped at its 分值, but for execution where the rules do not cap it.
    uncapped = method.isin(_EXECUTION) & (not rules.execution_cap)
    score = pd.Series(np.where(uncapped, score, np.minimum(score, w)), index=ind.index)

    ind["rate"] = rate.where(~zero_den & ~dated)  # a date is on time or late: no rate
    ind["dated"] = dated
    ind["score"] = score
    ind["deduction"] = round_half_up(w - score, rules.score_decimals)
    ind["diff"] = round_half_up(ind["self_score"] - score, rules.score_decimals)
    ind["zero_den"], ind["unverifiable"], ind["level_unknown"] = zero_den, unverifiable, level_unknown
    ind["deviating"] = deviating
    below = pd.Series(np.select(
        [method.isin(("正向比例", "正向达标")) & readable, method.isin(("反向比例", "反向达标")) & readable, method.eq("定性")],
        [a < t, a > t, share < 1], False), index=ind.index).astype(bool)
    ind["below_target"] = below
    ind["explain"] = _explain(ind, method, w, a, t, rules)
    return ind


def _reverse_share(reverse_rate: pd.Series, achieved: pd.Series, rules: Rules) -> pd.Series:
    """Share of 分值 for a 反向比例 row over its target: target ÷ actual (the forms' notes), or
    falling linearly from full at the target to 0 at `reverse_zero_at` × target."""
    if rules.reverse_formula == "ratio":
        return reverse_rate
    z = rules.reverse_zero_at
    return ((z - achieved) / (z - 1)).clip(0, 1)


def _deviating(method: pd.Series, achieved: pd.Series, rules: Rules) -> pd.Series:
    """正向 rows more than the rules' threshold above their target (偏离), where set."""
    threshold = rules.deviation[0]
    if threshold <= 0:
        return pd.Series(False, index=method.index)
    return (method.isin(("正向比例", "正向达标")) & (achieved > 1 + threshold)).fillna(False).astype(bool)


def execution_cap(total: pd.Series, rate: pd.Series, rules: Rules) -> pd.Series:
    """The highest total each execution rate allows (rules' scoring.total_cap; inf where none)."""
    cap = pd.Series(np.inf, index=total.index)
    for below, highest in rules.total_cap:
        cap = cap.where(~(rate < below), np.minimum(cap, highest))
    return cap


def _pct(x: pd.Series) -> pd.Series:
    return number_text(x * 100, "{:.2f}%")


def _explain(ind: pd.DataFrame, method: pd.Series, w: pd.Series, a: pd.Series, t: pd.Series, rules: Rules) -> pd.Series:
    """One plain sentence per row: how the 复核得分 came about.

    Each kind of sentence is built only for the rows it describes (a country has a million
    rows; building every kind for every row and picking afterwards cost gigabytes).
    """
    full = ind["score"] >= w
    missing = ind["score"].isna()
    branches = [
        # No score is never 0: say why (a form without points, blank amounts or values).
        (missing & w.isna(), lambda d: pd.Series("表中没有分值，不计分", index=d.index)),
        (missing & method.isin(_EXECUTION), lambda d: "金额空白，" + d.method + "无法计算，不计分"),
        (missing, lambda d: pd.Series("数据不全，无法计算，不计分", index=d.index)),
        (ind["zero_den"], lambda d: "分母为 0，比率无法计算，得 " + d.sc),
        (ind["unverifiable"] | ind["level_unknown"], lambda d: "无法自动复核，沿用自评得分 " + d.sc),
        (method.isin(_EXECUTION) | method.eq("正向比例"), lambda d: "完成率 " + d.rate + "，得分＝" + d.w + "×min(完成率,100%)＝" + d.sc),
        (method.isin(_CEILING) & full, lambda d: "比率 " + d.rate + " 不超过 100%，得 " + d.sc),
        (method.isin(_CEILING), lambda d: "比率 " + d.rate + "，超过 100%，得 0"),
        (method.eq("结转结余变动率") & full, lambda d: "变动率 " + d.rate + "，不大于 0，得满分 " + d.sc),
        (method.eq("结转结余变动率"), lambda d: "变动率 " + d.rate + "，大于 0，得 " + d.sc),
        (ind["dated"] & full, lambda d: "实际日期不晚于指标值，按期完成，得满分 " + d.sc),
        (ind["dated"], lambda d: "实际日期晚于指标值，未按期完成，得 " + d.sc),
        (method.isin(("正向达标", "反向达标")) & full, lambda d: "达到目标，得满分 " + d.sc),
        (method.isin(("正向达标", "反向达标")), lambda d: "未达到目标，得 " + d.sc),
        (method.eq("反向比例") & (rules.reverse_formula == "linear"),
         lambda d: f"实际值超过指标值，按线性递减（{rules.reverse_zero_at:g} 倍指标值时为 0），得 " + d.sc),
        (method.eq("反向比例"), lambda d: "指标值÷实际值 " + d.rate + "，得 " + d.sc),
        (method.eq("定性") & ind["level_how"].eq(AS_TARGET), lambda d: "实际值“" + d.actual + "”与指标值相同，按达成计，得 " + d.sc),
        (method.eq("定性"), lambda d: "实际值“" + d.actual + "”按等级计 " + d.rate + "，得 " + d.sc),
    ]
    # Arrow text throughout, never a million Python strings: each branch's sentences are
    # put together once, in the rows' order.
    pieces = []
    left = pd.Series(True, index=ind.index)
    for cond, build in branches:
        rows = cond & left
        if rows.any():
            part = pd.DataFrame({"w": number_text(w[rows]), "sc": number_text(ind["score"][rows], "{:.2f}"),
                                 "rate": _pct(ind["rate"][rows]), "actual": ind["actual_text"][rows].fillna("").astype(str),
                                 "method": method[rows].astype(str)})
            pieces.append(build(part).astype("str"))
            left &= ~rows
    text = pd.concat(pieces).reindex(ind.index).fillna("") if pieces else pd.Series("", index=ind.index, dtype="str")
    threshold, points = rules.deviation
    dev = ind["deviating"]
    if dev.any():
        text[dev] = text[dev] + f"；实际值超过指标值 {threshold:.0%} 以上（偏离），扣 {points:g} 分"
    return text


def grade(score: pd.Series, rules: Rules) -> pd.Series:
    """优 / 良 / 中 / 差 by lower bounds (inclusive); scores are already 2-decimal."""
    return graded(score, rules.grade_names, rules.grade_bounds, rules.unrated)


def graded(score: pd.Series, names: list[str], bounds: list[float], missing: str) -> pd.Series:
    """The name of the highest band whose lower bound (inclusive) `score` reaches; `missing` where there is no score."""
    conds = [score >= b - 1e-9 for b in bounds]
    out = pd.Series(np.select(conds, names, names[-1]), index=score.index)
    return out.where(score.notna(), missing)


# What was not read is not graded (docs/official-forms.md): a form whose funds or whose
# indicators could not be read is 未能复核, one whose indicators carry no points is 不计分.
# The status and its reason are columns of the results; such a row has no total, its grade
# is the status with its reason, and it is not ranked.
UNREVIEWED, UNSCORED = "未能复核", "不计分"
NO_AMOUNTS = "资金块未读取或金额空白，预算执行率无法计算"
NO_INDICATORS = "未读取到绩效指标"
NO_POINTS = "表中绩效指标没有分值，只记录目标与完成情况"
NO_COMPLETION = "绩效指标既没有实际完成值也没有自评得分，无法复核"


def read_status(no_amounts: pd.Series, no_indicators: pd.Series, no_points: pd.Series,
                no_completion: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """(status, reason) per row: "" where everything needed for a grade was read. The reason
    names every gap (blank amounts and indicators without points are two things to fix).
    `no_completion`: indicators read, but not one with an actual value or a self score (a
    table of targets and points only): nothing to recompute, so no grade."""
    no_completion = (pd.Series(False, index=no_amounts.index) if no_completion is None else no_completion) & ~no_indicators
    reason = pd.Series("", index=no_amounts.index)
    for mask, text in ((no_amounts, NO_AMOUNTS), (no_indicators, NO_INDICATORS), (no_completion, NO_COMPLETION), (no_points & ~no_indicators, NO_POINTS)):
        reason = reason + np.where(mask, text + "；", "")
    reason = reason.str.rstrip("；")
    status = pd.Series(np.select([no_amounts | no_indicators | no_completion, no_points], [UNREVIEWED, UNSCORED], ""), index=no_amounts.index)
    return status, reason


def _completed(ind: pd.DataFrame) -> pd.Series:
    """Per indicator row: an actual value or a self score was written (true where the frame
    does not say: a rescoring from final scores only)."""
    if "actual_blank" not in ind and "self_score" not in ind:
        return pd.Series(True, index=ind.index)
    actual = ~ind["actual_blank"].fillna(True).astype(bool) if "actual_blank" in ind else False
    return ind["self_score"].notna() | actual if "self_score" in ind else actual


def _status_grade(grade: pd.Series, status: pd.Series, reason: pd.Series) -> pd.Series:
    return grade.where(status.eq(""), status + "（" + reason + "）")


def score_projects(projects: pd.DataFrame, ind: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    p = projects.drop_duplicates(["file", "project_code"], keep="first").copy()
    rate = _ratio(p["spent"], p["budget"], rules.rate_decimals)
    p["exec_rate"] = rate
    p["exec_zero"] = p["budget"].eq(0)
    # A form's own execution points (10, or 20 on 湖北-style forms) leave the rest to indicators.
    p["exec_weight_used"] = p["exec_weight"].fillna(rules.project_execution_weight)
    p["indicator_total"] = rules.project_indicator_total + rules.project_execution_weight - p["exec_weight_used"]
    # Capped to [0, weight] like every score: a negative 全年执行数 (itself an 错误) scores 0.
    # No amounts: execution cannot be computed (NaN, 无法计算), never 0; a zero budget scores 0.
    p["exec_score"] = round_half_up((p["exec_weight_used"] * rate.clip(0, 1 if rules.execution_cap else None))
                                    .where(~p["exec_zero"], 0.0), rules.score_decimals)
    # Only the columns summed: the indicators are a country's rows, never copied whole.
    mine = ind.loc[ind["project_code"] != ""]
    own = mine[[c for c in ("file", "project_code", "score", "weight") if c in ind]].assign(completed=_completed(mine)).groupby(["file", "project_code"])
    sums = own["score"].sum(min_count=1).rename("ind_score")
    p = p.merge(sums, left_on=["file", "project_code"], right_index=True, how="left")
    if "weight" in ind:  # a rescoring from final scores only (抽评) keeps the status found when read
        counts = pd.concat([own.size().rename("ind_count"), own["weight"].count().rename("ind_weighted"),
                            own["completed"].sum().rename("ind_completed")], axis=1)
        p = p.drop(columns=["ind_count", "ind_weighted", "ind_completed"], errors="ignore")
        p = p.merge(counts, left_on=["file", "project_code"], right_index=True, how="left")
        p["read_status"], p["read_reason"] = read_status(p["budget"].isna() | p["spent"].isna(), p["ind_count"].fillna(0).eq(0),
                                                         p["ind_weighted"].fillna(0).eq(0), p["ind_completed"].fillna(0).eq(0))
    graded_ok = p["read_status"].eq("")
    p["ind_score"] = round_half_up(p["ind_score"].fillna(0), rules.score_decimals)
    # Never above the form's maximum, whatever its 分值 add up to (weight.over reports them).
    p["ind_score"] = np.minimum(p["ind_score"], p["indicator_total"])
    total = round_half_up(p["exec_score"] + p["ind_score"], rules.score_decimals)
    p["exec_cap"] = execution_cap(total, p["exec_rate"], rules)
    p["total"] = np.minimum(total.clip(upper=p["exec_weight_used"] + p["indicator_total"]), p["exec_cap"]).where(graded_ok)
    p["uncapped_total"] = total.where(graded_ok)
    p["grade"] = _status_grade(grade(p["total"], rules), p["read_status"], p["read_reason"])
    p["diff"] = round_half_up(p["self_score"] - p["total"], rules.score_decimals)
    p["rank"] = project_rank(p)
    p["dept_rank"] = p.groupby("file")["total"].rank(method="min", ascending=False).astype("Int64")
    return p


def project_rank(projects: pd.DataFrame) -> pd.Series:
    """Each project's rank among all the batch's projects (1, 2, 2, 4)."""
    return projects["total"].rank(method="min", ascending=False).astype("Int64")


def score_depts(depts: pd.DataFrame, rates: pd.DataFrame, ind: pd.DataFrame, projects: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    d = pd.concat([depts, rates, dept_money(depts)], axis=1)
    own = ind[ind["project_code"] == ""]
    total = own.groupby("file")["score"].sum(min_count=1)
    if "weight" in own:  # a rescoring from final scores only (抽评) keeps the status found when read
        d["read_status"], d["read_reason"] = _dept_status(d, own)
    status = d["read_status"].fillna("") if "read_status" in d else pd.Series("", index=d.index)
    # Project forms without a department form give no department score (not 0); nor does a
    # form that was not all read.
    total = round_half_up(d["file"].map(total).fillna(0).clip(upper=rules.department_total)
                          .where(d["has_dept_form"] & status.eq("")), rules.score_decimals)
    d["exec_cap"] = execution_cap(total, d[RATE_COLUMNS["预算执行率"]], rules)
    d["total"] = np.minimum(total, d["exec_cap"])
    d["uncapped_total"] = total
    d["diff"] = round_half_up(d["self_total"] - d["total"], rules.score_decimals)
    stats = projects.groupby("file")["total"].agg(["count", "mean"])
    d["project_count"] = d["file"].map(stats["count"]).fillna(0).astype(int)
    d["project_avg"] = round_half_up(d["file"].map(stats["mean"]), rules.score_decimals)
    d["top_deductions"] = d["file"].map(_top_deductions(own)).astype(object).fillna("")
    return d


def _dept_status(d: pd.DataFrame, own: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """A department form's read status: its amounts (official forms: 金额合计 or the funds
    block; the template's 基本信息 is checked by its own rules), and its indicators other than
    the execution row the funds give."""
    mine = own[~own["method_used"].eq("预算执行率")] if "method_used" in own else own
    count = d["file"].map(mine.groupby("file").size()).fillna(0)
    weighted = d["file"].map(mine.groupby("file")["weight"].count()).fillna(0)
    completed = d["file"].map(_completed(mine).groupby(mine["file"]).sum()).fillna(0)
    form = d["has_dept_form"].astype(bool)
    official = form & ~d["layout"].fillna("").eq(FORMAT1)
    # Some 部门整体 forms print 预算执行率 as an indicator row (target and actual rate) instead
    # of a funds block: that row is the execution, scored like any indicator.
    is_rate = [budget_execution_row(l2, l3) for l2, l3 in zip(mine["l2"], mine["l3"])]
    rate_row = d["file"].isin(set(mine.loc[is_rate, "file"]))
    no_amounts = official & (d["dept_budget"].isna() | d["dept_spent"].isna()) & ~rate_row
    return read_status(no_amounts, form & count.eq(0), form & weighted.eq(0), form & completed.eq(0))


def _top_deductions(own: pd.DataFrame, n: int = 3) -> pd.Series:
    lost = own[own["deduction"] > 0].sort_values(["file", "deduction"], ascending=[True, False], kind="stable")
    top = lost.groupby("file").head(n)
    label = top["l3"].fillna("").astype(str) + " −" + number_text(top["deduction"], "{:.2f}")
    return label.groupby(top["file"]).agg("；".join)


def _rankable(d: pd.DataFrame, by: str) -> pd.Series:
    """The score `by` of the departments that take part in ranking, missing for the others."""
    status = d["read_status"].fillna("") if "read_status" in d else pd.Series("", index=d.index)
    eligible = ~d["has_error"].astype(bool) & ~d["superseded"].astype(bool) & d["has_dept_form"].astype(bool) & status.eq("")
    return d[by].where(eligible)


def dept_ranks(depts: pd.DataFrame, by: str = "total") -> tuple[pd.Series, pd.Series]:
    """Overall and in-category ranks (1, 2, 2, 4) among `depts`: the only figures of a
    department that depend on the other departments of its batch."""
    score = _rankable(depts, by)
    overall = score.rank(method="min", ascending=False).astype("Int64")
    return overall, score.groupby(depts["dept_category"].fillna("")).rank(method="min", ascending=False).astype("Int64")


def rank(depts: pd.DataFrame, rules: Rules, by: str = "total") -> pd.DataFrame:
    """Overall and in-category ranks (1, 2, 2, 4) and grades by column `by`; departments with an 错误 are unranked."""
    d = depts.copy()
    status = d["read_status"].fillna("") if "read_status" in d else pd.Series("", index=d.index)
    reason = d["read_reason"].fillna("") if "read_reason" in d else status
    score = _rankable(d, by)
    d["rank"], d["cat_rank"] = dept_ranks(d, by)
    d["grade"] = _status_grade(grade(score, rules).where(d["has_dept_form"].astype(bool), rules.project_only), status, reason)
    order = d.assign(_r=d["rank"].astype("float64").fillna(np.inf)).sort_values(["_r", "dept_code"], kind="stable")
    return order.drop(columns="_r").reset_index(drop=True)


def score_all(frames: Frames, rules: Rules) -> Scored:
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN comparisons are expected here
        return _score_all(frames, rules)


def _score_all(frames: Frames, rules: Rules) -> Scored:
    depts = frames.depts.reset_index(drop=True)
    rates = dept_rates(depts, rules)
    ind = score_indicators(frames.indicators, depts, rates, rules) if len(frames.indicators) else _empty_scored(frames.indicators)
    projects = score_projects(frames.projects, ind, rules)
    return Scored(score_depts(depts, rates, ind, projects, rules), ind, projects)


def _empty_scored(ind: pd.DataFrame) -> pd.DataFrame:
    cols = ["method_used", "method_inferred", "unit_mismatch", "dated", "rate", "score", "deduction", "diff", "zero_den",
            "unverifiable", "level_unknown", "level_how", "below_target", "explain"]
    return ind.assign(**{c: pd.Series(dtype="float64") for c in cols})
