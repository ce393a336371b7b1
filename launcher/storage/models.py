"""The typed boundary of the storage layer: options in, reports out."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MiB = 1 << 20


class TransferConfig(BaseModel):
    """How hard to push. Defaults measured in bench/sync on a 2-core machine against SeaweedFS."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    concurrency: int = Field(default=64, ge=1, le=1024, description="files in flight at once")
    multipart_threshold: int = Field(default=16 * MiB, ge=5 * MiB, description="files at least this big go in parts")
    part_size: int = Field(default=16 * MiB, ge=5 * MiB, le=5 * 1024 * MiB)
    parts_in_flight: int = Field(default=8, ge=1, le=256, description="parts in flight, all large files together")
    abandoned_upload_age_s: float = Field(
        default=24 * 3600.0,
        ge=0,
        description="unfinished multipart uploads this old under a destination are aborted (see orphans.py)",
    )


class SyncOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    delete: bool = False
    checksum: bool = False
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    files: list[str] | None = Field(default=None, description="only these paths relative to the source folder")
    dry_run: bool = False
    progress: bool | None = None  # None: bars on a TTY, log lines otherwise
    # Symbolic links in a local source folder: by default followed only when they point inside the folder
    # (loops detected), others skipped with one warning line each; True follows every link (never into
    # /proc, /sys, /dev). Deletes never follow a link, whatever this says.
    follow_symlinks: bool = False
    transfer: TransferConfig = Field(default_factory=TransferConfig)


class Failure(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    error: str
    transient: bool = False  # infrastructure (network after retries, disk I/O): a re-run can succeed


class SyncReport(BaseModel):
    """What a copy or sync did (or, with dry_run, would do)."""

    source: str
    destination: str
    copied: int = 0
    skipped: int = 0
    deleted: int = 0
    failed: int = 0
    bytes: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    failures: list[Failure] = Field(default_factory=list)
    planned: list[str] = Field(default_factory=list, description="dry run: one line per change")

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def summary(self) -> str:
        rate = self.bytes / self.seconds if self.seconds > 0 else 0.0
        verb = "would copy" if self.dry_run else "copied"
        text = (
            f"{self.source} -> {self.destination}: {verb} {self.copied} ({human_bytes(self.bytes)}), "
            f"skipped {self.skipped}, {'would delete' if self.dry_run else 'deleted'} {self.deleted}, "
            f"failed {self.failed} in {self.seconds:.1f}s"
        )
        if not self.dry_run and self.seconds > 0 and self.copied:
            text += f" ({human_bytes(rate)}/s, {self.copied / self.seconds:.0f} files/s)"
        return text


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
