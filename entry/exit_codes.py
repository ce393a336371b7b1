"""Exit codes of the entry, the same on every backend (re-exported by entry.contract).

A module of its own, with no imports, so that light paths (`launcher data ...`, the storage errors) can name
them without building entry.contract's pydantic models.
"""

EXIT_OK = 0
EXIT_FAILED = 1  # the trainer raised
EXIT_BAD_INPUT = 2  # the user must fix something (recipe, hyperparameters, bucket, credentials); nothing moved
EXIT_INFRA = 75  # transient infrastructure failure (storage unreachable after retries, disk I/O): restartable
EXIT_STOPPED = 143  # SIGTERM / stop
# 128 + N: the trainer was killed by signal N.
