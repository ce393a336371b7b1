"""SESEMI recipe: CIFAR-10 readers, preprocessing, the two-branch loss, training with resume, and the demo submit."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from entry.checkpoints import latest_checkpoint
from entry.environment import JobEnvironment
from recipes.sesemi.cifar import CLASS_NAMES, DataError, load_cifar10
from recipes.sesemi.hparams import SesemiHyperparameters
from recipes.sesemi.preprocess import (
    fit_zca,
    global_contrast_normalize,
    stratified_sample,
)
from tests.recipes.conftest import scalar_series

REPO = Path(__file__).resolve().parents[2]


def small_cifar(per_class_train: int = 12, per_class_test: int = 4) -> tuple[np.ndarray, ...]:
    """Digits as CIFAR-10 images, a few per class."""
    from recipes.sesemi.synthetic import digits_as_cifar

    x_train, y_train, x_test, y_test = digits_as_cifar()
    pick = lambda y, n: np.concatenate([np.flatnonzero(y == c)[:n] for c in range(10)])
    train, test = pick(y_train, per_class_train), pick(y_test, per_class_test)
    return x_train[train], y_train[train], x_test[test], y_test[test]


# --- hyperparameters and recipe ----------------------------------------------------------------------------------


def test_hparams_defaults_and_schedules_follow_the_seed() -> None:
    hp = SesemiHyperparameters()
    assert (hp.labels, hp.network, hp.batch_size, hp.learning_rate, hp.width) == (1000, "convnet", 16, 0.05, 1.0)
    assert (hp.self_supervised_data, hp.weight_decay, hp.head_dropout, hp.zca, hp.hflip) == ("all", 5e-4, 0.2, True, True)
    assert hp.total_steps(1000, 50_000) == 50 * 3125  # original: 50 epochs of 50,000 // 16 steps
    port = SesemiHyperparameters(self_supervised_data="labelled")
    assert port.total_steps(1000, 50_000) == 300 * 62  # seed port: 300 epochs of 1,000 // 16 steps
    assert SesemiHyperparameters(steps=300).total_steps(1000, 50_000) == 300
    with pytest.raises(ValidationError):
        SesemiHyperparameters(network="resnet")


def test_hparams_do_not_import_keras() -> None:
    code = (
        "import sys, recipes.sesemi.hparams; print(sorted(m for m, v in sys.modules.items() "
        "if v is not None and m.split('.')[0] in ('keras', 'tensorflow', 'jax')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_recipe_takes_labels_and_ships_cifar_demo_data() -> None:
    from launcher.recipe import load_recipe, resolve_hyperparameters

    recipe = load_recipe(REPO / "recipes" / "sesemi.yaml")
    hp = resolve_hyperparameters(recipe, {"labels": 2000})
    assert isinstance(hp, SesemiHyperparameters) and hp.labels == 2000 and hp.steps == 300
    assert resolve_hyperparameters(recipe, perf=True).width == 1.0  # perf runs time the seed's full network
    data = load_cifar10(recipe.demo_data)
    assert data.x_train.shape == (4000, 32, 32, 3) and data.x_test.shape == (1000, 32, 32, 3)
    assert (recipe.demo_data / "cifar-10-python.tar.gz").stat().st_size < 2_000_000


# --- CIFAR-10 readers --------------------------------------------------------------------------------------------


def test_every_layout_reads_the_same_images(tmp_path: Path) -> None:
    from recipes.sesemi.synthetic import write_folders, write_pickles, write_tar

    arrays = small_cifar()
    write_pickles(tmp_path / "pickles", arrays)
    write_tar(tmp_path / "tar", arrays)
    write_folders(tmp_path / "folders", arrays)
    for layout in ("pickles", "tar", "folders"):
        data = load_cifar10(tmp_path / layout)
        order = np.lexsort((np.arange(len(data.y_train)), data.y_train))  # folders come back grouped by class
        np.testing.assert_array_equal(data.x_train[order], arrays[0][np.argsort(arrays[1], kind="stable")], layout)
        np.testing.assert_array_equal(np.sort(data.y_test), np.sort(arrays[3]))
    batch = pickle.loads((tmp_path / "pickles" / "cifar-10-batches-py" / "data_batch_1").read_bytes(), encoding="latin1")
    assert batch["data"].shape[1] == 3072 and batch["data"].dtype == np.uint8  # channel-planar rows, as released


def test_wrong_layouts_say_what_is_expected(tmp_path: Path) -> None:
    from recipes.sesemi.synthetic import write_folders, write_pickles

    with pytest.raises(DataError, match=r"no CIFAR-10 in .*data_batch_1\.\.5, test_batch; or cifar-10-python\.tar\.gz"):
        load_cifar10(tmp_path / "empty")
    arrays = small_cifar(2, 1)
    write_folders(tmp_path / "flat", arrays)
    for name in CLASS_NAMES:  # the seed README's cifar-10/<class>/ without a test split
        shutil.move(tmp_path / "flat" / "train" / name, tmp_path / "flat" / name)
    shutil.rmtree(tmp_path / "flat" / "train")
    shutil.rmtree(tmp_path / "flat" / "test")
    with pytest.raises(DataError, match="without a train/test split: move them under train/"):
        load_cifar10(tmp_path / "flat")
    write_folders(tmp_path / "renamed", arrays)
    (tmp_path / "renamed" / "train" / "truck").rename(tmp_path / "renamed" / "train" / "lorry")
    with pytest.raises(DataError, match="expected exactly the ten CIFAR-10 classes"):
        load_cifar10(tmp_path / "renamed")
    folder = write_pickles(tmp_path / "pickles", arrays)
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="data_batch_3: not a CIFAR-10 python batch"):
        load_cifar10(tmp_path / "pickles")
    (folder / "test_batch").unlink()
    with pytest.raises(DataError, match="missing test_batch"):
        load_cifar10(tmp_path / "pickles")


# --- preprocessing and augmentation ------------------------------------------------------------------------------


def test_stratified_sample() -> None:
    labels = np.repeat(np.arange(10), 30)
    chosen = stratified_sample(labels, 100)
    assert np.bincount(labels[chosen]).tolist() == [10] * 10
    np.testing.assert_array_equal(chosen, stratified_sample(labels, 100))  # RandomState(1): the same subset always
    assert len(stratified_sample(labels, 50_000)) == 300
    scarce = np.concatenate([np.zeros(5, np.int64), np.repeat(np.arange(1, 10), 30)])
    with pytest.raises(ValueError, match="needs 10 images of class 0, the training set has 5"):
        stratified_sample(scarce, 100)


def test_gcn_and_zca() -> None:
    images = np.random.default_rng(0).integers(0, 256, (200, 4, 4, 3), dtype=np.uint8)
    flat = global_contrast_normalize(images)
    np.testing.assert_allclose(flat.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(flat, axis=1), 55.0, rtol=1e-5)
    correlated = (flat @ np.random.default_rng(1).normal(size=(48, 48))).astype(np.float64)
    white = fit_zca(correlated)(correlated).astype(np.float64)
    # Whitened covariance = U diag(S / (S + 0.1)) U^T: identity along every strong direction of the data.
    centred = correlated - correlated.mean(axis=0)
    s, u = np.linalg.eigh(centred.T @ centred / len(centred))
    expected = (u * (s / (s + 0.1))) @ u.T
    got = (white - white.mean(axis=0)).T @ (white - white.mean(axis=0)) / len(white)
    np.testing.assert_allclose(got, expected, atol=2e-3)


def test_transforms_and_shift() -> None:
    from recipes.sesemi.augment import geometric_transforms, shift

    image = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    versions, labels = geometric_transforms(image)
    assert labels.tolist() == [0, 1, 2, 3, 4, 5]
    np.testing.assert_array_equal(versions[1, ..., 0], np.rot90(image[0, ..., 0]))
    np.testing.assert_array_equal(versions[4, ..., 0], image[0, :, ::-1, 0])  # horizontal flip
    np.testing.assert_array_equal(versions[5, ..., 0], image[0, ::-1, :, 0])  # vertical flip
    moved = shift(image, np.array([0]), np.array([1]))[0, ..., 0]
    np.testing.assert_array_equal(moved[:, 1:], image[0, :, :3, 0])
    np.testing.assert_array_equal(moved[:, 0], image[0, :, 1, 0])  # reflected border


# --- the two branches --------------------------------------------------------------------------------------------


def test_loss_is_the_sum_of_both_branches_and_unlabelled_data_moves_only_its_own() -> None:
    import keras

    from recipes.sesemi.augment import geometric_transforms
    from recipes.sesemi.model import build_sesemi, compile_sesemi

    keras.utils.set_random_seed(0)
    model = compile_sesemi(build_sesemi("nin", width=0.05, weight_decay=0.0), keras.optimizers.SGD())
    rng = np.random.default_rng(0)
    x_sup, y_sup = rng.normal(size=(12, 32, 32, 3)).astype(np.float32), np.arange(12) % 10
    x_self, y_self = geometric_transforms(rng.normal(size=(2, 32, 32, 3)).astype(np.float32))
    other_self, _ = geometric_transforms(rng.normal(size=(2, 32, 32, 3)).astype(np.float32) * 3)
    first = model.evaluate([x_sup, x_self], [y_sup, y_self], return_dict=True, verbose=0, batch_size=12)
    second = model.evaluate([x_sup, other_self], [y_sup, y_self], return_dict=True, verbose=0, batch_size=12)
    assert first["loss"] == pytest.approx(first["supervised_loss"] + first["self_supervised_loss"], rel=1e-5)
    assert second["supervised_loss"] == pytest.approx(first["supervised_loss"], rel=1e-6)
    assert abs(second["self_supervised_loss"] - first["self_supervised_loss"]) > 1e-3


# --- training ----------------------------------------------------------------------------------------------------


def tiny(**overrides: object) -> SesemiHyperparameters:
    values = {"labels": 50, "network": "nin", "width": 0.05, "batch_size": 4, "steps": 4, "zca": False,
              "log_every": 2, "eval_every": 2, "checkpoint_every": 2}  # fmt: skip
    return SesemiHyperparameters(**{**values, **overrides})


def test_train_resume_and_saved_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import keras

    from recipes.sesemi.synthetic import write_pickles
    from recipes.sesemi.train import train

    write_pickles(tmp_path / "data", small_cifar())
    env = JobEnvironment(job_id="s", work_dir=tmp_path, data_dir=tmp_path / "data", output_dir=tmp_path / "out",
                         log_dir=tmp_path / "logs")  # fmt: skip
    metrics = train(tiny(), env)
    out = capsys.readouterr().out
    assert "(50 labelled; self-supervised branch on 120)" in out and "classification error rate: " in out
    assert metrics["steps"] == 4 and metrics["samples_per_sec"] > 0
    assert metrics["accuracy"] == pytest.approx(1.0 - metrics["error"])
    assert latest_checkpoint(env.checkpoint_dir).name == "step-000000004"
    assert [s for s, _ in scalar_series(env.output_dir / "tensorboard", "supervised_loss")] == [2, 4]
    assert [s for s, _ in scalar_series(env.output_dir / "tensorboard", "test/error")] == [2, 4]

    resumed = train(tiny(steps=6, self_supervised_data="labelled"), env)
    assert "at step 4" in capsys.readouterr().out and resumed["steps"] == 6
    history = json.loads((env.output_dir / "history.json").read_text())
    assert [h["step"] for h in history["train"]] == [2, 4, 6]

    from recipes.sesemi.preprocess import preprocess

    images = preprocess(small_cifar()[2], None)
    predictions = [keras.saving.load_model(env.output_dir / "export" / f"sesemi_classifier.{ext}", compile=False)
                   .predict(images, verbose=0) for ext in ("keras", "h5")]  # fmt: skip
    np.testing.assert_allclose(predictions[0], predictions[1], atol=1e-6)
    assert predictions[0].shape == (40, 10)
    # The reported errors are the exported (final) classifier's on the 40 test images: the single-view one
    # recomputed from its predictions and the raw labels, the 8-view one through the same dense evaluation.
    from recipes.sesemi.evaluate import dense_error

    labels = small_cifar()[3]
    assert resumed["error_single_view"] == pytest.approx(np.mean(predictions[0].argmax(axis=1) != labels))
    classifier = keras.saving.load_model(env.output_dir / "export" / "sesemi_classifier.keras", compile=False)
    dense = dense_error(lambda x: classifier.predict(x, verbose=0), images, labels, seed=0, hflip=True)
    assert resumed["error"] == pytest.approx(dense) and round(dense * 40, 6) == int(round(dense * 40))
    assert set(np.load(env.output_dir / "export" / "preprocessing.npz").files) == set()  # zca off: nothing to keep


@pytest.mark.slow
def test_submit_sesemi_with_1000_labels_learns() -> None:
    """`python -m launcher submit recipes/sesemi.yaml --labels 1000` on a fresh store: the shipped digits as
    CIFAR-10 seed it offline; the demo's 300 steps reach test error <= 0.30 (8-view dense evaluation) and the
    self-supervised head names the transform of >= 45% of test images (chance 1/6)."""
    from launcher.paths import objects_root
    from tests.launcher.helpers import run_cli

    result = run_cli("submit", "recipes/sesemi.yaml", "--labels", "1000", timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    job_id = next(line.split()[1] for line in result.stdout.splitlines() if line.startswith("job sesemi-"))
    out = objects_root() / "launcher-demo" / "jobs" / job_id
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 300
    assert metrics["error"] <= 0.30 and metrics["self_supervised_accuracy"] >= 0.45, metrics
    assert "classification error rate: " in result.stdout
    assert (out / "export" / "sesemi_classifier.h5").is_file() and (out / "curves.png").is_file()
    assert any((out / "tensorboard").glob("events.out.tfevents.*"))
    assert (objects_root() / "launcher-demo" / "cifar-10-digits" / "cifar-10-python.tar.gz").is_file()
