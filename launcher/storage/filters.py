"""Include/exclude globs on paths relative to the synced folder.

A path is selected when it matches any include (or there are none) and no exclude. Patterns are shell globs
matched against the whole relative path, where `*` also crosses '/', so `*.txt` selects `a/b/c.txt`;
a pattern without '/' also matches the base name (`ckpt-*` selects `run1/ckpt-7`).
Files not selected are neither copied nor deleted.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence


class PathFilter:
    def __init__(self, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> None:
        self.include = _compile(include)
        self.exclude = _compile(exclude)
        self.active = bool(include or exclude)

    def __call__(self, rel: str) -> bool:
        if not self.active:
            return True
        base = rel.rsplit("/", 1)[-1]
        if self.include is not None and not (self.include.match(rel) or self.include.match(base)):
            return False
        return not (self.exclude is not None and (self.exclude.match(rel) or self.exclude.match(base)))


def _compile(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
