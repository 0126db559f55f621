"""Web checks evaluated together (worker.check_together, Checks' batching): each unit gets
exactly what its check alone gives — page data and feedback workbook — and nothing of another
unit's; a batch that fails is tried again one check at a time."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from builders import dept, write
from python_calamine import CalamineWorkbook

import web_calls
from evalbatch.judge.evaluate import evaluate
from evalbatch.read import load
from evalbatch.rules import load_rules
from evalbatch.samples.format1 import write_samples
from evalbatch.samples.official import official_departments, write_official_department
from evalbatch.web import worker
from evalbatch.web.worker import CheckFailed, Checks, check_files, check_together


@pytest.fixture
def here(monkeypatch):
    """Read in this process, as a check worker does (the worker is the upload's sandbox)."""
    monkeypatch.setattr(load, "IN_PROCESS", True)


def uploads(tmp_path: Path) -> list[list[Path]]:
    """One list of files per unit: template files (ranked, and with the samples' mistakes),
    official forms in several files, the same department twice, a file name twice, an
    unreadable file."""
    samples = write_samples(tmp_path / "format1", 4, seed=3)[:4]
    official = []
    for d in official_departments(2, seed=3):
        folder = tmp_path / "official" / d.code
        folder.mkdir(parents=True)
        official.append(write_official_department(folder, d))
    data = dept("620150", "省委编办")
    data["indicators"][3]["self_score"] = 99  # above its weight: an 错误, unranked
    bad = write(tmp_path, data, "自评表.xlsx")
    again = tmp_path / "again"
    again.mkdir()
    twin = shutil.copy(samples[0], again / "复制.xlsx")  # another unit checks the first unit's file
    other = write(again, dept("620102", "省委宣传部"), "自评表.xlsx")  # a name another unit uses too
    broken = tmp_path / "620199_某单位.xlsx"
    broken.write_bytes(b"PK\x03\x04 not a workbook")
    return [[p] for p in samples] + official + [[bad], [twin], [other], [broken, samples[3]]]


def calls_in(root: Path, units: list[list[Path]], rules) -> list[tuple]:
    """check_files' arguments for each unit, its files saved under server-made names in a folder of its own."""
    calls = []
    for n, files in enumerate(units):
        folder = root / f"unit{n}"
        folder.mkdir(parents=True)
        made = []
        for i, path in enumerate(files, start=1):
            name = f"upload-{i}{path.suffix.lower()}"
            shutil.copyfile(path, folder / name)
            made.append((name, path.name))
        calls.append((str(folder), made, rules, 2021))
    return calls


def workbook(path: Path) -> dict[str, list[list]]:
    """Every sheet's cells, but the moment the workbook was made."""
    wb = CalamineWorkbook.from_path(str(path))
    found = {name: wb.get_sheet_by_name(name).to_python(skip_empty_area=False) for name in wb.sheet_names}
    return {name: [row for row in rows if not (row and row[0] == "生成时间")] for name, rows in found.items()}


def test_checks_together_give_each_unit_what_its_check_alone_gives(tmp_path, here, monkeypatch):
    rules = load_rules()
    units = uploads(tmp_path / "files")
    alone = [check_files(*call) for call in calls_in(tmp_path / "alone", units, rules)]
    calls = calls_in(tmp_path / "together", units, rules)
    evaluated = []
    monkeypatch.setattr(worker, "evaluate", lambda records, *a, **k: evaluated.append(len(records)) or evaluate(records, *a, **k))
    together = check_together(calls)
    # Two batches (a file name in two uploads parts them); the two uploads of one department checked again alone.
    assert worker._groups(calls) == [list(range(8)), [8, 9]]
    assert sorted(evaluated) == [1, 1, 3, 10]
    kept = [(r.pop("kept"), a.pop("kept")) for r, a in zip(together, alone)]  # the results the workbooks are written from
    assert together == alone
    for call, result, (mine, single) in zip(calls, together, kept):
        names = {shown for _, shown in call[1]}
        assert {f["file"] for f in result["findings"]} <= names and {d["file"] for d in result["depts"]} <= names  # nothing of another unit's
        folder = tmp_path / "alone" / Path(call[0]).name
        assert worker.write_kept(call[0], mine, rules) == worker.write_kept(str(folder), single, rules) == result["feedback"]
        for rel in result["feedback"]:
            assert workbook(Path(call[0]) / rel) == workbook(folder / rel)
    assert any(d["total"] is not None for r in together for d in r["depts"])  # ranked departments: ranks among their own only


def test_uploads_that_could_meet_are_evaluated_apart(tmp_path):
    rules = load_rules()
    same_name = [("upload-1.xlsx", "自评表.xlsx")]
    calls = [("a", same_name, rules, None), ("b", same_name, rules, None), ("c", [("upload-1.xlsx", "620101_x.xlsx")], rules, None),
             ("d", [("upload-1.xlsx", "620101_y.xlsx")], rules, None), ("e", [("upload-1.xlsx", "其他.xlsx")], rules, None),
             ("f", same_name, rules, 2020)]
    assert worker._groups(calls) == [[0, 2, 4], [1, 3], [5]]


def checks(width: int = 1) -> Checks:
    base = load_rules()
    from evalbatch.rules import Rules

    return Checks(Rules({**base.data, "web": {**base.data["web"], "concurrent_checks": width}}, "测试规则"))


def test_waiting_checks_run_together_in_one_call_and_a_failed_batch_is_retried_one_by_one():
    box = checks()

    async def scenario():
        first = asyncio.create_task(box.run(web_calls.slow_echo, "first"))
        await asyncio.sleep(0.05)  # the first is running: these wait, then go together
        waiting = [asyncio.create_task(box.run(web_calls.slow_echo, x)) for x in ("a", "b", "c")]
        results = [await first] + [await t for t in waiting]
        # The together form dies (a hostile upload killed the worker): each is checked alone.
        first = asyncio.create_task(box.run(web_calls.slow_echo, "first"))
        await asyncio.sleep(0.05)
        retried = [asyncio.create_task(box.run(web_calls.slow_echo, x)) for x in ("die", "b", "bad")]
        outcomes = await asyncio.gather(first, *retried, return_exceptions=True)
        return results, outcomes

    try:
        results, outcomes = asyncio.run(scenario())
    finally:
        box.close()
    assert results == [("alone", "first"), ("together", 3, "a"), ("together", 3, "b"), ("together", 3, "c")]
    assert outcomes[:3] == [("alone", "first"), ("alone", "die"), ("alone", "b")]
    assert isinstance(outcomes[3], CheckFailed)  # the one that fails alone fails alone


def test_checks_wait_for_the_running_batch_rather_than_start_beside_it_and_other_calls_do_not():
    box = checks(width=2)

    async def scenario():
        await asyncio.gather(*(box.run(web_calls.quick, "warm") for _ in range(2)))  # both workers up
        ended = []

        async def run(fn, x):
            result = await box.run(fn, x)
            ended.append(x)
            return result

        first = asyncio.create_task(run(web_calls.slow_echo, "first"))
        await asyncio.sleep(0.05)
        waiting = [asyncio.create_task(run(web_calls.slow_echo, x)) for x in ("a", "b")]
        other = asyncio.create_task(run(web_calls.quick, "workbook"))
        return await asyncio.gather(first, *waiting, other), ended

    try:
        results, ended = asyncio.run(scenario())
    finally:
        box.close()
    # The free worker did not take "a" alone: "a" and "b" went together after "first"; the workbook went at once.
    assert results == [("alone", "first"), ("together", 2, "a"), ("together", 2, "b"), "workbook"]
    assert ended[0] == "workbook"


def test_a_batch_is_never_more_than_one_upload_may_be():
    box = checks()

    async def scenario():
        loop = asyncio.get_running_loop()
        big = box.max_bytes // 2 + 1
        for size in (big, big, 1, 1):
            box._waiting.append(worker._Call(web_calls.slow_echo, (), size, loop.create_future()))
        return [len(box._take()) for _ in range(2)]

    try:
        assert asyncio.run(scenario()) == [3, 1]  # a second half-size upload waits for the next call
    finally:
        box.close()
