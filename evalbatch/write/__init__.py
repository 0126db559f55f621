"""Write: from a `BatchResult` to what people open — the consolidated workbook, feedback files,
the blank template, Parquet, CSV — and the record of each run (history.py).

Takes results (judge/); gives files, always written atomically into the output folder.
"""
