"""The in-job contract both sides read: exit codes, file names, environment variable names.

The entry (inside the job) writes these files and exit codes and reads these variables; the launcher's backends,
CLI and dashboard (outside) set the variables and read the rest. One definition here, imported by both, so the
two sides cannot drift apart. Plain constants (and the one rule of exit codes) and no imports: the lightest
paths (`launcher data ...`, the storage errors) name them too, without paying for pydantic models (the progress
document's model lives with its writer, entry/progress.py).
"""

# Exit codes of the entry, the same on every backend.
EXIT_OK = 0
EXIT_FAILED = 1  # the trainer raised
EXIT_BAD_INPUT = 2  # the user must fix something (recipe, hyperparameters, bucket, credentials); nothing moved
EXIT_INFRA = 75  # transient infrastructure failure (storage unreachable after retries, disk I/O): restartable
EXIT_STOPPED = 143  # SIGTERM / stop


def exit_code_of(returncode: int) -> int:
    """A process's exit code as Popen reports it (negative: killed by that signal) in the shell's convention:
    killed by signal N is 128 + N, what the entry, a rank supervisor and a container all exit with."""
    return returncode if returncode >= 0 else 128 - returncode


# File names inside a job's folders.
REQUEST_FILE = "request.json"  # the rendered request a local/docker backend runs from (job folder)
RANKS_RESULT_FILE = "ranks-result.json"  # which rank failed first, and its exit code (entry/ranks.py; job folder)
FAILURE_FILE = "failure.json"  # why a job failed (log folder; pushed to train_url/logs/)
METRICS_FILE = "metrics.json"  # the trainer's final metrics (output folder)
PROGRESS_FILE = "progress.json"  # live progress (output folder; pushed with the outputs)

# Variables the backends set for the entry (platform variables are read under the platform's own names:
# RANK_ID, RANK_SIZE, DEVICE_ID, RANK_TABLE_FILE, VC_*, MA_*; see shared/DESIGN.md "One contract").
ENV_JOB_ID = "LAUNCHER_JOB_ID"
ENV_WORK_DIR = "LAUNCHER_WORK_DIR"  # local scratch: data cache, output dir, logs
ENV_LOCAL_RANK = "LAUNCHER_LOCAL_RANK"  # rank among the processes on this node
ENV_LOCAL_SIZE = "LAUNCHER_LOCAL_SIZE"  # processes (cards) on this node
ENV_CREDENTIALS_FILE = "LAUNCHER_CREDENTIALS_FILE"  # a private JSON file of storage keys (entry/credentials.py)
ENV_HOME = "LAUNCHER_HOME"  # the launcher's home: job records, embedded store, profiles, data cache
ENV_CACHE_DIR = "LAUNCHER_DATA_CACHE"  # where the node's data cache lives (default: under LAUNCHER_HOME, or /cache)
ENV_CACHE_MAX = "LAUNCHER_DATA_CACHE_MAX"  # its size cap, e.g. 200g; default half of the cache's file system
# A Volcano pod's own topology, read by entry/pod_ranks.py.
ENV_DEVICE = "LAUNCHER_DEVICE"  # cpu, gpu or ascend
ENV_NODES = "LAUNCHER_NODES"
ENV_HOST_IP = "LAUNCHER_HOST_IP"  # the node's IP: the rank table's server_id
ENV_POD_IP = "LAUNCHER_POD_IP"
ENV_RANK_TABLE_WAIT = "LAUNCHER_RANK_TABLE_WAIT_S"
