"""Container images: the Dockerfiles in docker/, build contexts, content-hash tags, building and pulling.

Two layers. A dependencies image per device flavour (`launcher-cpu:<hash>`): docker/<flavour>.Dockerfile plus the
project's dependencies; its tag is a hash of exactly what goes into it, so it is rebuilt only when the Dockerfile,
the dependencies or the base image change. A code image (`launcher-<recipe>:<hash>`) adds the project packages and
the recipe's code dir on top, for daemons and platforms that cannot mount them; its tag hashes that code.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

import entry
from launcher.backends.codefiles import is_never_uploaded
from launcher.backends.docker.client import api_message
from launcher.errors import UserError

if TYPE_CHECKING:
    import docker

Flavor = Literal["cpu", "gpu", "ascend"]
PullPolicy = Literal["missing", "never", "always"]

PROJECT_ROOT = Path(entry.__file__).resolve().parent.parent  # holds entry/ and launcher/
DOCKER_DIR = PROJECT_ROOT / "docker"
PROJECT_PACKAGES = ("launcher", "entry")
CODE_DOCKERFILE = "code.Dockerfile"
CONTEXT_RULES = "context.dockerignore"  # what never goes into a code image
# In the container: the project packages, and the code dir the job runs in.
PROJECT_IN_CONTAINER = "/opt/launcher"
CODE_IN_CONTAINER = "/code"
TAG_PREFIX = "launcher-"  # our tags live only on the daemon that built them: never pulled
_HASH_LENGTH = 16


class BuildPlan(BaseModel):
    """One `docker build`: its context files (archive name -> bytes or a file on disk), args and tag."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    tag: str
    files: dict[str, bytes | Path]
    buildargs: dict[str, str] = {}
    base_image: str | None = None  # the FROM image, fetched (or refused) before the build starts

    def context_archive(self) -> IO[bytes]:
        """The build context as an uncompressed tar in a temporary file (not in memory: a code dir may be large),
        positioned at its start; closing it deletes it."""
        archive = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, who closes it
        try:
            with tarfile.open(fileobj=archive, mode="w") as tar:
                for name, content in sorted(self.files.items()):
                    if isinstance(content, Path):
                        info = tar.gettarinfo(str(content), arcname=name)
                        info.uid = info.gid = 0
                        info.uname = info.gname = ""
                        with open(content, "rb") as handle:
                            tar.addfile(info, handle)
                    else:
                        info = tarfile.TarInfo(name)
                        info.size, info.mode = len(content), 0o644
                        tar.addfile(info, io.BytesIO(content))
            archive.seek(0)
        except BaseException:
            archive.close()
            raise
        return archive


def flavor_of(device: str) -> Flavor:
    kind = device.strip().partition(":")[0]
    if kind not in ("cpu", "gpu", "ascend"):
        raise UserError(f"unknown device {device!r}; use cpu, gpu[:ids|all] or ascend[:ids]")
    return kind  # type: ignore[return-value]


def dependencies() -> list[str]:
    """The project's runtime requirements: from pyproject.toml in a checkout, else the installed metadata."""
    pyproject = PROJECT_ROOT / "pyproject.toml"
    if pyproject.is_file():
        return list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])
    return [r for r in metadata.requires("launcher") or [] if "extra ==" not in r]


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()


def requirements(flavor: Flavor) -> str:
    """requirements.txt for a flavour. GPU images train with JAX (no TensorFlow); Ascend images keep the
    TensorFlow of their CANN base image (TF-Ascend), so pip must not replace it."""
    wanted = [r for r in dependencies() if flavor == "cpu" or not _name(r).startswith("tensorflow")]
    if flavor == "gpu":
        wanted.append("jax[cuda12]>=0.4.30")
    return "\n".join(wanted) + "\n"


def _digest(parts: Iterator[tuple[str, bytes | Path]]) -> str:
    total = hashlib.sha256()
    for name, content in parts:
        if isinstance(content, Path):
            with open(content, "rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").digest()
        else:
            digest = hashlib.sha256(content).digest()
        total.update(name.encode() + b"\0" + digest)
    return total.hexdigest()[:_HASH_LENGTH]


def _hashed_tag(repository: str, files: dict[str, bytes | Path], buildargs: dict[str, str]) -> str:
    args = sorted((f"arg:{k}", v.encode()) for k, v in buildargs.items())
    return f"{repository}:{_digest(iter([*sorted(files.items()), *args]))}"


def read_dockerfile(path: Path) -> bytes:
    if not path.is_file():
        raise UserError(f"Dockerfile not found: {path} (the docker/ folder comes with a source checkout)")
    return path.read_bytes()


def dependencies_plan(flavor: Flavor, base_image: str | None = None, dockerfile: str | Path | None = None) -> BuildPlan:
    """docker/<flavor>.Dockerfile (or `dockerfile`) with the flavour's requirements.txt, tagged by their hash."""
    path = Path(dockerfile) if dockerfile else DOCKER_DIR / f"{flavor}.Dockerfile"
    text = read_dockerfile(path)
    if base_image is None and re.search(rb"^ARG BASE_IMAGE\s*$", text, re.MULTILINE):
        raise UserError(f"{path} has no default base image: give one with --base_image (e.g. a CANN/TF-Ascend image)")
    files: dict[str, bytes | Path] = {"Dockerfile": text, "requirements.txt": requirements(flavor).encode()}
    buildargs = {"BASE_IMAGE": base_image} if base_image else {}
    default = re.search(rb"^ARG BASE_IMAGE=(\S+)", text, re.MULTILINE)
    return BuildPlan(
        tag=_hashed_tag(f"{TAG_PREFIX}{flavor}", files, buildargs),
        files=files,
        buildargs=buildargs,
        base_image=base_image or (default.group(1).decode() if default else None),
    )


def _rules(*files: Path) -> list[str]:
    """The .dockerignore patterns of these files, in order (later ones can re-include with `!`)."""
    patterns: list[str] = []
    for file in files:
        if file.is_file():
            lines = (line.strip() for line in file.read_text().splitlines())
            patterns += [line for line in lines if line and not line.startswith("#")]
    return patterns


def context_files(root: Path, patterns: list[str]) -> list[str]:
    """The files under `root` that `docker build` would send, by the Docker SDK's own .dockerignore matcher
    (`!` re-includes, `**` spans folders, a pattern is anchored at the root); never a symlink (nothing is followed
    out of the tree) nor a credential file, whatever the patterns say."""
    from docker.utils.build import PatternMatcher

    found = []
    for relative in PatternMatcher(patterns).walk(str(root)):
        path = root / relative
        name = Path(relative).as_posix()
        if not path.is_symlink() and path.is_file() and not is_never_uploaded(name):
            found.append(name)
    return sorted(found)


def _tree(root: Path, prefix: str, patterns: list[str]) -> dict[str, bytes | Path]:
    return {f"{prefix}/{name}": root / name for name in context_files(root, patterns)}


def code_plan(base_tag: str, recipe_name: str, code_dir: Path) -> BuildPlan:
    """The project packages and the code dir over a dependencies image; the code dir's own .dockerignore counts."""
    patterns = _rules(DOCKER_DIR / CONTEXT_RULES, code_dir / ".dockerignore")
    files: dict[str, bytes | Path] = {"Dockerfile": read_dockerfile(DOCKER_DIR / CODE_DOCKERFILE)}
    for package in PROJECT_PACKAGES:
        files.update(_tree(PROJECT_ROOT / package, f"project/{package}", patterns))
    code = _tree(code_dir, "code", patterns)
    if not code:
        raise UserError(f"code dir {code_dir} has no files to put in an image (all ignored by {CONTEXT_RULES}?)")
    files.update(code)
    buildargs = {"BASE_IMAGE": base_tag}
    tag = _hashed_tag(f"{TAG_PREFIX}{recipe_name}", files, buildargs)
    return BuildPlan(tag=tag, files=files, buildargs=buildargs, base_image=base_tag)


def image_present(client: docker.DockerClient, tag: str) -> bool:
    import docker

    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def build(client: docker.DockerClient, plan: BuildPlan, echo: Callable[[str], None] = print) -> str:
    """Build and tag `plan`; the daemon's log lines go to `echo`. A failed step is a UserError with its message."""
    import docker

    if plan.base_image is not None:
        hint = "Give --base_image an image this host has, or docker load it"
        try:
            ensure_image(client, plan.base_image, hint=hint)
        except UserError as error:
            raise UserError(f"cannot build {plan.tag}: base {error}") from None
    try:
        with plan.context_archive() as archive:
            _stream_build(client, plan, archive, echo)
    except docker.errors.APIError as error:
        raise UserError(f"building {plan.tag} failed: {api_message(error)}") from None
    return plan.tag


def _stream_build(
    client: docker.DockerClient, plan: BuildPlan, archive: IO[bytes], echo: Callable[[str], None]
) -> None:
    """Send the context as it is read from disk; the daemon's log lines go to `echo`."""
    stream = client.api.build(
        fileobj=archive,
        custom_context=True,
        tag=plan.tag,
        buildargs=plan.buildargs,
        rm=True,
        forcerm=True,  # no half-built containers left behind on failure
        decode=True,
    )
    for chunk in stream:
        if "error" in chunk:
            raise UserError(f"building {plan.tag} failed: {chunk['error'].strip()}")
        text = chunk.get("stream", "").rstrip("\n")
        if text.strip():
            echo(text)


BUILD_HINT = "Build it with `launcher build RECIPE`, or docker load it"


def ensure_image(client: docker.DockerClient, image: str, pull: PullPolicy = "missing", hint: str = BUILD_HINT) -> None:
    """The image is on the daemon when this returns; otherwise a UserError says how to get it there."""
    import docker

    present = image_present(client, image)
    if present and pull != "always":
        return
    if image.startswith(TAG_PREFIX):
        if present:
            return
        raise UserError(
            f"image {image} is not on this Docker host: build it with `launcher build RECIPE` (or pass --image)"
        )
    if pull == "never":
        raise UserError(f"image {image} is not on this Docker host and pull is 'never'. {hint}")
    try:
        client.images.pull(image)
    except docker.errors.APIError as error:
        if present:
            return  # 'always' keeps the copy it has when the registry cannot be reached
        raise UserError(
            f"image {image} is not on this Docker host and cannot be pulled: {api_message(error)}. {hint}"
        ) from None
