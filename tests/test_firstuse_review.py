"""Issue 20, the reviewer (抽评): what first use still finds in the draw and its workbooks."""

from __future__ import annotations

from test_review import demo  # noqa: F401  (the 20-department run the draw tests use)

from evalbatch.rules import load_rules

RULES = load_rules()


# --- 15. --share sets the size of the draw ---------------------------------------------------

def _projects_of_run(out):
    from test_review import sheet

    return [p for p in sheet(out / "绩效自评汇总_2021.xlsx", "项目汇总") if p["项目编码"]]


def test_share_bounds_the_whole_draw_must_draws_first(demo, tmp_path):  # noqa: F811
    import sqlite3

    from test_review import copy_out

    from evalbatch.review.draw import DrawParams, draw, draw_size

    out = copy_out(demo, tmp_path)
    n = len(_projects_of_run(out))
    everything = draw(out, DrawParams(2021, 0.2, seed=1, must_draw="all"), RULES, dry_run=True)
    must = int(everything.items["reasons"].str.startswith("必抽").sum())
    budget = draw_size(n, 0.2)
    assert must > budget  # the demo's must-draws alone exceed 20 %: the case of the issue
    bounded = draw(out, DrawParams(2021, 0.2, seed=1), RULES)
    assert len(bounded.items) == budget
    assert bounded.items["reasons"].str.startswith("必抽").all()
    assert bounded.notes[0].startswith(f"必抽 {must} 个，超出份额 {must - budget} 个未抽，见：")
    # the most severe are the ones kept: none left out has more reasons than one drawn
    n_reasons = everything.items.set_index("project_code")["reasons"].str.count("；")
    kept = set(bounded.items["project_code"])
    assert n_reasons[list(kept)].min() >= n_reasons.drop(list(kept)).max()
    with sqlite3.connect(out / "evalbatch.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM review_items").fetchone()[0] == budget


def test_small_share_with_few_must_draws_is_filled_at_random(demo, tmp_path):  # noqa: F811
    from test_review import copy_out

    from evalbatch.review.draw import DrawParams, draw, draw_size

    out = copy_out(demo, tmp_path)
    n = len(_projects_of_run(out))
    got = draw(out, DrawParams(2021, 0.9, seed=1), RULES, dry_run=True)
    assert len(got.items) == draw_size(n, 0.9) and got.notes == []
    assert got.items["reasons"].eq("随机抽取").any()


def test_dry_run_prints_counts_by_reason_and_writes_nothing(demo, tmp_path):  # noqa: F811
    import sqlite3

    from test_review import copy_out, evalbatch

    out = copy_out(demo, tmp_path)
    r = evalbatch("review", "draw", out, "--year", 2021, "--share", "20%", "--seed", 1, "--dry-run", "--must-draw", "all")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("试抽（依据第 1 次运行，随机种子 1，未记录、未生成抽评表）：")
    reasons = {line.strip().split("：")[0] for line in lines[1:]}
    assert {"绩效与预算执行不匹配", "得分差异过大", "随机抽取"} <= reasons
    assert not (out / "抽评").exists()
    with sqlite3.connect(out / "evalbatch.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM review_draws").fetchone()[0] == 0
    bad = evalbatch("review", "draw", out, "--year", 2021, "--must-draw", "some")
    assert bad.returncode == 2 and "--must-draw 只能是 share 或 all" in bad.stderr
