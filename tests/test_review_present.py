"""Issue 22 point 5: reviews against the present. A review score is applied only while the
indicator's 分值 is the one it was drawn with: a resubmission that lowered 6 to 1 leaves the
score of 6 unapplied, with a finding telling the reviewer and the bureau to review again."""

# ruff: noqa: F811 - the fixtures of test_review are imported and used as arguments

from __future__ import annotations

import openpyxl
import pandas as pd
from test_review import YEAR, bad_case, column, demo, drawn_base, rows_of, sheet  # noqa: F401 - pytest fixtures

from evalbatch.values import round_half_up


def _lower_weight(src, source: str, project_code: str, l3: str, to: float) -> float:
    """The department resubmits with one indicator's 分值 lowered; its old 分值."""
    wb = openpyxl.load_workbook(src / source)
    ws = wb["项目指标"]
    head = [c.value for c in ws[1]]
    code, name, weight = (head.index(h) + 1 for h in ("项目编码", "三级指标", "分值"))
    row = next(r for r in range(2, ws.max_row + 1) if str(ws.cell(r, code).value) == project_code and ws.cell(r, name).value == l3)
    old = ws.cell(row, weight).value
    ws.cell(row, weight).value = to
    wb.save(src / source)
    return old


def test_a_review_score_drawn_on_another_weight_is_not_applied(drawn_base, demo, tmp_path):
    _, good, _ = drawn_base
    seen = {}

    def spoil(wb, good, other, given, out, src):
        ws = wb["抽评指标"]
        first = rows_of(ws, good["item_no"])[0]
        seen.update(row=first, l3=column(ws, first, "三级指标"), seq=column(ws, first, "指标序号"), given=dict(given))
        seen["old"] = _lower_weight(src, good["source"], good["project_code"], seen["l3"], 1)
        return None

    workbook, found, _, after, result = bad_case(drawn_base, tmp_path, demo, spoil)
    file = f"抽评/{good['workbook']}"
    assert ("review.weight_changed", "警告", file, "抽评指标", f"O{seen['row']}") in found
    issues = pd.DataFrame(list(openpyxl.load_workbook(workbook, read_only=True)["审核问题"].iter_rows(values_only=True)))
    issues.columns = issues.iloc[0]
    msg = issues.loc[issues["规则编号"] == "review.weight_changed", "说明"].tolist()
    assert msg == [f"抽评编号“{good['item_no']}”、指标序号 {seen['seq']}：抽评后分值由 {seen['old']:g} 改为 1，抽评得分未采用，请重新抽评"]
    ind = result.result.indicators
    mine = ind[(ind["project_code"] == good["project_code"]) & (ind["l3"] == seen["l3"])].iloc[0]
    assert mine["weight"] == 1 and mine["final_score"] == mine["score"] <= 1  # never the reviewer's score
    p = after[good["project_code"]]
    others = sum(v for r, v in seen["given"].items() if r != seen["row"])
    want = float(round_half_up(p["执行率得分"] + min(round(others + mine["score"], 2), 90), 2))
    assert p["最终得分"] == want
    row = next(r for r in sheet(workbook, "抽评结果") if r["抽评编号"] == good["item_no"])
    assert row["是否完成"] == "否"  # for the reviewer and the bureau: this item must be reviewed again
    assert "1 项指标抽评后分值已改变，抽评得分未采用，请重新抽评" in row["说明"]
