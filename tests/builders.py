"""Submissions for tests, written as real workbooks by the template writer."""

from __future__ import annotations

import copy
from pathlib import Path

from evalbatch.samples.reference import reference_case
from evalbatch.write.template import write_submission


def reference(**info) -> dict:
    """The reference case's data, with 基本信息 fields overridden."""
    data = copy.deepcopy(reference_case())
    data["info"].update(info)
    return data


def indicator(l3: str, method: str | None, weight: float, target, actual, self_score: float, reason=None, l1="履职效果", l2="部门履职目标") -> dict:
    return {"l1": l1, "l2": l2, "l3": l3, "method": method, "weight": weight, "target": target, "actual": actual,
            "self_score": self_score, "reason": reason}


def write(tmp_path: Path, data: dict, name: str = "dept.xlsx") -> Path:
    return write_submission(tmp_path / name, data)


def dept(code: str, name: str, satisfaction: str = "大于95%", category: str = "党委部门", **info) -> dict:
    """The reference case under another code, with 服务对象满意度 (weight 6, target ≥95%)
    set to `satisfaction`: "86.13%" gives 90.00, "85.975%" 89.99, "大于95%" 90.56."""
    data = reference(dept_code=code, dept_name=name, dept_category=category, **info)
    for row in data["indicators"]:
        if row["l3"] == "服务对象满意度":
            row["actual"] = satisfaction
    return data
