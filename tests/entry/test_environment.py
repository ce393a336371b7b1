"""The in-job contract: platform variables read once, rank tables parsed and checked, bad topology refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pydantic import BaseModel

from entry.args import parse_args, parse_extras, typed_extras
from entry.environment import JobEnvironment
from entry.ranktable import RankTableError, load_rank_table, single_server_table
from launcher.errors import UserError


def table(path: Path, **changes) -> Path:  # noqa: ANN003
    document = {
        "version": "1.0",
        "server_count": "1",
        "server_list": [
            {
                "server_id": "10.0.0.1",
                "device": [
                    {"device_id": "0", "device_ip": "192.0.2.10", "rank_id": "0"},
                    {"device_id": "1", "device_ip": "192.0.2.11", "rank_id": "1"},
                ],
            }
        ],
        "status": "completed",
        **changes,
    }
    path.write_text(json.dumps(document))
    return path


def test_defaults_outside_any_platform(tmp_path: Path) -> None:
    env = JobEnvironment.from_env({"LAUNCHER_WORK_DIR": str(tmp_path)})
    assert (env.job_id, env.rank, env.world_size, env.device_id) == ("local", 0, 1, 0)
    assert env.data_dir == tmp_path / "data" and env.checkpoint_dir == tmp_path / "output" / "checkpoints"
    assert env.log_file.name == "local-proc-rank-0-device-0.txt" and env.is_chief


def test_modelarts_and_volcano_variables(tmp_path: Path) -> None:
    env = JobEnvironment.from_env(
        {
            "JOB_ID": "job-7",
            "RANK_ID": "3",
            "RANK_SIZE": "8",
            "ASCEND_DEVICE_ID": "3",
            "VC_TASK_INDEX": "1",
            "VC_WORKER_HOSTS": "host-a,host-b",
            "MA_CURRENT_HOST_IP": "198.51.100.7",
            "MA_NUM_GPUS": "4",
        }
    )
    assert env.work_dir == Path("/cache/job-7")
    assert (env.rank, env.world_size, env.device_id, env.local_size) == (3, 8, 3, 4)
    assert (env.node_index, env.node_count, env.worker_hosts) == (1, 2, ["host-a", "host-b"])
    assert env.host_ip == "198.51.100.7" and not env.is_chief
    assert env.log_file.name == "job-7-proc-rank-3-device-3.txt"


def test_rank_table_gives_world_size_and_is_checked_against_device(tmp_path: Path) -> None:
    path = table(tmp_path / "rank_table.json")
    env = JobEnvironment.from_env({"RANK_TABLE_FILE": str(path), "RANK_ID": "1", "DEVICE_ID": "1"})
    assert env.world_size == 2 and env.rank_table is not None
    with pytest.raises(UserError, match="rank 1 runs on device 0 but the rank table puts it on device 1"):
        JobEnvironment.from_env({"RANK_TABLE_FILE": str(path), "RANK_ID": "1", "DEVICE_ID": "0"})
    with pytest.raises(UserError, match="RANK_SIZE 4 but the rank table lists 2 ranks"):
        JobEnvironment.from_env({"RANK_TABLE_FILE": str(path), "RANK_SIZE": "4"})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": "initializing"}, "has not finished writing"),
        ({"server_count": "2"}, "server_count 2 but 1 servers listed"),
        (
            {"server_list": [{"server_id": "a", "device": [{"device_id": "0", "rank_id": "0"}, {"device_id": "1", "rank_id": "2"}]}]},
            r"rank ids must be 0\.\.1",
        ),
        (
            {"server_list": [{"server_id": "a", "device": [{"device_id": "0", "rank_id": "0"}, {"device_id": "0", "rank_id": "1"}]}]},
            "lists a device twice",
        ),
        ({"server_list": []}, "server_list"),
    ],
)
def test_inconsistent_rank_tables_are_refused(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(RankTableError, match=message):
        load_rank_table(table(tmp_path / "t.json", **changes))


def test_unreadable_rank_table(tmp_path: Path) -> None:
    with pytest.raises(RankTableError, match="No such file"):
        load_rank_table(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(RankTableError, match="not JSON"):
        load_rank_table(tmp_path / "bad.json")


def test_generated_table_round_trips_with_string_numbers(tmp_path: Path) -> None:
    hccn = tmp_path / "hccn.conf"
    hccn.write_text("address_0=192.0.2.20\nnetmask_0=255.255.255.0\naddress_1=192.0.2.21\n")
    generated = single_server_table([0, 1], hccn_conf=hccn)
    text = generated.to_json()
    assert json.loads(text)["server_list"][0]["device"][1] == {"device_id": "1", "device_ip": "192.0.2.21", "rank_id": "1"}
    path = tmp_path / "t.json"
    path.write_text(text)
    assert load_rank_table(path) == generated


def test_wrong_typed_platform_variable() -> None:
    with pytest.raises(UserError, match="rank: Input should be a valid integer"):
        JobEnvironment.from_env({"RANK_ID": "first"})


def test_entry_arguments_modelarts_defaults_and_extras(tmp_path: Path) -> None:
    args = parse_args(["--recipe=r.yaml", "--epochs=3", "--flag", "--lr", "0.1", "--name=abc", "--init_method", "tcp://x"])
    assert args.data_url == "/home/ma-user/modelarts/inputs/data_url_0"
    assert args.train_url == "/home/ma-user/modelarts/outputs/train_url_0/"
    assert args.overrides == {"epochs": "3", "flag": "true", "lr": "0.1", "name": "abc", "init_method": "tcp://x"}
    hp = tmp_path / "hp.json"
    hp.write_text('{"epochs": 2, "flag": false}')
    assert parse_args([f"--hyperparameters=@{hp}"]).hyperparameters == {"epochs": 2, "flag": False}
    assert parse_extras(["--use-fp16=false"]) == {"use_fp16": "false"}


class Typed(BaseModel):
    msg: str = ""
    count: int = 0
    ids: list[int] = []
    rate: float | None = 1.0


def test_extras_reach_the_model_as_typed() -> None:
    """A text field keeps `1e3`, `True` and quotes; other fields are typed by their own type."""
    extras = parse_args(["--msg=1e3", "--count=4", "--ids=[1,2]", "--rate=null", "--other=2"]).overrides
    typed = typed_extras(Typed, extras)
    assert typed == {"msg": "1e3", "count": "4", "ids": [1, 2], "rate": None, "other": 2}
    assert Typed.model_validate({k: v for k, v in typed.items() if k != "other"}) == Typed(msg="1e3", count=4, ids=[1, 2], rate=None)
    for text in ("True", "'quoted'", "007", "null"):
        assert typed_extras(Typed, parse_args([f"--msg={text}"]).overrides) == {"msg": text}
    assert typed_extras(Typed, {"msg": '"true"'}) == {"msg": "true"}  # the launcher's JSON-quoted text


@pytest.mark.parametrize(("value", "message"), [("{oops", "not valid JSON"), ("[1]", "must be a JSON object"), ("@/nope.json", "No such file")])
def test_bad_hyperparameters_argument(value: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_args([f"--hyperparameters={value}"])


def test_the_job_environment_does_not_import_the_recipe_layer() -> None:
    """entry/ reads its contract without launcher's recipe layer (YAML loading, trainer imports): a fresh
    interpreter that imports entry.environment (and its rank tables) has not loaded launcher.recipe."""
    import os
    import subprocess
    import sys

    probe = (
        "import sys, entry.environment, entry.ranktable, entry.contract\n"
        "print(sorted(m for m in sys.modules if m.startswith('launcher')))"
    )
    # PYTHONPATH is passed on: the subprocess must import this tree, not the editable install's.
    done = subprocess.run(
        [sys.executable, "-c", probe], env=dict(os.environ), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.strip()
    assert "launcher.errors" in loaded  # the probe ran: the shared error formatting is there
    assert "launcher.recipe" not in loaded


def test_a_bad_environment_is_one_line_naming_every_field() -> None:
    one_line = r"^job environment: rank: Input should be a valid integer, .*\(got 'x'\); local_rank: .*\(got '\\n'\)$"
    with pytest.raises(UserError, match=one_line):
        JobEnvironment.from_env({"LAUNCHER_WORK_DIR": "/tmp/w", "RANK_ID": "x", "LAUNCHER_LOCAL_RANK": "\n"})
