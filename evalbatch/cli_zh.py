"""Chinese for what typer and click print on their own: help pages and usage errors.

Typer (≥ 0.29) carries its own copy of click, `typer._click`, whose words are written in
English in the code rather than looked up through gettext, so there is no catalogue to
install. Everything they print passes through two places, and this module takes both over
for the whole command tree, once:

- the help formatter, which every help page and usage line is written with (the usage
  prefix, section titles, the help option's text, metavars, default/required notes);
- the top-level `main`, which displays every usage error: each is rebuilt in Chinese from
  the exception's own fields (which option, which value), and only the free-text detail
  that typer or pydantic wrote is matched against known sentences.

`Group` is passed as `cls=` to the `typer.Typer` of cli.py; commands added to it, also from
a sub-app (`add_typer`), are adopted when the group is built.
"""

from __future__ import annotations

import re
import sys
import unicodedata

from typer import _click
from typer._click.exceptions import BadParameter, ClickException, MissingParameter, NoArgsIsHelpError, NoSuchOption
from typer._click.formatting import wrap_text
from typer.core import TyperGroup
from typer.exceptions import Abort

HELP_OPTION = "显示本帮助并退出"
_OPTIONS, _SUBCOMMAND = "[选项]", "命令 [参数]..."

_HEADINGS = {"Options": "选项", "Arguments": "参数", "Commands": "命令"}
# Metavars typer derives from a parameter's type.
_METAVARS = {"<int range>": "<整数>", "<float range>": "<数字>", "<int>": "<整数>", "<float>": "<数字>", "<str>": "<文字>",
             "<text>": "<文字>", "<path>": "<路径>", "<dir>": "<文件夹>", "<file>": "<文件>", "<bool>": "<是或否>"}
_NOTES = [
    (re.compile(r"Show this message and exit\."), HELP_OPTION),
    (re.compile(r"\[default: "), "[默认："),
    (re.compile(r"\[required\]"), "[必填]"),
    (re.compile(r"\[env var: "), "[环境变量："),
    (re.compile(r"(\d[\d.]*)<=x<=(\d[\d.]*)"), r"\1 到 \2"),
    (re.compile(r"\bx>=(-?[\d.]+)"), r"≥ \1"),
    (re.compile(r"\bx<=(-?[\d.]+)"), r"≤ \1"),
    (re.compile(r"\bx>(-?[\d.]+)"), r"> \1"),
    (re.compile(r"\bx<(-?[\d.]+)"), r"< \1"),
    (re.compile(r"; (?=[^\[\]]*\])"), "；"),  # between the notes inside [ ]
]

# Sentences typer, click's parser and pydantic put in a usage error, and their Chinese.
_KINDS = {"file": "文件", "dir": "文件夹", "directory": "文件夹", "path": "路径"}
_DETAILS = [
    (r"Input should be a valid integer.*", "应为整数"),
    (r"Input should be a valid number.*", "应为数字"),
    (r"Input should be a valid boolean.*", "应为 true 或 false"),
    (r"Input should be greater than or equal to (.+)", r"应不小于 \1"),
    (r"Input should be less than or equal to (.+)", r"应不大于 \1"),
    (r"Input should be greater than (.+)", r"应大于 \1"),
    (r"Input should be less than (.+)", r"应小于 \1"),
    (r"(\w+) (.+) does not exist\.", lambda m: f"{_KINDS.get(m[1].lower(), '路径')} {m[2]} 不存在"),
    (r"(\w+) (.+) is a file\.", r"\2 是文件，这里应为文件夹"),
    (r"(\w+) (.+) is a directory\.", r"\2 是文件夹，这里应为文件"),
    (r"(\w+) (.+) is not readable\.", r"没有读取 \2 的权限"),
    (r"(\w+) (.+) is not writable\.", r"没有写入 \2 的权限"),
    (r"Value (.+) is not a valid (.+)\.", r"\1 不是有效的值"),
    (r"Option (.+) requires an argument\.", r"选项 \1 后面需要一个值"),
    (r"Option (.+) requires (\d+) arguments\.", r"选项 \1 后面需要 \2 个值"),
    (r"Option (.+) does not take a value\.", r"选项 \1 后面不能带值"),
    (r"Argument (.+) takes (\d+) values\.", r"参数 \1 需要 \2 个值"),
    (r"Got unexpected extra argument\(s\) \((.+)\)", r"多余的参数：\1"),
    (r"No such command (.+?)\.(?: Did you mean (.+)\?)?", lambda m: f"没有命令 {m[1]}" + (f"；您是不是要用 {m[2]}？" if m[2] else "")),
    (r"Missing command\.", "缺少命令"),
    (r"Value must be an iterable\.", "应为一组值"),
]
_DETAILS = [(re.compile(pattern, re.DOTALL), to) for pattern, to in _DETAILS]


class _Formatter(_click.HelpFormatter):
    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, "用法：" if prefix is None else prefix)

    def write_heading(self, heading: str) -> None:
        self.write(f"{'':>{self.current_indent}}{_HEADINGS.get(heading, heading)}：\n")

    def write_dl(self, rows, col_max: int = 30, col_spacing: int = 2) -> None:
        """click's definition list, aligned by display width: a Chinese metavar is two columns a character."""
        rows = [(_metavars(first), _notes(second)) for first, second in rows]
        first_col = min(max((_columns(first) for first, _ in rows), default=0), col_max) + col_spacing
        indent = " " * self.current_indent
        for first, second in rows:
            self.write(indent + first)
            if not second:
                self.write("\n")
                continue
            pad = first_col - _columns(first)
            self.write(" " * pad if pad >= col_spacing else "\n" + " " * (first_col + self.current_indent))
            lines = wrap_text(second, max(self.width - first_col - 2, 10), preserve_paragraphs=True).splitlines() or [""]
            self.write(lines[0] + "\n")
            for line in lines[1:]:
                self.write(" " * (first_col + self.current_indent) + line + "\n")


class _Context(_click.Context):
    formatter_class = _Formatter


def _columns(text: str) -> int:
    """Terminal columns `text` takes: a Chinese character two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _metavars(text: str) -> str:
    for english, chinese in _METAVARS.items():
        text = text.replace(english, chinese)
    return text


def _notes(text: str) -> str:
    for pattern, chinese in _NOTES:
        text = pattern.sub(chinese, text)
    return text


def _adopt(command: _click.Command) -> None:
    """A command (and its subcommands) made to print Chinese help and usage lines."""
    command.context_class = _Context
    command.options_metavar = _OPTIONS
    if hasattr(command, "subcommand_metavar"):
        command.subcommand_metavar = _SUBCOMMAND
    for sub in getattr(command, "commands", {}).values():
        _adopt(sub)


class Group(TyperGroup):
    """The command tree's root: Chinese help for every command, Chinese usage errors."""

    def __init__(self, **attrs) -> None:
        super().__init__(**attrs)
        _adopt(self)

    def add_command(self, cmd: _click.Command, name: str | None = None) -> None:
        super().add_command(cmd, name)
        _adopt(cmd)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except ClickException as exc:
            show_error(exc)
            sys.exit(exc.exit_code)
        except Abort:
            _click.echo("已中止。", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def show_error(exc: ClickException) -> None:
    """A usage error as click lays it out (usage line, where to get help, the error), in Chinese."""
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, NoArgsIsHelpError):
        _click.echo(ctx.get_help(), err=True)
        return
    lines = []
    if ctx is not None:
        lines.append(ctx.get_usage())
        if ctx.command.get_help_option(ctx) is not None:
            lines.append(f"用 {ctx.command_path} {ctx.help_option_names[0]} 查看帮助。")
        lines.append("")
    lines.append(f"错误：{message(exc)}")
    _click.echo("\n".join(lines), err=True)


def message(exc: ClickException) -> str:
    """The error in Chinese, built from the exception's fields where it has them."""
    if isinstance(exc, MissingParameter):
        kind = exc.param_type or (exc.param.param_type_name if exc.param is not None else "")
        return f"缺少{'选项' if kind == 'option' else '参数'} {_param_hint(exc)}。"
    if isinstance(exc, NoSuchOption):
        maybe = f"；您是不是要用 {'、'.join(sorted(exc.possibilities))}？" if exc.possibilities else "。"
        return f"没有选项 {exc.option_name}{maybe}"
    if isinstance(exc, BadParameter):
        hint = _param_hint(exc)
        return f"{hint} 的值无效：{detail(exc.message)}" if hint else f"值无效：{detail(exc.message)}"
    return detail(exc.format_message())


def _param_hint(exc: BadParameter) -> str:
    hint = exc.param_hint
    if hint is None and exc.param is not None:
        hint = exc.param.get_error_hint()
    if hint is not None and not isinstance(hint, str):
        hint = " / ".join(repr(h) for h in hint)
    return hint or ""


def detail(text: str) -> str:
    """A sentence typer or pydantic wrote, in Chinese; our own (Chinese) messages pass as they are."""
    text = text.strip()
    for pattern, chinese in _DETAILS:
        m = pattern.fullmatch(text)
        if m:
            return chinese(m) if callable(chinese) else m.expand(chinese)
    return text
