"""The Docker backend's rendered requests: the contract, mounts, devices, host options and the `docker run` line.

No daemon needed: `render` is pure, and the host checks in `send` come before any connection.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import pytest

from entry.ranks import RanksSpec
from launcher.backends import get_backend
from launcher.backends.docker.backend import DockerBackend, DockerRequest
from launcher.backends.docker.devices import ASCEND_CONTROL_DEVICES, ASCEND_DRIVER_MOUNTS
from launcher.backends.docker.images import PROJECT_ROOT, dependencies_plan
from launcher.errors import UserError
from launcher.jobs import JobStore
from launcher.jobspec import plan_job
from launcher.paths import jobs_root, launcher_home, objects_root
from tests.launcher.helpers import FIXTURES, run_cli

PROBE = Path(__file__).resolve().parent / "fixtures" / "probe.yaml"
TOY = FIXTURES / "toy_counter.yaml"


def render(recipe: Path = TOY, options: dict[str, Any] | None = None, **resources: Any) -> DockerRequest:
    spec = plan_job(recipe, {}, resources={"backend": "docker", "image": "img:1", **resources})
    request = get_backend("docker", JobStore(), options or {}).render(spec)
    assert isinstance(request, DockerRequest)
    return request


def mounts_by_target(request: DockerRequest) -> dict[str, tuple[str, bool]]:
    return {m.target: (m.source, m.read_only) for m in request.mounts}


def test_cpu_request_carries_the_contract_and_the_mounts() -> None:
    request = render()
    job_id = request.job_id
    assert request.image == "img:1" and request.name == f"launcher-{job_id}"
    assert request.command[1:3] == ["/opt/launcher/entry/modelarts_entry_acc.py", "--data_url=obs://toy-bucket/data/"]
    assert request.command[-2] == "--recipe=toy_counter.yaml" and request.working_dir == "/code"
    env = request.environment
    assert env["LAUNCHER_JOB_ID"] == job_id and env["LAUNCHER_HOME"] == "/launcher"
    assert env["LAUNCHER_WORK_DIR"] == "/job/work" and env["PYTHONPATH"] == "/code:/opt/launcher"
    assert (env["RANK_ID"], env["RANK_SIZE"], env["DEVICE_ID"], env["CUDA_VISIBLE_DEVICES"]) == ("0", "1", "0", "")
    assert mounts_by_target(request) == {
        "/opt/launcher": (str(PROJECT_ROOT), True),
        "/code": (str(FIXTURES), True),
        "/launcher/objects": (str(objects_root()), False),
        "/job": (str(jobs_root() / job_id), False),
        "/launcher/cache/data": (str(launcher_home() / "cache" / "data"), False),  # the node's data cache, shared
    }
    assert request.user == f"{os.getuid()}:{os.getgid()}"  # files in mounted folders are the caller's
    assert request.network_mode == "host" and request.init
    assert request.devices == [] and request.gpus is None and request.runtime is None


def test_host_options_are_never_forced_only_passed_when_asked() -> None:
    plain = render().create_kwargs()
    for key in ("privileged", "ulimits", "cap_add", "shm_size", "mem_limit", "group_add", "device_requests"):
        assert not plain.get(key), key
    asked = render(
        options={"privileged": True, "ulimits": "memlock=-1,nofile=1024:2048", "cap_add": ["SYS_PTRACE"],
                 "shm_size": "2g", "memory": "512m", "group_add": "1000"},
    )  # fmt: skip
    kwargs = asked.create_kwargs()
    assert kwargs["privileged"] is True and kwargs["cap_add"] == ["SYS_PTRACE"] and kwargs["shm_size"] == "2g"
    assert [(u["Name"], u["Soft"], u["Hard"]) for u in kwargs["ulimits"]] == [
        ("memlock", -1, -1),
        ("nofile", 1024, 2048),
    ]
    assert kwargs["mem_limit"] == kwargs["memswap_limit"] == 512 * 2**20 and kwargs["group_add"] == ["1000"]
    line = asked.command_line()
    for flag in (
        "--privileged",
        "--ulimit memlock=-1:-1",
        "--cap-add SYS_PTRACE",
        "--shm-size 2g",
        "--memory 536870912b",
    ):
        assert flag in line


def test_command_line_is_the_same_container_with_secrets_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_ACCESS_KEY", "sk-very-secret-value")
    monkeypatch.setenv("ACCESS_KEY_ID", "AKID1234")
    request = render(options={"volumes": ["/srv/data:/data:ro"], "env": {"EXTRA": "1", "OTHER_ACCESS_KEY": "AKID99"}})
    # The container gets the credentials as a read-only file (it pushes to the store), never in its environment.
    assert "SECRET_ACCESS_KEY" not in request.environment and "ACCESS_KEY_ID" not in request.environment
    assert request.credential_names == ["ACCESS_KEY_ID", "SECRET_ACCESS_KEY"]
    line = request.command_line()
    assert "sk-very-secret-value" not in line and "AKID1234" not in line
    assert "AKID99" not in line and "OTHER_ACCESS_KEY=***" in line  # a key id given with --env is masked too
    args = shlex.split(line)
    assert args[:4] == ["docker", "-H", request.docker_host, "run"]
    assert args[args.index("--user") + 1] == request.user
    assert [args[i + 1] for i, a in enumerate(args) if a == "--volume"] == [m.spec() for m in request.mounts]
    assert "/srv/data:/data:ro" in line and "EXTRA=1" in args
    assert args[args.index("img:1") + 1 :] == request.command


def test_cli_render_prints_the_spec_and_the_docker_run_line_without_secrets() -> None:
    result = run_cli(
        "render", str(TOY), "--backend", "docker", "--image", "img:1", "--device", "ascend:0",
        env={"SECRET_ACCESS_KEY": "sk-very-secret-value"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "sk-very-secret-value" not in result.stdout
    document, _, line = result.stdout.partition("# as a shell command:")
    assert json.loads(document)["devices"][0] == {
        "host": "/dev/davinci0",
        "container": "/dev/davinci0",
        "permissions": "rwm",
    }
    assert (
        "--device /dev/davinci0:/dev/davinci0:rwm" in line
        and "--volume /usr/local/Ascend/driver:/usr/local/Ascend/driver:ro" in line
    )


def test_ascend_card_gets_its_node_the_control_nodes_and_the_driver(tmp_path: Path) -> None:
    request = render(device="ascend:0", options={"host_root": str(tmp_path)})
    assert [(d.host, d.container) for d in request.devices] == [
        (f"{tmp_path}{node}", node) for node in ("/dev/davinci0", *ASCEND_CONTROL_DEVICES)
    ]
    assert [
        (m.source, m.target, m.read_only) for m in request.mounts if m.target.startswith(("/usr/local", "/etc"))
    ] == [(f"{tmp_path}{path}", path, True) for path in ASCEND_DRIVER_MOUNTS]
    env = request.environment
    assert (env["ASCEND_VISIBLE_DEVICES"], env["DEVICE_ID"], env["ASCEND_DEVICE_ID"]) == ("0", "0", "0")
    assert not request.privileged  # device nodes are enough


def test_two_ascend_cards_are_two_ranks_in_one_container_with_a_rank_table() -> None:
    request = render(device="ascend:0,1", count=2)
    assert [d.container for d in request.devices] == ["/dev/davinci0", "/dev/davinci1", *ASCEND_CONTROL_DEVICES]
    assert request.command[1:] == ["-m", "entry.ranks", "/job/ranks.json"]
    assert request.environment["RANK_TABLE_FILE"] == "/job/rank_table.json" and request.environment["RANK_SIZE"] == "2"
    table = json.loads(request.files["rank_table.json"])
    assert [d["device_id"] for d in table["server_list"][0]["device"]] == ["0", "1"]
    ranks = RanksSpec.model_validate_json(request.files["ranks.json"])
    assert ranks.argv[1] == "/opt/launcher/entry/modelarts_entry_acc.py"
    assert [(r.env["RANK_ID"], r.env["DEVICE_ID"], r.log_path) for r in ranks.ranks] == [
        ("0", "0", None),
        ("1", "1", "/job/job-rank-1.log"),
    ]
    assert [p.name for p in request.log_paths] == ["job.log", "job-rank-1.log"]


def test_ascend_docker_runtime_takes_visible_devices_instead_of_nodes() -> None:
    request = render(device="ascend:2,3", count=2, options={"ascend_runtime": True})
    assert request.runtime == "ascend" and request.devices == []
    assert request.environment["ASCEND_VISIBLE_DEVICES"] == "2,3"
    assert not any(m.target.startswith("/usr/local/Ascend") for m in request.mounts)
    assert "--runtime ascend" in request.command_line()


def test_gpus_are_nvidia_device_requests_renumbered_inside() -> None:
    every = render(device="gpu:all")
    request = every.create_kwargs()["device_requests"][0]
    assert (request["Driver"], request["Count"], request["Capabilities"]) == ("nvidia", -1, [["gpu"]])
    assert "--gpus all" in every.command_line() and "CUDA_VISIBLE_DEVICES" not in every.environment
    two = render(device="gpu:2,3", count=2)
    request = two.create_kwargs()["device_requests"][0]
    assert request["DeviceIDs"] == ["2", "3"] and not request["Count"]
    assert """--gpus '"device=2,3"'""" in two.command_line()
    ranks = RanksSpec.model_validate_json(two.files["ranks.json"]).ranks
    # The container sees GPUs 2 and 3 as 0 and 1.
    assert [(r.env["CUDA_VISIBLE_DEVICES"], r.env["DEVICE_ID"]) for r in ranks] == [("0", "0"), ("1", "1")]


def test_missing_device_files_stop_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "davinci0").symlink_to("/dev/null")
    store = JobStore()
    # The daemon URL goes nowhere: the device check must come first.
    backend = get_backend("docker", store, {"host_root": str(tmp_path), "docker_host": f"unix://{tmp_path}/none.sock"})
    spec = plan_job(TOY, {}, resources={"backend": "docker", "image": "img:1", "device": "ascend:0,1", "count": 2})
    with pytest.raises(UserError) as error:
        backend.submit(spec)
    message = str(error.value)
    assert f"missing on this host (devices and drivers looked up under {tmp_path})" in message
    assert f"{tmp_path}/dev/davinci1" in message and f"{tmp_path}/dev/davinci0," not in message
    assert f"{tmp_path}/usr/local/Ascend/driver" in message and "ls /dev/davinci*" in message
    assert store.list() == [] and not (jobs_root() / spec.id).exists()


def test_gpu_without_nvidia_device_files_is_a_clear_error(tmp_path: Path) -> None:
    backend = get_backend("docker", JobStore(), {"host_root": str(tmp_path)})
    spec = plan_job(TOY, {}, resources={"backend": "docker", "image": "img:1", "device": "gpu:0"})
    with pytest.raises(
        UserError, match=r"missing on this host .*dev/nvidiactl, .*dev/nvidia0; is the NVIDIA driver loaded"
    ):
        backend.submit(spec)


def test_code_baked_into_the_image_is_not_mounted() -> None:
    request = render(PROBE, options={"code": "image"})
    targets = mounts_by_target(request)
    assert "/code" not in targets and "/opt/launcher" not in targets and "/job" in targets
    assert request.command[-2] == "--recipe=probe.yaml"


def test_default_image_is_the_tag_launcher_build_gives() -> None:
    spec = plan_job(TOY, {}, resources={"backend": "docker"})
    request = get_backend("docker").render(spec)
    assert request.image == dependencies_plan("cpu").tag and request.image.startswith("launcher-cpu:")
    ascend = plan_job(TOY, {}, resources={"backend": "docker", "device": "ascend:0"})
    with pytest.raises(UserError, match="needs an image: .*--base_image.*; or pass --image"):
        get_backend("docker").render(ascend)


def test_recipe_outside_its_code_dir_is_mounted_read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "toyjobs").symlink_to(FIXTURES / "toyjobs")
    monkeypatch.chdir(code)  # no trainer package above the recipe: the code dir is the working directory
    recipe = tmp_path / "recipes" / "elsewhere.yaml"
    recipe.parent.mkdir()
    recipe.write_text(TOY.read_text())
    request = render(recipe)
    assert mounts_by_target(request)["/code"] == (str(code), True)
    assert request.command[-2] == "--recipe=/recipe/elsewhere.yaml"
    assert mounts_by_target(request)["/recipe/elsewhere.yaml"] == (str(recipe), True)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"memory": "lots"}, "memory: Value error, expected a size like 512m or 4g, got 'lots'"),
        ({"ulimits": "memlock"}, "ulimits: Value error, ulimit 'memlock': expected name=soft[:hard]"),
        ({"code": "copy"}, "code: Input should be 'mount' or 'image'"),
        ({"volumes": "relative:/x"}, None),
    ],
)
def test_bad_options_are_one_line_user_errors(options: dict[str, Any], message: str | None) -> None:
    if message is None:  # volumes are checked when rendered
        with pytest.raises(UserError, match="volume 'relative:/x': expected /host/path"):
            render(options=options)
        return
    with pytest.raises(UserError) as error:
        DockerBackend.parse_options(options)
    assert str(error.value).startswith("docker backend options: ") and message in str(error.value)


def test_more_than_one_node_is_refused() -> None:
    with pytest.raises(UserError, match="nodes must be 1"):
        render(nodes=2)


@pytest.mark.parametrize(
    ("exit_code", "words"),
    [(143, "killed by SIGTERM (143)"), (2, "exit code 2"), (255, "exit code 255"), (137, "killed by SIGKILL (137)")],
)
def test_container_exit_codes_in_words(exit_code: int, words: str) -> None:
    from launcher.backends.docker.backend import _describe_exit

    assert _describe_exit(exit_code).startswith(words)


def test_sizes() -> None:
    from launcher.backends.docker.spec import human_size, parse_size

    assert [parse_size(t) for t in ("512m", "4g", "1.5G", "64MiB", "1048576")] == [
        512 * 2**20, 4 * 2**30, int(1.5 * 2**30), 64 * 2**20, 2**20
    ]  # fmt: skip
    assert (human_size(300 * 2**20), human_size(3 * 2**30), human_size(512)) == ("300 MiB", "3 GiB", "512 B")


def test_list_shows_the_last_known_state_when_the_daemon_is_down(tmp_path: Path) -> None:
    from launcher.jobs import JobRecord, JobState

    store = JobStore()
    handle = {"container": "launcher-x", "docker_host": f"unix://{tmp_path}/gone.sock", "logs": [], "job_dir": str(tmp_path)}
    store.create(JobRecord(id="x-1", name="x", recipe="r", backend="docker", handle=handle))
    store.transition("x-1", JobState.RUNNING)
    backend = get_backend("docker", store)
    assert [(r.id, r.state) for r in backend.list()] == [("x-1", JobState.RUNNING)]
    with pytest.raises(UserError, match=rf"cannot reach the Docker daemon at unix://{tmp_path}/gone.sock: .*--docker_host"):
        backend.status("x-1")
    listing = run_cli("list")
    assert listing.returncode == 0 and "x-1" in listing.stdout and "RUNNING" in listing.stdout


def test_command_line_numbers_become_sizes_and_environment_text() -> None:
    options = DockerBackend.parse_options({"memory": 1073741824, "env": {"WORKERS": 4, "FAST": True, "NAME": "x"}})
    request = render(options=options.model_dump())
    assert request.memory_bytes == 2**30
    assert {k: request.environment[k] for k in ("WORKERS", "FAST", "NAME")} == {"WORKERS": "4", "FAST": "true", "NAME": "x"}
