"""Synthetic official forms (evalbatch.official_samples): reproducible, consistent, laid out as each
variant says, and written correctly by every writer for any grid."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from html.parser import HTMLParser

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from evalbatch.cli import app
from evalbatch.samples import format1 as M
from evalbatch.samples import official as O

SS = "urn:schemas-microsoft-com:office:spreadsheet"


# --- readers: each format back into {(row, col): value} and merges ------------------------------


def xlsx_sheets(path) -> dict[str, tuple[dict, set, object]]:
    """{sheet: (values, merges, worksheet)}."""
    wb = openpyxl.load_workbook(path)
    out = {}
    for ws in wb.worksheets:
        values = {(c.row - 1, c.column - 1): c.value for row in ws.iter_rows() for c in row if c.value is not None}
        merges = {(m.min_row - 1, m.min_col - 1, m.max_row - 1, m.max_col - 1) for m in ws.merged_cells.ranges}
        out[ws.title] = (values, merges, ws)
    return out


def ssml_sheets(path) -> dict[str, tuple[dict, set]]:
    """Rows and cells placed as Excel places them: ss:Index, else right after the previous
    row / after the previous cell's MergeAcross."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{{{SS}}}Workbook"
    out = {}
    for ws in root.findall(f"{{{SS}}}Worksheet"):
        values, merges, r = {}, set(), -1
        for row in ws.find(f"{{{SS}}}Table").findall(f"{{{SS}}}Row"):
            r = int(row.get(f"{{{SS}}}Index")) - 1 if row.get(f"{{{SS}}}Index") else r + 1
            c_next = 0
            for cell in row.findall(f"{{{SS}}}Cell"):
                c = int(cell.get(f"{{{SS}}}Index")) - 1 if cell.get(f"{{{SS}}}Index") else c_next
                assert c >= c_next, "cells must go left to right"
                across, down = int(cell.get(f"{{{SS}}}MergeAcross", 0)), int(cell.get(f"{{{SS}}}MergeDown", 0))
                if across or down:
                    merges.add((r, c, r + down, c + across))
                data = cell.find(f"{{{SS}}}Data")
                if data is not None:
                    kind, text = data.get(f"{{{SS}}}Type"), data.text or ""
                    values[(r, c)] = float(text) if kind == "Number" else text
                c_next = c + across + 1
        out[ws.get(f"{{{SS}}}Name")] = (values, merges)
    return out


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables, self.cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag == "td":
            self.cell = [dict(attrs), ""]
            self.tables[-1][-1].append(self.cell)
        elif tag == "br" and self.cell is not None:
            self.cell[1] += "\n"

    def handle_endtag(self, tag):
        if tag == "td":
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[1] += data


def html_tables(text: str) -> list[tuple[dict, set]]:
    """The HTML table model: each td goes to the first column its row's earlier rowspans left free."""
    p = _Tables()
    p.feed(text)
    out = []
    for table in p.tables:
        values, merges, taken = {}, set(), set()
        for r, row in enumerate(table):
            c = 0
            for attrs, text_ in row:
                while (r, c) in taken:
                    c += 1
                down, across = int(attrs.get("rowspan", 1)) - 1, int(attrs.get("colspan", 1)) - 1
                taken |= {(r + i, c + j) for i in range(down + 1) for j in range(across + 1)}
                if down or across:
                    merges.add((r, c, r + down, c + across))
                if text_:
                    values[(r, c)] = float(text_) if attrs.get("class") == "n" else text_
                c += across + 1
        out.append((values, merges))
    return out


def expected(grid: O.Grid, percent_as_text: bool) -> dict:
    """What a reader should find: every non-blank cell, illegal XML characters dropped, 执行率 as
    text in the XML/HTML exports."""
    out = {}
    for r, row in enumerate(grid.rows):
        for c, v in enumerate(row):
            if v is None:
                continue
            if isinstance(v, str):
                v = O._ILLEGAL.sub("", v)
                if v == "":
                    continue
            elif percent_as_text and (r, c) in grid.percent:
                v = O._percent_text(v)
            else:
                v = float(v)
            out[(r, c)] = v
    return out


def floats(values: dict) -> dict:
    return {k: float(v) if isinstance(v, (int, float)) else v for k, v in values.items()}


# A grid with everything a writer can get wrong: merges across, down and both, blanks between
# cells, a ragged row, markup, quotes, a formula-like text, a line break, a percent cell.
TRICKY = O.Grid(
    rows=[
        ["二〇二二年度项目支出绩效自评表（标题）", None, None, None],
        ["a<b & \"c\" 'd'", None, '=HYPERLINK("x")', 3],
        [None, None, "年初\n预算数", None, 89.974],
        [None, "#N/A", None, None, 0.8653],
        [],
        [None, None, None, "尾"],
    ],
    merges=[(0, 0, 0, 3), (1, 0, 3, 0), (2, 2, 3, 3)],
    percent={(3, 4)},
)
# (2, 2)-(3, 3) covers (2, 3), (3, 2) and (3, 3), all None; column 4 is outside every merge.


def test_tricky_grid_is_valid_for_the_checker():
    _, width, _ = O._cells(TRICKY)
    assert width == 5


# --- determinism and consistency ---------------------------------------------------------------


def test_same_seed_same_forms_and_grids_other_seed_other_forms():
    a, b = O.official_departments(8, seed=5, year=2022), O.official_departments(8, seed=5, year=2022)
    assert a == b
    assert [O.form_grid(d.form_b, d.variant) for d in a] == [O.form_grid(d.form_b, d.variant) for d in b]
    c = O.official_departments(8, seed=6, year=2022)
    assert [d.form_b for d in a] != [d.form_b for d in c]
    assert [d.code for d in a] == [d.code for d in c]  # codes and names depend on the index only


def test_same_seed_same_files(tmp_path):
    p = O.write_official_samples(tmp_path / "p", 8, seed=3)
    q = O.write_official_samples(tmp_path / "q", 8, seed=3)
    assert [x.name for x in p] == [y.name for y in q]
    for x, y in zip(p, q):
        if x.suffix == ".xls":
            assert x.read_bytes() == y.read_bytes()
        else:  # openpyxl stamps the time into docProps: compare what the sheets hold
            sx, sy = xlsx_sheets(x), xlsx_sheets(y)
            assert {k: v[:2] for k, v in sx.items()} == {k: v[:2] for k, v in sy.items()}


def test_codes_six_digits_unique_and_apart_from_template_samples():
    depts = O.official_departments(60, seed=1)
    codes = [d.code for d in depts]
    assert all(re.fullmatch(r"\d{6}", c) for c in codes) and len(set(codes)) == len(codes)
    assert len({d.name for d in depts}) == len(depts)
    template_codes = {M._unit_code(i) for i in range(M.MAX_INDEX + 1)}
    assert max(int(c) for c in template_codes) < O.CODE_BASE
    assert not template_codes & {O._unit_code(i) for i in (0, 1, 500, O.MAX_INDEX)}
    assert any("镇人民政府" in d.name for d in depts) and any(d.name.endswith("局") for d in depts)
    assert all(re.match(r".+[县区]", d.name) for d in depts)



@pytest.mark.parametrize("seed", [1, 2, 3])
def test_numbers_are_consistent(seed):
    for d in O.official_departments(12, seed=seed):
        assert 1 <= len(d.projects) <= 4
        for form in (d.form_b, *d.projects):
            rows = [r for r in form.indicators if r.points is not None]
            assert sum(r.points for r in rows) + form.total.points == 100
            assert form.total.points in (10, 20)
            assert all(0 <= r.score <= r.points for r in rows)
            assert all(r.reason for r in rows if r.score < r.points)  # a shortfall is explained
            assert form.score == pytest.approx(form.total.score + sum(r.score for r in rows), abs=1e-9)
        b = d.form_b
        assert b.total.budget == sum(t.budget for t in b.tasks) and b.total.spent == sum(t.spent for t in b.tasks)
        assert b.total.spent <= b.total.budget
        assert b.dept == f"{d.code}-{d.name}"
        for p in d.projects:
            budget, spent = sum(s.budget for s in p.sources), sum(s.spent for s in p.sources)
            assert spent <= budget
            assert [t.budget for t in b.tasks[1:]] == [sum(s.budget for s in q.sources) for q in d.projects]
            if p.total.budget:  # not the 池州 slip: the total is the sum of its sources
                assert (p.total.budget, p.total.spent) == (budget, spent)
                assert p.total.rate == pytest.approx(spent / budget, abs=5e-5)
                assert p.total.score == pytest.approx(min(spent / budget, 1) * p.total.points, abs=0.005)
            assert p.implementer == f"{d.code}-{d.name}"


def test_department_scores_the_way_departments_do():
    rows = [r for d in O.official_departments(30, seed=9) for f in (d.form_b, *d.projects) for r in f.indicators if r.points]
    met = [r for r in rows if r.score == r.points]
    missed = [r for r in rows if r.score < r.points]
    assert met and missed
    assert all(r.actual in ("达成预期指标", "效果明显") for r in met if r.target == "达成预期指标")
    for r in missed:
        if r.sign in ("≥", "") and r.unit in ("个", "%", "人", "次"):
            actual = float(re.match(r"[\d.]+", r.actual).group())
            assert r.score == pytest.approx(round(actual / float(r.value) * r.points, 2), abs=0.011)


def test_some_projects_under_execute():
    rates = [p.total.rate for d in O.official_departments(40, seed=1) for p in d.projects if p.total.budget]
    assert min(rates) < 0.9 and max(rates) <= 1


# --- the 池州 example ------------------------------------------------------------------------


def test_chizhou_form_a():
    f = O.chizhou_form_a()
    assert f.year == 2022
    assert f.implementer == "219001-池州市贵池区棠溪镇人民政府" and f.supervisor == "219-池州市贵池区棠溪镇人民政府"
    assert (f.total.budget, f.total.spent, f.total.rate, f.total.score) == (0, 0, 0, 0)
    assert [r.target for r in f.indicators if r.target][:2] == ["≥50个", "≥100百分比"]
    assert any(r.l3 == "指标2" and r.points is None for r in f.indicators)
    assert O.chizhou_form_a(2023).year == 2023


def _find(grid: O.Grid, text) -> tuple[int, int]:
    hits = [(r, c) for r, row in enumerate(grid.rows) for c, v in enumerate(row) if v == text]
    assert hits, f"{text!r} not in grid"
    return hits[0]


def test_zero_total_prints_zeros_above_the_real_source():
    g = O.form_grid(O.chizhou_form_a(), O.Variant(zero_total=True))
    r, c = _find(g, "年度资金总额")
    assert g.rows[r][3:9] == [0, 0, 0, 10, 0, 0]
    r2, _ = _find(g, "本年财政拨款")
    assert r2 == r + 1 and g.rows[r2][3:6] == [90, 89.974, 89.974]


def test_zero_total_on_a_generated_form_keeps_sources_and_loses_the_execution_score():
    form = O.official_departments(1, seed=4)[0].projects[0]
    slipped = O.apply_variant(form, O.Variant(zero_total=True))
    assert (slipped.total.initial, slipped.total.budget, slipped.total.spent, slipped.total.rate, slipped.total.score) == (0, 0, 0, 0, 0)
    assert slipped.sources == form.sources
    assert slipped.score == pytest.approx(form.score - form.total.score)
    assert O.apply_variant(slipped, O.Variant(zero_total=True)) == slipped  # idempotent


# --- layout and variants -------------------------------------------------------------------------

PLAIN = O.Variant()


@pytest.fixture(scope="module")
def forms():
    """A generated Form A and Form B without any content switch applied (department 0's preset
    only moves cells)."""
    d = O.official_departments(1, seed=2)[0]
    return d.projects[0], d.form_b


def test_default_layout_of_form_a():
    g = O.form_grid(O.chizhou_form_a(), PLAIN)
    assert g.rows[0][0] == "2022年度项目支出绩效自评表" and (0, 0, 0, 8) in g.merges
    assert g.rows[1][:2] == ["项目名称", "34170222R000000001137-农村人居环境整治"]
    assert g.rows[2][0] == "主管部门" and g.rows[2][4] == "实施单位" and g.rows[2][5].startswith("219001-")
    assert g.rows[3] == ["项目资金（万元）", None, None, "年初预算数", "全年预算数", "全年执行数", "分值", "执行率", "得分"]
    assert (3, 0, 7, 0) in g.merges  # the block label merged down its rows
    assert g.rows[5][1] == "本年财政拨款" and g.rows[5][6] == "—" and g.rows[5][8] == "—"
    assert g.rows[8][:2] == ["年度总体目标", "预期目标"] and g.rows[8][5] == "实际完成情况"
    assert g.rows[10] == ["绩效指标", "一级指标", "二级指标", "三级指标", "年度指标值", "实际完成值", "分值", "得分",
                          "偏差原因分析及改进措施"]
    assert g.rows[11][1:8] == ["产出指标", "数量指标", "整治自然村数量", "≥50个", "50个", 20, 20]
    assert g.rows[-1][0] == "总分" and g.rows[-1][6:8] == [100, 90] and (len(g.rows) - 1, 0, len(g.rows) - 1, 5) in g.merges
    assert (4, 7) in g.percent


def test_default_layout_of_form_b(forms):
    _, b = forms
    g = O.form_grid(b, PLAIN)
    assert g.rows[0][0] == f"{b.year}年度部门整体支出绩效自评表"
    assert g.rows[1][:2] == ["部门（单位）名称", b.dept]
    assert g.rows[2] == ["年度主要任务完成情况", "任务名称", "完成情况", None, "全年预算数", "全年执行数", "分值", "执行率",
                         "得分"]
    r = 3 + len(b.tasks)
    assert g.rows[r][1] == "金额合计" and g.rows[r][6] == 10 and g.rows[r][7] == b.total.rate and (r, 7) in g.percent
    assert g.rows[r][4] == b.total.budget / 10_000
    assert g.rows[r + 1][1:6:4] == ["年初设定目标", "年度总体目标完成情况综述"]
    assert g.rows[r + 3] == ["绩效指标", "一级指标", "二级指标", "三级指标", "分值", "年度指标值", "全年实际值", "得分",
                             "评价得分说明"]
    first = b.indicators[0]
    assert g.rows[r + 4][1:8] == [first.l1, first.l2, first.l3, first.points, first.target, first.actual, first.score]
    assert g.rows[-1][0] == "总分" and g.rows[-1][4] == 100 and g.rows[-1][7] == b.score


def test_merged_or_blank_below(forms):
    a, _ = forms
    merged, blank = O.form_grid(a, O.Variant(merged=True)), O.form_grid(a, O.Variant(merged=False))
    top = _find(merged, "一级指标")[0] + 1
    n_l1 = sum(1 for r in a.indicators if r.l1 == a.indicators[0].l1)
    assert (top, 1, top + n_l1 - 1, 1) in merged.merges
    assert not [m for m in blank.merges if m[1] in (1, 2) and m[0] >= top]
    assert blank.rows[top][1] == a.indicators[0].l1 and all(blank.rows[top + i][1] is None for i in range(1, n_l1))
    assert merged.rows == blank.rows  # only the merges differ


def test_wrapped_headers(forms):
    a, b = forms
    g = O.form_grid(a, O.Variant(wrapped_headers=True))
    r, _ = _find(g, "年初\n预算数")
    assert g.rows[r][3:6] == ["年初\n预算数", "全年\n预算数", "全年\n执行数"]
    assert "偏差原因分析\n及改进措施" in sum(g.rows, [])
    assert "全年\n实际值" in sum(O.form_grid(b, O.Variant(wrapped_headers=True)).rows, [])


def test_points_in_l1(forms):
    a, _ = forms
    g = O.form_grid(a, O.Variant(points_in_l1=True))
    labels = [v for row in g.rows for v in row if isinstance(v, str) and re.fullmatch(r".+指标\(\d+分\)", v)]
    assert labels == ["产出指标(50分)", "效益指标(30分)", "满意度指标(10分)"]


def test_yuan(forms):
    a, b = forms
    g = O.form_grid(a, O.Variant(yuan=True))
    assert g.rows[1][-1] == "单位：元" and g.rows[1][:-1] == [None] * 8
    r, _ = _find(g, "项目资金（元）")
    assert g.rows[r + 1][4:6] == [a.total.budget, a.total.spent]
    assert all(isinstance(v, int) for v in g.rows[r + 1][3:6])
    assert g.rows[2][0] == "项目名称" and O.form_grid(a, PLAIN).rows[1][0] == "项目名称"  # the note row moves everything down
    gb = O.form_grid(b, O.Variant(yuan=True))
    r, _ = _find(gb, "金额合计")
    assert gb.rows[r][4] == b.total.budget


def test_exec_points_20_moves_ten_points_from_the_indicators(forms):
    a, b = forms
    for form in (a, b):
        f20 = O.apply_variant(form, O.Variant(exec_points=20))
        assert f20.total.points == 20
        assert sum(r.points for r in f20.indicators if r.points is not None) == 80
        assert f20.total.score == pytest.approx(min(form.total.spent / form.total.budget, 1) * 20, abs=0.005)
        assert f20.score == pytest.approx(f20.total.score + sum(r.score for r in f20.indicators if r.score is not None))
    g = O.form_grid(a, O.Variant(exec_points=20))
    r, _ = _find(g, "年度资金总额")
    assert g.rows[r][6] == 20


def test_generated_exec_points_20_department():
    d = O.official_departments(4, seed=1)[3]
    assert d.variant.exec_points == 20
    assert all(f.total.points == 20 for f in (d.form_b, *d.projects))
    p = d.projects[0]
    assert [sum(r.points for r in p.indicators if r.l1 == l1) for l1 in ("产出指标", "效益指标", "满意度指标")] == [50, 20, 10]


def test_split_target_two_row_header_and_parts():
    g = O.form_grid(O.chizhou_form_a(), O.Variant(split_target=True))
    r, c = _find(g, "年度指标值")
    assert c == 4 and (r, 4, r, 6) in g.merges
    assert g.rows[r + 1][4:7] == ["指标性质", "指标值", "度量单位"]
    assert (r, 1, r + 1, 1) in g.merges and (r, 7, r + 1, 7) in g.merges  # other headers span both rows
    assert g.rows[r][7:11] == ["实际完成值", "分值", "得分", "偏差原因分析及改进措施"]
    assert g.rows[r + 2][4:8] == ["≥", 50, "个", "50个"]
    assert g.rows[r + 4][4:7] == ["≥", 100, "百分比"]
    assert ["定性", "达成预期指标", None] in [row[4:7] for row in g.rows]
    assert len(g.rows[0]) == 11  # the form widens; the funds figures stay in the last six columns
    rf, _ = _find(g, "年度资金总额")
    assert g.rows[rf - 1][5:] == ["年初预算数", "全年预算数", "全年执行数", "分值", "执行率", "得分"]


def test_split_target_prints_fe66_for_equality_sometimes():
    d = O.official_departments(1, seed=1)[0]
    rows = tuple(O.Indicator("产出指标", "质量指标", f"合格率{i}", "=", "100", "%", "100%", 10, 10) for i in range(4))
    g = O.form_grid(replace(d.projects[0], indicators=rows), O.Variant(split_target=True))
    signs = {row[4] for row in g.rows if isinstance(row[3], str) and row[3].startswith("合格率")}
    assert signs == {"﹦", "="} and "\ufe66" in signs


def test_split_target_in_form_b_keeps_points_before_the_target(forms):
    _, b = forms
    g = O.form_grid(b, O.Variant(split_target=True))
    r, c = _find(g, "年度指标值")
    assert g.rows[r][4] == "分值" and c == 5 and g.rows[r + 1][5:8] == ["指标性质", "指标值", "度量单位"]
    assert g.rows[r][8:11] == ["全年实际值", "得分", "评价得分说明"]


def test_placeholder_rows(forms):
    a, _ = forms
    g = O.form_grid(a, O.Variant(placeholder=True))
    r, _ = _find(g, "指标2")
    assert g.rows[r][4:9] == [None] * 5  # no target, actual, 分值, 得分
    l2_only = [row for row in g.rows if row[2] and row[3] is None and row[2].endswith("指标") and row[0] is None and row[6] is None]
    assert l2_only, "a 二级 label without 三级"
    assert O.apply_variant(O.apply_variant(a, O.Variant(placeholder=True)), O.Variant(placeholder=True)).indicators == \
        O.apply_variant(a, O.Variant(placeholder=True)).indicators


def test_heji_footer_and_title_year(forms):
    a, b = forms
    g = O.form_grid(a, O.Variant(heji=True, footer=True, title_year_next_row=True))
    assert g.rows[0][0] == "项目支出绩效自评表" and g.rows[1][0] == f"（{a.year}年度）"
    r, _ = _find(g, "合计")
    assert "总分" not in sum(g.rows, [])
    assert g.rows[r + 1][0] == f"填表人：{a.filled_by}" and g.rows[r + 1][5] == f"联系电话：{a.phone}"
    assert g.rows[r + 2][0] == f"填报日期：{a.filled_on}" and len(g.rows) == r + 3
    gb = O.form_grid(b, O.Variant(title_year_next_row=True))
    assert gb.rows[:2] == [["部门整体支出绩效自评表"] + [None] * 8, [f"（{b.year}年度）"] + [None] * 8]


def test_form_a_and_form_b_indicator_columns_differ(forms):
    a, b = forms
    ga, gb = O.form_grid(a), O.form_grid(b)
    ra, rb = _find(ga, "一级指标")[0], _find(gb, "一级指标")[0]
    assert ga.rows[ra][4] == "年度指标值" and gb.rows[rb][4] == "分值"


def test_stack_places_forms_under_each_other(forms):
    a, _ = forms
    g1, g2 = O.form_grid(a), O.form_grid(O.chizhou_form_a(), O.CHIZHOU_VARIANT)
    s = O.stack([g1, g2], gap=2)
    off = len(g1.rows) + 2
    assert s.rows[off][0] == "项目支出绩效自评表" and s.rows[off - 1] == [] and s.rows[off - 2] == []
    assert set(s.merges) == set(g1.merges) | {(r0 + off, c0, r1 + off, c1) for r0, c0, r1, c1 in g2.merges}
    assert s.percent == g1.percent | {(r + off, c) for r, c in g2.percent}


# --- writers ---------------------------------------------------------------------------------------


def test_xlsx_round_trip(tmp_path):
    path = O.write_xlsx({"表一": TRICKY, "表二": O.form_grid(O.chizhou_form_a(), O.Variant(wrapped_headers=True))}, tmp_path / "t.xlsx",
                        instructions=True)
    assert path.read_bytes()[:2] == b"PK"
    sheets = xlsx_sheets(path)
    assert list(sheets) == ["表一", "表二", "说明"]
    values, merges, ws = sheets["表一"]
    assert floats(values) == expected(TRICKY, percent_as_text=False)
    assert merges == set(TRICKY.merges)
    assert ws["C2"].value == '=HYPERLINK("x")' and ws["C2"].data_type == "s"
    assert ws["B4"].value == "#N/A" and ws["B4"].data_type == "s"
    assert ws["E4"].number_format == "0.00%"
    assert ws["C3"].alignment.wrap_text
    assert ws.column_dimensions["A"].width == 15  # from A2's 13 characters; the wider title merged across counts not
    _, _, ws2 = sheets["表二"]
    assert ws2["D4"].value == "年初\n预算数" and ws2["D4"].alignment.wrap_text
    wb = openpyxl.load_workbook(path)
    assert wb["说明"].sheet_state == "hidden" and wb["表一"].sheet_state == "visible"


def test_spreadsheetml_round_trip(tmp_path):
    path = O.write_spreadsheetml({"表<一>": TRICKY}, tmp_path / "t.xls")
    raw = path.read_bytes()
    assert raw.startswith(b'<?xml version="1.0"?>\n<?mso-application progid="Excel.Sheet"?>')
    assert b"<Styles>" in raw and b'xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"' in raw
    values, merges = ssml_sheets(path)["表<一>"]
    assert values == expected(TRICKY, percent_as_text=True)
    assert values[(3, 4)] == "86.53%"
    assert merges == set(TRICKY.merges)
    assert 'ss:Index="6"' in raw.decode()  # the row after the blank one says where it is
    assert '<Data ss:Type="String">=HYPERLINK(&quot;x&quot;)</Data>' in raw.decode()
    assert "年初&#10;预算数" in raw.decode()


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_html_round_trip(tmp_path, encoding):
    path = O.write_html({"表一": TRICKY, "表二": O.form_grid(O.chizhou_form_a(), O.CHIZHOU_VARIANT)}, tmp_path / "t.xls", encoding=encoding)
    raw = path.read_bytes()
    assert raw.startswith(b"<html")
    assert f'<meta charset="{encoding}">'.encode() in raw
    text = raw.decode(encoding)
    assert text.count("<table border=1") == 2
    (v1, m1), (v2, m2) = html_tables(text)
    assert v1 == expected(TRICKY, percent_as_text=True) and m1 == set(TRICKY.merges)
    chizhou = O.form_grid(O.chizhou_form_a(), O.CHIZHOU_VARIANT)
    assert v2 == expected(chizhou, percent_as_text=True) and m2 == set(chizhou.merges)
    assert "﹦" not in text or encoding == "utf-8" or "&#" not in text  # GBK has U+FE66


def test_html_gbk_bytes_are_gbk(tmp_path):
    g = O.Grid(rows=[["≥50个", "﹦", "😀"]])
    raw = O.write_html({"s": g}, tmp_path / "g.xls", encoding="gbk").read_bytes()
    assert "≥50个".encode("gbk") in raw and "﹦".encode("gbk") in raw
    assert b"&#128512;" in raw  # what GBK cannot hold becomes a character reference
    (values, _), = html_tables(raw.decode("gbk"))
    assert values == {(0, 0): "≥50个", (0, 1): "﹦", (0, 2): "😀"}


def test_writers_refuse_overlapping_merges_and_values_under_merges(tmp_path):
    with pytest.raises(ValueError, match="重叠"):
        O.write_spreadsheetml({"s": O.Grid(rows=[[1, None], [None, None]], merges=[(0, 0, 1, 1), (1, 1, 1, 1)])}, tmp_path / "a.xls")
    with pytest.raises(ValueError, match="重叠"):  # the second merge covers the first one's top-left cell
        O.write_xlsx({"s": O.Grid(rows=[[1, None, None]] * 3, merges=[(1, 1, 2, 2), (0, 0, 1, 1)])}, tmp_path / "d.xlsx")
    with pytest.raises(ValueError, match="合并区域内"):
        O.write_html({"s": O.Grid(rows=[[1, 2]], merges=[(0, 0, 0, 1)])}, tmp_path / "b.xls")
    with pytest.raises(ValueError, match="有限"):
        O.write_xlsx({"s": O.Grid(rows=[[float("nan")]])}, tmp_path / "c.xlsx")


# Any grid: random values (numbers, texts with markup and control characters) and random
# non-overlapping merges, through the two text formats and back.
_text = st.text(alphabet=st.sampled_from(list("ab<>&\"'=#%\n\r\x01\t 年≥﹦—")), min_size=0, max_size=6)
_value = st.one_of(st.none(), st.integers(-10**6, 10**6), st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: round(x, 3)), _text)


@st.composite
def grids(draw):
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    rows = [[draw(_value) for _ in range(w)] for _ in range(h)]
    merges, used = [], set()
    for _ in range(draw(st.integers(0, 4))):
        r0, c0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        r1, c1 = draw(st.integers(r0, h - 1)), draw(st.integers(c0, w - 1))
        span = {(r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)}
        if len(span) > 1 and not span & used:
            used |= span
            merges.append((r0, c0, r1, c1))
            for r, c in span - {(r0, c0)}:
                rows[r][c] = None
    return O.Grid(rows=rows, merges=merges)


def _normal(values: dict) -> dict:
    """HTML and XML normalise \\r\\n and \\r to \\n; compare in that form."""
    return {k: v.replace("\r\n", "\n").replace("\r", "\n") if isinstance(v, str) else v for k, v in values.items()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(grid=grids())
def test_any_grid_round_trips_through_xml_and_html(tmp_path, grid):
    want = expected(grid, percent_as_text=True)
    values, merges = ssml_sheets(O.write_spreadsheetml({"s": grid}, tmp_path / "h.xls"))["s"]
    assert values == want and merges == set(grid.merges)
    (values, merges), = html_tables(O.write_html({"s": grid}, tmp_path / "h.html").read_text("utf-8"))
    assert _normal(values) == _normal(want) and merges == set(grid.merges)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(grid=grids())
def test_any_grid_round_trips_through_xlsx(tmp_path, grid):
    values, merges, _ = xlsx_sheets(O.write_xlsx({"s": grid}, tmp_path / "h.xlsx"))["s"]
    assert _normal(floats(values)) == _normal(expected(grid, percent_as_text=False)) and merges == set(grid.merges)


# --- files and the command line ------------------------------------------------------------------


def _kind(path) -> str:
    head = path.read_bytes()[:64]
    if head.startswith(b"PK"):
        return "xlsx"
    if head.startswith(b"<?xml"):
        return "spreadsheetml"
    if head.lstrip().lower().startswith((b"<html", b"<!doctype")):
        return "html"
    return "?"


def test_write_official_samples_covers_every_format_packaging_and_switch(tmp_path):
    paths = O.write_official_samples(tmp_path, 4, seed=1)
    assert paths[0].name == O.CHIZHOU_FILE_NAME
    assert {_kind(p) for p in paths} == {"xlsx", "spreadsheetml", "html"}
    assert all(p.suffix == ".xls" for p in paths if _kind(p) != "xlsx")
    depts = O.official_departments(4, seed=1)
    assert {d.packaging for d in depts} == set(O.PACKAGINGS)
    used = [d.variant for d in depts] + [O.CHIZHOU_VARIANT]
    for switch in ("merged", "wrapped_headers", "points_in_l1", "yuan", "split_target", "zero_total", "placeholder", "heji", "footer",
                   "title_year_next_row"):
        assert any(getattr(v, switch) for v in used), switch
    assert any(v.exec_points == 20 for v in used)
    assert any(p.total.budget == 0 and p.sources[0].budget for d in depts for p in d.projects)  # a generated slip too
    # Budget-system exports stack several Form A on one sheet.
    xml = next(p for p in paths if _kind(p) == "spreadsheetml")
    d = next(d for d in depts if d.packaging == "spreadsheetml")
    values, _ = ssml_sheets(xml)["项目支出"]
    titles = [v for v in values.values() if isinstance(v, str) and v.endswith("项目支出绩效自评表")]
    assert len(titles) == len(d.projects)


def test_workbook_packaging_has_form_b_then_each_form_a(tmp_path):
    d = next(d for d in O.official_departments(8, seed=1) if d.packaging == "workbook")
    (path,) = O.write_official_department(tmp_path, d)
    names = list(xlsx_sheets(path))
    assert names[0] == "部门整体支出绩效自评表"
    assert [n for n in names if n.startswith("项目")] == [n for n in names[1:1 + len(d.projects)]]
    assert len([n for n in names if n.startswith("项目")]) == len(d.projects)


cli = CliRunner()


def test_cli_sample_official_writes_all_three_formats(tmp_path):
    r = cli.invoke(app, ["sample", "-o", str(tmp_path), "--count", "4", "--layout", "official"])
    assert r.exit_code == 0, r.output
    files = sorted(tmp_path.iterdir())
    assert {_kind(p) for p in files} == {"xlsx", "spreadsheetml", "html"}
    assert not (tmp_path / M.REFERENCE_FILE_NAME).exists()
    assert f"已生成 {len(files)} 个样例文件" in r.output


def test_cli_sample_mixed_splits_the_count(tmp_path):
    r = cli.invoke(app, ["sample", "-o", str(tmp_path), "--count", "8", "--layout", "mixed", "--seed", "2"])
    assert r.exit_code == 0, r.output
    template = [p for p in tmp_path.iterdir() if re.fullmatch(r"\d{6}_[^_]+\.xlsx", p.name) and not p.name.startswith("72")]
    assert len(template) == 1 + 4  # the reference case plus half the count
    official_codes = {p.name[:6] for p in tmp_path.iterdir() if p.name.startswith("72")}
    assert official_codes == {O._unit_code(i) for i in range(4)}


def test_cli_sample_default_is_unchanged(tmp_path):
    r = cli.invoke(app, ["sample", "-o", str(tmp_path), "--count", "2"])
    assert r.exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(M.file_name(d) for d in M.sample_departments(2))


def test_cli_sample_bad_layout_is_a_chinese_usage_error(tmp_path):
    r = cli.invoke(app, ["sample", "-o", str(tmp_path), "--layout", "fancy"])
    assert r.exit_code == 2
    assert "--layout 的值无效" in r.output and "template、official 或 mixed" in r.output
    assert "--layout" in cli.invoke(app, ["sample", "--help"]).output
