"""Nothing under launcher/backends/ runs inside a job: the client's backend package may be reorganised (or absent
from an image) without breaking a container or a pod. What the rendered Docker and Volcano commands run is the
entry's own code (entry/ranks.py, entry/pod_ranks.py, the entry scripts), and that code imports no backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from entry import pod_ranks, ranks
from entry.ranks import RanksSpec
from launcher.backends import get_backend
from launcher.backends.docker.images import PROJECT_ROOT
from launcher.jobs import JobStore


@pytest.fixture(autouse=True)
def storage_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCESS_KEY_ID", "ak")
    monkeypatch.setenv("SECRET_ACCESS_KEY", "sk")


def commands(make_job, backend: str, **resources: object) -> Iterator[list[str]]:
    """Every command line the rendered request runs inside the job (a Docker ranks file holds one more)."""
    job = make_job(backend, image="registry.example/img:1", **resources)
    options = {"storage_endpoint": "http://minio:9000"} if backend == "volcano" else {}
    request = get_backend(backend, JobStore(), options).render(job)
    if backend == "docker":
        yield request.command
        if "ranks.json" in request.files:
            yield RanksSpec.model_validate_json(request.files["ranks.json"]).argv
    else:
        for manifest in request.manifests:
            if manifest["kind"] == "Job":
                for task in manifest["spec"]["tasks"]:
                    for container in task["template"]["spec"]["containers"]:
                        yield container["command"]


def modules_and_scripts(command: list[str]) -> list[str]:
    found = [command[i + 1] for i, arg in enumerate(command[:-1]) if arg == "-m"]
    return found + [arg for arg in command if arg.endswith(".py")]


@pytest.mark.parametrize(
    ("backend", "resources", "runner"),
    [
        ("docker", {"device": "cpu"}, None),
        ("docker", {"device": "cpu", "count": 2}, ranks),
        ("volcano", {"device": "gpu", "count": 2, "nodes": 2}, pod_ranks),
        ("volcano", {"device": "ascend", "count": 8}, pod_ranks),
    ],
)
def test_rendered_commands_run_only_entry_code(make_job, backend, resources, runner) -> None:
    ran = [item for command in commands(make_job, backend, **resources) for item in modules_and_scripts(command)]
    assert ran, "the probe found no command"
    for item in ran:
        assert "launcher.backends" not in item and "launcher/backends" not in item, item
        assert item.startswith(("entry.", "entry/", "/opt/launcher/entry/")), item
    if runner is not None:  # the rank runner is the module we think it is, and it lives in entry/
        assert runner.__name__ in ran
        assert (PROJECT_ROOT / (runner.__name__.replace(".", "/") + ".py")).is_file()


def test_in_job_code_imports_no_backend() -> None:
    probe = (
        "import json, sys\n"
        "import entry.ranks, entry.pod_ranks, entry.boot, entry.trainer_process\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('launcher'))))"
    )
    # PYTHONPATH is passed on: the subprocess must import this tree, not the editable install's.
    done = subprocess.run(
        [sys.executable, "-c", probe], env=dict(os.environ), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert "launcher.storage" in loaded  # the probe ran: the entry does use the storage layer
    assert [m for m in loaded if m.startswith("launcher.backends")] == []
