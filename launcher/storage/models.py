"""What the storage layer takes and gives: transfer settings and sync options in, reports out.

Plain dataclasses, not pydantic models: they are made by code (the CLI's parsed flags, the job runner, tests)
with typed values, never from raw text, and a `launcher data sync` would otherwise load pydantic for them
(~0.2 s of the command on 2 vCPU, bench/cli_startup.py and bench/sync). TransferConfig checks its ranges when
made, as its pydantic model did (tests/storage/test_models.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

MiB = 1 << 20


@dataclass(frozen=True, kw_only=True)
class TransferConfig:
    """How hard to push. Defaults measured in bench/sync on a 2-core machine against SeaweedFS."""

    concurrency: int = 64  # files in flight at once, 1..1024
    multipart_threshold: int = 16 * MiB  # files at least this big go in parts (>= 5 MiB)
    part_size: int = 16 * MiB  # 5 MiB .. 5 GiB
    parts_in_flight: int = 8  # parts in flight, all large files together, 1..256
    # Unfinished multipart uploads this old under a destination are aborted (see orphans.py).
    abandoned_upload_age_s: float = 24 * 3600.0

    def __post_init__(self) -> None:
        limits = {
            "concurrency": (1, 1024),
            "multipart_threshold": (5 * MiB, None),
            "part_size": (5 * MiB, 5 * 1024 * MiB),
            "parts_in_flight": (1, 256),
            "abandoned_upload_age_s": (0, None),
        }
        problems = []
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(f"{name}: {value!r} is not a number")
            elif value < low or (high is not None and value > high):
                problems.append(f"{name}: {value} is outside {low}..{high if high is not None else ''}")
        if problems:
            raise ValueError("transfer settings: " + "; ".join(problems))


@dataclass(frozen=True, kw_only=True)
class SyncOptions:
    delete: bool = False
    checksum: bool = False
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    files: list[str] | None = None  # only these paths relative to the source folder
    dry_run: bool = False
    progress: bool | None = None  # None: bars on a TTY, log lines otherwise
    # Symbolic links in a local source folder: by default followed only when they point inside the folder
    # (loops detected), others skipped with one warning line each; True follows every link (never into
    # /proc, /sys, /dev). Deletes never follow a link, whatever this says.
    follow_symlinks: bool = False
    transfer: TransferConfig = field(default_factory=TransferConfig)


@dataclass(frozen=True)
class Failure:
    path: str
    error: str
    transient: bool = False  # infrastructure (network after retries, disk I/O): a re-run can succeed


@dataclass(kw_only=True)
class SyncReport:
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
    failures: list[Failure] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)  # dry run: one line per change

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
