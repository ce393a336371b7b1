"""Recipe files and hyperparameter overrides: good, unknown key, wrong type, missing file, hostile YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher.jobspec import find_code_dir, plan_job
from launcher.recipe import RecipeError, load_recipe, resolve_hyperparameters

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TOY = FIXTURES / "toy_counter.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


def toy_text(**replace: str) -> str:
    text = TOY.read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


def test_good_recipe_loads_with_defaults_and_absolute_demo_data() -> None:
    recipe = load_recipe(TOY)
    assert recipe.name == "toy-counter"
    assert recipe.trainer == "toyjobs.trainers:counter"
    assert recipe.resources.backend == "local" and recipe.resources.count == 1
    assert recipe.demo_data == (FIXTURES / "toydata").resolve()


def test_unknown_key_is_an_error_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, TOY.read_text() + "epochs_typo: 3\n")
    with pytest.raises(RecipeError) as error:
        load_recipe(path)
    assert str(error.value) == f"{path}: epochs_typo: unknown key"


def test_unknown_nested_resource_key(tmp_path: Path) -> None:
    path = write(tmp_path, TOY.read_text() + "  gpus: 2\n")
    with pytest.raises(RecipeError, match=r"resources\.gpus: unknown key"):
        load_recipe(path)


def test_wrong_type_names_field_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, toy_text(**{"device: cpu": "device: cpu\n  count: many"}))
    with pytest.raises(RecipeError, match=r"resources\.count: .*integer.*'many'"):
        load_recipe(path)


def test_missing_file() -> None:
    with pytest.raises(RecipeError, match="recipe file not found: .*nope.yaml"):
        load_recipe("nope.yaml")


def test_malformed_yaml_reports_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\ntrainer: [unclosed\n")
    with pytest.raises(RecipeError, match=r"malformed YAML at line \d+"):
        load_recipe(path)


def test_python_object_tag_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(RecipeError, match="malformed YAML"):
        load_recipe(path)


def test_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="expected a mapping.*list"):
        load_recipe(write(tmp_path, "- a\n- b\n"))


def test_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, "a: " + "x" * 1_100_000 + "\n")
    with pytest.raises(RecipeError, match="larger than"):
        load_recipe(path)


def test_bad_import_reference(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="trainer: .*expected 'package.module:name'"):
        load_recipe(write(tmp_path, toy_text(**{"toyjobs.trainers:counter": "not a ref"})))


def test_missing_required_keys_are_all_named(tmp_path: Path) -> None:
    with pytest.raises(RecipeError) as error:
        load_recipe(write(tmp_path, "name: x\n"))
    for field in ("data_url", "output_url"):
        assert f"{field}: Field required" in str(error.value)


def test_a_recipe_needs_a_trainer_or_legacy_scripts(tmp_path: Path) -> None:
    text = "name: x\ndata_url: obs://b/d/\noutput_url: obs://b/o/\n"
    with pytest.raises(RecipeError, match="give `trainer` and `hyperparameters_model`, or `legacy` scripts"):
        load_recipe(write(tmp_path, text + "trainer: a.b:c\n"))
    with pytest.raises(RecipeError, match="give one or the other"):
        load_recipe(write(tmp_path, TOY.read_text() + "legacy: {}\n"))
    legacy = load_recipe(write(tmp_path, text + "legacy: {}\n"))
    assert legacy.legacy is not None and legacy.legacy.full == "test/train_full_1p.sh"


def test_perf_values_apply_only_to_performance_runs(tmp_path: Path) -> None:
    path = write(tmp_path, TOY.read_text() + "perf_hyperparameters:\n  steps: 9\n")
    plan_job(TOY)
    recipe = load_recipe(path)
    assert resolve_hyperparameters(recipe).model_dump()["steps"] == 3
    assert resolve_hyperparameters(recipe, perf=True).model_dump()["steps"] == 9
    assert resolve_hyperparameters(recipe, {"steps": 4}, perf=True).model_dump()["steps"] == 4


def test_overrides_are_typed_by_the_recipes_model() -> None:
    plan_job(TOY)  # puts the code dir on sys.path, as the CLI does
    recipe = load_recipe(TOY)
    hp = resolve_hyperparameters(recipe, {"steps": "7", "flag": False})
    assert hp.model_dump() == {"steps": 7, "step_seconds": 0.0, "flag": False, "note": "from-recipe"}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"steps": "two"}, "steps: Input should be a valid integer"),
        ({"steps": 0}, "steps: Input should be greater than 0"),
        ({"flag": "maybe"}, "flag: Input should be a valid boolean"),
        ({"stepz": 3}, "stepz: unknown key"),
    ],
)
def test_bad_overrides_name_the_field(overrides: dict, expected: str) -> None:
    plan_job(TOY)
    with pytest.raises(RecipeError, match=f"invalid hyperparameters: {expected}"):
        resolve_hyperparameters(load_recipe(TOY), overrides)


def test_every_bad_override_is_reported_at_once() -> None:
    plan_job(TOY)
    with pytest.raises(RecipeError) as error:
        resolve_hyperparameters(load_recipe(TOY), {"steps": "two", "step_seconds": -1})
    assert "steps:" in str(error.value) and "step_seconds:" in str(error.value)


def test_plan_job_fills_job_id_into_train_url_and_finds_code_dir() -> None:
    spec = plan_job(TOY, {"steps": 5})
    assert spec.train_url == f"obs://toy-bucket/jobs/{spec.id}/"
    assert spec.id.startswith("toy-counter-")
    assert spec.code_dir == FIXTURES
    assert spec.recipe_relpath == "toy_counter.yaml"
    assert spec.hyperparameters["steps"] == 5


def test_code_dir_is_the_folder_holding_the_trainer_package() -> None:
    repo = Path(__file__).resolve().parents[2]
    assert find_code_dir(repo / "recipes" / "lenet.yaml", "recipes.lenet.train:train") == repo
