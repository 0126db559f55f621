"""The quality of a self-evaluation (自评质量) as the reviewer graded it on the rubric of the
rules (review.rubric): its score is the sum of the items, once every item is graded, and its
grade follows review.quality_grades."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..judge.scoring import graded
from ..rules import Rules
from .layout import RUBRIC_PREFIX

UNGRADED = "未评"


def quality(grades: pd.DataFrame, items_in_rubric: pd.Series, rules: Rules) -> pd.DataFrame:
    """Per row of `grades` (rubric_0 … as numbers, NaN or absent where not graded): whether
    every item of its draw's rubric (`items_in_rubric` of them) is graded, the sum, and the grade."""
    cols = [f"{RUBRIC_PREFIX}{i}" for i in range(int(items_in_rubric.max()) if len(items_in_rubric) else 0)]
    values = grades.reindex(columns=cols).apply(pd.to_numeric, errors="coerce").to_numpy(dtype="float64").reshape(len(grades), len(cols))
    needed = np.arange(len(cols))[None, :] < items_in_rubric.to_numpy()[:, None]
    done = (~np.isnan(values) | ~needed).all(axis=1) & (items_in_rubric.to_numpy() > 0)
    total = np.where(done, np.where(needed, np.nan_to_num(values), 0.0).sum(axis=1), np.nan)
    score = pd.Series(np.round(total, 2), index=grades.index)
    names, bounds = rules.quality_grades
    return pd.DataFrame({"rubric_done": done, "quality_score": score, "quality_grade": graded(score, names, bounds, UNGRADED)},
                        index=grades.index)
