"""A data folder as a tree of files, with the members of the archives in it listed as if unpacked in place.

Data sets are published as archives (Market-1501-v15.09.15.zip, cifar-10-python.tar.gz) and users upload them
either unpacked or as downloaded. Readers look names up here and never care which: `x/Market.zip` holding
`Market-1501-v15.09.15/query/0001_c1s1_000151_01.jpg` shows as `x/Market-1501-v15.09.15/query/...`.
Archives are opened lazily and members read on demand, so a reader touching a few files does not unpack a set.
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path, PurePosixPath

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")


def _is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIXES)


class FileTree:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._where: dict[str, tuple[Path, str | None]] = {}  # name -> (file, member inside it or None)
        self._open: dict[Path, zipfile.ZipFile | tarfile.TarFile] = {}
        self._files: dict[str, list[str]] | None = None
        self._subfolders: dict[str, set[str]] = {}
        if not root.is_dir():
            return
        for path in sorted(root.rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(root).as_posix()
            if _is_archive(path):
                parent = PurePosixPath(rel).parent
                for member in self._members(path):
                    self._where.setdefault((parent / member).as_posix().removeprefix("./"), (path, member))
            else:
                self._where[rel] = (path, None)

    def _archive(self, path: Path) -> zipfile.ZipFile | tarfile.TarFile:
        if path not in self._open:
            # Kept open for later reads; close() closes them.
            self._open[path] = zipfile.ZipFile(path) if path.suffix == ".zip" else tarfile.open(path)  # noqa: SIM115
        return self._open[path]

    def _members(self, path: Path) -> list[str]:
        archive = self._archive(path)
        if isinstance(archive, zipfile.ZipFile):
            return [i.filename for i in archive.infolist() if not i.is_dir()]
        return [m.name for m in archive.getmembers() if m.isfile()]

    def _index(self) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
        """folder -> its files, folder -> its sub-folders; built once (MARS has a million images)."""
        if self._files is None:
            files: dict[str, list[str]] = {}
            subfolders: dict[str, set[str]] = {"": set()}
            for name in sorted(self._where):
                folder, _, _ = name.rpartition("/")
                files.setdefault(folder, []).append(name)
                subfolders.setdefault(folder, set())
                while folder:  # register the folder with each ancestor, up to one already known
                    parent, _, child = folder.rpartition("/")
                    siblings = subfolders.setdefault(parent, set())
                    if child in siblings:
                        break
                    siblings.add(child)
                    folder = parent
            self._files, self._subfolders = files, subfolders
        return self._files, self._subfolders

    @property
    def names(self) -> list[str]:
        return sorted(self._where)

    def __contains__(self, name: str) -> bool:
        return name in self._where

    def read(self, name: str) -> bytes:
        path, member = self._where[name]
        if member is None:
            return path.read_bytes()
        archive = self._archive(path)
        if isinstance(archive, zipfile.ZipFile):
            return archive.read(member)
        handle = archive.extractfile(member)
        assert handle is not None  # members are regular files
        return handle.read()

    def files_in(self, folder: str) -> list[str]:
        """Full names of the files directly inside `folder` ('' is the root), sorted."""
        return list(self._index()[0].get(folder, []))

    def folders_in(self, folder: str) -> list[str]:
        """Names of the sub-folders directly inside `folder`, sorted."""
        return sorted(self._index()[1].get(folder, set()))

    def find_folder_holding(self, *children: str) -> str | None:
        """The shallowest folder that has every one of `children` as a sub-folder ('' for the root), or None."""
        subfolders = self._index()[1]
        found = [f for f, subs in subfolders.items() if set(children) <= subs]
        return min(found, key=lambda f: (f.count("/") + bool(f), f)) if found else None

    def describe(self, limit: int = 8) -> str:
        """What is there, for error messages."""
        if not self.root.is_dir():
            return "the folder does not exist"
        top = sorted({n.split("/", 1)[0] + ("/" if "/" in n else "") for n in self._where})
        return ", ".join(top[:limit]) + (" ..." if len(top) > limit else "") if top else "nothing"

    def close(self) -> None:
        for archive in self._open.values():
            archive.close()
        self._open.clear()
