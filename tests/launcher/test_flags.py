"""Backend options vs hyperparameters: one namespacing scheme, values as typed, help that lists both."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from launcher.backends.docker.spec import DockerOptions
from launcher.backends.local.backend import LocalOptions
from launcher.errors import UserError
from launcher.flags import parse_command_line, split_flags
from tests.launcher.helpers import FIXTURES, REPO, run_cli
from tests.launcher.test_cli import assert_one_line_error

TOY = str(FIXTURES / "toy_counter.yaml")
SESEMI = "recipes/sesemi.yaml"


def rendered_hyperparameters(stdout: str) -> dict:
    request = json.loads(stdout.split("\n# as a shell command:")[0])
    flag = next(a for a in request["argv"] if a.startswith("--hyperparameters="))
    return json.loads(flag.split("=", 1)[1])


def test_a_name_that_is_both_is_refused_with_how_to_mean_each() -> None:
    result = run_cli("render", SESEMI, "--backend", "docker", "--network", "nin")
    assert_one_line_error(result, "--network is both a docker option and a hyperparameter", "--hp.network", "--docker.network")


def test_prefixes_say_which_is_meant() -> None:
    result = run_cli("render", SESEMI, "--backend", "docker", "--hp.network", "nin", "--docker.network", "bridge")
    assert result.returncode == 0, result.stderr
    request = json.loads(result.stdout.split("\n# as a shell command:")[0])
    assert request["network_mode"] == "bridge"
    assert '"network":"nin"' in result.stdout
    # Plain names that only one side has still work: a resource, a docker option, a hyperparameter.
    plain = run_cli("render", SESEMI, "--backend", "docker", "--memory", "2g", "--labels", "2000", "--image", "img:1")
    assert plain.returncode == 0, plain.stderr
    assert '"memory_bytes": 2147483648' in plain.stdout and '"labels":2000' in plain.stdout and "img:1" in plain.stdout


def test_another_backends_prefix_and_unknown_names_are_one_line_errors() -> None:
    assert_one_line_error(run_cli("render", TOY, "--docker.memory", "2g"), "--docker.memory is a docker option", "local backend")
    assert_one_line_error(run_cli("render", TOY, "--local.nope", "1"), "local has no resource or option 'nope'")
    assert_one_line_error(run_cli("render", TOY, "--xx.steps", "1"), "unknown prefix 'xx'")


def test_text_hyperparameters_keep_what_the_user_typed() -> None:
    for typed in ("1e3", "True", "'quoted'", "007", "[1, 2]", "null"):
        result = run_cli("render", TOY, "--note", typed, "--hp.steps", "5", "--flag")
        assert result.returncode == 0, result.stderr
        hp = rendered_hyperparameters(result.stdout)
        assert hp["note"] == typed and hp["steps"] == 5 and hp["flag"] is True


def test_switches_and_values_of_the_command_itself() -> None:
    positionals, params, free = parse_command_line(
        ["r.yaml", "--perf", "--backend=docker", "--lr", "-1", "--zca", "--hp.x=a=b", "--data-url", "u"],
        {"backend": False, "perf": True, "data_url": False},
    )
    assert positionals == ["r.yaml"]
    assert params == {"perf": True, "backend": "docker", "data_url": "u"}
    assert free == {"lr": "-1", "zca": "true", "hp.x": "a=b"}
    with pytest.raises(UserError, match="given twice"):
        parse_command_line(["--a", "1", "--a", "2"], {})
    with pytest.raises(UserError, match="--backend needs a value"):
        parse_command_line(["--backend"], {"backend": False})


class Hp(BaseModel):
    memory: int = 1
    lr: float = 0.1


def test_split_is_the_same_rule_for_every_backend() -> None:
    split = split_flags({"hp.memory": "3", "lr": "0.2", "grace_seconds": "5", "device": "cpu"}, "local", LocalOptions, frozenset(Hp.model_fields))
    assert split.hyperparameters == {"memory": "3", "lr": "0.2"}
    assert split.options == {"grace_seconds": "5"} and split.resources == {"device": "cpu"}
    with pytest.raises(UserError, match="--memory is both a docker option"):
        split_flags({"memory": "3"}, "docker", DockerOptions, frozenset(Hp.model_fields))
    assert split_flags({"docker.memory": "2g"}, "docker", DockerOptions, frozenset(Hp.model_fields)).options == {"memory": "2g"}
    for malformed in ("hp.", ".x", "hp.a.b", "docker."):
        with pytest.raises(UserError, match=f"malformed flag --{re.escape(malformed)}"):
            split_flags({malformed: "1"}, "docker", DockerOptions, frozenset(Hp.model_fields))


def test_submit_help_lists_hyperparameters_and_the_backends_options() -> None:
    result = run_cli("submit", SESEMI, "--backend", "docker", "--help")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "hyperparameters (--hp.NAME" in out and "docker options (--docker.NAME)" in out
    labels = next(line for line in out.splitlines() if line.strip().startswith("labels "))
    assert "int" in labels and "1000" in labels and "Labelled training images" in labels
    assert any(line.strip().startswith("memory ") and "memory limit" in line for line in out.splitlines())
    assert "names of both kinds, which need their prefix: network" in out
    local = run_cli("render", TOY, "-h")
    assert local.returncode == 0 and "grace_seconds" in local.stdout and "step_seconds" in local.stdout


def test_entry_help_goes_to_stdout_and_starts_nothing(tmp_path: Path) -> None:
    work = tmp_path / "work"
    env = {**os.environ, "LAUNCHER_WORK_DIR": str(work), "PYTHONPATH": os.pathsep.join(sys.path)}
    for script in ("modelarts_entry_acc.py", "modelarts_entry_perf.py"):
        result = subprocess.run(
            [sys.executable, str(REPO / "entry" / script), "--help", f"--recipe={TOY}"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "--data_url" in result.stdout and "--train_url" in result.stdout
        assert "hyperparameters of toy-counter" in result.stdout and "step_seconds" in result.stdout
    assert not work.exists()  # no job folder, no log swallowed the help
