"""Synthetic submissions: the reference case plus any number of invented departments.

They feed the tests, demos and load runs, so they must look like what departments really
send (targets written as `≥95%` or `1000多人次`, weights adding up, money that balances) and
be exactly reproducible from a seed. Most departments score themselves correctly; about one
in eight carries one typical mistake, named in the data's extra key `mistake`, so a test knows
what the checks should find.

All money is worked in whole cents of 万元 and divided by 100 only when written, so every
identity of docs/template.md holds exactly. The scoring here is a small scalar copy of
docs/scoring.md, on the numbers the generator chose; it exists to fill in 自评得分, not to
replace the real scoring.
"""

from __future__ import annotations

import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from . import reference
from .. import schema as S
from ..rules import Rules, load_rules
from ..write.template import write_submission
from ..values import round_half_up

REFERENCE_YEAR = 2021
REFERENCE_FILE_NAME = f"{reference.DEPT_CODE}_{reference.INFO['dept_name']}.xlsx"

# The typical mistakes, one per affected department (short ids, as tests use them).
MISTAKES = ("inflated_score", "personnel_mismatch", "weights_98", "blank_category", "unknown_category", "negative_spent")
# Mistakes that make a file unusable (错误); the others are only 警告.
ERROR_MISTAKES = frozenset({"blank_category", "unknown_category", "negative_spent"})
# Mistakes that break a money identity or the weight totals on purpose.
MONEY_MISTAKES = frozenset({"personnel_mismatch", "negative_spent"})
WEIGHT_MISTAKES = frozenset({"weights_98"})
# Every MISTAKE_EVERY-th department (by index) carries a mistake, so small runs see some.
MISTAKE_EVERY = 8
MAX_INDEX = 89_999  # keeps every unit code at six digits and unique

# Chance that a value row falls short of its target.
_MISS_RATE = 0.12


@lru_cache(maxsize=1)
def _rules() -> Rules:
    """The default rules, parsed once per process."""
    return load_rules()


# --- names ----------------------------------------------------------------------------

_NAMES = {
    "党委部门": (
        "中共甘肃省委组织部", "中共甘肃省委宣传部", "中共甘肃省委统一战线工作部", "中共甘肃省委政法委员会",
        "中共甘肃省委政策研究室", "中共甘肃省委网络安全和信息化委员会办公室", "中共甘肃省委机要局",
        "中共甘肃省委老干部局", "中共甘肃省委台湾工作办公室", "中共甘肃省委外事工作委员会办公室",
        "中共甘肃省委党史研究室", "中共甘肃省委直属机关工作委员会",
    ),
    "政府部门": (
        "甘肃省发展和改革委员会", "甘肃省教育厅", "甘肃省科学技术厅", "甘肃省工业和信息化厅", "甘肃省民政厅",
        "甘肃省司法厅", "甘肃省人力资源和社会保障厅", "甘肃省自然资源厅", "甘肃省生态环境厅",
        "甘肃省住房和城乡建设厅", "甘肃省交通运输厅", "甘肃省水利厅", "甘肃省农业农村厅", "甘肃省商务厅",
        "甘肃省文化和旅游厅", "甘肃省卫生健康委员会", "甘肃省退役军人事务厅", "甘肃省应急管理厅", "甘肃省审计厅",
        "甘肃省市场监督管理局", "甘肃省统计局", "甘肃省林业和草原局", "甘肃省医疗保障局", "甘肃省体育局",
        "甘肃省粮食和物资储备局", "甘肃省乡村振兴局", "甘肃省机关事务管理局", "甘肃省民族事务委员会",
        "甘肃省药品监督管理局", "甘肃省文物局",
    ),
    "人大政协及司法机关": (
        "甘肃省人大常委会办公厅", "政协甘肃省委员会办公厅", "甘肃省高级人民法院", "甘肃省人民检察院",
        "兰州铁路运输中级法院", "甘肃省人民检察院兰州铁路运输分院", "甘肃矿区人民法院", "甘肃省人民检察院甘肃矿区分院",
    ),
    "民主党派及群团组织": (
        "民革甘肃省委", "民盟甘肃省委", "民建甘肃省委", "民进甘肃省委", "农工党甘肃省委", "致公党甘肃省委",
        "九三学社甘肃省委", "甘肃省总工会", "共青团甘肃省委", "甘肃省妇女联合会", "甘肃省科学技术协会",
        "甘肃省文学艺术界联合会", "甘肃省工商业联合会", "甘肃省残疾人联合会", "甘肃省归国华侨联合会", "甘肃省红十字会",
    ),
    "事业单位": (
        "甘肃省疾病预防控制中心", "甘肃省信息中心", "甘肃省公共资源交易中心", "甘肃省档案馆", "甘肃省图书馆",
        "甘肃省博物馆", "甘肃省农业科学院", "甘肃省社会科学院", "甘肃省大数据中心", "甘肃省政务服务中心",
        "甘肃省生态环境监测中心", "甘肃省人才交流服务中心", "甘肃省广播电视监测中心", "甘肃省水文站",
        "甘肃省地质环境监测院", "甘肃省林业科学研究院",
    ),
    "其他": (
        "甘肃省人民政府驻北京办事处", "甘肃省人民政府驻上海办事处", "甘肃省人民防空办公室", "甘肃省地方史志办公室",
        "甘肃省老龄工作委员会办公室", "甘肃省绿化委员会办公室", "甘肃省安全生产委员会办公室",
        "甘肃省关心下一代工作委员会办公室", "甘肃省供销合作社联合社",
    ),
}
# Once a category's names run out, further departments are second-level units of them.
_SUBUNITS = (
    "机关服务中心", "信息中心", "宣传教育中心", "培训中心", "后勤服务中心", "档案资料中心",
    "项目管理中心", "综合保障中心", "发展研究中心", "考试评价中心", "监测中心", "技术服务中心",
    "会计核算中心", "人才服务中心", "数据管理中心", "检验检测中心", "事务服务中心", "咨询服务中心",
    "规划研究院", "科学研究所",
)
# Index → category. The first six positions hold six different categories, so any run of
# six or more departments has all of them; the rest weights the common kinds.
_CATEGORY_CYCLE = (
    "政府部门", "事业单位", "党委部门", "民主党派及群团组织", "人大政协及司法机关", "其他",
    "政府部门", "事业单位", "政府部门", "民主党派及群团组织", "事业单位", "政府部门",
)
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
_GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
          "超", "秀英", "霞", "平", "刚", "建华", "文", "红", "玉兰", "国庆", "晓东", "海燕")


def _category_and_rank(index: int) -> tuple[str, int]:
    """The category of department `index`, and how many of that category came before it."""
    n = len(_CATEGORY_CYCLE)
    pos = index % n
    category = _CATEGORY_CYCLE[pos]
    return category, (index // n) * _CATEGORY_CYCLE.count(category) + _CATEGORY_CYCLE[:pos].count(category)


def _unit(index: int) -> tuple[str, str, str]:
    """(name, category, parent) of department `index`; names never repeat within a run."""
    category, rank = _category_and_rank(index)
    pool = _NAMES[category]
    base, round_ = pool[rank % len(pool)], rank // len(pool)
    if round_ == 0:
        return base, category, ""
    sub = _SUBUNITS[(round_ - 1) % len(_SUBUNITS)]
    again = (round_ - 1) // len(_SUBUNITS)
    # Second-level budget units are nearly always 事业单位 under their parent department.
    return base + sub + (f"（{again + 1}）" if again else ""), "事业单位", base


def _unit_code(index: int) -> str:
    """Six digits, unique per index; every seventh starts with 0 to prove codes stay text."""
    return f"{10_000 + index:06d}" if index % 7 == 2 else f"{620_200 + index:06d}"


def _mistake_for(index: int) -> str | None:
    if index % MISTAKE_EVERY != MISTAKE_EVERY - 1:
        return None
    return MISTAKES[(index // MISTAKE_EVERY) % len(MISTAKES)]


def _contact(rng: random.Random) -> tuple[str, str]:
    name = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
    if rng.random() < 0.6:
        return name, f"0931-{rng.randint(8_000_000, 8_999_999)}"
    return name, f"1{rng.choice('3589')}{rng.randint(0, 999_999_999):09d}"


# --- numbers as written ---------------------------------------------------------------


def _num(x: float) -> int | float:
    """3 rather than 3.0, as a person types it; halves and cents stay as they are."""
    return int(x) if float(x).is_integer() else float(x)


def _money(cents: int) -> int | float:
    return _num(cents / 100)


def _rate(x: float) -> float:
    return round_half_up(x, _rules().rate_decimals)


def _score(x: float) -> float:
    return round_half_up(x, _rules().score_decimals)


def _fmt(x: float) -> str:
    """96.5 → "96.5", 100.0 → "100": no trailing zeros, as people write."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _split_cents(rng: random.Random, total: int, parts: int) -> list[int]:
    """`total` cents in `parts` random pieces that add up exactly (the last absorbs rounding)."""
    weights = [rng.uniform(0.2, 1.0) for _ in range(parts)]
    scale = sum(weights)
    pieces = [int(total * w / scale) for w in weights[:-1]]
    return pieces + [total - sum(pieces)]


def _weights(rng: random.Random, rows: int, total: int) -> list[int | float]:
    """`rows` weights adding up to exactly `total`: whole points, a few moved by 0.5 or 1.

    Worked in half points so the sum is exact by construction; no weight drops below 1.
    """
    base, extra = divmod(total, rows)
    halves = [2 * (base + (1 if i < extra else 0)) for i in range(rows)]
    rng.shuffle(halves)
    for _ in range(rng.randint(0, rows // 3)):
        i, j = rng.sample(range(rows), 2)
        step = rng.choice((1, 2, 2))
        if halves[i] - step >= 2:
            halves[i] -= step
            halves[j] += step
    return [_num(h / 2) for h in halves]


# --- indicator catalogue --------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """One kind of indicator row: where it sits, how it is scored, how its values are written."""

    l1: str
    l2: str
    l3: str
    method: str
    kind: str  # count, big, wan, pct, cap_pct, days, cost, yuan, money, level
    unit: str = ""  # unit text, or the target word of a 定性 row
    lo: float = 0
    hi: float = 0


def _specs(rows) -> tuple[_Spec, ...]:
    return tuple(_Spec(*r) for r in rows)


_DEPT_SPECS = _specs([
    ("部门管理", "财务管理", "财务管理制度健全性", "定性", "level", "健全"),
    ("部门管理", "财务管理", "资金使用规范性", "定性", "level", "规范"),
    ("部门管理", "财务管理", "预决算信息公开规范性", "定性", "level", "规范"),
    ("部门管理", "预算管理", "预算调整率", "反向达标", "cap_pct", "", 5),
    ("部门管理", "预算管理", "公用经费控制率", "反向达标", "cap_pct", "", 100),
    ("部门管理", "预算管理", "人均公用经费", "反向比例", "cost", "万元", 2, 6),
    ("部门管理", "采购管理", "政府采购规范性", "定性", "level", "规范"),
    ("部门管理", "采购管理", "政府采购执行率", "正向比例", "pct"),
    ("部门管理", "资产管理", "资产管理规范性", "定性", "level", "规范"),
    ("部门管理", "资产管理", "固定资产利用率", "正向达标", "pct"),
    ("部门管理", "内控管理", "内部控制制度健全性", "定性", "level", "健全"),
    ("部门管理", "内控管理", "审计发现问题整改完成率", "正向达标", "pct"),
    ("部门管理", "重点工作管理", "重点工作管理制度健全性", "定性", "level", "健全"),
    ("履职效果", "部门履职目标", "会议培训次数", "正向比例", "count", "场次", 5, 30),
    ("履职效果", "部门履职目标", "会议培训人数", "正向比例", "big", "人次", 300, 3000),
    ("履职效果", "部门履职目标", "考察调研次数", "正向比例", "count", "次", 10, 40),
    ("履职效果", "部门履职目标", "政策文件制定数量", "正向比例", "count", "件", 3, 20),
    ("履职效果", "部门履职目标", "监督检查覆盖率", "正向比例", "pct"),
    ("履职效果", "部门履职目标", "重点工作任务完成率", "正向达标", "pct"),
    ("履职效果", "部门履职目标", "督查督办事项完成率", "正向比例", "pct"),
    ("履职效果", "部门履职目标", "年度重点工作完成及时性", "定性", "level", "及时"),
    ("履职效果", "部门履职目标", "公文办理时限", "反向达标", "days", "个工作日", 3, 10),
    ("履职效果", "部门效果目标", "相关政策建议采纳次数", "正向比例", "count", "次", 5, 30),
    ("履职效果", "部门效果目标", "门户网站访问人数", "正向比例", "wan", "人次", 5, 50),
    ("履职效果", "部门效果目标", "服务企业和群众人次", "正向比例", "wan", "人次", 1, 20),
    ("履职效果", "部门效果目标", "行政审批事项按时办结率", "正向达标", "pct"),
    ("履职效果", "部门效果目标", "优化营商环境工作成效", "定性", "level", "达成"),
    ("履职效果", "社会影响", "为民办实事件数", "正向比例", "count", "件", 20, 120),
    ("履职效果", "社会影响", "处置舆情信访件数", "正向比例", "count", "件", 3, 30),
    ("履职效果", "社会影响", "新闻宣传报道数量", "正向比例", "count", "篇", 10, 80),
    ("履职效果", "社会影响", "信访事项按期办结率", "正向达标", "pct"),
    ("履职效果", "社会影响", "社会公众知晓度", "定性", "level", "明显提升"),
    ("能力建设", "长效管理", "长效管理机制健全性", "定性", "level", "健全"),
    ("能力建设", "制度建设", "规章制度修订数量", "正向比例", "count", "项", 2, 15),
    ("能力建设", "人力资源建设", "人员培训机制完备性", "定性", "level", "完备"),
    ("能力建设", "人力资源建设", "人员培训覆盖率", "正向比例", "pct"),
    ("能力建设", "人力资源建设", "人均培训学时", "正向比例", "count", "学时", 40, 100),
    ("能力建设", "档案管理", "档案管理完备性", "定性", "level", "完备"),
    ("能力建设", "档案管理", "档案整理页数", "正向比例", "wan", "页", 1, 10),
    ("能力建设", "信息化建设", "信息系统安全运行率", "正向达标", "pct"),
    ("能力建设", "信息化建设", "系统故障响应时间", "反向达标", "days", "小时", 2, 24),
    ("能力建设", "信息化建设", "信息化运维成本", "反向比例", "cost", "万元", 10, 80),
    ("服务对象满意度", "服务对象满意度", "服务对象满意度", "正向比例", "pct"),
])

_PROJECT_SPECS = _specs([
    ("产出指标", "数量指标", "培训人次", "正向比例", "big", "人次", 200, 3000),
    ("产出指标", "数量指标", "会议召开次数", "正向比例", "count", "场次", 2, 20),
    ("产出指标", "数量指标", "形成调研报告数量", "正向比例", "count", "篇", 3, 20),
    ("产出指标", "数量指标", "设备购置数量", "正向达标", "count", "台（套）", 5, 60),
    ("产出指标", "数量指标", "检查督导次数", "正向比例", "count", "次", 5, 40),
    ("产出指标", "数量指标", "宣传资料印制数量", "正向比例", "wan", "份", 1, 10),
    ("产出指标", "数量指标", "系统运维数量", "正向比例", "count", "套", 1, 6),
    ("产出指标", "数量指标", "覆盖市州数", "正向达标", "count", "个", 14, 14),
    ("产出指标", "数量指标", "服务对象人数", "正向比例", "wan", "人次", 1, 50),
    ("产出指标", "数量指标", "专家评审项目数", "正向比例", "count", "个", 10, 80),
    ("产出指标", "质量指标", "验收合格率", "正向达标", "pct"),
    ("产出指标", "质量指标", "系统正常运行率", "正向比例", "pct"),
    ("产出指标", "质量指标", "培训合格率", "正向比例", "pct"),
    ("产出指标", "质量指标", "资金使用合规率", "正向达标", "pct"),
    ("产出指标", "质量指标", "问题整改完成率", "正向比例", "pct"),
    ("产出指标", "质量指标", "设备完好率", "正向比例", "pct"),
    ("产出指标", "时效指标", "项目完成及时性", "定性", "level", "及时"),
    ("产出指标", "时效指标", "资金拨付及时性", "定性", "level", "及时"),
    ("产出指标", "时效指标", "故障响应时间", "反向达标", "days", "小时", 2, 24),
    ("产出指标", "时效指标", "软件升级维护及时性", "反向达标", "days", "日", 1, 5),
    ("产出指标", "时效指标", "报告提交时限", "反向达标", "days", "个工作日", 5, 30),
    ("产出指标", "成本指标", "成本控制率", "反向达标", "cap_pct", "", 100),
    ("产出指标", "成本指标", "人均培训成本", "反向比例", "yuan", "元/人", 300, 1500),
    ("产出指标", "成本指标", "单次会议成本", "反向比例", "cost", "万元", 1, 10),
    ("产出指标", "成本指标", "设备采购单价", "反向比例", "cost", "万元", 0.5, 8),
    ("效益指标", "经济效益指标", "节约财政资金", "正向比例", "money", "万元", 5, 80),
    ("效益指标", "经济效益指标", "带动社会投资", "正向比例", "money", "万元", 50, 800),
    ("效益指标", "社会效益指标", "政策知晓率", "正向比例", "pct"),
    ("效益指标", "社会效益指标", "服务群众人次", "正向比例", "wan", "人次", 1, 30),
    ("效益指标", "社会效益指标", "工作效能提升", "定性", "level", "明显提升"),
    ("效益指标", "社会效益指标", "跨部门沟通有效性", "定性", "level", "有效"),
    ("效益指标", "生态效益指标", "节能降耗成效", "定性", "level", "达成"),
    ("效益指标", "生态效益指标", "无纸化办公覆盖率", "正向比例", "pct"),
    ("效益指标", "可持续影响指标", "长效管理机制健全性", "定性", "level", "健全"),
    ("效益指标", "可持续影响指标", "项目成果持续发挥作用年限", "正向达标", "count", "年", 3, 5),
    ("效益指标", "可持续影响指标", "信息共享机制完善性", "定性", "level", "完善"),
    ("满意度指标", "服务对象满意度指标", "参训人员满意度", "正向比例", "pct"),
    ("满意度指标", "服务对象满意度指标", "群众满意度", "正向比例", "pct"),
    ("满意度指标", "服务对象满意度指标", "服务对象满意度", "正向比例", "pct"),
])

_PROJECT_NAMES = (
    "业务费项目—机关信息化运维", "业务费项目—专项调研", "宣传教育经费", "干部教育培训经费", "档案数字化建设项目",
    "办公楼维修改造项目", "安全生产专项经费", "信息系统等级保护测评", "政务服务平台运维经费", "专家咨询评审经费",
    "重点课题研究经费", "执法装备购置项目", "应急物资储备经费", "对口帮扶工作经费", "统计调查专项经费",
    "监督检查工作经费", "网络安全保障经费", "数据中心运行维护", "法律顾问及法律服务经费", "会议及重大活动保障经费",
)
_DETAIL_ITEMS = (
    "差旅费", "办公费", "印刷费", "会议费", "培训费", "委托业务费", "租赁费", "电费", "邮电费", "维修（护）费",
    "专用材料费", "办公设备购置", "信息网络及软件购置更新", "劳务费", "咨询费", "公务用车运行维护费",
)
_REASONS = (
    "受疫情影响部分工作延期开展，未完全达到年初目标；下一步将科学合理设定绩效目标，加快工作进度。",
    "年初目标设定偏高，实际需求少于预期；今后将结合以前年度完成情况合理测算指标值。",
    "上级政策调整，部分任务未按计划实施；将加强与相关部门沟通衔接，及时调整绩效目标。",
    "工作人员变动较大，相关工作推进不够及时；将加强人员培训和工作统筹。",
)
_SPEND_REASONS = (
    "部分项目政府采购程序耗时较长，资金支付滞后；将提前做好采购计划，加强预算执行监控。",
    "项目资金下达较晚，部分支出尚未完成结算；将加快资金支付进度，提高预算执行率。",
)
# A short fall on an automatic row is explained by what that row measures.
_AUTO_REASONS = {
    "预算执行率": _SPEND_REASONS,
    "基本支出执行率": ("年末部分公用经费未结算支付；将加强支出计划管理，均衡支出进度。",),
    "项目支出执行率": _SPEND_REASONS,
    "三公经费控制率": ("因工作需要公务用车运行维护支出增加，超出年初预算；将严格执行三公经费管理规定，从严控制支出。",),
    "结转结余变动率": ("部分项目年底资金未支付完毕，形成结转；将加快项目实施进度，盘活存量资金。",),
    "在职人员控制率": ("年内按政策接收安置人员，实有人数超出编制；将按规定逐步消化。",),
}


# --- writing targets and actuals --------------------------------------------------------


@dataclass(frozen=True)
class _Value:
    """What a row says, plus the numbers the reader will take from it."""

    target: str
    actual: str
    t: float = 0.0
    a: float = 0.0
    share: float = 1.0  # 定性 only


def _value(rng: random.Random, spec: _Spec, miss: bool) -> _Value:
    return _WRITERS[spec.kind](rng, spec, miss)


def _count(rng: random.Random, spec: _Spec, miss: bool, round_to: int = 10) -> _Value:
    n = rng.randint(int(spec.lo), int(spec.hi))
    if n >= 2 * round_to and rng.random() < 0.4:
        n -= n % round_to  # round targets invite "20余次" / "1000多人次" as the actual
    target = rng.choice(("", "≥", "不少于")) + f"{n}{spec.unit}"
    if miss:
        a = rng.randint(int(n * 0.6), n - 1)
        return _Value(target, f"{a}{spec.unit}", n, a)
    if n % round_to == 0 and rng.random() < 0.5:
        # "20余次", "超过1000人次": read as the round number, so the target counts as met.
        return _Value(target, rng.choice((f"{n}多{spec.unit}", f"{n}余{spec.unit}", f"超过{n}{spec.unit}")), n, n)
    a = n if rng.random() < 0.5 else rng.randint(n, max(n, int(n * 1.3)))
    return _Value(target, f"{a}{spec.unit}", n, a)


def _big(rng: random.Random, spec: _Spec, miss: bool) -> _Value:
    return _count(rng, spec, miss, round_to=100)


def _wan(rng: random.Random, spec: _Spec, miss: bool) -> _Value:
    """Tens of thousands: "30万人次" against "30多万人次" or "32.6万人次"."""
    n = rng.randint(int(spec.lo), int(spec.hi))
    target = rng.choice(("", "≥")) + f"{n}万{spec.unit}"
    if miss:
        a = _fmt(round(rng.uniform(0.6 * n, 0.95 * n), 1))
    elif rng.random() < 0.4:
        return _Value(target, f"{n}多万{spec.unit}", n * 1e4, n * 1e4)
    else:
        a = _fmt(round(rng.uniform(n, 1.25 * n), 1))
    return _Value(target, f"{a}万{spec.unit}", n * 1e4, float(a) * 1e4)


def _pct(rng: random.Random, spec: _Spec, miss: bool) -> _Value:
    """Rates: "≥95%", "100%", "不低于90%", "98%以上" against "96.5%" or "大于95%"."""
    n = rng.choice((100, 100, 98, 95, 95, 90, 85))
    target = "100%" if n == 100 else rng.choice((f"≥{n}%", f"不低于{n}%", f"{n}%以上", f"≥{n}%"))
    t = n / 100
    if miss:
        a = _fmt(round(rng.uniform(n - 8, n - 0.1), 1))
    elif n < 100 and rng.random() < 0.3:
        return _Value(target, rng.choice((f"大于{n}%", f"超过{n}%")), t, t)
    else:
        a = _fmt(round(rng.uniform(n, min(100, n + 4.5)), 1))
    return _Value(target, f"{a}%", t, float(a) / 100)


def _cap_pct(rng: random.Random, spec: _Spec, miss: bool) -> _Value:
    """A ceiling on a rate: "≤100%" against "76.8%"."""
    cap = spec.lo
    a = _fmt(round(rng.uniform(cap * 1.03, cap * 1.15), 1) if miss else round(rng.uniform(cap * 0.6, cap), 1))
    return _Value(f"≤{_fmt(cap)}%", f"{a}%", cap / 100, float(a) / 100)


def _days(rng: random.Random, spec: _Spec, miss: bool) -> _Value:
    """A time limit: "≤2日", "5个工作日以内" against "2日"."""
    n = rng.randint(int(spec.lo), int(spec.hi))
    target = rng.choice((f"≤{n}{spec.unit}", f"{n}{spec.unit}以内"))
    a = rng.randint(n + 1, n + 3) if miss else rng.randint(max(1, n // 2), n)
    return _Value(target, f"{a}{spec.unit}", n, a)


def _cost(rng: random.Random, spec: _Spec, miss: bool) -> _Value:
    """A cost ceiling in 万元: "≤12.5万元" against "11.83万元"."""
    t = _fmt(round(rng.uniform(spec.lo, spec.hi), 1))
    a = _fmt(round(float(t) * (rng.uniform(1.02, 1.2) if miss else rng.uniform(0.8, 1.0)), 2))
    return _Value(f"≤{t}{spec.unit}", f"{a}{spec.unit}", float(t) * 1e4, float(a) * 1e4)


def _yuan(rng: random.Random, spec: _Spec, miss: bool) -> _Value:
    """A unit cost in 元: "≤800元/人" against "760元/人"."""
    t = rng.randint(int(spec.lo), int(spec.hi)) // 10 * 10
    a = int(t * (rng.uniform(1.02, 1.2) if miss else rng.uniform(0.8, 1.0)))
    return _Value(f"≤{t}{spec.unit}", f"{a}{spec.unit}", t, a)


def _money_goal(rng: random.Random, spec: _Spec, miss: bool) -> _Value:
    """An amount to reach in 万元: "≥120万元" against "132.5万元"."""
    t = rng.randint(int(spec.lo), int(spec.hi))
    a = _fmt(round(t * (rng.uniform(0.6, 0.97) if miss else rng.uniform(1.0, 1.3)), 2))
    return _Value(f"≥{t}{spec.unit}", f"{a}{spec.unit}", t * 1e4, float(a) * 1e4)


def _level(rng: random.Random, spec: _Spec, miss: bool) -> _Value:
    """定性: the target is a goal word, the actual a level word of the rules."""
    levels = _rules().levels
    if miss:
        word = rng.choice(("基本达成", "基本达成", "较好", "部分达成", "一般", "未达成"))
    else:
        word = spec.unit if spec.unit in levels and rng.random() < 0.7 else "达成"
    return _Value(spec.unit, word, share=levels[word])


_WRITERS = {
    "count": _count, "big": _big, "wan": _wan, "pct": _pct, "cap_pct": _cap_pct, "days": _days,
    "cost": _cost, "yuan": _yuan, "money": _money_goal, "level": _level,
}


# --- scoring (docs/scoring.md, scalar) ----------------------------------------------------


def _value_score(method: str, w: float, v: _Value) -> float:
    if method == "定性":
        return _score(w * v.share)
    if method == "正向比例":
        return _score(w * min(_rate(v.a / v.t), 1.0))
    if method == "正向达标":
        return _num(w) if v.a >= v.t else 0
    if method == "反向比例":
        return _num(w) if v.a <= v.t else _score(w * _rate(v.t / v.a))
    if method == "反向达标":
        return _num(w) if v.a <= v.t else 0
    raise ValueError(f"未知的计分方法：{method}")


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else _rate(num / den)


def _auto_score(method: str, w: float, c: dict) -> float:
    """The six rows computed from 基本信息 (amounts in cents); a zero denominator scores 0."""
    if method == "结转结余变动率":
        if c["carryover_begin"] == 0:
            return _num(w) if c["carryover_end"] == 0 else 0
        rate = _ratio(c["carryover_end"] - c["carryover_begin"], c["carryover_begin"])
        return _num(w) if rate <= 0 else 0
    rate = {
        "预算执行率": _ratio(c["basic_spent"] + c["project_spent"], c["basic_budget"] + c["project_budget"]),
        "基本支出执行率": _ratio(c["basic_spent"], c["basic_budget"]),
        "项目支出执行率": _ratio(c["project_spent"], c["project_budget"]),
        "三公经费控制率": _ratio(c["sangong_spent"], c["sangong_budget"]),
        "在职人员控制率": _ratio(c["staff_actual"], c["staff_quota"]),
    }[method]
    if rate is None:
        return 0
    if method in ("三公经费控制率", "在职人员控制率"):
        return _num(w) if rate <= 1 else 0
    return _score(w * min(rate, 1.0))


def _grade(score: float) -> str:
    rules = _rules()
    for name, bound in zip(rules.grade_names, rules.grade_bounds):
        if score >= bound:
            return name
    return rules.grade_names[-1]


# --- rows -------------------------------------------------------------------------------


def _row(labels: tuple[str, str, str], method: str, weight, value: _Value | None, score, reason: str | None) -> dict:
    l1, l2, l3 = labels
    return {
        "l1": l1, "l2": l2, "l3": l3, "method": method, "weight": weight,
        "target": value.target if value else None, "actual": value.actual if value else None,
        "self_score": _num(score), "reason": reason,
    }


def _value_rows(rng: random.Random, specs: list[_Spec], weights: list, inflate: bool) -> list[dict]:
    """Rows for the chosen specs; with `inflate`, one quantitative row misses its target but
    claims full marks and gives no reason (the typical inflated self-score)."""
    inflated = None
    if inflate:
        candidates = [i for i, s in enumerate(specs) if s.method in ("正向比例", "正向达标")]
        inflated = rng.choice(candidates)
    rows = []
    for i, (spec, w) in enumerate(zip(specs, weights)):
        v = _value(rng, spec, miss=(i == inflated) or rng.random() < _MISS_RATE)
        score = _value_score(spec.method, w, v)
        reason = rng.choice(_REASONS) if score < w else None
        if i == inflated:
            score, reason = w, None
        rows.append(_row((spec.l1, spec.l2, spec.l3), spec.method, w, v, score, reason))
    return rows


def _pick_specs(rng: random.Random, catalogue: tuple[_Spec, ...], count: int) -> list[_Spec]:
    """`count` distinct specs in catalogue order (grouped by 一级指标), always ending with a
    satisfaction row as real forms do."""
    last = len(catalogue) - 1
    chosen = sorted(rng.sample(range(last), min(count, len(catalogue)) - 1)) + [last]
    return [catalogue[i] for i in chosen]


def _dept_rows(rng: random.Random, cents: dict, mistake: str | None) -> list[dict]:
    """整体指标: the six automatic rows first, with the rules' weights, then value rows."""
    auto = _rules().auto_weights
    rows = []
    for method, w in auto.items():
        score = _auto_score(method, w, cents)
        reason = rng.choice(_AUTO_REASONS[method]) if score < w else None
        rows.append(_row(S.AUTO_ROW_LABELS[method], method, _num(w), None, score, reason))
    total = int(_rules().department_total - sum(auto.values())) - (2 if mistake == "weights_98" else 0)
    specs = _pick_specs(rng, _DEPT_SPECS, rng.randint(10, 40) - len(auto))
    return rows + _value_rows(rng, specs, _weights(rng, len(specs), total), mistake == "inflated_score")


# --- projects -----------------------------------------------------------------------------


def _project_cents(rng: random.Random) -> tuple[int, int, int]:
    """(年初预算数, 全年预算数, 全年执行数) in cents; spending never exceeds the budget."""
    budget = rng.randint(2_000, 150_000)
    if rng.random() < 0.5:
        budget -= budget % 100  # whole 万元, as budgets usually are
    initial = budget if rng.random() < 0.7 else int(budget * rng.uniform(0.7, 1.2))
    band = rng.choices(((0.9, 1.0), (0.6, 0.9), (0.2, 0.6)), weights=(70, 25, 5))[0]
    return initial, budget, int(budget * rng.uniform(*band))


def _project(rng: random.Random, code: str, name: str) -> tuple[dict, list[dict], list[dict], tuple[int, int]]:
    """One project: its 项目 row, 项目指标 rows, 项目支出明细 rows, and (budget, spent) in cents."""
    initial, budget, spent = _project_cents(rng)
    specs = _pick_specs(rng, _PROJECT_SPECS, rng.randint(10, 35))
    weights = _weights(rng, len(specs), int(_rules().project_indicator_total))
    rows = [dict(r, project_code=code) for r in _value_rows(rng, specs, weights, inflate=False)]
    exec_score = _score(_rules().project_execution_weight * min(_rate(spent / budget), 1.0))
    total = _score(exec_score + sum(r["self_score"] for r in rows))
    project = {
        "project_code": code, "project_name": name, "initial_budget": _money(initial),
        "budget": _money(budget), "spent": _money(spent), "self_score": _num(total), "self_grade": _grade(total),
    }
    return project, rows, _details(rng, code, spent), (budget, spent)


def _details(rng: random.Random, code: str, spent: int) -> list[dict]:
    """项目支出明细 adding up to the project's spending exactly; some projects leave it out."""
    if rng.random() < 0.15:
        return []
    items = rng.sample(_DETAIL_ITEMS, rng.randint(2, 10))
    return [{"project_code": code, "item": item, "amount": _money(c)} for item, c in zip(items, _split_cents(rng, spent, len(items)))]


# --- 基本信息 -----------------------------------------------------------------------------


def _info_cents(rng: random.Random, staff_quota: int, listed_budget: int, listed_spent: int) -> dict:
    """Every amount of 基本信息 in cents, built so each identity of the template holds."""
    c = {"basic_budget": staff_quota * rng.randint(1_500, 2_600) + rng.randint(0, 99)}
    c["basic_spent"] = int(c["basic_budget"] * rng.uniform(0.93, 1.0))
    c["personnel_spent"] = int(c["basic_spent"] * rng.uniform(0.65, 0.8))
    c["operating_spent"] = c["basic_spent"] - c["personnel_spent"]
    # Not every project of the department is evaluated, so the totals exceed the listed ones.
    unlisted = 0 if (listed_budget == 0 and rng.random() < 0.5) else rng.randint(0, max(listed_budget, 50_000))
    c["project_budget"] = listed_budget + unlisted
    c["project_spent"] = listed_spent + int(unlisted * rng.uniform(0.3, 1.0))
    c["sangong_budget"] = rng.randint(500, 6_000)
    over = rng.random() < 0.05  # now and then a department overspends its 三公经费
    c["sangong_spent"] = int(c["sangong_budget"] * (rng.uniform(1.01, 1.1) if over else rng.uniform(0.4, 1.0)))
    parts = 3 if rng.random() < 0.3 else 2  # most departments had no trips abroad
    c["car_spent"], c["reception_spent"], *abroad = _split_cents(rng, c["sangong_spent"], parts)
    c["abroad_spent"] = abroad[0] if abroad else 0
    total = c["basic_budget"] + c["project_budget"]
    c["carryover_begin"] = 0 if rng.random() < 0.1 else int(total * rng.uniform(0.01, 0.12))
    c["other_income"] = 0 if rng.random() < 0.7 else int(total * rng.uniform(0.005, 0.05))
    c["appropriation"] = total - c["carryover_begin"] - c["other_income"]
    c["carryover_end"] = total - c["basic_spent"] - c["project_spent"]
    return c


def _staff(rng: random.Random) -> tuple[int, int]:
    quota = rng.randint(15, 300)
    if rng.random() < 0.05:
        return quota, quota + rng.randint(1, 3)  # over quota: 在职人员控制率 scores 0
    return quota, quota - rng.randint(0, max(1, quota // 7))


# --- a department ---------------------------------------------------------------------------


def synthetic_department(rng: random.Random, index: int, year: int) -> dict:
    """Department number `index` (0–89999) of a run, in the form of `reference.reference_case()`,
    plus the key `mistake`: None, or the id (from MISTAKES) of its one deliberate mistake."""
    if not 0 <= index <= MAX_INDEX:
        raise ValueError(f"index 应在 0–{MAX_INDEX} 之间，实际为 {index}")
    mistake = _mistake_for(index)
    code = _unit_code(index)
    name, category, parent = _unit(index)
    n_projects = rng.choices(range(9), weights=(1, 3, 3, 3, 2, 2, 1, 1, 1))[0]
    if mistake == "negative_spent":
        n_projects = max(1, n_projects)
    projects, project_rows, details, listed_budget, listed_spent = [], [], [], 0, 0
    for k, pname in enumerate(rng.sample(_PROJECT_NAMES, n_projects), start=1):
        project, rows, items, (budget, spent) = _project(rng, f"{code}-{year}-{k:02d}", pname)
        projects.append(project)
        project_rows += rows
        details += items
        listed_budget += budget
        listed_spent += spent
    quota, actual = _staff(rng)
    cents = _info_cents(rng, quota, listed_budget, listed_spent) | {"staff_quota": quota, "staff_actual": actual}
    indicators = _dept_rows(rng, cents, mistake)
    info = _info(rng, year, code, name, category, parent, cents)
    info["self_total"] = _num(_score(sum(r["self_score"] for r in indicators)))
    data = {"info": info, "indicators": indicators, "projects": projects, "project_indicators": project_rows, "details": details}
    _apply_mistake(data, mistake)
    return data | {"mistake": mistake}


def _info(rng: random.Random, year: int, code: str, name: str, category: str, parent: str, c: dict) -> dict:
    contact, phone = _contact(rng)
    info = {
        "template_version": S.TEMPLATE_VERSION, "year": year, "dept_code": code, "dept_name": name,
        "dept_category": category, "parent_dept": parent, "contact": contact, "phone": phone,
        "staff_quota": c["staff_quota"], "staff_actual": c["staff_actual"],
    }
    for f in S.FIELDS:
        if f.type == S.MONEY:
            info[f.key] = _money(c[f.key])
    return info


def _apply_mistake(data: dict, mistake: str | None) -> None:
    """The mistakes that are a single edit of otherwise correct data (the others are made
    while generating: an inflated row, weights adding up to 98)."""
    info = data["info"]
    if mistake == "personnel_mismatch":
        info["operating_spent"] = _money(round(info["operating_spent"] * 100) + 50)
    elif mistake == "blank_category":
        info["dept_category"] = ""
    elif mistake == "unknown_category":
        info["dept_category"] = "行政单位"
    elif mistake == "negative_spent":
        project = data["projects"][0]
        project["spent"] = -project["spent"]


# --- files ----------------------------------------------------------------------------------


def file_name(data: dict) -> str:
    """`<单位编码>_<单位名称>.xlsx`, with characters no file system accepts replaced."""
    info = data["info"]
    stem = f"{info['dept_code']}_{info['dept_name']}"
    return "".join("_" if ch in '/\\:*?"<>|' else ch for ch in stem) + ".xlsx"


def sample_departments(count: int, seed: int = 1, year: int = REFERENCE_YEAR) -> list[dict]:
    """The reference case followed by `count` synthetic departments, all from `seed`."""
    ref = reference.reference_case()
    if year != REFERENCE_YEAR:
        ref["info"]["year"] = year
    rng = random.Random(seed)
    return [ref] + [synthetic_department(rng, i, year) for i in range(count)]


def _write_one(job: tuple[Path, dict]) -> None:
    path, data = job
    write_submission(path, data, rules=_rules())


def write_samples(out_dir, count: int, seed: int = 1, year: int = REFERENCE_YEAR, jobs: int = 1) -> list[Path]:
    """Write the reference case and `count` synthetic departments into `out_dir`.

    The same seed gives byte-identical files whatever `jobs` is: all data is generated here
    first, from one `random.Random(seed)`, and worker processes only write it out.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    work = [(out / file_name(d), d) for d in sample_departments(count, seed, year)]
    if jobs > 1 and len(work) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(_write_one, work, chunksize=max(1, len(work) // (jobs * 4))))
    else:
        for job in work:
            _write_one(job)
    return [path for path, _ in work]
