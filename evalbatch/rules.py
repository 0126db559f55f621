"""The rules in force: the default TOML shipped in the package, overridden by a bureau's file.

Every parameter that changes a figure in a workbook comes from here. A rules file may name
any subset of the default keys; an unknown key or a value of the wrong type is an error that
names the key, so a typo never silently leaves a default in force.
"""

from __future__ import annotations

import copy
import hashlib
import json
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
        open_table = path in ("qualitative.levels", "levels")
        if key not in base and not open_table:
            raise RulesError(f"规则文件 {source} 中的键 {dotted} 不是可设置的规则，请检查拼写（可用 evalbatch rules 查看全部规则）")
        if key in base and isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise RulesError(f"规则文件 {source} 中的 {dotted} 应为一个表（[{dotted}]）")
            out[key] = _merge(base[key], value, source, dotted)
            continue
        expected = base.get(key, 1.0)
        if not _same_kind(expected, value):
            raise RulesError(f"规则文件 {source} 中的 {dotted} 类型不对：应为{_kind_name(expected)}，实际为 {value!r}")
        out[key] = value
    return out


def _same_kind(expected, value) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(expected, bool) and isinstance(value, bool)
    if isinstance(expected, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(expected, list):
        return isinstance(value, list)
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
    def levels(self) -> dict[str, float]:
        return {str(k): float(v) for k, v in self.data["qualitative"]["levels"].items()}

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


def _check(rules: Rules) -> Rules:
    names, bounds = rules.grade_names, rules.grade_bounds
    if len(names) != len(bounds) or not names:
        raise RulesError(f"规则 {rules.source}：grades.names 与 grades.lower_bounds 的个数必须相同且不为空")
    if any(a <= b for a, b in zip(bounds, bounds[1:])):
        raise RulesError(f"规则 {rules.source}：grades.lower_bounds 必须自高到低严格递减")
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


def load_rules(path: str | Path | None = None) -> Rules:
    """The default rules, or the defaults overridden by the TOML file at `path`."""
    defaults = tomllib.loads(_default_text())
    if path is None:
        return _check(Rules(defaults, "默认规则"))
    p = Path(path)
    try:
        override = tomllib.loads(p.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise RulesError(f"找不到规则文件 {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"无法读取规则文件 {p}：{exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"规则文件 {p} 不是有效的 TOML：{exc}") from None
    return _check(Rules(_merge(defaults, override, str(p)), str(p)))


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
