"""The figures of the 统计分析 sheet, computed from the ranked departments and indicators.

Only ranked departments count (not 未评级, nor a unit that sent project forms only), so a
broken file never moves an average.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..findings import LEVEL_ORDER
from ..rules import Rules
from ..values import round_half_up
from .scoring import RATE_COLUMNS, pooled_rates

SCORE_BINS = list(range(0, 101, 5))
EXEC_BINS = [0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


def rated(depts: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    return depts[depts["grade"] != rules.unrated]


def ranked(depts: pd.DataFrame) -> pd.DataFrame:
    """The departments with a rank (a 复核得分 and no 错误), in ranked order: not those that
    sent project forms only (未评级（仅项目自评）) nor any other unranked one."""
    return depts[depts["rank"].notna()] if "rank" in depts else depts.iloc[0:0]


def grades_by_category(depts: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Counts and shares of each grade per 单位类别, with a 合计 row."""
    grades = rules.grade_names
    d = ranked(depts)
    counts = pd.crosstab(d["dept_category"].fillna("未填"), d["grade"]).reindex(columns=grades, fill_value=0)
    counts.loc["合计"] = counts.sum()
    counts = counts.astype(int)
    total = counts.sum(axis=1)
    shares = counts.div(total.where(total > 0), axis=0).fillna(0)
    out = pd.DataFrame({"类别": counts.index, "单位数": total.to_numpy()})
    for g in grades:
        out[g] = counts[g].to_numpy()
    for g in grades:
        out[f"{g}占比"] = shares[g].to_numpy()
    return out.reset_index(drop=True)


def score_histogram(depts: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Ranked departments per 5-point band of 复核得分, from the lowest band that holds one
    (a batch of 85–100 is three bands, not sixteen empty ones before them); the last band
    includes 100. Empty when no department is ranked."""
    scores = pd.to_numeric(ranked(depts)["total"], errors="coerce").dropna().clip(0, 100)
    if scores.empty:
        return pd.DataFrame({"得分区间": pd.Series(dtype=object), "单位数": pd.Series(dtype=int)})
    lowest = min(int(scores.min() // 5) * 5, SCORE_BINS[-2])  # 100 itself is in the band 95–100
    bins = [b for b in SCORE_BINS if b >= lowest]
    counts, _ = np.histogram(scores, bins=bins)
    labels = [f"{a}–{b}" for a, b in zip(bins[:-1], bins[1:])]
    return pd.DataFrame({"得分区间": labels, "单位数": counts.astype(int)})


def axis_range(values: pd.Series, step: float = 5, low: float = 0, high: float = 100) -> tuple[float, float]:
    """A chart axis fitted to `values`: whole `step`s around them, within [low, high] (scores
    of 85–100 on 85–100, not on 0–100)."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    if v.empty:
        return low, high
    bottom = max(low, np.floor(v.min() / step) * step)
    top = min(high, np.ceil(v.max() / step) * step)
    return float(bottom), float(top if top > bottom else min(high, bottom + step))


def execution_distribution(depts: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Departments per band of 预算执行率 (0–50 %, 50–60 %, … 90–100 %, 100 % 及以上)."""
    rate = ranked(depts)[RATE_COLUMNS["预算执行率"]]
    known = rate.dropna()
    edges = EXEC_BINS + [np.inf]
    counts, _ = np.histogram(known.clip(lower=0), bins=edges)
    labels = [f"{a:.0%}–{b:.0%}" for a, b in zip(EXEC_BINS[:-1], EXEC_BINS[1:])] + ["100% 及以上"]
    out = pd.DataFrame({"预算执行率": labels, "单位数": counts.astype(int)})
    missing = int(rate.isna().sum())
    if missing:
        out.loc[len(out)] = ["无法计算", missing]
    return out


def level1_averages(depts: pd.DataFrame, indicators: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Average 分值, 复核得分 and 得分率 per 一级指标 of 整体指标, over ranked departments."""
    files = set(ranked(depts)["file"])
    own = indicators[(indicators["project_code"] == "") & indicators["file"].isin(files)]
    per_dept = own.groupby(["l1", "file"], sort=False)[["weight", "score"]].sum().reset_index()
    g = per_dept.groupby("l1", sort=False).agg(单位数=("file", "nunique"), 平均分值=("weight", "mean"), 平均得分=("score", "mean"))
    g["得分率"] = (g["平均得分"] / g["平均分值"].where(g["平均分值"] > 0)).fillna(0)
    g[["平均分值", "平均得分"]] = g[["平均分值", "平均得分"]].round(2)
    return g.reset_index().rename(columns={"l1": "一级指标"})


def top_bottom(depts: pd.DataFrame, rules: Rules, n: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first and last `n` ranked departments (ties by 单位编码, as ranked); unranked ones
    (project forms only, errors) are in neither."""
    d = ranked(depts)[["rank", "dept_code", "dept_name", "dept_category", "total", "grade"]]
    return d.head(n).reset_index(drop=True), d.tail(n).iloc[::-1].reset_index(drop=True)


# 汇总排名's columns that add up (money and counts), and those that are averaged.
SUMMED = ("dept_budget", "dept_spent", "project_count", "reviewed_projects", "errors", "warnings")
AVERAGED_SCORES = ("total", "self_total", "diff", "review_total", "final_total", "project_avg")
AVERAGED_OTHER = ("dept_budget", "dept_spent", "project_count")


def _sum(series: pd.Series) -> float | None:
    """The sum to the cent (no binary noise: 9021.6, not 9021.599999999999); None when all are blank."""
    total = series.sum(min_count=1)
    return None if pd.isna(total) else round_half_up(float(total), 2)


def summary_total(depts: pd.DataFrame, rules: Rules) -> dict:
    """汇总排名's 合计 row, over every department listed: the sums of money and counts, and
    the six rates of all departments taken together (summed numerators ÷ summed
    denominators, e.g. 预算执行率 = total spent ÷ total budget), never averages of rates."""
    row = {"dept_name": f"合计：{len(depts)} 个单位，{len(_scored(depts, rules))} 个参评"}
    row.update({k: _sum(pd.to_numeric(depts[k], errors="coerce")) if k in depts else None for k in SUMMED})
    row.update(pooled_rates(depts, rules))
    return row


def _scored(depts: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Rated departments with a 复核得分 (not those that sent project forms only): the ranked ones."""
    d = rated(depts, rules)
    return d[d["total"].notna()] if "total" in d else d


def summary_average(depts: pd.DataFrame, rules: Rules) -> dict:
    """汇总排名's 平均 row: plain averages over the ranked departments (a broken file never
    moves one) of scores, rates, money and 项目数; scores and money to 2 decimals, rates as rated."""
    d = _scored(depts, rules)
    row: dict = {"dept_name": f"平均：{len(d)} 个参评单位"}

    def mean(key: str, decimals: int):
        if key not in d:
            return None
        m = pd.to_numeric(d[key], errors="coerce").mean()
        return None if pd.isna(m) else round_half_up(float(m), decimals)

    row.update({k: mean(k, rules.score_decimals) for k in AVERAGED_SCORES})
    row.update({k: mean(k, 2) for k in AVERAGED_OTHER})
    row.update({col: mean(col, rules.rate_decimals) for col in RATE_COLUMNS.values()})
    return row


def project_total(projects: pd.DataFrame, rules: Rules) -> dict:
    """项目汇总's 合计 row: how many projects, their budget and spending, and the execution rate
    of them together (total spent ÷ total budget over projects that have both)."""
    budget = pd.to_numeric(projects["budget"], errors="coerce") if "budget" in projects else pd.Series(dtype="float64")
    spent = pd.to_numeric(projects["spent"], errors="coerce") if "spent" in projects else pd.Series(dtype="float64")
    both = budget.notna() & spent.notna()
    rate = round_half_up(spent[both].sum() / budget[both].sum(), rules.rate_decimals) if budget[both].sum() else None
    return {"project_name": f"合计：{len(projects)} 个项目", "budget": _sum(budget), "spent": _sum(spent), "exec_rate": rate}


def findings_by_rule(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings counted per rule and level, 错误 first, then 警告 and 提示, the most frequent
    first within a level: 规则, 级别, 问题数, 涉及文件数, 占全部问题, 规则编号."""
    cols = ["规则", "级别", "问题数", "涉及文件数", "占全部问题", "规则编号"]
    if findings is None or findings.empty:
        return pd.DataFrame(columns=cols)
    g = (findings.assign(_f=findings["file"].astype(str))
         .groupby(["rule_id", "rule", "level"], sort=False, dropna=False)
         .agg(问题数=("_f", "size"), 涉及文件数=("_f", "nunique")).reset_index())
    g["占全部问题"] = g["问题数"] / len(findings)
    g["_order"] = g["level"].map(LEVEL_ORDER).fillna(9)
    g = g.sort_values(["_order", "问题数", "rule_id"], ascending=[True, False, True], kind="stable")
    out = g.rename(columns={"rule": "规则", "level": "级别", "rule_id": "规则编号"})[cols]
    return out.astype({"问题数": int, "涉及文件数": int}).reset_index(drop=True)


def status_counts(statuses: pd.Series) -> pd.DataFrame:
    """Roster units per 报送状态 in the order the statuses first appear, with shares and a 合计 row."""
    counts = statuses.value_counts(sort=False)
    total = int(counts.sum())
    out = pd.DataFrame({"报送状态": [*counts.index.astype(str), "合计"], "单位数": [*counts.astype(int), total]})
    out["占比"] = out["单位数"] / total if total else 0.0
    return out
