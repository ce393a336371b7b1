"""An offline test image: a root file system holding only the system libraries this machine's Python needs.

No registry is reachable in CI, so the image is made from this machine: the shared libraries that the
interpreter, its stdlib extensions and every extension module of the active environment (TensorFlow included)
link against, found with `ldd`, plus `/bin/sh` for Dockerfile RUN steps. The interpreter and the environment
themselves are bind-mounted read-only at their own paths when a container runs (2+ GB that would take minutes to
import), so the container runs exactly the project's Python. The tar is built in a few seconds; its content
hash is the image tag, so a daemon that already holds it skips the import.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

IMAGE_REPOSITORY = "launcher-test-runtime"
# Debian's merged /usr: these top-level names are links, and files are stored under their real folder.
MERGED_USR_LINKS = ("bin", "sbin", "lib", "lib64")
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"


class RuntimeImage(BaseModel):
    """What a container needs to run the project's Python from this machine."""

    tag: str
    python: str  # the interpreter path, valid inside the container through the mounts
    mounts: list[str]  # "host:container:ro" volumes: the interpreter's prefix and the environment


def python_roots() -> list[Path]:
    """The interpreter's installation and the virtual environment (when one is active)."""
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    return sorted(roots)


def _elf_files(roots: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        for path in root.rglob("*"):
            name = path.name
            if path.is_file() and not path.is_symlink() and (".so" in name or path.parent.name == "bin"):
                found.append(path)
    return found


def _ldd(files: list[Path]) -> set[str]:
    """Every library path `ldd` resolves for the files (run in batches; non-ELF files are just ignored)."""
    libraries: set[str] = set()
    for start in range(0, len(files), 200):
        batch = [str(f) for f in files[start : start + 200]]
        result = subprocess.run(["ldd", *batch], capture_output=True, text=True, check=False)
        for line in result.stdout.splitlines():
            parts = line.split()
            if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
                libraries.add(parts[2])
            elif parts and parts[0].startswith("/") and "ld-linux" in parts[0]:
                libraries.add(parts[0])
    return libraries


def _stored_name(path: str) -> str:
    """Where a file goes in the image: its folder resolved (so /lib/x -> usr/lib/x), its own name kept."""
    folder = os.path.realpath(os.path.dirname(path))
    return os.path.join(folder, os.path.basename(path)).lstrip("/")


def system_files(roots: list[Path]) -> list[str]:
    """Host files the image must hold: linked libraries outside the mounted Python roots, and a shell."""
    shell = shutil.which("sh") or "/bin/sh"
    wanted = _ldd(_elf_files(roots)) | _ldd([Path(shell)]) | {shell}
    mounted = tuple(str(r) + os.sep for r in roots)
    return sorted(f for f in wanted if f and os.path.exists(f) and not f.startswith(mounted))


def build_tar(files: list[str]) -> bytes:
    """A root file system as an uncompressed tar: folders, merged-/usr links, /etc basics and `files`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add_dir(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)

        def add_text(name: str, text: str) -> None:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))

        made = {"etc", "tmp", "usr", "usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "dev", "proc", "sys", "root"}
        for folder in sorted(made):
            add_dir(folder, 0o1777 if folder == "tmp" else 0o755)
        for link in MERGED_USR_LINKS:
            if os.path.islink(f"/{link}"):
                info = tarfile.TarInfo(link)
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(f"/{link}").lstrip("/")
                tar.addfile(info)
        add_text("etc/passwd", PASSWD)
        add_text("etc/group", GROUP)
        stored: set[str] = set()
        for path in files:
            name = _stored_name(path)
            if name in stored:  # /lib/x and /usr/lib/x are one file under merged /usr
                continue
            stored.add(name)
            parent = os.path.dirname(name)
            parts = parent.split("/")
            for depth in range(1, len(parts) + 1):
                folder = "/".join(parts[:depth])
                if folder not in made and not os.path.islink("/" + folder):
                    made.add(folder)
                    add_dir(folder)
            info = tar.gettarinfo(os.path.realpath(path), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            with open(os.path.realpath(path), "rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()


def ensure_runtime_image(client: Any) -> RuntimeImage:  # a docker.DockerClient
    """Import the image unless the daemon already has this exact content."""
    roots = python_roots()
    data = build_tar(system_files(roots))
    tag = f"{IMAGE_REPOSITORY}:{hashlib.sha256(data).hexdigest()[:16]}"
    if not client.images.list(name=tag):
        repository, _, version = tag.partition(":")
        client.api.import_image_from_data(data, repository=repository, tag=version)
    return RuntimeImage(
        tag=tag,
        python=str(Path(sys.executable).absolute()),
        mounts=[f"{root}:{root}:ro" for root in roots],
    )
