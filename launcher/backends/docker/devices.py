"""Devices for containers: which device nodes, driver mounts and NVIDIA requests a `--device` needs.

Ascend cards are passed as device nodes plus the host's driver (shared/MODELARTS.md "Ascend devices in Docker"),
or, with Ascend Docker Runtime, as ASCEND_VISIBLE_DEVICES for the runtime to resolve. NVIDIA GPUs are device
requests that the NVIDIA container toolkit turns into nodes and driver libraries. Everything the host must have
is checked before a container is made, so a missing card is one clear error, not a container that half starts.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from pydantic import BaseModel, Field

from launcher.backends.devices import DeviceRequest
from launcher.errors import UserError

ASCEND_CONTROL_DEVICES = ("/dev/davinci_manager", "/dev/devmm_svm", "/dev/hisi_hdc")
ASCEND_DRIVER_MOUNTS = (
    "/usr/local/Ascend/driver",
    "/usr/local/dcmi",
    "/usr/local/bin/npu-smi",
    "/etc/ascend_install.info",
)
NVIDIA_CONTROL_DEVICE = "/dev/nvidiactl"


class DeviceNode(BaseModel):
    """`--device host:container:permissions`."""

    host: str
    container: str
    permissions: str = "rwm"

    def spec(self) -> str:
        return f"{self.host}:{self.container}:{self.permissions}"


class BindMount(BaseModel):
    """`-v source:target[:ro]`."""

    source: str
    target: str
    read_only: bool = False

    @classmethod
    def parse(cls, text: str) -> BindMount:
        """Docker's short syntax: `host[:container][:ro|rw]`."""
        parts = text.split(":")
        mode = parts.pop() if len(parts) > 1 and parts[-1] in ("ro", "rw") else "rw"
        if not 1 <= len(parts) <= 2 or not all(p.startswith("/") for p in parts):
            raise UserError(f"volume {text!r}: expected /host/path[:/container/path][:ro|rw]")
        return cls(source=parts[0], target=parts[-1], read_only=mode == "ro")

    def spec(self) -> str:
        return f"{self.source}:{self.target}" + (":ro" if self.read_only else "")


class GpuRequest(BaseModel):
    """An NVIDIA device request (`--gpus`): every GPU (count -1) or the listed ones."""

    count: int = -1
    device_ids: list[str] = Field(default_factory=list)

    def flag(self) -> str:
        return "all" if not self.device_ids else f'"device={",".join(self.device_ids)}"'


class ContainerDevices(BaseModel):
    devices: list[DeviceNode] = Field(default_factory=list)
    mounts: list[BindMount] = Field(default_factory=list)
    gpus: GpuRequest | None = None
    runtime: str | None = None  # "ascend" for Ascend Docker Runtime
    env: dict[str, str] = Field(default_factory=dict)  # for every rank
    required: list[str] = Field(default_factory=list, description="host paths that must exist before a start")


def on_host(host_root: Path, path: str) -> str:
    """A host path under `host_root` (a fake root in tests, '/' otherwise)."""
    return str(host_root / PurePosixPath(path).relative_to("/"))


def container_devices(
    device: DeviceRequest,
    cards: list[int],
    host_root: Path = Path("/"),
    ascend_mounts: list[str] | None = None,
    ascend_runtime: bool = False,
) -> ContainerDevices:
    """What the container needs for `device` with these card ids (one a rank)."""
    if device.kind == "cpu":
        return ContainerDevices()
    if device.kind == "gpu":
        ids = [str(c) for c in cards] if device.ids is not None else []
        required = [on_host(host_root, p) for p in (NVIDIA_CONTROL_DEVICE, *(f"/dev/nvidia{c}" for c in ids))]
        # The daemon takes either a count (-1: all) or a list of ids, never both.
        return ContainerDevices(gpus=GpuRequest(count=0 if ids else -1, device_ids=ids), required=required)
    cards_nodes = [f"/dev/davinci{c}" for c in cards]
    if ascend_runtime:
        env = {"ASCEND_VISIBLE_DEVICES": ",".join(str(c) for c in cards)}
        return ContainerDevices(runtime="ascend", env=env, required=[on_host(host_root, n) for n in cards_nodes])
    nodes = [*cards_nodes, *ASCEND_CONTROL_DEVICES]
    driver = list(ASCEND_DRIVER_MOUNTS if ascend_mounts is None else ascend_mounts)
    return ContainerDevices(
        # Nodes keep their host names, so DEVICE_ID and the rank table's device ids stay the physical ones.
        devices=[DeviceNode(host=on_host(host_root, n), container=n) for n in nodes],
        mounts=[BindMount(source=on_host(host_root, m), target=m, read_only=True) for m in driver],
        required=[on_host(host_root, p) for p in (*nodes, *driver)],
    )


def check_host(paths: list[str], kind: str, host_root: Path = Path("/")) -> None:
    """A clear error naming every missing device file, driver folder or volume source, before anything starts."""
    missing = [p for p in paths if not Path(p).exists()]
    if not missing:
        return
    where = "" if host_root == Path("/") else f" (devices and drivers looked up under {host_root})"
    hint = {
        "ascend": "is the Ascend driver installed and are these cards present (ls /dev/davinci*)? "
        "Driver paths can be changed with --ascend_mounts",
        "gpu": "is the NVIDIA driver loaded and are these GPUs present (nvidia-smi)?",
    }.get(kind, "check the --volumes sources")
    raise UserError(f"missing on this host{where}: {', '.join(missing)}; {hint}")


def rank_env(device: DeviceRequest, cards: list[int], index: int) -> dict[str, str]:
    """What rank `index` sees in the container. NVIDIA's runtime renumbers the GPUs it passes from 0, so GPU ranks
    use their position; Ascend nodes keep their host names, so Ascend ranks use the card id (as local processes)."""
    count = len(cards)
    if device.kind == "gpu":
        visible = {} if count == 1 else {"CUDA_VISIBLE_DEVICES": str(index)}
        return {**visible, "DEVICE_ID": str(index)}
    return device.env_for(cards[index], count)
