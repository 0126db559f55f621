"""Synthetic OFFICIAL self-evaluation forms, as departments fill them and budget systems export them.

Most departments send the forms of 财预〔2020〕10号 and their province's notice, not evalbatch's
template (see the description of the official forms, docs/official-forms.md). A reader
of those files needs realistic inputs: the national layout and its provincial variants, values
written the way people write them (`≥50个`, `达成预期指标`), the slips seen in published forms,
and the three file formats that arrive (.xlsx, SpreadsheetML saved as .xls, HTML saved as .xls).

Three layers, each usable alone:
- a data model (`FormA`, `FormB`) holding what a form says, as printed;
- `form_grid(form, variant)`: the form laid out on a grid of cells with merges, positioned by
  a layout that the `Variant` switches move around;
- writers that put grids into files, correct for any grid.

Money is worked in whole 元 (int): that is exact both for the usual 万元 amounts with two
decimals and for the 池州 example's 89.974 万元, which whole cents of 万元 cannot hold. Generated
amounts are whole hundreds of 元 (cents of 万元), as samples.py makes them.

Everything is deterministic from a seed, as in samples.py.
"""

from __future__ import annotations

import html
import math
import random
import re
import unicodedata
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

YUAN_PER_WAN = 10_000
# Department codes: 720000 + index. samples.py uses 010000–099999 and 620101–710199, so the two
# generators can write into one folder without two departments sharing a code.
CODE_BASE = 720_000
MAX_INDEX = 999_999 - CODE_BASE

# --- data model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Funds:
    """A source row of Form A's funds block (`其中：当年财政拨款`, `上年结转资金`, `其他资金`), in 元."""

    label: str
    initial: int  # 年初预算数
    budget: int  # 全年预算数
    spent: int  # 全年执行数


@dataclass(frozen=True)
class FundsTotal:
    """The row that carries the execution points, as printed: Form A's `年度资金总额`
    (with 年初预算数) or Form B's `金额合计` (without: initial is None)."""

    initial: int | None
    budget: int
    spent: int
    points: int  # 分值: 10, or 20 on 湖北-style forms
    rate: float  # printed 执行率 as a fraction, 0.8653
    score: int | float  # printed 得分


@dataclass(frozen=True)
class Indicator:
    """One indicator row. The target is kept in its parts so the split-column variant can print
    them apart; `target` is the text a one-cell form shows."""

    l1: str  # 一级指标, without any `(50分)`
    l2: str  # 二级指标
    l3: str  # 三级指标; "" on a placeholder row that has only a 二级 label
    sign: str  # "≥", "≤", "=", "" (a number written without sign) or "定性"
    value: str  # "50", "100", "达成预期指标"
    unit: str  # "个", "%", "百分比", "万元", ""
    actual: str  # 实际完成值 as written: "52个", "95%", "达成预期指标"
    points: int | float | None  # 分值; None on placeholder rows
    score: int | float | None  # printed 得分
    reason: str = ""  # 偏差原因分析及改进措施 (Form A) / 评价得分说明 (Form B)

    @property
    def target(self) -> str:
        if self.sign == "定性":
            return self.value
        return f"{self.sign}{self.value}{self.unit}"


@dataclass(frozen=True)
class Task:
    """A row of Form B's `年度主要任务完成情况`, money in 元."""

    name: str
    status: str  # 完成情况
    budget: int
    spent: int


@dataclass(frozen=True)
class FormA:
    """项目支出绩效自评表: one project, as printed."""

    year: int
    project: str  # 项目名称, maybe `<code>-<name>`
    supervisor: str  # 主管部门, e.g. `219-池州市贵池区棠溪镇人民政府`
    implementer: str  # 实施单位, e.g. `219001-池州市贵池区棠溪镇人民政府`
    total: FundsTotal  # 年度资金总额
    sources: tuple[Funds, ...]
    goal: str  # 预期目标
    achieved: str  # 实际完成情况
    indicators: tuple[Indicator, ...]
    score: int | float  # printed 总分
    filled_by: str = ""  # 填表人 (footer rows)
    phone: str = ""  # 联系电话
    filled_on: str = ""  # 填报日期


@dataclass(frozen=True)
class FormB:
    """部门整体支出绩效自评表: one department, as printed."""

    year: int
    dept: str  # 部门（单位）名称, `code-name`
    tasks: tuple[Task, ...]
    total: FundsTotal  # 金额合计 (initial is None)
    goal: str  # 年初设定目标
    achieved: str  # 年度总体目标完成情况综述
    indicators: tuple[Indicator, ...]
    score: int | float  # printed 总分
    filled_by: str = ""
    phone: str = ""
    filled_on: str = ""


@dataclass(frozen=True)
class Variant:
    """How a form is printed. Content switches (zero_total, placeholder, exec_points) change what
    the form says and are applied by `apply_variant`; the others only move cells."""

    merged: bool = True  # 一级/二级 merged down; else written on the first row, blank below
    wrapped_headers: bool = False  # `年初\\n预算数`, `全年\\n执行数` …
    points_in_l1: bool = False  # `产出指标(50分)`
    yuan: bool = False  # money in 元, `单位：元` note, `项目资金（元）`
    exec_points: int | None = None  # 10 or 20 (湖北); None keeps the form's own
    split_target: bool = False  # 年度指标值 as 指标性质 | 指标值 | 度量单位 under a two-row header
    zero_total: bool = False  # Form A only: 年度资金总额 printed 0 / 0 / 0, 执行率 0, 得分 0
    placeholder: bool = False  # a `指标2` row without 分值 and a 二级 label without 三级
    heji: bool = False  # `合计` instead of `总分`
    footer: bool = False  # 填表人 / 联系电话 / 填报日期 rows after the total
    title_year_next_row: bool = False  # `（2022年度）` under the title, not `2022年度…` in it


@dataclass
class Grid:
    """Cells of one sheet: rows[0] is Excel row 1; int/float/str/None. Merges are 0-based
    inclusive (first_row, first_col, last_row, last_col); only their top-left cell holds a value.
    `percent` names the cells holding a 执行率 fraction, which xlsx formats as 0.00% and the
    XML/HTML exports print as text `86%`."""

    rows: list[list] = field(default_factory=list)
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)
    percent: set[tuple[int, int]] = field(default_factory=set)

    @property
    def width(self) -> int:
        return max([len(r) for r in self.rows] + [m[3] + 1 for m in self.merges] + [0])

    @property
    def height(self) -> int:
        return max([len(self.rows)] + [m[2] + 1 for m in self.merges])


# --- small numeric helpers ------------------------------------------------------------------


def _num(x: float) -> int | float:
    """3 rather than 3.0, as a person types it."""
    return int(x) if float(x).is_integer() else float(x)


def _round(x: float, places: int = 2) -> int | float:
    """Excel's ROUND (halves away from zero), which is what the department's sheet printed."""
    q = Decimal(1).scaleb(-places)
    return _num(float(Decimal(repr(float(x))).quantize(q, rounding=ROUND_HALF_UP)))


def _fmt(x: float) -> str:
    """96.5 → "96.5", 100.0 → "100"."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _wan(yuan: int) -> int | float:
    return _num(yuan / YUAN_PER_WAN)


def _exec_score(spent: int, budget: int, points: int) -> int | float:
    """执行率 × 分值, capped at 分值, as the form's formula prints it."""
    return 0 if budget <= 0 else _round(min(spent / budget, 1.0) * points)


def _rate(spent: int, budget: int) -> float:
    return 0 if budget <= 0 else _round(spent / budget, 4)


# --- content variants -------------------------------------------------------------------------

# The standard tree of 二级 labels, for placing a placeholder where a form lacks one.
_TREE = {
    "产出指标": ("数量指标", "质量指标", "时效指标", "成本指标"),
    "效益指标": ("经济效益指标", "社会效益指标", "生态效益指标", "可持续影响指标"),
    "满意度指标": ("服务对象满意度指标",),
}


def apply_variant(form: FormA | FormB, variant: Variant) -> FormA | FormB:
    """The form as printed under `variant`'s content switches. Idempotent, so a form generated
    with its variant already applied prints the same again."""
    if variant.exec_points is not None and variant.exec_points != form.total.points:
        form = _with_exec_points(form, variant.exec_points)
    if variant.placeholder:
        form = replace(form, indicators=_with_placeholders(form.indicators))
    if variant.zero_total and isinstance(form, FormA):
        form = _with_zero_total(form)
    return form


def _with_zero_total(form: FormA) -> FormA:
    """The published 池州 slip: the total row printed as zeros, sources left as they were; the
    printed 总分 loses the execution score, as the department's own formula did."""
    t = form.total
    zero = FundsTotal(0 if t.initial is not None else None, 0, 0, t.points, 0, 0)
    return replace(form, total=zero, score=_round(form.score - t.score))


def _with_placeholders(rows: tuple[Indicator, ...]) -> tuple[Indicator, ...]:
    """Adds what a half-filled template leaves: `指标2` after the first 二级 group, and a 二级
    label without 三级 where the form lacks a standard 二级. Unchanged if placeholders exist."""
    if not rows or any(r.points is None for r in rows):
        return rows
    out = list(rows)
    first = out[0]
    end = max(i for i, r in enumerate(out) if (r.l1, r.l2) == (first.l1, first.l2))
    out.insert(end + 1, Indicator(first.l1, first.l2, "指标2", "", "", "", "", None, None))
    for l1, l2s in _TREE.items():
        present = {r.l2 for r in out if r.l1 == l1}
        missing = [x for x in l2s if x not in present]
        if present and missing:
            end = max(i for i, r in enumerate(out) if r.l1 == l1)
            out.insert(end + 1, Indicator(l1, missing[0], "", "", "", "", "", None, None))
            break
    return tuple(out)


def _with_exec_points(form: FormA | FormB, points: int) -> FormA | FormB:
    """Moves points between execution and the indicators (10 ↔ 20), rescaling each indicator's
    分值 in half points and its 得分 by the same share, then re-adds the 总分."""
    t = form.total
    exec_score = _exec_score(t.spent, t.budget, points)  # a printed 0 / 0 / 0 stays 0
    scored = [r for r in form.indicators if r.points is not None]
    old = sum(r.points for r in scored)
    new_points = iter(_rescale([r.points for r in scored], old - (points - t.points)))
    rows = []
    for r in form.indicators:
        if r.points is None:
            rows.append(r)
            continue
        p = next(new_points)
        share = (r.score or 0) / r.points if r.points else 0
        rows.append(replace(r, points=p, score=_round(min(share, 1.0) * p)))
    total = replace(t, points=points, score=exec_score)
    return replace(form, total=total, indicators=tuple(rows), score=_round(exec_score + sum(r.score or 0 for r in rows)))


def _rescale(points: list, total: float) -> list:
    """`points` scaled to add up to `total` exactly, in half points (largest remainders win)."""
    old = sum(points)
    if not points or old <= 0:
        return points
    exact = [p * 2 * total / old for p in points]
    halves = [math.floor(x) for x in exact]
    order = sorted(range(len(points)), key=lambda i: (halves[i] - exact[i], i))
    for i in order[: round(2 * total) - sum(halves)]:
        halves[i] += 1
    return [_num(h / 2) for h in halves]


# --- layout -----------------------------------------------------------------------------------

_WRAPPED = {
    "年初预算数": "年初\n预算数", "全年预算数": "全年\n预算数", "全年执行数": "全年\n执行数",
    "年度指标值": "年度\n指标值", "实际完成值": "实际\n完成值", "全年实际值": "全年\n实际值",
    "偏差原因分析及改进措施": "偏差原因分析\n及改进措施", "评价得分说明": "评价得分\n说明",
    "指标性质": "指标\n性质", "度量单位": "度量\n单位",
}
_HEADERS = {
    "l1": "一级指标", "l2": "二级指标", "l3": "三级指标", "target": "年度指标值", "sign": "指标性质",
    "value": "指标值", "unit": "度量单位", "points": "分值", "score": "得分",
}


class _Sheet:
    """Builds a Grid row by row; `put` with a span records the merge."""

    def __init__(self, width: int, variant: Variant):
        self.width, self.variant = width, variant
        self.grid = Grid()

    def row(self) -> int:
        self.grid.rows.append([None] * self.width)
        return len(self.grid.rows) - 1

    def put(self, r: int, c: int, value, to_row: int | None = None, to_col: int | None = None) -> None:
        self.grid.rows[r][c] = value
        last_r, last_c = r if to_row is None else to_row, c if to_col is None else to_col
        if (last_r, last_c) != (r, c):
            self.grid.merges.append((r, c, last_r, last_c))

    def head(self, r: int, c: int, text: str, **span) -> None:
        """A column header, wrapped over two lines when the variant says so."""
        self.put(r, c, _WRAPPED.get(text, text) if self.variant.wrapped_headers else text, **span)

    def money(self, yuan: int | None):
        if yuan is None:
            return None
        return yuan if self.variant.yuan else _wan(yuan)

    def rate(self, r: int, c: int, value: float) -> None:
        self.put(r, c, _num(value))
        self.grid.percent.add((r, c))


def _indicator_columns(kind: str, split: bool) -> dict[str, int]:
    """Column of each indicator field; column 0 holds the block label `绩效指标`. Form B prints
    分值 before the target and names two columns differently — found by header, not position."""
    target = ["sign", "value", "unit"] if split else ["target"]
    order = ["l1", "l2", "l3"] + (["points"] if kind == "B" else []) + target + ["actual"]
    order += ([] if kind == "B" else ["points"]) + ["score", "reason"]
    return {name: i + 1 for i, name in enumerate(order)}


def form_grid(form: FormA | FormB, variant: Variant = Variant()) -> Grid:
    """The form laid out as its official table under `variant`."""
    form = apply_variant(form, variant)
    kind = "A" if isinstance(form, FormA) else "B"
    cols = _indicator_columns(kind, variant.split_target)
    s = _Sheet(len(cols) + 1, variant)
    _title(s, form, "项目支出绩效自评表" if kind == "A" else "部门整体支出绩效自评表")
    if kind == "A":
        _info_a(s, form)
        _funds_a(s, form)
        _goals(s, "预期目标", "实际完成情况", form)
    else:
        _info_b(s, form)
        _tasks_b(s, form)
        _goals(s, "年初设定目标", "年度总体目标完成情况综述", form)
    _indicators(s, form.indicators, cols, kind)
    _total(s, form.score, cols)
    if variant.footer:
        _footer(s, form)
    return s.grid


def _title(s: _Sheet, form, name: str) -> None:
    last = s.width - 1
    if s.variant.title_year_next_row:
        s.put(s.row(), 0, name, to_col=last)
        s.put(s.row(), 0, f"（{form.year}年度）", to_col=last)
    else:
        s.put(s.row(), 0, f"{form.year}年度{name}", to_col=last)
    if s.variant.yuan:
        s.put(s.row(), last, "单位：元")


def _info_a(s: _Sheet, form: FormA) -> None:
    last, mid = s.width - 1, (s.width - 1) // 2
    r = s.row()
    s.put(r, 0, "项目名称")
    s.put(r, 1, form.project, to_col=last)
    r = s.row()
    s.put(r, 0, "主管部门")
    s.put(r, 1, form.supervisor, to_col=mid - 1)
    s.put(r, mid, "实施单位")
    s.put(r, mid + 1, form.implementer, to_col=last)


def _info_b(s: _Sheet, form: FormB) -> None:
    r = s.row()
    s.put(r, 0, "部门（单位）名称")
    s.put(r, 1, form.dept, to_col=s.width - 1)


def _funds_a(s: _Sheet, form: FormA) -> None:
    """Block label merged down column 0, row labels across columns 1…width-7, the six figures in
    the last six columns (so the split-target form widens the label, not the figures)."""
    c = s.width - 6  # 年初预算数; then 全年预算数, 全年执行数, 分值, 执行率, 得分
    label_end = c - 1
    top = s.row()
    s.put(top, 0, "项目资金（元）" if s.variant.yuan else "项目资金（万元）", to_row=top + 1 + len(form.sources))
    s.put(top, 1, None, to_col=label_end)
    for i, text in enumerate(("年初预算数", "全年预算数", "全年执行数", "分值", "执行率", "得分")):
        s.head(top, c + i, text)
    t = form.total
    r = s.row()
    s.put(r, 1, "年度资金总额", to_col=label_end)
    for i, yuan in enumerate((t.initial, t.budget, t.spent)):
        s.put(r, c + i, s.money(yuan))
    s.put(r, c + 3, t.points)
    s.rate(r, c + 4, t.rate)
    s.put(r, c + 5, t.score)
    for src in form.sources:
        r = s.row()
        s.put(r, 1, src.label, to_col=label_end)
        for i, yuan in enumerate((src.initial, src.budget, src.spent)):
            s.put(r, c + i, s.money(yuan))
        s.put(r, c + 3, "—")
        s.put(r, c + 5, "—")


def _tasks_b(s: _Sheet, form: FormB) -> None:
    """Block label merged down column 0; 任务名称 in column 1, 完成情况 merged across the middle,
    全年预算数 / 全年执行数 / 分值 / 执行率 / 得分 in the last five columns."""
    c = s.width - 5
    top = s.row()
    s.put(top, 0, "年度主要任务完成情况", to_row=top + 1 + len(form.tasks))
    s.head(top, 1, "任务名称")
    s.head(top, 2, "完成情况", to_col=c - 1)
    for i, text in enumerate(("全年预算数", "全年执行数", "分值", "执行率", "得分")):
        s.head(top, c + i, text)
    for task in form.tasks:
        r = s.row()
        s.put(r, 1, task.name)
        s.put(r, 2, task.status, to_col=c - 1)
        s.put(r, c, s.money(task.budget))
        s.put(r, c + 1, s.money(task.spent))
        s.put(r, c + 2, "—")
        s.put(r, c + 4, "—")
    t = form.total
    r = s.row()
    s.put(r, 1, "金额合计")
    s.put(r, 2, None, to_col=c - 1)
    s.put(r, c, s.money(t.budget))
    s.put(r, c + 1, s.money(t.spent))
    s.put(r, c + 2, t.points)
    s.rate(r, c + 3, t.rate)
    s.put(r, c + 4, t.score)


def _goals(s: _Sheet, left: str, right: str, form) -> None:
    """`年度总体目标` merged down column 0; two text columns splitting the rest in halves."""
    last, mid = s.width - 1, (s.width - 1) // 2
    top = s.row()
    s.put(top, 0, "年度总体目标", to_row=top + 1)
    s.head(top, 1, left, to_col=mid)
    s.head(top, mid + 1, right, to_col=last)
    r = s.row()
    s.put(r, 1, form.goal, to_col=mid)
    s.put(r, mid + 1, form.achieved, to_col=last)


def _indicators(s: _Sheet, rows: tuple[Indicator, ...], cols: dict[str, int], kind: str) -> None:
    split = s.variant.split_target
    top = s.row()
    if split:
        s.row()
    names = dict(_HEADERS, actual="实际完成值" if kind == "A" else "全年实际值",
                 reason="偏差原因分析及改进措施" if kind == "A" else "评价得分说明")
    for name, c in cols.items():
        if name in ("sign", "value", "unit"):
            s.head(top + 1, c, names[name])
        else:
            s.head(top, c, names[name], to_row=top + 1 if split else None)
    if split:
        s.head(top, cols["sign"], "年度指标值", to_col=cols["unit"])
    first = len(s.grid.rows)
    for row in rows:
        _indicator_row(s, row, cols)
    s.put(top, 0, "绩效指标", to_row=len(s.grid.rows) - 1)
    _group_labels(s, rows, first, cols)


def _indicator_row(s: _Sheet, row: Indicator, cols: dict[str, int]) -> None:
    r = s.row()
    s.put(r, cols["l3"], row.l3 or None)
    if s.variant.split_target:
        s.put(r, cols["sign"], _split_sign(row.sign, r) if row.value else None)
        s.put(r, cols["value"], _number_or_text(row.value))
        s.put(r, cols["unit"], row.unit or None)
    else:
        s.put(r, cols["target"], row.target or None)
    s.put(r, cols["actual"], row.actual or None)
    s.put(r, cols["points"], row.points)
    s.put(r, cols["score"], row.score)
    s.put(r, cols["reason"], row.reason or None)


def _split_sign(sign: str, r: int) -> str | None:
    """指标性质 as 四川/云南 forms print it; equality comes as U+FE66 `﹦` on every other row,
    since people pick it from the symbol menu as often as they type `=`."""
    if sign in ("=", ""):
        return "﹦" if r % 2 == 0 else "="
    return sign


def _number_or_text(text: str):
    """A split 指标值 is typed as a number when it is one."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return _num(float(text))
    return text or None


def _group_labels(s: _Sheet, rows: tuple[Indicator, ...], first: int, cols: dict[str, int]) -> None:
    """一级 and 二级 labels on the first row of each run, merged down the run or left blank below."""
    for level, key in (("l1", lambda x: x.l1), ("l2", lambda x: (x.l1, x.l2))):
        i = 0
        while i < len(rows):
            j = i
            while j + 1 < len(rows) and key(rows[j + 1]) == key(rows[i]):
                j += 1
            label = rows[i].l1 if level == "l1" else rows[i].l2
            if level == "l1" and s.variant.points_in_l1:
                label += f"({_fmt(sum(r.points or 0 for r in rows[i:j + 1]))}分)"
            s.put(first + i, cols[level], label, to_row=first + j if s.variant.merged else None)
            i = j + 1


def _total(s: _Sheet, score, cols: dict[str, int]) -> None:
    """`总分` (or `合计`) merged up to the 分值 column, 100 under 分值, the printed total under 得分."""
    r = s.row()
    s.put(r, 0, "合计" if s.variant.heji else "总分", to_col=cols["points"] - 1)
    s.put(r, cols["points"], 100)
    s.put(r, cols["score"], score)


def _footer(s: _Sheet, form) -> None:
    last, mid = s.width - 1, (s.width - 1) // 2
    r = s.row()
    s.put(r, 0, f"填表人：{form.filled_by}", to_col=mid)
    s.put(r, mid + 1, f"联系电话：{form.phone}", to_col=last)
    s.put(s.row(), 0, f"填报日期：{form.filled_on}", to_col=mid)


def stack(grids: list[Grid], gap: int = 2) -> Grid:
    """Forms one under another on one sheet, `gap` empty rows apart (budget-system batch exports)."""
    out = Grid()
    for k, g in enumerate(grids):
        if k:
            out.rows.extend([] for _ in range(gap))
        dr = len(out.rows)
        out.rows.extend(list(row) for row in g.rows)
        out.rows.extend([] for _ in range(g.height - len(g.rows)))
        out.merges.extend((a + dr, b, c + dr, d) for a, b, c, d in g.merges)
        out.percent.update((r + dr, c) for r, c in g.percent)
    return out


# --- writers: shared cell handling ------------------------------------------------------------

# XML 1.0 cannot carry these, in any of the three formats; they are dropped.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class _Cell:
    row: int
    col: int
    value: object  # None, bool, int, float or str (cleaned)
    across: int = 0  # extra columns merged to the right
    down: int = 0  # extra rows merged below
    percent: bool = False


def _cells(grid: Grid) -> tuple[int, int, list[list[_Cell]]]:
    """(height, width, cells per row): every cell a writer must emit, i.e. values and merge
    origins, minus the cells a merge covers. Checks the grid so every writer fails alike."""
    height, width = grid.height, grid.width
    origin = {}
    covered: set[tuple[int, int]] = set()
    taken: set[tuple[int, int]] = set()  # covered plus the top-left cells
    for m in grid.merges:
        r0, c0, r1, c1 = m
        if not (0 <= r0 <= r1 and 0 <= c0 <= c1):
            raise ValueError(f"合并区域无效：{m}")
        span = {(r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)}
        if span & taken:
            raise ValueError(f"合并区域重叠：{m}")
        taken |= span
        covered |= span - {(r0, c0)}
        origin[(r0, c0)] = (r1 - r0, c1 - c0)
    out: list[list[_Cell]] = [[] for _ in range(height)]
    for r in range(height):
        row = grid.rows[r] if r < len(grid.rows) else []
        for c in range(width):
            value = _checked(row[c] if c < len(row) else None, r, c)
            if (r, c) in covered:
                if value is not None:
                    raise ValueError(f"第 {r + 1} 行第 {c + 1} 列在合并区域内，却有值：{value!r}")
                continue
            if value is not None or (r, c) in origin:
                down, across = origin.get((r, c), (0, 0))
                out[r].append(_Cell(r, c, value, across, down, (r, c) in grid.percent and _is_number(value)))
    return height, width, out


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _checked(value, r: int, c: int):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"第 {r + 1} 行第 {c + 1} 列不是有限的数：{value!r}")
        return value
    if isinstance(value, str):
        return _ILLEGAL.sub("", value) or None  # an empty text is a blank cell in every format
    raise TypeError(f"第 {r + 1} 行第 {c + 1} 列的类型不受支持：{type(value).__name__}")


def _number_text(x: int | float) -> str:
    """Shortest text that reads back as the same number (89.974, not 89.97399999999999)."""
    return str(int(x)) if isinstance(x, int) or float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def _percent_text(x: float) -> str:
    """0.8653 → "86.53%", 0.86 → "86%": as budget systems print 执行率 in exports."""
    return _fmt(x * 100) + "%"


def _display_width(value) -> int:
    """Characters as a spreadsheet column measures them: CJK counts two."""
    lines = str(value).split("\n")
    return max(sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line) for line in lines)


def _column_widths(cells: list[list[_Cell]], width: int) -> list[float]:
    """Widths from cells that sit in one column (a title merged across would widen column A)."""
    widths = [6.0] * width
    for row in cells:
        for cell in row:
            if cell.value is not None and cell.across == 0:
                widths[cell.col] = max(widths[cell.col], min(40.0, _display_width(cell.value) + 2.0))
    return widths


# --- xlsx -------------------------------------------------------------------------------------

INSTRUCTIONS = (
    "填表说明",
    "1. 金额单位为万元（表中另有注明的除外）。",
    "2. 执行率＝全年执行数÷全年预算数；预算执行得分＝执行率×分值，最高不超过分值。",
    "3. 定量指标实际完成值达到年度指标值的得满分，未达到的按完成比例计分；定性指标达成预期指标的得满分。",
    "4. 得分低于分值的，须在“偏差原因分析及改进措施”栏说明原因及改进措施。",
    "5. 请勿增删表格行列，请勿修改表头。",
)


def write_xlsx(sheets: dict[str, Grid], path, instructions: bool = False) -> Path:
    """An .xlsx with one sheet per grid: merges, wrapped headers, 执行率 as 0.00%, column widths;
    with `instructions`, a hidden sheet `说明` as templates of the notices carry."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment
    from openpyxl.utils import get_column_letter

    if not sheets:
        raise ValueError("至少需要一个工作表")
    wb = Workbook()
    wb.remove(wb.active)
    wrap = Alignment(wrap_text=True, horizontal="center", vertical="center")
    for name, grid in sheets.items():
        ws = wb.create_sheet(name)
        height, width, cells = _cells(grid)
        for row in cells:
            for cell in row:
                _xlsx_cell(ws, cell, wrap)
        for r0, c0, r1, c1 in grid.merges:
            ws.merge_cells(start_row=r0 + 1, start_column=c0 + 1, end_row=r1 + 1, end_column=c1 + 1)
        for c, w in enumerate(_column_widths(cells, width)):
            ws.column_dimensions[get_column_letter(c + 1)].width = w
    if instructions:
        ws = wb.create_sheet("说明")
        for r, line in enumerate(INSTRUCTIONS, start=1):
            ws.cell(r, 1, line)
        ws.column_dimensions["A"].width = 100
        ws.sheet_state = "hidden"
    path = Path(path)
    wb.save(path)
    return path


def _xlsx_cell(ws, cell: _Cell, wrap) -> None:
    if cell.value is None:
        return
    target = ws.cell(cell.row + 1, cell.col + 1)
    target.value = cell.value
    if isinstance(cell.value, str):
        # openpyxl would store "=…" as a formula and "#N/A" as an error: force a string.
        target.data_type = "s"
        if "\n" in cell.value:
            target.alignment = wrap
    if cell.percent:
        target.number_format = "0.00%"


# --- SpreadsheetML (Excel 2003 XML, saved as .xls by budget systems) --------------------------

_SSML_HEAD = """<?xml version="1.0"?>
<?mso-application progid="Excel.Sheet"?>
<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"
 xmlns:o="urn:schemas-microsoft-com:office:office"
 xmlns:x="urn:schemas-microsoft-com:office:excel"
 xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"
 xmlns:html="http://www.w3.org/TR/REC-html40">
 <Styles>
  <Style ss:ID="Default" ss:Name="Normal">
   <Alignment ss:Vertical="Center"/>
   <Font ss:FontName="宋体" x:CharSet="134" ss:Size="11"/>
  </Style>
  <Style ss:ID="s1">
   <Alignment ss:Horizontal="Center" ss:Vertical="Center" ss:WrapText="1"/>
  </Style>
 </Styles>
"""


def _xml_text(text: str) -> str:
    """Escaped for element content and attributes; line breaks as character references, as
    Excel writes them, so no XML parser normalises them away."""
    text = html.escape(_ILLEGAL.sub("", text), quote=True)
    return text.replace("\r", "&#13;").replace("\n", "&#10;")


def write_spreadsheetml(sheets: dict[str, Grid], path) -> Path:
    """An Excel 2003 XML Spreadsheet (UTF-8), as budget systems export it under a .xls name."""
    parts = [_SSML_HEAD]
    for name, grid in sheets.items():
        parts.append(_ssml_sheet(name, grid))
    parts.append("</Workbook>\n")
    path = Path(path)
    path.write_bytes("".join(parts).encode("utf-8"))
    return path


def _ssml_sheet(name: str, grid: Grid) -> str:
    height, width, cells = _cells(grid)
    out = [f' <Worksheet ss:Name="{_xml_text(name)}">\n',
           f'  <Table ss:ExpandedColumnCount="{max(width, 1)}" ss:ExpandedRowCount="{max(height, 1)}" x:FullColumns="1" x:FullRows="1">\n']
    out += [f'   <Column ss:Width="{w * 6:.0f}"/>\n' for w in _column_widths(cells, width)]
    last_row = -1
    for r, row in enumerate(cells):
        if not row:
            continue  # blank rows are skipped; the next row says where it is
        index = "" if r == last_row + 1 else f' ss:Index="{r + 1}"'
        out.append(f"   <Row{index}>\n")
        out += _ssml_cells(row)
        out.append("   </Row>\n")
        last_row = r
    out.append("  </Table>\n </Worksheet>\n")
    return "".join(out)


def _ssml_cells(row: list[_Cell]) -> list[str]:
    out, expected = [], 0
    for cell in row:
        attrs = "" if cell.col == expected else f' ss:Index="{cell.col + 1}"'
        if cell.across:
            attrs += f' ss:MergeAcross="{cell.across}"'
        if cell.down:
            attrs += f' ss:MergeDown="{cell.down}"'
        if isinstance(cell.value, str) and "\n" in cell.value:
            attrs += ' ss:StyleID="s1"'
        out.append(f"    <Cell{attrs}>{_ssml_data(cell)}</Cell>\n")
        expected = cell.col + cell.across + 1
    return out


def _ssml_data(cell: _Cell) -> str:
    v = cell.value
    if v is None:
        return ""
    if isinstance(v, bool):
        return f'<Data ss:Type="Boolean">{int(v)}</Data>'
    if cell.percent:
        return f'<Data ss:Type="String">{_percent_text(v)}</Data>'
    if isinstance(v, (int, float)):
        return f'<Data ss:Type="Number">{_number_text(v)}</Data>'
    return f'<Data ss:Type="String">{_xml_text(v)}</Data>'


# --- HTML (a <table> saved as .xls by some budget systems) ------------------------------------


def write_html(sheets: dict[str, Grid], path, encoding: str = "utf-8") -> Path:
    """An HTML document with one `<table border=1>` per sheet; merges as rowspan/colspan and the
    cells they cover left out, as browsers and Excel expect. `encoding="gbk"` gives GBK bytes
    and `<meta charset="gbk">`; characters GBK lacks become character references."""
    out = [
        '<html xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:x="urn:schemas-microsoft-com:office:excel" '
        'xmlns="http://www.w3.org/TR/REC-html40">\n',
        f'<head>\n<meta charset="{encoding}">\n',
        # Text cells as text (`@`): Excel would otherwise read "=…" as a formula and "001" as 1.
        '<style>\ntd { mso-number-format: "\\@"; }\ntd.n { mso-number-format: General; }\n</style>\n</head>\n<body>\n',
    ]
    for name, grid in sheets.items():
        out.append(_html_table(name, grid))
    out.append("</body>\n</html>\n")
    path = Path(path)
    path.write_bytes("".join(out).encode(encoding, errors="xmlcharrefreplace"))
    return path


def _html_table(name: str, grid: Grid) -> str:
    height, width, cells = _cells(grid)
    covered = {(r, c) for r0, c0, r1, c1 in grid.merges for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)}
    out = [f'<table border=1 title="{html.escape(_ILLEGAL.sub("", name), quote=True)}">\n']
    for r in range(height):
        by_col = {cell.col: cell for cell in cells[r]}
        tds = []
        for c in range(width):
            if c in by_col:
                tds.append(_html_td(by_col[c]))
            elif (r, c) not in covered:
                tds.append("<td></td>")
        out.append("<tr>" + "".join(tds) + "</tr>\n")
    out.append("</table>\n")
    return "".join(out)


def _html_td(cell: _Cell) -> str:
    attrs = (f" rowspan={cell.down + 1}" if cell.down else "") + (f" colspan={cell.across + 1}" if cell.across else "")
    v = cell.value
    if v is None:
        return f"<td{attrs}></td>"
    if cell.percent:
        return f"<td{attrs}>{_percent_text(v)}</td>"
    if isinstance(v, bool):
        return f'<td class=n{attrs}>{"TRUE" if v else "FALSE"}</td>'
    if isinstance(v, (int, float)):
        return f"<td class=n x:num{attrs}>{_number_text(v)}</td>"
    text = html.escape(v, quote=True).replace("\r\n", "\n").replace("\n", "<br style='mso-data-placement:same-cell'>")
    return f"<td{attrs}>{text}</td>"


# --- the published 池州 example ---------------------------------------------------------------

_ON_TIME = "在项目计划完成时间内完成"
CHIZHOU_VARIANT = Variant(merged=True, title_year_next_row=True, zero_total=True, placeholder=True)


def chizhou_form_a(year: int = 2022) -> FormA:
    """The published 池州市贵池区棠溪镇 Form A, with its slip: 年度资金总额 printed 0 / 0 / 0 (执行率
    0, 得分 0) above `本年财政拨款` 90 / 89.974 / 89.974, plus the placeholders it left (`指标2`, a
    二级 label without 三级). Project name and indicator wording are reconstructed in its style."""
    def row(l1, l2, l3, sign, value, unit, actual, points):
        return Indicator(l1, l2, l3, sign, value, unit, actual, points, points)

    indicators = (
        row("产出指标", "数量指标", "整治自然村数量", "≥", "50", "个", "50个", 20),
        Indicator("产出指标", "数量指标", "指标2", "", "", "", "", None, None),
        row("产出指标", "质量指标", "工程验收合格率", "≥", "100", "百分比", "100百分比", 15),
        row("产出指标", "时效指标", "项目完成及时性", "定性", _ON_TIME, "", _ON_TIME, 10),
        row("产出指标", "成本指标", "项目总成本", "≤", "90", "万元", "89.974万元", 10),
        row("效益指标", "社会效益指标", "农村人居环境改善", "定性", "达成预期指标", "", "达成预期指标", 15),
        Indicator("效益指标", "经济效益指标", "", "", "", "", "", None, None),
        row("效益指标", "可持续影响指标", "长效管护机制", "定性", "达成预期指标", "", "达成预期指标", 10),
        row("满意度指标", "服务对象满意度指标", "群众满意度", "≥", "90", "%", "95%", 10),
    )
    return FormA(
        year=year,
        project="34170222R000000001137-农村人居环境整治",
        supervisor="219-池州市贵池区棠溪镇人民政府",
        implementer="219001-池州市贵池区棠溪镇人民政府",
        total=FundsTotal(0, 0, 0, 10, 0, 0),
        sources=(
            Funds("本年财政拨款", 900_000, 899_740, 899_740),
            Funds("上年结转资金", 0, 0, 0),
            Funds("其他资金", 0, 0, 0),
        ),
        goal="完成全镇50个自然村人居环境整治，改善农村生产生活条件，建立长效管护机制。",
        achieved="已完成50个自然村人居环境整治，工程全部验收合格，群众满意度95%。",
        indicators=indicators,
        score=90,
        filled_by="汪敏",
        phone="0566-2620118",
        filled_on=f"{year + 1}年3月20日",
    )


# --- generator: names and codes ---------------------------------------------------------------

_COUNTIES = (
    "榆中县", "皋兰县", "永登县", "七里河区", "西固区", "安宁区", "红古区", "会宁县", "靖远县", "景泰县",
    "民勤县", "古浪县", "临泽县", "高台县", "山丹县", "民乐县", "甘谷县", "武山县", "秦安县", "清水县",
    "庄浪县", "静宁县", "泾川县", "灵台县",
)
# Bureaus and towns interleaved, so the first departments of any run include both kinds.
_ORGS = (
    "财政局", "城关镇人民政府", "教育局", "新集镇人民政府", "农业农村局", "东关镇人民政府", "水务局",
    "和平镇人民政府", "卫生健康局", "金崖镇人民政府", "民政局", "龙泉镇人民政府", "交通运输局",
    "三岔镇人民政府", "自然资源局", "新城镇人民政府", "住房和城乡建设局", "市场监督管理局", "文化和旅游局",
    "人力资源和社会保障局", "应急管理局", "林业和草原局", "司法局", "统计局", "审计局", "医疗保障局",
    "退役军人事务局",
)
_PROJECTS = (
    "农村人居环境整治项目", "乡村振兴衔接资金项目", "义务教育薄弱环节改善项目", "基层医疗卫生机构运行补助",
    "农田水利设施维修养护", "城乡居民最低生活保障资金", "农村公路养护工程", "森林防火专项经费",
    "困难群众救助补助资金", "耕地地力保护补贴", "安全生产监管经费", "信息化建设运维经费",
    "公共文化服务体系建设", "村级组织运转经费", "河湖长制工作经费", "高标准农田建设项目",
    "畜禽粪污资源化利用项目", "退役军人优抚补助资金",
)
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
_GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "建华", "晓东", "海燕")


def _unit_name(index: int) -> str:
    """County + bureau or town government; (county, org) pairs never repeat within 648 indices."""
    n_c, n_o = len(_COUNTIES), len(_ORGS)
    a, b = index % n_c, index // n_c
    name = _COUNTIES[a] + _ORGS[(b + a) % n_o]
    rounds = index // (n_c * n_o)
    return name + (f"（{rounds + 1}）" if rounds else "")


def _unit_code(index: int) -> str:
    if not 0 <= index <= MAX_INDEX:
        raise ValueError(f"index 应在 0–{MAX_INDEX} 之间，实际为 {index}")
    return f"{CODE_BASE + index:06d}"


def _person(rng: random.Random, year: int) -> tuple[str, str, str]:
    name = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
    phone = f"0931-{rng.randint(2_000_000, 8_999_999)}" if rng.random() < 0.6 else f"1{rng.choice('3589')}{rng.randint(0, 999_999_999):09d}"
    return name, phone, f"{year + 1}年{rng.randint(2, 4)}月{rng.randint(1, 28)}日"


# --- generator: indicators --------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    l1: str
    l2: str
    l3: str
    kind: str  # count, pct, sat, cap, cost, timely, level
    unit: str = ""
    lo: int = 0
    hi: int = 0


_PROJECT_SPECS = tuple(_Spec(*s) for s in (
    ("产出指标", "数量指标", "完成建设任务数量", "count", "个", 3, 60),
    ("产出指标", "数量指标", "受益村（社区）数量", "count", "个", 5, 50),
    ("产出指标", "数量指标", "补助对象人数", "count", "人", 100, 3000),
    ("产出指标", "数量指标", "开展培训次数", "count", "次", 2, 20),
    ("产出指标", "数量指标", "维修改造面积", "count", "平方米", 500, 20000),
    ("产出指标", "质量指标", "验收合格率", "pct"),
    ("产出指标", "质量指标", "资金使用合规率", "pct"),
    ("产出指标", "质量指标", "补助发放准确率", "pct"),
    ("产出指标", "时效指标", "项目完成及时性", "timely"),
    ("产出指标", "时效指标", "资金拨付及时率", "pct"),
    ("产出指标", "成本指标", "项目总成本", "cost", "万元"),
    ("效益指标", "经济效益指标", "带动群众增收", "count", "万元", 5, 100),
    ("效益指标", "社会效益指标", "群众生产生活条件改善", "level"),
    ("效益指标", "社会效益指标", "政策知晓率", "pct"),
    ("效益指标", "生态效益指标", "人居环境改善情况", "level"),
    ("效益指标", "可持续影响指标", "长效管护机制", "level"),
    ("效益指标", "可持续影响指标", "项目持续发挥作用年限", "count", "年", 3, 10),
    ("满意度指标", "服务对象满意度指标", "受益群众满意度", "sat"),
    ("满意度指标", "服务对象满意度指标", "服务对象满意度", "sat"),
))
_DEPT_SPECS = tuple(_Spec(*s) for s in (
    ("产出指标", "数量指标", "重点工作任务完成数", "count", "项", 5, 30),
    ("产出指标", "数量指标", "开展督查检查次数", "count", "次", 4, 24),
    ("产出指标", "数量指标", "服务群众人次", "count", "人次", 500, 20000),
    ("产出指标", "质量指标", "重点工作任务完成率", "pct"),
    ("产出指标", "质量指标", "预决算信息公开率", "pct"),
    ("产出指标", "时效指标", "工作任务完成及时性", "timely"),
    ("产出指标", "成本指标", "三公经费控制率", "cap"),
    ("产出指标", "成本指标", "部门支出总成本", "cost", "万元"),
    ("效益指标", "社会效益指标", "部门履职效能", "level"),
    ("效益指标", "社会效益指标", "群众办事便利度", "level"),
    ("效益指标", "可持续影响指标", "制度建设完善情况", "level"),
    ("满意度指标", "服务对象满意度指标", "服务对象满意度", "sat"),
))
# Points per 一级, by execution points: 90 = 50 + 30 + 10, 80 = 50 + 20 + 10 (湖北).
_L1_POINTS = {10: {"产出指标": 50, "效益指标": 30, "满意度指标": 10}, 20: {"产出指标": 50, "效益指标": 20, "满意度指标": 10}}
_L1_ROWS = {"产出指标": (3, 6), "效益指标": (1, 3), "满意度指标": (1, 1)}
_MISS_RATE = 0.12
_REASONS_A = (
    "受天气影响部分工程延期实施，未完全达到年度目标；下一步将合理安排施工进度，加强项目调度。",
    "年初目标设定偏高，实际需求少于预期；今后将结合以前年度完成情况合理测算指标值。",
    "上级政策调整，部分任务未按计划实施；将加强与主管部门沟通衔接，及时调整绩效目标。",
    "项目资金下达较晚，部分支出尚未完成结算；将加快资金支付进度，提高预算执行率。",
)

_REASONS_B = (
    "年初目标设定偏高，实际工作量少于预期；今后将结合以前年度完成情况合理测算指标值。",
    "个别支出超出年初预算；将严格执行预算，从严控制一般性支出。",
    "部分工作制度尚在修订中，未完全达到预期；将加快制度建设，完善长效机制。",
    "部分项目资金下达较晚，支出进度滞后；将加强预算执行监控，均衡支出进度。",
)


@dataclass(frozen=True)
class _Written:
    """A target and actual as written, and the share of 分值 a department gives itself."""

    sign: str
    value: str
    unit: str
    actual: str
    share: float


def _write_value(rng: random.Random, spec: _Spec, miss: bool, money: tuple[int, int]) -> _Written:
    """How people write this kind of target and actual; `share` follows the form notes: met →
    full, 正向 actual÷target, 反向 target÷actual, 定性 by tier."""
    kind = spec.kind
    if kind == "count":
        n = rng.randint(spec.lo, spec.hi)
        a = rng.randint(max(1, int(n * 0.6)), max(1, n - 1)) if miss else rng.randint(n, int(n * 1.2) + 1)
        return _Written(rng.choice(("≥", "≥", "")), str(n), spec.unit, f"{a}{spec.unit}", min(a / n, 1.0))
    if kind in ("pct", "sat"):
        n = rng.choice((90, 95, 85)) if kind == "sat" else rng.choice((100, 100, 98, 95, 90))
        sign = rng.choice(("=", "", "≥")) if n == 100 else rng.choice(("≥", "≥", ""))
        unit = "百分比" if kind == "pct" and rng.random() < 0.15 else "%"
        a = round(rng.uniform(n - 10, n - 0.5), 1) if miss else round(rng.uniform(n, 100), 1)
        return _Written(sign, str(n), unit, f"{_fmt(a)}{unit}", min(a / n, 1.0))
    if kind == "cap":
        a = round(rng.uniform(101, 112), 1) if miss else round(rng.uniform(60, 100), 1)
        return _Written("≤", "100", "%", f"{_fmt(a)}%", min(100 / a, 1.0))
    if kind == "cost":
        budget, spent = money
        t = math.ceil(budget / YUAN_PER_WAN)
        return _Written("≤", str(t), "万元", f"{_fmt(spent / YUAN_PER_WAN)}万元", min(t * YUAN_PER_WAN / max(spent, 1), 1.0))
    if kind == "timely":
        if miss:
            return _Written("定性", _ON_TIME, "", "基本按期完成", 0.8)
        return _Written("定性", _ON_TIME, "", rng.choice((_ON_TIME, "按时完成")), 1.0)
    if miss:
        word, share = rng.choice((("基本达成预期指标", 0.8), ("部分达成预期指标", 0.6)))
        return _Written("定性", "达成预期指标", "", word, share)
    return _Written("定性", "达成预期指标", "", rng.choice(("达成预期指标", "达成预期指标", "效果明显")), 1.0)


def _split_points(rng: random.Random, total: int, n: int) -> list[int]:
    """`n` whole points adding up to `total`, none below 2, a few moved around."""
    base, extra = divmod(total, n)
    pts = [base + (1 if i < extra else 0) for i in range(n)]
    for _ in range(rng.randint(0, n // 2)):  # n // 2 is 0 for one row, so sampling two is safe
        i, j = rng.sample(range(n), 2)
        if pts[i] > 2:
            pts[i] -= 1
            pts[j] += 1
    return pts


def _indicators_for(rng: random.Random, catalogue: tuple[_Spec, ...], exec_points: int, money: tuple[int, int],
                    kind: str) -> tuple[Indicator, ...]:
    """Indicator rows per 一级 in catalogue order, 分值 adding up to 100 - exec_points, 得分 as
    the department fills it in."""
    rows = []
    for l1, l1_points in _L1_POINTS[exec_points].items():
        pool = [s for s in catalogue if s.l1 == l1]
        lo, hi = _L1_ROWS[l1]
        chosen = sorted(rng.sample(range(len(pool)), min(rng.randint(lo, hi), len(pool))))
        for i, points in zip(chosen, _split_points(rng, l1_points, len(chosen))):
            spec = pool[i]
            w = _write_value(rng, spec, rng.random() < _MISS_RATE, money)
            score = _round(w.share * points)
            if score < points:
                reason = rng.choice(_REASONS_A if kind == "A" else _REASONS_B)
            else:  # Form B's 评价得分说明 is often filled in for full marks too
                reason = "" if kind == "A" or rng.random() < 0.5 else "完成年度目标，得满分。"
            rows.append(Indicator(spec.l1, spec.l2, spec.l3, w.sign, w.value, w.unit, w.actual, points, score, reason))
    return tuple(rows)


# --- generator: forms -------------------------------------------------------------------------


def _money(rng: random.Random) -> tuple[int, int, int]:
    """(年初预算数, 全年预算数, 全年执行数) in 元, whole hundreds; spending never above budget,
    now and then well below it."""
    budget = rng.randint(5, 500) * YUAN_PER_WAN if rng.random() < 0.5 else rng.randint(500, 50_000) * 100
    initial = budget if rng.random() < 0.7 else int(budget * rng.uniform(0.7, 1.2)) // 100 * 100
    band = rng.choices(((0.9, 1.0), (0.6, 0.9), (0.2, 0.6)), weights=(70, 25, 5))[0]
    return initial, budget, int(budget * rng.uniform(*band)) // 100 * 100


def _split(total: int, shares: list[float]) -> list[int]:
    """`total` in whole hundreds by `shares`, the first part absorbing the rounding."""
    rest = [int(total * s) // 100 * 100 for s in shares[1:]]
    return [total - sum(rest)] + rest


def _sources(rng: random.Random, initial: int, budget: int, spent: int) -> tuple[Funds, ...]:
    """当年财政拨款 carries most; 上年结转资金 and 其他资金 are often 0, printed as 0."""
    carry = rng.uniform(0.05, 0.3) if rng.random() < 0.3 else 0.0
    other = rng.uniform(0.02, 0.15) if rng.random() < 0.15 else 0.0
    label = rng.choice(("其中：当年财政拨款", "其中：当年财政拨款", "本年财政拨款", "财政拨款"))
    # Carry-over money is not in the 年初 budget; it arrives during the year.
    ini = _split(initial, [1 - carry - other, 0.0, other])
    bud = _split(budget, [1 - carry - other, carry, other])
    spe = _split(spent, [1 - carry - other, carry, other])
    return tuple(Funds(lab, i, b, s) for lab, i, b, s in zip((label, "上年结转资金", "其他资金"), ini, bud, spe))


def _form_a(rng: random.Random, year: int, unit: str, code: str, name: str, exec_points: int) -> FormA:
    initial, budget, spent = _money(rng)
    rows = _indicators_for(rng, _PROJECT_SPECS, exec_points, (budget, spent), "A")
    exec_score = _exec_score(spent, budget, exec_points)
    total = FundsTotal(initial, budget, spent, exec_points, _rate(spent, budget), exec_score)
    project = f"{code}{year % 100:02d}R{rng.randint(1, 99_999):012d}-{name}" if rng.random() < 0.5 else name
    who, phone, when = _person(rng, year)
    return FormA(
        year=year, project=project, supervisor=unit, implementer=unit, total=total,
        sources=_sources(rng, initial, budget, spent),
        goal=f"通过实施{name}，完成年度建设和保障任务，资金使用规范，群众满意度不低于90%。",
        achieved=f"{name}已按计划实施，全年执行{_fmt(spent / YUAN_PER_WAN)}万元，"
                 f"预算执行率{_fmt(spent / budget * 100)}%，主要绩效目标基本实现。",
        indicators=rows, score=_round(exec_score + sum(r.score for r in rows)),
        filled_by=who, phone=phone, filled_on=when,
    )


def _form_b(rng: random.Random, year: int, unit: str, projects: list[FormA], names: list[str], exec_points: int) -> FormB:
    """The department's form: 机关运转 plus one task per evaluated project, so the money agrees."""
    basic = rng.randint(100, 3_000) * 10_000
    basic_spent = int(basic * rng.uniform(0.93, 1.0)) // 100 * 100
    tasks = [Task("保障机关正常运转", "按时足额发放工资，保障日常办公运转", basic, basic_spent)]
    for form, name in zip(projects, names):
        src = form.sources  # the true amounts, whatever the total row printed
        b, s = sum(x.budget for x in src), sum(x.spent for x in src)
        tasks.append(Task(name, "已完成" if s >= 0.9 * b else "基本完成，部分资金结转下年", b, s))
    budget, spent = sum(t.budget for t in tasks), sum(t.spent for t in tasks)
    exec_score = _exec_score(spent, budget, exec_points)
    rows = _indicators_for(rng, _DEPT_SPECS, exec_points, (budget, spent), "B")
    who, phone, when = _person(rng, year)
    return FormB(
        year=year, dept=unit, tasks=tuple(tasks),
        total=FundsTotal(None, budget, spent, exec_points, _rate(spent, budget), exec_score),
        goal="保障机关正常运转，完成年度重点工作任务，提升公共服务水平。",
        achieved=f"全年预算{_fmt(budget / YUAN_PER_WAN)}万元，执行{_fmt(spent / YUAN_PER_WAN)}万元，年度重点工作任务基本完成。",
        indicators=rows, score=_round(exec_score + sum(r.score for r in rows)),
        filled_by=who, phone=phone, filled_on=when,
    )


# --- generator: departments -------------------------------------------------------------------

PACKAGINGS = ("workbook", "files", "spreadsheetml", "html")
# One preset per position in a cycle of four, so any four consecutive departments print every
# switch: the national form; a hand-filled copy with its slips; 河北 (元); 四川/湖北.
_PRESETS = (
    Variant(merged=True, title_year_next_row=True, footer=True),
    Variant(merged=False, wrapped_headers=True, points_in_l1=True, placeholder=True, zero_total=True),
    Variant(merged=True, yuan=True, footer=True),
    Variant(merged=True, split_target=True, heji=True, exec_points=20),
)


@dataclass(frozen=True)
class OfficialDepartment:
    """A department's forms, already printed as `variant` says (content switches applied), and
    how its files arrive (`packaging`, one of PACKAGINGS)."""

    code: str
    name: str
    variant: Variant
    packaging: str
    form_b: FormB
    projects: tuple[FormA, ...]
    instructions: bool = False  # a hidden 说明 sheet left in the workbook


def _variant(rng: random.Random, index: int) -> Variant:
    """The preset of this position, with a few switches of its own drawn at random."""
    v = _PRESETS[index % len(_PRESETS)]
    extra = {}
    if index % 4 != 1 and rng.random() < 0.3:
        extra["wrapped_headers"] = True
    if index % 4 in (2, 3) and rng.random() < 0.5:
        extra["title_year_next_row"] = True
    return replace(v, **extra)


def official_department(rng: random.Random, index: int, year: int) -> OfficialDepartment:
    code, name = _unit_code(index), _unit_name(index)
    unit = f"{code}-{name}"
    variant = _variant(rng, index)
    exec_points = variant.exec_points or 10
    names = rng.sample(_PROJECTS, rng.randint(1, 4))
    projects = [_form_a(rng, year, unit, code, n, exec_points) for n in names]
    form_b = _form_b(rng, year, unit, projects, names, exec_points)
    # The 池州 slip is one form's mistake, not a department's habit: only the first project.
    printed = replace(variant, zero_total=False)
    projects = [apply_variant(p, variant if k == 0 else printed) for k, p in enumerate(projects)]
    packaging = PACKAGINGS[(index + index // 4) % len(PACKAGINGS)]
    return OfficialDepartment(code, name, printed, packaging, apply_variant(form_b, printed), tuple(projects),
                              instructions=packaging == "workbook" and rng.random() < 0.5)


def official_departments(count: int, seed: int = 1, year: int = 2021) -> list[OfficialDepartment]:
    """`count` departments, each a Form B and 1–4 Form A, all from `seed`."""
    rng = random.Random(seed)
    return [official_department(rng, i, year) for i in range(count)]


# --- files ------------------------------------------------------------------------------------


def _safe(text: str) -> str:
    return "".join("_" if ch in '/\\:*?"<>|[]' else ch for ch in text)


def _project_name(form: FormA) -> str:
    return form.project.split("-", 1)[-1]


def write_official_department(out: Path, d: OfficialDepartment) -> list[Path]:
    """The department's files as its packaging says."""
    stem = _safe(f"{d.code}_{d.name}")
    b = form_grid(d.form_b, d.variant)
    a = [form_grid(p, d.variant) for p in d.projects]
    if d.packaging == "workbook":
        sheets = {"部门整体支出绩效自评表": b}
        sheets |= {_safe(f"项目{k}-{_project_name(p)}")[:31]: g for k, (p, g) in enumerate(zip(d.projects, a), start=1)}
        return [write_xlsx(sheets, out / f"{stem}_绩效自评表.xlsx", instructions=d.instructions)]
    if d.packaging == "files":
        paths = [write_xlsx({"部门整体支出绩效自评表": b}, out / f"{stem}_部门整体支出绩效自评表.xlsx")]
        for k, (p, g) in enumerate(zip(d.projects, a), start=1):
            paths.append(write_xlsx({"项目支出绩效自评表": g}, out / _safe(f"{stem}_项目{k}_{_project_name(p)}.xlsx")))
        return paths
    sheets = {"部门整体支出": b, "项目支出": stack(a)}
    if d.packaging == "spreadsheetml":
        return [write_spreadsheetml(sheets, out / f"{stem}_绩效自评导出.xls")]
    encoding = "gbk" if int(d.code) % 2 == 0 else "utf-8"
    return [write_html(sheets, out / f"{stem}_绩效自评导出.xls", encoding=encoding)]


CHIZHOU_FILE_NAME = "219001_池州市贵池区棠溪镇人民政府_项目支出绩效自评表.xlsx"


def write_official_samples(out_dir, count: int, seed: int = 1, year: int = 2021) -> list[Path]:
    """The 池州 example plus `count` departments' official forms in `out_dir`, in all three
    formats; with count ≥ 4 every Variant switch and every packaging appears."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [write_xlsx({"项目支出绩效自评表": form_grid(chizhou_form_a(year), CHIZHOU_VARIANT)}, out / CHIZHOU_FILE_NAME)]
    for d in official_departments(count, seed, year):
        paths += write_official_department(out, d)
    return paths
