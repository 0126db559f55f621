"""The nightly cache: unchanged files are not parsed again, and results never differ."""

import json
import os
import time

import pandas as pd
import pytest
from builders import reference, write

from evalbatch.night.runner import run
from evalbatch.rules import load_rules


def _folder(tmp_path, n=4):
    src = tmp_path / "in"
    for i in range(n):
        write(src, reference(dept_code=f"{i:06d}", dept_name=f"单位{i}"), f"{i}.xlsx")
    return src


def _hits(outcome) -> str:
    return next(line for line in outcome.log_file.read_text(encoding="utf-8").splitlines() if "缓存命中" in line)


def _tables(outcome):
    r = outcome.result
    cols = ["file", "dept_code", "total", "grade", "rank"]
    return (r.depts[cols].reset_index(drop=True), r.indicators[["file", "l3", "score"]].reset_index(drop=True),
            r.findings.reset_index(drop=True))


def test_rerun_with_nothing_changed_does_not_rewrite(tmp_path):
    src, out = _folder(tmp_path), tmp_path / "out"
    first = run(src, out, 2021, load_rules(), settle=0)
    before = (first.workbook.read_bytes(), first.workbook.stat().st_mtime_ns)
    again = run(src, out, 2021, load_rules(), settle=0)
    assert again.unchanged and again.result is None
    assert again.notes == ["自上次运行以来没有任何文件变化，汇总工作簿保持不变，未重写"]
    assert (again.workbook.read_bytes(), again.workbook.stat().st_mtime_ns) == before
    assert again.exit_code == first.exit_code
    summary = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert summary["unchanged"] is True and summary["exit_code"] == 0 and len(summary["files"]) == 4


def test_one_changed_file_is_the_only_one_parsed_and_results_match_a_cold_run(tmp_path):
    src, out = _folder(tmp_path), tmp_path / "out"
    run(src, out, 2021, load_rules(), settle=0)
    write(src, reference(dept_code="000002", dept_name="单位2", self_total=80), "2.xlsx")
    warm = run(src, out, 2021, load_rules(), settle=0)
    assert "缓存命中 3 个文件，需要读取 1 个" in _hits(warm)
    cold = run(src, tmp_path / "cold", 2021, load_rules(), settle=0, use_cache=False)
    for a, b in zip(_tables(warm), _tables(cold)):
        pd.testing.assert_frame_equal(a.sort_values(list(a.columns[:2])).reset_index(drop=True),
                                      b.sort_values(list(b.columns[:2])).reset_index(drop=True), check_dtype=False)
    assert [r.sha256 for r in warm.result.records] == [r.sha256 for r in cold.result.records]


def test_renamed_and_copied_files_reuse_the_cache_under_their_new_names(tmp_path):
    src, out = _folder(tmp_path, 2), tmp_path / "out"
    run(src, out, 2021, load_rules(), settle=0)
    os.rename(src / "1.xlsx", src / "renamed.xlsx")
    (src / "copy.xlsx").write_bytes((src / "0.xlsx").read_bytes())
    old = time.time() - 3600
    os.utime(src / "copy.xlsx", (old, old))
    r = run(src, out, 2021, load_rules(), settle=0)
    assert "缓存命中 3 个文件，需要读取 0 个" in _hits(r)
    assert sorted(r.result.depts["file"]) == ["0.xlsx", "renamed.xlsx"]
    # The copy holds the same content: used once, noted (not a 被新文件取代 warning).
    identical = r.result.findings[r.result.findings["rule_id"] == "file.identical"]
    assert identical[["file", "level"]].values.tolist() == [["copy.xlsx", "提示"]]


def test_new_rules_start_cold(tmp_path):
    src, out = _folder(tmp_path, 2), tmp_path / "out"
    run(src, out, 2021, load_rules(), settle=0)
    f = tmp_path / "r.toml"
    f.write_text("[checks]\ntolerance = 0.02\n", encoding="utf-8")
    r = run(src, out, 2021, load_rules(f), settle=0)
    assert not r.unchanged
    assert "缓存命中 0 个文件，需要读取 2 个" in _hits(r)


def test_other_year_is_not_unchanged(tmp_path):
    src, out = _folder(tmp_path, 1), tmp_path / "out"
    run(src, out, 2021, load_rules(), settle=0)
    assert not run(src, out, 2022, load_rules(), settle=0).unchanged


@pytest.mark.parametrize("damage", ["garbage", "missing"])
def test_a_damaged_cache_costs_time_only(tmp_path, damage):
    src, out = _folder(tmp_path, 2), tmp_path / "out"
    first = run(src, out, 2021, load_rules(), settle=0)
    write(src, reference(dept_code="000001", dept_name="单位1", self_total=70), "1.xlsx")
    target = out / "cache" / "info.parquet"
    if damage == "garbage":
        target.write_bytes(b"PAR1 not really parquet")
    else:
        target.unlink()
    r = run(src, out, 2021, load_rules(), settle=0)
    log = r.log_file.read_text(encoding="utf-8")
    assert "WARNING 缓存无法读取" in log
    assert "缓存命中 0 个文件，需要读取 2 个" in _hits(r)
    assert r.result.depts.sort_values("file")["total"].tolist() == first.result.depts.sort_values("file")["total"].tolist()


def test_no_cache_leaves_no_cache(tmp_path):
    src, out = _folder(tmp_path, 1), tmp_path / "out"
    run(src, out, 2021, load_rules(), settle=0, use_cache=False)
    assert not (out / "cache").exists()


def test_output_is_the_same_whatever_the_number_of_jobs(tmp_path):
    src = _folder(tmp_path, 12)
    one = run(src, tmp_path / "o1", 2021, load_rules(), settle=0, jobs=1, use_cache=False)
    two = run(src, tmp_path / "o2", 2021, load_rules(), settle=0, jobs=2, use_cache=False)
    for a, b in zip(_tables(one), _tables(two)):
        pd.testing.assert_frame_equal(a, b)


def test_parquet_export(tmp_path):
    src, out = _folder(tmp_path, 2), tmp_path / "out"
    run(src, out, 2021, load_rules(), settle=0, parquet=True)
    ind = pd.read_parquet(out / "parquet" / "指标得分.parquet")
    assert list(ind.columns[:3]) == ["单位编码", "单位名称", "项目编码"]
    assert len(ind) == 120 and ind["复核得分"].sum() == pytest.approx(2 * (90.56 + 89.2))
    assert sorted(p.name for p in (out / "parquet").iterdir()) == ["审核问题.parquet", "指标得分.parquet", "汇总排名.parquet", "项目汇总.parquet"]
