"""The submission template (format 1), defined once as data.

docs/template.md is the contract with the departments. Every sheet name, header label, field
label and enum word lives here; the template writer, the reader, the checks and the docs all
read it from this module, never from a copy.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, replace

TEMPLATE_VERSION = "1"
SUPPORTED_VERSIONS = (TEMPLATE_VERSION,)

# Value types a field or a column can have. The reader turns each into numbers or text.
TEXT = "text"
CODE = "code"  # text that must keep leading zeros and never become "620101.0"
INTEGER = "integer"
MONEY = "money"
SCORE = "score"
ENUM = "enum"
INDICATOR = "indicator"  # target / actual: number or text as people write it

DEPT_CATEGORIES = ("党委部门", "政府部门", "人大政协及司法机关", "民主党派及群团组织", "事业单位", "其他")
# The default grade words; the words in force are the rules' grades.names (`with_grades`).
SELF_GRADES = ("优", "良", "中", "差")

# The six methods computed from 基本信息, with their usual weights in the template.
AUTO_METHODS = ("预算执行率", "基本支出执行率", "项目支出执行率", "三公经费控制率", "结转结余变动率", "在职人员控制率")
VALUE_METHODS = ("正向比例", "正向达标", "反向比例", "反向达标", "定性")
METHODS = AUTO_METHODS + VALUE_METHODS


@dataclass(frozen=True)
class Field:
    """One row of the key/value sheet 基本信息."""

    label: str
    key: str
    type: str
    required: bool
    hint: str
    enum: tuple[str, ...] = ()


@dataclass(frozen=True)
class Column:
    """One column of a table sheet."""

    header: str
    key: str
    type: str
    required: bool
    hint: str = ""
    enum: tuple[str, ...] = ()
    width: float = 12


@dataclass(frozen=True)
class Sheet:
    name: str
    kind: str  # "info" (never parsed), "fields" (key/value) or "table"
    required: bool
    purpose: str
    columns: tuple[Column, ...] = ()


INFO_HEADER = ("项目", "数值", "说明")

FIELDS: tuple[Field, ...] = (
    Field("模板版本", "template_version", TEXT, True, "固定填 1，请勿修改"),
    Field("评价年度", "year", INTEGER, True, "四位年份，如 2021"),
    Field("单位编码", "dept_code", CODE, True, "财政部门下达的单位编码，保留前导 0"),
    Field("单位名称", "dept_name", TEXT, True, "单位全称"),
    Field("单位类别", "dept_category", ENUM, True, "从下拉列表中选择", DEPT_CATEGORIES),
    Field("主管部门", "parent_dept", TEXT, False, "如有，填写主管部门名称"),
    Field("联系人", "contact", TEXT, False, "填表人姓名"),
    Field("联系电话", "phone", TEXT, False, "固定电话或手机"),
    Field("编制人数", "staff_quota", INTEGER, True, "人，整数"),
    Field("年末实有人数", "staff_actual", INTEGER, True, "人，整数"),
    Field("年初结转结余", "carryover_begin", MONEY, True, "万元，保留两位小数"),
    Field("财政拨款收入", "appropriation", MONEY, True, "万元"),
    Field("其他收入", "other_income", MONEY, False, "万元，没有可不填（按 0 计）"),
    Field("基本支出预算数", "basic_budget", MONEY, True, "万元"),
    Field("基本支出执行数", "basic_spent", MONEY, True, "万元，应等于人员经费与公用经费之和"),
    Field("其中：人员经费", "personnel_spent", MONEY, False, "万元"),
    Field("其中：公用经费", "operating_spent", MONEY, False, "万元"),
    Field("项目支出预算数", "project_budget", MONEY, True, "万元"),
    Field("项目支出执行数", "project_spent", MONEY, True, "万元"),
    Field("三公经费预算数", "sangong_budget", MONEY, True, "万元"),
    Field("三公经费执行数", "sangong_spent", MONEY, True, "万元，应等于下面三项之和"),
    Field("其中：公务用车购置及运行维护费", "car_spent", MONEY, False, "万元"),
    Field("其中：公务接待费", "reception_spent", MONEY, False, "万元"),
    Field("其中：因公出国（境）费", "abroad_spent", MONEY, False, "万元"),
    Field("年末结转结余", "carryover_end", MONEY, True, "万元，应等于收入合计减支出合计"),
    Field("自评总分", "self_total", SCORE, True, "0–100，整体指标自评得分合计"),
)

_INDICATOR_COLUMNS = (
    Column("一级指标", "l1", TEXT, True, width=14),
    Column("二级指标", "l2", TEXT, True, width=16),
    Column("三级指标", "l3", TEXT, True, width=30),
    Column("计分方法", "method", ENUM, False, "从下拉列表中选择；为空时按指标值的比较词推定", METHODS, width=14),
    Column("分值", "weight", SCORE, True, width=8),
    Column("指标值", "target", INDICATOR, False, "目标值，如 100%、≥20次、达成", width=16),
    Column("实际值", "actual", INDICATOR, False, "实际完成值，如 98%、24次、达成", width=16),
    Column("自评得分", "self_score", SCORE, True, width=10),
    Column("偏差原因及改进措施", "reason", TEXT, False, "未完成目标时必须填写", width=40),
)

PROJECT_CODE = Column("项目编码", "project_code", CODE, True, width=18)

SHEETS: tuple[Sheet, ...] = (
    Sheet("填报说明", "info", False, "填报说明，不参与读取"),
    Sheet("基本信息", "fields", True, "单位基本情况、收支与人员数据"),
    Sheet("整体指标", "table", True, "部门整体支出绩效指标，分值合计 100", _INDICATOR_COLUMNS),
    Sheet(
        "项目",
        "table",
        True,
        "项目支出绩效自评汇总，每个项目一行",
        (
            PROJECT_CODE,
            Column("项目名称", "project_name", TEXT, True, width=36),
            Column("年初预算数", "initial_budget", MONEY, False, "万元", width=12),
            Column("全年预算数", "budget", MONEY, True, "万元", width=12),
            Column("全年执行数", "spent", MONEY, True, "万元", width=12),
            Column("自评得分", "self_score", SCORE, True, width=10),
            Column("自评等级", "self_grade", ENUM, False, "从下拉列表中选择", SELF_GRADES, width=10),
            Column("原因说明", "reason", TEXT, False, "执行率偏低、绩效与预算执行不匹配等情况的原因；没有可不填", width=36),
        ),
    ),
    Sheet("项目指标", "table", True, "项目绩效指标，每个项目分值合计 90", (PROJECT_CODE,) + _INDICATOR_COLUMNS),
    Sheet(
        "项目支出明细",
        "table",
        False,
        "项目支出明细（选填），每个项目金额合计应等于全年执行数",
        (
            PROJECT_CODE,
            Column("支出项目", "item", TEXT, True, width=24),
            Column("金额", "amount", MONEY, True, "万元", width=12),
        ),
    ),
)

SHEET_BY_NAME = {s.name: s for s in SHEETS}
FIELD_BY_KEY = {f.key: f for f in FIELDS}
INFO_SHEET = "基本信息"
DEPT_INDICATOR_SHEET = "整体指标"
PROJECT_SHEET = "项目"
PROJECT_INDICATOR_SHEET = "项目指标"
DETAIL_SHEET = "项目支出明细"

SUBMISSION_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".xlsb", ".et")

_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "「": '"', "」": '"'})
_SPACES = re.compile(r"\s+")


def norm_label(text: object) -> str:
    """Compare labels the way people type them: no spaces, half-width, one kind of quote.

    Double quotes are dropped altogether so that “三公经费” = "三公经费" = 三公经费.
    """
    if text is None:
        return ""
    return _norm_text(text) if isinstance(text, str) else _norm_text(str(text))


@functools.lru_cache(maxsize=65536)  # the same few hundred labels and headers, file after file
def _norm_text(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    return _SPACES.sub("", s).replace('"', "")


def with_grades(col: Column, names) -> Column:
    """`col`, carrying the rules' grade names where its words are grades (自评等级), so the
    template's dropdown and the reader accept exactly the grades in force."""
    return replace(col, enum=tuple(names)) if col.key == "self_grade" else col


def columns_of(sheet_name: str) -> tuple[Column, ...]:
    return SHEET_BY_NAME[sheet_name].columns


def headers_of(sheet_name: str) -> tuple[str, ...]:
    return tuple(c.header for c in columns_of(sheet_name))

# The six automatic rows that the blank template carries on 整体指标 (一级, 二级, 三级).
AUTO_ROW_LABELS = {
    "预算执行率": ("预算执行率", "预算执行率", "预算执行率"),
    "基本支出执行率": ("部门管理", "资金投入", "基本支出预算执行率"),
    "项目支出执行率": ("部门管理", "资金投入", "项目支出预算执行率"),
    "三公经费控制率": ("部门管理", "资金投入", "“三公经费”控制率"),
    "结转结余变动率": ("部门管理", "资金投入", "结转结余变动率"),
    "在职人员控制率": ("部门管理", "人员管理", "在职人员控制率"),
}

# What each 计分方法 means, for the instructions sheet and the docs.
METHOD_HELP = {
    "预算执行率": "（基本支出执行数＋项目支出执行数）÷（基本支出预算数＋项目支出预算数），得分＝分值×执行率（最高满分）；指标值、实际值可不填",
    "基本支出执行率": "基本支出执行数÷基本支出预算数，得分＝分值×执行率；指标值、实际值可不填",
    "项目支出执行率": "项目支出执行数÷项目支出预算数，得分＝分值×执行率；指标值、实际值可不填",
    "三公经费控制率": "三公经费执行数÷三公经费预算数，不超过 100% 得满分，否则 0 分",
    "结转结余变动率": "（年末结转结余－年初结转结余）÷年初结转结余，不大于 0 得满分，否则 0 分",
    "在职人员控制率": "年末实有人数÷编制人数，不超过 100% 得满分，否则 0 分",
    "正向比例": "实际值÷指标值，得分＝分值×完成率（最高满分），如覆盖率、次数",
    "正向达标": "实际值达到指标值得满分，否则 0 分",
    "反向比例": "实际值不超过指标值得满分，超过时得分＝分值×指标值÷实际值，如成本",
    "反向达标": "实际值不超过指标值得满分，否则 0 分，如时限",
    "定性": "实际值填等级词：达成/完成/健全/规范/及时等满分，基本达成/较好 80%，部分达成/一般 60%，未达成/未完成 0 分",
}
