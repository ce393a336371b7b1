"""The rendered Volcano request: a batch.volcano.sh/v1alpha1 Job checked against the CRD schema, pod templates
built from (and read back by) the kubernetes client's models, the rank-table ConfigMap, and no secret values."""

from __future__ import annotations

import json

import pytest
import yaml

from launcher.backends import get_backend
from launcher.backends.volcano.backend import VolcanoRequest
from launcher.backends.common import to_wire
from launcher.backends.volcano.manifests import from_wire, k8s_name
from launcher.backends.volcano.schema import CRD_FILE, job_schema_errors
from launcher.errors import UserError
from launcher.jobs import JobStore
from tests.launcher.helpers import run_cli

IMAGE = "swr.cn-north-4.myhuaweicloud.com/team/launcher-ascend:1.0"
STORAGE_SECRET_VALUE = "Obs-Secret-Key-Not-For-Print-31"
ENDPOINT = "http://minio.storage.svc:9000"


@pytest.fixture(autouse=True)
def storage_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCESS_KEY_ID", "obs-ak")
    monkeypatch.setenv("SECRET_ACCESS_KEY", STORAGE_SECRET_VALUE)


def render(job, **options) -> VolcanoRequest:  # noqa: ANN001, ANN003
    request = get_backend("volcano", JobStore(), {"storage_endpoint": ENDPOINT, **options}).render(job)
    assert isinstance(request, VolcanoRequest)
    return request


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container["env"]}


def test_ascend_job_field_by_field(make_job) -> None:  # noqa: ANN001
    job = make_job("volcano", device="ascend", count=8, nodes=2, image=IMAGE, overrides={"steps": 9})
    request = render(job, namespace="train", queue="ascend-q", max_retry=4)
    name = k8s_name(job.id)
    config_map, volcano = request.manifests
    # The rank table ConfigMap the device plugin fills, named after the job and labelled for it.
    assert config_map["apiVersion"] == "v1" and config_map["kind"] == "ConfigMap"
    assert config_map["metadata"]["name"] == f"rings-config-{name}" and config_map["metadata"]["namespace"] == "train"
    assert config_map["metadata"]["labels"]["ring-controller.atlas"] == "ascend-910"
    assert json.loads(config_map["data"]["hccl.json"]) == {"status": "initializing"}
    assert to_wire(from_wire(config_map, "V1ConfigMap")) == config_map
    # The Job, against the CRD schema, field by field.
    assert job_schema_errors(volcano) == []
    assert volcano["apiVersion"] == "batch.volcano.sh/v1alpha1" and volcano["kind"] == "Job"
    assert volcano["metadata"]["name"] == name and volcano["metadata"]["namespace"] == "train"
    assert volcano["metadata"]["labels"]["ring-controller.atlas"] == "ascend-910"
    assert volcano["metadata"]["annotations"]["launcher.io/job-id"] == job.id
    spec = volcano["spec"]
    assert spec["schedulerName"] == "volcano" and spec["queue"] == "ascend-q"
    assert spec["minAvailable"] == 2 and spec["maxRetry"] == 4
    assert spec["plugins"] == {"env": [], "svc": []}
    assert spec["policies"] == [
        {"exitCode": 2, "action": "AbortJob"},
        {"exitCode": 75, "action": "RestartJob"},  # EXIT_INFRA: storage or disk failed; a restart resumes
        {"event": "PodEvicted", "action": "RestartJob"},
        {"event": "PodFailed", "action": "RestartJob"},
    ]
    (task,) = spec["tasks"]
    assert task["name"] == "worker" and task["replicas"] == 2
    template = task["template"]
    assert to_wire(from_wire(template, "V1PodTemplateSpec")) == template  # every key is a pod-template field
    assert template["metadata"]["labels"]["ring-controller.atlas"] == "ascend-910"
    pod = template["spec"]
    assert pod["restartPolicy"] == "Never" and pod["terminationGracePeriodSeconds"] == 120
    (trainer,) = pod["containers"]
    assert trainer["image"] == IMAGE and trainer["workingDir"] == "/home/launcher/code"
    assert trainer["resources"] == {"limits": {"huawei.com/Ascend910": "8"}, "requests": {"huawei.com/Ascend910": "8"}}
    assert trainer["command"][:6] == [
        "python",
        "-m",
        "entry.pod_ranks",
        "--",
        "python",
        "entry/modelarts_entry_acc.py",
    ]
    assert trainer["command"][6:] == [
        "--data_url=obs://toy-bucket/data/",
        f"--train_url=obs://toy-bucket/jobs/{job.id}/",
        "--recipe=toy_counter.yaml",
        '--hyperparameters={"flag":false,"note":"from-recipe","step_seconds":0.0,"steps":9}',
    ]
    env = env_of(trainer)
    assert env["RANK_TABLE_FILE"]["value"] == "/user/serverid/devindex/config/hccl.json"
    assert env["LAUNCHER_LOCAL_SIZE"]["value"] == "8" and env["LAUNCHER_NODES"]["value"] == "2"
    assert env["LAUNCHER_JOB_ID"]["value"] == job.id and env["LAUNCHER_DEVICE"]["value"] == "ascend"
    assert env["LAUNCHER_HOST_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.hostIP"}}
    assert env["S3_ENDPOINT"]["value"] == ENDPOINT
    for key in ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY"):
        assert env[key] == {
            "name": key,
            "valueFrom": {"secretKeyRef": {"name": f"{name}-storage", "key": key, "optional": False}},
        }
    mounts = {m["name"]: m["mountPath"] for m in trainer["volumeMounts"]}
    assert (
        mounts["ranktable"] == "/user/serverid/devindex/config"
        and mounts["ascend-driver"] == "/usr/local/Ascend/driver"
    )
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["ranktable"]["configMap"] == {"name": f"rings-config-{name}"}
    (fetch,) = pod["initContainers"]
    assert fetch["command"] == ["python", "-m", "launcher", "data", "sync", request.code.url, "/home/launcher/code"]
    assert env_of(fetch)["SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == f"{name}-storage"
    # The Secret is planned by name and keys; the value is read when sending, and shown nowhere.
    assert request.secret is not None and request.secret.keys == ["ACCESS_KEY_ID", "SECRET_ACCESS_KEY"]
    assert STORAGE_SECRET_VALUE not in request.model_dump_json() + request.command_line()


def test_gpu_and_cpu_jobs(make_job) -> None:  # noqa: ANN001
    gpu = render(
        make_job("volcano", device="gpu", count=2, image=IMAGE), cpu="8", memory="32Gi", node_selector={"gpu": "a100"}
    )
    (volcano,) = gpu.manifests  # no ConfigMap without Ascend
    assert "ring-controller.atlas" not in volcano["metadata"]["labels"]
    pod = volcano["spec"]["tasks"][0]["template"]["spec"]
    trainer = pod["containers"][0]
    assert trainer["resources"]["limits"] == {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"}
    assert pod["nodeSelector"] == {"gpu": "a100"}
    assert "RANK_TABLE_FILE" not in env_of(trainer)
    cpu = render(make_job("volcano", image=IMAGE), restart_on_failure=False, code_in_image="/opt/code")
    (volcano,) = cpu.manifests
    pod = volcano["spec"]["tasks"][0]["template"]["spec"]
    assert "resources" not in pod["containers"][0] or pod["containers"][0]["resources"] == {}
    assert pod["containers"][0]["workingDir"] == "/opt/code" and "initContainers" not in pod
    assert cpu.code is None
    assert {"event": "PodFailed", "action": "RestartJob"} not in volcano["spec"]["policies"]
    assert volcano["spec"]["policies"][:2] == [  # infrastructure failures restart even then; bad input never
        {"exitCode": 2, "action": "AbortJob"},
        {"exitCode": 75, "action": "RestartJob"},
    ]
    assert job_schema_errors(volcano) == []


def test_command_line_is_the_yaml_and_the_uploads(make_job) -> None:  # noqa: ANN001
    request = render(make_job("volcano", device="ascend", count=1, image=IMAGE))
    text = request.command_line()
    assert text.startswith(f"launcher data sync {request.code.uploads[0].source} {request.code.url} --exclude ")
    name = request.manifests[-1]["metadata"]["name"]
    assert f"kubectl -n default create secret generic {name}-storage --from-literal=ACCESS_KEY_ID=***" in text
    documents = list(yaml.safe_load_all(text.split("<<'EOF'\n", 1)[1].rsplit("EOF", 1)[0]))
    assert documents == request.manifests


def test_the_schema_catches_what_the_api_server_would_prune(make_job) -> None:  # noqa: ANN001
    (volcano,) = render(make_job("volcano", image=IMAGE)).manifests
    broken = json.loads(json.dumps(volcano))
    broken["spec"]["maxRetries"] = 3  # a typo: the API server would drop it without a word
    broken["spec"]["tasks"][0]["name"] = "Worker_0"
    broken["spec"]["policies"].append({"event": "PodFailed", "exitCode": 1, "action": "RestartJob"})
    broken["spec"]["policies"].append({"event": "PodCrashed", "action": "RestartJob"})
    problems = "\n".join(job_schema_errors(broken))
    assert "'maxRetries' was unexpected" in problems
    assert "spec.tasks.0.name: 'Worker_0' does not match" in problems
    assert "spec.policies.4" in problems and "spec.policies.5.event: 'PodCrashed' is not one of" in problems


@pytest.mark.parametrize(
    ("resources", "options", "message"),
    [
        ({}, {}, "the volcano backend needs a container image"),
        ({"image": IMAGE}, {"storage_endpoint": None}, "pods cannot reach the embedded object store"),
        ({"image": IMAGE}, {"namespace": "Bad_NS"}, "namespace: String should match pattern"),
    ],
)
def test_clear_errors(make_job, resources, options, message) -> None:  # noqa: ANN001
    with pytest.raises(UserError, match=message):
        render(make_job("volcano", **resources), **options)


def test_long_ids_make_valid_names() -> None:
    name = k8s_name("A_Very_Long_Recipe_Name_For_Testing_Names-20250101-120000-beef")
    assert len(name) <= 40 and name.endswith("20250101-120000-beef")
    assert name == name.lower() and "_" not in name


def test_cli_render_prints_yaml_without_secrets(tmp_path) -> None:  # noqa: ANN001
    env = {
        "ACCESS_KEY_ID": "obs-ak",
        "SECRET_ACCESS_KEY": STORAGE_SECRET_VALUE,
        "LAUNCHER_HOME": str(tmp_path / "home"),
    }
    result = run_cli(
        "render",
        "tests/fixtures/toy_counter.yaml",
        "--backend",
        "volcano",
        "--device",
        "ascend",
        "--count",
        "2",
        "--image",
        IMAGE,
        "--storage_endpoint",
        ENDPOINT,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "kind: Job" in result.stdout and "schedulerName: volcano" in result.stdout
    assert "huawei.com/Ascend910: '2'" in result.stdout
    assert STORAGE_SECRET_VALUE not in result.stdout + result.stderr


def test_the_schema_is_volcanos_published_crd(make_job) -> None:  # noqa: ANN001
    """The check follows the shipped CRD: fields of its Volcano release are known, the pod template is checked by
    the CRD's pod schema (types), and its version and source are stated in the file."""
    header = CRD_FILE.read_text().split("\n---", 1)[0]
    assert "Volcano v1.15.1" in header and "volcano-sh/volcano/blob/v1.15.1/" in header
    (volcano,) = render(make_job("volcano", image=IMAGE)).manifests
    newer = json.loads(json.dumps(volcano))
    newer["spec"]["networkTopology"] = {"mode": "soft", "highestTierAllowed": 2}
    assert job_schema_errors(newer) == []
    newer["spec"]["networkTopology"]["mode"] = "sometimes"
    container = newer["spec"]["tasks"][0]["template"]["spec"]["containers"][0]
    container["ports"] = [{"containerPort": "http"}]
    problems = "\n".join(job_schema_errors(newer))
    assert "spec.networkTopology.mode: 'sometimes' is not one of ['hard', 'soft']" in problems
    assert "spec.tasks.0.template.spec.containers.0.ports.0.containerPort: 'http' is not of type 'integer'" in problems
