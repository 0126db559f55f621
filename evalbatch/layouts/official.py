"""The official self-evaluation forms (docs: docs/official-forms.md): Form A,
项目支出绩效自评表 (one project), and Form B, 部门整体支出绩效自评表 (one department), in
their province variants and as budget systems export them.

Everything is found by label, never by position, and a form is recognised by what it holds:
a sheet with a funds block and/or an indicator block is a form, its title (when it has one)
only a hint of its kind; a sheet may stack several forms, each from its title row. Head
fields are "label | value", and each block (funds, indicators) has its columns placed from
its own header row by the matcher of `labels` (synonyms, their cores, core words, content). Merged cells arrive filled by the reader. The
values found go, with their cell addresses, into the same tables format 1 fills; the parse
stage turns them into numbers for all files at once.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from itertools import chain

from xlsxwriter.utility import xl_col_to_name

from .. import schema as S
from ..rules import Rules
from .base import FORM_A, FORM_B, Located, blank, norm, norm_row
from .labels import CORE_RANK, HEAD_FIELDS, LABEL_KEYS, Labels, budget_execution_row, canon, labels_for, points_in, remember

FUNDS = "资金来源"  # the table of funding rows (total and sources), project_code "" for a department

_YEAR = re.compile(r"((?:19|20)\d{2})\s*年度")
# A year without 度 names the form's year only on its title row or alone in a short cell (（2022年）),
# and never as a date (填报日期：2023年3月20日) nor inside a name (隆阳区2021年中央化肥…项目).
_YEAR_ONLY = re.compile(r"((?:19|20)\d{2})\s*年(?!\s*\d{1,2}\s*月)")
_YEAR_CELL = 12
_YEAR_FIELD = re.compile(r".{0,4}年度[:：]?\s*((?:19|20)\d{2})?(?:年度?)?")
_BARE_YEAR = re.compile(r"((?:19|20)\d{2})(?:年度?)?")
# 编码-名称, or a code of six or more characters and a space (101001 某县公路中心, as budget systems print).
_CODE_NAME = re.compile(r"^\s*(?:([0-9A-Za-z]*\d[0-9A-Za-z]*)\s*[-－—–_—]+|(\d[0-9A-Za-z]{5,})\s+)\s*(\S.*?)\s*$")
_L1_POINTS = re.compile(r"^(.*?)[（(]\s*(\d+(?:\.\d+)?)\s*分\s*[）)]\s*$")
_WHERE_ONLY = re.compile(r"^其中[:,，]?")
# A number as forms print it: "9", "97.85分" (points carry their unit in official forms), "95%".
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(%|分)?$")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_GOAL_LABELS = ("年度总体目标", "年初设定目标", "总体目标", "绩效目标")
# A head value that points elsewhere: the unit is then the one named above or in the title.
_SAME_AS = frozenset({"本单位", "同上", "同左", "本部门", "同主管部门", "/", "—", "-", "无"})
_FUNDS_HEADER = ("initial_budget", "budget", "spent", "exec_weight", "exec_rate", "exec_score")


@functools.lru_cache(maxsize=16384)
def cell(r: int, c: int) -> str:
    return f"{xl_col_to_name(c)}{r + 1}"


@dataclass
class Grid:
    """One sheet's cells and their normalised text, for lookups by label."""

    name: str
    rows: list[list]
    norms: list[list[str]] = field(init=False)
    # Cells a merged range covers below or right of its top-left one: a score merged over two
    # indicator rows is the group's, not each row's.
    covered: frozenset = frozenset()
    # Each cell of a range merged across columns → the range's last column: a note merged
    # across the indicator table's columns (说明 | 无 …) is no indicator. A lookup per row, not
    # a pass over every merge (a hostile sheet may hold tens of thousands).
    across: dict = field(default_factory=dict)
    _firsts: dict = field(default_factory=dict, repr=False)  # (start, stop) → first_texts
    _headers: dict = field(default_factory=dict, repr=False)  # (finder, start, stop) → `_header_once`
    _colons: dict = field(default_factory=dict, repr=False)  # (start, stop) → `colon_cells`

    def one_merge(self, r: int, first: int, last: int) -> bool:
        """Whether one merged range covers columns `first`…`last` of row `r`."""
        return self.across.get((r, first), -1) >= last

    def __post_init__(self):
        width = max((len(row) for row in self.rows), default=0)  # ragged rows (HTML) padded: lookups never fall off
        self.rows = [list(row) + [None] * (width - len(row)) for row in self.rows]
        self.norms = [norm_row(row) for row in self.rows]

    @functools.cached_property
    def texts(self) -> frozenset[str]:
        """Every normalised text of the sheet: a label that is not there is not searched for."""
        return frozenset(chain.from_iterable(self.norms))

    @functools.cached_property
    def cores(self) -> list[list[str]]:
        """Each short label's core (`canon`; "" for other cells), computed once for the lookups of every head field."""
        return [[canon(v) if t and len(t) <= _TITLE_SLACK else "" for v, t in zip(row, norms)] for row, norms in zip(self.rows, self.norms)]

    @functools.cached_property
    def core_texts(self) -> frozenset[str]:
        """Every short label's core: whether to look in `cores` at all (most lookups need not)."""
        short = {v for row, norms in zip(self.rows, self.norms) for v, t in zip(row, norms) if t and len(t) <= _TITLE_SLACK}
        return frozenset(map(canon, short))

    @functools.cached_property
    def joined(self) -> list[str]:
        """Each row's normalised texts in one string, NUL between cells (no label holds NUL, so
        a word found in it is found in one cell): whether a row holds a word, asked in C."""
        return ["\0".join(row) for row in self.norms]

    def row_has(self, r: int, words: tuple[str, ...]) -> bool:
        """Whether a normalised cell of row `r` contains one of `words`."""
        return any(w in self.joined[r] for w in words)

    def colon_cells(self, start: int, stop: int) -> list[tuple[int, int, str]]:
        """(row, column, text) of each text cell of rows [start, stop) holding a colon (`label：value`), in reading order."""
        key = (start, stop)
        if key not in self._colons:
            self._colons[key] = [(r, c, v) for r in range(start, min(stop, len(self.rows))) for c, v in enumerate(self.rows[r])
                                 if isinstance(v, str) and ("：" in v or ":" in v)]
        return self._colons[key]

    def first_texts(self, start: int, stop: int) -> list[tuple[str, int, int]]:
        """Each text of rows [start, stop) at its first cell, in reading order: a merged label
        repeats itself across its columns, and the head is searched once for each field."""
        key = (start, stop)
        if key not in self._firsts:
            seen: dict[str, tuple[str, int, int]] = {}
            for r in range(start, min(stop, len(self.rows))):
                for c, (v, t) in enumerate(zip(self.rows[r], self.norms[r])):
                    if t and v not in seen:
                        seen[v] = (v, r, c)
            self._firsts[key] = list(seen.values())
        return self._firsts[key]

    def value(self, r: int, c: int | None):
        if c is None or r >= len(self.rows) or c >= len(self.rows[r]):
            return None
        return self.rows[r][c]

    def find(self, words: tuple[str, ...], start: int, end: int) -> tuple[int, int] | None:
        """The first cell in rows [start, end) whose label is one of `words` (in their order of priority)."""
        for w in words:
            if w not in self.texts:
                continue
            for r in range(start, min(end, len(self.norms))):
                if w in self.norms[r]:
                    return r, self.norms[r].index(w)
        return None

    def col(self, r: int, words: tuple[str, ...], after: int = -1) -> int | None:
        """The column of row `r` holding the first of `words` found (priority order)."""
        row = self.norms[r] if r < len(self.norms) else []
        for w in words:
            for c, t in enumerate(row):
                if c > after and t == w:
                    return c
        return None


@dataclass
class Form:
    kind: str  # FORM_A or FORM_B
    sheet: str
    start: int  # title row (0-based)
    end: int  # first row after the form
    head: dict[str, tuple[object, str]] = field(default_factory=dict)  # field → (value, cell)
    year: tuple[int, str] | None = None
    unit: str = "万元"
    total: dict[str, tuple[object, str]] | None = None  # funds total row: key → (value, cell)
    total_row: int = -1
    sources: list[tuple[int, dict[str, tuple[object, str]]]] = field(default_factory=list)
    indicators: list[tuple[int, dict[str, tuple[object, str]]]] = field(default_factory=list)
    score: tuple[object, str] | None = None  # printed 总分
    funds_rows: tuple[int, int] | None = None  # first and last row of the funds block (its header to its last amounts)
    unscored: bool = False  # indicators read, but the form gives them no points (目标自评表)
    notes: list[tuple[str, str, str]] = field(default_factory=list)  # (rule id, message, cell)

    @property
    def title(self) -> str:
        return f"{self.kind}（「{self.sheet}」第 {self.start + 1} 行起）"


# --- finding the forms ------------------------------------------------------------------


def find_forms(sheets: dict[str, list[list]], labels: Labels, merges: dict | None = None) -> list[Form]:
    forms = []
    for name, rows in sheets.items():
        spans = (merges or {}).get(name, ())
        grid = Grid(name, rows, covered=_covered(spans), across=_across(spans))
        forms += [_read_form(grid, f, labels) for f in _forms_in(grid, labels)]
    return forms


def _covered(merges) -> frozenset:
    return frozenset((r, c) for r0, c0, r1, c1 in merges if r1 > r0 for r in range(r0 + 1, r1 + 1) for c in range(c0, c1 + 1))


def _across(merges) -> dict:
    return {(r, c): c1 for r0, c0, r1, c1 in merges if c1 > c0 for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)}


# A title cell holds the title and at most a year, an issuer or a project name around it; a
# longer text that mentions a form's name (an instruction, a note) starts no form.
_TITLE_SLACK = 16
_TITLE_MAX = 60


def _title_kind(text: str, labels: Labels, memo: dict | None = None) -> str | None:
    """FORM_A / FORM_B for a title row, "" for a title that does not say which (content
    decides), None for no title. Asked of every cell: remembered per text (in `memo`, the
    labels' own, which a caller asking of many texts passes)."""
    if len(text) > _TITLE_MAX:
        return None  # long text is never a title, and this test is cheap
    memo = labels.memo("title") if memo is None else memo
    kind = memo.get(text, memo)
    return remember(memo, text, _title_kind_of(text, labels)) if kind is memo else kind


def _title_kind_of(text: str, labels: Labels) -> str | None:
    """A known title wins; otherwise any short text naming a self-evaluation table (…自评表,
    …绩效评价表) is one, its kind from 整体 or 项目 in it."""
    for kind, key in ((FORM_A, "title_project"), (FORM_B, "title_department")):
        if any(t in text and len(text) <= len(t) + _TITLE_SLACK for t in labels[key]):
            return kind
    t = canon(text)
    if not ("自评表" in t or ("绩效" in t and t.endswith(("评价表", "自评", "情况表")))) or "说明" in t or "附件" in t[:2]:
        return None
    if "整体" in t:
        return FORM_B
    return FORM_A if any(w in t for w in ("项目", "专项", "资金")) else ""


def _forms_in(grid: Grid, labels: Labels) -> list[Form]:
    """Each title row starts a form that runs to the next title (titles on consecutive rows —
    `附件2` then the title, a title then `（2022年度）` — are one); a sheet without a title is
    one form when it holds a funds or an indicator block. A form's kind is its title's, else
    its content's."""
    starts: list[tuple[int, str]] = []
    memo = labels.memo("title")
    titles = {t: k for t in grid.texts if t and (k := _title_kind(t, labels, memo)) is not None}  # most sheets: one or two
    for r, row in enumerate(grid.norms if titles else ()):
        if titles.keys().isdisjoint(row):  # asked in C: most rows hold no title
            continue
        kind = next(titles[t] for t in row if t in titles)
        if starts and r - starts[-1][0] <= 2 and not _has_block(grid, starts[-1][0], r, labels):
            starts[-1] = (starts[-1][0], starts[-1][1] or kind)
        else:
            starts.append((r, kind))
    if not starts:
        starts = [(0, "")]
    ends = [r for r, _ in starts[1:]] + [len(grid.rows)]
    forms = []
    for (r, kind), end in zip(starts, ends):
        kind = kind or _content_kind(grid, r, end, labels)
        if kind:
            forms.append(Form(kind, grid.name, r, end))
    return forms


def _has_block(grid: Grid, start: int, stop: int, labels: Labels) -> bool:
    return _indicator_header(grid, start, stop, labels) is not None or _funds_header(grid, start, stop, labels) is not None


def _content_kind(grid: Grid, start: int, end: int, labels: Labels) -> str | None:
    """项目 when a 项目名称 field is there, 部门整体 when 部门/单位 整体 is written anywhere or a
    department is named without a project; None when the rows hold no funds nor indicator block."""
    if not _has_block(grid, start, end, labels):
        return None
    if _find_label(grid, labels, "project_name", start, end):
        return FORM_A
    if any("整体" in t for row in grid.norms[start:end] for t in row if t and len(t) <= _TITLE_MAX):
        return FORM_B
    if _find_label(grid, labels, "department_name", start, end):
        return FORM_B
    return FORM_A


def _find_label(grid: Grid, labels: Labels, key: str, start: int, end: int, head_end: int | None = None) -> tuple[int, int] | None:
    """The first cell in rows [start, end) that names head field `key`: a synonym as written
    (in priority order), else a synonym's core (全年预算数(万元), 項目名稱), else, in the head
    (rows before `head_end`, when given), the field's core words (专项资金名称): below it an
    indicator's name may hold them too."""
    hit = grid.find(labels[key], start, end)
    if hit:
        return hit
    cores = labels.cores[key]
    if not grid.core_texts.isdisjoint(cores):
        for r in range(start, min(end, len(grid.rows))):
            for c, t in enumerate(grid.cores[r]):
                if t and t in cores:
                    return r, c
    for v, r, c in grid.first_texts(start, min(end, head_end if head_end is not None else start)):
        if labels.rank(v, key) == CORE_RANK:
            return r, c
    return None


def _read_form(grid: Grid, form: Form, labels: Labels) -> Form:
    form.year = _year(grid, form)
    ind_header = _indicator_header(grid, form.start, form.end, labels)
    head_end = min(h[0] for h in (ind_header, _funds_header(grid, form.start, form.end, labels), (form.end,)) if h)
    for key in ("project_name", "project_code", "supervisor", "implementer", "department_name"):
        found = _head_value(grid, form, labels, key, head_end)
        if found:
            form.head[key] = found
    title_unit = _title_unit(grid, form)
    named = [split_code(v)[1] for k in ("implementer", "department_name", "supervisor") if _named(v := form.head.get(k, (None,))[0])]
    if title_unit and not named:
        form.head["department_name"] = title_unit
    elif title_unit and form.kind == FORM_A and _text(form.head.get("project_name", (None,))[0]) == "":
        project = _title_project(title_unit[0], named)
        if project:
            form.head["project_name"] = (project, title_unit[1])
    _read_funds(grid, form, labels, ind_header[0] if ind_header else form.end)
    if ind_header is None:
        form.notes.append(("form.no_indicators", f"{form.title}中没有找到绩效指标表（表头应含“一级指标”“三级指标”等）；该表的指标未读取",
                           cell(form.start, 0)))
    else:
        _read_indicators(grid, form, labels, *ind_header)
    if form.score is None:
        form.score = _head_total(grid, form, labels, ind_header[0] if ind_header else form.end)
    _unplaced_rows(grid, form, labels, ind_header[0] if ind_header else form.end)
    if form.kind == FORM_B and form.total is None and any(budget_execution_row(row["level2"][0], row["level3"][0]) for _, row in form.indicators):
        # 预算执行率 printed as an indicator row is the execution: no funds block is needed.
        form.notes = [n for n in form.notes if n[0] != "form.no_funds"]
    return form


def _head_total(grid: Grid, form: Form, labels: Labels, stop: int) -> tuple[object, str] | None:
    """The self total printed in the header area (自评总分(分) | 97.6), left of the indicator
    block: a total_score label naming a score (总分, 得分; not a funds block's 合计) with a
    number right of it."""
    words = tuple(w for w in labels.cores["total_score"] if "分" in w)
    for r in range(form.start, min(stop, len(grid.rows))):
        for c, v in enumerate(grid.rows[r]):
            if isinstance(v, str) and len(v) <= _TITLE_SLACK and canon(v) in words:
                hit = next((cc for cc in range(c + 1, len(grid.rows[r])) if not blank(grid.rows[r][cc])), None)
                if hit is not None and _numeric(grid.rows[r][hit]):
                    return grid.rows[r][hit], cell(r, hit)
    return None


def _named(value) -> bool:
    """A head value that names a unit (not blank, not 本单位 / 同上)."""
    return not blank(value) and norm(value) not in _SAME_AS


_TITLE_UNIT = re.compile(r"^(.{2,40}?)(?:(?:19|20)\d{2}年度?|[（(]?(?:部门|单位|项目|专项)[^（(]{0,8}?(?:整体)?支?出?绩效)")


def _title_unit(grid: Grid, form: Form) -> tuple[object, str] | None:
    """The unit written in front of the title (某某局2022年度部门整体支出绩效自评表)."""
    for c, v in enumerate(grid.rows[form.start] if form.start < len(grid.rows) else []):
        if isinstance(v, str) and "表" in v:
            m = _TITLE_UNIT.match(norm(v))
            name = m.group(1).strip("()（）:：") if m else ""
            # A year before the title (2023年度部门整体…) names no unit: something must remain without it.
            if len(_YEAR_WORDS.sub("", name)) >= 2 and not any(w in name for w in ("附件", "表", "绩效")):
                return name, cell(form.start, c)
    return None


def _title_project(before: str, units: list[str]) -> str | None:
    """The project a title names after its unit (某县公路中心农村道路养护项目支出绩效自评表, the
    form's 实施单位 某县公路中心): what is left of the words before the form's name once the
    unit and the year are taken away; None when nothing of a name is left."""
    rest = _YEAR_WORDS.sub("", before)
    for unit in sorted(units, key=len, reverse=True):
        if unit and rest.startswith(norm(unit)):
            rest = rest[len(norm(unit)):]
            break
    else:
        return None  # the title does not start with the form's unit: it names no project apart from it
    rest = rest.strip("-—_:：")
    return rest if len(rest) >= 2 else None


_YEAR_WORDS = re.compile(r"(?:19|20)\d{2}\s*年度?|[()（）\s]")


def _year(grid: Grid, form: Form) -> tuple[int, str] | None:
    """The year from the title or the rows under it: `（2022年度）`, `2022年度项目支出绩效自评表`,
    else `2022年项目支出绩效自评表` on the title row or `（2022年）` alone."""
    rows = range(form.start, min(form.start + 3, form.end))
    cells = [(r, c, t) for r in rows for c, t in enumerate(grid.norms[r]) if t]
    for r, c, t in cells:
        m = _YEAR.search(t)
        if m:
            return int(m.group(1)), cell(r, c)
    for r, c, t in cells:
        m = _YEAR_ONLY.search(t) if r == form.start or len(t) <= _YEAR_CELL else None
        if m:
            return int(m.group(1)), cell(r, c)
    return _year_field(grid, cells)


def _year_field(grid: Grid, cells: list[tuple[int, int, str]]) -> tuple[int, str] | None:
    """A year written as a head field: `年度：2022` in one cell, or a short label ending in 年度
    (年度, 评价年度, 预算年度) with the year in the next filled cell of its row."""
    for r, c, t in cells:
        m = _YEAR_FIELD.fullmatch(t)
        if not m:
            continue
        if m.group(1):
            return int(m.group(1)), cell(r, c)
        nxt = next((cc for cc in range(c + 1, len(grid.rows[r])) if not blank(grid.rows[r][cc])), None)
        if nxt is not None and (y := _BARE_YEAR.fullmatch(_number_text(grid.rows[r][nxt]))):
            return int(y.group(1)), cell(r, nxt)
    return None


def _head_value(grid: Grid, form: Form, labels: Labels, key: str, head_end: int) -> tuple[object, str] | None:
    """The value right of a head label (rows before `head_end` are the head): the first
    non-blank cell that is not the label again (a merged label fills several cells) nor another
    head label (then the value is blank); or the rest of the label's own cell (`填报单位：某某局`)."""
    end = form.end if form.total_row < 0 else form.total_row
    hit = _find_label(grid, labels, key, form.start, end, head_end)
    if hit is None:
        return _inline_value(grid, form, labels, key, end)
    r, c = hit
    row = grid.rows[r]
    label, own = _colon_parts(row[c])
    if own:  # 项目名称：农村道路养护 in the label's own cell
        return own, cell(r, c)
    for cc in range(c + 1, len(row)):
        t = grid.norms[r][cc]
        if t == grid.norms[r][c] or blank(row[cc]):
            continue
        if labels.head_label(row[cc]) or labels.head_label(_colon_parts(row[cc])[0]):
            break  # another field (实施单位, or 实施单位：某某局): this one is blank
        return row[cc], cell(r, cc)
    return None, cell(r, min(c + 1, max(len(row) - 1, 0)))


def _colon_parts(v) -> tuple[str, str]:
    """(label, value) of a `label：value` cell (填报单位：某某局（盖章））, the seal note dropped;
    ("", "") for a cell without a colon."""
    if not isinstance(v, str) or not (":" in v or "：" in v):
        return "", ""
    label, _, rest = v.replace("：", ":").partition(":")
    return label, re.sub(r"[（(]\s*(盖章|公章|签章)\s*[）)]", "", rest).strip().split("  ")[0].strip()


def _inline_value(grid: Grid, form: Form, labels: Labels, key: str, end: int) -> tuple[object, str] | None:
    """`label：value` in one cell, on the form's first rows (填报单位：某某局（盖章））."""
    for r, c, v in grid.colon_cells(form.start, min(end, form.start + 6)):
        label, rest = _colon_parts(v)
        if rest and canon(label) in labels.cores[key]:
            return rest, cell(r, c)
    return None


# --- the funds block --------------------------------------------------------------------

_MONEY_KEYS = ("initial_budget", "budget", "spent")


@dataclass
class _FundList:
    """One list of a funds block: where its row labels start, its columns, and the kinds of its
    rows. Most blocks are one list: the total and its sources (or Form B's tasks). A block that
    prints income and spending side by side (收入 | 预算数 | 执行数 | 支出 | 预算数 | 执行数) is two:
    execution is the spending list's ("合计" and its parts "支出"); the income list is a
    breakdown of its own ("收入合计", "收入"), checked against its own total."""

    first: int  # first column of its labels
    cols: dict[str, int]
    total: str = "合计"
    part: str = "来源"

    @property
    def money(self) -> int:
        return min(self.cols[k] for k in _MONEY_KEYS if k in self.cols)


def _read_funds(grid: Grid, form: Form, labels: Labels, stop: int) -> None:
    header = _funds_header(grid, form.start, form.end, labels)
    if header is not None and header[0] >= stop:
        header = None  # the first header row of the form is below the indicators: none above them
    if header is None:
        form.notes.append(("form.no_funds", f"{form.title}中没有找到资金表（表头应含“全年预算数”“全年执行数”）；无法计算预算执行率",
                           cell(form.start, 0)))
        return
    _read_funds_block(grid, form, labels, header, stop)
    # A list of tasks with their amounts (年度主要任务 | 任务名称 | 预算数 | 执行数) may come before
    # the block of the whole department's execution (四川's 部门整体 form): a first block that
    # gives no total gives way to the next header's, when that one gives it.
    following = _funds_header(grid, form.funds_rows[1] + 1, stop, labels) if form.total is None else None
    if following is not None:
        first = (form.sources, form.funds_rows, form.unit, len(form.notes))
        form.sources = []
        _read_funds_block(grid, form, labels, following, stop)
        if form.total is None:
            form.sources, form.funds_rows, form.unit = first[:3]
            del form.notes[first[3]:]


def _read_funds_block(grid: Grid, form: Form, labels: Labels, header: tuple[int, dict[str, int]], stop: int) -> None:
    h, cols = header
    lists = _fund_lists(grid, h, cols, labels)
    placed = {f"{i}{k}": c for i, fl in enumerate(lists) for k, c in fl.cols.items()} | {f"{i}label": fl.first for i, fl in enumerate(lists)}
    _unplaced(grid, form, labels, h, placed, lists[0].money, "budget、spent、exec_weight、exec_rate、exec_score")
    form.unit = _unit(grid, form.start, h + 1, labels)
    seen_money = False
    form.funds_rows = (h, h)
    for r in range(h + 1, stop):
        read = [_fund_row(grid, r, fl, labels) for fl in lists]
        if not any(read):
            if seen_money or grid.row_has(r, _GOAL_LABELS):
                break
            continue
        seen_money = True
        form.funds_rows = (h, r)
        for fl, row in zip(lists, read):
            if row is None:
                continue
            total, values = row
            if total and fl.total == "合计" and form.total is None:
                form.total, form.total_row = values, r
            else:
                # A second total of the main list was read as one more source before lists came.
                values["kind"] = (fl.total if total and fl.total != "合计" else fl.part, "")
                form.sources.append((r, values))
    _single_row_total(form, next(fl for fl in lists if fl.total == "合计"))
    _nature_lists(grid, form, labels, form.funds_rows[1] + 1, stop)
    if form.total is not None and "exec_weight" not in cols:
        heading = _execution_heading(grid, form.start, h + 1)
        if heading:
            form.total["exec_weight"] = heading


def _fund_row(grid: Grid, r: int, fl: _FundList, labels: Labels) -> tuple[bool, dict] | None:
    """(is the list's total, values with their cells) of row `r` in one list; None when the row
    has neither a label nor an amount there."""
    label = _fund_label(grid, r, fl.first, fl.money, labels)
    if label is None and not any(_numeric(grid.value(r, fl.cols.get(k))) for k in _MONEY_KEYS):
        return None
    values = {k: (_dash_blank(grid.value(r, c)), cell(r, c)) for k, c in fl.cols.items()}
    values["label"] = (label[1] if label else _task_name(grid, r, fl.first, fl.money), cell(r, label[2] if label else fl.first))
    return bool(label and label[0] == "total"), values


def _single_row_total(form: Form, main: _FundList) -> None:
    """A block without a total row whose one row of amounts (labelled or not: 重庆 prints the
    amounts right under the header, beside the merged block heading) is that total."""
    mine = [(r, v) for r, v in form.sources if v.get("kind", ("",))[0] == main.part]
    if form.total is None and len(mine) == 1:
        r, values = mine[0]
        form.sources.remove(mine[0])
        values.pop("kind", None)
        form.total, form.total_row = values, r


_INCOME, _SPENDING = ("收入", "来源"), ("支出", "用途", "使用")


def _fund_lists(grid: Grid, h: int, cols: dict[str, int], labels: Labels) -> list[_FundList]:
    """The lists of a funds block from its header row: one, or income and spending side by side
    when the money columns come twice and the label heading before each says which list it is
    (收入项目 … 支出项目). Execution points, rate and score belong to the spending list."""
    one = [_FundList(0, cols)]
    row = grid.rows[h]
    money = {cols[k] for k in _MONEY_KEYS if k in cols}
    second = labels.place([None if c in money else v for c, v in enumerate(row)], _MONEY_KEYS)
    if "spent" not in second or min(second.values()) <= max(money):
        return one
    heads = [_list_heading(grid, h, lo, hi) for lo, hi in ((0, min(money)), (max(money) + 1, min(second.values())))]
    kinds = [_list_kind(canon(grid.rows[h][c])) if c is not None else None for c in heads]
    if None in heads or set(kinds) != {"收入", "支出"}:
        return one
    extra = {k: c for k, c in cols.items() if k not in _MONEY_KEYS and c > max(second.values())}
    left = _FundList(heads[0], {k: cols[k] for k in _MONEY_KEYS if k in cols})
    right = _FundList(heads[1], {**second, **extra})
    income, spending = (left, right) if kinds[0] == "收入" else (right, left)
    income.total, income.part, spending.part = "收入合计", "收入", "支出"
    return [income, spending]


_LABEL_AMOUNT = re.compile(r"^(.*?)[:：]\s*([+-]?(?:\d[\d,]*(?:\.\d*)?|\.\d+))?$")


def _nature_lists(grid: Grid, form: Form, labels: Labels, first: int, stop: int) -> None:
    """The central form's breakdowns of its 年度预算申请 under the total row: `按收入性质分：X`
    beside `按支出性质分：Y`, then a line per kind on each side (其中：一般公共预算：X | 其中：基本支出：Y,
    政府性基金拨款：X | 项目支出：Y …), each printing one amount after its colon or in the next
    cell. They are read as the income and spending lists of a block printing both: the
    income parts ("收入") add up to their heading ("收入合计"), the spending parts ("支出") to
    theirs ("支出合计"). The amounts are the 年度预算申请's: 全年预算数."""
    found = next(((r, heads) for r in range(first, min(first + 2, stop, len(grid.rows))) if (heads := _nature_heads(grid, r, labels))), None)
    if found is None:
        return
    r, heads = found[0], sorted(found[1].items(), key=lambda kc: kc[1])
    spans = [(kind, c, heads[i + 1][1] if i + 1 < len(heads) else len(grid.rows[r])) for i, (kind, c) in enumerate(heads)]
    last = r
    for rr in range(r, min(stop, len(grid.rows))):
        if rr > r and grid.row_has(rr, _GOAL_LABELS):
            break
        lines = [(kind, _nature_line(grid, rr, lo, hi)) for kind, lo, hi in spans]
        if rr > r and not any(line for _, line in lines):
            break
        for kind, line in lines:
            if line:
                label, amount = line
                total = rr == r
                form.sources.append((rr, {"label": label, "budget": amount, "kind": (f"{kind}合计" if total else kind, "")}))
        last = rr
    form.funds_rows = (form.funds_rows[0], last)


def _nature_heads(grid: Grid, r: int, labels: Labels) -> dict[str, int]:
    """收入 / 支出 → the column of a row's `按收入性质分` / `按支出性质分` cell ([forms] income_lists,
    spending_lists)."""
    heads: dict[str, int] = {}
    for c, t in enumerate(grid.norms[r]):
        for kind in labels.remembered("nature heads", _nature_kinds, t) if t else ():
            heads.setdefault(kind, c)
    return heads


def _nature_kinds(text: str, labels: Labels) -> tuple[str, ...]:
    """The lists (收入, 支出) a cell heads, by its label before any amount."""
    label = _LABEL_AMOUNT.match(text)
    name = label.group(1) if label else text
    ranks = [(kind, labels.rank(name, key) if name else None) for kind, key in (("收入", "income_lists"), ("支出", "spending_lists"))]
    return tuple(kind for kind, rank in ranks if rank is not None and rank < CORE_RANK)


def _nature_line(grid: Grid, r: int, lo: int, hi: int) -> tuple[tuple[str, str], tuple[object, str]] | None:
    """((label, cell), (amount, cell)) of the first label in columns [lo, hi) of row `r`: the
    amount after its colon, else the next number in the span (a merged label repeats itself
    first); None when the span holds no short label."""
    for c in range(lo, min(hi, len(grid.rows[r]))):
        text = _WHERE_ONLY.sub("", grid.norms[r][c])
        if not text or _numeric(grid.rows[r][c]):
            continue
        m = _LABEL_AMOUNT.match(text)
        label = (m.group(1) if m else text).strip()
        if not label or len(canon(label)) > _TITLE_SLACK:
            return None
        if m and m.group(2):
            return (label, cell(r, c)), (m.group(2).replace(",", ""), cell(r, c))
        nxt = next((cc for cc in range(c + 1, min(hi, len(grid.rows[r]))) if _numeric(grid.rows[r][cc])), None)
        return (label, cell(r, c)), ((grid.rows[r][nxt], cell(r, nxt)) if nxt is not None else (None, ""))
    return None


def _list_heading(grid: Grid, h: int, lo: int, hi: int) -> int | None:
    """The column of the last label cell in [lo, hi) of the header row: a list's heading."""
    found = [c for c in range(lo, hi) if grid.norms[h][c]]
    return found[-1] if found else None


def _list_kind(core: str) -> str | None:
    """收入 for an income list's heading (收入项目, 资金来源), 支出 for a spending one (支出项目)."""
    spending, income = any(w in core for w in _SPENDING), any(w in core for w in _INCOME)
    return "支出" if spending and not income else "收入" if income and not spending else None


def _execution_heading(grid: Grid, start: int, stop: int) -> tuple[float, str] | None:
    """Execution points printed in the funds block's heading: 预算执行情况(20分)."""
    for r in range(start, stop):
        for c, t in enumerate(grid.norms[r]):
            if t and "执行" in t and len(t) <= _TITLE_SLACK and points_in(t) is not None:
                return points_in(t), cell(r, c)
    return None


def _dash_blank(v):
    """A dash in a money cell (—, -, /) is the form's way of writing nothing."""
    return None if isinstance(v, str) and norm(v) in _SAME_AS else v


def _header_once(find):
    """A block's header row, found once per rows of a sheet: recognising a form by its blocks,
    reading its head and reading the block all ask for it. Each caller gets its own columns."""

    @functools.wraps(find)
    def once(grid: Grid, start: int, stop: int, labels: Labels) -> tuple[int, dict[str, int]] | None:
        key = (find, start, stop)
        if key not in grid._headers:
            grid._headers[key] = find(grid, start, stop, labels)
        found = grid._headers[key]
        return (found[0], dict(found[1])) if found else None

    return once


@_header_once
def _funds_header(grid: Grid, start: int, stop: int, labels: Labels) -> tuple[int, dict[str, int]] | None:
    """The first row naming both a budget and an executed amount; points, rate and score
    count only right of the money (a 分值 far left is another block's)."""
    for r in range(start, min(stop, len(grid.rows))):
        if sum(1 for t in grid.norms[r] if t) < 2:
            continue
        cols = labels.place(grid.rows[r], _FUNDS_HEADER)
        if "spent" not in cols or ("budget" not in cols and "initial_budget" not in cols):
            continue
        if "budget" not in cols:
            cols["budget"] = cols["initial_budget"]  # 年初预算数 | 全年执行数 only: the budget is the initial one
        first = min(cols["budget"], cols["spent"]) - 2
        return r, {k: c for k, c in cols.items() if k in _MONEY_KEYS or c > first}
    return None


# A funds row named as a whole (…总额, …合计, …总计) is the total unless it names a part of the
# spending (基本支出总额 beside 项目支出总额 are two parts of one total).
_TOTAL_ENDS = ("总额", "合计", "总计")
_PART_WORDS = ("基本支出", "项目支出", "人员", "公用")


def _fund_label(grid: Grid, r: int, first: int, first_money: int, labels: Labels) -> tuple[str, str, int] | None:
    """("total" | "source", label as written, column) for a funds row named by a known label
    in columns [first, first_money)."""
    row = grid.norms[r]
    for c in range(first, min(first_money, len(row))):
        kind = labels.remembered("fund label", _fund_label_kind, row[c]) if row[c] else None
        if kind:
            return kind, str(grid.rows[r][c]).strip(), c
    return None


def _fund_label_kind(text: str, labels: Labels) -> str | None:
    """"total" or "source" for a funds row label (its normal form), None for another text."""
    t = _WHERE_ONLY.sub("", text)
    core = canon(t)
    if t in labels["total_row"] or core in labels.cores["total_row"]:
        return "total"
    if t in labels["source_rows"] or core in labels.cores["source_rows"]:
        return "source"
    if core and len(core) <= _TITLE_SLACK and core.endswith(_TOTAL_ENDS) and not any(p in core for p in _PART_WORDS):
        return "total"  # 年度财政资金总额, 资金合计, 部门整体支出总额
    return None


def _task_name(grid: Grid, r: int, first: int, first_money: int) -> str:
    """A Form B task row: the first text left of the money (任务名称)."""
    for c in range(first, min(first_money, len(grid.rows[r]))):
        v = grid.rows[r][c]
        if isinstance(v, str) and v.strip():
            return v.strip()
    return ""


def _unit(grid: Grid, start: int, stop: int, labels: Labels) -> str:
    """元 when a note or header above the money says so (and not 万元)."""
    for r in range(start, stop):
        if not grid.row_has(r, labels.yuan_notes):
            continue
        for t in grid.norms[r]:
            if "万元" in t:
                continue
            if any(n in t for n in labels.yuan_notes):
                return "元"
    return "万元"


def _numeric(v) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return v == v
    return isinstance(v, str) and bool(_NUMBER.match(norm(v).replace(",", "")))


# --- the indicator block ----------------------------------------------------------------

_IND_KEYS = ("level1", "level2", "level3", "weight", "target", "actual", "score", "reason")


@_header_once
def _indicator_header(grid: Grid, start: int, stop: int, labels: Labels) -> tuple[int, dict[str, int]] | None:
    """The first row naming a 三级 column beside a 一级 or 二级 one, or an indicator-name column
    (指标名称, 三级指标) beside at least two of target, actual, points and score: a table with one
    level of names (重庆's 部门整体绩效自评表) is an indicator block too."""
    for r in range(start, min(stop, len(grid.norms))):
        if not ("级" in grid.joined[r] or "指标" in grid.joined[r]) or len(grid.norms[r]) - grid.norms[r].count("") < 3:
            continue
        cols = _points_right_of_names(grid.rows[r], labels.place(grid.rows[r], _IND_KEYS), labels)
        values = sum(k in cols for k in ("target", "actual", "weight", "score"))
        if "level3" in cols and ("level1" in cols or "level2" in cols or values >= 2):
            return r, _with_row_above(grid, labels, r, start, cols)
    return None


_POINT_KEYS = ("weight", "score")


def _points_right_of_names(row: list, cols: dict[str, int], labels: Labels) -> dict[str, int]:
    """An indicator's 分值 and 得分 come after its 三级 name: a points column left of it belongs to
    the level it stands beside (江西's 分解目标 | 自评权重 | 二级 | 三级 … | 分值 | 得分 prints each
    一级 group's points there). Points are placed among the columns right of the names only."""
    if "level3" not in cols or all(cols.get(k, len(row)) > cols["level3"] for k in _POINT_KEYS):
        return cols
    kept = {k: c for k, c in cols.items() if k not in _POINT_KEYS}
    free = [v if c > cols["level3"] and c not in kept.values() else None for c, v in enumerate(row)]
    return {**kept, **labels.place(free, _POINT_KEYS)}


def _with_row_above(grid: Grid, labels: Labels, r: int, start: int, cols: dict[str, int]) -> dict[str, int]:
    """A two-row header whose upper row names the columns the lower one leaves blank
    (年度指标值 | 实际完成值 | 分值 | 得分 over 一级 | 二级 | 三级 | 指标性质 | 指标值 | 度量单位)."""
    if r - 1 < start:
        return cols
    free = {c for c, t in enumerate(grid.norms[r]) if not t}
    above = labels.place([v if c in free else None for c, v in enumerate(grid.rows[r - 1])], _IND_KEYS)
    return {**{k: c for k, c in above.items() if k not in cols and not k.startswith("level")}, **cols}


def _split_target(grid: Grid, r: int, labels: Labels) -> dict[str, int] | None:
    """A two-row header: 年度指标值 over 指标性质 | 指标值 | 度量单位."""
    if r >= len(grid.norms):
        return None
    kind, unit = grid.col(r, labels["target_kind"]), grid.col(r, labels["target_unit"])
    value = grid.col(r, labels["target_value"])
    if value is None or (kind is None and unit is None):
        return None
    return {k: c for k, c in (("kind", kind), ("value", value), ("unit", unit)) if c is not None}


def _unplaced(grid: Grid, form: Form, labels: Labels, h: int, cols: dict[str, int], first: int, keys: str) -> None:
    """A 提示 for each header cell right of the block's labels that the reader could not place;
    columns the form prints for people (评分标准, 佐证资料, the parts of a split target) are known."""
    placed = {grid.norms[h][c] for c in cols.values()}
    seen = set()
    for c in range(first + 1, len(grid.norms[h])):
        t = grid.norms[h][c]
        if not t or t in placed or t in seen or c in cols.values() or _known_column(grid.rows[h][c], labels):
            continue
        seen.add(t)
        form.notes.append(("form.unplaced", f"{form.title}的表头“{_text(grid.rows[h][c])}”未能识别，该列未读取；如它是本表的某一项，"
                           f"请在规则 [forms] 的对应项（{keys}）中加上这一写法", cell(h, c)))


def _known_column(text, labels: Labels) -> bool:
    """A header the reader understands but does not read in this block: columns for people,
    the parts of a split target, a task list's 未完成原因 (a funds block has no reason field)."""
    return any(labels.rank(text, k) is not None for k in ("ignored_columns", "reason")) or any(
        canon(text) in labels.cores[k] for k in ("target_kind", "target_unit"))


_IND_UNPLACED = "level1、level2、level3、target、actual、weight、score、reason"
# The goal block's labels (项目年度目标, 年度目标完成情况 in 四川's forms): from there to the indicator table, goals.
_GOAL_ROWS = (*_GOAL_LABELS, "年度目标", "目标完成情况")
_HEAD_UNPLACED = "project_name、project_code、supervisor、implementer、department_name"
_FUNDS_ROW_UNPLACED = "total_row、source_rows"


def _unplaced_rows(grid: Grid, form: Form, labels: Labels, stop: int) -> None:
    """A 提示 for each row label between the title and the indicator table, outside the funds
    block, that the reader could not place: the first cell of a row that holds a short label
    and something else (项目属性 | 持续性项目). Titles, notes on a row of their own (单位：万元,
    说明：…), block headings with points (预算执行情况(20分)), the goal block and everything
    below its label, footers and the labels [forms] names are known; values are never labels."""
    seen = set()
    for r in range(form.start, min(stop, len(grid.rows))):
        if form.funds_rows and form.funds_rows[0] <= r <= form.funds_rows[1]:
            continue
        if grid.row_has(r, _GOAL_ROWS):
            return  # the goal block runs to the indicator table: its rows are goals, not labels
        row = grid.norms[r]
        filled = [c for c, t in enumerate(row) if t]
        if len({row[c] for c in filled}) < 2:
            continue  # a title, a note or a heading alone on its row (merged cells repeat one text)
        c = filled[0]
        v = grid.rows[r][c]
        if not isinstance(v, str) or _numeric(v):
            continue
        # Below the funds header a row the funds reader left is a funds row it could not name; above
        # it, a head field (填报单位：某某局 names its label before the colon).
        in_funds = form.funds_rows is not None and r > form.funds_rows[0]
        label = v.strip() if in_funds else re.split(r"[:：]", v.strip(), maxsplit=1)[0].strip()
        if not label or norm(label) in seen or len(canon(label)) > _TITLE_SLACK or labels.remembered("row label", _known_row_label, label):
            continue
        if not in_funds and _YEAR_FIELD.fullmatch(norm(label)):
            continue  # 年度 | 2022: the form's year, read
        seen.add(norm(label))
        what = ("资金表的行", _FUNDS_ROW_UNPLACED) if in_funds else ("表头项目（单位、项目等）", _HEAD_UNPLACED)
        form.notes.append(("form.unplaced", f"{form.title}的行标签“{label}”未能识别，该行未读取；如它是{what[0]}，"
                           f"请在规则 [forms] 的对应项（{what[1]}）中加上这一写法，如无需读取，请加入 ignored_fields", cell(r, c)))


def _known_row_label(text: str, labels: Labels) -> bool:
    """A row label the reader knows: any [forms] label (head fields, funds rows, titles, totals,
    footers, ignored fields), `其中：` before a source, or a heading carrying points."""
    t = _WHERE_ONLY.sub("", norm(text))
    if points_in(t) is not None or _title_kind(t, labels) is not None:
        return True
    if t.startswith(labels["footer"]):
        return True
    # A synonym or its core only: the core words (a header holding 说明 is a reason column) place
    # the columns of a block, never a row (资金来源说明 is no reason).
    # Head fields are the exception: their core words (专项资金名称) are how the head is read.
    return any((r := labels.rank(t, k)) is not None and (r < CORE_RANK or k in HEAD_FIELDS) for k in LABEL_KEYS)


def _read_indicators(grid: Grid, form: Form, labels: Labels, h: int, cols: dict[str, int]) -> None:
    split = _split_target(grid, h, labels)  # 指标性质 | 指标值 | 度量单位 beside 三级指标
    first = h + 1
    if split is None:
        split = _split_target(grid, h + 1, labels)  # … or under 年度指标值
        first = h + 2 if split else h + 1
    targets = None if split else _two_targets(grid, h, labels, cols)
    if split is None and targets is None:
        split = _signs_beside_target(grid, h, labels, cols)
    known = {**cols, **{f"split_{k}": c for k, c in (split or {}).items()}, **{f"target_{i}": c for i, c in enumerate(targets or ())}}
    _unplaced(grid, form, labels, h, known, min(cols[k] for k in ("level1", "level2", "level3") if k in cols), _IND_UNPLACED)
    if "weight" not in cols:
        found = _weight_by_content(grid, form, first, cols)
        if found is not None:
            cols = {**cols, "weight": found}
            form.notes.append(("form.weight_by_content", f"{form.title}的“{_text(grid.value(h, found)) or '（无表头）'}”列按内容识别为分值"
                               "（位于指标值与得分之间、合计等于分值总数的数字列）；如需直接识别，请在规则 [forms] weight 中加上该表头", cell(h, found)))
    l1 = l2 = None
    rows = []
    names = cols["level3"]
    values_end = max(cols.get("target", -1), cols.get("actual", -1))
    totals, total_cores, footers, headers = labels["total_score"], labels.cores["total_score"], labels["footer"], labels["level3"]
    for r in range(first, form.end):
        norms = [t for t in grid.norms[r] if t]
        if not norms:
            continue
        if norms[0] in totals or canon(norms[0]) in total_cores:
            form.score = _total_score(grid, r, cols.get("score"), cols.get("weight"))
            break
        if norms[0].startswith(footers) or (len(norms) > 1 and norms[1].startswith(footers)):  # a footer label, or a cell starting with one
            break
        if grid.norms[r][names] in headers:
            continue  # the header printed again
        if len(set(norms)) == 1 and points_in(norms[0]) is not None:
            l1 = l2 = None  # a block heading (年度绩效目标2(40分)): the next goal's indicators follow
            continue
        if values_end > names and grid.one_merge(r, names, values_end):
            continue  # a note merged across the name and its values (说明 | 无 …), not an indicator
        if (r, names) in grid.covered and not _own_values(grid, r, names):
            continue  # the name above merged down over a row with nothing of its own: that indicator continues
        values = grid.rows[r]  # padded to the sheet's width: every placed column is there
        row = {k: (None if k in _POINT_KEYS and (r, c) in grid.covered else values[c], cell(r, c)) for k, c in cols.items()}
        l1 = _text(row.get("level1", (None,))[0]) or l1
        l2 = _text(row.get("level2", (None,))[0]) or l2
        if split:
            row["target"] = _joined_target(grid, r, split)
            row["actual"] = _actual_in_unit(grid, row.get("actual"), r, split)
        elif targets:
            row["target"] = next(((grid.value(r, c), cell(r, c)) for c in targets if not blank(grid.value(r, c))), row["target"])
        rows.append((r, row, l1, l2))
    _points_from_labels(rows)
    if "level1" in cols and rows and not any(l1 for _, _, l1, _ in rows):
        # The 一级 column empty on every row (as a budget system may export it) says no 一级 at
        # all, as a form without the column does: one 提示, not an 错误 per row.
        for _, row, *_ in rows:
            row.pop("level1", None)
        form.notes.append(("form.no_level1", f"{form.title}的一级指标列全部为空，按未写一级指标读取；二级、三级指标及分值、得分照常读取",
                           cell(h, cols["level1"])))
    has_points = any(_numeric(row.get("weight", (None,))[0]) for _, row, *_ in rows)
    if not has_points:
        form.unscored = True
    else:
        for k in _POINT_KEYS:  # 分值 first: a merged 得分 is shared by the members' 分值
            _share_merged(grid, form, rows, k, cols.get(k))
    for r, row, l1, l2 in rows:
        _add_indicator(form, labels, r, row, l1, l2, has_points)


def _share_merged(grid: Grid, form: Form, rows: list, key: str, c: int | None) -> None:
    """A 分值 or 得分 merged down several indicator rows (one per 二级 group) is the group's: it
    is shared among the group's indicators — 分值 equally, 得分 as their 分值 — in cents that
    add up to it, and said once (form.group_points). Left on the first row, that row alone
    would carry the group (30 points recomputed from one indicator, the others never scored)."""
    if c is None:
        return
    i = 0
    while i < len(rows):
        r, row = rows[i][0], rows[i][1]
        group = [rows[i]]
        while i + len(group) < len(rows) and _merged_down(grid, r, rows[i + len(group)][0], c):
            group.append(rows[i + len(group)])
        i += len(group)
        value = row.get(key, (None,))[0]
        if len(group) < 2 or not _numeric(value):
            continue
        weights = [_points(m[1].get("weight", (None,))[0]) for m in group] if key == "score" else []
        if not weights or not all(w is not None and w > 0 for w in weights):
            weights = [1.0] * len(group)
        shares = _cents_shared(_points(value), weights)
        for (_, member, *_), share in zip(group, shares):
            member[key] = (share, row[key][1])
        what = "分值" if key == "weight" else "得分"
        how = "平均分配" if key == "weight" else "按各项分值分配"
        form.notes.append(("form.group_points", f"{form.title}的{what} {_text(value)} 合并在 {row[key][1]}:{cell(group[-1][0], c)} 共 "
                           f"{len(group)} 项指标（{_text(row.get('level3', (None,))[0])} 等），{how}后逐项复核：" + "、".join(f"{s:g}" for s in shares),
                           row[key][1]))


def _merged_down(grid: Grid, top: int, r: int, c: int) -> bool:
    """Whether row `r`'s cell in column `c` is covered by a range merged down from row `top`."""
    return all((x, c) in grid.covered for x in range(top + 1, r + 1))


def _points(v) -> float | None:
    return float(norm(v).rstrip("%分")) if isinstance(v, str) and _numeric(v) else (float(v) if _numeric(v) else None)


def _cents_shared(total: float, weights: list[float]) -> list[float]:
    """`total` shared in proportion to `weights`, in whole cents that add up to it exactly
    (largest remainders take the odd cents): 20 among three is 6.67, 6.67, 6.66."""
    cents = round(total * 100)
    exact = [cents * w / sum(weights) for w in weights]
    whole = [int(x) for x in exact]
    for j in sorted(range(len(exact)), key=lambda j: whole[j] - exact[j])[: cents - sum(whole)]:
        whole[j] += 1
    return [x / 100 for x in whole]


def _own_values(grid: Grid, r: int, names: int) -> bool:
    """Whether row `r` holds a value of its own right of its 三级 name (column `names`): not
    blank and not a merged range's copy from the row above."""
    return any(not blank(v) and (r, c) not in grid.covered for c, v in enumerate(grid.rows[r]) if c > names)


def _two_targets(grid: Grid, h: int, labels: Labels, cols: dict[str, int]) -> tuple[int, int] | None:
    """(adjusted, initial) columns when the header names two targets (年初指标值 | 调整指标值): the
    adjusted target is the row's target where it is filled, the initial one elsewhere."""
    if "target" not in cols:
        return None
    other = next((c for c, v in enumerate(grid.rows[h]) if c not in cols.values() and isinstance(v, str) and labels.rank(v, "target") is not None), None)
    if other is None:
        return None
    adjusted = [c for c in (cols["target"], other) if "调整" in canon(grid.rows[h][c])]
    if len(adjusted) != 1:
        return None
    return adjusted[0], other if adjusted[0] == cols["target"] else cols["target"]


def _weight_by_content(grid: Grid, form: Form, first: int, cols: dict[str, int]) -> int | None:
    """A column no header names, right of the 三级 one and left of 得分, whose numbers fill
    every indicator row and add up to a form's points (100 or less): the 分值."""
    left = max(cols.get(k, -1) for k in ("level3", "target"))
    right = cols.get("score", len(grid.rows[0]) if grid.rows else 0)
    for c in range(left + 1, right):
        if c in cols.values():
            continue
        values = [grid.value(r, c) for r in range(first, form.end) if not blank(grid.value(r, cols["level3"]))]
        numbers = [float(norm(v).rstrip("%")) if isinstance(v, str) else float(v) for v in values if _numeric(v)]
        if numbers and len(numbers) >= len(values) - 1 and 0 < sum(numbers) <= 100 and all(n >= 0 for n in numbers):
            return c
    return None


def _points_from_labels(rows: list) -> None:
    """Indicators without a 分值 column take the points their own 三级 label prints
    (决策依据(4分)). A group's points (产出指标(60分), a block heading) are the group's, never
    divided among its indicators by guess: those stay without points (不计分 if none has any)."""
    for _, row, *_ in rows:
        own = points_in(row.get("level3", (None,))[0])
        if own is not None and not _numeric(row.get("weight", (None,))[0]):
            row["weight"] = (own, row["level3"][1])
            row["level3"] = (_L1_POINTS.sub(r"\1", norm(row["level3"][0])) or row["level3"][0], row["level3"][1])


def _add_indicator(form: Form, labels: Labels, r: int, row: dict, l1: str | None, l2: str | None, has_points: bool = True) -> None:
    l3 = _text(row.get("level3", (None,))[0])
    weight = row.get("weight", (None, ""))[0]
    # A named 三级 row is an indicator even without points (其中… sub-rows carry a target and an
    # actual only); a 分值 that is a word (无) marks a note row, not an indicator.
    if not l3 or labels.placeholder(norm(l3)) or not (blank(weight) or _numeric(weight)):
        form.notes.append(("form.placeholder", _placeholder_said(r, l2, l3, weight), row.get("level3", (None, cell(r, 0)))[1]))
        return
    row["level1"], row["level2"], row["level3"] = (l1, row.get("level1", ("", ""))[1]), (l2, row.get("level2", ("", ""))[1]), (l3, row["level3"][1])
    form.indicators.append((r, row))


def _placeholder_said(r: int, l2: str | None, l3: str | None, weight) -> str:
    """A placeholder row as a person says it: what the row has and lacks, never empty quotes;
    the form is the finding's sheet and cell, not repeated here."""
    what = f"三级指标为“{l3}”" if l3 else (f"二级指标“{l2}”下没有三级指标" if l2 else "没有三级指标")
    has = _text(weight)
    points = "没有填分值" if not has else (f"分值“{has}”不是数字" if not _numeric(weight) else "")
    return (f"第 {r + 1} 行{what}" + (f"，{points}" if points else "") + "，看起来是表样中的占位行，未计入指标；"
            "如确为指标，请填写三级指标名称和分值")


def _signs_beside_target(grid: Grid, h: int, labels: Labels, cols: dict[str, int]) -> dict[str, int] | None:
    """指标性质 / 指标方向 columns beside a whole 年度指标值 (正向 | 大于等于 | 10个): the target
    is read with their comparison in front, as a split target is."""
    if "target" not in cols:
        return None
    kinds = [c for c, v in enumerate(grid.rows[h]) if c not in cols.values() and canon(v) in labels.cores["target_kind"]]
    return {"value": cols["target"], **{f"kind_{i}": c for i, c in enumerate(kinds)}} if kinds else None


# A comparison as 指标性质 / 指标方向 columns write it, and the direction words that imply one.
_SIGN = re.compile(r"[≥≤≧≦><=＝﹦═]|于|低|高|超|不")
_DIRECTIONS = {"正向": "≥", "正向指标": "≥", "反向": "≤", "反向指标": "≤"}


def _joined_target(grid: Grid, r: int, split: dict[str, int]) -> tuple[object, str]:
    """指标性质 + 指标值 + 度量单位 as one value, as a person would read them: `≥` `50` `个` → `≥50个`.

    The comparison is the first kind column's that writes one (≥, 大于等于), else 正向 / 反向
    as ≥ / ≤; it goes in front of a number only (a target such as 提高, or one writing its own
    comparison, is kept as written). 定量 / 定性 say no comparison."""
    number = _number_text(grid.value(r, split["value"]))
    kinds = [_text(grid.value(r, c)) for k, c in split.items() if k.startswith("kind")]
    sign = next((t for t in kinds if t and _SIGN.search(t)), "") or next((_DIRECTIONS[norm(t)] for t in kinds if norm(t) in _DIRECTIONS), "")
    if not re.match(r"[+-]?\.?\d", number):
        sign = ""
    return "".join((sign, number, _text(grid.value(r, split.get("unit"))))) or None, cell(r, split["value"])


def _actual_in_unit(grid: Grid, actual: tuple[object, str] | None, r: int, split: dict[str, int]) -> tuple[object, str] | None:
    """A bare number under 完成值 is in the row's 度量单位, as its target is: 6 beside `= | 6 | 万元`
    is 6万元 (read alone it is 6, against the target's 60000), 93 beside `≥ | 90 | %` is 93%. A
    number cell up to 1 beside % is a percent cell's fraction (93% typed into Excel is 0.93)."""
    unit = _text(grid.value(r, split.get("unit")))
    if actual is None or not unit or not _bare_number(actual[0]):
        return actual
    if norm(unit) in ("%", "百分比") and isinstance(actual[0], (int, float)) and 0 < actual[0] <= 1:
        return actual
    return _number_text(actual[0]) + unit, actual[1]


def _bare_number(v) -> bool:
    """A number written without any unit: 6, 6.0, "6" — not "6%", "6万元" or text."""
    if isinstance(v, str):
        return bool(_PLAIN_NUMBER.fullmatch(norm(v)))
    return _numeric(v)


def _number_text(v) -> str:
    """A cell's number as a person wrote it: 6.0 → 6, 2.5 → 2.5, text as it is."""
    return str(int(v)) if isinstance(v, float) and v.is_integer() else _text(v)


def _total_score(grid: Grid, r: int, score_col: int | None, weight_col: int | None = None) -> tuple[object, str]:
    """The 总分 row's self total: under 得分, else its last number — never the 分值 column's,
    which is the points the form allots (100), not a score."""
    v = grid.value(r, score_col)
    if score_col is not None and _numeric(v):
        return v, cell(r, score_col)
    for c in range(len(grid.rows[r]) - 1, -1, -1):
        if c != weight_col and _numeric(grid.rows[r][c]):
            return grid.rows[r][c], cell(r, c)
    return None, cell(r, score_col if score_col is not None else 0)


def _text(v) -> str:
    if blank(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


# --- into the frames --------------------------------------------------------------------


def split_code(text: object) -> tuple[str, str]:
    """`219001-池州市贵池区棠溪镇人民政府` → ("219001", "池州市贵池区棠溪镇人民政府"); no code → ("", text)."""
    t = _text(text)
    m = _CODE_NAME.match(t)
    return (m.group(1) or m.group(2), m.group(3)) if m else ("", t)


def derived_code(*parts: str) -> str:
    """A stable code from names, for forms that print none (the same names, the same code)."""
    return hashlib.sha1("|".join(parts).encode("utf-8")).hexdigest()[:8].upper()


def locate(sheets: dict[str, list[list]], loc: Located, rules: Rules, merges: dict | None = None, hidden: set | frozenset = frozenset()) -> Located:
    labels = labels_for(rules)
    # Visible sheets first: a hidden sheet is most often an old copy, never preferred to what the department shows.
    forms = sorted(find_forms(sheets, labels, merges), key=lambda f: f.sheet in hidden)
    if not forms:
        names = "、".join(f"「{n}」" for n in sheets) or "（无）"
        loc.add("form.unknown", f"文件中没有可识别的自评表：工作表 {names} 都不是本工具读取的格式。可读取的格式有：评价模板（含「{S.INFO_SHEET}」等工作表，"
                f"用 evalbatch template 生成）、{FORM_A}、{FORM_B}；请检查是否提交了正确的文件")
        return loc
    forms = _without_bare_titles(forms, loc)
    dept = _department(forms, loc, hidden)
    if dept is None:
        return loc
    loc.usable = True
    copies = _project_copies(loc, forms, dept, hidden)
    read = [f for f in forms if id(f) not in copies and (f.kind == FORM_A or f is dept.form)]  # what the other forms say is not reported
    for form in read:
        loc.layouts[form.kind] = loc.layouts.get(form.kind, 0) + 1
        for rule_id, message, where in form.notes:
            loc.add(rule_id, message, form.sheet, where)
    _dept_fields(loc, read, dept)
    for form in forms:
        if id(form) not in copies:
            (_project_rows if form.kind == FORM_A else _dept_rows)(loc, form, dept, rules)
    return loc


def _project_copies(loc: Located, forms: list[Form], dept: _Dept, hidden) -> set[int]:
    """The project forms not to read (their ids): where several forms of a file name one project
    (its code, printed or derived from its name), the one with most substance is read — a
    visible sheet before a hidden one (an old copy), funds and scored indicators before a
    targets-only 申报表 — and each other is one 警告. One project, one set of funds and
    indicators, never summed. Forms naming no project are never taken for copies."""
    same: dict[str, list[tuple[Form, str]]] = {}
    for form in forms:
        if form.kind == FORM_A:
            code, name, where = _project_code(Located(file=loc.file), form, dept)  # its notes are _project_rows' to give
            if name or _text(form.head.get("project_code", (None,))[0]):
                same.setdefault(code, []).append((form, where))
    copies: set[int] = set()
    for code, found in same.items():
        best = max(found, key=lambda fw: _substance(fw[0], hidden))[0]  # the first of equals
        for form, where in found:
            if form is not best:
                copies.add(id(form))
                shown = "（隐藏的工作表）" if form.sheet in hidden else ""
                loc.add("form.same_project", f"{form.title}{shown}与{best.title}是同一项目（{code}）；只采用{best.title}，这一张的资金和指标"
                        "未读取（不重复相加）；如是旧版或副本，请删除", form.sheet, where)
    return copies


def _substance(form: Form, hidden) -> tuple:
    scored = sum(1 for _, row in form.indicators if _numeric(row.get("weight", (None,))[0]))
    return form.sheet not in hidden, form.total is not None, scored, len(form.indicators), form.score is not None


def _holds_nothing(form: Form) -> bool:
    """A title with nothing of a form under it: no funds block, no indicator table, no head field
    but what the title itself names (某局2022年度项目支出绩效自评表填表说明), no row label at all."""
    own_head = any(_row_of(where) != form.start for _, where in form.head.values())
    notes = {n[0] for n in form.notes}
    return form.funds_rows is None and not form.indicators and not own_head and "form.no_indicators" in notes and "form.unplaced" not in notes


def _row_of(where: str) -> int | None:
    """The 0-based row of a cell address (C5 → 4)."""
    m = re.fullmatch(r"[A-Z]+(\d+)", where)
    return int(m.group(1)) - 1 if m else None


def _without_bare_titles(forms: list[Form], loc: Located) -> list[Form]:
    """The forms, less the titles with nothing under them when the file holds a real form too:
    a 填表说明 sheet or a cover naming 项目支出绩效自评表 is no second form to report as unread.
    Each is one 提示; a file of bare titles alone keeps them, reported as forms that were not read."""
    kept = [f for f in forms if not _holds_nothing(f)]
    if not kept:
        return forms
    for f in forms:
        if _holds_nothing(f):
            loc.add("form.title_only", f"「{f.sheet}」第 {f.start + 1} 行像是{f.kind}的表名，但其下没有资金表、绩效指标表或表头项目（项目名称、单位等），"
                    "不作为自评表读取；如它确是一张自评表，请检查其表头写法", f.sheet, cell(f.start, 0))
    return kept


@dataclass
class _Dept:
    code: str
    name: str
    where: tuple[str, str]  # (sheet, cell) of the value naming it
    form: Form


def _form_dept(form: Form) -> tuple[str, str, str] | None:
    """(code, name, cell) of the unit a form belongs to: 部门名称 on Form B, 实施单位 on Form A,
    else the other, else 主管部门 (a 本单位 / 同上 names none)."""
    order = ("department_name", "implementer") if form.kind == FORM_B else ("implementer", "department_name")
    for key in (*order, "supervisor"):
        value, where = form.head.get(key, (None, ""))
        if _named(value):
            return (*split_code(value), where)
    return None


def _department(forms: list[Form], loc: Located, hidden=frozenset()) -> _Dept | None:
    """The one department the file is about. Project forms of several 实施单位 are one
    department when they share their 主管部门 (a budget system's export for a 主管部门)."""
    named = [(f, _form_dept(f)) for f in forms]
    own = [(f, d) for f, d in named if d and f.kind == FORM_B] or [(f, d) for f, d in named if d]
    if not own:
        f = forms[0]
        loc.add("form.no_unit", f"{f.title}中没有找到单位（{'部门（单位）名称' if f.kind == FORM_B else '实施单位、主管部门'}）；"
                "无法确定所属单位，请填写后重新提交", f.sheet, cell(f.start, 0))
        return None
    keys = {(d[0] or d[1]) for _, d in own}
    # Of several 部门整体 forms, the one with most substance is the department's (not a targets-only sheet before it).
    form, (code, name, where) = max(own, key=lambda fd: _substance(fd[0], hidden)) if own[0][0].kind == FORM_B else own[0]
    if len(keys) > 1 and form.kind == FORM_A:
        parents = {split_code(f.head.get("supervisor", (None,))[0]) for f, _ in own}
        if len(parents) == 1 and next(iter(parents))[1]:
            code, name = next(iter(parents))
            where = form.head["supervisor"][1]
            loc.add("form.grouped", f"文件中的项目自评表来自 {len(keys)} 个实施单位，同属主管部门“{name}”，已按主管部门汇总", form.sheet, where)
        else:
            units = "、".join(sorted(k for k in keys))
            loc.add("form.many_units", f"文件中的自评表属于多个单位（{units}），且主管部门不同；请每个单位分别提交", form.sheet, where)
            return None
    if not code:
        code = "N" + derived_code(name)
        loc.add("form.code_derived", f"单位“{name}”没有写单位编码（应写作“编码-名称”），已生成编码 {code}；请在表中补上单位编码", form.sheet, where)
    return _Dept(code, name, (form.sheet, where), form)


def _dept_fields(loc: Located, forms: list[Form], dept: _Dept) -> None:
    loc.info_sheet = dept.where[0]
    loc.fields["dept_code"] = (dept.code, dept.where[1])
    loc.fields["dept_name"] = (dept.name, dept.where[1])
    year = next((f.year for f in forms if f.year), None)
    if year:
        loc.fields["year"] = year
    parent = next((f.head["supervisor"] for f in forms if not blank(f.head.get("supervisor", (None,))[0])), None)
    if parent:
        loc.fields["parent_dept"] = (split_code(parent[0])[1], parent[1])
    b = dept.form
    if b.kind != FORM_B:
        return
    if b.score:
        loc.fields["self_total"] = b.score
    if b.total:
        loc.fields["budget_total"] = b.total.get("budget", (None, ""))
        loc.fields["spent_total"] = b.total.get("spent", (None, ""))
        loc.fields["money_unit"] = (b.unit, "")


_NOTHING = (None, "")


def _append(loc: Located, table: str, sheet: str, row: int, values: dict[str, tuple[object, str]], keys: tuple[str, ...]) -> None:
    get = values.get
    loc.rows.setdefault(table, []).append([row + 1] + [get(k, _NOTHING)[0] for k in keys])
    loc.where.setdefault(table, []).append((sheet, {k: v[1] for k, v in values.items() if v[1]}))


_PROJECT_KEYS = ("project_code", "project_name", "initial_budget", "budget", "spent", "self_score", "self_grade", "reason",
                 "exec_weight", "exec_rate_printed", "exec_self_score", "money_unit")
_INDICATOR_KEYS = ("l1", "l2", "l3", "method", "weight", "target", "actual", "self_score", "reason", "l1_points")
_FUND_KEYS = ("project_code", "label", "kind", "initial_budget", "budget", "spent", "money_unit")
# Each table's row values in order, for `explain` (the parse stage reads them by the frames' columns).
TABLE_KEYS = {S.PROJECT_SHEET: _PROJECT_KEYS, S.PROJECT_INDICATOR_SHEET: ("project_code",) + _INDICATOR_KEYS,
              S.DEPT_INDICATOR_SHEET: _INDICATOR_KEYS, FUNDS: _FUND_KEYS}


def _project_code(loc: Located, form: Form, dept: _Dept) -> tuple[str, str, str]:
    """(code, name, cell): the form's 项目编码, or a code written before the 项目名称, or one
    derived from the department and the project name (with a 提示)."""
    name_value, name_cell = form.head.get("project_name", (None, cell(form.start, 0)))
    code, name = split_code(name_value)
    if len(code) < 6:  # "1-xxx" is a numbered name, not a project code
        code, name = "", _text(name_value)
    given = _text(form.head.get("project_code", (None,))[0])
    if given:
        return given, name, form.head["project_code"][1]
    if code:
        return code, name, name_cell
    if name:
        code = f"{dept.code}-P{derived_code(dept.code, name)[:6]}"
        loc.add("project.code_derived", f"{form.title}没有项目编码，已按单位编码与项目名称生成 {code}（自动生成，名称不变则编码不变）", form.sheet, name_cell)
        return code, name, name_cell
    # Nor a name: the form's place tells it from another nameless form of the file (never one project of two).
    code = f"{dept.code}-P{derived_code(dept.code, form.sheet, str(form.start))[:6]}"
    loc.add("project.code_derived", f"{form.title}没有项目编码和项目名称，已按单位编码与表格位置生成 {code}（自动生成）", form.sheet, name_cell)
    return code, name, name_cell


def _exec_weight(loc: Located, form: Form, total: dict, rules: Rules, default: float | None = None) -> tuple[object, str]:
    """The execution points the form prints, unless beyond what the rules allow (100 for 10):
    then an 错误 naming the cell, and the rules' weight."""
    value, where = total.get("exec_weight", (None, ""))
    default = rules.project_execution_weight if default is None else default
    if _numeric(value) and not 0 < float(norm(value).rstrip("%") if isinstance(value, str) else value) <= rules.execution_weight_max:
        loc.add("form.exec_weight", f"{form.title}中预算执行率的分值印为“{_text(value)}”，超出规则允许的 0～{rules.execution_weight_max:g} 分，"
                f"已按 {default:g} 分计；请更正分值", form.sheet, where)
        return default, where
    return value, where


def _project_rows(loc: Located, form: Form, dept: _Dept, rules: Rules) -> None:
    code, name, code_cell = _project_code(loc, form, dept)
    total = form.total or {}
    values = {
        "project_code": (code, code_cell), "project_name": (name, form.head.get("project_name", (None, code_cell))[1]),
        "initial_budget": total.get("initial_budget", (None, "")), "budget": total.get("budget", (None, "")),
        "spent": total.get("spent", (None, "")), "self_score": form.score or (None, ""),
        "exec_weight": _exec_weight(loc, form, total, rules), "exec_rate_printed": total.get("exec_rate", (None, "")),
        "exec_self_score": total.get("exec_score", (None, "")), "money_unit": (form.unit, ""),
    }
    if form.score is None:
        loc.add("form.no_total", f"{form.title}中没有找到“总分”行，项目自评得分按空白处理", form.sheet, cell(form.start, 0))
    _append(loc, S.PROJECT_SHEET, form.sheet, form.total_row if form.total_row >= 0 else form.start, values, _PROJECT_KEYS)
    for r, row in form.indicators:
        _append(loc, S.PROJECT_INDICATOR_SHEET, form.sheet, r, {"project_code": (code, code_cell), **_indicator(row)},
                ("project_code",) + _INDICATOR_KEYS)
    _fund_rows(loc, form, code)


def _dept_rows(loc: Located, form: Form, dept: _Dept, rules: Rules) -> None:
    if form is not dept.form:
        loc.add("form.extra_dept", f"{form.title}是本文件中的第二张部门整体自评表，未读取；请每个单位只提交一张", form.sheet, cell(form.start, 0))
        return
    if form.total:
        t = form.total
        weight = _exec_weight(loc, form, t, rules, rules.auto_weights["预算执行率"])
        if blank(weight[0]):
            weight = (rules.auto_weights["预算执行率"], weight[1])
        label = S.AUTO_ROW_LABELS["预算执行率"]
        row = {"l1": (label[0], ""), "l2": (label[1], ""), "l3": (label[2], t["label"][1]), "method": ("预算执行率", ""),
               "weight": weight, "actual": (None, t["spent"][1]), "self_score": t.get("exec_score", (None, ""))}
        _append(loc, S.DEPT_INDICATOR_SHEET, form.sheet, form.total_row, row, _INDICATOR_KEYS)
    for r, row in form.indicators:
        _append(loc, S.DEPT_INDICATOR_SHEET, form.sheet, r, _indicator(row), _INDICATOR_KEYS)
    _fund_rows(loc, form, "")


def _indicator(row: dict) -> dict[str, tuple[object, str]]:
    l1, l1_cell = row["level1"]
    m = _L1_POINTS.match(norm(l1))
    return {
        "l1": (m.group(1).strip() if m else l1, l1_cell), "l1_points": (float(m.group(2)) if m else None, l1_cell if m else ""),
        "l2": row["level2"], "l3": row["level3"], "weight": row.get("weight", (None, "")), "target": row.get("target", (None, "")),
        "actual": row.get("actual", (None, "")), "self_score": row.get("score", (None, "")), "reason": row.get("reason", (None, "")),
    }


def _fund_rows(loc: Located, form: Form, code: str) -> None:
    rows = ([(form.total_row, form.total, "合计")] if form.total else []) + [(r, v, v.get("kind", ("来源",))[0]) for r, v in form.sources]
    for r, values, kind in rows:
        _append(loc, FUNDS, form.sheet, r, {**values, "project_code": (code, ""), "kind": (kind, ""), "money_unit": (form.unit, "")},
                _FUND_KEYS)
