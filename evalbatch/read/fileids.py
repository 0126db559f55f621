"""单位编码 and 单位名称 taken from a submission's file name (`620101_省委编办.xlsx`), for files
that could not be read: their findings (审核问题) and their feedback file still say whose they
are, marked as taken from the name (FROM_NAME), since nothing inside the file confirmed it.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

FROM_NAME = "（取自文件名）"
NO_NAME = "（单位编码取自文件名）"  # 单位名称 of a file whose name gives a code only

_SEP = r"[\s_\-－—–·.,，、;；]"
# A code: three digits or more at the start; a year (1990–2099, or digits followed by 年) is none.
_CODE = re.compile(rf"^(?P<code>[0-9]{{3,}})(?![0-9])(?!\s*年)(?:{_SEP}*)(?P<rest>.*)$")
_YEAR = re.compile(r"^(19[9]\d|20\d\d)$")


def ids_from_name(path: str) -> tuple[str, str]:
    """(单位编码, 单位名称) from a file's name as listed (`sub/620101_省委编办.xlsx`): the file's own
    name first, then its folders from the nearest out. ("", "") when none starts with a code;
    the name is "" when nothing but a code (or a year, a form's name with digits) follows it."""
    parts = [p for p in str(path).replace("\\", "/").split("/") if p]
    if not parts:
        return "", ""
    stems = [re.sub(r"\.[^.]*$", "", parts[-1])] + parts[-2::-1]
    for stem in stems:
        m = _CODE.match(unicodedata.normalize("NFKC", stem).strip())
        if m and not _YEAR.match(m["code"]):
            name = re.split(rf"{_SEP}+", m["rest"].strip(), maxsplit=1)[0] if m["rest"].strip() else ""
            return m["code"], "" if not name or name[0].isdigit() else name
    return "", ""


def marked_name(name: str) -> str:
    """单位名称 as findings show it when it came from the file name."""
    return f"{name}{FROM_NAME}" if name else NO_NAME


def name_unread(findings: pd.DataFrame, files: list[str]) -> pd.DataFrame:
    """Fill 单位编码 and 单位名称 of the findings of `files` (files that could not be read) from
    their names, where blank and the name has a code; in place, and returned."""
    if findings.empty or not files:
        return findings
    ids = {f: ids_from_name(f) for f in files if not f.endswith("/")}  # an unreadable folder is no department's
    ids = {f: v for f, v in ids.items() if v[0]}
    if not ids:
        return findings
    files_of = findings["file"].astype(str)
    blank = findings["dept_code"].fillna("").astype(str).eq("") & files_of.isin(ids.keys())
    findings.loc[blank, "dept_code"] = files_of[blank].map(lambda f: ids[f][0])
    unnamed = blank & findings["dept_name"].fillna("").astype(str).eq("")
    findings.loc[unnamed, "dept_name"] = files_of[unnamed].map(lambda f: marked_name(ids[f][1]))
    return findings
