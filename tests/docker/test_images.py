"""Images: requirements per flavour, content-hash tags, build context rules, and `launcher build` on a real daemon."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from launcher.backends.docker.build import build_command, build_images
from launcher.backends.docker.images import DOCKER_DIR, code_plan, context_files, dependencies_plan, requirements
from launcher.errors import UserError
from launcher.jobs import JobState
from tests.docker.conftest import Daemon
from tests.docker.rootfs import RuntimeImage
from tests.docker.test_backend import PROBE, stored, submit
from tests.launcher.helpers import wait_terminal

# Builds offline on the test image: a RUN step that checks the generated requirements made it in.
TINY_DOCKERFILE = """ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY requirements.txt /opt/launcher/requirements.txt
RUN test -s /opt/launcher/requirements.txt
"""


def test_requirements_follow_the_flavour() -> None:
    cpu, gpu, ascend = (requirements(f).splitlines() for f in ("cpu", "gpu", "ascend"))  # type: ignore[arg-type]
    assert any(r.startswith("tensorflow-cpu") for r in cpu) and any(r.startswith("keras") for r in cpu)
    assert not any(r.startswith("tensorflow") for r in gpu + ascend)  # JAX on GPUs; the base's TF-Ascend stays
    assert any(r.startswith("jax[cuda12]") for r in gpu) and not any(r.startswith("jax") for r in cpu + ascend)
    assert {r for r in cpu if not r.startswith("tensorflow")} == set(ascend)


def test_dockerfiles_take_the_base_image_as_a_build_argument() -> None:
    for flavor in ("cpu", "gpu", "ascend", "code"):
        text = (DOCKER_DIR / f"{flavor}.Dockerfile").read_text()
        assert "ARG BASE_IMAGE" in text and "FROM ${BASE_IMAGE}" in text
    assert "KERAS_BACKEND=jax" in (DOCKER_DIR / "gpu.Dockerfile").read_text()
    with pytest.raises(UserError, match="no default base image: give one with --base_image"):
        dependencies_plan("ascend")
    assert dependencies_plan("ascend", "cann/tf:8").buildargs == {"BASE_IMAGE": "cann/tf:8"}


def test_tag_is_a_hash_of_dockerfile_dependencies_and_base(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(TINY_DOCKERFILE)
    first = dependencies_plan("cpu", "base:1", dockerfile).tag
    assert first.startswith("launcher-cpu:") and dependencies_plan("cpu", "base:1", dockerfile).tag == first
    assert dependencies_plan("cpu", "base:2", dockerfile).tag != first
    assert dependencies_plan("gpu", "base:1", dockerfile).tag.startswith("launcher-gpu:")
    dockerfile.write_text(TINY_DOCKERFILE + "ENV CHANGED=1\n")
    assert dependencies_plan("cpu", "base:1", dockerfile).tag != first


def _context(root: Path, files: list[str], patterns: list[str]) -> set[str]:
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)
    return set(context_files(root, patterns))


def test_context_rules_are_dockers(tmp_path: Path) -> None:
    """The shipped rules, then a code dir's own, with Docker's semantics: anchored at the root, `**`, `!`."""
    rules = [line for line in (DOCKER_DIR / "context.dockerignore").read_text().splitlines() if line and line[0] != "#"]
    files = [
        "recipes/lenet/train.py",
        "recipes/lenet/__pycache__/train.cpython-311.pyc",
        ".git/config",
        "vendor/lib/.git/HEAD",
        ".venv/bin/python",
        "tests/test_x.py",
        "pkg/tests/test_y.py",  # `tests` is anchored: only the root folder is left out
        "data/big.bin",
        "data/keep.bin",
        "data.py",
        "logs/run.log",
        "deep/a/b/c.tmp",
        "c.tmp",
    ]
    own = ["data/*", "!data/keep.bin", "**/*.tmp"]
    assert _context(tmp_path, files, [*rules, *own]) == {
        "recipes/lenet/train.py",
        "pkg/tests/test_y.py",
        "data/keep.bin",
        "data.py",
    }


@pytest.mark.parametrize(
    ("patterns", "kept"),
    [
        (["*.txt"], {"sub/a.txt", "sub/deeper/b.txt", "Dockerfile"}),  # anchored: only the root's a.txt goes
        (["**/*.txt"], {"Dockerfile"}),
        (["sub", "!sub/deeper"], {"a.txt", "sub/deeper/b.txt", "Dockerfile"}),  # a later `!` re-opens a folder
        (["**/*.txt", "!sub/a.txt"], {"sub/a.txt", "Dockerfile"}),
        (["*", "!Dockerfile"], {"Dockerfile"}),
    ],
)
def test_context_rules_negation_double_star_and_anchoring(
    tmp_path: Path, patterns: list[str], kept: set[str]
) -> None:
    assert _context(tmp_path, ["a.txt", "sub/a.txt", "sub/deeper/b.txt", "Dockerfile"], patterns) == kept


def test_context_never_follows_a_symlink_out_of_the_tree(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("x")
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("x")
    (code / "link").symlink_to(outside)
    (code / "file-link").symlink_to(outside / "secret.txt")
    assert context_files(code, []) == ["train.py"]


def test_code_image_context_holds_the_project_and_the_code_dir_and_its_tag_follows_the_code(tmp_path: Path) -> None:
    code = tmp_path / "code"
    (code / "pkg" / "__pycache__").mkdir(parents=True)
    (code / "pkg" / "train.py").write_text("print('v1')\n")
    (code / "pkg" / "__pycache__" / "train.pyc").write_bytes(b"\0")
    (code / "secret.env").write_text("TOKEN=x\n")
    (code / ".dockerignore").write_text("# the code dir's own rules\n*.env\n")
    for rel in (".env", ".aws/credentials", "pkg/id_rsa", "certs/tls.key"):  # never in an image, whatever the rules
        (code / rel).parent.mkdir(parents=True, exist_ok=True)
        (code / rel).write_text("AKIA-secret\n")
    plan = code_plan("launcher-cpu:abc", "toy", code)
    assert {n for n in plan.files if n.startswith("code/")} == {"code/pkg/train.py", "code/.dockerignore"}
    assert "project/entry/modelarts_entry_acc.py" in plan.files and "project/launcher/backends/docker/backend.py" in plan.files
    assert {"project/entry/ranks.py", "project/entry/contract.py"} <= set(plan.files)  # `python -m entry.ranks`
    assert not any("__pycache__" in n for n in plan.files) and plan.buildargs == {"BASE_IMAGE": "launcher-cpu:abc"}
    with plan.context_archive() as archive, tarfile.open(fileobj=archive) as tar:
        assert tar.extractfile("code/pkg/train.py").read() == b"print('v1')\n"  # type: ignore[union-attr]
        assert tar.getmember("Dockerfile").size == len((DOCKER_DIR / "code.Dockerfile").read_bytes())
    assert code_plan("launcher-cpu:abc", "toy", code).tag == plan.tag
    (code / "pkg" / "train.py").write_text("print('v2')\n")
    assert code_plan("launcher-cpu:abc", "toy", code).tag != plan.tag


def test_build_tags_by_content_and_rebuilds_only_on_change(
    tmp_path: Path, dockerd: Daemon, runtime_image: RuntimeImage
) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(TINY_DOCKERFILE)
    lines: list[str] = []
    first = build_images(
        PROBE, base_image=runtime_image.tag, dockerfile=dockerfile, docker_host=dockerd.url, echo=lines.append
    )
    assert (
        len(first) == 1
        and first[0].built
        and first[0].tag == dependencies_plan("cpu", runtime_image.tag, dockerfile).tag
    )
    assert any("Successfully tagged " + first[0].tag in line for line in lines)
    built_id = dockerd.client.images.get(first[0].tag).id
    again = build_images(
        PROBE, base_image=runtime_image.tag, dockerfile=dockerfile, docker_host=dockerd.url, echo=lines.append
    )
    assert again[0].tag == first[0].tag and not again[0].built and lines[-1] == f"{first[0].tag} is up to date"
    assert dockerd.client.images.get(first[0].tag).id == built_id
    dockerfile.write_text(TINY_DOCKERFILE + "ENV CHANGED=1\n")
    changed = build_images(
        PROBE, base_image=runtime_image.tag, dockerfile=dockerfile, docker_host=dockerd.url, echo=lines.append
    )
    assert changed[0].built and changed[0].tag != first[0].tag


def test_build_failures_are_clear_errors(tmp_path: Path, dockerd: Daemon, runtime_image: RuntimeImage) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(TINY_DOCKERFILE + "RUN exit 3\n")
    with pytest.raises(UserError, match=r"building launcher-cpu:\w+ failed: .*returned a non-zero code: 3"):
        build_images(
            PROBE, base_image=runtime_image.tag, dockerfile=dockerfile, docker_host=dockerd.url, echo=lambda _: None
        )
    # The real CPU Dockerfile's default base comes from a registry this machine cannot reach.
    with pytest.raises(
        UserError,
        match=r"cannot build launcher-cpu:\w+: base image python:3.11-slim-bookworm is not on this Docker host and cannot be pulled: .*Give --base_image",
    ):
        build_images(PROBE, docker_host=dockerd.url, echo=lambda _: None)
    assert dockerd.client.containers.list(all=True) == []  # no half-built containers left


def test_code_image_runs_the_job_without_mounting_the_code(
    tmp_path: Path,
    dockerd: Daemon,
    runtime_image: RuntimeImage,
    docker_options: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(TINY_DOCKERFILE)
    build_command(
        str(PROBE), base_image=runtime_image.tag, with_code=True, dockerfile=str(dockerfile), docker_host=dockerd.url
    )
    printed = capsys.readouterr().out
    tag = printed.split("image: ", 1)[1].split()[0]
    assert tag.startswith("launcher-probe:") and f"--image {tag} --code image" in printed
    options = {**docker_options, "code": "image"}
    store, backend, spec, record = submit(
        PROBE,
        options,
        tag,
        {"paths": ["/code/probe.yaml", "/code/dockerjobs/trainers.py", "/opt/launcher/entry/boot.py"]},
    )
    final = wait_terminal(store, record.id, backend)
    assert final.state is JobState.SUCCEEDED, "".join(backend.logs(record.id))
    probe = json.loads((stored(spec.train_url) / "nested" / "probe-rank-0.json").read_text())
    assert all(probe["paths"].values()) and probe["cwd"] == "/code"
    assert not any(m.target in ("/code", "/opt/launcher") for m in backend.render(spec).mounts)
