"""Night: the unattended run — lock, discover, evaluate, apply reviews, write, record.

Takes an input folder and an output folder; gives the workbook, feedback, run.json, a
history row and an exit code. The only stage that holds the run lock while it works.
"""
