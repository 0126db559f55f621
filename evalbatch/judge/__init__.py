"""Judge: from parsed rows to checked, scored and ranked departments.

Takes `Parsed` (read/); supersedes older files, assembles the frames, reconciles funds,
runs the checks and the vectorised scoring and ranking; gives a `BatchResult`. Writes nothing.
"""
