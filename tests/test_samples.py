"""Synthetic submissions (evalbatch.samples): reproducible, realistic, readable, and wrong
only where they say so."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from evalbatch import findings as F
from evalbatch import schema as S
from evalbatch.read.parse import normalise
from evalbatch.read.reader import open_workbook
from evalbatch.rules import load_rules
from evalbatch.samples import format1 as M
from evalbatch.samples import reference

# 48 synthetic departments: indices 7, 15, …, 47 carry each of the six mistakes once.
COUNT = 48
SEED = 1

# What the checks must report as 错误 for each mistake that makes a file unusable.
ERROR_RULE = {"blank_category": "value.required", "unknown_category": "value.enum", "negative_spent": "value.negative"}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """(path, data, Submission) for the reference case and every synthetic department."""
    out = tmp_path_factory.mktemp("samples")
    paths = M.write_samples(out, COUNT, seed=SEED)
    datas = M.sample_departments(COUNT, seed=SEED)
    rules = load_rules()
    subs = [normalise(open_workbook(p.read_bytes(), rules), p.name) for p in paths]
    return list(zip(paths, datas, subs))


def _cents(x) -> int:
    return round(float(x) * 100)


def _halves(weights) -> int:
    return sum(round(float(w) * 2) for w in weights)


def _errors(sub) -> pd.DataFrame:
    f = sub.findings_frame()
    return f[f["level"] == F.ERROR]


# --- files ------------------------------------------------------------------------------


def test_writes_reference_then_count_departments(written):
    paths = [p for p, _, _ in written]
    assert len(paths) == COUNT + 1
    assert paths[0].name == M.REFERENCE_FILE_NAME == "620101_中共甘肃省委机构编制委员会办公室.xlsx"
    assert len(set(paths)) == len(paths)
    for path, data, _ in written:
        assert path.exists() and path.stat().st_size > 0
        info = data["info"]
        assert path.name == f"{info['dept_code']}_{info['dept_name']}.xlsx"
        assert re.fullmatch(r"\d{6}", info["dept_code"])


def test_same_seed_same_bytes_other_seed_other_files(tmp_path):
    a = M.write_samples(tmp_path / "a", 6, seed=7)
    b = M.write_samples(tmp_path / "b", 6, seed=7, jobs=2)  # parallel writing changes nothing
    c = M.write_samples(tmp_path / "c", 6, seed=8)
    assert [p.name for p in a] == [p.name for p in b]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))
    assert a[0].read_bytes() == c[0].read_bytes()  # the reference case does not depend on the seed
    assert all(x.read_bytes() != z.read_bytes() for x, z in zip(a[1:], c[1:]))


def test_reference_case_kept_exactly_and_year_applied():
    ref = M.sample_departments(0)[0]
    assert ref == reference.reference_case()
    later = M.sample_departments(2, year=2023)
    assert [d["info"]["year"] for d in later] == [2023, 2023, 2023]


# --- reading back -----------------------------------------------------------------------


def test_read_back_errors_only_where_a_mistake_calls_for_one(written):
    for path, data, sub in written:
        mistake = data.get("mistake")
        errors = _errors(sub)
        if mistake in M.ERROR_MISTAKES:
            assert ERROR_RULE[mistake] in set(errors["rule_id"]), (path.name, mistake)
        else:
            assert errors.empty, (path.name, errors[["sheet", "cell", "message"]].to_string())


def test_every_mistake_appears_once_in_48(written):
    mistakes = [d.get("mistake") for _, d, _ in written if d.get("mistake")]
    assert sorted(mistakes) == sorted(M.MISTAKES)


def test_leading_zero_codes_survive_the_round_trip(written):
    zero = [(d, s) for _, d, s in written if d["info"]["dept_code"].startswith("0")]
    assert zero
    for data, sub in zero:
        assert sub.info["dept_code"] == data["info"]["dept_code"]
        codes = set(sub.tables[S.PROJECT_SHEET]["project_code"])
        assert codes == {p["project_code"] for p in data["projects"]}
        assert all(c.startswith("0") for c in codes)


# --- weights and money ------------------------------------------------------------------


def test_weights_add_up(written):
    for _, data, _ in written[1:]:
        expected = 98 if data.get("mistake") in M.WEIGHT_MISTAKES else 100
        rows = data["indicators"]
        assert _halves(r["weight"] for r in rows) == 2 * expected
        assert 10 <= len(rows) <= 40
        # The six automatic rows come first, with the rules' default weights.
        assert [(r["method"], r["weight"]) for r in rows[:6]] == list(zip(S.AUTO_METHODS, [10, 3, 3, 3, 3, 3]))
        for p in data["projects"]:
            rows = [r for r in data["project_indicators"] if r["project_code"] == p["project_code"]]
            assert _halves(r["weight"] for r in rows) == 180
            assert 10 <= len(rows) <= 35
        for r in data["indicators"] + data["project_indicators"]:
            assert r["weight"] >= 1 and float(r["weight"]) * 2 == int(float(r["weight"]) * 2)


def test_money_identities_hold_in_cents_after_reading_back(written):
    for path, data, sub in written[1:]:
        if data.get("mistake") in M.MONEY_MISTAKES:
            continue
        c = {k: _cents(v) for k, v in sub.info.items() if S.FIELD_BY_KEY[k].type == S.MONEY}
        assert c["basic_spent"] == c["personnel_spent"] + c["operating_spent"], path.name
        assert c["sangong_spent"] == c["car_spent"] + c["reception_spent"] + c["abroad_spent"], path.name
        income = c["carryover_begin"] + c["appropriation"] + c["other_income"]
        assert income == c["basic_budget"] + c["project_budget"], path.name
        assert c["carryover_end"] == income - c["basic_spent"] - c["project_spent"], path.name
        assert all(v >= 0 for v in c.values()), path.name
        projects = sub.tables[S.PROJECT_SHEET]
        assert sum(map(_cents, projects["spent"])) <= c["project_spent"], path.name
        details = sub.tables[S.DETAIL_SHEET]
        for code, amounts in details.groupby("project_code")["amount"]:
            spent = projects.loc[projects["project_code"] == code, "spent"].iloc[0]
            assert sum(map(_cents, amounts)) == _cents(spent), (path.name, code)


def test_money_mistakes_are_what_they_say(written):
    for _, data, _ in written:
        info = data["info"]
        if data.get("mistake") == "personnel_mismatch":
            diff = _cents(info["personnel_spent"]) + _cents(info["operating_spent"]) - _cents(info["basic_spent"])
            assert diff == 50
        if data.get("mistake") == "negative_spent":
            assert min(p["spent"] for p in data["projects"]) < 0


# --- scores -------------------------------------------------------------------------------


def _recompute(sub, rules) -> tuple[list[float], dict[str, float]]:
    """Row scores of 整体指标 and each project's total, from the values as read back."""
    cents = {k: _cents(v) for k, v in sub.info.items() if S.FIELD_BY_KEY[k].type == S.MONEY}
    cents |= {"staff_quota": sub.info["staff_quota"], "staff_actual": sub.info["staff_actual"]}

    def row_score(r) -> float:
        if r["method"] in S.AUTO_METHODS:
            return M._auto_score(r["method"], r["weight"], cents)
        share = rules.levels.get(r["actual_text"], 0.0) if isinstance(r["actual_text"], str) else 0.0
        value = M._Value(r["target"], r["actual"], r["target_value"], r["actual_value"], share)
        return M._value_score(r["method"], r["weight"], value)

    dept = [row_score(r) for _, r in sub.tables[S.DEPT_INDICATOR_SHEET].iterrows()]
    pind = sub.tables[S.PROJECT_INDICATOR_SHEET]
    projects = {}
    for _, p in sub.tables[S.PROJECT_SHEET].iterrows():
        rows = pind[pind["project_code"] == p["project_code"]]
        execution = M._score(rules.project_execution_weight * min(M._rate(p["spent"] / p["budget"]), 1.0))
        projects[p["project_code"]] = M._score(execution + sum(row_score(r) for _, r in rows.iterrows()))
    return dept, projects


def test_scorer_reproduces_the_reference_case(written):
    dept, projects = _recompute(written[0][2], load_rules())
    assert M._score(sum(dept)) == 90.56
    assert projects == {reference.PROJECT_CODE: 96.88}


def test_self_scores_are_the_recomputed_ones_except_the_inflated_row(written):
    rules = load_rules()
    for path, data, sub in written[1:]:
        if data.get("mistake") in M.ERROR_MISTAKES:
            continue
        dept, projects = _recompute(sub, rules)
        table = sub.tables[S.DEPT_INDICATOR_SHEET]
        wrong = [i for i, (s, r) in enumerate(zip(table["self_score"], dept)) if abs(s - r) > 0.005]
        if data.get("mistake") == "inflated_score":
            assert len(wrong) == 1, path.name
            row = table.iloc[wrong[0]]
            assert row["self_score"] == row["weight"] and row["actual_value"] < row["target_value"]
            assert pd.isna(row["reason"])
        else:
            assert wrong == [], (path.name, wrong)
            assert abs(sub.info["self_total"] - M._score(sum(dept))) < 0.005, path.name
        for _, p in sub.tables[S.PROJECT_SHEET].iterrows():
            assert abs(p["self_score"] - projects[p["project_code"]]) < 0.005, (path.name, p["project_code"])
            assert p["self_grade"] == M._grade(p["self_score"])


def test_short_rows_explain_themselves(written):
    for _, data, _ in written[1:]:
        rows = data["indicators"] + data["project_indicators"]
        inflated = data.get("mistake") == "inflated_score"
        short = [r for r in rows if r["self_score"] < r["weight"]]
        assert all(r["reason"] for r in short)
        assert all(not r["reason"] for r in rows if r["self_score"] == r["weight"] and not inflated)


# --- variety ------------------------------------------------------------------------------


def test_forty_departments_cover_categories_and_methods():
    data = M.sample_departments(40, seed=1)[1:]
    assert {d["info"]["dept_category"] for d in data} >= set(S.DEPT_CATEGORIES)
    methods = {r["method"] for d in data for r in d["indicators"] + d["project_indicators"]}
    assert methods == set(S.METHODS)
    assert any(d["info"]["dept_code"].startswith("0") for d in data)
    assert {len(d["projects"]) for d in data} >= {0, 1}


def test_names_and_codes_unique_in_a_large_run():
    data = M.sample_departments(1000, seed=3)
    assert len({d["info"]["dept_code"] for d in data}) == len(data)
    assert len({d["info"]["dept_name"] for d in data}) == len(data)
    assert len({M.file_name(d) for d in data}) == len(data)
    share = sum(1 for d in data if d.get("mistake")) / 1000
    assert 0.1 < share < 0.15  # about one in eight


def test_targets_written_as_people_write_them():
    data = M.sample_departments(40, seed=1)[1:]
    written = {r[k] for d in data for r in d["indicators"] + d["project_indicators"] for k in ("target", "actual") if r[k]}
    for pattern in (r"^≥\d+%$", r"^\d+多\D+$", r"^\d+万人次$", r"^≤\d+日$", r"^达成$", r"^基本达成$", r"^\d+(\.\d+)?万元$"):
        assert any(re.match(pattern, w) for w in written), pattern
