"""What a remote job's code upload sends: .gitignore honoured (nested, negations), credentials never, no link
followed out of the code folder, loops skipped, and no upload of a whole folder the trainer is not in."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from loguru import logger

from launcher.backends.codeupload import plan_code_upload, upload_code
from launcher.errors import UserError
from launcher.jobspec import JobSpec
from launcher.paths import objects_root

SECRET = "AKIA-never-leaves-this-machine"
FILES = {
    "recipe.yaml": "name: x",
    "toyjobs/__init__.py": "",
    "toyjobs/trainers.py": "def counter(): ...",
    "toyjobs/data.csv": "a,b",
    ".gitignore": "*.log\nscratch/\n!keep.log\n.env\n!.env\n",
    "train.log": "ignored by the root .gitignore",
    "keep.log": "re-included by a negation",
    "scratch/big.bin": "ignored folder",
    "toyjobs/.gitignore": "*.csv\n!important.csv\n",
    "toyjobs/important.csv": "re-included by the nested .gitignore",
    "notes/debug.log": "ignored at any depth",
    ".env": f"ACCESS_KEY_ID={SECRET}",  # the .gitignore tries to re-include it: still never uploaded
    ".env.local": SECRET,
    ".aws/credentials": SECRET,
    ".ssh/config": SECRET,
    "deploy/.kube/config": SECRET,
    ".netrc": SECRET,
    "certs/server.pem": SECRET,
    "certs/server.key": SECRET,
    "id_ed25519": SECRET,
    "inner/real.txt": "reached through a link inside the folder",
}
EXPECTED = {
    "recipe.yaml",
    "toyjobs/__init__.py",
    "toyjobs/trainers.py",
    "toyjobs/.gitignore",
    "toyjobs/important.csv",
    ".gitignore",
    "keep.log",
    "inner/real.txt",
    "inner-link/real.txt",
    "same.txt",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    code = tmp_path / "project"
    for rel, text in FILES.items():
        (code / rel).parent.mkdir(parents=True, exist_ok=True)
        (code / rel).write_text(text)
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "dir" / "secret.txt").write_text(SECRET)
    (outside / "file.txt").write_text(SECRET)
    os.symlink("/proc/self/environ", code / "environ")  # the launcher's own environment (keys, tokens)
    os.symlink("/etc", code / "etc")
    os.symlink(outside / "dir", code / "outside-dir")
    os.symlink("../outside/file.txt", code / "outside-file.txt")
    os.symlink(".", code / "loop")  # a loop
    os.symlink("..", code / "inner" / "up")  # back to the root: a loop too
    os.symlink("inner", code / "inner-link")  # inside the folder: followed
    os.symlink("inner/real.txt", code / "same.txt")
    return code


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lines.append, level="WARNING", format="{message}")
    yield lines
    logger.remove(sink)


def uploaded(url_root: Path) -> dict[str, str]:
    return {p.relative_to(url_root).as_posix(): p.read_text() for p in url_root.rglob("*") if p.is_file()}


def test_gitignore_secrets_and_links_decide_what_leaves(
    make_job: Callable[..., JobSpec], project: Path, warnings: list[str]
) -> None:
    job = make_job("modelarts").model_copy(update={"code_dir": project, "recipe_path": project / "recipe.yaml"})
    plan = plan_code_upload(job, "obs://b/c/")
    assert set(plan.uploads[0].files) == EXPECTED
    upload_code(plan)
    stored = uploaded(objects_root() / "b" / "c")
    top = {k: v for k, v in stored.items() if not k.startswith(("launcher/", "entry/"))}
    assert set(top) == EXPECTED
    assert not [k for k, v in stored.items() if SECRET in v or "PATH=" in v]
    assert top["inner-link/real.txt"] == top["same.txt"] == FILES["inner/real.txt"]
    skipped = {"environ", "etc", "outside-dir", "outside-file.txt", "loop", "inner/up"}
    for name in skipped:
        assert sum(f"{project}/{name}:" in line for line in warnings) == 1, (name, warnings)
    assert all("\n" not in line.rstrip("\n") for line in warnings)


def test_the_packages_beside_the_code_carry_no_caches(make_job: Callable[..., JobSpec], project: Path) -> None:
    job = make_job("modelarts").model_copy(update={"code_dir": project, "recipe_path": project / "recipe.yaml"})
    plan = plan_code_upload(job, "obs://b/c/")
    packages = [u for u in plan.uploads[1:]]
    assert [u.destination for u in packages] == ["obs://b/c/launcher/", "obs://b/c/entry/"]
    for upload in packages:
        assert "__init__.py" in upload.files
        assert not [f for f in upload.files if "__pycache__" in f or f.endswith(".pyc")]


def test_a_recipe_whose_package_is_not_found_does_not_upload_the_current_folder(
    make_job: Callable[..., JobSpec], tmp_path: Path
) -> None:
    # jobspec.find_code_dir falls back to the current directory when no folder above the recipe holds the
    # trainer's package: uploading all of it (home folder, keys) is refused.
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "recipe.yaml").write_text("name: x")
    job = make_job("modelarts")
    recipe = job.recipe.model_copy(update={"trainer": "nowhere_pkg.train:main"})
    job = job.model_copy(update={"code_dir": tmp_path, "recipe_path": lonely / "recipe.yaml", "recipe": recipe})
    with pytest.raises(UserError) as error:
        plan_code_upload(job, "obs://b/c/")
    message = str(error.value)
    assert "'nowhere_pkg'" in message and "refusing to upload" in message and "\n" not in message
    assert not (objects_root() / "b").exists()


def test_a_recipe_named_like_a_key_file_is_refused_not_silently_dropped(
    make_job: Callable[..., JobSpec], project: Path
) -> None:
    (project / "id_recipe.yaml").write_text("name: x")
    job = make_job("modelarts").model_copy(update={"code_dir": project, "recipe_path": project / "id_recipe.yaml"})
    with pytest.raises(UserError, match="credentials file"):
        plan_code_upload(job, "obs://b/c/")


def test_a_trainer_module_beside_the_recipe_is_its_code_dir(make_job: Callable[..., JobSpec], tmp_path: Path) -> None:
    from launcher.jobspec import find_code_dir

    project = tmp_path / "solo"
    (project / "recipes").mkdir(parents=True)
    (project / "train.py").write_text("def main(hp, env): ...\n")
    (project / "recipes" / "r.yaml").write_text("name: x")
    assert find_code_dir(project / "recipes" / "r.yaml", "train:main") == project
    job = make_job("modelarts")
    recipe = job.recipe.model_copy(update={"trainer": "train:main"})
    job = job.model_copy(update={"code_dir": project, "recipe_path": project / "recipes" / "r.yaml", "recipe": recipe})
    assert plan_code_upload(job, "obs://b/c/").uploads[0].files == ["recipes/r.yaml", "train.py"]
