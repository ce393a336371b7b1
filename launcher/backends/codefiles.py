"""Which files of a code folder leave this machine: .gitignore rules, secrets never, no link out of the folder.

A remote job gets a copy of its code folder. That copy must not carry what git would not (the project's own
.gitignore files, nested ones included, with git's semantics: the deepest rule wins and an ignored folder is
not entered), nor the usual homes of credentials whatever any rule says, nor anything reached through a
symbolic link that leaves the folder (a link to /etc or to ~/.aws is skipped with one warning line). Links
inside the folder are followed; a link back to a folder being walked (a loop) is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from launcher.logs import logger
from launcher.recipe import one_line

# Never uploaded, whatever .gitignore or the user's own rules say: where keys and tokens are usually kept.
NEVER_UPLOAD = (
    ".env",
    ".env.*",
    ".aws/",
    ".ssh/",
    ".kube/",
    ".docker/",
    ".netrc",
    ".git-credentials",
    "*.pem",
    "*.key",
    "id_*",
)
_NEVER = pathspec.GitIgnoreSpec.from_lines(NEVER_UPLOAD)


@dataclass
class Selection:
    files: list[str] = field(default_factory=list)  # relative POSIX paths, sorted
    secrets: list[str] = field(default_factory=list)  # left out by NEVER_UPLOAD
    links_out: list[str] = field(default_factory=list)  # links that leave the folder, or loop back into a walk


@dataclass(frozen=True)
class _Folder:
    path: Path
    rel: str  # '' for the root, else 'a/b/'
    rules: tuple[tuple[str, pathspec.GitIgnoreSpec], ...]  # (folder rel, its .gitignore), shallow to deep
    walking: frozenset[str]  # real paths of this folder and its ancestors (loop detection)
    ignored: bool  # inside an ignored folder: only must-keep files are taken


def is_never_uploaded(rel: str, is_dir: bool = False) -> bool:
    return _NEVER.match_file(rel + "/" if is_dir else rel)


def _gitignore(folder: Path) -> pathspec.GitIgnoreSpec | None:
    path = folder / ".gitignore"
    if path.is_symlink() or not path.is_file():
        return None
    try:
        return pathspec.GitIgnoreSpec.from_lines(path.read_text(encoding="utf-8", errors="replace").splitlines())
    except (OSError, ValueError) as error:
        logger.warning("code upload: cannot read {}: {}", path, one_line(str(error)))
        return None


def _ignored(
    rel: str, is_dir: bool, defaults: pathspec.GitIgnoreSpec, rules: Iterable[tuple[str, pathspec.GitIgnoreSpec]]
) -> bool:
    """git's answer: the last rule that matches decides, deeper .gitignore files after shallower ones."""
    name = rel + "/" if is_dir else rel
    verdict = defaults.check_file(name).include
    for base, spec in rules:
        result = spec.check_file(name[len(base) :]).include
        if result is not None:
            verdict = result
    return bool(verdict)


def select_code_files(root: Path, excludes: Iterable[str] = (), must_keep: Iterable[str] = ()) -> Selection:
    """The files under `root` to upload. `excludes` are gitignore-style rules applied before the folder's own
    .gitignore files; `must_keep` files (the recipe, the trainer module) are taken even when ignored."""
    root = root.resolve()
    real_root = str(root)
    defaults = pathspec.GitIgnoreSpec.from_lines(list(excludes))
    keep = set(must_keep)
    selection = Selection()
    stack = [_Folder(root, "", (), frozenset({real_root}), False)]
    while stack:
        folder = stack.pop()
        own = _gitignore(folder.path)
        rules = folder.rules + ((folder.rel, own),) if own is not None else folder.rules
        try:
            entries = sorted(os.scandir(folder.path), key=lambda e: e.name)
        except OSError as error:
            logger.warning("code upload: cannot list {}: {}", folder.path, error.strerror)
            continue
        for entry in entries:
            rel = folder.rel + entry.name
            real = os.path.realpath(entry.path)
            if entry.is_symlink() and os.path.commonpath([real, real_root]) != real_root:
                selection.links_out.append(rel)
                continue
            is_dir = os.path.isdir(real)
            if not is_dir and not os.path.isfile(real):
                continue  # sockets, fifos, devices, dangling links
            if is_never_uploaded(rel, is_dir):
                selection.secrets.append(rel + ("/" if is_dir else ""))
                continue
            ignored = folder.ignored or _ignored(rel, is_dir, defaults, rules)
            if is_dir:
                if real in folder.walking:
                    selection.links_out.append(rel)
                    continue
                if ignored and not any(k.startswith(rel + "/") for k in keep):
                    continue  # as git: an ignored folder is not entered
                stack.append(_Folder(Path(entry.path), rel + "/", rules, folder.walking | {real}, ignored))
            elif not ignored or rel in keep:
                selection.files.append(rel)
    selection.files.sort()
    for rel in selection.links_out:
        logger.warning("code upload: skipping {}/{}: a symbolic link out of the code folder (or a loop)", root, rel)
    if selection.secrets:
        logger.info("code upload: never uploaded (may hold credentials): {}", ", ".join(selection.secrets))
    return selection
