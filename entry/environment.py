"""The in-job contract read once into one object; the trainer receives it instead of reading os.environ.

Same names whatever runs the job (local process, Docker, ModelArts, Volcano): see shared/DESIGN.md "One contract".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict

# Environment variables our backends set (platform variables such as DEVICE_ID are read as the platform names them).
ENV_JOB_ID = "LAUNCHER_JOB_ID"
ENV_WORK_DIR = "LAUNCHER_WORK_DIR"  # local scratch: data cache, output dir, logs

# ModelArts' own scratch folder; used when no work dir is given.
MODELARTS_CACHE = Path("/cache")


class JobEnvironment(BaseModel):
    """Paths and identity of one training process."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    data_dir: Path  # the synced copy of data_url
    output_dir: Path  # everything written here is pushed to train_url
    log_dir: Path
    rank: int = 0
    world_size: int = 1
    device_id: int = 0

    @property
    def checkpoint_dir(self) -> Path:
        return self.output_dir / "checkpoints"

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "JobEnvironment":
        env = os.environ if environ is None else environ
        job_id = env.get(ENV_JOB_ID) or env.get("JOB_ID") or env.get("MA_JOB_ID") or "local"
        work = Path(env.get(ENV_WORK_DIR) or MODELARTS_CACHE / job_id)
        return cls(
            job_id=job_id,
            data_dir=work / "data",
            output_dir=work / "output",
            log_dir=work / "output" / "logs",
            rank=int(env.get("RANK_ID", "0")),
            world_size=int(env.get("RANK_SIZE", "1")),
            device_id=int(env.get("DEVICE_ID", env.get("ASCEND_DEVICE_ID", "0"))),
        )
