"""The rules in force: the default TOML shipped in the package, overridden by a bureau's file.

Every parameter that changes a figure in a workbook comes from here. A rules file may name
any subset of the default keys; an unknown key or a value of the wrong type is an error that
names the key, so a typo never silently leaves a default in force.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .schema import AUTO_METHODS, METHODS


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

    def _share(self, value) -> float:
        if not isinstance(value, str):
            return float(value)
        tier, _, at = value.partition("@")
        low, high = self.tiers[tier]
        return {"top": high, "middle": (low + high) / 2, "bottom": low}[at or "top"]

    # --- variants of deployed systems (docs/scoring.md, shared/docs/official-forms.md)
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

    # --- limits
    def limit(self, key: str) -> float:
        return float(self.data["limits"][key])

    @property
    def version(self) -> str:
        return str(self.data["meta"]["version"])

    @property
    def digest(self) -> str:
        """A short hash of the rules in force; it changes whenever any figure could change."""
        canon = json.dumps(self.data, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canon.encode("utf-8")).hexdigest()[:16]

    def to_toml(self) -> str:
        return _to_toml(self.data)


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
    grades = rules.data["grades"]
    if not all(isinstance(n, str) and n.strip() for n in grades["names"]):
        raise RulesError(f"{where}grades.names 的每一项都应为非空文本（如 \"优\"），实际为 {grades['names']!r}")
    if not all(_is_number(b) for b in grades["lower_bounds"]):
        raise RulesError(f"{where}grades.lower_bounds 的每一项都应为数字，实际为 {grades['lower_bounds']!r}")


def _check_variants(rules: Rules) -> None:
    """The scoring variants' settings: each wrong one named (exit 2), before any file is read."""
    where = f"规则 {rules.source}："
    for tier, bounds in rules.data["qualitative"]["tiers"].items():
        if len(bounds) != 2 or not all(_is_number(b) for b in bounds) or not 0 <= bounds[0] <= bounds[1] <= 1:
            raise RulesError(f"{where}qualitative.tiers.{tier} 应为 [下限, 上限]，0 ≤ 下限 ≤ 上限 ≤ 1，实际为 {bounds!r}")
    for word, value in rules.data["qualitative"]["levels"].items():
        tier, _, at = value.partition("@") if isinstance(value, str) else ("", "", "")
        if isinstance(value, str) and (tier not in rules.data["qualitative"]["tiers"] or at not in ("", "top", "middle", "bottom")):
            raise RulesError(f"{where}qualitative.levels.{word} 的“{value}”应为比例或“档位@top/middle/bottom”，档位须在 qualitative.tiers 中")
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


def _check(rules: Rules) -> Rules:
    _check_values(rules)
    names, bounds = rules.grade_names, rules.grade_bounds
    if len(names) != len(bounds) or not names:
        raise RulesError(f"规则 {rules.source}：grades.names 与 grades.lower_bounds 的个数必须相同且不为空")
    if any(a <= b for a, b in zip(bounds, bounds[1:])):
        raise RulesError(f"规则 {rules.source}：grades.lower_bounds 必须自高到低严格递减")
    _check_variants(rules)
    for word, share in rules.levels.items():
        if not 0 <= share <= 1:
            raise RulesError(f"规则 {rules.source}：qualitative.levels.{word} 应在 0 到 1 之间")
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
            re.compile(pattern)
        except re.error as exc:
            raise RulesError(f"规则 {rules.source}：forms.placeholders 中的“{pattern}”不是有效的正则表达式（{exc}）") from None
    for key, value in rules.data["limits"].items():
        if float(value) <= 0:
            raise RulesError(f"规则 {rules.source}：limits.{key} 必须大于 0")
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
        override = tomllib.loads(p.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        known = "、".join(profiles())
        raise RulesError(f"找不到规则文件 {p}，也不是内置的规则方案（{known}）") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"无法读取规则文件 {p}：{exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"规则文件 {p} 不是有效的 TOML：{exc}") from None
    return _check(Rules(_resolve(override, str(p), set()), str(p)))


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


def _to_toml(data: dict, prefix: str = "") -> str:
    lines, tables = [], []
    for k, v in data.items():
        if isinstance(v, dict):
            tables.append((k, v))
        else:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    out = ""
    if lines:
        out += (f"[{prefix}]\n" if prefix else "") + "\n".join(lines) + "\n\n"
    for k, v in tables:
        name = f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k)
        out += _to_toml(v, name)
    return out
