"""Reading values as people write them (docs/scoring.md, docs/reference-case.md)."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evalbatch import values as V

# (written, value, op, written with %)
INDICATOR_CASES = [
    ("11场次", 11, "", False),
    ("≥10场次", 10, "≥", False),
    ("1000多人次", 1000, ">", False),
    ("≥1000人次", 1000, "≥", False),
    ("100%", 1.0, "", True),
    ("0.95", 0.95, "", False),
    ("30万", 300000, "", False),
    ("30多万人（次）", 300000, ">", False),
    ("30多万人次", 300000, ">", False),
    ("≥30万人次", 300000, "≥", False),
    ("大于95%", 0.95, ">", True),
    ("≥95%", 0.95, "≥", True),
    ("≥90%", 0.90, "≥", True),
    ("大于90%", 0.90, ">", True),
    ("超过5万页", 50000, ">", False),
    ("≥5万页", 50000, "≥", False),
    ("20余次", 20, ">", False),
    ("70余件", 70, ">", False),
    ("70多人次", 70, ">", False),
    ("≤2日", 2, "≤", False),
    ("2日", 2, "", False),
    ("≤100%", 1.0, "≤", True),
    ("76.8%", 0.768, "", True),
    ("12万度", 120000, "", False),
    ("12.94万度", 129400, "", False),
    ("4项", 4, "", False),
    ("不低于95%", 0.95, "≥", True),
    ("不少于20次", 20, "≥", False),
    # Compound words and the signs Chinese input methods type (NFKC keeps ≧ ≦ as they are).
    ("大于等于95%", 0.95, "≥", True),
    ("大于或等于10个", 10, "≥", False),
    ("小于等于21.8万元", 218000, "≤", False),
    ("小于或等于3天", 3, "≤", False),
    ("不多于2次", 2, "≤", False),
    ("≧95%", 0.95, "≥", True),
    ("≦5个工作日", 5, "≤", False),
    ("＞５", 5, ">", False),
    ("<3天", 3, "<", False),
    ("95%以上", 0.95, "≥", True),
    ("3日以内", 3, "≤", False),
    ("１，２３４.５万元", 12345000, "", False),
    ("1,234次", 1234, "", False),
    ("2亿", 2e8, "", False),
    ("═100%", 1.0, "=", True),
    # A number after a few words, where it is the text's only number.
    ("完成98%", 0.98, "", True),
    ("共计12次", 12, "", False),
    ("实际支出98万元", 980000, "", False),
    ("覆盖率≥95%", 0.95, "≥", True),
    (11, 11, "", False),
    (0.95, 0.95, "", False),
]


@pytest.mark.parametrize("written,value,op,pct", INDICATOR_CASES)
def test_indicator_values(written, value, op, pct):
    got = V.parse_indicator(pd.Series([written], dtype=object)).iloc[0]
    assert got["value"] == pytest.approx(value, rel=1e-12)
    assert got["op"] == op
    assert bool(got["pct"]) is pct
    assert not got["blank"]


@pytest.mark.parametrize("written,scale,bare", [
    ("≥50万元", 1e4, False), ("2亿", 1e8, False), ("50", 1, True), (50.0, 1, True), ("≥50", 1, True),
    ("50元", 1, False), ("95%", 1, False), ("30多", 1, False), ("达成", 1, False),
])
def test_indicator_scale_and_bare(written, scale, bare):
    """What the 万 / 亿 slip needs: the multiplier written, and whether the number has no unit."""
    got = V.parse_indicator(pd.Series([written], dtype=object)).iloc[0]
    assert (got["scale"], bool(got["bare"])) == (scale, bare)


@pytest.mark.parametrize("written", ["达成", "健全", "科学合理", "abc", "2021-12-31", "计划10次,实际12次", "第3季度完成"])
def test_indicator_text_is_not_a_number(written):
    got = V.parse_indicator(pd.Series([written], dtype=object)).iloc[0]
    assert math.isnan(got["value"])
    assert got["text"] == written


@pytest.mark.parametrize("blank", [None, "", "   ", "\u3000", np.nan])
def test_indicator_blank(blank):
    got = V.parse_indicator(pd.Series([blank], dtype=object)).iloc[0]
    assert got["blank"]
    assert math.isnan(got["value"])


@pytest.mark.parametrize(
    "written,value",
    [(1458.06, 1458.06), ("1458.06", 1458.06), ("1,458.06", 1458.06), ("1458.06万元", 1458.06), ("１４５８．０６", 1458.06), ("12万", 12.0), (0, 0.0)],
)
def test_money(written, value):
    got, bad = V.parse_money(pd.Series([written], dtype=object))
    assert got.iloc[0] == pytest.approx(value)
    assert not bad.iloc[0]


@pytest.mark.parametrize("written", ["一千元", "1458.06元", "abc", "12..5"])
def test_money_unreadable(written):
    got, bad = V.parse_money(pd.Series([written], dtype=object))
    assert math.isnan(got.iloc[0]) and bad.iloc[0]


def test_money_blank_is_not_bad():
    got, bad = V.parse_money(pd.Series([None, ""], dtype=object))
    assert got.isna().all() and not bad.any()


def test_integer_rejects_fractions():
    got, bad = V.parse_integer(pd.Series([80, "80", "80人", 80.5, "80.5", None], dtype=object))
    assert got.iloc[:3].tolist() == [80, 80, 80]
    assert bad.tolist() == [False, False, False, True, True, False]


def test_codes_stay_text():
    got, _ = V.parse_code(pd.Series([620101, 620101.0, "00123", " ６２０１０１ ", None], dtype=object))
    assert got.iloc[:4].tolist() == ["620101", "620101", "00123", "620101"]
    assert pd.isna(got.iloc[4])


@pytest.mark.parametrize(
    "x,want",
    [(2.675, 2.68), (0.6405, 0.64), (2.1999, 2.2), (5.943, 5.94), (1.005, 1.01), (-2.675, -2.68), (0.125, 0.13), (89.995, 90.0)],
)
def test_round_half_up_matches_excel(x, want):
    assert V.round_half_up(x, 2) == want


def test_cents_compare_exactly():
    cents = V.to_cents([1073.08 + 384.97, 1458.06, None])
    assert cents.iloc[0] == 145805 and cents.iloc[1] == 145806 and pd.isna(cents.iloc[2])


@given(st.integers(min_value=0, max_value=10**9), st.sampled_from(["", "万", "亿"]), st.sampled_from(["", "多", "余"]),
       st.sampled_from(["次", "人次", "件", ""]))
def test_indicator_numbers_property(n, mult, more, unit):
    written = f"{n}{more}{mult}{unit}" if more else f"{n}{mult}{unit}"
    got = V.parse_indicator(pd.Series([written], dtype=object)).iloc[0]
    factor = {"": 1, "万": 1e4, "亿": 1e8}[mult]
    assert got["value"] == pytest.approx(n * factor)
    assert got["op"] == (">" if more else "")


@given(st.decimals(min_value=0, max_value=10**8, places=2, allow_nan=False))
def test_money_roundtrip_through_text_property(d):
    text = f"{d:,.2f}"
    got, bad = V.parse_money(pd.Series([text], dtype=object))
    assert not bad.iloc[0]
    assert V.to_cents(got).iloc[0] == int(d * 100)


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_round_half_up_is_within_half_a_unit(x):
    r = V.round_half_up(x, 2)
    assert abs(r - x) <= 0.005 + 1e-9


CELLS = ["≥95%", "≥ 95%", "１００%", None, 1, True, 1.0, "1", "达成", "大于95%", float("nan"), "  ", "1,000人次", "TRUE"]


@pytest.mark.parametrize("parse", [V.parse_indicator, V.parse_money, V.parse_score, V.clean_text, V.parse_code])
def test_parsing_once_per_distinct_text_gives_what_each_cell_gives_alone(parse):
    """Texts (and codes) are parsed once per distinct value (values.per_distinct, parse_code);
    1, 1.0, True and "1" stay four different cells, and a missing one stays missing."""
    column = pd.Series(CELLS * 3, dtype=object, index=range(100, 100 + 3 * len(CELLS)))

    def frame(x):
        x = x if isinstance(x, tuple) else (x,)
        return pd.concat([pd.DataFrame(p) if isinstance(p, pd.DataFrame) else p.rename(i).to_frame() for i, p in enumerate(x)], axis=1)

    whole = frame(parse(column))
    alone = pd.concat([frame(parse(column.loc[[i]])) for i in column.index])
    pd.testing.assert_frame_equal(whole, alone)


@given(st.lists(st.sampled_from(CELLS) | st.text(max_size=6), max_size=30))
def test_per_distinct_is_the_function_itself(cells):
    text = pd.Series(cells, dtype=object).astype("string")
    pd.testing.assert_series_equal(V.per_distinct(text, V._clean), V._clean(text))
