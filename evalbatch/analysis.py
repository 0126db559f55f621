"""The figures of the 统计分析 sheet, computed from the ranked departments and indicators.

Only rated departments (not 未评级) count, so a broken file never moves an average.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .rules import Rules
from .scoring import RATE_COLUMNS

SCORE_BINS = list(range(0, 101, 5))
EXEC_BINS = [0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


def rated(depts: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    return depts[depts["grade"] != rules.unrated]


def grades_by_category(depts: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Counts and shares of each grade per 单位类别, with a 合计 row."""
    grades = rules.grade_names
    d = rated(depts, rules)
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
    """Departments per 5-point band of 复核得分; the last band includes 100."""
    scores = rated(depts, rules)["total"]
    counts, _ = np.histogram(scores.clip(0, 100), bins=SCORE_BINS)
    labels = [f"{a}–{b}" for a, b in zip(SCORE_BINS[:-1], SCORE_BINS[1:])]  # the last band includes 100
    return pd.DataFrame({"得分区间": labels, "单位数": counts.astype(int)})


def execution_distribution(depts: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Departments per band of 预算执行率 (0–50 %, 50–60 %, … 90–100 %, 100 % 及以上)."""
    rate = rated(depts, rules)[RATE_COLUMNS["预算执行率"]]
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
    """Average 分值, 复核得分 and 得分率 per 一级指标 of 整体指标, over rated departments."""
    files = set(rated(depts, rules)["file"])
    own = indicators[(indicators["project_code"] == "") & indicators["file"].isin(files)]
    per_dept = own.groupby(["l1", "file"], sort=False)[["weight", "score"]].sum().reset_index()
    g = per_dept.groupby("l1", sort=False).agg(单位数=("file", "nunique"), 平均分值=("weight", "mean"), 平均得分=("score", "mean"))
    g["得分率"] = (g["平均得分"] / g["平均分值"].where(g["平均分值"] > 0)).fillna(0)
    g[["平均分值", "平均得分"]] = g[["平均分值", "平均得分"]].round(2)
    return g.reset_index().rename(columns={"l1": "一级指标"})


def top_bottom(depts: pd.DataFrame, rules: Rules, n: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first and last `n` rated departments by rank (ties by 单位编码, as ranked)."""
    d = rated(depts, rules)[["rank", "dept_code", "dept_name", "dept_category", "total", "grade"]]
    return d.head(n).reset_index(drop=True), d.tail(n).iloc[::-1].reset_index(drop=True)


def totals(depts: pd.DataFrame, rules: Rules) -> dict:
    """The totals row of 汇总排名: counts and averages over rated departments."""
    d = rated(depts, rules)
    mean = d.mean(numeric_only=True)
    row = {
        "dept_name": f"合计：{len(depts)} 个单位，{len(d)} 个参评",
        "total": mean.get("total"), "self_total": mean.get("self_total"), "diff": mean.get("diff"),
        "project_count": depts["project_count"].sum(), "project_avg": d["project_avg"].mean(),
        "errors": depts["errors"].sum(), "warnings": depts["warnings"].sum(),
    }
    row.update({col: mean.get(col) for col in RATE_COLUMNS.values()})
    return row
