"""The rules in force: the default TOML shipped in the package, overridden by a bureau's file.

Every parameter that changes a figure in a workbook comes from here. A rules file may name
any subset of the default keys; an unknown key or a value of the wrong type is an error that
names the key, so a typo never silently leaves a default in force.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import os
import re
import stat
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

# The module of the google-re2 distribution (declared in pyproject.toml as google-re2).
import re2

from .schema import AUTO_METHODS, METHODS, VALUE_METHODS

# A rules file names the settings it changes: a few kilobytes. Beyond these bounds it is not a
# rules file (or is a trap: /dev/zero, a FIFO, a 400-digit integer, arrays 600 deep): exit 2.
MAX_RULES_BYTES = 1 << 20
MAX_DEPTH = 16  # tables and arrays inside each other
MAX_INTEGER = 10**15


class RulesError(ValueError):
    """A rules file that cannot be used; the message is for the user, in Chinese."""


def _default_text() -> str:
    return resources.files("evalbatch").joinpath("rules_default.toml").read_text(encoding="utf-8")


def _merge(base: dict, override: dict, source: str, path: str = "") -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        dotted = f"{path}.{key}" if path else key
        # Open tables (level words) may gain keys; everything else must already exist.
        open_table = path in _OPEN_TABLES
        if key not in base and not open_table:
            raise RulesError(f"规则文件 {source} 中的键 {dotted} 不是可设置的规则，请检查拼写（可用 evalbatch rules 查看全部规则）")
        if key in base and isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise RulesError(f"规则文件 {source} 中的 {dotted} 应为一个表（[{dotted}]）")
            out[key] = _merge(base[key], value, source, dotted)
            continue
        expected = base.get(key, _OPEN_TABLES.get(path, 1.0))
        if not _same_kind(expected, value):
            raise RulesError(f"规则文件 {source} 中的 {dotted} 类型不对：应为{_kind_name(expected)}，实际为 {value!r}")
        out[key] = value
    return out


# Tables a bureau may add keys to, with the kind of value a new key takes.
_OPEN_TABLES = {"qualitative.levels": "达成@top", "qualitative.tiers": [0.0, 1.0], "levels": "提示"}


def _same_kind(expected, value) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(expected, bool) and isinstance(value, bool)
    if isinstance(expected, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(expected, list):
        return isinstance(value, list)
    if isinstance(expected, str) and isinstance(value, (int, float)):
        return True  # a level word: a share (0.8) where the default names a tier ("达成@bottom")
    return isinstance(value, type(expected))


def _kind_name(expected) -> str:
    if isinstance(expected, bool):
        return "true 或 false"
    if isinstance(expected, (int, float)):
        return "数字"
    if isinstance(expected, list):
        return "列表"
    return "文本"


@dataclass(frozen=True)
class Rules:
    data: dict
    source: str

    # --- scoring
    @property
    def department_total(self) -> float:
        return float(self.data["scoring"]["department_total"])

    @property
    def project_indicator_total(self) -> float:
        return float(self.data["scoring"]["project_indicator_total"])

    @property
    def project_execution_weight(self) -> float:
        return float(self.data["scoring"]["project_execution_weight"])

    @property
    def execution_weight_max(self) -> float:
        return float(self.data["scoring"]["execution_weight_max"])

    @property
    def rate_decimals(self) -> int:
        return int(self.data["scoring"]["rate_decimals"])

    @property
    def score_decimals(self) -> int:
        return int(self.data["scoring"]["score_decimals"])

    @property
    def strict(self) -> bool:
        return bool(self.data["scoring"]["strict"])

    @property
    def inferred_methods(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.data["scoring"]["inferred_methods"].items()}

    @property
    def auto_weights(self) -> dict[str, float]:
        return {m: float(self.data["scoring"]["auto_weights"][m]) for m in AUTO_METHODS}

    @property
    def template_indicators(self) -> list[dict]:
        """The common 整体指标 rows the blank template carries after the six automatic ones."""
        keys = ("l1", "l2", "l3", "method", "weight", "target")
        return [dict(zip(keys, row)) for row in self.data["template"]["department_indicators"]]

    # --- grades
    @property
    def grade_names(self) -> list[str]:
        return list(self.data["grades"]["names"])

    @property
    def grade_bounds(self) -> list[float]:
        return [float(b) for b in self.data["grades"]["lower_bounds"]]

    @property
    def unrated(self) -> str:
        return str(self.data["grades"]["unrated"])

    @property
    def project_only(self) -> str:
        return str(self.data["grades"]["project_only"])

    # --- 定性
    @property
    def tiers(self) -> dict[str, tuple[float, float]]:
        return {str(k): (float(v[0]), float(v[1])) for k, v in self.data["qualitative"]["tiers"].items()}

    @property
    def levels(self) -> dict[str, float]:
        """Level word → share of 分值: given as a share, or as "tier@top|middle|bottom"."""
        return {str(k): self._share(v) for k, v in self.data["qualitative"]["levels"].items()}

    @property
    def basic_share(self) -> float:
        """The most a 基本-word (基本健全, 基本规范) scores: partial, never full."""
        return self._share(self.data["qualitative"]["basic"])

    def _share(self, value) -> float:
        if not isinstance(value, str):
            return float(value)
        tier, _, at = value.partition("@")
        low, high = self.tiers[tier]
        return {"top": high, "middle": (low + high) / 2, "bottom": low}[at or "top"]

    # --- variants of deployed systems (docs/scoring.md, docs/official-forms.md)
    @property
    def execution_cap(self) -> bool:
        return bool(self.data["scoring"]["execution_cap"])

    @property
    def forward_rate_cap(self) -> float:
        cap = float(self.data["scoring"]["forward_rate_cap"])
        return cap if cap > 0 else float("inf")

    @property
    def reverse_formula(self) -> str:
        return str(self.data["scoring"]["reverse_formula"])

    @property
    def reverse_zero_at(self) -> float:
        return float(self.data["scoring"]["reverse_zero_at"])

    @property
    def deviation(self) -> tuple[float, float]:
        d = self.data["scoring"]["deviation"]
        return float(d["threshold"]), float(d["points"])

    @property
    def total_cap(self) -> list[tuple[float, float]]:
        """(execution rate below which, highest total), from the lowest band up."""
        c = self.data["scoring"]["total_cap"]
        return sorted(zip(map(float, c["below"]), map(float, c["caps"])))

    # --- levels of the checks
    @property
    def rule_levels(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.data["levels"].items()}

    # --- checks
    @property
    def tolerance(self) -> float:
        return float(self.data["checks"]["tolerance"])

    @property
    def tolerance_cents(self) -> int:
        return int(round(self.tolerance * 100))

    @property
    def score_tolerance(self) -> float:
        return float(self.data["checks"]["score_tolerance"])

    @property
    def mismatch_threshold(self) -> float:
        return float(self.data["checks"]["mismatch_threshold"])

    # --- re-review (抽评)
    @property
    def roster_min_share(self) -> float:
        """The share of last run's (or the roster's) units below which an inbox is taken as missing."""
        return float(self.data["roster"]["min_share"])

    @property
    def review_flag_diff(self) -> float:
        return float(self.data["review"]["flag_diff"])

    @property
    def review_flag_grades(self) -> list[str]:
        return [str(g) for g in self.data["review"]["flag_grades"]]

    @property
    def rubric(self) -> list[tuple[str, float]]:
        """The quality rubric: (item, maximum) in the order of the review workbook."""
        r = self.data["review"]["rubric"]
        return [(str(name), float(top)) for name, top in zip(r["items"], r["maxima"])]

    @property
    def quality_grades(self) -> tuple[list[str], list[float]]:
        q = self.data["review"]["quality_grades"]
        return [str(n) for n in q["names"]], [float(b) for b in q["lower_bounds"]]

    # --- limits
    def limit(self, key: str) -> float:
        return float(self.data["limits"][key])

    def web(self, key: str) -> float:
        """A limit of evalbatch serve ([web])."""
        return float(self.data["web"][key])

    @property
    def version(self) -> str:
        return str(self.data["meta"]["version"])

    @functools.cached_property
    def digest(self) -> str:
        """A short hash of the rules in force; it changes whenever any figure could change.
        Computed once: every file's reading asks for it, and the rules do not change once loaded."""
        canon = json.dumps(self.data, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canon.encode("utf-8")).hexdigest()[:16]

    def to_toml(self) -> str:
        return _to_toml(self.data)

    def to_commented_toml(self) -> str:
        """The rules in force with the shipped file's comments (units, meaning) beside each
        setting, and the default where a setting differs from it."""
        return _to_toml(self.data, notes=_Notes(_default_text()))


# Decimal places that rounding can take: beyond these a power of ten overflows or means nothing.
_DECIMALS = {"rate_decimals": (0, 10), "score_decimals": (0, 6)}


def _leaves(data, path: str = ""):
    """(dotted key, value) of every value in the rules, list items as key[i]."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else None
    if items is None:
        yield path, data
        return
    for key, value in items:
        yield from _leaves(value, f"{path}[{key}]" if isinstance(data, list) else f"{path}.{key}" if path else str(key))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_values(rules: Rules) -> None:
    """Values a TOML type check lets through but that would crash or distort a run later:
    exit 2 naming the key, before any file is read."""
    where = f"规则 {rules.source}："
    for dotted, value in _leaves(rules.data):
        if isinstance(value, float) and not math.isfinite(value):
            raise RulesError(f"{where}{dotted} 应为有限的数字，实际为 {value}")
    scoring = rules.data["scoring"]
    for key, (low, high) in _DECIMALS.items():
        value = scoring[key]
        if not _is_number(value) or not float(value).is_integer() or not low <= value <= high:
            raise RulesError(f"{where}scoring.{key} 应为 {low} 到 {high} 之间的整数，实际为 {value!r}")
    for key in ("department_total", "project_indicator_total"):
        if scoring[key] <= 0:
            raise RulesError(f"{where}scoring.{key} 必须大于 0，实际为 {scoring[key]!r}")
    for dotted, value in [("scoring.project_execution_weight", scoring["project_execution_weight"]),
                          *((f"scoring.auto_weights.{k}", v) for k, v in scoring["auto_weights"].items())]:
        if value < 0:
            raise RulesError(f"{where}{dotted} 不能为负数，实际为 {value!r}")
    if not _is_number(scoring["execution_weight_max"]) or scoring["execution_weight_max"] < scoring["project_execution_weight"]:
        raise RulesError(f"{where}scoring.execution_weight_max 应为不小于 scoring.project_execution_weight 的分数，"
                         f"实际为 {scoring['execution_weight_max']!r}")
    _check_grade_table(where, "grades", rules.data["grades"])


def _check_variants(rules: Rules) -> None:
    """The scoring variants' settings: each wrong one named (exit 2), before any file is read."""
    where = f"规则 {rules.source}："
    for tier, bounds in rules.data["qualitative"]["tiers"].items():
        if len(bounds) != 2 or not all(_is_number(b) for b in bounds) or not 0 <= bounds[0] <= bounds[1] <= 1:
            raise RulesError(f"{where}qualitative.tiers.{tier} 应为 [下限, 上限]，0 ≤ 下限 ≤ 上限 ≤ 1，实际为 {bounds!r}")
    q = rules.data["qualitative"]
    for dotted, value in [("qualitative.basic", q["basic"]), *((f"qualitative.levels.{w}", v) for w, v in q["levels"].items())]:
        tier, _, at = value.partition("@") if isinstance(value, str) else ("", "", "")
        if isinstance(value, str) and (tier not in rules.data["qualitative"]["tiers"] or at not in ("", "top", "middle", "bottom")):
            raise RulesError(f"{where}{dotted} 的“{value}”应为比例或“档位@top/middle/bottom”，档位须在 qualitative.tiers 中")
    s = rules.data["scoring"]
    if s["reverse_formula"] not in ("ratio", "linear"):
        raise RulesError(f"{where}scoring.reverse_formula 只能是 \"ratio\" 或 \"linear\"，实际为 {s['reverse_formula']!r}")
    if not _is_number(s["reverse_zero_at"]) or s["reverse_zero_at"] <= 1:
        raise RulesError(f"{where}scoring.reverse_zero_at 应大于 1（实际值为指标值的几倍时得 0 分），实际为 {s['reverse_zero_at']!r}")
    if s["forward_rate_cap"] < 0 or 0 < s["forward_rate_cap"] < 1:
        raise RulesError(f"{where}scoring.forward_rate_cap 应为 0（不设上限）或不小于 1，实际为 {s['forward_rate_cap']!r}")
    threshold, points = s["deviation"]["threshold"], s["deviation"]["points"]
    if threshold < 0 or points < 0:
        raise RulesError(f"{where}scoring.deviation 的 threshold 与 points 不能为负数")
    below, caps = s["total_cap"]["below"], s["total_cap"]["caps"]
    if len(below) != len(caps) or not all(_is_number(x) for x in below + caps):
        raise RulesError(f"{where}scoring.total_cap.below 与 caps 应为个数相同的数字列表")
    if any(a <= b for a, b in zip(below, below[1:])) or any(a <= b for a, b in zip(caps, caps[1:])):
        raise RulesError(f"{where}scoring.total_cap.below 与 caps 都应自高到低严格递减（如 [0.8, 0.7] 与 [89, 79]）")


def _check_grade_table(where: str, key: str, table: dict) -> None:
    """A table of grade names and their lower bounds (grades, review.quality_grades)."""
    names, bounds = table["names"], table["lower_bounds"]
    if not all(isinstance(n, str) and n.strip() for n in names):
        raise RulesError(f"{where}{key}.names 的每一项都应为非空文本（如 \"优\"），实际为 {names!r}")
    if not all(_is_number(b) for b in bounds):
        raise RulesError(f"{where}{key}.lower_bounds 的每一项都应为数字，实际为 {bounds!r}")
    if len(names) != len(bounds) or not names:
        raise RulesError(f"{where}{key}.names 与 {key}.lower_bounds 的个数必须相同且不为空")
    if any(a <= b for a, b in zip(bounds, bounds[1:])):
        raise RulesError(f"{where}{key}.lower_bounds 必须自高到低严格递减")


def _check_review(rules: Rules) -> None:
    """The re-review settings: each wrong one named (exit 2) before anything is drawn or read."""
    where = f"规则 {rules.source}："
    review = rules.data["review"]
    if review["flag_diff"] < 0:
        raise RulesError(f"{where}review.flag_diff 不能为负数，实际为 {review['flag_diff']!r}")
    if not all(isinstance(g, str) and g.strip() for g in review["flag_grades"]):
        raise RulesError(f"{where}review.flag_grades 的每一项都应为评价等级的名称（如 \"差\"），实际为 {review['flag_grades']!r}")
    items, maxima = review["rubric"]["items"], review["rubric"]["maxima"]
    if not items or len(items) != len(maxima):
        raise RulesError(f"{where}review.rubric.items 与 review.rubric.maxima 的个数必须相同且不为空")
    if not all(isinstance(n, str) and n.strip() for n in items) or len(set(items)) != len(items):
        raise RulesError(f"{where}review.rubric.items 的每一项都应为不重复的非空文本，实际为 {items!r}")
    if not all(_is_number(m) and m > 0 for m in maxima):
        raise RulesError(f"{where}review.rubric.maxima 的每一项都应为大于 0 的数字，实际为 {maxima!r}")
    _check_grade_table(where, "review.quality_grades", review["quality_grades"])


# Settings that are fractions (0.25 = 25 %), and amounts in 万元 with the largest sane value:
# a number beyond these was written in another unit (a percentage, 元), which would silently
# switch a check off or make it meaningless.
_FRACTIONS = ("checks.mismatch_threshold", "scoring.deviation.threshold", "scoring.total_cap.below", "roster.min_share")
_WAN_CEILINGS = {"checks.tolerance": 100}


def _check_units(rules: Rules) -> None:
    """Values clearly in the wrong unit: exit 2 with the value that was probably meant."""
    where = f"规则 {rules.source}："
    for key in _FRACTIONS:
        value = _lookup(rules.data, tuple(key.split(".")))
        values = value if isinstance(value, list) else [value]
        if any(_is_number(v) and v > 1 for v in values):
            meant = [v / 100 if _is_number(v) and v > 1 else v for v in values]
            shown = _toml_value(meant if isinstance(value, list) else meant[0])
            raise RulesError(f"{where}{key} 是比例（0.25 即 25%），不能大于 1，实际为 {_toml_value(value)}；"
                             f"如果指的是百分数，请写 {key.rsplit('.', 1)[1]} = {shown}")
    for key, ceiling in _WAN_CEILINGS.items():
        value = _lookup(rules.data, tuple(key.split(".")))
        if _is_number(value) and value > ceiling:
            raise RulesError(f"{where}{key} 的单位是万元，{value:g} 万元远超要比较的金额；"
                             f"如果指的是 {value:g} 元，请写 {key.rsplit('.', 1)[1]} = {value / 10000:g}")


def _check_template(rules: Rules) -> None:
    """The template's common rows: each one the template can hold, all adding up to the total."""
    where = f"规则 {rules.source}：template.department_indicators"
    rows = rules.data["template"]["department_indicators"]
    for i, row in enumerate(rows, start=1):
        ok = (isinstance(row, list) and len(row) == 6 and all(isinstance(x, str) for x in row[:4]) and _is_number(row[4])
              and row[4] >= 0 and isinstance(row[5], (str, int, float)) and row[3] in VALUE_METHODS)
        if not ok:
            raise RulesError(f"{where} 第 {i} 行应为 [一级指标, 二级指标, 三级指标, 计分方法, 分值, 指标值]，"
                             f"计分方法为 {'、'.join(VALUE_METHODS)} 之一，分值不小于 0；实际为 {row!r}")
    auto = sum(rules.auto_weights.values())
    total = auto + sum(row[4] for row in rows)
    if abs(total - rules.department_total) > 1e-9:
        raise RulesError(f"{where} 的分值合计 {total - auto:g} 加上 scoring.auto_weights 的 {auto:g} 共 {total:g} 分，"
                         f"应等于 scoring.department_total（{rules.department_total:g} 分）；请调整分值")


_RE2 = re2.Options()
_RE2.log_errors = False  # the reason reaches the user in the RulesError, not as a line on stderr


def bureau_pattern(pattern: str):
    """A pattern from a rules file, compiled by RE2 (google-re2): matching time is linear in the
    text, so a pattern like ^(a+)+$ cannot hold a run on a department's long cell."""
    return re2.compile(pattern, _RE2)


def _text(exc: Exception) -> str:
    reason = exc.args[0] if exc.args else exc
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


def _check(rules: Rules) -> Rules:
    _check_values(rules)
    _check_units(rules)
    _check_template(rules)
    _check_variants(rules)
    _check_review(rules)
    for dotted, share in [("qualitative.basic", rules.basic_share), *((f"qualitative.levels.{w}", v) for w, v in rules.levels.items())]:
        if not 0 <= share <= 1:
            raise RulesError(f"规则 {rules.source}：{dotted} 应在 0 到 1 之间")
    if float(rules.data["roster"]["min_share"]) < 0:
        raise RulesError(f"规则 {rules.source}：roster.min_share 不能为负数，实际为 {rules.data['roster']['min_share']!r}")
    for key in ("tolerance", "score_tolerance", "mismatch_threshold"):
        if float(rules.data["checks"][key]) < 0:
            raise RulesError(f"规则 {rules.source}：checks.{key} 不能为负数")
    for key, method in rules.inferred_methods.items():
        if method not in METHODS:
            raise RulesError(f"规则 {rules.source}：scoring.inferred_methods.{key} 的“{method}”不是计分方法；可选：{'、'.join(METHODS)}")
    from .findings import LEVELS, RULES

    for rule_id, level in rules.rule_levels.items():
        if rule_id not in RULES:
            raise RulesError(f"规则 {rules.source}：levels.{rule_id} 不是审核规则编号，请检查拼写")
        if level not in LEVELS:
            raise RulesError(f"规则 {rules.source}：levels.\"{rule_id}\" 应为 {'、'.join(LEVELS)} 之一，实际为“{level}”")
    for pattern in rules.data["forms"]["placeholders"]:
        try:
            bureau_pattern(pattern)
        except re2.error as exc:
            raise RulesError(f"规则 {rules.source}：forms.placeholders 中的“{pattern}”不是有效的正则表达式，或用了不支持的写法"
                             f"（如回溯引用 \\1、环视 (?=…)）：{_text(exc)}") from None
    for key, value in rules.data["limits"].items():
        if float(value) <= 0:
            raise RulesError(f"规则 {rules.source}：limits.{key} 必须大于 0")
    for key, value in rules.data["web"].items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise RulesError(f"规则 {rules.source}：web.{key} 必须是大于 0 的数，实际为 {value!r}")
    return rules


NATIONAL = "national"


def profiles() -> dict[str, str]:
    """The shipped profiles: name → its meta.name (national is the default rules file)."""
    names = {NATIONAL: tomllib.loads(_default_text())["meta"]["name"]}
    for f in sorted(resources.files("evalbatch").joinpath("profiles").iterdir(), key=lambda f: f.name):
        if f.name.endswith(".toml"):
            names[f.name.removesuffix(".toml")] = tomllib.loads(f.read_text(encoding="utf-8"))["meta"]["name"]
    return names


def profile_text(name: str) -> str:
    """A shipped profile's file as shipped, comments included."""
    if name == NATIONAL:
        return _default_text()
    return resources.files("evalbatch").joinpath("profiles", f"{name}.toml").read_text(encoding="utf-8")


def load_rules(path: str | Path | None = None) -> Rules:
    """The default rules (the national profile); a shipped profile by name (`hubei`); or a
    bureau's TOML file, laid over the defaults or over the profile its `extends` names."""
    if path is None or str(path) == NATIONAL:
        return _check(Rules(tomllib.loads(_default_text()), "默认规则（national）"))
    name = str(path)
    if name in profiles() and not Path(name).exists():
        data = _resolve(tomllib.loads(profile_text(name)), f"规则 {name}", set())
        return _check(Rules(data, f"{data['meta']['name']}（{name}）"))
    p = Path(path)
    try:
        override = tomllib.loads(_rules_text(p))
    except FileNotFoundError:
        known = "、".join(profiles())
        raise RulesError(f"找不到规则文件 {p}，也不是内置的规则方案（{known}）") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"无法读取规则文件 {p}：{exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"规则文件 {p} 不是有效的 TOML：{exc}") from None
    except RecursionError:
        raise RulesError(f"规则文件 {p} 中的数组或表嵌套过深（超过 {MAX_DEPTH} 层）；请检查方括号是否成对") from None
    except ValueError as exc:  # an integer of thousands of digits (Python's int limit)
        raise RulesError(f"规则文件 {p} 中有位数过多的数字（{exc}）；数值的绝对值不能超过 {MAX_INTEGER:,}") from None
    _check_bounds(override, str(p))
    return _check(Rules(_resolve(override, str(p), set()), str(p)))


def _rules_text(p: Path) -> str:
    """The text of a rules file: a regular file (a link to one is fine) below MAX_RULES_BYTES.
    Opened without blocking, so a FIFO can neither hang nor feed a run."""
    fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "文件夹" if stat.S_ISDIR(st.st_mode) else "管道、设备或其他特殊文件"
            raise RulesError(f"规则文件 {p} 是{kind}，不是普通文件；请指定一个 .toml 规则文件")
        data = b""
        while len(data) <= MAX_RULES_BYTES and (chunk := os.read(fd, 1 << 16)):
            data += chunk
    finally:
        os.close(fd)
    if len(data) > MAX_RULES_BYTES:
        raise RulesError(f"规则文件 {p} 超过 {MAX_RULES_BYTES >> 20} MB；规则文件只应写要修改的设置，请检查是否选错了文件")
    return data.decode("utf-8-sig")


def _check_bounds(data: dict, source: str) -> None:
    """Nesting and integers within bounds, each offence naming its key (before anything else
    walks the data recursively or converts a number)."""
    stack = [(data, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise RulesError(f"规则 {source}：{path} 嵌套超过 {MAX_DEPTH} 层，不是有效的设置")
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            dotted = f"{path}[{key}]" if isinstance(node, list) else f"{path}.{key}" if path else str(key)
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
                raise RulesError(f"规则 {source}：{dotted} 的数值过大（{len(str(abs(value)))} 位），绝对值不能超过 {MAX_INTEGER:,}")
            stack.append((value, dotted, depth + 1))


def _resolve(override: dict, source: str, seen: set[str]) -> dict:
    """`override` laid over the profile it `extends` (national when it names none)."""
    base_name = override.pop("extends", NATIONAL)
    if not isinstance(base_name, str) or base_name not in profiles():
        raise RulesError(f"{source} 中的 extends = {base_name!r} 不是内置的规则方案；可选：{'、'.join(profiles())}")
    if base_name in seen:
        raise RulesError(f"{source} 中的 extends 形成循环（{base_name}）")
    if base_name == NATIONAL:
        base = tomllib.loads(_default_text())
    else:
        base = _resolve(tomllib.loads(profile_text(base_name)), f"规则 {base_name}", seen | {base_name})
    return _merge(base, override, source)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").isascii() and k.replace("_", "").isalnum() else json.dumps(k, ensure_ascii=False)


def _to_toml(data: dict, prefix: str = "", notes: _Notes | None = None, path: tuple = ()) -> str:
    lines, tables = [], []
    for k, v in data.items():
        if isinstance(v, dict):
            tables.append((k, v))
        elif notes is None:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        else:
            lines += notes.setting(path + (k,), f"{_toml_key(k)} = ", v)
    out = "".join(line + "\n" for line in notes.above(path)) if notes and path else ""
    if lines:
        out += (f"[{prefix}]\n" if prefix else "") + "\n".join(lines) + "\n\n"
    for k, v in tables:
        name = f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k)
        out += _to_toml(v, name, notes, path + (k,))
    return out


# TOML strings, masked before looking for the brackets, '=' and '#' that are not inside one.
_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'[^\']*\'')


class _Notes:
    """The comments of a rules file (the shipped one) by the path of the table or key they
    stand above or beside, and the file's values, to say where the rules in force differ."""

    def __init__(self, text: str):
        self.defaults = tomllib.loads(text)
        self.comments: dict[tuple, tuple[list[str], str]] = {}
        table: tuple = ()
        pending: list[str] = []
        depth = 0  # inside a value that spans lines ([ … ])
        for raw in text.splitlines():
            line = raw.strip()
            masked = _STRINGS.sub(lambda m: " " * len(m.group()), line)  # same length: positions carry over
            cut = masked.find("#") if "#" in masked else len(line)
            code, trailing, bare = line[:cut].strip(), line[cut:], masked[:cut]
            if depth:
                depth += bare.count("[") - bare.count("]")
            elif not code:
                pending += [trailing] if trailing else []
            elif code.startswith("["):
                table = _key_path(code[1:-1])
                self.comments[table], pending = (pending, ""), []
            else:
                self.comments[table + _key_path(code[:bare.index("=")])], pending = (pending, trailing), []
                depth = bare.count("[") - bare.count("]")

    def above(self, path: tuple) -> list[str]:
        return self.comments.get(path, ([], ""))[0]

    def setting(self, path: tuple, head: str, value) -> list[str]:
        above, trailing = self.comments.get(path, ([], ""))
        default = _lookup(self.defaults, path)
        if default is not None and default != value:
            trailing = (trailing + "；" if trailing else "# ") + f"默认值为 {_toml_value(default)}"
        if isinstance(value, list) and value and all(isinstance(x, list) for x in value):
            body = head + "[\n" + "".join(f"    {_toml_value(x)},\n" for x in value) + "]"
        else:
            body = head + _toml_value(value)
        return [*above, body + (f"  {trailing}" if trailing else "")]


def _key_path(dotted: str) -> tuple:
    """`scoring.auto_weights`, `"预算执行率"` or `"score.over_weight"` as the tuple of its keys."""
    node, path = tomllib.loads(f"{dotted.strip()} = 0"), []
    while isinstance(node, dict):
        ((key, node),) = node.items()
        path.append(key)
    return tuple(path)


def _lookup(data, path: tuple):
    """The value at `path` of nested tables, or None."""
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data
