"""HCCL rank table (v1.0 JSON, as hccl_tools.py writes it from /etc/hccn.conf): parse, check, generate.

{"version": "1.0", "server_count": "1", "status": "completed",
 "server_list": [{"server_id": ip, "device": [{"device_id": "0", "device_ip": ip, "rank_id": "0"}, ...]}]}
Numbers are strings in the file; the model turns them into ints and checks that the table is usable:
status completed, server_count equal to the servers listed, rank ids exactly 0..N-1, no device twice on a server.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from launcher.errors import UserError, format_validation_error


class RankTableError(UserError):
    """RANK_TABLE_FILE is missing, unreadable or inconsistent."""


class Device(BaseModel):
    model_config = ConfigDict(extra="allow")

    device_id: int
    device_ip: str = ""
    rank_id: int


class Server(BaseModel):
    model_config = ConfigDict(extra="allow")

    server_id: str
    device: list[Device] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_devices(self) -> "Server":
        ids = [d.device_id for d in self.device]
        if len(ids) != len(set(ids)):
            raise ValueError(f"server {self.server_id} lists a device twice: {ids}")
        return self


class RankTable(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: str = "1.0"
    server_count: int
    server_list: list[Server] = Field(min_length=1)
    status: str = "completed"

    @model_validator(mode="after")
    def _consistent(self) -> "RankTable":
        if self.status != "completed":
            raise ValueError(f"status is {self.status!r}: the device plugin has not finished writing the table")
        if self.server_count != len(self.server_list):
            raise ValueError(f"server_count {self.server_count} but {len(self.server_list)} servers listed")
        ranks = sorted(d.rank_id for s in self.server_list for d in s.device)
        if ranks != list(range(len(ranks))):
            raise ValueError(f"rank ids must be 0..{len(ranks) - 1} once each, got {ranks}")
        return self

    @property
    def rank_size(self) -> int:
        return sum(len(s.device) for s in self.server_list)

    def device_of(self, rank: int) -> tuple[str, Device]:
        for server in self.server_list:
            for device in server.device:
                if device.rank_id == rank:
                    return server.server_id, device
        raise RankTableError(f"rank {rank} is not in the rank table")

    def to_json(self) -> str:
        """The file format: every number as a string, as HCCL expects."""
        servers = [
            {
                "server_id": s.server_id,
                "device": [
                    {"device_id": str(d.device_id), "device_ip": d.device_ip, "rank_id": str(d.rank_id)} for d in s.device
                ],
            }
            for s in self.server_list
        ]
        document = {"version": self.version, "server_count": str(self.server_count), "server_list": servers}
        return json.dumps({**document, "status": self.status}, indent=2)


def load_rank_table(path: Path) -> RankTable:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise RankTableError(f"RANK_TABLE_FILE {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise RankTableError(f"RANK_TABLE_FILE {path}: not JSON ({error})") from None
    try:
        return RankTable.model_validate(document)
    except ValidationError as error:
        raise RankTableError(f"RANK_TABLE_FILE {path}: {format_validation_error(error)}") from None


HCCN_CONF = Path("/etc/hccn.conf")


def device_ips(hccn_conf: Path = HCCN_CONF) -> dict[int, str]:
    """Card id -> device IP from hccn.conf's `address_<id>=<ip>` lines (what hccl_tools.py reads); {} without one."""
    try:
        lines = hccn_conf.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    ips = {}
    for line in lines:
        name, _, value = line.strip().partition("=")
        if name.startswith("address_") and name[8:].isdigit():
            ips[int(name[8:])] = value.strip()
    return ips


def single_server_table(device_ids: list[int], server_id: str = "127.0.0.1", hccn_conf: Path = HCCN_CONF) -> RankTable:
    """The table for N cards on one machine (the local and Docker backends write it for Ascend jobs)."""
    ips = device_ips(hccn_conf)
    devices = [Device(device_id=d, device_ip=ips.get(d, ""), rank_id=rank) for rank, d in enumerate(device_ids)]
    return RankTable(server_count=1, server_list=[Server(server_id=server_id, device=devices)])
