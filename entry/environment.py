"""The in-job contract read once into one object; the rest of the code receives it instead of reading os.environ.

Same names whatever runs the job (local process, Docker, ModelArts, Volcano): see shared/DESIGN.md "One contract"
and shared/MODELARTS.md for the platform's own variables (MA_*, VC_*, DEVICE_ID, RANK_ID, RANK_SIZE,
RANK_TABLE_FILE, JOB_ID).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from entry.contract import ENV_JOB_ID, ENV_LOCAL_RANK, ENV_LOCAL_SIZE, ENV_WORK_DIR
from entry.ranktable import RankTable, load_rank_table
from launcher.errors import UserError, format_validation_error

# ModelArts' own scratch folder; used when no work dir is given.
MODELARTS_CACHE = Path("/cache")


class JobEnvironment(BaseModel):
    """Paths, identity and topology of one training process."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    work_dir: Path
    data_dir: Path  # the synced copy of data_url, shared by the processes of a node
    output_dir: Path  # everything written here is pushed to train_url
    log_dir: Path
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_size: int = 1
    device_id: int = 0
    node_index: int = 0  # VC_TASK_INDEX on multi-node ModelArts/Volcano
    node_count: int = 1
    worker_hosts: list[str] = []
    host_ip: str = ""
    rank_table: RankTable | None = None

    @property
    def checkpoint_dir(self) -> Path:
        return self.output_dir / "checkpoints"

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    @property
    def log_file(self) -> Path:
        """Per-rank log, named as ModelArts names its per-card logs."""
        return self.log_dir / f"{self.job_id}-proc-rank-{self.rank}-device-{self.device_id}.txt"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> JobEnvironment:
        env = os.environ if environ is None else environ
        job_id = env.get(ENV_JOB_ID) or env.get("JOB_ID") or env.get("MA_JOB_ID") or "local"
        work = Path(env.get(ENV_WORK_DIR) or MODELARTS_CACHE / job_id)
        rank_table = None
        if env.get("RANK_TABLE_FILE"):
            rank_table = load_rank_table(Path(env["RANK_TABLE_FILE"]))
        hosts = [h for h in env.get("VC_WORKER_HOSTS", "").split(",") if h]
        values = {
            "job_id": job_id,
            "work_dir": work,
            "data_dir": work / "data",
            "output_dir": work / "output",
            "log_dir": work / "output" / "logs",
            "rank": env.get("RANK_ID", "0"),
            "world_size": env.get("RANK_SIZE") or (rank_table.rank_size if rank_table else "1"),
            "local_rank": env.get(ENV_LOCAL_RANK, "0"),
            "local_size": env.get(ENV_LOCAL_SIZE) or env.get("MA_NUM_GPUS") or "1",
            "device_id": env.get("DEVICE_ID") or env.get("ASCEND_DEVICE_ID") or "0",
            "node_index": env.get("VC_TASK_INDEX", "0"),
            "node_count": env.get("VC_WORKER_NUM") or str(max(1, len(hosts))),
            "worker_hosts": hosts,
            "host_ip": env.get("MA_CURRENT_HOST_IP", ""),
            "rank_table": rank_table,
        }
        try:
            job_env = cls.model_validate(values)
        except ValidationError as error:
            raise UserError(f"job environment: {format_validation_error(error)}") from None
        job_env.check()
        return job_env

    def check(self) -> None:
        """Topology that cannot work is an error before anything runs."""
        if not 0 <= self.rank < self.world_size:
            raise UserError(f"job environment: RANK_ID {self.rank} is outside RANK_SIZE {self.world_size}")
        if self.rank_table is not None:
            if self.rank_table.rank_size != self.world_size:
                raise UserError(
                    f"job environment: RANK_SIZE {self.world_size} but the rank table lists {self.rank_table.rank_size} ranks"
                )
            _, device = self.rank_table.device_of(self.rank)
            if device.device_id != self.device_id:
                raise UserError(
                    f"job environment: rank {self.rank} runs on device {self.device_id} "
                    f"but the rank table puts it on device {device.device_id}"
                )
