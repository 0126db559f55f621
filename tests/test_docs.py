"""The project's own docs: every link and every path they or the code name exists, the rule
table of docs/scoring.md is RULES, and the operator's page covers every exit code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evalbatch.findings import RULES
from evalbatch.rules import load_rules

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", *DOCS]
# Folders and files of this repository that prose names in `backticks`.
REPO_PREFIXES = ("docs/", "evalbatch/", "tests/", "input_templates/", "benchmarks/", ".ci/")
REPO_FILES = ("Makefile", "pyproject.toml", "run-nightly.cmd", "run-nightly.sh", "README.md")

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
TICKED = re.compile(r"`([^`\s]+)`")


def _local_links(page: Path) -> list[str]:
    return [t for t in LINK.findall(page.read_text(encoding="utf-8")) if not re.match(r"^(https?:|mailto:|#)", t)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_exists(page):
    missing = [t for t in _local_links(page) if not (page.parent / t.split("#")[0]).exists()]
    assert missing == [], f"{page.name} links to what does not exist"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_repository_path_named_exists(page):
    names = [t for t in TICKED.findall(page.read_text(encoding="utf-8")) if t.startswith(REPO_PREFIXES) or t in REPO_FILES]
    assert [n for n in names if not (ROOT / n.rstrip("/")).exists()] == []


def test_readme_links_each_doc():
    linked = {(ROOT / t.split("#")[0]).resolve() for t in _local_links(ROOT / "README.md")}
    assert [d.name for d in DOCS if d.resolve() not in linked] == []


CODE = sorted([*(ROOT / "evalbatch").rglob("*.py"), *(ROOT / "evalbatch").rglob("*.toml")])
NAMED = re.compile(r"(?<![\w/])((?:shared/)?docs/[\w\-.]+\.md)")


def test_every_doc_the_code_names_exists():
    named = {(p.relative_to(ROOT).as_posix(), m) for p in CODE for m in NAMED.findall(p.read_text(encoding="utf-8"))}
    assert len(named) > 5
    assert sorted((where, doc) for where, doc in named if not (ROOT / doc).exists()) == []


# --- docs/scoring.md's table of rules ------------------------------------------------------

SCORING = ROOT / "docs" / "scoring.md"
ROW = re.compile(r"^\| `([^`]+)` \| (\S+) \| ([^|]+?) \| ([^|]*?) \|$")


def _documented() -> list[tuple[str, str, str, str]]:
    text = SCORING.read_text(encoding="utf-8")
    table = text.split("<!-- rules-table:", 1)[1].split("<!-- rules-table: end -->", 1)[0]
    return [m.groups() for m in map(ROW.match, table.splitlines()) if m]


def _generated(meanings: dict[str, str]) -> str:
    """The table as it must read, meanings carried over (new rules marked to be written)."""
    levels = load_rules().rule_levels
    rows = ["| 规则编号 | 默认级别 | 名称 | 含义 |", "|---|---|---|---|"]
    for rule_id, (level, title) in RULES.items():
        rows.append(f"| `{rule_id}` | {levels.get(rule_id, level)} | {title} | {meanings.get(rule_id) or '（待补充）'} |")
    return "\n".join(rows)


def test_scoring_md_lists_every_rule_with_its_default_level():
    documented = _documented()
    meanings = {rule_id: meaning for rule_id, _, _, meaning in documented}
    levels = load_rules().rule_levels
    expected = [(rule_id, levels.get(rule_id, level), title) for rule_id, (level, title) in RULES.items()]
    assert [row[:3] for row in documented] == expected, "docs/scoring.md's rule table should read:\n" + _generated(meanings)
    assert [rule_id for rule_id, *_, meaning in documented if not meaning.strip() or "待补充" in meaning] == []


# --- the operator's page ---------------------------------------------------------------------

def test_operations_md_says_what_to_do_for_each_exit_code():
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for code in range(6):
        assert re.search(rf"^\| {code} \| .+ \| .+ \|$", text, re.M), code
    for needed in ("--findings-exit 0", "run-nightly.sh", "run-nightly.cmd", "evalbatch history", "完成时间", "--year"):
        assert needed in text, needed
