"""Issue 20, the reviewer (抽评): what first use still finds in the draw and its workbooks."""

from __future__ import annotations

import pytest
from test_review import demo  # noqa: F401  (the 20-department run the draw tests use)

from evalbatch.rules import load_rules

RULES = load_rules()


# --- 15. --share sets the size of the draw ---------------------------------------------------

def _projects_of_run(out):
    from test_review import sheet

    return [p for p in sheet(out / "绩效自评汇总_2021.xlsx", "项目汇总") if p["项目编码"]]


def test_share_bounds_the_whole_draw_must_draws_first(demo, tmp_path):  # noqa: F811
    import sqlite3

    from test_review import copy_out

    from evalbatch.review.draw import DrawParams, draw, draw_size

    out = copy_out(demo, tmp_path)
    n = len(_projects_of_run(out))
    everything = draw(out, DrawParams(2021, 0.2, seed=1, must_draw="all"), RULES, dry_run=True)
    must = int(everything.items["reasons"].str.startswith("必抽").sum())
    budget = draw_size(n, 0.2)
    assert must > budget  # the demo's must-draws alone exceed 20 %: the case of the issue
    bounded = draw(out, DrawParams(2021, 0.2, seed=1), RULES)
    assert len(bounded.items) == budget
    assert bounded.items["reasons"].str.startswith("必抽").all()
    assert bounded.notes[0].startswith(f"必抽 {must} 个，超出份额 {must - budget} 个未抽，见：")
    # the most severe are the ones kept: none left out has more reasons than one drawn
    n_reasons = everything.items.set_index("project_code")["reasons"].str.count("；")
    kept = set(bounded.items["project_code"])
    assert n_reasons[list(kept)].min() >= n_reasons.drop(list(kept)).max()
    with sqlite3.connect(out / "evalbatch.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM review_items").fetchone()[0] == budget


def test_small_share_with_few_must_draws_is_filled_at_random(demo, tmp_path):  # noqa: F811
    from test_review import copy_out

    from evalbatch.review.draw import DrawParams, draw, draw_size

    out = copy_out(demo, tmp_path)
    n = len(_projects_of_run(out))
    got = draw(out, DrawParams(2021, 0.9, seed=1), RULES, dry_run=True)
    assert len(got.items) == draw_size(n, 0.9) and got.notes == []
    assert got.items["reasons"].eq("随机抽取").any()


def test_dry_run_prints_counts_by_reason_and_writes_nothing(demo, tmp_path):  # noqa: F811
    import sqlite3

    from test_review import copy_out, evalbatch

    out = copy_out(demo, tmp_path)
    r = evalbatch("review", "draw", out, "--year", 2021, "--share", "20%", "--seed", 1, "--dry-run", "--must-draw", "all")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("试抽（依据第 1 次运行，随机种子 1，未记录、未生成抽评表）：")
    reasons = {line.strip().split("：")[0] for line in lines[1:]}
    assert {"绩效与预算执行不匹配", "得分差异过大", "随机抽取"} <= reasons
    assert not (out / "抽评").exists()
    with sqlite3.connect(out / "evalbatch.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM review_draws").fetchone()[0] == 0
    bad = evalbatch("review", "draw", out, "--year", 2021, "--must-draw", "some")
    assert bad.returncode == 2 and "--must-draw 只能是 share 或 all" in bad.stderr


# --- 16. one cell completes an object whose other indicators are as submitted ---------------

def test_rest_verified_completes_an_object(demo, tmp_path):  # noqa: F811
    import openpyxl
    from test_review import column, copy_out, evalbatch, fill, grade_item, rows_of, sheet

    from evalbatch.review.draw import DrawParams, draw

    out = copy_out(demo, tmp_path)
    items = draw(out, DrawParams(2021, 0.2, seed=1), RULES).items
    first, second = items.iloc[0], items.iloc[1]
    assert first["workbook"] == second["workbook"] and first["n_indicators"] > 1
    path = out / "抽评" / first["workbook"]
    wb = openpyxl.load_workbook(path)
    for item, rest in ((first, "是"), (second, "否")):
        grade_item(wb["抽评项目"], item["item_no"], [15, 15, 15, 15, 15, 15, 10])
        (row,) = rows_of(wb["抽评项目"], item["item_no"])
        fill(wb["抽评项目"], row, "其余指标核实无误", rest)
        fill(wb["抽评指标"], rows_of(wb["抽评指标"], item["item_no"])[0], "抽评意见", "已核实")
        fill(wb["抽评指标"], rows_of(wb["抽评指标"], item["item_no"])[0], "抽评得分", 0)
    wb.save(path)
    changed = sum(column(wb["抽评指标"], rows_of(wb["抽评指标"], item["item_no"])[0], "复核得分") > 0 for item in (first, second))
    ran = evalbatch("run", demo.src, "--out", out, "--year", 2021, "--settle", 0)
    assert ran.returncode == 0, ran.stderr
    # 18: the console says what the run took from the review workbooks
    assert f"抽评：读取 1 个抽评表，{len(items)} 个抽评对象中 1 个已完成，调整 {changed} 项指标得分" in ran.stdout
    results = {r["抽评编号"]: r for r in sheet(out / "绩效自评汇总_2021.xlsx", "抽评结果")}
    done, open_ = results[first["item_no"]], results[second["item_no"]]
    assert (done["是否完成"], done["已抽评指标"]) == ("是", f"1/{first['n_indicators']}")
    assert "未填写抽评得分" not in (done["说明"] or "")
    assert open_["是否完成"] == "否"
    assert f"尚有 {second['n_indicators'] - 1} 项指标未填写抽评得分或核实完成值" in open_["说明"]


def test_counts_by_reason_group_kinds_of_reason():
    import pandas as pd

    from evalbatch.review.draw import counts_by_reason

    items = pd.DataFrame({"item_no": ["001", "002", "003"], "n_indicators": [3, 4, 5],
                          "reasons": ["必抽：有 1 个项目须抽评", "必抽：有 2 个项目须抽评；得分差异 +6.00 分，绝对值超过 5 分", "随机抽取"]})
    assert counts_by_reason(items) == [("有项目须抽评", 2, 7), ("得分差异过大", 1, 4), ("随机抽取", 1, 5)]


# --- 17. project reviews seen at unit level ---------------------------------------------------

def test_a_reviewed_project_shows_in_changes_and_in_the_ranking(demo, tmp_path):  # noqa: F811
    import openpyxl
    from test_review import copy_out, evalbatch, expected_project, grade_item, score_all, sheet

    from evalbatch.review.draw import DrawParams, draw
    from evalbatch.values import round_half_up

    out = copy_out(demo, tmp_path)
    book = out / "绩效自评汇总_2021.xlsx"
    before = {p["项目编码"]: p for p in sheet(book, "项目汇总") if p["项目编码"]}
    items = draw(out, DrawParams(2021, 0.05, seed=3), RULES).items
    item = items[items["kind"] == "项目"].iloc[0]
    path = out / "抽评" / item["workbook"]
    wb = openpyxl.load_workbook(path)
    given = score_all(wb["抽评指标"], item["item_no"], lambda w: float(round_half_up(w / 2, 2)))  # every indicator at half
    grade_item(wb["抽评项目"], item["item_no"], [15, 15, 15, 15, 15, 15, 10])
    wb.save(path)
    was = before[item["project_code"]]
    now = expected_project(was, given)
    assert now < was["复核得分"] == was["最终得分"]
    ran = evalbatch("run", demo.src, "--out", out, "--year", 2021, "--settle", 0)
    assert ran.returncode == 0, ran.stderr

    rows = list(openpyxl.load_workbook(book)["变动情况"].iter_rows(values_only=True))
    assert rows[0][0] == "与上次运行相比的变动：没有单位的得分或文件发生变化（项目抽评的变动见下表）"
    at = next(i for i, r in enumerate(rows) if r[0] == "项目抽评变动（1 个项目）")
    head = rows[at + 1][:9]
    assert head == ("单位编码", "单位名称", "项目编码", "项目名称", "复核得分", "原最终得分", "新最终得分", "差异", "说明")
    assert rows[at + 2][:9] == (item["dept_code"], was["单位名称"], item["project_code"], was["项目名称"], was["复核得分"],
                                was["最终得分"], now, float(round_half_up(now - was["最终得分"], 2)),
                                f"首次抽评：复核得分 {was['复核得分']:.2f} → 抽评得分 {now:.2f}")
    assert rows[at + 3][0] is None  # one project

    ranking = sheet(book, "汇总排名")
    unit = next(r for r in ranking if r["单位编码"] == item["dept_code"])
    assert (unit["抽评项目数"], unit["项目抽评平均变化"]) == (1, float(round_half_up(now - was["复核得分"], 2)))
    others = [r for r in ranking if r["单位编码"] and r["单位编码"] != item["dept_code"]]
    assert others and all(r["抽评项目数"] is None and r["项目抽评平均变化"] is None for r in others)
    total = next(r for r in ranking if str(r["单位名称"]).startswith("合计"))
    assert total["抽评项目数"] == 1


# --- 18. the review workbook prints well; 复核日期 is a date -----------------------------------

def _drawn(demo, tmp_path):  # noqa: F811
    from test_review import copy_out

    from evalbatch.review.draw import DrawParams, draw

    out = copy_out(demo, tmp_path)
    items = draw(out, DrawParams(2021, 0.2, seed=1), RULES).items
    return out, items, out / "抽评" / items.iloc[0]["workbook"]


def test_review_workbook_prints_like_the_others(demo, tmp_path):  # noqa: F811
    import openpyxl

    from evalbatch.review.layout import MARK_COLUMNS, item_columns
    from evalbatch.write import printing

    _, _, path = _drawn(demo, tmp_path)
    wb = openpyxl.load_workbook(path)
    title = "预算绩效自评抽评表（2021 年度，复核组 1）"
    for ws in wb:
        assert ws.oddHeader.center.text == "&B" + title and ws.oddFooter.left.text == "&A" and "&P" in ws.oddFooter.right.text, ws.title
    guide = wb["填写说明"]
    ps = guide.page_setup
    # on one page, whole: one page wide and one high, each wrapped line given the height it needs
    assert (guide.sheet_properties.pageSetUpPr.fitToPage, ps.fitToWidth or 1, ps.fitToHeight or 1, guide.print_title_rows) == (True, 1, 1, None)
    for row in guide.iter_rows(min_col=2, max_col=2):
        text = row[0].value or ""
        if printing.text_lines(text, 100) > 1:
            assert guide.row_dimensions[row[0].row].height == pytest.approx(printing.row_height(text, 100), abs=0.75)
            assert row[0].alignment.wrap_text
    assert any(printing.text_lines(c.value or "", 100) > 2 for (c,) in guide.iter_rows(min_col=2, max_col=2))
    for name, cols in (("抽评项目", item_columns(RULES.rubric)), ("抽评指标", MARK_COLUMNS)):
        ws = wb[name]
        widths = [ws.column_dimensions[openpyxl.utils.get_column_letter(i + 1)].width for i in range(len(cols))]
        page = printing.choose_page(widths)
        ps = ws.page_setup
        assert (int(ps.paperSize), ps.orientation, ws.sheet_properties.pageSetUpPr.fitToPage, ps.fitToWidth or 1, ps.fitToHeight,
                ws.print_title_rows) == (page.paper, "landscape" if page.landscape else "portrait", True, 1, 0, "$1:$1"), name
    assert int(wb["抽评项目"].page_setup.paperSize) == printing.A3  # its 24 columns are not squeezed onto A4


@pytest.mark.libreoffice
def test_review_instructions_print_on_one_page(demo, tmp_path):  # noqa: F811
    from faults import have_libreoffice
    from pdfpages import page_count, render_pdf, sheet_alone

    if not have_libreoffice():
        pytest.skip("LibreOffice (soffice) is not installed")
    _, _, path = _drawn(demo, tmp_path)
    assert page_count(render_pdf(sheet_alone(path, "填写说明", tmp_path / "guide.xlsx"), tmp_path / "pdf")) == 1


def test_review_date_is_validated_in_the_workbook_and_on_reading(demo, tmp_path):  # noqa: F811
    import datetime as dt

    import openpyxl
    from test_review import evalbatch, fill, grade_item, rows_of, sheet

    out, items, path = _drawn(demo, tmp_path)
    wb = openpyxl.load_workbook(path)
    ws = wb["抽评项目"]
    head = [c.value for c in ws[1]]
    letter = openpyxl.utils.get_column_letter(head.index("复核日期") + 1)
    n = len(items[items["workbook"] == path.name])
    (dv,) = [v for v in ws.data_validations.dataValidation if str(v.sqref) == f"{letter}2:{letter}{n + 1}"]
    # between (the file's default operator, left out) 2000-01-01 and 2099-12-31, as Excel's serial numbers
    assert (dv.type, dv.operator, dv.formula1, dv.formula2, dv.showErrorMessage) == ("date", None, "36526", "73050", True)
    assert ws[f"{letter}2"].number_format == "yyyy-mm-dd" and ws[f"{letter}2"].protection.locked is False
    first, second, third = items["item_no"].iloc[:3]
    for item, date in ((first, "下周一"), (second, "2022/3/5"), (third, dt.datetime(2022, 3, 7))):
        grade_item(ws, item, [15, 15, 15, 15, 15, 15, 10])
        fill(ws, rows_of(ws, item)[0], "复核日期", date)
    wb.save(path)
    ran = evalbatch("run", demo.src, "--out", out, "--year", 2021, "--settle", 0)
    assert ran.returncode == 0, ran.stderr
    book = out / "绩效自评汇总_2021.xlsx"
    found = [(r["级别"], r["文件"], r["工作表"], r["单元格"], r["说明"]) for r in sheet(book, "审核问题") if r["规则编号"] == "review.date_invalid"]
    assert found == [("警告", f"抽评/{path.name}", "抽评项目", f"{letter}{rows_of(ws, first)[0]}",
                      f"抽评编号“{first}”的复核日期“下周一”不是日期；抽评内容照常采用，请改为如 2022-03-01 的日期")]
    dates = {r["抽评编号"]: r["复核日期"] for r in sheet(book, "抽评结果")}
    assert (dates[first], dates[second], dates[third]) == ("下周一", "2022-03-05", "2022-03-07")
