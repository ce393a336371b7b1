"""The rendered ModelArts request: built with the SDK's model classes, checked field by field against the v2
training-jobs API (POST /v2/{project_id}/training-jobs), and free of secrets."""

from __future__ import annotations

import json

import pytest
from huaweicloudsdkmodelarts.v1 import Job, ModelArtsClient

from entry.args import parse_args, typed_extras
from launcher.backends import get_backend
from launcher.backends.modelarts.backend import job_name, parameter_value
from launcher.backends.common import to_wire
from launcher.errors import UserError
from launcher.jobs import JobStore
from tests.backends.conftest import PROJECT, REGION, SK
from tests.launcher.helpers import run_cli

FLAVOR = "modelarts.vm.cpu.8u"


def backend(**options):  # noqa: ANN003, ANN201
    return get_backend("modelarts", JobStore(), {"region": REGION, "project_id": PROJECT, "flavor": FLAVOR, **options})


def sdk_job(body: dict) -> Job:
    """The body read back by the SDK's own deserializer: every key must be a field the SDK knows."""
    client = ModelArtsClient()
    return client._deserialize(body, "Job")  # noqa: SLF001


def test_engine_job_body_field_by_field(make_job) -> None:  # noqa: ANN001
    job = make_job("modelarts", nodes=2, overrides={"steps": 7, "flag": True, "note": "2"})
    request = backend(engine_name="TensorFlow", engine_version="tensorflow_2.1.0-cuda_10.1-py_3.7-ubuntu_18.04").render(
        job
    )
    body = request.body
    assert request.method == "POST"
    assert request.url == f"https://modelarts.{REGION}.myhuaweicloud.com/v2/{PROJECT}/training-jobs"
    code_dir = f"/toy-bucket/launcher-code/{job.id}/code/"
    assert request.code.url == f"obs://toy-bucket/launcher-code/{job.id}/code/"
    assert body["kind"] == "job"
    assert body["metadata"] == {"name": job.id, "description": f"launcher {job.id}: recipe toy-counter"}
    algorithm = body["algorithm"]
    assert algorithm["code_dir"] == code_dir
    assert algorithm["boot_file"] == code_dir + "entry/modelarts_entry_acc.py"
    assert algorithm["engine"] == {
        "engine_name": "TensorFlow",
        "engine_version": "tensorflow_2.1.0-cuda_10.1-py_3.7-ubuntu_18.04",
    }
    assert algorithm["inputs"] == [
        {
            "name": "data_url",
            "local_dir": "/home/ma-user/modelarts/inputs/data_url_0",
            "remote": {"obs": {"obs_url": "/toy-bucket/data/"}},
        }
    ]
    assert algorithm["outputs"] == [
        {
            "name": "train_url",
            "local_dir": "/home/ma-user/modelarts/outputs/train_url_0/",
            "remote": {"obs": {"obs_url": f"/toy-bucket/jobs/{job.id}/"}},
        }
    ]
    assert algorithm["parameters"] == [
        {"name": "recipe", "value": "toy_counter.yaml"},
        {"name": "flag", "value": "true"},
        {"name": "note", "value": '"2"'},
        {"name": "step_seconds", "value": "0.0"},
        {"name": "steps", "value": "7"},
    ]
    assert algorithm["environments"] == {"LAUNCHER_JOB_ID": job.id, "PYTHONUNBUFFERED": "1"}
    assert body["spec"] == {"resource": {"flavor_id": FLAVOR, "node_count": 2}}
    assert set(body) == {"kind", "metadata", "algorithm", "spec"}
    # The body is exactly what the SDK serializes from its own models, and survives the SDK's deserializer whole.
    assert to_wire(sdk_job(body)) == body


def test_parameters_reach_the_entry_with_their_types(make_job) -> None:  # noqa: ANN001
    job = make_job("modelarts", overrides={"steps": 4, "flag": False, "note": "true", "step_seconds": 0.5})
    params = backend(engine_id="eng-1").render(job).body["algorithm"]["parameters"]
    argv = ["--data_url=/d", "--train_url=/t"] + [f"--{p['name']}={p['value']}" for p in params]
    parsed = parse_args(argv)  # what ModelArts runs: the boot file with --name=value per parameter
    assert parsed.recipe is not None and parsed.recipe.as_posix() == "toy_counter.yaml"
    from toyjobs.hparams import ToyHyperparameters  # on sys.path once a toy job is planned

    typed = typed_extras(ToyHyperparameters, parsed.overrides)
    assert ToyHyperparameters.model_validate(typed).model_dump() == job.hyperparameters
    assert typed["note"] == "true" and typed["flag"] == "false"


@pytest.mark.parametrize("value", ["plain", "2", "true", "null", "", 3, 2.5, False, None, [1, "a"], {"k": [1]}])
def test_parameter_value_round_trips(value) -> None:  # noqa: ANN001
    extras = typed_extras(None, parse_args([f"--x={parameter_value(value)}"]).overrides)
    assert extras == {"x": value}


def test_custom_image_runs_the_entry_as_a_command(make_job) -> None:  # noqa: ANN001
    job = make_job(
        "modelarts", image="swr.cn-north-4.myhuaweicloud.com/team/launcher-cpu:1.0", overrides={"note": "a b"}
    )
    body = backend(io="direct").render(job).body
    algorithm = body["algorithm"]
    assert algorithm["engine"] == {"image_url": "swr.cn-north-4.myhuaweicloud.com/team/launcher-cpu:1.0"}
    assert "boot_file" not in algorithm and "inputs" not in algorithm and "outputs" not in algorithm
    command = algorithm["command"]
    assert command.startswith('cd "${MA_JOB_DIR}/code" && python entry/modelarts_entry_acc.py ')
    assert "--data_url=obs://toy-bucket/data/" in command
    assert f"--train_url=obs://toy-bucket/jobs/{job.id}/" in command
    assert "'--note=a b'" in command
    names = [p["name"] for p in algorithm["parameters"]]
    assert names[:3] == ["recipe", "data_url", "train_url"]
    assert to_wire(sdk_job(body)) == body


def test_perf_entry_and_dedicated_pool(make_job) -> None:  # noqa: ANN001
    job = make_job("modelarts")
    job = job.model_copy(update={"entry": "perf"})
    body = backend(flavor=None, pool_id="pool-abc", engine_id="e1", workspace_id="ws-1").render(job).body
    assert body["algorithm"]["boot_file"].endswith("/entry/modelarts_entry_perf.py")
    assert body["spec"]["resource"] == {"node_count": 1, "pool_id": "pool-abc"}
    assert body["metadata"]["workspace_id"] == "ws-1"


def test_long_names_are_cut_keeping_the_unique_tail() -> None:
    long_id = "a" * 60 + "-20250101-120000-beef"
    name = job_name(long_id)
    assert len(name) <= 64 and name.endswith("20250101-120000-beef")
    assert job_name("short-20250101-120000-beef") == "short-20250101-120000-beef"


@pytest.mark.parametrize(
    ("options", "resources", "message"),
    [
        ({"flavor": None}, {}, "ModelArts needs a flavor"),
        ({}, {}, "ModelArts needs an image or a preset engine"),
        ({"region": "xx-nowhere-9", "engine_id": "e"}, {}, "unknown ModelArts region 'xx-nowhere-9'"),
        ({"region": None, "engine_id": "e"}, {}, "no ModelArts region"),
        ({"endpoint": "https://modelarts.cn-east-3.myhuaweicloud.com", "engine_id": "e"}, {}, "region mismatch"),
    ],
)
def test_bad_options_are_one_clear_error(make_job, options, resources, message) -> None:  # noqa: ANN001
    with pytest.raises(UserError, match=message):
        backend(**options).render(make_job("modelarts", **resources))


def test_s3_urls_are_refused(make_job) -> None:  # noqa: ANN001
    job = make_job("modelarts").model_copy(update={"data_url": "s3://other/data/"})
    with pytest.raises(UserError, match="ModelArts reads and writes OBS only: s3://other/data/"):
        backend(engine_id="e").render(job)


def test_cli_render_prints_the_body_without_secrets(tmp_path) -> None:  # noqa: ANN001
    env = {
        "HUAWEICLOUD_SDK_AK": "AKRENDER",
        "HUAWEICLOUD_SDK_SK": SK,
        "HUAWEICLOUD_SDK_PROJECT_ID": PROJECT,
        "SECRET_ACCESS_KEY": "Storage-Secret-For-Render-99",
        "ACCESS_KEY_ID": "storage-ak",
        "LAUNCHER_HOME": str(tmp_path / "home"),
    }
    result = run_cli(
        "render",
        "tests/fixtures/toy_counter.yaml",
        "--backend",
        "modelarts",
        "--region",
        REGION,
        "--flavor",
        FLAVOR,
        "--engine_id",
        "e1",
        "--steps",
        "5",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    request = json.loads(result.stdout)
    assert request["body"]["spec"]["resource"]["flavor_id"] == FLAVOR
    assert {"name": "steps", "value": "5"} in request["body"]["algorithm"]["parameters"]
    assert SK not in result.stdout + result.stderr
    assert "Storage-Secret-For-Render-99" not in result.stdout + result.stderr


def _big_overrides() -> dict:
    # 300 KB in one value: over Linux's 128 KiB limit for one argument (exec fails with E2BIG).
    return {"steps": 3, "note": " ".join("w%06d" % i for i in range(40_000))}


def test_hyperparameters_too_large_for_the_command_line_go_in_a_file(make_job, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    job = make_job("modelarts", overrides=_big_overrides())
    request = backend(engine_id="eng-1").render(job)
    params = request.body["algorithm"]["parameters"]
    assert params == [
        {"name": "recipe", "value": "toy_counter.yaml"},
        {"name": "hyperparameters", "value": "@.launcher/hyperparameters.json"},
    ]
    assert set(request.files) == {".launcher/hyperparameters.json"}
    assert to_wire(sdk_job(request.body)) == request.body
    # What the entry does with it, run where ModelArts starts it: in the code folder, which holds the file.
    (tmp_path / ".launcher").mkdir()
    (tmp_path / ".launcher" / "hyperparameters.json").write_text(request.files[".launcher/hyperparameters.json"])
    monkeypatch.chdir(tmp_path)
    parsed = parse_args(["--data_url=/d", "--train_url=/t"] + [f"--{p['name']}={p['value']}" for p in params])
    assert parsed.hyperparameters == job.hyperparameters and parsed.overrides == {}
    assert parsed.hyperparameters["note"].endswith("w039999")


def test_large_hyperparameters_with_a_custom_image_keep_the_command_short(make_job) -> None:  # noqa: ANN001
    image = "swr.cn-north-4.myhuaweicloud.com/team/launcher-cpu:1.0"
    job = make_job("modelarts", image=image, overrides=_big_overrides())
    request = backend(io="direct").render(job)
    command = request.body["algorithm"]["command"]
    assert "--hyperparameters=@.launcher/hyperparameters.json" in command
    assert len(command.encode()) < 2048
    assert json.loads(request.files[".launcher/hyperparameters.json"]) == job.hyperparameters


def test_small_hyperparameters_stay_parameters(make_job) -> None:  # noqa: ANN001
    job = make_job("modelarts", overrides={"note": "a" * 10_000})
    request = backend(engine_id="eng-1").render(job)
    assert request.files == {}
    assert {"name": "note", "value": "a" * 10_000} in request.body["algorithm"]["parameters"]
