"""部门整体 forms beyond Form B (issue 17, point 5), each on a realistic grid read end to end.

- income and spending printed side by side as two lists (收入 | 预算数 | 执行数 | 支出 | 预算数 |
  执行数): execution is the spending list's, the income list is the sources;
- 预算执行率 printed as an indicator row, with no funds block at all;
- columns the reader has no field for (得分系数, 是否核心指标, 评分标准, 指标赋分规则, 佐证资料):
  known, never taken for a field, and not reported as unknown;
- an indicator table with one name column (指标名称, no 一级/二级), a single amounts row under
  the funds header with no label of its own, and the self total printed in the header area
  (重庆's 部门整体绩效自评表 has all three).

Every figure expected is worked out in the comments.
"""

from __future__ import annotations

import pytest

from evalbatch.judge.evaluate import check_paths
from evalbatch.layouts import locate, wanted_sheet
from evalbatch.read import load
from evalbatch.read.reader import open_workbook
from evalbatch.rules import load_rules
from evalbatch.samples.official import Grid, write_xlsx

RULES = load_rules()


@pytest.fixture(autouse=True)
def _in_process(monkeypatch):
    monkeypatch.setattr(load, "IN_PROCESS", True)  # the same reader, without a worker per test


def _read(grid: Grid, tmp_path, year=2022):
    return check_paths([write_xlsx({"部门整体": grid}, tmp_path / "部门整体.xlsx")], RULES, year=year)


def _located(grid: Grid, tmp_path):
    """What the reader finds in the file, before any checking: values and their cells."""
    path = write_xlsx({"部门整体": grid}, tmp_path / "located.xlsx")
    return locate(open_workbook(path.read_bytes(), RULES, wanted_sheet, name=path.name), path.name, RULES)


def _found(r, *rule_ids):
    f = r.findings[r.findings["rule_id"].isin(rule_ids)]
    return list(zip(f["rule_id"], f["level"], f["cell"]))


def _indicators(r):
    ind = r.indicators.sort_values("row")
    return [tuple(x) for x in ind[["l3", "weight", "self_score", "score"]].itertuples(index=False)]


# --- a task list before the department's execution block (四川) ---------------------------------

def sichuan_tasks_then_execution() -> Grid:
    """四川's 部门整体 layout: 年度主要任务 (任务名称 | 主要内容 | 预算数 | 执行数, no 合计) above the
    block of the whole department's execution (年初预算数 | 全年预算数 | 全年执行数 | 执行率 | 权重 | 得分)
    whose amounts row has no label of its own, under a heading merged down over it."""
    N = None
    rows = [
        ["部门（单位）整体支出绩效自评表"] + [N] * 10,
        ["（2023年度）"] + [N] * 10,
        ["部门（单位）名称", "511402-眉山市某某局（本级）"] + [N] * 9,
        ["年度主要任务", "任务名称", N, "主要内容", N, N, N, "预算数（万元）", N, "执行数（万元）", N],
        [N, "人员经费保障", N, "保障在职人员工资福利按时足额发放", N, N, N, 500, N, 498, N],
        [N, "日常运转", N, "保障机关正常运转", N, N, N, 100, N, 95, N],
        [N, "业务工作", N, "完成年度重点业务工作", N, N, N, 350, N, 280, N],
        ["年度部门整体支出预算执行情况（万元）", "年初预算数", N, "全年预算数", N, "全年执行数", N, "执行率", "权重", "得分", N],
        [N, 900, N, 950, N, 873, N, "91.89%", 10, 9.19, N],
        ["年度总体目标", "预期目标", N, N, N, N, "实际完成情况", N, N, N, N],
        [N, "保障机构正常运转，完成年度重点工作", N, N, N, N, "已完成", N, N, N, N],
        ["绩效指标", "一级指标", "二级指标", "三级指标", "指标性质", "指标值", "度量单位", "完成值", "权重", "得分", "未完成原因分析"],
        [N, "产出指标", "数量指标", "保障在职人数", "≥", 45, "人", 45, 20, 20, N],
        [N, N, "质量指标", "工资发放准确率", "=", 100, "%", 100, 20, 20, N],
        [N, N, "时效指标", "重点工作完成时限", "≤", "2023年12月31日", N, "2023年12月20日", 10, 10, N],
        [N, N, "成本指标", "“三公”经费", "≤", 12, "万元", 10.5, 10, 10, N],
        [N, "效益指标", "社会效益指标", "政务服务水平", "定性", "有效提升", N, "有效提升", 15, 14, "个别事项办理时限偏长"],
        [N, "满意度指标", "服务对象满意度指标", "群众满意度", "≥", 90, "%", 93, 15, 15, N],
        ["合计", N, N, N, N, N, N, N, 100, 98.19, N],
    ]
    merges = [(0, 0, 0, 10), (1, 0, 1, 10), (2, 1, 2, 10), (3, 0, 6, 0), (3, 1, 3, 2), (3, 3, 3, 6), (3, 7, 3, 8), (3, 9, 3, 10),
              (4, 1, 4, 2), (4, 3, 4, 6), (4, 7, 4, 8), (4, 9, 4, 10), (5, 1, 5, 2), (5, 3, 5, 6), (5, 7, 5, 8), (5, 9, 5, 10),
              (6, 1, 6, 2), (6, 3, 6, 6), (6, 7, 6, 8), (6, 9, 6, 10), (7, 0, 8, 0), (7, 1, 7, 2), (7, 3, 7, 4), (7, 5, 7, 6),
              (8, 1, 8, 2), (8, 3, 8, 4), (8, 5, 8, 6), (9, 0, 10, 0), (9, 1, 9, 5), (9, 6, 9, 10), (10, 1, 10, 5), (10, 6, 10, 10),
              (11, 0, 17, 0), (12, 1, 15, 1), (18, 0, 18, 7)]
    return Grid(rows, merges)


def test_a_task_list_without_total_gives_way_to_the_execution_block(tmp_path):
    """The tasks (850 / 873) were taken for the funds: three rows and no total, so execution
    could not be computed and the whole form was 未能复核. The execution block below is the
    funds: 873 / 950 = 91.89 % of 10 → 9.19; indicators 90 (政务服务水平 有效提升 against 有效提升
    met: 15, not the self 14): total 99.19."""
    r = _read(sichuan_tasks_then_execution(), tmp_path, year=2023)
    d = r.depts.iloc[0]
    assert (d["dept_code"], d["budget_total"], d["spent_total"], d["read_status"]) == ("511402", 950, 873, "")
    assert (d["total"], d["self_total"]) == (99.19, 98.19)
    assert _indicators(r)[0] == ("预算执行率", 10, 9.19, 9.19)
    assert _found(r, "result.unreviewed") == []


# --- income and spending side by side ---------------------------------------------------------

def side_by_side() -> Grid:
    """Income received in full (500 of 500) but 475 of 500 spent: execution is 475 / 500 = 95 %
    → 9.50 of 10, from the spending list; reading the income list would give 100 % and 10."""
    rows = [
        ["2022年度部门整体支出绩效自评表"] + [None] * 7,
        ["部门（单位）名称", "620301-临洮县文化馆"] + [None] * 6,
        ["预算执行情况（万元）（10分）"] + [None] * 7,
        ["收入项目", "全年预算数", "全年执行数", "支出项目", "全年预算数", "全年执行数", "执行率", "得分"],
        ["财政拨款收入", 480, 480, "基本支出", 300, 296, None, None],
        ["其他收入", 20, 20, "项目支出", 200, 179, None, None],
        ["收入合计", 500, 500, "支出合计", 500, 475, "95%", 9.5],
        ["一级指标", "二级指标", "三级指标", "年度指标值", "实际完成值", "分值", "得分", "偏差原因分析及改进措施"],
        # 12 / 10 → 45 of 45; 92 % of ≥ 90 % → 45 of 45
        ["产出指标", "数量指标", "送戏下乡场次", "≥10场", "12场", 45, 45, None],
        ["满意度指标", "服务对象满意度指标", "群众满意度", "≥90%", "92%", 45, 45, None],
        ["总分", None, None, None, None, 100, 99.5, None],
    ]
    return Grid(rows, [(0, 0, 0, 7), (1, 1, 1, 7), (2, 0, 2, 7)])


def test_side_by_side_lists_take_execution_from_spending(tmp_path):
    r = _read(side_by_side(), tmp_path)
    d = r.depts.iloc[0]
    assert (d["dept_code"], d["dept_budget"], d["dept_spent"], d["rate_0"]) == ("620301", 500, 475, 0.95)
    assert _indicators(r)[0] == ("预算执行率", 10, 9.5, 9.5)
    assert (d["read_status"], d["total"], d["self_total"], d["diff"], d["grade"]) == ("", 99.5, 99.5, 0.0, "优")


def test_side_by_side_lists_are_both_kept_as_breakdowns(tmp_path):
    """The funds table holds the spending total and both lists, each row with its cells; each
    list adds up to its own total, so nothing is reported (one that did not: funds.mismatch)."""
    loc = _located(side_by_side(), tmp_path)
    funds = [(row[0], row[2], row[3], row[5], row[6], cells["spent"]) for row, (_, cells) in zip(loc.rows["资金来源"], loc.where["资金来源"])]
    assert funds == [(7, "支出合计", "合计", 500, 475, "F7"), (5, "财政拨款收入", "收入", 480, 480, "C5"), (5, "基本支出", "支出", 300, 296, "F5"),
                     (6, "其他收入", "收入", 20, 20, "C6"), (6, "项目支出", "支出", 200, 179, "F6"), (7, "收入合计", "收入合计", 500, 500, "C7")]
    r = _read(side_by_side(), tmp_path)
    assert r.findings[r.findings["level"] != "提示"].empty, r.findings[["rule_id", "message"]].values.tolist()
    assert _found(r, "funds.mismatch", "funds.from_sources", "form.unplaced") == []


def test_side_by_side_spending_that_does_not_add_up_is_reported(tmp_path):
    g = side_by_side()
    g.rows[5][5] = 170  # 296 + 170 = 466, not the 475 printed as 支出合计
    r = _read(g, tmp_path)
    assert _found(r, "funds.mismatch") == [("funds.mismatch", "警告", "F7")]
    assert "支出" in r.findings.loc[r.findings["rule_id"] == "funds.mismatch", "message"].iloc[0]


# --- 预算执行率 as an indicator row -------------------------------------------------------------

def rate_row() -> Grid:
    """No funds block: execution is the indicator 预算执行率 (95 % of ≥ 90 % → 10 of 10). The
    criteria and evidence columns are the form's, not fields. Total 10 + 40 + 40 + 8.89 = 98.89."""
    rows = [
        ["2022年度单位整体支出绩效自评表"] + [None] * 8,
        ["单位名称", "620302-临洮县图书馆"] + [None] * 7,
        ["一级指标", "二级指标", "三级指标", "指标值", "实际完成值", "分值", "得分", "评分标准", "佐证资料"],
        ["投入", "预算执行", "预算执行率", "≥90%", "95%", 10, 10, "执行率×分值", "决算报表"],
        ["产出", "数量指标", "借阅人次", "≥5万人次", "6万人次", 40, 40, "完成得满分", "借阅系统"],
        ["效果", "社会效益指标", "读者活动场次", "≥20场", "25场", 40, 40, "完成得满分", "活动照片"],
        # 80 / 90 = 88.89 % → 8.89 of 10 (self 9)
        ["满意度", "服务对象满意度", "读者满意度", "≥90%", "80%", 10, 9, "按比例得分", "问卷"],
        ["总分", None, None, None, None, 100, 99, None, None],
    ]
    return Grid(rows, [(0, 0, 0, 8), (1, 1, 1, 8)])


def test_rate_as_an_indicator_row_is_the_execution(tmp_path):
    r = _read(rate_row(), tmp_path)
    d = r.depts.iloc[0]
    assert (d["read_status"], d["total"], d["grade"], d["rank"]) == ("", 98.89, "优", 1)
    assert _indicators(r) == [("预算执行率", 10, 10, 10), ("借阅人次", 40, 40, 40), ("读者活动场次", 40, 40, 40), ("读者满意度", 10, 9, 8.89)]
    # The form has no funds block, and needs none: no 提示 that execution cannot be computed.
    assert _found(r, "form.no_funds", "result.unreviewed") == []


def test_criteria_and_evidence_columns_are_known_not_unplaced(tmp_path):
    r = _read(rate_row(), tmp_path)
    assert _found(r, "form.unplaced") == []
    assert r.indicators["target"].tolist()[0] == "≥90%"


# --- 重庆: one name column, an unlabelled amounts row, the self total in the header --------------

def chongqing() -> Grid:
    """部门整体绩效自评表 as 重庆 prints it. Execution 912 / 1200 = 76 % → 7.60 of 10. Indicators
    (权重 20 + 30 + 40 = 90): 92 % of ≤ 100 % → 20; 12 of ≥ 26 次 → 13.85 of 30 (self 30);
    2859 of ≥ 2200 篇 → 40. Total 7.6 + 20 + 13.85 + 40 = 81.45; 自评总分 97.6 is in the header."""
    rows = [
        ["部门整体绩效自评表(2021年度)"] + [None] * 10,
        ["主管部门", "6001-西部（重庆）科学城融媒体中心", None, None, "财政处室", "科教文处", None, None, "自评总分（分）", 97.6, None],
        ["部门预算执行情况（万元）", None, "年初预算数", None, "全年（调整）预算数", None, "全年执行数", "执行率（%）", "执行率权重",
         "执行率得分（分）", None],
        [None, None, 1000, None, 1200, None, 912, "76%", 10, 7.6, None],
        ["当年绩效目标", "年初绩效目标", None, None, "全年（调整）绩效目标", None, None, "全年目标实际完成情况", None, None, None],
        [None, "宣传科学城建设", None, None, "无", None, None, "完成", None, None, None],
        ["绩效指标", "指标名称", "计量单位", "指标性质", "年初指标值", "调整指标值", "全年完成值", "得分系数（%）", "指标权重（分）",
         "指标得分（分）", "是否核心指标"],
        [None, "财政供养人员控制率", "%", "定量指标", "≤100%", None, "92%", "100%", 20, 20, "否"],
        [None, "党性教育培训次数", "次", "定量指标", "≥26次", None, "12次", "100%", 30, 30, "是"],
        [None, "播发稿件数量", "篇", "定量指标", "≥2200篇", None, "2859篇", "100%", 40, 40, "是"],
    ]
    return Grid(rows, [(0, 0, 0, 10), (1, 1, 1, 3), (2, 0, 3, 1), (4, 0, 5, 0), (6, 0, 9, 0)])


def test_chongqing_form_reads_names_amounts_and_header_total(tmp_path):
    r = _read(chongqing(), tmp_path, year=2021)
    d = r.depts.iloc[0]
    assert (d["dept_code"], d["dept_name"], d["year"]) == ("6001", "西部（重庆）科学城融媒体中心", 2021)
    assert (d["dept_budget"], d["dept_spent"], d["rate_0"]) == (1200, 912, 0.76)
    assert _indicators(r) == [("预算执行率", 10, 7.6, 7.6), ("财政供养人员控制率", 20, 20, 20), ("党性教育培训次数", 30, 30, 13.85),
                              ("播发稿件数量", 40, 40, 40)]
    assert (d["read_status"], d["total"], d["self_total"], d["diff"]) == ("", 81.45, 97.6, 16.15)
    assert r.indicators["target"].tolist()[1:] == ["≤100%", "≥26次", "≥2200篇"]


def test_chongqing_form_knows_its_extra_columns(tmp_path):
    r = _read(chongqing(), tmp_path, year=2021)
    assert _found(r, "form.unplaced", "form.no_indicators", "form.no_funds") == []
    # Graded and ranked: the self total's difference and the unmet target are 警告, not 错误.
    assert (r.depts.iloc[0]["grade"], r.depts.iloc[0]["rank"]) == ("良", 1)
    assert _found(r, "score.total_diff") == [("score.total_diff", "警告", "J2")]


# --- a department's own funds are reconciled like a project's -----------------------------------

def test_form_b_zero_amount_total_is_taken_from_its_tasks(tmp_path):
    """金额合计 printed 0 / 0 under tasks 300 / 270 and 200 / 180: execution is 450 / 500 = 90 %
    from the tasks, said in a finding (department rows carry no project code; they were once
    left out of the reconciliation)."""
    rows = [
        ["2022年度部门整体支出绩效自评表"] + [None] * 8,
        ["部门（单位）名称", "620303-临洮县档案馆"] + [None] * 7,
        ["年度主要任务完成情况", "任务名称", "完成情况", "全年预算数", "全年执行数", "分值", "执行率", "得分", None],
        [None, "档案数字化", "已完成", 300, 270, None, None, None, None],
        [None, "档案接收", "已完成", 200, 180, None, None, None, None],
        [None, "金额合计", None, 0, 0, 10, None, 9, None],
        ["一级指标", "二级指标", "三级指标", "分值", "年度指标值", "全年实际值", "得分", "评价得分说明", None],
        ["产出指标", "数量指标", "数字化卷数", 90, "≥1万卷", "1.2万卷", 90, None, None],
        ["总分", None, None, 100, None, None, 99, None, None],
    ]
    r = _read(Grid(rows, [(0, 0, 0, 8), (1, 1, 1, 8), (2, 0, 5, 0)]), tmp_path)
    d = r.depts.iloc[0]
    assert (d["dept_budget"], d["dept_spent"], d["rate_0"], d["total"]) == (500, 450, 0.9, 99.0)
    assert _found(r, "funds.from_sources", "funds.mismatch") == [("funds.from_sources", "警告", "D6:E6")]


# --- the feedback file says which cell became which field ------------------------------------

def test_feedback_shows_which_cell_became_which_field(tmp_path):
    """读取位置 of 重庆's form, row by row: the head, the funds row's points and score, each
    indicator's columns; a department sees at once that 调整指标值 was blank and 年初指标值 read."""
    import openpyxl

    from evalbatch.write.feedback import write_feedback

    r = _read(chongqing(), tmp_path, year=2021)
    [path] = write_feedback(r, tmp_path / "out", RULES)
    ws = openpyxl.load_workbook(path)["读取位置"]
    rows = [tuple(c.value for c in row) for row in ws.iter_rows()]
    s = "部门整体"
    assert rows == [
        ("工作表", "单元格", "读作", "读到的值", "所属"),
        (s, "B2", "单位名称", "西部（重庆）科学城融媒体中心", "部门"), (s, "B2", "主管部门", "西部（重庆）科学城融媒体中心", "部门"),
        (s, "A1", "年度", "2021", "部门"), (s, "E4", "部门全年预算数", "1200", "部门"), (s, "G4", "部门全年执行数", "912", "部门"),
        (s, "J2", "自评总分", "97.6", "部门"),
        (s, "I4", "分值", "10", "整体：预算执行率"), (s, "J4", "自评得分", "7.6", "整体：预算执行率"),
        (s, "I8", "分值", "20", "整体：财政供养人员控制率"), (s, "E8", "指标值", "≤100%", "整体：财政供养人员控制率"),
        (s, "G8", "实际值", "92%", "整体：财政供养人员控制率"), (s, "J8", "自评得分", "20", "整体：财政供养人员控制率"),
        (s, "I9", "分值", "30", "整体：党性教育培训次数"), (s, "E9", "指标值", "≥26次", "整体：党性教育培训次数"),
        (s, "G9", "实际值", "12次", "整体：党性教育培训次数"), (s, "J9", "自评得分", "30", "整体：党性教育培训次数"),
        (s, "I10", "分值", "40", "整体：播发稿件数量"), (s, "E10", "指标值", "≥2200篇", "整体：播发稿件数量"),
        (s, "G10", "实际值", "2859篇", "整体：播发稿件数量"), (s, "J10", "自评得分", "40", "整体：播发稿件数量"),
    ]
    assert all(isinstance(v, str) for row in rows for v in row)  # as read: text, never a number or formula


# --- 云南: tasks with 批复金额 / 实际支出金额, targets in three columns, no points --------------

def yunnan() -> Grid:
    """部门整体支出绩效自评表 as 云南 prints it: goals and duties as text, the key tasks with
    批复金额 / 实际支出金额 / 预算执行率 closed by 合计 (290 / 300 = 96.67 %), indicators with
    指标性质 | 指标值 | 度量单位 and no points at all: read, checked, 不计分."""
    rows = [
        ["2021年度部门整体支出绩效自评表"] + [None] * 7,
        ["部门名称", "530922-双江县自然资源局"] + [None] * 6,
        ["内容", "说明"] + [None] * 6,
        ["部门总体目标", None] + [None] * 6,
        ["部门职责", "负责全县自然资源统一管理"] + [None] * 6,
        ["总体绩效目标", "完成国土调查和不动产登记"] + [None] * 6,
        ["一、部门年度目标"] + [None] * 7,
        ["财年", "目标", None, "实际完成情况"] + [None] * 4,
        [2021, "完成年度调查任务", None, "已完成"] + [None] * 4,
        ["二、部门年度重点工作任务"] + [None] * 7,
        ["任务名称", "项目", "主要内容", "批复金额（万元）", "实际支出金额（万元）", "预算执行率", "未完成原因和改进措施", None],
        ["国土调查", "第三次国土调查", "完成调查图斑核实", 200, 190, "95%", None, None],
        ["确权登记", "不动产登记", "完成登记发证", 100, 100, "100%", None, None],
        [None, "合计", None, 300, 290, "96.67%", None, None],
        ["三、部门整体支出绩效指标"] + [None] * 7,
        ["一级指标", "二级指标", "三级指标", "指标性质", "指标值", "度量单位", "实际完成值", "偏差原因分析及改进措施"],
        ["产出指标", "数量指标", "核实图斑数量", "≥", 5000, "个", "5200个", None],
        ["满意度指标", "服务对象满意度指标", "群众满意度", "≥", 90, "%", "93%", None],
        ["四、部门自评结论"] + [None] * 7,
        ["结论", "较好完成年度目标"] + [None] * 6,
    ]
    return Grid(rows, [(0, 0, 0, 7), (1, 1, 1, 7)])


def test_yunnan_form_reads_tasks_and_split_targets_and_is_unscored(tmp_path):
    r = _read(yunnan(), tmp_path, year=2021)
    d = r.depts.iloc[0]
    assert (d["dept_code"], d["dept_budget"], d["dept_spent"], d["rate_0"]) == ("530922", 300, 290, 0.9667)
    ind = r.indicators[r.indicators["method_used"] != "预算执行率"]
    assert ind[["l3", "target", "actual"]].values.tolist() == [["核实图斑数量", "≥5000个", "5200个"], ["群众满意度", "≥90%", "93%"]]
    assert (d["read_status"], d["grade"]) == ("不计分", "不计分（表中绩效指标没有分值，只记录目标与完成情况）")
    assert _found(r, "form.no_funds", "form.unplaced", "result.unreviewed") == []


def test_explain_says_which_list_each_funds_row_is_in(tmp_path):
    from typer.testing import CliRunner

    from evalbatch.cli import app

    path = write_xlsx({"部门整体": side_by_side()}, tmp_path / "b.xlsx")
    out = CliRunner().invoke(app, ["check", str(path), "--explain"]).stdout.splitlines()
    assert "  资金来源 第 7 行「部门整体」：D7 资金项目=支出合计；类别=合计；E7 全年预算数=500.0；F7 全年执行数=475.0" in out
    assert "  资金来源 第 5 行「部门整体」：A5 资金项目=财政拨款收入；类别=收入；B5 全年预算数=480.0；C5 全年执行数=480.0" in out
    assert "  资金来源 第 5 行「部门整体」：D5 资金项目=基本支出；类别=支出；E5 全年预算数=300.0；F5 全年执行数=296.0" in out
    # The execution points come from the block's heading, and the explanation says so by its cell.
    assert "  整体指标 第 7 行「部门整体」：D7 三级指标=预算执行率；A3 分值=10.0；H7 自评得分=9.5" in out


@pytest.mark.parametrize(("title", "unit"), [("临洮县博物馆2022年度单位整体支出绩效自评表", "临洮县博物馆"),
                                             ("2022年度单位整体支出绩效自评表", None)])
def test_unit_written_only_in_the_title(tmp_path, title, unit):
    """The unit in front of the title is the unit; a year in front of it is not (18_shouxian_bm
    was once read as the department “2023年度”): then the form says it cannot tell whose it is."""
    g = rate_row()
    g.rows = [[title] + [None] * 8] + g.rows[2:]
    g.merges = [(0, 0, 0, 8)]
    r = _read(g, tmp_path)
    if unit is None:
        assert r.depts.empty and _found(r, "form.no_unit") == [("form.no_unit", "错误", "A1")]
    else:
        assert (r.depts.iloc[0]["dept_name"], r.depts.iloc[0]["total"]) == (unit, 98.89)


# --- the central form: 年度预算申请 split by income and by spending nature -------------------------

def central(project_spending=1129.65) -> Grid:
    """部门整体支出绩效自评表 as the central template prints it (docs/official-forms.md, after 衡山县
    贯塘乡 2023): execution 2030.12 / 2030.12 = 100 % → 10 of 10 from 年度资金总额; under it the
    request by income nature (1325.68 + 118.82 + 585.62 = 2030.12, 纳入专户 blank) beside the
    request by spending nature (900.47 + 1129.65 = 2030.12), one amount a line after its colon."""
    rows = [
        ["2023年度部门整体支出绩效自评表"] + [None] * 6,
        ["预算部门、单位名称", "411001-衡山县贯塘乡人民政府"] + [None] * 5,
        ["年度预算申请（万元）", "年初预算数", "全年预算数", "全年执行数", "分值", "执行率", "自评得分"],
        ["年度资金总额", 861.10, 2030.12, 2030.12, 10, "100%", 10],
        ["按收入性质分：2030.12", None, None, "按支出性质分：2030.12", None, None, None],
        ["其中：一般公共预算：1325.68", None, None, "其中：基本支出：900.47", None, None, None],
        ["政府性基金拨款：118.82", None, None, f"项目支出：{project_spending:.2f}", None, None, None],
        ["纳入专户管理的非税收入拨款：", None, None, None, None, None, None],
        ["其他资金：585.62", None, None, None, None, None, None],
        ["年度总体目标", "预期目标", None, None, "实际完成情况", None, None],
        [None, "完成乡镇各项工作任务", None, None, "已完成", None, None],
        ["一级指标", "二级指标", "三级指标", "年度指标值", "实际完成值", "分值", "得分"],
        ["产出指标", "数量指标", "村级组织运转保障村数", "≥10个", "12个", 45, 45],
        ["满意度指标", "服务对象满意度指标", "群众满意度", "≥90%", "95%", 45, 45],
        ["总分", None, None, None, None, 100, 100],
    ]
    halves = [m for r in range(4, 9) for m in ((r, 0, r, 2), (r, 3, r, 6))]
    return Grid(rows, [(0, 0, 0, 6), (1, 1, 1, 6), *halves, (9, 0, 10, 0), (9, 1, 9, 3), (9, 4, 9, 6), (10, 1, 10, 3), (10, 4, 10, 6)])


def test_central_form_reads_both_breakdowns_of_the_request(tmp_path):
    loc = _located(central(), tmp_path)
    funds = [(row[0], row[2], row[3], row[5], cells.get("budget", "")) for row, (_, cells) in zip(loc.rows["资金来源"], loc.where["资金来源"])]
    assert funds == [(4, "年度资金总额", "合计", 2030.12, "C4"),
                     (5, "按收入性质分", "收入合计", "2030.12", "A5"), (5, "按支出性质分", "支出合计", "2030.12", "D5"),
                     (6, "一般公共预算", "收入", "1325.68", "A6"), (6, "基本支出", "支出", "900.47", "D6"),
                     (7, "政府性基金拨款", "收入", "118.82", "A7"), (7, "项目支出", "支出", "1129.65", "D7"),
                     (8, "纳入专户管理的非税收入拨款", "收入", None, ""), (9, "其他资金", "收入", "585.62", "A9")]
    r = _read(central(), tmp_path, year=2023)
    d = r.depts.iloc[0]
    assert (d["dept_code"], d["dept_name"], d["dept_budget"], d["dept_spent"], d["rate_0"]) == ("411001", "衡山县贯塘乡人民政府", 2030.12, 2030.12, 1.0)
    assert _indicators(r) == [("预算执行率", 10, 10, 10), ("村级组织运转保障村数", 45, 45, 45), ("群众满意度", 45, 45, 45)]
    assert (d["read_status"], d["total"], d["grade"]) == ("", 100.0, "优")
    # Each list adds up to its heading: nothing to report, and no row left unplaced.
    assert _found(r, "funds.mismatch", "funds.from_sources", "form.unplaced", "form.no_funds") == []


def test_central_form_spending_parts_that_miss_their_heading_are_reported(tmp_path):
    """900.47 + 1025.20 = 1925.67 under 按支出性质分：2030.12 (贯塘乡's copy prints 1925.67 in the
    heading too; here the heading is the total): a 警告 on the heading's cell; execution unchanged."""
    r = _read(central(project_spending=1025.20), tmp_path, year=2023)
    f = r.findings[r.findings["rule_id"] == "funds.mismatch"]
    assert list(zip(f["level"], f["cell"], f["message"])) == [("警告", "D5", "部门整体各支出项目全年预算数合计＝1,925.67 万元，按支出性质分全年预算数为 "
                                                              "2,030.12 万元，相差 104.45 万元，超过容差 0.01 万元；请核对并更正相关数字")]
    assert (r.depts.iloc[0]["rate_0"], r.depts.iloc[0]["total"]) == (1.0, 100.0)
