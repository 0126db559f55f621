"""Re-review (抽评): after the self-evaluations come in, the bureau draws a sample, reviewers
re-verify it in protected workbooks, and the next run lets their scores drive the ranking.

Each part by name:

- draw.py: which items are drawn (flagged ones always, the rest at random but reproducibly)
  and the record of the draw; `evalbatch review draw` calls it.
- workbook.py: the review workbooks reviewers fill (抽评/抽评表_YYYY_<组>.xlsx).
- collect.py: filled workbooks read back; every bad input is a finding, never a crash.
- apply.py: reviewed scores applied to the scored frames as column arithmetic; 抽评结果.
- quality.py: the quality rubric's score and grade.
- layout.py: the workbooks' sheets and columns, shared by the writer and the reader.
- identity.py: which indicator row is which, across runs and resubmissions.
- store.py: draws and the review trail in the history database (evalbatch.sqlite).
"""

REVIEW_DIR = "抽评"  # under the output folder: the review workbooks of every draw
