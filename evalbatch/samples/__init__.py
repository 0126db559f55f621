"""Samples: submissions made up for demos, tests and benchmarks, and the reference case.

Takes a count, a seed and a year; gives format-1 workbooks (format1.py), official forms of
every variant and file format (official.py), and the department's own report (reference.py).
"""
