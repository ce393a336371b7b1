"""Hostile recipes: YAML bombs, deep nesting, a model that is not a recipe model, huge hyperparameters.

Each is one line and exit 2 (or, for huge hyperparameters, a job that runs), in bounded time and memory.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.backends import get_backend
from launcher.backends.common import HYPERPARAMETERS_FILE
from launcher.cli import seed_demo_data
from launcher.jobs import JobState, JobStore
from launcher.jobspec import plan_job
from launcher.recipe import RecipeError, load_recipe
from launcher.recipe_yaml import MAX_DEPTH, load_bounded
from tests.launcher.helpers import FIXTURES, REPO, wait_terminal

LEGACY_HEAD = "name: bomb\nlegacy: {}\ndata_url: obs://b/d/\noutput_url: obs://b/o/\n"
# Nine levels of nine aliases: 9**9 strings once expanded. PyYAML shares the nodes, so loading is quick and the
# explosion happened later, when the hyperparameters were validated and dumped (the old code hung there).
LAUGHS = "".join(
    f"  {name}: &{name} [{', '.join(['lol'] * 9 if prev is None else [f'*{prev}'] * 9)}]\n"
    for prev, name in zip([None, *"abcdefgh"], "abcdefghi")
)
BOMB = LEGACY_HEAD + "hyperparameters:\n" + LAUGHS
DEEP = LEGACY_HEAD + "hyperparameters: {a: " + "[" * 50_000 + "]" * 50_000 + "}\n"
MEMORY_LIMIT = 1 << 31  # 2 GiB of address space for the CLI: the old code needed far more for the bomb


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def render(recipe: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "launcher", "render", str(recipe)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])},
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit_memory,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *expected: str) -> str:
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("launcher: error:"), result.stderr[-2000:]
    for text in expected:
        assert text in lines[0]
    return lines[0]


def test_billion_laughs_is_refused_in_one_line(tmp_path: Path) -> None:
    recipe = tmp_path / "bomb.yaml"
    recipe.write_text(BOMB)
    assert len(BOMB) <= 497  # the size of the recipe in the issue
    assert_one_line_error(render(recipe), "bomb.yaml", "YAML refused", "aliases expand to more than")


def test_fifty_thousand_brackets_are_refused_in_one_line(tmp_path: Path) -> None:
    recipe = tmp_path / "deep.yaml"
    recipe.write_text(DEEP)
    assert_one_line_error(render(recipe), "deep.yaml", "line 5", f"nested deeper than {MAX_DEPTH} levels")


@pytest.mark.parametrize(
    "text, problem",
    [
        ("a: &r [1, *r]\n", "refers to a node that contains it"),
        ("a: &r {k: *r}\n", "refers to a node that contains it"),
        # Aliases may not stack shallow pieces into a deep document either.
        ("".join(f"l{i}: &l{i} [{f'*l{i - 1}' if i else 0}]\n" for i in range(MAX_DEPTH + 1)), "levels of nesting"),
    ],
)
def test_recursive_and_deep_aliases_are_refused(text: str, problem: str) -> None:
    import yaml

    with pytest.raises(yaml.YAMLError, match=problem):
        load_bounded(text)


def test_ordinary_anchors_merge_keys_and_nesting_still_load() -> None:
    text = "base: &b {lr: 0.1, layers: [64, 64]}\nrun: {<<: *b, lr: 0.2}\ndeep: " + "[" * 40 + "]" * 40 + "\n"
    document = load_bounded(text)
    assert document["run"] == {"lr": 0.2, "layers": [64, 64]}
    assert document["base"]["lr"] == 0.1


def test_recipe_loader_error_names_the_file_and_place(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(BOMB)
    with pytest.raises(RecipeError, match=r"recipe.yaml: YAML refused at line \d+, column \d+: aliases expand"):
        load_recipe(recipe)


@pytest.mark.parametrize("model", ["pydantic:BaseModel", "pydantic:RootModel"])
def test_pydantics_own_base_class_is_not_a_recipe_model(tmp_path: Path, model: str) -> None:
    recipe = tmp_path / "toy.yaml"
    text = (FIXTURES / "toy_counter.yaml").read_text().replace("toyjobs.hparams:ToyHyperparameters", model)
    recipe.write_text(text.replace("demo_data: toydata\n", ""))
    assert_one_line_error(render(recipe), f"hyperparameters_model {model} is pydantic's own base class")


def test_hyperparameters_too_large_for_one_argument_go_in_a_file() -> None:
    note = "n" * 300_000  # over Linux's 128 KiB limit for one argument: exec failed with E2BIG
    store = JobStore()
    backend = get_backend("local", store, {"grace_seconds": 10})
    spec = plan_job(FIXTURES / "toy_counter.yaml", {"steps": 1, "note": note})
    seed_demo_data(spec)
    request = backend.render(spec)
    job_file = request.job_dir / HYPERPARAMETERS_FILE
    assert request.argv[-1] == f"--hyperparameters=@{job_file}"
    assert json.loads(request.files[HYPERPARAMETERS_FILE])["note"] == note
    assert len(request.command_line()) < 10_000  # what `render` prints stays readable

    record = backend.submit(spec)
    final = wait_terminal(store, record.id, backend)
    assert final.state is JobState.SUCCEEDED, final.reason
    assert f'"note":"{note}"' in Path(final.handle["logs"][0]).read_text()  # the trainer got the whole value


def test_small_hyperparameters_stay_inline() -> None:
    spec = plan_job(FIXTURES / "toy_counter.yaml", {"steps": 2})
    request = get_backend("local").render(spec)
    assert json.loads(request.argv[-1].split("=", 1)[1])["steps"] == 2
    assert HYPERPARAMETERS_FILE not in request.files
