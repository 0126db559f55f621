"""Command line: parse options, call the library, map results to output and exit codes."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import __version__
from . import findings as F
from .cli_zh import Group as ChineseGroup
from .files import os_error_of, output_target, write_reason
from .night.runner import (EXIT_FAILED, EXIT_FINDINGS, EXIT_HISTORY_NEWER, EXIT_INPUT, EXIT_LOCKED, EXIT_OK, EXIT_OUTPUT, EXIT_USAGE,
                           InputMissing, OutputError, RunFailed)
from .rules import Rules, RulesError, load_rules

app = typer.Typer(
    help="预算绩效自评批量复核：生成填报模板、检查单个文件、批量复核评分并生成汇总排名工作簿。",
    cls=ChineseGroup,  # typer's and click's own words (help, usage errors) in Chinese
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


def _is_terminal(stream) -> bool:
    """False also where there is no stream at all (pythonw, a service)."""
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


# Wide when not a terminal, so messages in logs and pipes are not folded into narrow columns.
out = Console(width=None if _is_terminal(sys.stdout) else 200)
err = Console(stderr=True, width=None if _is_terminal(sys.stderr) else 200)
# A sane evaluation year: 0, -1 or a 22-digit number is a typo, not a year.
YEARS = (2000, 2100)


def _fail(message: str, code: int) -> NoReturn:
    """One line on stderr, printed literally (paths may hold [ ]), and the exit code."""
    err.print(message, style="red", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def _writes(target: Path) -> Iterator[None]:
    """An output that cannot be written (a file where a folder should be, no permission, disk
    full, a FIFO or a device) is exit 4 with the reason in Chinese, never a crash report or a hang."""
    _plain_output(target)
    try:
        yield
    except Exception as exc:
        error = os_error_of(exc)
        if error is None:
            raise
        _fail(f"无法写入 {target}：{write_reason(error)}", EXIT_OUTPUT)


def _plain_output(target: Path) -> None:
    """Exit 4 before any work when an output path is a FIFO or a device (files.output_target)."""
    try:
        output_target(target)
    except OutputError as exc:
        _fail(str(exc), EXIT_OUTPUT)


@contextmanager
def _exit_codes(codes: dict[type[Exception], int]) -> Iterator[None]:
    """The failures a command expects, each as its one line on stderr and its exit code."""
    try:
        yield
    except tuple(codes) as exc:
        _fail(str(exc), next(code for kind, code in codes.items() if isinstance(exc, kind)))


def previous_year() -> int:
    """The default evaluation year: departments evaluate the budget year just ended."""
    return dt.date.today().year - 1


def _check_jobs(jobs: int) -> None:
    """`run --jobs`'s upper bound (its help keeps showing "≥ 0": 0 means every core)."""
    if jobs > MAX_JOBS:
        _fail(f"错误：'--jobs' 的值无效：应不大于 {MAX_JOBS}", EXIT_USAGE)


def _check_year(year: int | None) -> None:
    if year is not None and not YEARS[0] <= year <= YEARS[1]:
        _fail(f"--year 的值无效：{year}；评价年度应在 {YEARS[0]} 到 {YEARS[1]} 之间", EXIT_USAGE)

# Every numeric option is bounded: a 31-digit --seed or --reviewers 99999999999 is exit 2
# naming the option, never an overflow deep inside a run (exit 5). (--year: `_check_year`.)
MAX_JOBS = 256  # more than any machine's cores; Windows caps the pool at 61 anyway
MAX_SEED = 2**63 - 1  # stored in the history database as a 64-bit integer

RulesOpt = Annotated[str | None, typer.Option("--rules", help="内置规则方案的名称（national、hubei、deployed，见 evalbatch rules --list），"
                                                            "或规则文件（TOML），覆盖默认规则或其 extends 指定方案中的任意部分")]


def _rules(path: str | None, strict: bool = False) -> Rules:
    try:
        rules = load_rules(path)
    except RulesError as exc:
        _fail(f"规则错误：{exc}", EXIT_USAGE)
    if strict:
        data = {**rules.data, "scoring": {**rules.data["scoring"], "strict": True}}
        rules = Rules(data, rules.source + "（严格模式）")
    return rules


@app.command()
def template(
    output: Annotated[Path, typer.Option("-o", "--output", help="模板保存路径（.xlsx）")] = Path("绩效自评填报模板.xlsx"),
    year: Annotated[int | None, typer.Option("--year", help="预填的评价年度")] = None,
    rules: RulesOpt = None,
) -> None:
    """生成空白填报模板（.xlsx），供各部门填写。"""
    from .write.template import write_submission

    _check_year(year)
    the_rules = _rules(rules)
    with _writes(output):
        path = write_submission(output, year=year, rules=the_rules)
    out.print(f"已生成填报模板：{path}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def check(
    files: Annotated[list[Path], typer.Argument(help="要检查的填报文件，可以是多个")],
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出检查结果（总是 UTF-8 编码）")] = False,
    year: Annotated[int | None, typer.Option("--year", help="应填的评价年度；不填则不检查年度")] = None,
    rules: RulesOpt = None,
    strict: Annotated[bool, typer.Option("--strict", help="无法复核的定量指标记 0 分")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="列出哪个单元格读成了哪一项（资金、指标各列、单位、项目、年度、分值）")] = False,
) -> None:
    """检查填报文件：列出错误、警告和提示，并显示复核得分和等级。

    \b
    退出码：
      0  没有错误
      1  至少一个文件有错误
      2  用法或规则文件错误
      5  意外的内部错误（消息会指出详细日志的位置）
    """
    from .judge.evaluate import check_paths

    _check_year(year)
    in_force = _rules(rules, strict)
    if explain:
        from .read.load import explain_file

        for path in files:
            typer.echo("\n".join(explain_file(path, in_force)))
    result = check_paths(files, in_force, year=year)
    if as_json:
        _print_json(_check_json(result))
    else:
        _print_check(result, in_force.unrated)
    raise typer.Exit(EXIT_FINDINGS if result.error_files else EXIT_OK)


def _print_json(data) -> None:
    """UTF-8 whatever the console's code page (GBK on a Chinese Windows): what reads it, a
    script or a file, expects JSON's own encoding. Undecodable file names stay escaped."""
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(text)
        return
    buffer.write(text.encode("utf-8", errors="backslashreplace"))
    buffer.flush()


def _check_json(result) -> dict:
    scores = result.depts[["file", "dept_code", "dept_name", "total", "grade", "self_total"]]
    return {
        "files": [
            {"file": r.name, "sha256": r.sha256, "status": r.status, "dept_code": r.dept_code, "layout": r.layout} for r in result.records
        ],
        "scores": json.loads(scores.to_json(orient="records", force_ascii=False)),
        "projects": json.loads(result.projects[["file", "dept_code", "project_code", "project_name", "total", "self_score", "grade"]]
                               .to_json(orient="records", force_ascii=False)),
        "findings": json.loads(result.findings.to_json(orient="records", force_ascii=False)),
    }


def _literal(text, style: str = "") -> Text:
    """Department text printed as it is: a 单位名称 or 实际值 holding `[/]`, `[red]` or `:smile:`
    is neither console markup (which would crash or restyle the output) nor an emoji code."""
    return Text(str(text), style=style)


def _print_check(result, unrated: str) -> None:
    by_file = result.depts.drop_duplicates("file").set_index("file")
    for rec in result.records:
        found = result.findings[result.findings["file"] == rec.name]
        head = _literal(rec.name, "bold")
        head.append(f"  格式 {rec.layout}" if rec.layout else "")
        if rec.name in by_file.index:
            d = by_file.loc[rec.name]
            score = f"{d['total']:.2f}" if d["total"] == d["total"] else "—"
            head.append(f"  单位 {d['dept_code']} {d['dept_name']}  复核得分 {score}  等级 {_grade_said(d['grade'], found, unrated)}")
        out.print(head)
        _print_projects(result.projects[result.projects["file"] == rec.name])
        if found.empty:
            out.print("  没有发现问题。")
            continue
        _print_findings(found)


def _print_findings(found) -> None:
    table = Table(show_lines=False)
    for h in ("级别", "工作表", "单元格", "规则", "说明"):
        table.add_column(h, overflow="fold")
    for _, f in found.iterrows():
        colour = {F.ERROR: "red", F.WARNING: "yellow"}.get(f["level"], "cyan")
        table.add_row(_literal(f["level"], colour), *(_literal(f[k]) for k in ("sheet", "cell", "rule", "message")))
    out.print(table)
    counts = found["level"].value_counts()
    out.print(f"  错误 {counts.get(F.ERROR, 0)} 个，警告 {counts.get(F.WARNING, 0)} 个，提示 {counts.get(F.NOTE, 0)} 个")


def _reviews_read(review) -> str:
    """What the run took from the review workbooks: how many were read, how many drawn objects
    are complete, how many indicator scores they changed."""
    items = review.items
    files = {f for text in items["review_file"].dropna().astype(str) for f in text.split("、") if f}
    done = int(items["complete"].eq("是").sum())
    return f"抽评：读取 {len(files)} 个抽评表，{len(items)} 个抽评对象中 {done} 个已完成，调整 {len(review.adjustments)} 项指标得分"


def _grade_said(grade: str, found, unrated: str) -> str:
    """未评级 says why: the errors that keep the department out, and that fixing them grades it."""
    errors = int(found["level"].eq(F.ERROR).sum())
    if grade != unrated or not errors:
        return str(grade)
    return f"{grade}（{errors} 个错误，改正后评级）"


def _print_projects(projects) -> None:
    for _, p in projects.iterrows():
        own = "—" if p["self_score"] != p["self_score"] else f"{p['self_score']:g}"
        total = "—" if p["total"] != p["total"] else f"{p['total']:.2f}"  # 未能复核 / 不计分: no score, never "nan"
        out.print(_literal(f"  项目 {p['project_code']} {p['project_name']}  复核得分 {total}  自评 {own}  等级 {p['grade']}"))


@app.command()
def run(
    # Not `exists=True`: a missing inbox (a share not mounted) is exit 6 and a recorded attempt, not a usage error.
    input_dir: Annotated[Path, typer.Argument(help="各部门提交文件所在文件夹（含子文件夹）", file_okay=False)],
    out_dir: Annotated[Path, typer.Option("--out", help="输出文件夹")] = Path("output"),
    year: Annotated[int | None, typer.Option("--year", help="评价年度；不写时为上一年（如 2026 年运行时为 2025）")] = None,
    rules: RulesOpt = None,
    strict: Annotated[bool, typer.Option("--strict", help="无法复核的定量指标记 0 分")] = False,
    jobs: Annotated[int, typer.Option("--jobs", help="并行读取的进程数；0 表示使用全部 CPU 核（Windows 上最多 61 个）", min=0)] = 0,
    settle: Annotated[float, typer.Option("--settle", help="修改时间在此秒数以内的文件视为仍在复制，留待下次（最多 7 天）", min=0, max=7 * 86400)] = 120,
    quiet: Annotated[bool, typer.Option("--quiet", help="不显示进度和摘要")] = False,
    keep: Annotated[int, typer.Option("--keep", help="history/ 中保留的历史工作簿个数", min=0, max=100_000)] = 30,
    lock_max_age: Annotated[float, typer.Option(
        "--lock-max-age", help="另一个运行已进行超过此小时数时，退出消息提示它可能已停止响应", min=0, max=24 * 366)] = 6,
    replace_wait: Annotated[float, typer.Option(
        "--replace-wait", help="新写好的输出文件被其他程序（如服务器上的杀毒软件）短暂占用时，最多等待的秒数", min=0, max=3600)] = 30,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="不使用缓存，重新读取全部文件")] = False,
    parquet: Annotated[bool, typer.Option("--parquet", help="另将指标得分、项目汇总、审核问题、汇总排名写为 Parquet（供 BI 工具）")] = False,
    feedback: Annotated[bool, typer.Option("--feedback", help="为每个单位生成结果反馈文件（输出文件夹/feedback/）")] = False,
    findings_exit: Annotated[int, typer.Option(
        "--findings-exit", help="运行已完成、但有单位的文件存在错误时的退出码（默认 1）；计划任务中写 0，则只有运行失败才不是 0",
        min=0, max=255)] = EXIT_FINDINGS,
    reviews_dir: Annotated[Path | None, typer.Option(
        "--reviews", help="已填写的抽评表所在文件夹（默认：输出文件夹/抽评/）；抽评得分替代复核得分，按最终得分排名", file_okay=False)] = None,
    roster: Annotated[Path | None, typer.Option(
        "--roster", help="应报送单位名单（.xlsx 或 .csv，见 evalbatch roster template）；默认：输出文件夹/名单.xlsx（如有）", dir_okay=False)] = None,
    allow_shrink: Annotated[bool, typer.Option(
        "--allow-shrink", help="收件文件夹中的单位数远少于上次（规则 roster.min_share）时仍评分并替换结果；确属单位减少时使用")] = False,
) -> None:
    """批量复核：读取文件夹中的全部填报文件，复核评分并生成汇总排名工作簿。

    \b
    退出码：
      0  全部文件已采用
      1  已完成，但有文件存在错误或无法使用（见“审核问题”）；或全部文件仍在复制中，本次未评分
      2  用法或规则文件错误
      3  另一个运行正在进行（运行锁），本次没有做任何改动
      4  无法写入输出（磁盘已满、只读、没有权限），不会留下写了一半的文件
      5  意外的内部错误，本次运行没有完成（消息会指出详细日志的位置）
      6  收件文件夹不存在、无法访问（共享盘未连接、没有权限）、为空，或单位数不到上次的一半，本次没有改动任何结果
      7  运行记录数据库由较新版本的 evalbatch 创建，本次没有做任何改动；请升级 evalbatch
    加 --findings-exit 0 时，“已完成，有文件存在错误”也是 0，1 只表示全部文件仍在复制、本次未评分。
    """
    from .lock import Locked
    from .night.runner import run as run_batch

    _check_year(year)
    _check_jobs(jobs)
    if findings_exit in (EXIT_USAGE, EXIT_LOCKED, EXIT_OUTPUT, EXIT_FAILED, EXIT_INPUT, EXIT_HISTORY_NEWER):
        _fail(f"--findings-exit 的值无效：{findings_exit} 已表示其他结果（2 用法错误、3 另一个运行正在进行、4 无法写入、5 内部错误、"
              "6 收件文件夹为空或缺失、7 运行记录数据库版本较新）；请用 0、1 或 8–255", EXIT_USAGE)
    the_rules = _rules(rules, strict)
    if year is None:
        year = previous_year()
        if not quiet:
            out.print(f"评价年度 {year}（未指定 --year，按上一年度）", markup=False, highlight=False)
    from .write.history import HistoryTooNew

    with _exit_codes({Locked: EXIT_LOCKED, OutputError: EXIT_OUTPUT, RunFailed: EXIT_FAILED, InputMissing: EXIT_INPUT,
                      HistoryTooNew: EXIT_HISTORY_NEWER}):
        outcome = run_batch(input_dir, out_dir, year, the_rules, jobs=jobs, settle=settle,
                            progress=None if quiet else _progress(), keep=keep, lock_max_age=lock_max_age * 3600, replace_wait=replace_wait,
                            use_cache=not no_cache, parquet=parquet, feedback=feedback, findings_exit=findings_exit,
                            reviews=reviews_dir, roster=roster, allow_shrink=allow_shrink)
    r = outcome.result
    for note in outcome.notes:
        err.print(note, style="red" if outcome.exit_code == EXIT_INPUT else "yellow", markup=False, highlight=False, soft_wrap=True)
    if r is None:  # nothing changed since the last run, or nothing could be scored yet
        raise typer.Exit(outcome.exit_code)
    if not quiet:
        lv = r.findings["level"].value_counts()
        out.print(f"共 {len(r.records)} 个文件，评分 {len(r.depts)} 个单位；错误 {lv.get(F.ERROR, 0)}，警告 {lv.get(F.WARNING, 0)}，提示 {lv.get(F.NOTE, 0)}")
        if outcome.roster is not None:
            out.print(outcome.roster.line(), markup=False, highlight=False)
        if r.review is not None and len(r.review.items):
            out.print(_reviews_read(r.review), markup=False, highlight=False)
        out.print(f"汇总工作簿：{outcome.workbook}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(outcome.exit_code)


def _progress():
    """A callback: a rich bar on a terminal, a plain line per tenth when not (cron logs)."""
    if _is_terminal(sys.stderr):
        from rich.progress import Progress

        bar = Progress(console=err, transient=True)
        task = None

        def update(done: int, total: int) -> None:
            nonlocal task
            if task is None:
                bar.start()
                task = bar.add_task("读取文件", total=total)
            bar.update(task, completed=done)
            if done >= total:
                bar.stop()

        return update
    step = {"next": 0}

    def plain(done: int, total: int) -> None:
        if done >= step["next"] or done == total:
            print(f"已读取 {done}/{total} 个文件", file=sys.stderr, flush=True)
            step["next"] = done + max(1, total // 10)

    return plain


@app.command()
def sample(
    output: Annotated[Path, typer.Option("-o", "--output", help="样例文件保存文件夹")],
    count: Annotated[int, typer.Option("--count", help="另外生成的模拟单位个数", min=0, max=100_000)] = 20,
    seed: Annotated[int, typer.Option("--seed", help="随机种子；相同种子生成相同文件", min=0, max=MAX_SEED)] = 1,
    year: Annotated[int, typer.Option("--year", help="评价年度")] = 2021,
    layout: Annotated[str, typer.Option(
        "--layout",
        help="样例表式：template（本工具的填报模板，默认）、official（各部门实际填报的官方自评表，"
             "含 .xlsx、预算系统导出的 XML 表格和 HTML 表格）、mixed（两者各占一半，写入同一文件夹）",
    )] = "template",
) -> None:
    """生成样例填报文件：参考案例（省委编办 2021）加若干模拟单位，其中少数带有典型错误；
    也可生成官方自评表式的样例（--layout official / mixed）。"""
    # Checked here rather than by click.Choice, whose message would be in English.
    if layout not in ("template", "official", "mixed"):
        err.print(f"--layout 的值无效：“{layout}”；只能是 template、official 或 mixed", style="red", markup=False, highlight=False)
        raise typer.Exit(EXIT_USAGE)
    from .samples.format1 import write_samples
    from .samples.official import write_official_samples

    official = {"template": 0, "official": count, "mixed": count // 2}[layout]
    paths = []
    with _writes(output):
        if layout != "official":
            paths += write_samples(output, count - official, seed=seed, year=year)
        if layout != "template":
            paths += write_official_samples(output, official, seed=seed, year=year)
    out.print(f"已生成 {len(paths)} 个样例文件：{output}", markup=False, highlight=False, soft_wrap=True)


@app.command(name="history")
def show_history(
    out_dir: Annotated[Path, typer.Argument(help="evalbatch run 的输出文件夹（含 evalbatch.sqlite）")] = Path("output"),
    dept: Annotated[str | None, typer.Option("--dept", help="只看这个单位编码的历次得分")] = None,
    export: Annotated[Path | None, typer.Option("-o", "--export", help="导出为文件（.xlsx 或 .csv），或导出到一个已有的文件夹中")] = None,
    reviews: Annotated[bool, typer.Option(
        "--reviews", help="与 --dept 一起使用：列出该单位的抽评调整记录（每项指标的原得分、新得分、复核人和抽评表）")] = False,
    wide: Annotated[bool, typer.Option("--wide", help="显示全部列（完成时间、工作簿、说明、SHA-256）；默认只显示适合 80 列终端的几列")] = False,
) -> None:
    """列出历次运行（含无变化、被拒绝和失败的运行及其退出码），或某个单位在历次运行中的得分或抽评记录（可导出）。

    \b
    退出码：0 成功，2 没有运行记录或数据库无法读取，4 无法写入导出文件，5 意外的内部错误，7 数据库由较新版本创建
    """
    from .review.store import review_trail
    from .write import history as H

    db = H.db_path_for(out_dir)
    if not db.exists():
        _fail(f"{db} 不存在：该文件夹还没有运行记录", EXIT_USAGE)
    if reviews and not dept:
        _fail("--reviews 需与 --dept 单位编码 一起使用", EXIT_USAGE)
    try:
        table = (review_trail(db, dept) if reviews else H.dept_history(db, dept)) if dept else H.list_runs(db)
    except H.HistoryError as exc:
        _fail(str(exc), EXIT_HISTORY_NEWER if isinstance(exc, H.HistoryTooNew) else EXIT_USAGE)
    if export:
        name = (f"单位{dept}抽评记录" if reviews else f"单位{dept}历次得分") if dept else "历次运行"
        target = _export_target(export, name)
        _plain_output(target)
        try:
            _export(table, target, name)
        except OSError as exc:
            _fail(f"无法导出到 {target}：{write_reason(exc)}", EXIT_OUTPUT)
        out.print(f"已导出 {len(table)} 行：{target}", markup=False, highlight=False, soft_wrap=True)
        return
    if table.empty:
        out.print(_literal(f"没有单位编码 {dept} 的记录" if dept else "还没有运行记录"))
        return
    if "主机" in table.columns:  # on screen inside 说明 (--wide), which folds anyway; an export keeps both columns
        where = "主机 " + table["主机"].fillna("?").astype(str) + "，进程 " + table["进程"].astype(str).replace("<NA>", "?")
        table = table.drop(columns=["主机", "进程"]).assign(说明=where + ("；" + table["说明"]).fillna(""))
    shown = table if wide or reviews else _narrow(table)
    view = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for col in shown.columns:
        view.add_column(str(col), overflow="fold")
    for row in shown.astype(object).where(shown.notna(), "").itertuples(index=False):
        view.add_row(*[_literal(f"{v:.2f}" if isinstance(v, float) else v) for v in row])
    out.print(view)


# What `evalbatch history` leaves out without --wide, to fit an 80-column terminal (a
# department's 文件 stays: which file scored is what its history is read for).
_NARROW_DROPPED = ("完成时间", "工作簿", "说明", "SHA-256")


def _narrow(table):
    """The few columns a person reads first, times to the minute (2026-12-02 20:29)."""
    from .write.report import minutes

    narrow = table.drop(columns=[c for c in _NARROW_DROPPED if c in table.columns])
    if "开始时间" in narrow:
        narrow = narrow.assign(开始时间=narrow["开始时间"].map(minutes))
    return narrow


def _export_target(path: Path, name: str) -> Path:
    """A folder gets a named workbook inside it; anything but .xlsx or .csv is refused before writing."""
    if path.is_dir():
        return path / f"{name}.xlsx"
    if path.suffix.lower() not in (".xlsx", ".csv"):
        _fail(f"-o/--export 应为 .xlsx 或 .csv 文件，或一个已有的文件夹；“{path}”都不是", EXIT_USAGE)
    return path


def _export(table, path: Path, sheet: str) -> None:
    from .files import atomic_write
    from .write.columns import Col
    from .write.report import Formats, write_table
    from .write.book import Workbook

    if path.suffix.lower() == ".csv":
        from .write.csvsafe import write_csv

        atomic_write(path, lambda p: write_csv(table, p))
        return

    def write(p: Path) -> None:

        wb = Workbook(str(p))
        kinds = {"复核得分": "score", "自评得分": "score", "排名": "int", "运行编号": "int", "文件数": "int", "单位数": "int",
                 "原得分": "score", "新得分": "score", "抽取编号": "int"}  # the last three: the review trail (--reviews)
        write_table(wb, Formats(wb), sheet, [Col(str(c), str(c), kinds.get(str(c), "text"), 16) for c in table.columns], table)
        wb.close()

    atomic_write(path, write)


def _sub_app(name: str, help: str) -> typer.Typer:
    """A command group (evalbatch review …, evalbatch roster …)."""
    sub = typer.Typer(help=help, no_args_is_help=True, add_completion=False, rich_markup_mode=None)
    app.add_typer(sub, name=name)
    return sub


review_app = _sub_app("review", "抽评（复核抽查）：抽取项目、生成抽评表；填好的抽评表由下次 evalbatch run 读取。")


@review_app.command(name="draw")
def review_draw(
    out_dir: Annotated[Path, typer.Argument(help="evalbatch run 的输出文件夹（含 evalbatch.sqlite），从其中该年度最近一次运行抽取")],
    year: Annotated[int, typer.Option("--year", help="评价年度")] = ...,
    share: Annotated[str, typer.Option("--share", help="随机抽取的比例，如 20%（每个单位的项目数按此比例向上取整）")] = "20%",
    min_per_dept: Annotated[int, typer.Option("--min-per-dept", help="每个单位至少抽取的项目数", min=0, max=10_000)] = 1,
    seed: Annotated[int | None, typer.Option("--seed", help="随机种子；相同种子、相同运行结果抽取结果相同。不写时随机生成并记录", min=0, max=MAX_SEED)] = None,
    include: Annotated[list[str] | None, typer.Option("--include", metavar="编码", help="必须抽取的项目编码或单位编码，可写多次或用逗号分隔")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", metavar="编码", help="不参加随机抽取的项目编码或单位编码（有必抽情形的仍抽取）")] = None,
    reviewers: Annotated[int, typer.Option("--reviewers", help="复核组数：按指标数均衡分成几份抽评表", min=1, max=1000)] = 1,
    departments: Annotated[bool, typer.Option("--departments", help="按单位整体抽取：抽中的单位的整体支出自评及其全部项目都抽评")] = False,
    force: Annotated[bool, typer.Option("--force", help="该年度已有抽评表时仍重新抽取（原抽评表移到 抽评/作废/ 保留）")] = False,
    rules: RulesOpt = None,
    strict: Annotated[bool, typer.Option("--strict", help="运行时用了 --strict 的，抽取时也要写（规则须与运行相同）")] = False,
    must_draw: Annotated[str, typer.Option(
        "--must-draw", help="share：抽取总数不超过 --share，必抽对象按严重程度优先、超出的列出；all：必抽对象全部抽取（可超过比例）")] = "share",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只显示将抽取的对象数（按原因）和需填写的指标数，不记录、不生成抽评表")] = False,
) -> None:
    """抽取抽评对象（必抽：绩效与预算执行不匹配、得分差异过大、评价等级为差；其余按比例随机），生成抽评表。

    \b
    退出码：0 已抽取；2 用法错误、没有运行记录、或输入文件自上次运行后已变化；3 另一个运行正在进行；4 无法写入抽评表
    """
    from .lock import Locked
    from .review.draw import DrawError, DrawParams, counts_by_reason, draw, parse_share

    _check_year(year)
    if must_draw not in ("share", "all"):
        _fail(f"--must-draw 只能是 share 或 all，实际为“{must_draw}”", EXIT_USAGE)
    the_rules = _rules(rules, strict)
    with _exit_codes({DrawError: EXIT_USAGE, Locked: EXIT_LOCKED, OutputError: EXIT_OUTPUT}):
        params = DrawParams(year, parse_share(share), min_per_dept, seed, tuple(include or ()), tuple(exclude or ()), reviewers, departments,
                            must_draw)
        outcome = draw(out_dir, params, the_rules, force=force, dry_run=dry_run)
    items = outcome.items
    forced = int(items["reasons"].str.startswith("必抽").sum())
    if dry_run:
        out.print(f"试抽（依据第 {outcome.run['id']} 次运行，随机种子 {outcome.seed}，未记录、未生成抽评表）：{len(items)} 个抽评对象，"
                  f"其中必抽 {forced} 个，{int(items['n_indicators'].sum())} 项指标", markup=False, highlight=False)
        for reason, objects, indicators in counts_by_reason(items):
            out.print(f"  {reason}：{objects} 个对象，{indicators} 项指标", markup=False, highlight=False)
        for note in outcome.notes:
            err.print(note, style="yellow", markup=False, highlight=False, soft_wrap=True)
        return
    out.print(f"第 {outcome.draw_id} 次抽取（依据第 {outcome.run['id']} 次运行，随机种子 {outcome.seed}）：{len(items)} 个抽评对象，"
              f"其中必抽 {forced} 个，{int(items['n_indicators'].sum())} 项指标", markup=False, highlight=False)
    for note in outcome.notes:
        err.print(note, style="yellow", markup=False, highlight=False, soft_wrap=True)
    for path in outcome.workbooks:
        out.print(f"抽评表：{path}", markup=False, highlight=False, soft_wrap=True)


roster_app = _sub_app("roster", "应报送单位名单（名单）：生成空白名单、检查名单、发放网页登录的访问码。"
                                  "名单放在输出文件夹/名单.xlsx，或运行时用 --roster 指定。")


@roster_app.command(name="template")
def roster_template(
    output: Annotated[Path, typer.Option("-o", "--output", help="空白名单保存路径（.xlsx）")] = Path("名单.xlsx"),
) -> None:
    """生成空白名单（.xlsx）：单位编码（文本）、单位名称、单位类别（下拉选择）、主管部门，以及可选的应报项目数、联系人、截止日期。"""
    from .roster.template import write_roster_template

    with _writes(output):
        path = write_roster_template(output)
    out.print(f"已生成空白名单：{path}", markup=False, highlight=False)


@roster_app.command(name="check")
def roster_check(
    path: Annotated[Path, typer.Argument(help="要检查的名单文件（.xlsx 或 .csv）", dir_okay=False)],
    rules: RulesOpt = None,
) -> None:
    """检查名单：单位编码重复、单位编码或名称为空、单位类别无效等；单位编码按提交文件的同样规则规范化。

    \b
    退出码：0 名单可用（可能有警告或提示）；1 名单有错误；2 用法或规则文件错误
    """
    from .roster import read_roster

    roster = read_roster(path, _rules(rules))
    found = roster.findings
    out.print(_literal(f"名单 {path.name}：{len(roster.units)} 个单位"))
    if found.empty:
        out.print("没有发现问题。")
    else:
        _print_findings(found)
    raise typer.Exit(EXIT_FINDINGS if found["level"].eq(F.ERROR).any() else EXIT_OK)


@app.command(name="status")
def show_status(
    out_dir: Annotated[Path, typer.Argument(help="evalbatch run 的输出文件夹（含 run.json）")] = Path("output"),
    missing: Annotated[bool, typer.Option("--missing", help="列出未提交的单位及联系人（催报用）")] = False,
) -> None:
    """按名单显示最近一次评分运行的报送情况：已采用、有错误、未提交等单位数；--missing 列出未提交的单位。

    \b
    退出码：0 已显示；2 没有运行结果（run.json）或该运行没有使用名单
    """
    summary = _last_summary(out_dir)
    listed = summary.get("roster")
    if not isinstance(listed, dict):
        _fail(f"{out_dir} 的最近一次运行没有使用名单；请把名单放在 {out_dir / '名单.xlsx'} 或运行时加 --roster", EXIT_USAGE)
    out.print(_literal(f"{listed.get('line', '')}（运行时间 {summary.get('started', '—')}，名单 {listed.get('file', '')}）"))
    last = _last_attempt(out_dir)
    if last is not None:
        out.print(_literal(f"注意：最近一次运行尝试（{last['开始时间']}）{last['结果']}，以上为此前最近一次评分运行的结果"), style="yellow")
    if missing:
        rows = listed.get("missing") or []
        if not rows:
            out.print("没有未提交的单位。")
            return
        table = Table()
        for h in ("单位编码", "单位名称", "联系人", "截止日期"):
            table.add_column(h, overflow="fold")
        for row in rows:
            table.add_row(*(_literal(row.get(k, "")) for k in ("dept_code", "dept_name", "contact", "deadline")))
        out.print(table)


def _last_summary(out_dir: Path) -> dict:
    try:
        summary = json.loads((out_dir / "run.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        _fail(f"{out_dir / 'run.json'} 不存在：该文件夹还没有评分运行", EXIT_USAGE)
    except (OSError, ValueError) as exc:
        _fail(f"{out_dir / 'run.json'} 无法读取（{exc}）", EXIT_USAGE)
    if not isinstance(summary, dict):
        _fail(f"{out_dir / 'run.json'} 不是 evalbatch 的运行摘要", EXIT_USAGE)
    return summary


def _last_attempt(out_dir: Path):
    """The latest attempt, when it did not score (the inbox was missing …): its row of `list_runs`."""
    from .write import history as H

    try:
        runs = H.list_runs(H.db_path_for(out_dir))
    except H.HistoryError:
        return None
    if runs.empty or runs["结果"].iloc[-1] in (H.KIND_NAMES[H.SCORED], H.KIND_NAMES[H.UNCHANGED]):
        return None
    return runs.iloc[-1]


@app.command(name="rules")
def show_rules(
    name: Annotated[str | None, typer.Argument(help="内置规则方案的名称：原样显示该方案文件（含出处说明）")] = None,
    rules: RulesOpt = None,
    list_: Annotated[bool, typer.Option("--list", help="列出内置的规则方案")] = False,
) -> None:
    """显示当前生效的规则（默认规则，或被 --rules 文件、方案覆盖后的完整结果）。"""
    from .rules import profile_text, profiles

    if list_:
        for key, title in profiles().items():
            out.print(f"{key:10} {title}", markup=False, highlight=False)
        return
    if name is not None:
        if name not in profiles():
            _fail(f"没有名为 {name} 的内置规则方案；可选：{'、'.join(profiles())}", EXIT_USAGE)
        out.print(profile_text(name), markup=False, highlight=False)
        r = _rules(name)
        out.print(f"# 以上为方案文件；叠加默认规则后的完整规则（摘要 {r.digest}），注释取自默认规则：\n", markup=False, highlight=False)
        out.print(r.to_commented_toml(), markup=False, highlight=False)
        return
    r = _rules(rules)
    out.print(f"# 规则来源：{r.source}；摘要 {r.digest}。注释取自默认规则，与默认值不同的设置注明了默认值", markup=False, highlight=False)
    out.print(r.to_commented_toml(), markup=False, highlight=False)


@app.command(name="compare-rules")
def compare_rules(
    input_dir: Annotated[Path, typer.Argument(help="各部门提交文件所在文件夹（含子文件夹）", exists=True, file_okay=False)],
    rules: Annotated[list[str], typer.Option("--rules", help="两套规则：内置方案名称或规则文件，写两次，如 --rules national --rules hubei")],
    year: Annotated[int | None, typer.Option("--year", help="评价年度；不填则不检查年度")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="对比工作簿保存路径（.xlsx）")] = Path("规则对比.xlsx"),
    jobs: Annotated[int, typer.Option("--jobs", help="并行读取的进程数", min=1, max=MAX_JOBS)] = 1,
) -> None:
    """用两套规则复核同一批文件，生成对比工作簿：每个单位、每个项目在两套规则下的得分、等级、排名及差异。

    \b
    退出码：0 已生成；2 用法或规则文件错误；4 无法写入输出
    """
    from .read.discover import discover
    from .write.compare import compare, write_comparison

    if len(rules) != 2:
        _fail(f"--rules 需要正好两个（规则甲与规则乙），实际给了 {len(rules)} 个", EXIT_USAGE)
    _check_year(year)
    _plain_output(output)
    a, b = (_rules(r) for r in rules)
    found = discover(input_dir, exclude=output.parent.resolve() if output.parent != Path(".") else None)
    result = compare(found.files, a, b, year=year, jobs=jobs)
    try:
        path = write_comparison(result, output)
    except OSError as exc:
        _fail(f"无法写入 {output}：{write_reason(exc)}", EXIT_OUTPUT)
    out.print(f"已生成规则对比工作簿：{path}（{len(result.depts)} 个单位，{len(result.projects)} 个项目）", markup=False, highlight=False)


@app.callback(invoke_without_command=True)
def _main(version: Annotated[bool, typer.Option("--version", help="显示版本号")] = False) -> None:
    if version:
        out.print(f"evalbatch {__version__}")
        raise typer.Exit(0)




@roster_app.command(name="codes")
def roster_codes(
    out_dir: Annotated[Path, typer.Argument(help="输出文件夹：evalbatch serve 从这里读取访问码（只保存摘要）")],
    output: Annotated[Path, typer.Option("-o", "--output", help="访问码工作簿（交给各单位的访问码，明文）")] = Path("访问码.xlsx"),
    unit: Annotated[list[str] | None, typer.Option("--unit", metavar="单位编码", help="只为这个单位重新发放（可写多次）；其他单位的访问码不变")] = None,
    bureau: Annotated[bool, typer.Option("--bureau", help="只发放（或重新发放）财政厅页面的访问码")] = False,
    roster: Annotated[Path | None, typer.Option("--roster", help="名单文件；不写时用输出文件夹中的 名单.xlsx")] = None,
    rules: RulesOpt = None,
) -> None:
    """为名单中的每个单位发放 evalbatch serve 的访问码（另有一个财政厅访问码），写入访问码工作簿。

    \b
    退出码：
      0  已发放
      2  找不到名单、名单无法使用，或 --unit 不在名单中
      4  无法写入
    """
    from .roster import find_roster, read_roster
    from .values import one_code
    from .web import codes as C

    the_rules = _rules(rules)
    path = find_roster(out_dir, roster)
    if path is None or not path.is_file():
        _fail(f"找不到名单：{path or out_dir / '名单.xlsx'}；请把名单放在输出文件夹中（名单.xlsx），或用 --roster 指定", EXIT_USAGE)
    units = read_roster(path, the_rules).units
    if units.empty:
        _fail(f"名单 {path} 中没有可用的单位（需要“单位编码”和“单位名称”两列）", EXIT_USAGE)
    table = {str(r.code): (str(r.name), "" if r.contact is None or r.contact != r.contact else str(r.contact)) for r in units.itertuples()}
    wanted = [one_code(u) or "" for u in unit or []]
    unknown = [u for u in wanted if u not in table]
    if unknown:
        _fail(f"--unit {'、'.join(unknown)} 不在名单 {path} 中", EXIT_USAGE)
    chosen = {u: table[u][0] for u in (wanted if unit or bureau else table)}
    if bureau or not unit:
        chosen[C.BUREAU] = "财政厅"
    with _writes(output):
        issued = C.issue(out_dir, chosen)
        rows = [(u, table[u][0], table[u][1], issued[u]) for u in chosen if u != C.BUREAU]
        rows += [("（财政厅页面）", "财政厅", "", issued[C.BUREAU])] if C.BUREAU in issued else []
        written = C.write_codes_workbook(output, rows)
    out.print(f"已发放 {len(issued)} 个访问码（{len(rows) - (C.BUREAU in issued)} 个单位{'，另有财政厅访问码' if C.BUREAU in issued else ''}），"
              f"写入 {written}；服务器只保存摘要（{C.codes_path(out_dir)}）。")


@app.command()
def serve(
    out_dir: Annotated[Path, typer.Argument(help="输出文件夹（evalbatch run 的 --out）：访问码、运行结果、回执和审计记录都在这里")],
    inbox: Annotated[Path, typer.Option("--inbox", help="各单位提交文件的文件夹（evalbatch run 读取的文件夹）", file_okay=False)] = ...,
    host: Annotated[str, typer.Option("--host", help="监听地址；默认只有本机可访问，局域网访问写 0.0.0.0 或本机的内网地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="端口", min=1, max=65535)] = 8080,
    certfile: Annotated[Path | None, typer.Option("--certfile", help="HTTPS 证书文件（PEM）；与 --keyfile 一起使用", exists=True, dir_okay=False)] = None,
    keyfile: Annotated[Path | None, typer.Option("--keyfile", help="HTTPS 私钥文件（PEM）", exists=True, dir_okay=False)] = None,
    year: Annotated[int | None, typer.Option("--year", help="应填的评价年度；不填则不检查年度")] = None,
    rules: RulesOpt = None,
) -> None:
    """启动网页：各单位在浏览器中登录、检查并提交填报文件，财政厅查看提交情况。

    \b
    退出码：
      0  正常停止（Ctrl+C）
      2  用法错误，或尚未发放访问码（先运行 evalbatch roster codes）
    """
    import uvicorn

    from .web import codes as C
    from .web.app import WebConfig, create_app

    _check_year(year)
    if (certfile is None) != (keyfile is None):
        _fail("--certfile 和 --keyfile 需要一起使用", EXIT_USAGE)
    the_rules = _rules(rules)
    if not C.load(out_dir):
        _fail(f"{out_dir} 中还没有访问码；请先运行 evalbatch roster codes {out_dir}", EXIT_USAGE)
    with _writes(inbox):
        inbox.mkdir(parents=True, exist_ok=True)
    app_ = create_app(WebConfig(out_dir.resolve(), inbox.resolve(), the_rules, year))
    scheme = "https" if certfile else "http"
    out.print(f"evalbatch serve：{scheme}://{host}:{port}/  （Ctrl+C 停止）", markup=False, highlight=False)
    uvicorn.run(app_, host=host, port=port, ssl_certfile=str(certfile) if certfile else None, ssl_keyfile=str(keyfile) if keyfile else None,
                log_level="warning", server_header=False)


def main() -> None:
    _setup_streams()
    try:
        app()
    except Exception:  # the last resort: one line and a log file, never a traceback on the console
        print(f"evalbatch 意外中断（内部错误）；详细信息见日志 {_crash_log(traceback.format_exc())}", file=sys.stderr)
        sys.exit(EXIT_FAILED)


def _setup_streams() -> None:
    """Never a crash for want of a console or an encoding. Under pythonw there is no stdout at
    all; on Windows a redirected one (Task Scheduler's `>> log`, a pipe) is in the ANSI code
    page, GBK on a Chinese system, which lacks characters that names and paths can hold."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 - for the whole process
        elif hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace", **({} if _is_terminal(stream) else {"encoding": "utf-8"}))


def _crash_log(details: str) -> Path | str:
    """Where the traceback of an unexpected failure outside a run's own log went."""
    path = Path(tempfile.gettempdir()) / f"evalbatch-crash-{dt.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.log"
    try:
        path.write_text(f"evalbatch {__version__}\n{' '.join(sys.argv)}\n{details}", encoding="utf-8")
    except OSError:
        return "（无法写入日志文件：" + details.strip().splitlines()[-1] + "）"
    return path
