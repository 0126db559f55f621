"""The official forms' titles, labels and synonyms, from the rules file's [forms] table,
normalised once per rules (a bureau adds its province's wording there, not in code)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..rules import Rules, bureau_pattern
from .base import norm

# Keys of [forms] that are lists of labels (the rest are patterns or notes).
LABEL_KEYS = (
    "title_project", "title_department", "project_name", "project_code", "supervisor", "implementer",
    "department_name", "initial_budget", "budget", "spent", "exec_weight", "exec_rate", "exec_score", "total_row",
    "source_rows", "level1", "level2", "level3", "target", "target_kind", "target_value", "target_unit", "actual",
    "weight", "score", "reason", "total_score", "footer",
)
# Fields written as "label | value" at the head of a form.
HEAD_FIELDS = ("project_name", "project_code", "supervisor", "implementer", "department_name")


@dataclass(frozen=True)
class Labels:
    words: dict[str, tuple[str, ...]]  # key → normalised synonyms, in priority order
    placeholders: tuple  # RE2 patterns (rules.bureau_pattern): linear time on any cell
    yuan_notes: tuple[str, ...]

    def __getitem__(self, key: str) -> tuple[str, ...]:
        return self.words[key]

    def is_(self, key: str, text: str) -> bool:
        return text in self.words[key]

    @functools.cached_property
    def head_labels(self) -> frozenset[str]:
        return frozenset(w for k in HEAD_FIELDS for w in self.words[k])

    @functools.cached_property
    def longest_title(self) -> int:
        return max(len(t) for k in ("title_project", "title_department") for t in self.words[k])

    def placeholder(self, text: str) -> bool:
        return any(p.search(text) for p in self.placeholders)


_CACHE: dict[str, Labels] = {}


def labels_for(rules: Rules) -> Labels:
    """The labels of `rules`, normalised once per rules digest (once per worker process)."""
    if rules.digest not in _CACHE:
        _CACHE[rules.digest] = _labels(rules)
    return _CACHE[rules.digest]


def _labels(rules: Rules) -> Labels:
    forms = rules.data["forms"]
    return Labels(
        words={k: tuple(norm(w) for w in forms[k]) for k in LABEL_KEYS},
        placeholders=tuple(bureau_pattern(p) for p in forms["placeholders"]),
        yuan_notes=tuple(norm(w) for w in forms["yuan_notes"]),
    )
