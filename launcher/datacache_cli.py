"""`launcher data cache ls|prune`: the node's data cache (entry/datacache.py) seen and trimmed from the CLI."""

from __future__ import annotations

import time

from launcher.errors import UserError

# The cache's code (entry.datacache: filelock, the storage models) is imported by these two commands only,
# not by every `launcher data ...` that merely builds the command line (tests/storage/test_cli_imports.py).


class CacheCommands:
    """The data cache jobs on this machine share (one folder per data URL; LAUNCHER_DATA_CACHE to move it)."""

    def ls(self) -> None:
        """Entries, least recently used first: size, files, last use, whether a job uses it now, URL."""
        from entry import datacache
        from launcher.storage.models import human_bytes

        root = datacache.cache_root()
        found = datacache.entries(root)
        if not found:
            print(f"data cache {root}: empty")
            return
        print(f"{'SIZE':>10} {'FILES':>8}  {'LAST USED':<19}  {'IN USE':<6}  DATA URL")
        for e in found:
            used = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.last_used))
            print(f"{human_bytes(e.bytes):>10} {e.files:>8}  {used:<19}  {'yes' if e.in_use else 'no':<6}  {e.data_url}")
        total = sum(e.bytes for e in found)
        print(f"{human_bytes(total)} in {len(found)} entries under {root} (cap {human_bytes(datacache.size_cap(root))})")

    def prune(self, url: str | None = None, max_size: str | None = None, all: bool = False) -> None:  # noqa: A002
        """Remove entries no job uses: that of --url, all of them (--all), or the least recently used until the
        cache fits --max-size (default: the cap, LAUNCHER_DATA_CACHE_MAX).

        Args:
            url: remove the entry of this data URL only
            max_size (SIZE): remove the least recently used entries until the cache holds at most this much (500m, 50g)
            all: remove every entry no running job uses
        """
        from entry import datacache
        from launcher.storage.models import human_bytes

        root = datacache.cache_root()
        found = datacache.entries(root)
        if url is not None:
            chosen = [e for e in found if e.data_url.rstrip("/") == url.rstrip("/")]
            if not chosen:
                raise UserError(f"no cache entry for {url} (see `launcher data cache ls`)")
            removed = [e for e in chosen if datacache.remove(root, e.key)]
        elif all:
            removed = [e for e in found if datacache.remove(root, e.key)]
        else:
            cap = datacache.parse_size(str(max_size), "--max-size") if max_size is not None else datacache.size_cap(root)
            removed = datacache.evict(root, cap)
        for e in removed:
            print(f"removed {e.data_url} ({human_bytes(e.bytes)})")
        kept = [e for e in datacache.entries(root) if e.in_use]
        if kept and (url is not None or all):
            print(f"kept {len(kept)} entries in use by running jobs")
        print(f"removed {len(removed)} entries ({human_bytes(sum(e.bytes for e in removed))})")
