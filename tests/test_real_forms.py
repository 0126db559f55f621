"""The corpus of real published forms (tests/data/real/) read as a bureau receives them.

Every form is written as .xlsx and as a budget system's SpreadsheetML export (.xls), read by
the whole pipeline (`check_paths`) and compared field by field with what its JSON says a
correct reader must get: unit, project, year, funds as printed (in 万元), and every indicator
row's 一级/二级/三级 labels, target, actual, points and score as printed. Then the mutation
test: each form's headers decorated, renamed, reordered, padded with columns the reader does
not know, its points moved into the labels — the reading must not change.
"""

from __future__ import annotations

import copy
import math
import re

import pandas as pd
import pytest
import real_forms as R

from evalbatch.judge.evaluate import check_paths
from evalbatch.layouts.base import norm
from evalbatch.read import load
from evalbatch.rules import load_rules

RULES = load_rules()
_L1_POINTS = re.compile(r"\((\d+(?:\.\d+)?)分\)$")
FORMS = R.all_forms()
IDS = [p.stem for p in FORMS]


def _text(v) -> str:
    """A printed value as compared: numbers by value (735 = "735" = 735.0), text by `norm`."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, (int, float)):
        return f"{float(v):g}"
    t = norm(v)
    return f"{float(t):g}" if re.fullmatch(r"-?\d+(\.\d+)?", t) else t


def _num(v) -> float | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return round(float(v), 6)


def _read(tmp_path_factory, build, suffix: str):
    folder = tmp_path_factory.mktemp("real" + suffix.strip("."))
    paths = [build(R.load(p), folder / f"{p.stem}{suffix}") for p in FORMS]
    return check_paths(paths, RULES)


@pytest.fixture(scope="module")
def read_xlsx(tmp_path_factory):
    return _read(tmp_path_factory, R.build_xlsx, ".xlsx")


@pytest.fixture(scope="module")
def read_xml(tmp_path_factory):
    return _read(tmp_path_factory, R.build_spreadsheetml, ".xls")


@pytest.fixture(scope="module")
def read_html(tmp_path_factory):
    return _read(tmp_path_factory, R.build_html, ".xls")


def reading(result, stem: str) -> dict:
    """What the reader got from one corpus file, in the shape of the JSON's `expect`."""
    file = next(f for f in result.depts["file"] if f.startswith(stem + "."))
    d = result.depts[result.depts["file"] == file].iloc[0]
    p = result.projects[result.projects["file"] == file]
    ind = result.indicators[result.indicators["file"] == file].sort_values("row")
    if len(p):
        p = p.iloc[0]
        funds = {"budget": _num(p["budget"]), "spent": _num(p["spent"]), "exec_weight": _num(p["exec_weight"]),
                 "exec_score": _num(p["exec_self_score"])}
        ind = ind[ind["project_code"] == p["project_code"]]
    else:
        funds = {"budget": _num(d["dept_budget"]), "spent": _num(d["dept_spent"])}
        ind = ind[ind["method_used"] != "预算执行率"]  # the funds' own row, not a printed indicator
    rows = [tuple(_text(r[k]) for k in ("l1", "l2", "l3", "target", "actual")) + (_num(r["weight"]), _num(r["self_score"]))
            for _, r in ind.iterrows()]
    return {"unit": d["dept_name"], "year": None if pd.isna(d["year"]) else int(d["year"]), "funds": funds, "indicators": rows,
            "project": (p["project_name"], p["project_code"]) if len(p) else None}


def expected(stem: str) -> dict:
    e = R.load(R.DATA / f"{stem}.json")["expect"]
    f = e["funds"]
    funds = {"budget": _num(f["budget"] if f["budget"] is not None else f["budget_initial"]), "spent": _num(f["spent"])}
    if e["project"] is not None:
        funds |= {"exec_weight": _num(f["exec_weight"]), "exec_score": _num(f["exec_score"])}
    # The reader keeps a 一级 label's printed points apart (l1_points): 产出指标(50分) is 产出指标;
    # a 三级 label's points (决策依据(4分)) are that indicator's 分值 when no 分值 column prints one.
    rows = []
    for i in e["indicators"]:
        l3, weight = _text(i["l3"]), _num(i["weight"])
        own = _L1_POINTS.search(l3)
        if weight is None and own:
            l3, weight = _L1_POINTS.sub("", l3), float(own.group(1))
        rows.append((_L1_POINTS.sub("", _text(i["l1"])), _text(i["l2"]), l3, _text(i["target"]), _actual(i), weight, _num(i["score"])))
    return {"unit": e["unit"] or e.get("supervisor"), "year": e["year"], "funds": funds, "indicators": rows, "project": e["project"]}


def _actual(i: dict) -> str:
    """The 完成值 as the reader presents it: a bare number on a form whose target is split in
    指标性质 / 指标值 / 度量单位 is in the row's unit, as the target is (735 beside 人次 is 735人次)."""
    actual, unit = _text(i["actual"]), (i.get("target_parts") or [None] * 3)[2]
    return actual + norm(unit) if unit and re.fullmatch(r"-?\d+(\.\d+)?", actual) else actual


def _named(stem: str) -> bool:
    e = R.load(R.DATA / f"{stem}.json")["expect"]
    return bool(e["unit"] or e.get("supervisor"))


NAMED = [stem for stem in IDS if _named(stem)]  # forms that say whose they are


def _check(result, stem: str) -> None:
    want = expected(stem)
    if want["unit"] is None:  # a form that names no unit anywhere: one 错误, nothing graded
        f = result.findings
        mine = f[f["file"].str.startswith(stem + ".")]
        assert mine.loc[mine["level"] == "错误", "rule_id"].tolist() == ["form.no_unit"]
        assert not (result.depts["file"].str.startswith(stem + ".")).any()
        return
    got = reading(result, stem)
    assert got["unit"] == want["unit"]
    assert got["year"] == want["year"]
    assert got["funds"] == want["funds"]
    assert got["indicators"] == want["indicators"]
    if want["project"] is not None:
        name, code = got["project"]
        assert want["project"] in (name, f"{code}-{name}")


@pytest.mark.parametrize("stem", IDS)
def test_every_real_form_reads_as_printed_from_xlsx(read_xlsx, stem):
    _check(read_xlsx, stem)


@pytest.mark.parametrize("stem", IDS)
def test_every_real_form_reads_as_printed_from_spreadsheetml(read_xml, stem):
    _check(read_xml, stem)


@pytest.mark.parametrize("stem", IDS)
def test_every_real_form_reads_as_printed_from_html(read_html, stem):
    _check(read_html, stem)


def _graded_row(result, stem: str):
    """The project row of a project form, the department row of a 部门整体 form."""
    frame = result.projects if R.load(R.DATA / f"{stem}.json")["kind"] == "项目" else result.depts
    return frame.set_index(frame["file"].str.split(".").str[0]).loc[stem]


def test_forms_without_points_are_not_graded_but_read(read_xlsx):
    """A form whose indicators print no 分值 (only targets, completion and 得分) is 不计分: no
    total, no grade, no rank, a 提示 saying why; its funds and indicators are still read. One
    whose executed amount is also blank is 未能复核 (a 警告), its reason naming both gaps."""
    unscored = [stem for stem in NAMED if all(row[5] is None for row in expected(stem)["indicators"])]
    assert {R.load(R.DATA / f"{s}.json")["kind"] for s in unscored} == {"项目", "部门整体"}, unscored
    points = "表中绩效指标没有分值，只记录目标与完成情况"
    for stem in unscored:
        row = _graded_row(read_xlsx, stem)
        funds = expected(stem)["funds"]
        blank = funds["budget"] is None or funds["spent"] is None
        status, rule, level = ("未能复核", "result.unreviewed", "警告") if blank else ("不计分", "result.unscored", "提示")
        reason = ("资金块未读取或金额空白，预算执行率无法计算；" if blank else "") + points
        assert (row["read_status"], row["grade"]) == (status, f"{status}（{reason}）"), stem
        assert math.isnan(row["total"]) and pd.isna(row["rank"])
        f = read_xlsx.findings
        hit = f[(f["file"] == row["file"]) & f["rule_id"].isin(["result.unscored", "result.unreviewed"])]
        assert (hit["rule_id"].tolist(), hit["level"].tolist()) == ([rule], [level]), stem
        if blank:  # the finding names the blank amount's cell (17_tongcheng_bm: 执行数(B) of 部门整体支出总额)
            assert hit["cell"].tolist() == [{"17_tongcheng_bm": "C5"}[stem]], stem
        # Points the form never gives are not "points that add up to 0".
        assert not f[(f["file"] == row["file"]) & f["rule_id"].str.startswith("weight.")].size, stem


def test_a_scored_form_without_amounts_is_not_graded(read_xlsx):
    """蚕茶 prints points but no amount at all: 未能复核, its reason the amounts, on the unit's
    cell. Its 政府采购管理 | 执行率 row is an indicator, not the budget's execution (were it taken
    for one, the form would be graded 良 on its indicators alone)."""
    blank = [s for s in NAMED if None in (expected(s)["funds"]["budget"], expected(s)["funds"]["spent"])
             and any(row[5] is not None for row in expected(s)["indicators"])]
    assert blank == ["19_cancha_bm"]
    row = _graded_row(read_xlsx, "19_cancha_bm")
    assert (row["read_status"], row["grade"]) == ("未能复核", "未能复核（资金块未读取或金额空白，预算执行率无法计算）")
    assert math.isnan(row["total"]) and pd.isna(row["rank"])
    f = read_xlsx.findings
    hit = f[f["file"].str.startswith("19_cancha_bm.") & (f["rule_id"] == "result.unreviewed")]
    assert list(zip(hit["level"], hit["cell"])) == [("警告", "B2")]


# --- the mutation test ------------------------------------------------------------------

# Header words as other provinces print them; every one must read as the field it names.
_RENAMES = {
    "全年预算数": "调整预算数(A)", "全年执行数": "执行数\n(B)", "年初预算数": "年初预算数（万元）", "分值": "指标分值",
    "得分": "得分(10分)", "执行率": "执行率\n(全年执行数/全年预算数)", "年度指标值": "年度指标值①", "实际完成值": "实际完成值②",
    "全年实际值": "全年实际值(%)", "三级指标": "三級指標", "一级指标": "一級指標", "二级指标": "二级指标 ",
}


def _header_rows(spec: dict) -> list[int]:
    return [i for i, row in enumerate(spec["rows"]) if any(isinstance(c, str) and norm(c) in ("三级指标", "全年执行数", "全年预算数", "执行数(B)")
                                                            for c in row)]


def mutate_headers(spec: dict) -> dict:
    """Every known header renamed to a province's variant with its decorations."""
    s = copy.deepcopy(spec)
    for i in _header_rows(s):
        s["rows"][i] = [_RENAMES.get(norm(c), c) if isinstance(c, str) else c for c in s["rows"][i]]
    return s


def add_unknown_column(spec: dict) -> dict:
    """A column the reader does not know (审核意见: no field, nor a column it knows to leave), appended to every row."""
    s = copy.deepcopy(spec)
    headers = set(_header_rows(s))
    width = max(len(r) for r in s["rows"])
    s["rows"] = [list(r) + [None] * (width - len(r)) + (["审核意见"] if i in headers else ["同意"]) for i, r in enumerate(s["rows"])]
    return s


_TARGETS = ("年度指标值", "指标值", "年初目标值(A)", "年初指标值")
_ACTUALS = ("实际完成值", "实际完成值(B)", "全年实际值", "完成值", "实际值")


def swap_target_and_actual(spec: dict) -> dict:
    """The indicator block's target and actual columns swapped, header and rows together (the
    order of columns differs between provinces); forms whose merges cross those columns are
    left as they are."""
    s = copy.deepcopy(spec)
    boxes = [R.merge_box(m) for m in s["merges"]]
    for h in _header_rows(s):
        head = [norm(c) if isinstance(c, str) else "" for c in s["rows"][h]]
        a = next((c for c, t in enumerate(head) if t in _TARGETS), None)
        b = next((c for c, t in enumerate(head) if t in _ACTUALS), None)
        if "三级指标" not in head or a is None or b is None:
            continue
        end = next((r for r in range(h + 1, len(s["rows"])) if _first_text(s["rows"][r]).startswith(("总分", "合计"))), len(s["rows"]))
        inside = [m for m in boxes if m[0] < end and m[2] >= h and (m[1] <= a <= m[3] or m[1] <= b <= m[3])]
        if any(m[1] != m[3] or m[0] < h or m[2] >= end for m in inside):
            continue  # a merge across the columns or out of the block: not a plain swap
        for row in s["rows"][h:end]:
            row.extend([None] * (max(a, b) + 1 - len(row)))
            row[a], row[b] = row[b], row[a]
        moved = {m: (m[0], b if m[1] == a else a, m[2], b if m[1] == a else a) for m in inside}
        boxes = [moved.get(m, m) for m in boxes]
    s["merges"] = [_a1(m) for m in boxes]
    return s


def _first_text(row: list) -> str:
    return next((norm(c) for c in row if isinstance(c, str) and c.strip()), "")


def _a1(box: tuple[int, int, int, int]) -> str:
    from openpyxl.utils import get_column_letter

    r0, c0, r1, c1 = box
    return f"{get_column_letter(c0 + 1)}{r0 + 1}:{get_column_letter(c1 + 1)}{r1 + 1}"


def points_in_labels(spec: dict) -> dict:
    """The 分值 column emptied, each indicator's points written into its 三级 label instead
    (指标名称(10分)), as forms without a 分值 column print them."""
    s = copy.deepcopy(spec)
    for h in _header_rows(s):
        head = [norm(c) if isinstance(c, str) else "" for c in s["rows"][h]]
        if "三级指标" not in head or not ({"分值", "权重"} & set(head)):
            continue
        l3, w = head.index("三级指标"), head.index("分值" if "分值" in head else "权重")
        s["rows"][h][w] = None
        for row in s["rows"][h + 1:]:
            if len(row) > max(l3, w) and isinstance(row[w], (int, float)) and isinstance(row[l3], str) and row[l3].strip():
                row[l3], row[w] = f"{row[l3]}({row[w]:g}分)", None
    return s


# Head labels as other forms print them: no synonym in the rules names them, their core words do.
_HEAD_RENAMES = {"项目名称": "专项资金名称", "主管部门": "县级主管部门", "实施单位": "项目实施机构"}


def rename_head_fields(spec: dict) -> dict:
    """项目名称, 主管部门 and 实施单位 above the form's tables written as other forms write them."""
    s = copy.deepcopy(spec)
    first_table = min(_header_rows(s), default=len(s["rows"]))
    for row in s["rows"][:first_table]:
        row[:] = [_HEAD_RENAMES.get(norm(c), c) if isinstance(c, str) else c for c in row]
    return s


def shift_origin(spec: dict) -> dict:
    """The form one row down and two columns right (a sheet with a margin, a logo row)."""
    s = copy.deepcopy(spec)
    s["rows"] = [[]] + [[None, None, *r] for r in s["rows"]]
    s["merges"] = [_a1((r0 + 1, c0 + 2, r1 + 1, c1 + 2)) for r0, c0, r1, c1 in map(R.merge_box, s["merges"])]
    return s


def blank_rows_between(spec: dict) -> dict:
    """An empty row every fourth row below the head (page breaks, spacing), merges moved down."""
    for at in range(len(spec["rows"]) - 2, 4, -4):
        spec = insert_rows(spec, at, [[]])
    return spec


def blank_column_inside(spec: dict, at: int = 4) -> dict:
    """An empty column inserted before column `at` (a hidden or spacer column), merges across it widened."""
    s = copy.deepcopy(spec)
    s["rows"] = [[*r[:at], None, *r[at:]] if len(r) > at else list(r) for r in s["rows"]]
    boxes = [R.merge_box(m) for m in s["merges"]]
    s["merges"] = [_a1((r0, c0 + (c0 >= at), r1, c1 + (c1 >= at))) for r0, c0, r1, c1 in boxes]
    return s


_FULL_WIDTH = str.maketrans("0123456789.%-", "０１２３４５６７８９．％－")


def full_width_numbers(spec: dict) -> dict:
    """Every number typed as full-width text (９５．５), as a Chinese input method types it."""
    s = copy.deepcopy(spec)
    s["rows"] = [[str(v).translate(_FULL_WIDTH) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in r]
                 for r in s["rows"]]
    return s


MUTATIONS = {"renamed_headers": mutate_headers, "unknown_column": add_unknown_column, "head_words": rename_head_fields,
             "both": lambda s: add_unknown_column(mutate_headers(s)), "points_in_labels": points_in_labels,
             "reordered_columns": swap_target_and_actual, "shifted_origin": shift_origin, "blank_rows": blank_rows_between,
             "blank_column": blank_column_inside, "full_width_numbers": full_width_numbers}


@pytest.fixture(scope="module", params=list(MUTATIONS))
def mutated(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mut")
    paths = [R.build_xlsx(MUTATIONS[request.param](R.load(p)), folder / f"{p.stem}.xlsx") for p in FORMS]
    return check_paths(paths, RULES)


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_every_mutation_changes_most_forms(name):
    """A mutation that changed nothing would prove nothing."""
    changed = [p for p in FORMS if MUTATIONS[name](R.load(p))["rows"] != R.load(p)["rows"]]
    assert len(changed) >= len(FORMS) // 2


def test_mutated_forms_read_exactly_like_the_originals(read_xlsx, mutated):
    for stem in NAMED:
        assert reading(mutated, stem) == reading(read_xlsx, stem), stem


def _gaps(stem: str) -> bool:
    """A form whose reading leaves a whole column empty (no 分值 anywhere, a blank amount)."""
    e = expected(stem)
    return all(row[5] is None for row in e["indicators"]) or None in (e["funds"]["budget"], e["funds"]["spent"])


# Alone, an empty column has no type borrowed from the other files: the forms with gaps are the
# ones that break a check written for filled columns (15_baoshan_xm did: a NaN cell address).
@pytest.mark.parametrize("stem", [s for s in NAMED if _gaps(s)])
def test_a_form_read_alone_reads_as_in_the_batch(read_xlsx, stem, tmp_path, monkeypatch):
    """A department's reading never depends on the other files of the batch: alone (the
    frames then hold only its own columns' types) it reads the same and nothing fails inside."""
    monkeypatch.setattr(load, "IN_PROCESS", True)  # the same reader, without a worker per test
    alone = check_paths([R.build_xlsx(R.load(R.DATA / f"{stem}.json"), tmp_path / f"{stem}.xlsx")], RULES)
    assert "file.internal" not in set(alone.findings["rule_id"])
    assert reading(alone, stem) == reading(read_xlsx, stem)


# --- row labels the reader could not place (issue 17, point 4) ------------------------------

_ROW_NOTE = ("{kind}（「{sheet}」第 {start} 行起）的行标签“{label}”未能识别，该行未读取；如它是表头项目（单位、项目等），请在规则 [forms] 的对应项"
             "（project_name、project_code、supervisor、implementer、department_name）中加上这一写法，如无需读取，请加入 ignored_fields")
_FUNDS_ROW_NOTE = ("{kind}（「{sheet}」第 {start} 行起）的行标签“{label}”未能识别，该行未读取；如它是资金表的行，请在规则 [forms] 的对应项"
                   "（total_row、source_rows）中加上这一写法，如无需读取，请加入 ignored_fields")


def _row_notes(result, stem: str) -> list[tuple[str, str]]:
    f = result.findings
    mine = f[f["file"].str.startswith(stem + ".") & (f["rule_id"] == "form.unplaced") & f["message"].str.contains("行标签")]
    return list(zip(mine["level"], mine["cell"]))


def test_unknown_row_labels_of_real_forms_are_named_with_their_cell(read_xlsx):
    """通城's 基本支出总额 and 蚕茶's funds rows without amounts (资金来源:(1)财政拨款) are rows the
    reader does not read: one 提示 each, on the label's cell, naming head-field keys above the
    funds header and funds-row keys below it. Known head fields, titles, `label：value` cells,
    notes alone on a row, the goal block, and the rows the default ignored_fields names (the
    项目类别 / 项目属性 / 项目类型 checkbox rows of 湖北-style forms: 08, 09, 15) are not."""
    got = {stem: _row_notes(read_xlsx, stem) for stem in IDS if _row_notes(read_xlsx, stem)}
    assert got == {
        "17_tongcheng_bm": [("提示", "A3")],
        "19_cancha_bm": [("提示", "B4"), ("提示", "B5")],
    }
    f = read_xlsx.findings
    note = f[f["file"].str.startswith("17_tongcheng_bm.") & (f["cell"] == "A3") & (f["rule_id"] == "form.unplaced")]
    assert note["message"].tolist() == [_ROW_NOTE.format(kind="部门整体支出绩效自评表", sheet="部门整体支出绩效自评表", start=1, label="基本支出总额")]
    note = f[f["file"].str.startswith("19_cancha_bm.") & (f["cell"] == "B4")]
    assert note["message"].tolist() == [_FUNDS_ROW_NOTE.format(kind="部门整体支出绩效自评表", sheet="整体支出绩效自评表", start=1,
                                                               label="资金来源:(1)财政拨款")]


def insert_rows(spec: dict, at: int, rows: list[list]) -> dict:
    """`rows` inserted before row index `at` (0-based), the merges below moved down."""
    s = copy.deepcopy(spec)
    s["rows"][at:at] = [list(r) for r in rows]
    boxes = [R.merge_box(m) for m in s["merges"]]
    n = len(rows)
    s["merges"] = [_a1((r0 + n if r0 >= at else r0, c0, r1 + n if r1 >= at else r1, c1)) for r0, c0, r1, c1 in boxes]
    return s


def _jishan_with_head_rows() -> dict:
    """稷山's form with four rows between its head and its funds block: an unknown label with
    its value, a known field the reader leaves (项目负责人), and two notes alone on their rows."""
    spec = R.load(R.DATA / "14_jishan_xm.json")
    width = len(spec["rows"][0])
    return insert_rows(spec, 4, [
        ["资金来源说明", "县级财政配套资金"] + [None] * (width - 2),
        ["项目负责人", "王某"] + [None] * (width - 2),
        ["单位:万元"] + [None] * (width - 1),
        ["说明:本表由实施单位填写"] + [None] * (width - 1),
    ])


def test_an_unknown_head_row_is_one_note_and_changes_no_reading(read_xlsx, tmp_path, monkeypatch):
    monkeypatch.setattr(load, "IN_PROCESS", True)
    got = check_paths([R.build_xlsx(_jishan_with_head_rows(), tmp_path / "14_jishan_xm.xlsx")], RULES)
    f = got.findings
    hit = f[f["rule_id"] == "form.unplaced"]
    assert list(zip(hit["level"], hit["cell"], hit["message"])) == [
        ("提示", "A5", _ROW_NOTE.format(kind="项目支出绩效自评表", sheet="项目支出绩效自评表", start=1, label="资金来源说明"))]
    assert reading(got, "14_jishan_xm") == reading(read_xlsx, "14_jishan_xm")


def test_a_bureau_teaches_a_head_row_in_forms(tmp_path, monkeypatch):
    """The row named in [forms] ignored_fields is known: no 提示 any more."""
    monkeypatch.setattr(load, "IN_PROCESS", True)
    words = [*RULES.data["forms"]["ignored_fields"], "资金来源说明"]
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text("[forms]\nignored_fields = [" + ", ".join(f'"{w}"' for w in words) + "]\n", encoding="utf-8")
    got = check_paths([R.build_xlsx(_jishan_with_head_rows(), tmp_path / "14_jishan_xm.xlsx")], load_rules(rules_file))
    assert "form.unplaced" not in set(got.findings["rule_id"])


# --- more than the form in the workbook ---------------------------------------------------

_INSTRUCTIONS = [["项目支出绩效自评表填表说明"], ["1. 本表由项目实施单位填写，金额单位为万元。"], ["部门整体支出绩效自评表"], ["见附件2"]]


def _doubled(spec: dict) -> dict:
    """An old copy: every number doubled (other funds, other points and scores)."""
    s = copy.deepcopy(spec)
    s["rows"] = [[v * 2 if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in r] for r in s["rows"]]
    return s


def _with_instructions(spec: dict, path):
    return R.write_xlsx({"填表说明": R.Grid(rows=_INSTRUCTIONS), spec["sheet"]: R.grid(spec)}, path)


def _with_hidden_old_copy(spec: dict, path):
    """The form's sheet copied before it, the copy hidden and its numbers changed: what a person
    who fills this year's form over last year's leaves behind."""
    from openpyxl import load_workbook

    R.write_xlsx({"旧表": R.grid(_doubled(spec)), spec["sheet"]: R.grid(spec)}, path)
    wb = load_workbook(path)
    wb["旧表"].sheet_state = "hidden"
    wb.save(path)
    return path


@pytest.mark.parametrize("build", [_with_instructions, _with_hidden_old_copy])
def test_other_sheets_in_the_workbook_change_no_reading(read_xlsx, tmp_path, build):
    """Every corpus form with an instructions sheet naming the forms, or with a hidden old copy
    of itself before it, reads exactly as the form alone: no phantom form, nothing summed."""
    result = check_paths([build(R.load(p), tmp_path / f"{p.stem}.xlsx") for p in FORMS], RULES)
    for stem in NAMED:
        assert reading(result, stem) == reading(read_xlsx, stem), stem
