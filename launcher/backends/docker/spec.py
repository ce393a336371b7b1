"""The Docker backend's typed options and its request: exactly the container `send` creates.

`DockerRequest.create_kwargs()` is what goes to the SDK and `command_line()` the same container as a
`docker run` line (secrets masked), so what `launcher render` prints is what runs.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from launcher.backends.docker.devices import BindMount, DeviceNode, GpuRequest
from launcher.backends.docker.images import PullPolicy
from launcher.redact import MASK, redact_mapping

# Key ids are not secrets to the store, but they name an account: masked like keys wherever a request is shown.
_KEY_ID_NAME = re.compile(r"(ACCESS_KEY|(^|_)AK$)", re.IGNORECASE)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmg]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def shown_environment(environment: dict[str, str]) -> dict[str, str]:
    """The container's environment fit to print: secrets and key ids masked."""
    return {k: MASK if v and _KEY_ID_NAME.search(k) else v for k, v in redact_mapping(environment).items()}


def parse_size(text: str) -> int:
    """Docker's sizes: 512m, 4g, 1.5g, 1048576 (bytes)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"expected a size like 512m or 4g, got {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def human_size(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} B"


class DockerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    docker_host: str | None = Field(
        None, description="daemon URL (unix:///path/docker.sock, tcp://...); default DOCKER_HOST or the local socket"
    )
    grace_seconds: float = Field(30.0, ge=0, description="after SIGTERM, how long the job may take to push and exit")
    python: str = Field("python", description="interpreter in the image that runs the entry script")
    user: str | None = Field(
        None, description="uid:gid the job runs as; default the caller's, so files in mounted folders are the caller's"
    )
    memory: str | None = Field(
        None, description="memory limit, e.g. 8g (no swap beyond it); exceeding it is reported as out of memory"
    )
    shm_size: str | None = Field(None, description="size of /dev/shm, e.g. 2g")
    ulimits: list[str] = Field(
        default_factory=list, description="e.g. memlock=-1 or nofile=65536:65536 (some hosts refuse them)"
    )
    cap_add: list[str] = Field(default_factory=list, description="extra capabilities, e.g. SYS_PTRACE")
    privileged: bool = Field(False, description="run privileged (many hosts refuse it; devices are passed without it)")
    group_add: list[str] = Field(default_factory=list, description="extra groups, e.g. the gid that owns /dev/davinci*")
    network: str = Field(
        "host", description="network mode: host (reaches what this machine reaches), bridge, none or a network name"
    )
    init: bool = Field(True, description="run an init (docker-init) as PID 1: forwards signals, reaps orphans")
    volumes: list[str] = Field(default_factory=list, description="extra mounts, /host[:/container][:ro]")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables")
    code: Literal["mount", "image"] = Field(
        "mount", description="mount the code dir, or use the copy in the image (`launcher build --with_code`)"
    )
    pull: PullPolicy = Field("missing", description="pull the image when it is missing, never, or always")
    host_root: Path = Field(Path("/"), description="where device files and driver folders are looked up on the host")
    ascend_mounts: list[str] | None = Field(
        None, description="Ascend driver paths mounted read-only (default: driver, dcmi, npu-smi, install info)"
    )
    ascend_runtime: bool = Field(False, description="let Ascend Docker Runtime add the cards (ASCEND_VISIBLE_DEVICES)")
    keep_container: bool = Field(False, description="keep the container after its end is recorded (for docker inspect)")

    @field_validator("ulimits", "cap_add", "group_add", "volumes", "ascend_mounts", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        # From the command line a single value arrives as a string: `--cap_add SYS_PTRACE,NET_ADMIN`.
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, tuple):
            return list(value)
        return value

    @field_validator("memory", "shm_size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> str | None:
        # fire reads `--memory 1073741824` as a number: a size in bytes all the same.
        if value is None:
            return None
        parse_size(str(value))
        return str(value)

    @field_validator("env", mode="before")
    @classmethod
    def _env_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
        return value

    @field_validator("ulimits")
    @classmethod
    def _ulimits(cls, value: list[str]) -> list[str]:
        for item in value:
            Ulimit.parse(item)
        return value


class Ulimit(BaseModel):
    name: str
    soft: int
    hard: int

    @classmethod
    def parse(cls, text: str) -> Ulimit:
        name, _, limits = text.partition("=")
        soft, _, hard = limits.partition(":")
        try:
            return cls(name=name.strip(), soft=int(soft), hard=int(hard or soft))
        except ValueError:
            raise ValueError(f"ulimit {text!r}: expected name=soft[:hard], e.g. memlock=-1") from None

    def flag(self) -> str:
        return f"{self.name}={self.soft}:{self.hard}"


class DockerRequest(BaseModel):
    """Exactly the container `send` creates, and what the launcher prepares on the host for it."""

    job_id: str
    docker_host: str
    image: str
    pull: PullPolicy
    name: str
    command: list[str]
    working_dir: str
    user: str
    environment: dict[str, str]
    mounts: list[BindMount]
    devices: list[DeviceNode] = Field(default_factory=list)
    gpus: GpuRequest | None = None
    runtime: str | None = None
    network_mode: str
    init: bool
    memory_bytes: int | None = None
    shm_size: str | None = None
    ulimits: list[Ulimit] = Field(default_factory=list)
    cap_add: list[str] = Field(default_factory=list)
    privileged: bool = False
    group_add: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    # On the host:
    job_dir: Path
    files: dict[str, str] = Field(default_factory=dict, description="written into job_dir first (rank table, ranks)")
    credentials_file: Path | None = Field(None, description="0600, mounted read-only; values written by send only")
    credential_names: list[str] = Field(default_factory=list, description="variables that file holds")
    log_paths: list[Path] = Field(description="rank 0: saved from the container at the end; others: written by it")
    required_host_paths: list[str] = Field(default_factory=list, description="device files, driver and volume sources")
    grace_seconds: float = 30.0
    keep_container: bool = False

    def command_line(self) -> str:
        """The equivalent `docker run` (secrets masked)."""
        args = [
            "docker",
            "-H",
            self.docker_host,
            "run",
            "--detach",
            "--name",
            self.name,
            "--user",
            self.user,
            "--network",
            self.network_mode,
        ]
        args += ["--workdir", self.working_dir] + (["--init"] if self.init else [])
        if self.memory_bytes is not None:
            args += ["--memory", f"{self.memory_bytes}b", "--memory-swap", f"{self.memory_bytes}b"]
        if self.shm_size:
            args += ["--shm-size", self.shm_size]
        args += [a for u in self.ulimits for a in ("--ulimit", u.flag())]
        args += [a for c in self.cap_add for a in ("--cap-add", c)] + (["--privileged"] if self.privileged else [])
        args += [a for g in self.group_add for a in ("--group-add", g)]
        args += (["--runtime", self.runtime] if self.runtime else []) + (
            ["--gpus", self.gpus.flag()] if self.gpus else []
        )
        args += [a for d in self.devices for a in ("--device", d.spec())]
        args += [a for m in self.mounts for a in ("--volume", m.spec())]
        args += [a for k, v in shown_environment(self.environment).items() for a in ("--env", f"{k}={v}")]
        args += [a for k, v in self.labels.items() for a in ("--label", f"{k}={v}")]
        return shlex.join([*args, self.image, *self.command])

    def create_kwargs(self) -> dict[str, Any]:
        """Arguments of `client.containers.create` for this request."""
        from docker.types import DeviceRequest as SdkDeviceRequest
        from docker.types import Mount
        from docker.types import Ulimit as SdkUlimit

        kwargs: dict[str, Any] = {
            "image": self.image,
            "command": self.command,
            "name": self.name,
            "working_dir": self.working_dir,
            "user": self.user,
            "environment": self.environment,
            "labels": self.labels,
            "mounts": [Mount(m.target, m.source, type="bind", read_only=m.read_only) for m in self.mounts],
            "devices": [d.spec() for d in self.devices],
            "network_mode": self.network_mode,
            "init": self.init,
            "privileged": self.privileged,
            "cap_add": self.cap_add or None,
            "group_add": self.group_add or None,
            "ulimits": [SdkUlimit(name=u.name, soft=u.soft, hard=u.hard) for u in self.ulimits] or None,
            "shm_size": self.shm_size,
            "runtime": self.runtime,
        }
        if self.memory_bytes is not None:
            kwargs["mem_limit"] = kwargs["memswap_limit"] = self.memory_bytes  # no swap: the limit is the limit
        if self.gpus is not None:
            kwargs["device_requests"] = [
                SdkDeviceRequest(
                    driver="nvidia",
                    count=self.gpus.count,
                    device_ids=self.gpus.device_ids or None,
                    capabilities=[["gpu"]],
                )
            ]
        return {k: v for k, v in kwargs.items() if v is not None}
