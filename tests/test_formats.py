"""The same submission in every format a department may send reads to the same data.

The reference case goes through LibreOffice to .xls, .ods and back to .xlsx; the blank
template is filled in by hand with openpyxl. Each must normalise to the same 基本信息 and the
same table values as the original, with no 错误.
"""

from __future__ import annotations

import faults
import pandas as pd
import pytest

from evalbatch.findings import ERROR
from evalbatch.read.parse import normalise
from evalbatch.read.reader import open_workbook, read_bytes
from evalbatch.samples.reference import INFO, reference_case
from evalbatch.schema import AUTO_METHODS

TABLES = ["整体指标", "项目", "项目指标", "项目支出明细"]


def value_columns(table: pd.DataFrame) -> list[str]:
    """Everything parsed from the cells: not the file name, not the cell addresses."""
    return [c for c in table.columns if c != "file" and not c.startswith("cell_")]


def assert_same_tables(got, want, sheets=TABLES) -> None:
    for sheet in sheets:
        a, b = got.tables[sheet], want.tables[sheet]
        assert list(a.columns) == list(b.columns), sheet
        cols = value_columns(b)
        pd.testing.assert_frame_equal(
            a[cols].reset_index(drop=True), b[cols].reset_index(drop=True), obj=f"table {sheet}"
        )


def errors_of(sub) -> pd.DataFrame:
    found = sub.findings_frame()
    return found[found["level"] == ERROR]


@pytest.fixture(scope="module")
def original(good_file, rules):
    return normalise(open_workbook(good_file.read_bytes(), rules), good_file.name)


def test_original_is_clean(original):
    """The baseline the conversions are compared with."""
    assert original.info["dept_code"] == "620101"
    assert errors_of(original).empty, errors_of(original)
    assert [len(original.tables[s]) for s in TABLES] == [30, 1, 30, 12]


# (variant id, conversion chain, the kind the reader must report)
VARIANTS = {
    "xls": (["xls"], "xls"),
    "ods": (["ods"], "ods"),
    "xlsx-resaved": (["xlsx"], "xlsx"),
    "ods-to-xlsx": (["ods", "xlsx"], "xlsx"),
}


@pytest.mark.libreoffice
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_libreoffice_copy_reads_the_same(variant, lo_convert, good_file, original, rules):
    chain, kind = VARIANTS[variant]
    path = good_file
    for fmt in chain:
        path = lo_convert(fmt, path)
    raw = open_workbook(read_bytes(path, rules), rules)
    assert raw.kind == kind
    assert raw.notes == []
    sub = normalise(raw, path.name)

    assert errors_of(sub).empty, errors_of(sub)[["rule_id", "sheet", "cell", "message"]]
    assert sub.findings_frame().empty, sub.findings_frame()
    assert sub.info == original.info
    assert {k: type(v) for k, v in sub.info.items()} == {k: type(v) for k, v in original.info.items()}
    assert sub.info_cells == original.info_cells
    assert_same_tables(sub, original)
    # Same rows in the same places, so findings would point at the same cells.
    for sheet in TABLES:
        a, b = sub.tables[sheet], original.tables[sheet]
        cells = [c for c in b.columns if c.startswith("cell_")]
        pd.testing.assert_frame_equal(a[cells], b[cells], obj=f"cells of {sheet}")


# --- the blank template, filled by a person with openpyxl -------------------------------


def _hand_values(**override) -> dict:
    return {**reference_case()["info"], "dept_code": "012345", **override}


def _expected_info(**override) -> dict:
    info = {k: (None if v == "" else v) for k, v in INFO.items()}
    return {**info, "dept_code": "012345", **override}


def _typed_indicators() -> list[dict]:
    """The reference's 整体指标 rows a person types: all but the six automatic ones, which
    the blank template already carries."""
    return [row for row in reference_case()["indicators"] if row["method"] not in AUTO_METHODS]


def _hand_tables() -> dict:
    case = reference_case()
    return {
        "整体指标": faults.rows_by_header("整体指标", _typed_indicators()),
        "项目": faults.rows_by_header("项目", case["projects"]),
        "项目指标": faults.rows_by_header("项目指标", case["project_indicators"]),
        "项目支出明细": faults.rows_by_header("项目支出明细", case["details"]),
    }


@pytest.fixture(scope="module")
def by_hand(tmp_path_factory, rules):
    d = tmp_path_factory.mktemp("by_hand")
    path = faults.filled_by_hand(d, _hand_values(), tables=_hand_tables())
    return path, normalise(open_workbook(read_bytes(path, rules), rules), path.name)


def test_hand_filled_template_cells_are_typed_as_a_person_types(by_hand):
    """The fault kit itself: the code went in as text, numbers as numbers, "100%" as text."""
    import openpyxl

    path, _ = by_hand
    wb = openpyxl.load_workbook(path)
    info = wb["基本信息"]
    labels = {info.cell(r, 1).value: info.cell(r, 2) for r in range(2, info.max_row + 1)}
    assert labels["单位编码"].value == "012345" and labels["单位编码"].number_format == "@"
    assert labels["评价年度"].value == 2021
    assert labels["财政拨款收入"].value == 2889.6
    assert labels["联系人"].value is None
    table = wb["整体指标"]
    assert [c.value for c in table[1]][:5] == ["一级指标", "二级指标", "三级指标", "计分方法", "分值"]
    row = next(r for r in table.iter_rows(min_row=2) if r[2].value == "实名制管理覆盖率")
    assert row[5].value == "100%" and row[4].value == 3  # 指标值 as text, 分值 as a number


def test_hand_filled_template_reads_back_exactly(by_hand):
    _, sub = by_hand
    assert sub.info == _expected_info()
    assert sub.info["dept_code"] == "012345"
    assert sub.info_cells["dept_code"] == "B4"
    assert type(sub.info["year"]) is int and type(sub.info["staff_quota"]) is int
    assert all(type(sub.info[k]) is float for k in ("carryover_begin", "appropriation", "other_income", "self_total"))


def test_hand_filled_tables_read_like_the_generated_file(by_hand, original):
    _, sub = by_hand
    assert_same_tables(sub, original, sheets=["项目", "项目指标", "项目支出明细"])
    # 整体指标: the 24 rows the person typed below the preset ones read exactly like the
    # same rows of the generated file (their Excel row numbers differ, nothing else)...
    table = sub.tables["整体指标"]
    assert len(table) == 6 + len(_typed_indicators()) == 30
    ref = original.tables["整体指标"]
    a = table.iloc[6:].reset_index(drop=True)
    b = ref[~ref["method"].isin(AUTO_METHODS)].reset_index(drop=True)
    cols = [c for c in value_columns(b) if c != "row"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert list(a["row"]) == list(range(8, 32))
    # ...and the six preset automatic rows are there, with their 自评得分 still to fill in.
    preset = table.iloc[:6]
    assert list(preset["method"]) == list(AUTO_METHODS)
    assert preset["self_score"].isna().all()


def test_hand_filled_template_only_misses_the_preset_rows_scores(by_hand):
    # Since issue 20 the six automatic rows' rate (G) and score (H) are formulas: Excel, WPS and
    # LibreOffice compute them (tests/test_firstuse.py); openpyxl, which filled this copy, keeps
    # them without a result, and that is all that is missing.
    _, sub = by_hand
    errors = errors_of(sub)
    assert set(errors["rule_id"]) == {"value.formula_no_result"}
    assert sorted(errors["cell"]) == sorted([f"G{r}" for r in range(2, 8)] + [f"H{r}" for r in range(2, 8)])
    assert set(errors["sheet"]) == {"整体指标"}


def test_hand_typed_text_values_read_the_same(tmp_path, rules):
    """What people type instead of numbers: "2021" as text, "80人", "117.60万元", "1,458.06",
    full-width digits, stray spaces around an enum word."""
    path = faults.filled_by_hand(
        tmp_path,
        _hand_values(
            year="2021",
            staff_quota="80人",
            carryover_begin="117.60万元",
            basic_spent="1,458.06",
            self_total="９０.５６",
            appropriation=" 2889.6 ",
            dept_category=" 党委部门 ",
        ),
    )
    sub = normalise(open_workbook(read_bytes(path, rules), rules), path.name)
    assert sub.info == _expected_info()
    assert not any(errors_of(sub)["sheet"] == "基本信息"), errors_of(sub)
