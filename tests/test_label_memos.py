"""The official reader remembers its answers about texts (titles, header ranks, header rows,
placeholders) so that the same labels, form after form, cost a lookup. What it remembers must
never change what it reads, and a hostile file's distinct texts must not fill its memory."""

from __future__ import annotations

import pytest
from test_official import form_a, form_b

from evalbatch.layouts import labels as L
from evalbatch.layouts import official as O
from evalbatch.rules import load_rules

RULES = load_rules()


def fresh() -> L.Labels:
    return L._labels(RULES)  # not labels_for: each test starts with empty memos


def sheets():
    a, b = form_a(), form_b()
    return {"项目": a.rows, "部门": b.rows}, {"项目": a.merges, "部门": b.merges}


def read(labels: L.Labels):
    rows, merges = sheets()
    return [(f.kind, f.head, f.year, f.total, f.sources, f.indicators, f.score, f.notes) for f in O.find_forms(rows, labels, merges)]


def test_a_form_reads_the_same_with_memos_cold_warm_and_emptied_as_they_fill(monkeypatch):
    cold = read(fresh())
    labels = fresh()
    assert read(labels) == cold and read(labels) == cold  # warm: the second reading is all lookups
    assert cold[0][0] == O.FORM_A and len(cold[0][5]) == 5 and cold[1][0] == O.FORM_B
    monkeypatch.setattr(L, "MEMO_LIMIT", 7)
    small = fresh()
    assert read(small) == cold and read(small) == cold
    assert max(len(m) for m in small._memos.values()) <= 7


def test_distinct_texts_of_a_hostile_sheet_do_not_grow_a_memo_past_its_limit(monkeypatch):
    monkeypatch.setattr(L, "MEMO_LIMIT", 100)
    labels = fresh()
    noise = [[f"第{r}行说明{c}" for c in range(10)] for r in range(500)]  # 5,000 distinct short texts, each a title candidate
    O.find_forms({"噪声": noise}, labels, {})
    rows, merges = sheets()
    assert [f.kind for f in O.find_forms(rows, labels, merges)] == [O.FORM_A, O.FORM_B]
    sizes = {purpose: len(m) for purpose, m in labels._memos.items()}
    assert set(sizes) >= {"title", "rank", "place"} and max(sizes.values()) <= 100


def test_a_remembered_header_placement_is_handed_out_as_a_copy():
    labels = fresh()
    header = ["绩效指标", "一级指标", "二级指标", "三级指标", "年度\n指标值", "实际\n完成值", "分值", "得分", "偏差原因分析及改进措施"]
    keys = ("level1", "level2", "level3", "weight", "target", "actual", "score", "reason")
    first = labels.place(header, keys)
    assert first == {"level1": 1, "level2": 2, "level3": 3, "target": 4, "actual": 5, "weight": 6, "score": 7, "reason": 8}
    first["weight"] = 99  # callers adjust what they get (a funds header fills in its budget column)
    assert labels.place(header, keys)["weight"] == 6


@pytest.mark.parametrize("odd", [["一级指标"], {"a": 1}])
def test_a_row_holding_a_value_that_cannot_be_remembered_is_placed_all_the_same(odd):
    labels = fresh()
    row = ["一级指标", "二级指标", "三级指标", odd, "分值"]
    assert labels.place(row, ("level1", "level2", "level3", "weight")) == {"level1": 0, "level2": 1, "level3": 2, "weight": 4}
    assert "place" not in labels._memos or not labels._memos["place"]


def test_remember_starts_a_full_memo_again(monkeypatch):
    monkeypatch.setattr(L, "MEMO_LIMIT", 3)
    memo: dict = {}
    for i in range(3):
        assert L.remember(memo, i, i * i) == i * i
    assert memo == {0: 0, 1: 1, 2: 4}
    assert L.remember(memo, 3, 9) == 9 and memo == {3: 9}


def test_long_texts_and_wide_rows_are_answered_but_not_kept():
    """A memo keeps its keys alive after their file: a hostile file's long cells and wide rows
    are answered afresh, never remembered."""
    labels = fresh()
    long_name = "指标" + "1" * 70  # a placeholder by the default patterns, 72 characters
    assert labels.placeholder(long_name) is True and labels.placeholder("指标2") is True
    assert labels.rank("全年预算数" + "（说明）" * 20, "budget") is None and labels.rank("全年预算数", "budget") == 0
    wide = ["一级指标", "二级指标", "三级指标", *[None] * 70, "分值"]
    assert labels.place(wide, ("level1", "level2", "level3", "weight")) == {"level1": 0, "level2": 1, "level3": 2, "weight": 73}
    assert list(labels._memos["placeholder"]) == ["指标2"]
    assert ("全年预算数", "budget") in labels._memos["rank"] and max(len(t) for t, _ in labels._memos["rank"]) <= L.MEMO_TEXT
    assert "place" not in labels._memos


def test_remembered_keeps_short_answers_and_never_a_long_text():
    labels = fresh()
    asked = []

    def answer(text, lab):
        asked.append(text)
        return len(text)

    long = "x" * (L.MEMO_TEXT + 1)
    assert [labels.remembered("test", answer, t) for t in ("合计", "合计", long, long)] == [2, 2, len(long), len(long)]
    assert asked == ["合计", long, long]  # the short text asked once, the long one each time
    assert labels._memos["test"] == {"合计": 2}
    read(labels)
    # The reader's own memos of row answers keep no text longer than a label.
    assert {"fund label", "row label"} <= set(labels._memos)
    assert max(len(t) for p in ("fund label", "row label", "nature heads") for t in labels._memos.get(p, {})) <= L.MEMO_TEXT
