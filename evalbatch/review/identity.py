"""Which indicator row is which, in words that survive a rerun and a resubmission: the
department's code, the project's code, the three indicator labels, and which occurrence of
those labels it is in the order of the submission (forms do repeat a label). Rows moved
within a form keep their identity; an indicator renamed by the department does not."""

from __future__ import annotations

import numpy as np
import pandas as pd

KEYS = ["dept_code", "project_code", "l1", "l2", "l3"]
IDENTITY = [*KEYS, "nth"]


def texts(s: pd.Series) -> pd.Series:
    """Labels and codes as trimmed text, "" where missing."""
    return s.astype(object).where(s.notna(), "").astype(str).str.strip()


def identity(ind: pd.DataFrame) -> pd.DataFrame:
    """The identity of each row of `ind` (columns IDENTITY, same index). Give it every row of
    the projects it covers: `nth` counts within a project."""
    keys = pd.DataFrame({k: texts(ind[k]).to_numpy() for k in KEYS})
    row = pd.to_numeric(ind["row"], errors="coerce").to_numpy(dtype="float64") if "row" in ind else np.zeros(len(ind))
    order = keys.assign(_row=row).sort_values([*KEYS, "_row"], kind="stable")
    keys["nth"] = order.groupby(KEYS, sort=False).cumcount().sort_index().to_numpy()
    keys.index = ind.index
    return keys


def pair_mask(ind: pd.DataFrame, pairs: pd.DataFrame) -> np.ndarray:
    """Rows of `ind` belonging to one of the (dept_code, project_code) `pairs`."""
    wanted = pd.MultiIndex.from_frame(pairs[["dept_code", "project_code"]].astype(str))
    return pd.MultiIndex.from_arrays([texts(ind["dept_code"]), texts(ind["project_code"])]).isin(wanted)
