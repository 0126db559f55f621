"""The official forms' titles, labels and synonyms, from the rules file's [forms] table,
normalised once per rules (a bureau adds its province's wording there, not in code), and the
matcher that places a header or label a form prints under one of those fields.

Matching goes from strict to loose: the label as written (`norm`), then its core (`canon`:
traditional characters simplified, decorations such as (A), ①, (万元), (20分), (%) and
bracketed formulas stripped) against the synonyms' cores, then the field's core words
(`CORE`: a header containing 执行数 and not 率 is the executed amount). The synonyms are data
(the rules' [forms]); the core words are the matcher's own knowledge of what each field means.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..rules import Rules, bureau_pattern
from .base import norm

# Traditional characters of the forms' vocabulary (Hong Kong / Taiwan copies and budget
# systems that store big5 text); a table, not a library: only these labels are compared.
_TRAD = str.maketrans(
    "預數執項績標級單實際總額資來財撥結轉餘門體評價產滿經濟會態響時質務計權說調後稱編碼報區縣鎮過決檔劃規範問題況礎設據與為應對長點節環護處層萬個於達準確關鍵蓋續現狀參賦則證係擬覈團費歲",
    "预数执项绩标级单实际总额资来财拨结转余门体评价产满经济会态响时质务计权说调后称编码报区县镇过决档划规范问题况础设据与为应对长点节环护处层万个于达准确关键盖续现状参赋则证系拟核团费岁",
)
_CIRCLED = re.compile("[\u2460-\u2473\u3251-\u325f\u32b1-\u32bf\u2776-\u277f]")  # ①…⑳ and kin (NFKC would make them digits)
# Bracketed decorations: a letter or two (A), (B/A), a money or percent unit, points (20分), (分),
# and any formula note (全年执行数/全年预算数, B/A×100%).
_DECOR = re.compile(r"\((?:[A-Za-z]{1,2}|分|盖章|公章|签章|签字|[^()]*?(?:万元|元|%|百分比|[0-9.]+分|[/÷×*=])[^()]*?)\)")
_POINTS = re.compile(r"\((\d+(?:\.\d+)?)分\)|(\d+(?:\.\d+)?)分$")
_LETTER_TAIL = re.compile(r"(?<=[\u4e00-\u9fff])[A-Z]$")  # 全年预算数A: a letter glued on


# An indicator row printing the budget's execution (预算执行率, or 执行率 under 预算执行 / 资金使用)
# on a 部门整体 form without a funds block: 执行率 beside one of these words in its 二级 or 三级
# label. Another rate named 执行率 (政府采购管理 | 执行率) is an ordinary indicator.
EXECUTION_WORDS = ("预算", "资金", "支出")


def budget_execution_row(l2: object, l3: object) -> bool:
    """Whether an indicator row (二级, 三级 labels) is the budget's execution."""
    core = canon(l3)
    return "执行率" in core and any(w in canon(l2) + core for w in EXECUTION_WORDS)


@functools.lru_cache(maxsize=65536)
def canon(text: object) -> str:
    """A label's core: `norm`, traditional → simplified, decorations stripped."""
    if not isinstance(text, str) or not text:
        return ""
    t = norm(_CIRCLED.sub("", text)).translate(_TRAD)
    t = _DECOR.sub("", t)
    t = _DECOR.sub("", t)  # a decoration left once its inner brackets went: ((A)/(B))
    return _LETTER_TAIL.sub("", t.lstrip("其中").lstrip(":,"))


def points_in(text: object) -> float | None:
    """The points a label prints: 产出指标(50分), 预算执行情况(20分), 年度绩效目标1(40分)."""
    m = _POINTS.search(norm(text)) if isinstance(text, str) else None
    return float(m.group(1) or m.group(2)) if m else None


# Core words of each field, for headers no synonym names: (all of, any of, none of). A header
# whose core holds every word of the first, one of the second and none of the third is the field.
CORE: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "initial_budget": (("年初",), ("预算", "安排"), ("执行", "率", "指标")),
    "budget": ((), ("预算数", "预算金额", "全年预算", "调整后预算", "调整预算", "预算安排", "预算", "批复"), ("年初", "执行", "率", "指标", "结余")),
    "spent": ((), ("执行数", "执行金额", "实际支出", "支出数", "决算数", "执行"), ("率", "得分", "分值", "情况", "指标", "预算执行情况")),
    "exec_rate": (("率",), ("执行", "支出"), ("得分", "分值")),
    "exec_weight": ((), ("分值", "权重", "满分"), ("得分", "规则", "标准")),
    "exec_score": (("得分",), (), ("系数", "说明", "规则", "标准", "依据")),
    # Head fields: 专项资金名称 names the project as 项目名称 does, 县级主管部门 the supervisor.
    "project_name": (("名称",), ("项目", "资金", "专项"), ("单位", "部门", "指标", "主管", "实施")),
    "supervisor": (("主管",), ("部门", "单位"), ("名称",)),
    "implementer": (("实施",), ("单位", "部门", "机构"), ("名称", "方案", "计划", "情况")),
    "level1": (("一级",), (), ()),
    "level2": (("二级",), (), ()),
    "level3": ((), ("三级", "指标名称", "指标内容"), ()),
    "target": ((), ("指标值", "目标值", "预期", "年度目标", "计划值"), ("实际", "完成", "性质", "单位")),
    "actual": ((), ("实际", "完成值", "实现值", "完成情况", "完成数"), ("原因", "偏差", "说明", "分析", "措施")),
    "weight": ((), ("分值", "权重", "满分", "标准分"), ("得分", "规则", "标准", "说明")),
    "score": ((), ("得分", "自评分"), ("系数", "说明", "规则", "标准", "依据", "情况")),
    "reason": ((), ("原因", "说明", "措施", "分析"), ("评分", "规则", "标准", "指标解释")),
    # Columns a form prints for people (criteria, evidence, a core-indicator flag, a score
    # coefficient): known, not read, never reported as unknown.
    "ignored_columns": ((), ("标准", "规则", "佐证", "核心指标", "系数", "解释", "依据", "备注", "计算方法"), ()),
}
# `Labels.rank` of a header matched by core words alone (below it: a synonym or a synonym's core).
CORE_RANK = 1000
# A label longer than this is a sentence, not a header (no core-word guess for it).
_CORE_LIMIT = 16

# Answers a memo of `Labels.memo` holds at most, and the texts it keeps answers for: a memo
# keeps its keys alive, and labels are short (a sentence rarely repeats, and a hostile file's
# 100,000-character cells must not stay in a worker's memory after their file).
MEMO_LIMIT = 65536
MEMO_TEXT = 64


def remember(memo: dict, key, value):
    """`memo[key] = value`, returned. The same few hundred texts come form after form; a hostile
    file's distinct texts must not fill a worker's memory, so a full memo starts again."""
    if len(memo) >= MEMO_LIMIT:
        memo.clear()
    memo[key] = value
    return value

# Keys of [forms] that are lists of labels (the rest are patterns or notes).
LABEL_KEYS = (
    "title_project", "title_department", "project_name", "project_code", "supervisor", "implementer",
    "department_name", "initial_budget", "budget", "spent", "exec_weight", "exec_rate", "exec_score", "total_row",
    "income_lists", "spending_lists", "source_rows", "level1", "level2", "level3", "target", "target_kind", "target_value", "target_unit", "actual",
    "weight", "score", "reason", "total_score", "footer", "ignored_columns", "ignored_fields",
)
# Fields written as "label | value" at the head of a form.
HEAD_FIELDS = ("project_name", "project_code", "supervisor", "implementer", "department_name")


@dataclass(frozen=True)
class Labels:
    words: dict[str, tuple[str, ...]]  # key → normalised synonyms, in priority order
    placeholders: tuple  # RE2 patterns (rules.bureau_pattern): linear time on any cell
    yuan_notes: tuple[str, ...]

    def __getitem__(self, key: str) -> tuple[str, ...]:
        return self.words[key]

    def is_(self, key: str, text: str) -> bool:
        return text in self.words[key]

    def head_label(self, text) -> bool:
        """Whether `text` names a head field (项目名称, 主管部门, …): a synonym, its core, or the
        field's core words (专项资金名称, 县级主管部门)."""
        return isinstance(text, str) and any(self.rank(text, k) is not None for k in HEAD_FIELDS)

    @functools.cached_property
    def longest_title(self) -> int:
        return max(len(t) for k in ("title_project", "title_department") for t in self.words[k])

    def placeholder(self, text: str) -> bool:
        if len(text) > MEMO_TEXT:
            return self._placeholder(text)
        memo = self.memo("placeholder")
        hit = memo.get(text)
        return remember(memo, text, self._placeholder(text)) if hit is None else hit

    def _placeholder(self, text: str) -> bool:
        return any(p.search(text) for p in self.placeholders)

    @functools.cached_property
    def cores(self) -> dict[str, tuple[str, ...]]:
        """Each key's synonyms as cores (decorations stripped), in priority order."""
        return {k: tuple(dict.fromkeys(canon(w) for w in ws if canon(w))) for k, ws in self.words.items()}

    def rank(self, text: str, key: str) -> int | None:
        """`_rank`, remembered: the same few hundred headers, form after form."""
        if len(text) > MEMO_TEXT:
            return self._rank(text, key)
        memo = self._ranks
        hit = memo.get((text, key), memo)
        if hit is memo:
            hit = remember(memo, (text, key), self._rank(text, key))
        return hit

    def memo(self, purpose: str) -> dict:
        """A memo for answers about texts under these labels (`purpose` names the question);
        fill it with `remember`."""
        return self._memos.setdefault(purpose, {})

    def remembered(self, purpose: str, answer, text: str):
        """`answer(text, self)`, remembered per short text in the memo of `purpose`; a long
        text is answered anew each time, never kept."""
        if len(text) > MEMO_TEXT:
            return answer(text, self)
        memo = self.memo(purpose)
        hit = memo.get(text, memo)
        return remember(memo, text, answer(text, self)) if hit is memo else hit

    @functools.cached_property
    def _memos(self) -> dict[str, dict]:
        return {}

    @functools.cached_property
    def _ranks(self) -> dict:
        return self.memo("rank")  # asked most of all: kept at hand

    def _rank(self, text: str, key: str) -> int | None:
        """How well header `text` (as written, not normalised) names `key`: 0… for the
        position of an exact synonym, 100… for a synonym's core, CORE_RANK for core words; None
        when it does not."""
        n = norm(text)
        if n in self.words[key]:
            return self.words[key].index(n)
        c = canon(text)
        if not c:
            return None
        if c in self.cores[key]:
            return 100 + self.cores[key].index(c)
        rule = CORE.get(key)
        if rule is None or len(c) > _CORE_LIMIT:
            return None
        every, some, none = rule
        if all(w in c for w in every) and (not some or any(w in c for w in some)) and not any(w in c for w in none):
            return CORE_RANK
        return None

    def place(self, row: list, keys: tuple[str, ...]) -> dict[str, int]:
        """Columns of a header row for `keys`: each column names at most one field (the
        best-ranked; exact synonyms before cores before core words, left before right), each
        field one column (its best). Remembered per row: header rows repeat form after form."""
        if len(row) > MEMO_TEXT or sum(len(v) for v in row if isinstance(v, str)) > 16 * MEMO_TEXT:
            return self._place(row, keys)  # no header row is so wide or so wordy: not kept
        try:
            memo, known = self.memo("place"), (tuple(row), keys)
            hit = memo.get(known)
        except TypeError:  # a value that cannot be a key: placed afresh
            return self._place(row, keys)
        if hit is None:
            hit = remember(memo, known, self._place(row, keys))
        return dict(hit)

    def _place(self, row: list, keys: tuple[str, ...]) -> dict[str, int]:
        options = []
        for c, v in enumerate(row):
            if not isinstance(v, str) or not v.strip():
                continue
            for i, k in enumerate(keys):
                r = self.rank(v, k)
                if r is not None:
                    options.append((r, i, c, k))
        placed: dict[str, int] = {}
        used: set[int] = set()
        for _, _, c, k in sorted(options):
            if k not in placed and c not in used:
                placed[k] = c
                used.add(c)
        return placed


_CACHE: dict[str, Labels] = {}


def labels_for(rules: Rules) -> Labels:
    """The labels of `rules`, normalised once per rules digest (once per worker process)."""
    if rules.digest not in _CACHE:
        _CACHE[rules.digest] = _labels(rules)
    return _CACHE[rules.digest]


def _labels(rules: Rules) -> Labels:
    forms = rules.data["forms"]
    return Labels(
        words={k: tuple(norm(w) for w in forms[k]) for k in LABEL_KEYS},
        placeholders=tuple(bureau_pattern(p) for p in forms["placeholders"]),
        yuan_notes=tuple(norm(w) for w in forms["yuan_notes"]),
    )
