"""Reviewed scores applied to a run's scored frames, as column arithmetic over all departments.

For a reviewed indicator its 抽评得分 replaces the recomputed score; a verified value
(抽评核实完成值) without a score is rescored by the rules (scoring.score_indicators on those
rows, the verified value taking the place of the actual). Projects' and departments'
最终得分 are then recomputed by the scoring functions themselves from the final indicator
scores, and departments ranked by 最终得分; where nothing was reviewed, 最终得分 = 复核得分.

Also here: the checks that need this run (a reviewed indicator it no longer has, a submission
changed since the draw), the 抽评结果 table of every drawn item, and the adjustments the
history database records.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import findings as F
from ..judge.evaluate import BatchResult
from ..judge.scoring import RATE_COLUMNS, Scored, rank, score_depts, score_indicators, score_projects
from ..rules import Rules
from ..values import INDICATOR_PARTS, number_text, parse_indicator, parse_text, round_half_up
from ..write.columns import REVIEW_RESULTS
from .collect import Collected
from .identity import IDENTITY, identity, pair_mask, texts
from .layout import DEPARTMENT, PROJECT
from .quality import quality

log = logging.getLogger("evalbatch")

# The department frame's rate columns (scoring.dept_rates): given to scoring beside the departments.
RATES = [*RATE_COLUMNS.values(), *(f"zero_{c}" for c in RATE_COLUMNS.values())]
ADJUSTMENT_COLUMNS = ["draw_id", "item_no", "seq", "reviewer", "review_file", "dept_code", "file", "project_code", "indicator",
                      "old_score", "new_score", "how", "verified", "comment"]
BY_SCORE, BY_VALUE = "抽评得分", "按抽评核实完成值重新计分"


@dataclass
class ReviewOutcome:
    findings: pd.DataFrame
    items: pd.DataFrame  # 抽评结果: columns.REVIEW_RESULTS
    adjustments: pd.DataFrame  # review_adjustments of the history database (ADJUSTMENT_COLUMNS)

    @property
    def has_errors(self) -> bool:
        return bool((self.findings["level"] == F.ERROR).any())


def apply_to(result: BatchResult, reviews: Collected | None, rules: Rules) -> None:
    """The night's reviews on an evaluated batch, in place: final scores and ranks, 抽评结果,
    and the review workbooks' findings among the findings."""
    scored = Scored(result.scored_depts, result.indicators, result.projects)
    result.depts, result.review = apply_reviews(scored, result.depts, reviews, rules, {r.name: r.sha256 for r in result.records})
    result.findings = F.concat([result.findings, result.review.findings])


def apply_reviews(scored: Scored, ranked: pd.DataFrame, reviews: Collected | None, rules: Rules,
                  sha_of: dict[str, str]) -> tuple[pd.DataFrame, ReviewOutcome]:
    """Final scores on `scored` (in place) and on the ranked departments (returned, ranked by
    最终得分), with what the reviews gave. A failure here costs the reviews, never the night:
    the run goes on without them, with one 错误 and the traceback in the log."""
    kept = scored.projects[["grade", "rank", "dept_rank"]].copy()
    try:
        return _applied(scored, ranked, reviews if reviews is not None else Collected.none(), rules, sha_of)
    except Exception:
        log.error("应用抽评结果时发生内部错误，本次未采用抽评结果：\n%s", traceback.format_exc())
    scored.projects[kept.columns] = kept
    scored.indicators.drop(columns=["review_score", "verified", "review_comment"], errors="ignore", inplace=True)
    ranked, outcome = _applied(scored, ranked, Collected.none(), rules, sha_of)
    outcome.findings = F.frame([F.one("review.internal", INTERNAL)])
    return ranked, outcome


INTERNAL = "应用抽评结果时发生内部错误，本次运行未采用任何抽评结果（排名按复核得分）；详细信息见运行日志，请联系系统管理员"


def _applied(scored: Scored, ranked: pd.DataFrame, reviews: Collected, rules: Rules,
             sha_of: dict[str, str]) -> tuple[pd.DataFrame, ReviewOutcome]:
    ind, projects = scored.indicators, scored.projects
    placed, missing = _placed(ind, reviews)
    placed, moved, moved_found = _against_present(ind, placed)
    placed = _mark(ind, placed, scored.depts, rules)
    applied = placed[placed["new_score"].notna()]
    projects["final_total"], projects["review_total"] = projects["total"], np.nan
    ranked = ranked.assign(final_total=ranked["total"], review_total=np.nan)
    if len(applied):
        _final_projects(projects, ind, applied, rules)
        ranked = rank(_final_depts(ranked, scored, ind, applied, rules), rules, by="final_total")
    ranked = _project_reviews(ranked, projects, rules)
    stale, stale_found = _stale(reviews, projects, ranked, sha_of)
    items = _results(reviews, missing, stale, projects, ranked, rules, moved)
    findings = F.relevel(F.concat([reviews.findings, _missing_findings(missing), stale_found, moved_found]), rules.rule_levels)
    return ranked, ReviewOutcome(findings, items, _adjustments(applied, ind))


# --- indicators ---------------------------------------------------------------------------


def _placed(ind: pd.DataFrame, reviews: Collected) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reviews with the position (`pos`) of their indicator row in this run, found by
    identity; and those whose indicator this run does not have."""
    marks = reviews.marks.assign(seq=reviews.marks["seq"].astype("Int64"), draw_id=reviews.marks["draw_id"].astype("int64"))
    drawn = reviews.indicators.assign(seq=pd.to_numeric(reviews.indicators["seq"]).astype("Int64"),
                                      draw_id=reviews.indicators["draw_id"].astype("int64"))
    drawn = drawn.assign(weight_drawn=pd.to_numeric(drawn["weight"], errors="coerce").astype("float64"))
    marks = marks.merge(drawn[["draw_id", "item_no", "seq", "weight_drawn", *IDENTITY]], on=["draw_id", "item_no", "seq"])
    if marks.empty or ind.empty:
        return marks.assign(pos=pd.Series(dtype="int64")).iloc[0:0], marks
    near = pair_mask(ind, marks)
    here = identity(ind[near]).assign(pos=np.flatnonzero(near))
    marks = marks.assign(nth=marks["nth"].astype("int64")).merge(here, on=IDENTITY, how="left")
    found = marks["pos"].notna()
    placed = marks[found].astype({"pos": "int64"}).drop_duplicates("pos").reset_index(drop=True)
    return placed, marks[~found & (marks["review_score"].notna() | marks["verified"].notna())].reset_index(drop=True)


def _against_present(ind: pd.DataFrame, placed: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Reviews whose indicator still has the 分值 it was drawn with; the others are not applied
    (a resubmission lowered 6 to 1: a score of 6 would exceed it), with a finding each for the
    reviewer's workbook. A score above the current 分值 is never applied, whatever the draw said.
    Returns the reviews to apply, those refused, and the findings."""
    if placed.empty:
        return placed, placed, F.frame()
    now = pd.to_numeric(ind["weight"].iloc[placed["pos"].to_numpy(dtype="int64")], errors="coerce").to_numpy(dtype="float64")
    now = pd.Series(now, index=placed.index)
    then = placed["weight_drawn"].astype("float64")
    score = pd.to_numeric(placed["review_score"], errors="coerce").astype("float64")
    changed = ~np.isclose(then.fillna(-1), now.fillna(-1), rtol=0, atol=1e-9)
    refused = (changed | (score > now + 1e-9) | now.isna()).fillna(True) & (score.notna() | placed["verified"].notna())
    if not refused.any():
        return placed, placed.iloc[0:0], F.frame()
    gone = placed[refused]
    what = "抽评编号“" + texts(gone["item_no"]) + "”、指标序号 " + number_text(gone["seq"].astype("float64"))
    message = (what + "：抽评后分值由 " + number_text(then[refused]) + " 改为 " + number_text(now[refused]).replace("", "空白")
               + "，抽评得分未采用，请重新抽评")
    found = F.where(pd.DataFrame({"file": gone["review_file"]}), pd.Series(True, index=gone.index), "review.weight_changed", message,
                    sheet=gone["sheet"], cell=gone["cell"])
    return placed[~refused].reset_index(drop=True), gone, found


def _mark(ind: pd.DataFrame, placed: pd.DataFrame, depts: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """The review columns of `ind` (抽评核实完成值, 抽评得分, 抽评意见, 最终得分); `placed` with
    the score each review gives (`new_score`, NaN for a comment alone) and how."""
    if placed.empty:  # the usual night: no review columns on a country's indicators, 最终得分 = 复核得分
        ind["final_score"] = ind["score"]
        return placed.assign(new_score=pd.Series(dtype="float64"), how=pd.Series(dtype=object))
    pos = placed["pos"].to_numpy(dtype="int64")
    score = np.array(placed["review_score"].to_numpy(dtype="float64", na_value=np.nan))  # a copy: filled in below
    by_value = np.isnan(score) & placed["verified"].notna().to_numpy()
    how = pd.Series(np.where(np.isnan(score), "", BY_SCORE), index=placed.index, dtype=object)
    if by_value.any():
        rescored = _rescored(ind, pos[by_value], placed.loc[by_value, "verified"], depts, rules)
        score[by_value] = rescored["score"].to_numpy()
        how[by_value] = (BY_VALUE + "：" + rescored["explain"].astype(str)).to_numpy()
    for column, values, empty in [("review_score", score, np.nan), ("verified", placed["verified"], None),
                                  ("review_comment", placed["comment"], None)]:
        full = np.full(len(ind), empty, dtype="float64" if empty is not None else object)
        full[pos] = np.asarray(values, dtype=full.dtype)
        ind[column] = full
    ind["final_score"] = ind["review_score"].fillna(ind["score"])
    return placed.assign(new_score=score, how=how)


def _rescored(ind: pd.DataFrame, pos: np.ndarray, verified: pd.Series, depts: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Rows scored again by the rules with the verified value as their actual (parsed as the
    reader parses an 实际值)."""
    rows = ind.iloc[pos].copy()
    text = pd.Series(verified.to_numpy(dtype=object), index=rows.index, dtype=object)
    parsed = parse_indicator(text)
    rows["actual"] = parse_text(text)[0]
    for part in INDICATOR_PARTS:
        rows[f"actual_{part}"] = parsed[part]
    return score_indicators(rows, depts, depts[RATES], rules)[["score", "explain"]]


# --- projects and departments ---------------------------------------------------------------


def _final_projects(projects: pd.DataFrame, ind: pd.DataFrame, applied: pd.DataFrame, rules: Rules) -> None:
    """最终得分, grade and ranks of every project from the final indicator scores (scoring's own
    arithmetic: execution score, caps); 抽评得分 where a review changed one of its indicators."""
    light = ind[["file", "project_code"]].assign(score=ind["final_score"])
    again = score_projects(projects.drop(columns="ind_score"), light, rules)  # one row per project, in the same order
    projects["final_total"] = again["total"].to_numpy(dtype="float64")
    for column in ("grade", "rank", "dept_rank"):
        projects[column] = again[column].to_numpy()
    touched = pd.MultiIndex.from_arrays([_at(ind["file"], applied["pos"]), _at(ind["project_code"], applied["pos"])])
    reviewed = pd.MultiIndex.from_arrays([projects["file"], projects["project_code"]]).isin(touched) & projects["project_code"].ne("")
    projects["review_total"] = projects["final_total"].where(reviewed)


def _final_depts(ranked: pd.DataFrame, scored: Scored, ind: pd.DataFrame, applied: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Each department's 最终得分 from its own indicators' final scores, and its 项目平均得分
    from its projects' 最终得分; 抽评得分 where its own self-evaluation was reviewed."""
    d = scored.depts
    light = ind[["file", "project_code", "l3", "deduction"]].assign(score=ind["final_score"])
    projects = scored.projects[["file"]].assign(total=scored.projects["final_total"])
    again = score_depts(d.drop(columns=RATES), d[RATES], light, projects, rules)
    final = pd.Series(again["total"].to_numpy(dtype="float64"), index=d["file"].to_numpy())
    average = pd.Series(again["project_avg"].to_numpy(dtype="float64"), index=d["file"].to_numpy())
    own = applied["pos"][_at(ind["project_code"], applied["pos"]) == ""]
    reviewed = ranked["file"].isin(set(_at(ind["file"], own)))
    # Mapped through file names (pyarrow text): the scores come back as pyarrow numbers unless said otherwise.
    out = ranked.assign(final_total=ranked["file"].map(final).astype("float64"),
                        project_avg=ranked["file"].map(average).astype("float64").fillna(ranked["project_avg"]))
    return out.assign(review_total=out["final_total"].where(reviewed))


def _project_reviews(ranked: pd.DataFrame, projects: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Per unit, how many of its projects a review scored (抽评项目数) and their mean change
    (抽评得分 − 复核得分, 项目抽评平均变化): a project reviewed from 90.28 to 69.81 shows on
    汇总排名 though the unit's own score is unchanged. Blank for a unit with none."""
    reviewed = projects[projects["review_total"].notna()]
    change = (reviewed["review_total"] - reviewed["total"]).groupby(reviewed["file"])
    count, mean = change.size(), change.mean()
    return ranked.assign(reviewed_projects=ranked["file"].map(count).astype("Int64"),
                         review_change=round_half_up(ranked["file"].map(mean).astype("float64"), rules.score_decimals))


# --- checks that need this run ----------------------------------------------------------------


def _in_review_file(df: pd.DataFrame) -> pd.DataFrame:
    """Where a finding goes: the review workbook, never the submission (nor its department)."""
    return pd.DataFrame({"file": df["review_file"]}, index=df.index)


def _missing_findings(missing: pd.DataFrame) -> pd.DataFrame:
    return F.where(_in_review_file(missing), pd.Series(True, index=missing.index), "review.unmatched",
                   "抽评的指标（单位 " + texts(missing["dept_code"]) + "，项目 " + texts(missing["project_code"]) + "，「"
                   + texts(missing["l3"]) + "」）在本次运行中找不到（单位撤回了文件，或重新提交时改了指标名称）；该抽评结果未采用",
                   sheet=missing["sheet"], cell=missing["cell"])


def _current(projects: pd.DataFrame, ranked: pd.DataFrame) -> pd.DataFrame:
    """What this run has for every possible item: its file and its scores."""
    source = projects["source"] if "source" in projects else projects["file"]
    p = pd.DataFrame({"kind": PROJECT, "dept_code": texts(projects["dept_code"]), "project_code": texts(projects["project_code"]),
                      "now_file": source, "now_self": projects["self_score"], "now_total": projects["total"],
                      "review_total": projects["review_total"], "final_total": projects["final_total"]})
    d = pd.DataFrame({"kind": DEPARTMENT, "dept_code": texts(ranked["dept_code"]), "project_code": "", "now_file": ranked["file"],
                      "now_self": ranked["self_total"], "now_total": ranked["total"], "review_total": ranked["review_total"],
                      "final_total": ranked["final_total"]})
    return pd.concat([p, d], ignore_index=True).drop_duplicates(["kind", "dept_code", "project_code"])


def _inputs(reviews: Collected) -> pd.DataFrame:
    """(draw_id, item_no, review_file, sheet, cell) of every review given, the item's row first."""
    grades = reviews.grades[reviews.grades["has_input"].astype(bool)] if len(reviews.grades) else reviews.grades
    given = pd.concat([grades[["draw_id", "item_no", "review_file", "sheet", "cell"]],
                       reviews.marks[["draw_id", "item_no", "review_file", "sheet", "cell"]]], ignore_index=True)
    return given.astype({"draw_id": "int64"}).drop_duplicates(["draw_id", "item_no", "review_file"])


def _stale(reviews: Collected, projects: pd.DataFrame, ranked: pd.DataFrame, sha_of: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Items reviewed though their submission changed after the draw: kept, and said (警告)."""
    items = reviews.items.assign(draw_id=reviews.items["draw_id"].astype("int64"))
    now = items.merge(_current(projects, ranked), on=["kind", "dept_code", "project_code"])
    now["now_sha"] = now["now_file"].map(sha_of).fillna("")
    changed = now[now["now_sha"].ne(now["sha256"]) & now["now_sha"].ne("")]
    note = "提交文件在抽取后已变化（" + changed["now_file"].astype(str) + "）"
    stale = changed[["draw_id", "item_no"]].assign(stale=note)
    hit = changed.merge(_inputs(reviews), on=["draw_id", "item_no"])
    message = ("抽评编号“" + hit["item_no"] + "”（单位 " + hit["dept_code"] + "，" + hit["project_name"] + "）的提交文件在抽取后已变化（"
               + hit["now_file"].astype(str) + "，SHA-256 " + hit["sha256"].str[:12] + "… → " + hit["now_sha"].str[:12]
               + "…）；抽评结果仍按指标名称采用，请核对变化后的内容")
    return stale, F.where(_in_review_file(hit), pd.Series(True, index=hit.index), "review.stale", message, sheet=hit["sheet"], cell=hit["cell"])


# --- 抽评结果 and the history's adjustments ---------------------------------------------------


def _results(reviews: Collected, missing: pd.DataFrame, stale: pd.DataFrame, projects: pd.DataFrame, ranked: pd.DataFrame,
             rules: Rules, moved: pd.DataFrame) -> pd.DataFrame:
    """Every drawn item: why, who, each score, the deviation, the quality and whether it is done."""
    columns = [c.source for c in REVIEW_RESULTS]
    if reviews.items.empty:
        return pd.DataFrame(columns=columns)
    on = ["draw_id", "item_no"]
    items = reviews.items.assign(draw_id=reviews.items["draw_id"].astype("int64"))
    items = items.merge(_current(projects, ranked), on=["kind", "dept_code", "project_code"], how="left")
    grades = reviews.grades.sort_values(["has_input", "review_file"], ascending=[False, True], kind="stable") if len(reviews.grades) else reviews.grades
    grades = grades.astype({"draw_id": "int64"}).drop_duplicates(on).drop(columns=["sheet", "cell", "review_file", "has_input"])
    items = items.merge(grades, on=on, how="left")
    given = reviews.marks[reviews.marks["review_score"].notna() | reviews.marks["verified"].notna()].drop_duplicates([*on, "seq"])
    for extra in (_per_item(given, "n_marked", "size"), _per_item(missing, "n_lost", "size"), _per_item(moved, "n_moved", "size"),
                  _per_item(_inputs(reviews), "review_file", "、".join, "review_file")):
        items = items.merge(extra, on=on, how="left")
    items = items.merge(stale, on=on, how="left")
    q = quality(items, items["rubric_n"], rules)
    n_marked, n_lost = items["n_marked"].fillna(0).astype(int), items["n_lost"].fillna(0).astype(int)
    n_moved = items["n_moved"].fillna(0).astype(int)
    n = items["n_indicators"].fillna(0).astype(int)
    present = items["now_file"].notna()
    named = items["reviewer_name"].fillna("").ne("")
    rest_ok = items["rest_ok"].eq(True) if "rest_ok" in items else pd.Series(False, index=items.index)
    filled = n_marked.ge(n) | rest_ok  # 其余指标核实无误: the rest stand as recomputed
    done = present & filled & q["rubric_done"] & named & n_moved.eq(0)
    note = (pd.Series(np.where(~present, "本次运行中没有该抽评对象，抽评结果未采用；", ""), index=items.index)
            + np.where(present & ~filled, "尚有 " + (n - n_marked).astype(str) + " 项指标未填写抽评得分或核实完成值；", "")
            + np.where(~q["rubric_done"], "质量评分未填完；", "") + np.where(~named, "未填写复核人；", "")
            + np.where(n_lost > 0, n_lost.astype(str) + " 项指标在本次运行中找不到，未采用；", "")
            + np.where(n_moved > 0, n_moved.astype(str) + " 项指标抽评后分值已改变，抽评得分未采用，请重新抽评；", "")
            + items["stale"].fillna("").astype(str))
    out = items.assign(
        self_score=items["now_self"].fillna(items["self_score"]), total=items["now_total"].fillna(items["total"]),
        self_minus_review=(items["now_self"].fillna(items["self_score"]) - items["review_total"]).round(rules.score_decimals),
        marked=n_marked.astype(str) + "/" + n.astype(str), quality_score=q["quality_score"], quality_grade=q["quality_grade"],
        complete=np.where(done, "是", "否"), note=note.str.rstrip("；"))
    return out.sort_values(on, kind="stable").reset_index(drop=True).reindex(columns=columns)


def _per_item(df: pd.DataFrame, name: str, how, column: str = "item_no") -> pd.DataFrame:
    """`how` (size, or a function of the values of `column`) per drawn item, as a frame to merge."""
    on = ["draw_id", "item_no"]
    if df.empty:
        return pd.DataFrame({"draw_id": pd.Series(dtype="int64"), "item_no": pd.Series(dtype=object), name: pd.Series(dtype=object)})
    grouped = df.astype({"draw_id": "int64"}).groupby(on)
    return (grouped.size() if how == "size" else grouped[column].agg(how)).rename(name).reset_index()


def _at(column: pd.Series, pos) -> np.ndarray:
    """The values of `column` at positions `pos`: only those become Python objects, never a
    country's million file names (Arrow text turned whole into an object array)."""
    return column.iloc[np.asarray(pos, dtype="int64")].to_numpy()


def _adjustments(applied: pd.DataFrame, ind: pd.DataFrame) -> pd.DataFrame:
    """One row per indicator a review changed the score of (old = 复核得分, new = 最终得分)."""
    pos = applied["pos"].to_numpy(dtype="int64")
    return pd.DataFrame({
        "draw_id": applied["draw_id"].astype("int64"), "item_no": applied["item_no"], "seq": applied["seq"].astype("int64"),
        "reviewer": applied["reviewer"], "review_file": applied["review_file"], "dept_code": applied["dept_code"],
        "file": _at(ind["file"], pos), "project_code": applied["project_code"], "indicator": applied["l3"],
        "old_score": _at(ind["score"], pos).astype("float64"), "new_score": applied["new_score"].astype("float64"),
        "how": applied["how"], "verified": applied["verified"], "comment": applied["comment"],
    }).reset_index(drop=True)[ADJUSTMENT_COLUMNS]

