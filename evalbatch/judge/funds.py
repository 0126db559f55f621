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


# Each breakdown of a funds block adds up to its own total: the sources (or Form B's tasks) to
# the form's total (合计); the spending list to its own heading where it prints one (支出合计: the
# central form's 按支出性质分), else — a block printing income and spending side by side — to the
# form's total; the income list to its own (收入合计). The kinds are those the reader writes.
_LISTS = (("来源", ("合计",), "各资金来源"), ("支出", ("支出合计", "合计"), "各支出项目"), ("收入", ("收入合计",), "各收入项目"))


def reconcile(frames: Frames, rules: Rules) -> pd.DataFrame:
    """Fill blank or zero totals from their sources (in `frames`, in place); the findings."""
    f = frames.funds
    if f.empty:
        return F.frame()
    # A department's own rows carry no project code: blank, not missing, or grouping drops them.
    f = f.assign(project_code=f["project_code"].astype(object).where(f["project_code"].notna(), ""))
    out, filled = [], set()
    for part, total_kinds, word in _LISTS:
        sources = f[f["kind"] == part].groupby(_KEYS)[list(_MONEY)].sum(min_count=1).add_prefix("src_")
        candidates = f[f["kind"].isin(total_kinds)]
        first = candidates["kind"].map({k: i for i, k in enumerate(total_kinds)}).sort_values(kind="stable").index
        totals = candidates.loc[first].drop_duplicates(_KEYS).set_index(_KEYS)
        both = totals.join(sources, how="inner").reset_index()
        if both.empty:
            continue
        keys = pd.Series(list(zip(both["file"], both["project_code"])), index=both.index)
        both = both[~keys.isin(filled)]  # a total already taken from one breakdown is not re-checked against another
        empty_total = both[["budget", "spent"]].fillna(0).eq(0).all(axis=1)
        # Only the total execution is computed from may be taken from its parts.
        from_sources = empty_total & both[["src_budget", "src_spent"]].fillna(0).gt(0).any(axis=1) & both["kind"].eq("合计")
        _fill(frames, both[from_sources])
        filled |= set(zip(both.loc[from_sources, "file"], both.loc[from_sources, "project_code"]))
        out += [_from_sources_findings(both, from_sources, word), *_mismatch_findings(both[~from_sources], rules, word)]
    return F.concat(out)


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


def _from_sources_findings(both: pd.DataFrame, mask: pd.Series, word: str) -> pd.DataFrame:
    first = both["cell_initial_budget"].fillna("").where(both["cell_initial_budget"].fillna("").ne(""), both["cell_budget"].fillna(""))
    cells = first + ":" + both["cell_spent"].fillna("")
    msg = (_who(both) + both["label"].fillna("资金合计").astype(str) + "为 " + _amounts(both) + " 万元（单元格 " + cells
           + "），而其下" + word + "合计为 " + _amounts(both, "src_") + " 万元；已按来源合计计算预算执行率，请更正该行")
    return F.where(both, mask, "funds.from_sources", msg, sheet=both["sheet"], cell=cells)


def _mismatch_findings(df: pd.DataFrame, rules: Rules, word: str) -> list[pd.DataFrame]:
    if df.empty:
        return []
    out = []
    for key, column in (("budget", "全年预算数"), ("spent", "全年执行数")):
        left = _who(df) + word + column + "合计"
        right = df["label"].fillna("资金合计").astype(str) + column
        out.append(compare_money(df, df[f"src_{key}"], df[key], rules=rules, sheet=df["sheet"], cell=df[f"cell_{key}"],
                                 left_name=left, right_name=right, rule_id="funds.mismatch"))
    return out
