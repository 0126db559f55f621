"""evalbatch: batch recomputation (复核) of budget performance self-evaluations (预算绩效自评)."""

__version__ = "0.1.0"
# Bumped whenever reading or normalising changes what a file turns into (invalidates caches).
PARSER_VERSION = "9"
