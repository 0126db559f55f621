"""Text → numbers, the way departments actually write them. Vectorised over pandas Series.

Every parser takes a Series of raw cell values (numbers, text, blanks, as read from a
workbook) and returns the parsed Series plus a boolean Series `bad` that is True where a cell
holds something that is not blank and cannot be read. Blank is never bad: whether a blank is
allowed is the checks' decision, not the parser's.
"""

from __future__ import annotations

import datetime
import math
import re
import unicodedata

import numpy as np
import pandas as pd

# Comparison words, normalised to one of > ≥ < ≤ = (empty: none written).
_OP_WORDS = {
    "不低于": "≥", "不少于": "≥", "不小于": "≥", "至少": "≥", ">=": "≥", "≥": "≥",
    "大于等于": "≥", "大于或等于": "≥", "≧": "≥",  # ≧ and ≦ (Chinese input methods) stay themselves under NFKC
    "不超过": "≤", "不高于": "≤", "不大于": "≤", "不多于": "≤", "至多": "≤", "<=": "≤", "≤": "≤",
    "小于等于": "≤", "小于或等于": "≤", "≦": "≤",
    "超过": ">", "大于": ">", "高于": ">", "多于": ">", ">": ">",
    "小于": "<", "低于": "<", "少于": "<", "<": "<",
    # ＝ and ﹦ (official forms' split 指标性质 columns) are = after NFKC; ═ (a box-drawing
    # line) is how 云南's 决算 tables print it.
    "等于": "=", "=": "=", "═": "=",
}
_PREFIX = "|".join(sorted(map(re.escape, _OP_WORDS), key=len, reverse=True))
_MULTIPLIERS = {"万": 1e4, "亿": 1e8}

# One pattern for indicator values: optional comparison word, a number, then 多/余 and
# 万/亿 in either order ("30多万", "5万多"), an optional %, then a unit ("人次") and maybe 以上.
_NUMBER_PART = (
    rf"(?:约|达到|达)?(?P<pre>{_PREFIX})?(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?P<more1>多|余)?(?P<mult>万|亿)?(?P<more2>多|余)?(?P<pct>%)?(?![\d./:-])"
)
_INDICATOR_RE = rf"^(?P<lead>){_NUMBER_PART}(?P<rest>.*)$"
# The number after a few words (完成98%, 共计12次, 实际支出98万元, 满意度96%), where it is the
# text's only number (计划10次，实际12次 is not read) and no ordinal (第3季度).
_LED_RE = rf"^(?P<lead>[^\d]{{1,8}}?)(?<!第){_NUMBER_PART}(?P<rest>\D*)$"
_MONEY_RE = r"^(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:万元|万)?$"
_INT_RE = r"^(?P<num>[+-]?\d+(?:\.\d*)?)(?:人|名|个)?$"
_YEAR_RE = r"^(?P<num>\d{4})(?:年度?)?$"  # 2021, 2021年, 2021年度
_SCORE_RE = r"^(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))分?$"


# Cells arrive as Python objects (str, float, None, dates): one pass of plain Python over the
# objects is several times faster than a round trip through pandas' string dtype.
def is_blank(s: pd.Series) -> pd.Series:
    """True where a cell holds nothing, or only white space."""
    blank = [v is None or v != v or (isinstance(v, str) and not v.strip()) for v in s.to_numpy(dtype=object)]
    return pd.Series(blank, index=s.index, dtype=bool)


def _is_text(s: pd.Series) -> pd.Series:
    return pd.Series([isinstance(v, str) for v in s.to_numpy(dtype=object)], index=s.index, dtype=bool)


def _is_date(s: pd.Series) -> pd.Series:
    return pd.Series([isinstance(v, (datetime.date, pd.Timestamp)) for v in s.to_numpy(dtype=object)], index=s.index, dtype=bool)


def is_bool(s: pd.Series) -> pd.Series:
    """TRUE / FALSE cells: never read as 1 and 0."""
    return pd.Series([isinstance(v, (bool, np.bool_)) for v in s.to_numpy(dtype=object)], index=s.index, dtype=bool)


def clean_text(s: pd.Series) -> pd.Series:
    """Full-width → half-width, no spaces, no thousands separators between digits."""
    return per_distinct(s.astype("string"), _clean)


def _clean(t: pd.Series) -> pd.Series:
    t = t.str.normalize("NFKC").str.replace(r"\s+", "", regex=True)
    return t.str.replace(r"(?<=\d),(?=\d{3}(?!\d))", "", regex=True)


def per_distinct(text: pd.Series, fn):
    """`fn(text)` (a Series or a frame like `text`) computed once per distinct string: a
    country's forms write the same targets, units and words over and over ("100%", "≥95%",
    "达成"), and the regular expressions cost per value. `text` is of the string dtype, so
    no two different cells meet as one value (1, 1.0 and True would)."""
    codes, uniques = pd.factorize(text)
    out = fn(pd.Series(uniques, dtype=text.dtype))
    if (codes < 0).any():  # missing cells: what fn makes of a missing value, once
        out = pd.concat([out, fn(pd.Series([pd.NA], dtype=text.dtype))], ignore_index=True)
        codes = np.where(codes < 0, len(out) - 1, codes)
    taken = out.take(codes)
    taken.index = text.index
    return taken


def _numbers(s: pd.Series, pattern: str) -> tuple[pd.Series, pd.Series]:
    """Numbers typed as numbers, plus text matching `pattern` (group `num`)."""
    text_mask = _is_text(s)
    value = pd.to_numeric(s.where(~text_mask & ~is_bool(s)), errors="coerce").astype("float64")
    if text_mask.any():  # only text needs the regular expression
        found = per_distinct(clean_text(s[text_mask]), lambda t: t.str.extract(pattern)["num"])
        value = value.fillna(pd.to_numeric(found, errors="coerce").astype("float64").reindex(s.index))
    value = value.where(np.isfinite(value))
    bad = value.isna() & ~is_blank(s)
    return value, bad.astype(bool)


def parse_money(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """万元 amounts. A trailing 万元 is the field's own unit, not a multiplier."""
    return _numbers(s, _MONEY_RE)


def parse_score(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    return _numbers(s, _SCORE_RE)


def _whole(s: pd.Series, pattern: str) -> tuple[pd.Series, pd.Series]:
    value, bad = _numbers(s, pattern)
    fractional = value.notna() & (value != np.floor(value))
    return value.where(~fractional), bad | fractional


def parse_integer(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Whole numbers; 80.5 people is unreadable, not 80."""
    return _whole(s, _INT_RE)


def parse_year(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A 评价年度 as departments write it: 2021, "2021", "2021年", "2021年度" (or 2021.0)."""
    return _whole(s, _YEAR_RE)


# Spaces anywhere, zero-width characters and a BOM are never part of a code.
_NOT_IN_CODES = re.compile(r"[\s\u200b-\u200d\u2060\ufeff]+")
_TEXT_FLOAT_CODE = re.compile(r"(\d+)\.0+")


def one_code(v) -> str | None:
    """One code as text: "620101" whether typed 620101, 620101.0 (a number), "620101.0",
    "620 101", "６２０１０１" or with a zero-width space inside; leading zeros kept."""
    if v is None or v != v or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
        if math.isfinite(v) and float(v).is_integer():
            return str(int(v))  # Python's int: an 18-digit number stays exact text
        return str(v)
    text = _NOT_IN_CODES.sub("", unicodedata.normalize("NFKC", str(v)))
    m = _TEXT_FLOAT_CODE.fullmatch(text)
    return m.group(1) if m else text


def parse_code(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Codes are text (`one_code`), converted once per distinct value. A value is keyed with its
    type: 1, 1.0 and True are equal in Python, and one file's TRUE must not become another
    file's code 1 (nor the other way round) because they were read in one chunk."""
    keys = [(type(v), v) for v in s.to_numpy(dtype=object)]
    codes = {k: one_code(k[1]) for k in dict.fromkeys(keys)}
    return pd.Series([codes[k] for k in keys], index=s.index, dtype="string"), pd.Series(False, index=s.index)


def code_normalised(raw: pd.Series, code: pd.Series) -> pd.Series:
    """Where a code typed as text had to be cleaned (spaces, full-width digits, "…\u200b…", ".0")."""
    typed = raw.astype("string").str.strip()
    return (_is_text(raw) & code.notna() & typed.ne(code)).fillna(False).astype(bool)


def parse_text(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    text = s.astype("string").str.strip()
    return text.where(~is_blank(s)), pd.Series(False, index=s.index)


def parse_enum(s: pd.Series, words: tuple[str, ...]) -> tuple[pd.Series, pd.Series]:
    """An enum word, matched after removing spaces and full-width forms."""
    from .schema import norm_label

    lookup = {norm_label(w): w for w in words}
    key = clean_text(s).str.replace('"', "", regex=False)
    value = key.map(lookup)
    bad = value.isna() & ~is_blank(s)
    return value.astype("string"), bad.astype(bool)


# The parts parse_indicator reads an indicator value into, and the dtype frames keep each in.
INDICATOR_PARTS = {"value": "float64", "op": "string", "pct": "bool", "scale": "float64", "bare": "bool",
                   "date": "float64", "text": "string", "blank": "bool"}

# A date or a deadline as forms write them (时效指标): `12月底前完成`, `2022年11月30日`, `于11月完成`,
# `年底前`, `2022-12-31` (a date cell), `6月中旬`. The day may be missing (a month), so may the year.
_DAY_WORDS = {"底": 31, "末": 31, "上旬": 10, "中旬": 20, "下旬": 31}
_DATE_RE = (
    r"^(?:已于|已在|截至|截止|于|在)?"
    r"(?:(?:(?P<y>(?:19|20)\d{2})年度?)?(?P<m>1[0-2]|0?[1-9])月份?(?:(?P<d>[12]\d|3[01]|0?[1-9])(?:日|号)?|(?P<dw>底|末|上旬|中旬|下旬))?"
    r"|(?P<iy>(?:19|20)\d{2})(?P<sep>[-./])(?P<im>1[0-2]|0?[1-9])(?:(?P=sep)(?P<id>[12]\d|3[01]|0?[1-9]))?(?:\d{2}:\d{2}(?::\d{2})?)?)"
    r"(?:前|以前|之前|内|以内)?(?:[\u4e00-\u9fff]{1,8})?$"
)


def parse_indicator(s: pd.Series) -> pd.DataFrame:
    """Indicator targets and actuals: `1000多人次` → 1000 (op >), `大于95%` → 0.95 (op >).

    Columns: value (float, NaN when not a number), op (> ≥ < ≤ or ""), pct (written with %),
    scale (the 万 / 亿 written, 1 when none), bare (a number with no unit at all: 50, ≥50),
    text (normalised text, for 定性 level words), blank.
    """
    text_mask = _is_text(s)
    blank = is_blank(s)
    plain = pd.to_numeric(s.where(~text_mask), errors="coerce").astype("float64")
    text = clean_text(s.where(~blank))
    m = per_distinct(text[text_mask & ~blank], _indicator_parts).reindex(s.index)
    num = pd.to_numeric(m["num"], errors="coerce").astype("float64")
    scale = m["mult"].map(_MULTIPLIERS).astype("float64").fillna(1.0)
    num = num * scale
    pct = m["pct"].notna()
    num = num.where(~pct, num / 100.0)
    value = plain.fillna(num)
    value = value.where(np.isfinite(value))

    more = m["more1"].notna() | m["more2"].notna()
    rest = m["rest"].fillna("")
    bare = value.notna() & (plain.notna() | (scale.eq(1) & ~pct & ~more & rest.eq("") & m["lead"].fillna("").eq("")))
    # A date cell (a datetime) is read as its text, 2022-12-31 00:00:00.
    dated = (text_mask | _is_date(s)) & ~blank
    date = per_distinct(text[dated], _dates).reindex(s.index) if dated.any() else value * np.nan
    op = m["pre"].map(_OP_WORDS)
    op = op.fillna(pd.Series(np.where(more, ">", ""), index=s.index).where(lambda x: x != ""))
    op = op.fillna(pd.Series(np.select([rest.str.contains("以上"), rest.str.contains(r"以下|以内")], ["≥", "≤"], ""), index=s.index))
    return pd.DataFrame(
        {
            "value": value,
            "op": op.fillna("").astype("string"),
            "pct": pct.astype(bool),
            "scale": scale,
            "bare": bare.astype(bool),
            "date": date.astype("float64"),
            "text": text.astype("string"),
            "blank": blank,
        },
        index=s.index,
    )


def _dates(text: pd.Series) -> pd.Series:
    """A date as y·10000 + m·100 + d: y 0 where the text gives no year, d 0 where it gives
    no day (a month); NaN where the text is not a date. 年底 is 12月31日."""
    whole_year = text.str.replace(r"年(?:底|末|内)", "年12月底", regex=True).str.replace(r"^年(?=12月)", "", regex=True)
    m = whole_year.str.extract(_DATE_RE)
    month = pd.to_numeric(m["m"].fillna(m["im"]), errors="coerce")
    day = pd.to_numeric(m["d"].fillna(m["id"]), errors="coerce").fillna(m["dw"].map(_DAY_WORDS))
    year = pd.to_numeric(m["y"].fillna(m["iy"]), errors="coerce")
    return (year.fillna(0) * 10000 + month * 100 + day.fillna(0)).astype("float64")


def _indicator_parts(text: pd.Series) -> pd.DataFrame:
    # "≥100百分比" is how some forms spell a percentage.
    text = text.str.replace("百分比", "%", regex=False)
    parts = text.str.extract(_INDICATOR_RE)
    led = parts["num"].isna() & text.notna()
    if led.any():
        parts[led] = text[led].str.extract(_LED_RE)
    return parts


def round_half_up(x, decimals: int = 2):
    """Excel's ROUND: halves go away from zero, and 2.675 is 2.68 as a person expects.

    Scaling first and rounding the scaled value to 6 places removes the binary noise
    (2.675 * 100 = 267.49999999999997) before the half is judged.
    """
    arr = np.asarray(x, dtype="float64")
    f = 10.0**decimals
    scaled = np.round(arr * f, 6)
    out = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) / f
    if isinstance(x, pd.Series):
        return pd.Series(out, index=x.index, name=x.name)
    return out if out.ndim else float(out)


def to_cents(x):
    """万元 → whole hundredths of 万元 (the form's two decimals), so 0.01 compares exactly.

    Missing stays missing (pandas' nullable Int64)."""
    cents = round_half_up(pd.Series(x, dtype="float64") * 100.0, 0)
    return cents.astype("Int64")


def number_text(x: pd.Series, fmt: str = "{:g}") -> pd.Series:
    """Numbers → text for messages: "" where missing, and text even when `x` is empty."""
    values = pd.to_numeric(x, errors="coerce").to_numpy(dtype="float64", na_value=np.nan).tolist()
    return pd.Series(["" if v != v else fmt.format(v) for v in values], index=x.index, dtype="string")



def score_text(x: pd.Series) -> pd.Series:
    """Scores → text for messages as the forms print them: two decimals at most, no trailing
    zeros (9.5, 10, 2.68). Two scores that differ by a hundredth never read alike."""
    text = number_text(round_half_up(pd.to_numeric(x, errors="coerce").astype("float64"), 2), "{:.2f}")
    return text.str.replace(r"(\.\d*?)0+$", r"\1", regex=True).str.replace(r"\.$", "", regex=True)
