"""The funds block of official forms: 年度资金总额 (or 金额合计) against its sources.

A real slip in a published form prints the total row as 0 / 0 / 0 while the source rows
below hold the money. The bureau's review must notice it, take execution from the sources
and say so; and a total that differs from its sources is a finding either way. Vectorised
over every form of the batch.
"""

from __future__ import annotations

import pandas as pd

from .. import findings as F
from ..read.assemble import Frames
from ..rules import Rules
from ..values import number_text
from .checks import compare_money

_MONEY = ("initial_budget", "budget", "spent")
_KEYS = ["file", "project_code"]


def reconcile(frames: Frames, rules: Rules) -> pd.DataFrame:
    """Fill blank or zero totals from their sources (in `frames`, in place); the findings."""
    f = frames.funds
    if f.empty:
        return F.frame()
    sources = f[f["kind"] == "来源"].groupby(_KEYS)[list(_MONEY)].sum(min_count=1).add_prefix("src_")
    totals = f[f["kind"] == "合计"].drop_duplicates(_KEYS).set_index(_KEYS)
    both = totals.join(sources, how="inner").reset_index()
    if both.empty:
        return F.frame()
    empty_total = both[["budget", "spent"]].fillna(0).eq(0).all(axis=1)
    from_sources = empty_total & both[["src_budget", "src_spent"]].fillna(0).gt(0).any(axis=1)
    _fill(frames, both[from_sources])
    checked = both[~from_sources]
    return F.concat([_from_sources_findings(both, from_sources), *_mismatch_findings(checked, rules)])


def _fill(frames: Frames, fill: pd.DataFrame) -> None:
    """Sources' sums in place of the empty totals: on the project, or on the department."""
    if fill.empty:
        return
    new = fill.set_index(_KEYS)[[f"src_{k}" for k in _MONEY]]
    p = frames.projects
    idx = pd.MultiIndex.from_frame(p[_KEYS])
    hit = idx.isin(new.index)
    for k in _MONEY:
        p.loc[hit, k] = new.loc[idx[hit], f"src_{k}"].to_numpy()
    dept = new.xs("", level="project_code") if "" in new.index.get_level_values("project_code") else None
    if dept is not None:
        d = frames.depts
        on = d["file"].isin(dept.index)
        d.loc[on, "budget_total"] = d.loc[on, "file"].map(dept["src_budget"]).to_numpy()
        d.loc[on, "spent_total"] = d.loc[on, "file"].map(dept["src_spent"]).to_numpy()


def _amounts(df: pd.DataFrame, prefix: str = "") -> pd.Series:
    """年初预算 / 全年预算 / 全年执行 as written (up to 6 decimals: 元 amounts are in 万元 here)."""
    parts = [number_text(df[prefix + k], "{:,.6f}").str.replace(r"\.?0+$", "", regex=True).replace("", "空") for k in _MONEY]
    return parts[0] + " / " + parts[1] + " / " + parts[2]


def _who(df: pd.DataFrame) -> pd.Series:
    return ("项目 " + df["project_code"].astype(str) + " 的").where(df["project_code"].ne(""), "部门整体").astype(str)


def _from_sources_findings(both: pd.DataFrame, mask: pd.Series) -> pd.DataFrame:
    first = both["cell_initial_budget"].fillna("").where(both["cell_initial_budget"].fillna("").ne(""), both["cell_budget"].fillna(""))
    cells = first + ":" + both["cell_spent"].fillna("")
    msg = (_who(both) + both["label"].fillna("资金合计").astype(str) + "为 " + _amounts(both) + " 万元（单元格 " + cells
           + "），而其下各来源合计为 " + _amounts(both, "src_") + " 万元；已按来源合计计算预算执行率，请更正该行")
    return F.where(both, mask, "funds.from_sources", msg, sheet=both["sheet"], cell=cells)


def _mismatch_findings(df: pd.DataFrame, rules: Rules) -> list[pd.DataFrame]:
    if df.empty:
        return []
    out = []
    for key, word in (("budget", "全年预算数"), ("spent", "全年执行数")):
        left = _who(df) + "各资金来源" + word + "合计"
        right = df["label"].fillna("资金合计").astype(str) + word
        out.append(compare_money(df, df[f"src_{key}"], df[key], rules=rules, sheet=df["sheet"], cell=df[f"cell_{key}"],
                                 left_name=left, right_name=right, rule_id="funds.mismatch"))
    return out
