"""evalbatch serve: the departments' page and the bureau's page (a face, like cli.py)."""
