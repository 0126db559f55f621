"""Drawing the sample for re-review (抽评) from the latest scored run of a year.

The run is evaluated again exactly as it ran: the files it used, with the content it used
(the parse cache's rows by SHA-256, or the file read again and checked against the SHA-256
it recorded), under the same rules. Flagged items are always drawn, with the reason; the
rest of each department's quota is drawn at random from a `random.Random(seed)` over items
sorted by their codes, so the same seed and the same runs give the same draw whatever the
order or names of the files. The draw, its seed and parameters, and every drawn indicator
row are stored in the history database together with the review workbooks.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..files import FOLDER, OutputError, own_object, remove_quietly, write_reason
from ..judge.checks import exec_mismatch
from ..judge.evaluate import BatchResult, evaluate
from ..judge.scoring import RATE_COLUMNS
from ..lock import RunLock
from ..read.cache import ParseCache
from ..read.discover import HAS_ERROR, USED, FileRecord, extended_path
from ..rules import Rules
from ..values import number_text
from ..write.history import HistoryError, db_path_for, latest_scored
from . import REVIEW_DIR
from .identity import identity, pair_mask, texts
from .layout import DEPARTMENT, PROJECT
from .store import run_files, save_draw
from .workbook import workbook_name, write_workbooks

RETIRED_DIR = "作废"  # under 抽评/: workbooks of an earlier draw that --force replaced, kept
DEPARTMENT_NAME = "部门整体支出"


class DrawError(RuntimeError):
    """The draw cannot be made as asked (exit code 2); the message is for the user."""


@dataclass
class DrawParams:
    year: int
    share: float  # of each department's projects (of all departments with `departments`)
    min_per_dept: int = 1
    seed: int | None = None  # None: a fresh one, recorded with the draw
    include: tuple[str, ...] = ()  # project or department codes drawn in any case
    exclude: tuple[str, ...] = ()  # codes left out of the random part (flagged items stay)
    reviewers: int = 1
    departments: bool = False  # draw whole departments: their own self-evaluation and all their projects
    # "share": the share bounds the whole draw, must-draws first by severity, the overflow said;
    # "all": every must-draw on top of the share (the behaviour before issue 20).
    must_draw: str = "share"


@dataclass
class DrawOutcome:
    draw_id: int
    seed: int
    run: dict  # the run drawn from (its `runs` row)
    items: pd.DataFrame
    workbooks: list[Path]
    notes: list[str] = field(default_factory=list)


def counts_by_reason(items: pd.DataFrame) -> list[tuple[str, int, int]]:
    """(reason, objects, indicators to fill) for each reason a drawn object has; an object with
    two reasons counts under both."""
    each = items.assign(reason=items["reasons"].str.replace("必抽：", "", regex=False).str.split("；")).explode("reason")
    # One line per kind of reason, not per figure in it (得分差异 +6.20 分…, 有 2 个项目须抽评).
    each["reason"] = (each["reason"].str.replace(r"^得分差异 .*", "得分差异过大", regex=True)
                      .str.replace(r"^有 \d+ 个项目须抽评$", "有项目须抽评", regex=True))
    g = each.groupby("reason", sort=False).agg(objects=("item_no", "size"), indicators=("n_indicators", "sum"))
    return [(str(r), int(o), int(n)) for r, (o, n) in g.iterrows()]


def parse_share(text: str) -> float:
    """"20%", "20" or "0.2" as 0.2; anything outside (0, 100 %] is refused."""
    raw = str(text).strip().replace("％", "%")
    try:
        value = float(raw.rstrip("%"))
    except ValueError:
        raise DrawError(f"--share 的值无效：“{text}”；应为百分比，如 20%") from None
    share = value / 100 if raw.endswith("%") or value > 1 else value
    if not 0 < share <= 1:
        raise DrawError(f"--share 的值无效：“{text}”；应大于 0、不超过 100%")
    return share


def draw(out_dir: str | Path, params: DrawParams, rules: Rules, *, force: bool = False,
         lock_max_age: float = 6 * 3600, dry_run: bool = False) -> DrawOutcome:
    """Draw, store and write the review workbooks. Raises DrawError (exit 2), `Locked` (exit 3)
    or OutputError (exit 4). `dry_run`: the same draw, neither stored nor written (draw_id 0)."""
    out_dir = Path(out_dir)
    db = db_path_for(out_dir)
    if not db.exists():
        raise DrawError(f"{out_dir} 中没有运行记录（{db.name}）；请先运行 evalbatch run … --out {out_dir} --year {params.year}")
    lock = RunLock(out_dir, lock_max_age).acquire()  # no nightly run may replace the cache or the database meanwhile
    try:
        run, result = latest_result(out_dir, params.year, rules)
        units = candidates(result, rules, params.departments)
        _known_codes(result, params)
        seed = params.seed if params.seed is not None else random.SystemRandom().randrange(1, 1_000_000)
        drawn, notes = pick(units, params, seed, _projects(result))
        items, indicators = items_of(drawn, result, params.departments)
        items["reviewer"] = assign_reviewers(items, params.reviewers, params.departments)
        items["workbook"] = items["reviewer"].map(lambda label: workbook_name(params.year, label))
        if dry_run:
            return DrawOutcome(0, seed, run, items, [], notes)
        folder = out_dir / REVIEW_DIR
        own_object(folder, FOLDER)  # 抽评/ linked elsewhere: exit 4, never written or tidied through the link
        own_object(folder / RETIRED_DIR, FOLDER)
        meta = {"year": params.year, "run_id": run["id"], "seed": seed, "rules_digest": rules.digest,
                "params": {**asdict(params), "seed": seed, "rubric": [list(r) for r in rules.rubric]}}

        def write(draw_id: int, token: str) -> list[Path]:
            _make_room(folder, params.year, force)
            info = {**meta, "id": draw_id, "token": token, "run_started": run["started"]}
            return write_workbooks(folder, info, items, indicators, rules)

        try:
            draw_id, _token, written = save_draw(db, meta, items, indicators, write)
        except HistoryError as exc:
            raise DrawError(str(exc)) from exc
        except OSError as exc:
            raise OutputError(f"无法写入抽评表（{folder}）：{write_reason(exc)}；本次抽取未记录") from exc
        return DrawOutcome(draw_id, seed, run, items, written, notes)
    finally:
        lock.release()


# --- the run drawn from ---------------------------------------------------------------------


def latest_result(out_dir: Path, year: int, rules: Rules) -> tuple[dict, BatchResult]:
    """The latest scored run of `year` and its results, recomputed from exactly what it used."""
    db = db_path_for(out_dir)
    try:
        run = latest_scored(db, year)
        files = run_files(db, run["id"]) if run else None
    except HistoryError as exc:
        raise DrawError(str(exc)) from exc
    if run is None:
        raise DrawError(f"运行记录中没有 {year} 年度已评分的运行；请先运行 evalbatch run … --year {year}")
    if run["rules_digest"] != rules.digest:
        raise DrawError(f"第 {run['id']} 次运行使用的评分规则（摘要 {run['rules_digest']}）与本次给出的规则（摘要 {rules.digest}）不同；"
                        "请用与运行相同的 --rules 抽取")
    used = files[files["status"].isin([USED, HAS_ERROR])]
    cache = ParseCache(out_dir, rules).load()
    known = cache.known()
    records = [_record(Path(run["input_dir"] or "."), name, sha if sha in known else "") for name, sha in zip(used["name"], used["sha256"])]
    try:
        result = evaluate(records, rules, year=year, cache=cache)
    finally:
        cache.discard()  # the draw only reads: the cache stays the run's
    recorded = dict(zip(used["name"], used["sha256"]))
    changed = [r.name for r in result.records if r.sha256 != recorded.get(r.name)]
    if changed:
        shown = "、".join(changed[:5]) + (f" 等 {len(changed)} 个文件" if len(changed) > 5 else "")
        raise DrawError(f"{shown} 自第 {run['id']} 次运行（{run['started']}）以来已变化或无法读取，无法按该次运行抽取；"
                        f"请先运行 evalbatch run … --year {year} 更新结果后再抽取")
    return run, result


def _record(input_dir: Path, name: str, sha256: str) -> FileRecord:
    """A file of the run as `evaluate` takes it; a known SHA-256 means the cache's rows are used unread."""
    path = extended_path(str(input_dir / name))
    try:
        st = os.stat(path)
        size, mtime = st.st_size, st.st_mtime
    except OSError:
        size, mtime = 0, 0.0
    return FileRecord(path, name, size, mtime, sha256=sha256)


# --- what may be drawn, and why ---------------------------------------------------------------


def _joined(parts: list) -> pd.Series:
    """Reasons of each row joined with "；", the empty ones left out."""
    text = pd.Series(parts[0], dtype=object).astype(str)
    for part in parts[1:]:
        text = text + "；" + pd.Series(part, dtype=object).astype(str).to_numpy()
    return text.str.replace(r"；+", "；", regex=True).str.strip("；")


def _flag_reasons(frame: pd.DataFrame, diff: pd.Series, rules: Rules, mismatch: np.ndarray) -> list:
    """The reasons an item must be drawn: 绩效与预算执行不匹配, |得分差异| above the rules'
    threshold, a grade the rules name."""
    big = diff.abs() > rules.review_flag_diff
    bad = frame["grade"].isin(rules.review_flag_grades)
    return [np.where(mismatch, "绩效与预算执行不匹配", ""),
            np.where(big, "得分差异 " + number_text(diff, "{:+.2f}") + f" 分，绝对值超过 {rules.review_flag_diff:g} 分", ""),
            np.where(bad, "评价等级为" + frame["grade"].astype(str), "")]


def _projects(result: BatchResult) -> pd.DataFrame:
    p = result.projects.assign(dept_code=texts(result.projects["dept_code"]), project_code=texts(result.projects["project_code"]))
    return p[p["dept_code"].ne("")].drop_duplicates(["dept_code", "project_code"]).reset_index(drop=True)


def _indicator_counts(result: BatchResult) -> pd.Series:
    ind = result.indicators
    return ind.groupby([texts(ind["dept_code"]), texts(ind["project_code"])]).size()


def candidates(result: BatchResult, rules: Rules, departments: bool) -> pd.DataFrame:
    """What may be drawn (projects, or departments), each with its group (whose share is
    drawn), its reasons to be drawn in any case ("" for none) and its indicator count."""
    p = _projects(result)
    p["reasons"] = _joined(_flag_reasons(p, p["diff"], rules, exec_mismatch(p, rules).to_numpy()))
    counts = _indicator_counts(result)
    if not departments:
        n = counts.reindex(pd.MultiIndex.from_arrays([p["dept_code"], p["project_code"]])).fillna(0).astype(int)
        return pd.DataFrame({"group": p["dept_code"], "dept_code": p["dept_code"], "project_code": p["project_code"],
                             "reasons": p["reasons"], "n": n.to_numpy(), "severity": p["diff"].abs().fillna(0).to_numpy()})
    d = result.depts.assign(dept_code=texts(result.depts["dept_code"]))
    d = d[d["dept_code"].ne("")].drop_duplicates("dept_code").reset_index(drop=True)
    flagged = p[p["reasons"].ne("")].groupby("dept_code").size()
    own = d["dept_code"].map(flagged).fillna(0).astype(int)
    parts = _flag_reasons(d, d["diff"], rules, np.zeros(len(d), dtype=bool)) + [np.where(own > 0, "有 " + own.astype(str) + " 个项目须抽评", "")]
    n = d["dept_code"].map(counts.groupby(level=0).sum()).fillna(0).astype(int)
    return pd.DataFrame({"group": "", "dept_code": d["dept_code"], "project_code": "", "reasons": _joined(parts), "n": n,
                         "severity": d["diff"].abs().fillna(0)})


def _codes(codes) -> set[str]:
    """Codes as given on the command line, several per value allowed (620101,620102)."""
    return {c.strip() for value in codes for c in re.split(r"[,，;；\s]+", str(value)) if c.strip()}


def _known_codes(result: BatchResult, params: DrawParams) -> None:
    p = _projects(result)
    known = set(p["dept_code"]) | set(p["project_code"]) | set(texts(result.depts["dept_code"]))
    unknown = sorted((_codes(params.include) | _codes(params.exclude)) - known)
    if unknown:
        raise DrawError(f"--include/--exclude 中的编码在上次运行中不存在：{'、'.join(unknown)}（应为单位编码或项目编码）")


def _matching(units: pd.DataFrame, codes, projects: pd.DataFrame, departments: bool) -> np.ndarray:
    """Units named by a code: its own department or project code, or (drawing departments)
    the code of one of its projects."""
    codes = _codes(codes)
    depts = codes | set(projects.loc[projects["project_code"].isin(codes), "dept_code"]) if departments else codes
    return (units["dept_code"].isin(depts) | units["project_code"].isin(codes)).to_numpy()


def _quota(n: int, params: DrawParams) -> int:
    # Rounded first: 0.2 × 5 is 1.0000000000000002, which must not make 2.
    share = math.ceil(round(params.share * n, 9))
    return min(n, share if params.departments else max(params.min_per_dept, share))


def draw_size(n: int, share: float) -> int:
    """How many of `n` units a share allows in all: --share 20% of 120 projects is 24."""
    return min(n, math.ceil(round(share * n, 9)))


def _severity_order(units: pd.DataFrame, among: np.ndarray) -> list[int]:
    """Positions of the must-draws, most severe first: more reasons, then the larger score
    difference, then code order (units are sorted by code)."""
    n_reasons = units["reasons"].str.count("；") + 1
    diff = units["severity"] if "severity" in units else pd.Series(0.0, index=units.index)
    keyed = sorted(np.flatnonzero(among), key=lambda i: (-int(n_reasons.iloc[i]), -float(diff.iloc[i]), i))
    return [int(i) for i in keyed]


def _bounded(units: pd.DataFrame, forced: np.ndarray, named: np.ndarray, budget: int) -> tuple[np.ndarray, list[str]]:
    """Must-draws within the share: --include first (a person asked), then by severity until
    the share is used; the ones left over are said, by code, so that a person can add them."""
    chosen = named.copy()
    order = _severity_order(units, forced & ~named)
    room = max(budget - int(named.sum()), 0)
    chosen[order[:room]] = True
    left = order[room:]
    if not left:
        return chosen, []
    codes = np.where(units["project_code"].ne(""), units["project_code"], units["dept_code"])
    shown = "、".join(codes[left[:10]]) + (f" 等 {len(left)} 个" if len(left) > 10 else "")
    return chosen, [f"必抽 {int(forced.sum())} 个，超出份额 {len(left)} 个未抽，见：{shown}（按严重程度排在后面；"
                    "全部抽取请加 --must-draw all，或用 --include 指定）"]


def pick(units: pd.DataFrame, params: DrawParams, seed: int, projects: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The drawn units, each with why: flagged ones and --include, then each group's quota
    filled at random from the rest (--exclude left out). With must_draw "share" (the default)
    the share bounds the whole draw; with "all" every must-draw is drawn on top of it."""
    units = units.sort_values(["group", "dept_code", "project_code"], kind="stable").reset_index(drop=True)
    forced = units["reasons"].ne("").to_numpy()
    named = _matching(units, params.include, projects, params.departments)
    barred = _matching(units, params.exclude, projects, params.departments)
    bounded = params.must_draw != "all"
    budget = draw_size(len(units), params.share) if bounded else len(units)
    chosen, overflow = _bounded(units, forced, named, budget) if bounded else (forced | named, [])
    forced = forced & chosen
    rng = random.Random(seed)
    randomly = np.zeros(len(units), dtype=bool)
    groups = units.groupby("group", sort=True).indices
    for group in sorted(groups):
        at = groups[group]
        need = min(_quota(len(at), params) - int(chosen[at].sum()), budget - int((chosen | randomly).sum()))
        pool = [int(i) for i in at if not chosen[i] and not barred[i]]
        if need > 0 and pool:
            randomly[rng.sample(pool, min(need, len(pool)))] = True
    why = _joined([np.where(forced, "必抽：" + units["reasons"], ""), np.where(named, "人工指定", ""), np.where(randomly, "随机抽取", "")])
    drawn = units.assign(reasons=why)[chosen | randomly].reset_index(drop=True)
    notes = [f"{code} 有必抽情形（{r}），--exclude 对其无效" for code, r in
             zip(np.where(units["project_code"].ne(""), units["project_code"], units["dept_code"])[forced & barred],
                 units["reasons"][forced & barred])]
    return drawn, overflow + notes


# --- the drawn items and their indicator rows -------------------------------------------------


def items_of(drawn: pd.DataFrame, result: BatchResult, departments: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Items (a project, or a department's own self-evaluation) numbered in code order, and
    their indicator rows as drawn."""
    p = _projects(result)
    on = ["dept_code"] if departments else ["dept_code", "project_code"]
    source = p["source"] if "source" in p else p["file"]
    projects = p.assign(kind=PROJECT, source=source).merge(drawn[[*on, "reasons"]], on=on)
    parts = [projects]
    if departments:
        d = result.depts.assign(dept_code=texts(result.depts["dept_code"]))
        d = d[d["has_dept_form"].astype(bool)].drop_duplicates("dept_code").merge(drawn[["dept_code", "reasons"]], on="dept_code")
        parts.append(pd.DataFrame({"kind": DEPARTMENT, "dept_code": d["dept_code"], "dept_name": d["dept_name"], "project_code": "",
                                   "project_name": DEPARTMENT_NAME, "file": d["file"], "source": d["file"],
                                   "exec_rate": d[RATE_COLUMNS["预算执行率"]],
                                   "self_score": d["self_total"], "total": d["total"], "reasons": d["reasons"]}))
    cols = ["kind", "dept_code", "dept_name", "project_code", "project_name", "file", "source", "budget", "spent", "exec_rate",
            "self_score", "total", "reasons"]
    items = pd.concat([part.reindex(columns=cols) for part in parts], ignore_index=True)
    items = items.assign(_k=items["kind"].ne(DEPARTMENT)).sort_values(["dept_code", "_k", "project_code"], kind="stable")
    items = items.drop(columns="_k").reset_index(drop=True)
    width = max(3, len(str(len(items))))
    items.insert(0, "item_no", [f"{i:0{width}d}" for i in range(1, len(items) + 1)])
    sha = {r.name: r.sha256 for r in result.records}
    items["sha256"] = items["source"].map(sha).fillna("")
    for c in ("dept_name", "project_name", "file", "source"):
        items[c] = texts(items[c])
    indicators = _indicators_of(items, result.indicators)
    items["n_indicators"] = items["item_no"].map(indicators.groupby("item_no").size()).fillna(0).astype(int)
    return items, indicators


def _indicators_of(items: pd.DataFrame, ind: pd.DataFrame) -> pd.DataFrame:
    sub = ind[pair_mask(ind, items)]
    ids = identity(sub)
    rows = pd.DataFrame({
        **{k: ids[k] for k in ids.columns},
        "weight": sub["weight"], "target": texts(sub["target"]), "actual": texts(sub["actual"]),
        "self_score": sub["self_score"], "score": sub["score"], "explain": texts(sub["explain"]),
    }).reset_index(drop=True)
    rows = rows.merge(items[["item_no", "dept_code", "project_code"]], on=["dept_code", "project_code"])
    rows = rows.sort_values("item_no", kind="stable").reset_index(drop=True)
    rows["seq"] = rows.groupby("item_no").cumcount() + 1
    return rows


def assign_reviewers(items: pd.DataFrame, reviewers: int, departments: bool) -> pd.Series:
    """Reviewer labels "1" … "N", balanced by indicator count: the largest units first, each
    to the least loaded reviewer (a department stays with one reviewer when drawn whole)."""
    unit = items["dept_code"] if departments else items["item_no"]
    load = items.groupby(unit, sort=True)["n_indicators"].sum()
    order = sorted(load.index, key=lambda u: (-int(load[u]), str(u)))
    totals = [0] * max(1, reviewers)
    label = {}
    for u in order:
        k = min(range(len(totals)), key=lambda i: (totals[i], i))
        totals[k] += int(load[u])
        label[u] = str(k + 1)
    return unit.map(label)


def _make_room(folder: Path, year: int, force: bool) -> None:
    """Workbooks of an earlier draw may hold reviewers' work: never overwritten unasked, and
    with --force moved to 抽评/作废/ rather than deleted."""
    folder.mkdir(parents=True, exist_ok=True)
    earlier = sorted(folder.glob(workbook_name(year, "*")))
    if not earlier:
        return
    if not force:
        names = "、".join(p.name for p in earlier[:3]) + ("等" if len(earlier) > 3 else "")
        raise DrawError(f"{folder} 中已有 {year} 年度的抽评表（{names}），其中可能已有填写内容；"
                        f"如确需重新抽取，请加 --force（原有抽评表将移到 {REVIEW_DIR}/{RETIRED_DIR}/ 中保留）")
    retired = folder / RETIRED_DIR
    retired.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for p in earlier:
        target = retired / f"{stamp}_{p.name}"
        remove_quietly(target)
        shutil.move(str(p), target)
