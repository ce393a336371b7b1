"""Devices for local processes: which card each rank uses and what environment says so."""

from __future__ import annotations

from pydantic import BaseModel

from launcher.errors import UserError


class DeviceRequest(BaseModel):
    kind: str  # cpu, gpu, ascend
    ids: list[int] | None  # None: all (gpu) / 0..count-1 (ascend) / n.a. (cpu)

    @classmethod
    def parse(cls, text: str) -> DeviceRequest:
        kind, _, ids = text.strip().partition(":")
        if kind not in ("cpu", "gpu", "ascend"):
            raise UserError(f"unknown device {text!r}; use cpu, gpu[:ids|all] or ascend[:ids]")
        if kind == "cpu" or ids in ("", "all"):
            if kind == "cpu" and ids:
                raise UserError(f"device {text!r}: cpu takes no ids")
            return cls(kind=kind, ids=None)
        try:
            numbers = [int(i) for i in ids.split(",")]
        except ValueError:
            raise UserError(f"device {text!r}: ids must be numbers like 0,1") from None
        if len(set(numbers)) != len(numbers) or min(numbers) < 0:
            raise UserError(f"device {text!r}: ids must be distinct and non-negative")
        return cls(kind=kind, ids=numbers)

    def per_rank(self, count: int) -> list[int]:
        """The card id of each of `count` ranks."""
        if self.ids is None:
            return list(range(count))
        if len(self.ids) != count:
            raise UserError(
                f"{len(self.ids)} {self.kind} device(s) given for {count} process(es): give one per process"
            )
        return self.ids

    def env_for(self, card: int, count: int) -> dict[str, str]:
        """What one rank's process sees: `cpu` hides GPUs so a CPU recipe stays on the CPU; a single process
        given `gpu`/`gpu:all` sees every GPU, otherwise each process sees only its own card."""
        if self.kind == "cpu":
            return {"CUDA_VISIBLE_DEVICES": "", "DEVICE_ID": str(card)}
        if self.kind == "gpu":
            visible = {} if self.ids is None and count == 1 else {"CUDA_VISIBLE_DEVICES": str(card)}
            return {**visible, "DEVICE_ID": str(card)}
        return {"ASCEND_VISIBLE_DEVICES": str(card), "DEVICE_ID": str(card), "ASCEND_DEVICE_ID": str(card)}
