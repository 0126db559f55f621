"""Run history (evalbatch/history.py): schema and migrations, and what real runs leave behind.

The scenario is four real runs into one output folder, recorded as the nightly run will:
  1. 2020: 620101 (90.56), 620102 (90.26, a lower 基本支出执行数), 620109 (90.56)
  2. 2021: a.xlsx 620101, b.xlsx 620102, c.xlsx 620103 — all the reference case, 90.56
  3. 2021: b.xlsx rewritten with 会议培训次数 5场次 instead of 11 → 89.06
  4. 2021: c.xlsx deleted, d.xlsx 620104 added, a.xlsx rewritten with a contact filled in
     (same score, new file), b.xlsx moved unchanged to 二处/b.xlsx
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import os
import shutil
import socket
import sqlite3
from pathlib import Path

import pytest
from builders import reference, write

from evalbatch.night.runner import run
from evalbatch.rules import load_rules
from evalbatch.write import history as H
from evalbatch.write.history import (
    CHANGES_COLUMNS,
    DEPT_HISTORY_COLUMNS,
    PROJECT_CHANGES_COLUMNS,
    RUNS_COLUMNS,
    YOY_COLUMNS,
    HistoryError,
    changes,
    dept_history,
    list_runs,
    project_review_changes,
    record_run,
    year_over_year,
)

TABLES = {"runs", "run_files", "dept_scores", "project_scores"}


def fewer_meetings(**info) -> dict:
    data = reference(**info)
    row = next(r for r in data["indicators"] if r["l3"] == "会议培训次数")
    row["actual"] = "5场次"
    return data


def hashes(src: Path) -> dict[str, str]:
    return {p.relative_to(src).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(src.rglob("*.xlsx"))}


def tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def user_version(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def query(db: Path, sql: str, *params) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@dataclasses.dataclass
class Scenario:
    out: Path
    db: Path
    ids: list[int]
    outcomes: list
    files: list[dict[str, str]]  # name → SHA-256 of every file, as each run saw them


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    base = tmp_path_factory.mktemp("history")
    out, rules = base / "out", load_rules()
    db = out / H.DB_NAME
    ids, outcomes, files = [], [], []

    def nightly(src: Path, year: int) -> None:
        outcome = run(src, out, year, rules, settle=0)
        ids.append(outcome.run_id)  # the runner records every run it makes
        outcomes.append(outcome)
        files.append(hashes(src))

    old = base / "2020"
    write(old, reference(year=2020), "a.xlsx")
    write(old, reference(year=2020, dept_code="620102", dept_name="乙单位", basic_spent=1400), "b.xlsx")
    write(old, reference(year=2020, dept_code="620109", dept_name="已撤并单位"), "z.xlsx")
    nightly(old, 2020)

    src = base / "2021"
    write(src, reference(), "a.xlsx")
    write(src, reference(dept_code="620102", dept_name="乙单位"), "b.xlsx")
    write(src, reference(dept_code="620103", dept_name="丙单位"), "c.xlsx")
    nightly(src, 2021)

    write(src, fewer_meetings(dept_code="620102", dept_name="乙单位"), "b.xlsx")
    nightly(src, 2021)

    (src / "c.xlsx").unlink()
    write(src, reference(dept_code="620104", dept_name="丁单位"), "d.xlsx")
    write(src, reference(contact="张三"), "a.xlsx")
    (src / "二处").mkdir()
    shutil.move(src / "b.xlsx", src / "二处" / "b.xlsx")
    nightly(src, 2021)
    return Scenario(out, db, ids, outcomes, files)


# ---------------------------------------------------------------- schema and migrations


def test_schema_is_created_with_its_version(scenario):
    assert scenario.db == scenario.out / "evalbatch.sqlite"
    assert H.SCHEMA_VERSION == len(H.MIGRATIONS) == 5  # 3: re-review (抽评); 4: host, pid; 5: the roster (名单) and its statuses
    assert user_version(scenario.db) == H.SCHEMA_VERSION
    assert TABLES <= tables(scenario.db)
    assert scenario.ids == [1, 2, 3, 4]


def test_empty_version_0_database_is_migrated(tmp_path, scenario):
    db = tmp_path / "evalbatch.sqlite"
    sqlite3.connect(db).close()
    assert db.exists() and user_version(db) == 0
    assert list_runs(db).columns.tolist() == RUNS_COLUMNS and len(list_runs(db)) == 0
    assert user_version(db) == 0  # readers never migrate: only a run does, under the run lock
    first = scenario.outcomes[0]
    assert record_run(db, first.result, first.workbook, first.exit_code) == 1
    assert user_version(db) == H.SCHEMA_VERSION
    assert TABLES <= tables(db)
    assert query(db, "SELECT year, exit_code, input_dir FROM runs") == [(2020, 0, first.result.meta["input_dir"])]
    assert first.result.meta["input_dir"].endswith("2020")


def test_older_database_gets_the_missing_migrations(tmp_path, scenario, monkeypatch):
    db = tmp_path / "evalbatch.sqlite"
    first = scenario.outcomes[0]
    record_run(db, first.result, first.workbook, first.exit_code)
    monkeypatch.setattr(H, "MIGRATIONS", [*H.MIGRATIONS, "ALTER TABLE runs ADD COLUMN extra TEXT; CREATE TABLE notes (a);"])
    monkeypatch.setattr(H, "SCHEMA_VERSION", H.SCHEMA_VERSION + 1)
    assert list_runs(db)["运行编号"].tolist() == [1]  # read through a migrated copy in memory
    assert user_version(db) == H.SCHEMA_VERSION - 1 and "notes" not in tables(db)
    record_run(db, first.result, first.workbook, first.exit_code)  # a run migrates
    assert user_version(db) == H.SCHEMA_VERSION
    assert "notes" in tables(db)
    assert query(db, "SELECT id, extra FROM runs") == [(1, None), (2, None)]


def test_failing_migration_changes_nothing(tmp_path, scenario, monkeypatch):
    db = tmp_path / "evalbatch.sqlite"
    first = scenario.outcomes[0]
    record_run(db, first.result, first.workbook, first.exit_code)
    now = H.SCHEMA_VERSION
    monkeypatch.setattr(H, "MIGRATIONS", [*H.MIGRATIONS, "CREATE TABLE notes (a); CREATE TABLE runs (a);"])
    monkeypatch.setattr(H, "SCHEMA_VERSION", now + 1)
    with pytest.raises(HistoryError, match=f"从结构版本 {now} 升级到 {now + 1} 失败.*数据库未作任何修改"):
        list_runs(db)
    assert user_version(db) == now
    assert "notes" not in tables(db)
    assert query(db, "SELECT COUNT(*) FROM dept_scores") == [(3,)]


def test_database_from_a_newer_version_is_refused_and_left_alone(tmp_path, scenario):
    db = tmp_path / "evalbatch.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    first = scenario.outcomes[0]
    with pytest.raises(HistoryError) as err:
        record_run(db, first.result, first.workbook, first.exit_code)
    assert str(err.value) == (
        f"运行记录数据库 {db} 由较新版本的 evalbatch 创建（数据库结构版本 7，本程序只支持到版本 {H.SCHEMA_VERSION}）；"
        "请升级 evalbatch 后再运行。为避免损坏记录，本程序不会修改该数据库"
    )
    with pytest.raises(HistoryError, match="较新版本"):
        list_runs(db)
    assert user_version(db) == 7
    assert tables(db) == set()


def test_a_file_that_is_not_a_database_is_a_history_error(tmp_path, scenario):
    db = tmp_path / "evalbatch.sqlite"
    db.write_bytes(b"this is not an SQLite database, just some text on the shared drive" * 20)
    first = scenario.outcomes[0]
    with pytest.raises(HistoryError, match="无法读取.*不是 evalbatch 的数据库"):
        record_run(db, first.result, first.workbook, first.exit_code)


def test_a_failed_write_leaves_nothing_of_the_run(tmp_path, scenario):
    db = tmp_path / "evalbatch.sqlite"
    good = scenario.outcomes[1]
    record_run(db, good.result, good.workbook, good.exit_code)
    # The same file twice violates run_files' key after runs and before dept_scores are written.
    broken = dataclasses.replace(good.result, records=[*good.result.records, copy.copy(good.result.records[0])])
    with pytest.raises(HistoryError, match="本次运行未记录"):
        record_run(db, broken, good.workbook, good.exit_code)
    counts = [query(db, f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("runs", "run_files", "dept_scores", "project_scores")]
    assert counts == [1, 3, 3, 3]


def test_readers_on_a_missing_database(tmp_path):
    db = tmp_path / "evalbatch.sqlite"
    assert list_runs(db).columns.tolist() == RUNS_COLUMNS
    assert dept_history(db, "620101").columns.tolist() == DEPT_HISTORY_COLUMNS
    with pytest.raises(HistoryError, match="不存在"):
        changes(db, 1)
    assert not db.exists()


# ---------------------------------------------------------------- what the runs left behind


def test_every_run_and_every_files_sha256_is_stored(scenario):
    db = scenario.db
    for run_id, seen, outcome in zip(scenario.ids, scenario.files, scenario.outcomes):
        stored = query(db, "SELECT name, sha256, size, status, dept_code FROM run_files WHERE run_id = ? ORDER BY name", run_id)
        assert {name: sha for name, sha, *_ in stored} == seen
        assert all(status == "已采用" for *_, status, _code in stored)
        assert [size for _n, _s, size, *_ in stored] == [r.size for r in sorted(outcome.result.records, key=lambda r: r.name)]
    assert query(db, "SELECT run_id, dept_code, file, sha256 FROM dept_scores WHERE run_id = 4 ORDER BY dept_code") == [
        (4, "620101", "a.xlsx", scenario.files[3]["a.xlsx"]),
        (4, "620102", "二处/b.xlsx", scenario.files[3]["二处/b.xlsx"]),
        (4, "620104", "d.xlsx", scenario.files[3]["d.xlsx"]),
    ]
    assert scenario.files[3]["二处/b.xlsx"] == scenario.files[2]["b.xlsx"] != scenario.files[1]["b.xlsx"]
    assert scenario.files[3]["a.xlsx"] != scenario.files[2]["a.xlsx"] == scenario.files[1]["a.xlsx"]
    meta = scenario.outcomes[3].result.meta
    assert query(db, "SELECT started, finished, year, version, rules_digest, input_dir, workbook, exit_code FROM runs WHERE id = 4") == [
        (meta["started"], meta["finished"], 2021, meta["version"], meta["rules_digest"], str(scenario.out.parent / "2021"),
         str(scenario.out / "绩效自评汇总_2021.xlsx"), 0)
    ]


def test_department_and_project_scores_are_stored(scenario):
    assert query(scenario.db, "SELECT year, dept_code, dept_name, dept_category, total, self_total, grade, rank, errors, warnings"
                              " FROM dept_scores WHERE run_id = 3 ORDER BY dept_code") == [
        (2021, "620101", "中共甘肃省委机构编制委员会办公室", "党委部门", 90.56, 90.56, "优", 1, 0, 1),
        # 会议培训次数's full marks below target and its recomputed score: one warning (issue 20, point 6)
        (2021, "620102", "乙单位", "党委部门", 89.06, 90.56, "良", 3, 0, 4),
        (2021, "620103", "丙单位", "党委部门", 90.56, 90.56, "优", 1, 0, 1),
    ]
    assert query(scenario.db, "SELECT year, file, dept_code, project_code, total, self_score, grade, exec_rate"
                              " FROM project_scores WHERE run_id = 4 ORDER BY dept_code") == [
        (2021, "a.xlsx", "620101", "620101-2021-01", 96.88, 96.88, "优", 0.768),
        (2021, "二处/b.xlsx", "620102", "620101-2021-01", 96.88, 96.88, "优", 0.768),
        (2021, "d.xlsx", "620104", "620101-2021-01", 96.88, 96.88, "优", 0.768),
    ]


def test_first_run_of_a_year_has_no_changes(scenario):
    for run_id in (1, 2):  # run 2 is 2021's first: run 1 (2020) is not its previous run
        found = changes(scenario.db, run_id)
        assert found.columns.tolist() == CHANGES_COLUMNS
        assert len(found) == 0
    assert H.previous_run(scenario.db, 2) is None
    assert H.previous_run(scenario.db, 4) == 3


def test_changes_name_exactly_the_department_whose_file_changed(scenario):
    found = changes(scenario.db, 3)
    old, new = scenario.files[1]["b.xlsx"], scenario.files[2]["b.xlsx"]
    assert found.values.tolist() == [[
        "变化", "重新提交", "620102", "乙单位", 90.56, 89.06, -1.5, "b.xlsx", "b.xlsx", "是",
        f"文件已更新（b.xlsx，SHA-256 {old[:12]}… → {new[:12]}…）；得分 90.56 → 89.06",
    ]]


def test_changes_list_added_withdrawn_and_file_only_changes(scenario):
    found = changes(scenario.db, 4)
    old, new = scenario.files[2]["a.xlsx"], scenario.files[3]["a.xlsx"]
    rows = found.astype(object).where(found.notna(), None).values.tolist()
    assert rows == [
        ["变化", "重新提交", "620101", "中共甘肃省委机构编制委员会办公室", 90.56, 90.56, 0.0, "a.xlsx", "a.xlsx", "是",
         f"文件已更新（a.xlsx，SHA-256 {old[:12]}… → {new[:12]}…）；得分未变（90.56）"],
        ["新增", "新增单位", "620104", "丁单位", None, 90.56, None, "", "d.xlsx", "", "新增单位（文件 d.xlsx，得分 90.56）"],
        ["撤回", "撤回", "620103", "丙单位", 90.56, None, None, "c.xlsx", "", "",
         "上次运行有该单位（文件 c.xlsx，得分 90.56），本次运行没有该单位的可用文件"],
    ]
    # 620102 only moved to 二处/: same content, same score, not a change.
    assert "620102" not in found["单位编码"].tolist()


def test_a_score_change_with_the_same_file_names_the_rules(tmp_path, scenario):
    db = tmp_path / "evalbatch.sqlite"
    before = scenario.outcomes[1]
    record_run(db, before.result, before.workbook, before.exit_code)
    depts = before.result.depts.copy()
    # The ranked score is 最终得分 (issue 11), 复核得分 itself where nothing was re-reviewed.
    depts.loc[depts["dept_code"] == "620103", ["total", "final_total"]] = 88.5
    after = dataclasses.replace(before.result, depts=depts, meta={**before.result.meta, "rules_digest": "feedfacecafe"})
    record_run(db, after, before.workbook, before.exit_code)
    found = changes(db, 2)
    assert found[["变动", "变动原因", "单位编码", "原得分", "新得分", "差异", "文件是否变化"]].values.tolist() == [
        ["变化", "评分规则变化", "620103", 90.56, 88.5, -2.06, "否"]]
    assert found["说明"].tolist() == [f"文件未变化；得分 90.56 → 88.50；评分规则已变化（摘要 {before.result.meta['rules_digest']} → feedfacecafe）"]


def test_project_review_changes_between_runs(tmp_path, scenario):
    """Issue 20, point 17: 620101's project reviewed (96.88 → 70), reviewed again (→ 80), then not;
    620102's project reviewed and gone in the next run. Units' scores do not move with them.
    (Every unit is the reference case: their projects share one code, told apart by the unit.)"""
    db = tmp_path / "evalbatch.sqlite"
    base = scenario.outcomes[1].result  # 2021: a, b, c, one project each at 96.88
    record_run(db, base, None, 0)

    def reviewed(scores: dict[str, float], drop: str = "") -> int:
        p = base.projects.copy()
        p["review_total"] = p["dept_code"].map(scores).astype("float64")
        p["final_total"] = p["review_total"].fillna(p["total"])
        return record_run(db, dataclasses.replace(base, projects=p[p["dept_code"] != drop]), None, 0)

    first = reviewed({"620101": 70.0, "620102": 75.5})
    assert project_review_changes(db, first).values.tolist() == [
        ["620101", "中共甘肃省委机构编制委员会办公室", "620101-2021-01", "业务费项目—机构改革及机构编制实名制升级改造", 96.88, 96.88,
         70.0, -26.88, "首次抽评：复核得分 96.88 → 抽评得分 70.00"],
        ["620102", "乙单位", "620101-2021-01", "业务费项目—机构改革及机构编制实名制升级改造", 96.88, 96.88, 75.5, -21.38,
         "首次抽评：复核得分 96.88 → 抽评得分 75.50"],
    ]
    assert changes(db, first).empty  # no unit's own score changed
    again = reviewed({"620101": 80.0}, drop="620102")
    found = project_review_changes(db, again)
    assert found.astype(object).where(found.notna(), None)[["单位编码", "原最终得分", "新最终得分", "差异", "说明"]].values.tolist() == [
        ["620101", 70.0, 80.0, 10.0, "抽评得分 70.00 → 80.00"],
        ["620102", 75.5, None, None, "本次运行没有该项目（原抽评得分 75.50）"],
    ]
    done = reviewed({})
    found = project_review_changes(db, done)
    assert found.astype(object).where(found.notna(), None)[["单位编码", "新最终得分", "差异", "说明"]].values.tolist() == [
        ["620101", 96.88, 16.88, "不再有抽评得分（原 80.00），最终得分为复核得分 96.88"]]
    assert project_review_changes(db, 1).columns.tolist() == PROJECT_CHANGES_COLUMNS and project_review_changes(db, 1).empty


def test_year_over_year_compares_with_the_latest_run_of_the_year_before(scenario):
    found = year_over_year(scenario.db, 4)
    assert found.columns.tolist() == YOY_COLUMNS
    # This year's ranking (ties by code), then the unit gone; 排名变化 > 0 is a move up.
    assert found.astype(object).where(found.notna(), None).values.tolist() == [
        ["620101", "中共甘肃省委机构编制委员会办公室", "党委部门", 90.56, 90.56, 0.0, "优", "优", 1, 1, 0, "持平"],
        ["620104", "丁单位", "党委部门", None, 90.56, None, "", "优", None, 1, None, "本年新增"],
        ["620102", "乙单位", "党委部门", 90.26, 89.06, -1.2, "优", "良", 3, 3, 0, "下降"],
        ["620109", "已撤并单位", "党委部门", 90.56, None, None, "优", "", 1, None, None, "本年没有"],
    ]
    assert found.attrs == {"last_year": 2020, "this_year": 2021, "last_run": 1, "this_run": 4}
    none = year_over_year(scenario.db, 1)  # no 2019 run
    assert none.columns.tolist() == YOY_COLUMNS and len(none) == 0


def test_list_runs(scenario):
    runs = list_runs(scenario.db)
    assert runs.columns.tolist() == RUNS_COLUMNS
    body = runs.drop(columns=["开始时间", "完成时间", "主机", "进程"]).astype(object).values.tolist()
    assert body == [
        [1, 2020, "已评分", 3, 3, 0, str(scenario.out / "绩效自评汇总_2020.xlsx"), None],
        [2, 2021, "已评分", 3, 3, 0, str(scenario.out / "绩效自评汇总_2021.xlsx"), None],
        [3, 2021, "已评分", 3, 3, 0, str(scenario.out / "绩效自评汇总_2021.xlsx"), None],
        [4, 2021, "已评分", 3, 3, 0, str(scenario.out / "绩效自评汇总_2021.xlsx"), None],
    ]
    assert runs["开始时间"].tolist() == [o.result.meta["started"] for o in scenario.outcomes]
    assert runs["完成时间"].tolist() == [o.result.meta["finished"] for o in scenario.outcomes]
    assert runs["主机"].tolist() == [socket.gethostname()] * 4 and runs["进程"].tolist() == [os.getpid()] * 4


def test_dept_history(scenario):
    found = dept_history(scenario.db, "620102")
    assert found.columns.tolist() == DEPT_HISTORY_COLUMNS
    f = scenario.files
    assert found.drop(columns="开始时间").astype(object).values.tolist() == [
        [1, 2020, "乙单位", 90.26, 90.56, "优", 3, "b.xlsx", f[0]["b.xlsx"]],
        [2, 2021, "乙单位", 90.56, 90.56, "优", 1, "b.xlsx", f[1]["b.xlsx"]],
        [3, 2021, "乙单位", 89.06, 90.56, "良", 3, "b.xlsx", f[2]["b.xlsx"]],
        [4, 2021, "乙单位", 89.06, 90.56, "良", 3, "二处/b.xlsx", f[3]["二处/b.xlsx"]],
    ]
    assert found["开始时间"].tolist() == [o.result.meta["started"] for o in scenario.outcomes]
    assert len(dept_history(scenario.db, "999999")) == 0


def test_unranked_department_is_stored_with_a_null_rank(tmp_path):
    src = tmp_path / "src"
    write(src, reference(), "a.xlsx")
    write(src, reference(dept_code="620105", dept_name="戊单位", year=2020), "e.xlsx")  # wrong year: an 错误, no rank
    outcome = run(src, tmp_path / "out", 2021, load_rules(), settle=0)
    assert outcome.result.depts["rank"].isna().tolist() == [False, True]
    db = tmp_path / "out" / "evalbatch.sqlite"
    run_id = outcome.run_id
    assert query(db, "SELECT dept_code, rank, typeof(rank), grade, errors FROM dept_scores ORDER BY dept_code") == [
        ("620101", 1, "integer", "优", 0), ("620105", None, "null", "未评级", 1),
    ]
    assert query(db, "SELECT status FROM run_files WHERE name = 'e.xlsx'") == [("有错误",)]
    assert list_runs(db)["退出码"].tolist() == [1]
    history = dept_history(db, "620105")
    assert history["排名"].dtype == "Int64" and history["排名"].isna().tolist() == [True]
    assert history["复核得分"].tolist() == [90.56]
    H.update_run(db, run_id, workbook="elsewhere.xlsx")
    assert list_runs(db)["工作簿"].tolist() == ["elsewhere.xlsx"]
    assert not any(isinstance(v, float) and math.isnan(v) for row in query(db, "SELECT * FROM dept_scores") for v in row)
