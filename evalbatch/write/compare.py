"""What adopting another set of rules would change: the same submissions scored under two
rule sets (a shipped profile or a bureau's file), side by side, per department and project.

Both runs go through the whole pipeline (`batch.evaluate`), so a rules file's labels and
limits count as much as its scoring settings. The differences are the two scores
subtracted, nothing recomputed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..files import atomic_write
from ..judge.evaluate import evaluate
from ..read.discover import FileRecord
from ..rules import Rules
from ..values import round_half_up
from .columns import Col
from .report import Formats, write_block, write_table
from .book import Workbook

A, B = "甲", "乙"  # the two rule sets, as the workbook names them

_DEPT_KEYS = ["dept_code", "dept_name"]
_PROJECT_KEYS = ["dept_code", "dept_name", "project_code", "project_name"]
_DEPT_COLUMNS = [Col("单位编码", "dept_code", "text", 12), Col("单位名称", "dept_name", "text", 30)]
_PROJECT_COLUMNS = _DEPT_COLUMNS + [Col("项目编码", "project_code", "text", 18), Col("项目名称", "project_name", "wrap", 36)]


@dataclass
class Comparison:
    rules: tuple[Rules, Rules]
    depts: pd.DataFrame  # one row per department: total/grade/rank under A and B, and B − A
    projects: pd.DataFrame


def compare(records: list[FileRecord], rules_a: Rules, rules_b: Rules, *, year: int | None = None, jobs: int = 1) -> Comparison:
    a = evaluate([_fresh(r) for r in records], rules_a, year=year, jobs=jobs)
    b = evaluate([_fresh(r) for r in records], rules_b, year=year, jobs=jobs)
    depts = _side_by_side(a.depts, b.depts, _DEPT_KEYS, ["total", "grade", "rank"])
    projects = _side_by_side(a.projects, b.projects, _PROJECT_KEYS, ["total", "grade", "rank"])
    return Comparison((rules_a, rules_b), depts, projects)


def _fresh(r: FileRecord) -> FileRecord:
    """A record as discovered: each run fills in its own status."""
    return FileRecord(r.path, r.name, r.size, r.mtime)


def _side_by_side(a: pd.DataFrame, b: pd.DataFrame, keys: list[str], values: list[str]) -> pd.DataFrame:
    pick = keys + values
    out = a[pick].merge(b[pick], on=keys, how="outer", suffixes=(f"_{A}", f"_{B}"))
    out["diff"] = round_half_up(out[f"total_{B}"] - out[f"total_{A}"], 2)
    out["grade_changed"] = (out[f"grade_{A}"].astype("string") != out[f"grade_{B}"].astype("string")).fillna(True).map({True: "是", False: ""})
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def _columns(base: list[Col]) -> list[Col]:
    per_set = [Col(f"复核得分（{s}）", f"total_{s}", "score", 12) for s in (A, B)]
    per_set += [Col(f"评价等级（{s}）", f"grade_{s}", "text", 12) for s in (A, B)]
    per_set += [Col(f"排名（{s}）", f"rank_{s}", "int", 9) for s in (A, B)]
    return base + per_set + [Col(f"差异（{B}－{A}）", "diff", "score", 12), Col("等级变化", "grade_changed", "text", 9)]


def write_comparison(comparison: Comparison, path: str | Path) -> Path:
    """The comparison workbook (xlsxwriter; submission text written as text), put in place atomically."""
    path = Path(path)

    def write(tmp: Path) -> None:
        wb = Workbook(str(tmp))
        fmt = Formats(wb)
        write_table(wb, fmt, "单位对比", _columns(_DEPT_COLUMNS), comparison.depts)
        write_table(wb, fmt, "项目对比", _columns(_PROJECT_COLUMNS), comparison.projects)
        ws = wb.add_worksheet("说明")
        ws.set_column(0, 0, 12)
        ws.set_column(1, 1, 80)
        about = pd.DataFrame({"set": [A, B], "source": [r.source for r in comparison.rules], "digest": [r.digest for r in comparison.rules]})
        write_block(ws, fmt, 0, [Col("规则", "set", "text"), Col("来源", "source", "wrap"), Col("摘要", "digest", "text")], about, "两套规则")
        ws.write_string(5, 0, f"差异＝规则{B}下的复核得分－规则{A}下的复核得分；未评级的单位没有排名。", fmt.kind["text"])
        wb.close()

    return atomic_write(path, write)
