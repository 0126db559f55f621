"""Locate: find each submission's values by label, one locator per layout.

A workbook is evalbatch's own template (format 1) when it has the sheet 基本信息; otherwise
each sheet may hold official forms (项目支出绩效自评表, 部门整体支出绩效自评表), one or several
stacked. A new layout is a new module here feeding the same `Located`; nothing after this
stage knows which layout a value came from.
"""

from __future__ import annotations

from ..formats.base import RawWorkbook
from ..rules import Rules, load_rules
from . import format1, official
from .base import FORM_A, FORM_B, FORMAT1, LAYOUTS, Located, blank, norm

__all__ = ["FORM_A", "FORM_B", "FORMAT1", "LAYOUTS", "Located", "blank", "locate", "norm", "wanted_sheet"]

_NEVER_READ = {norm("填报说明")}  # format 1's instructions: long text nobody parses


def wanted_sheet(name: str) -> bool:
    return norm(name) not in _NEVER_READ


def locate(raw: RawWorkbook, file: str, rules: Rules | None = None) -> Located:
    loc = Located(file=file)
    for rule_id, message in raw.notes:
        loc.add(rule_id, message)
    if format1.is_format1(raw.sheets):
        return format1.locate(raw, loc)
    return official.locate(raw.sheets, loc, rules or load_rules(), raw.merges, raw.hidden)
