"""LeNet exports (the .keras file on every backend; SavedModel and frozen graph on TensorFlow) predict what the
trained model predicts, and predict.py classifies image files with them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from entry.checkpoints import latest_checkpoint
from entry.environment import JobEnvironment
from recipes.lenet.hparams import LeNetHyperparameters
from recipes.mnist.idx import load_mnist
from tests.recipes.conftest import SHIPPED_MNIST

Trained = tuple[JobEnvironment, np.ndarray, np.ndarray]


def _needs_tensorflow_backend() -> None:
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("SavedModel and frozen-graph exports are written on the TensorFlow backend only")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """One short run with exports, shared by this module (training is the slow part), and the logits on 100 test
    digits of the model restored from its final checkpoint."""
    from recipes.common.keras_state import restore_training_state
    from recipes.lenet.model import to_inputs
    from recipes.lenet.train import compile_lenet, train

    root = tmp_path_factory.mktemp("lenet-export")
    shutil.copytree(SHIPPED_MNIST, root / "data")
    env = JobEnvironment(
        job_id="export", work_dir=root, data_dir=root / "data", output_dir=root / "output", log_dir=root / "logs"
    )
    hp = LeNetHyperparameters(epochs=1, steps=700, log_every=350)  # past the sigmoid plateau: distinct predictions
    train(hp, env)
    model = compile_lenet(hp)
    restore_training_state(model, latest_checkpoint(env.checkpoint_dir))
    digits = load_mnist(env.data_dir).x_test[:100]
    return env, digits, model.predict(to_inputs(digits), verbose=0)


def _assert_predicts_like_training(paths: list[Path], trained: Trained) -> None:
    from recipes.lenet.model import to_inputs
    from recipes.lenet.predict import load_predictor

    _, digits, expected = trained
    assert len(set(expected.argmax(axis=1).tolist())) > 3  # a trained model, not a constant one
    for path in paths:
        np.testing.assert_allclose(load_predictor(path)(to_inputs(digits)), expected, atol=1e-4, err_msg=str(path))


@pytest.mark.slow
def test_keras_export_matches_the_trained_model(trained: Trained) -> None:
    export = trained[0].output_dir / "export"
    _assert_predicts_like_training([export / "lenet.keras"], trained)


@pytest.mark.slow
def test_tensorflow_exports_match_the_trained_model(trained: Trained) -> None:
    _needs_tensorflow_backend()
    export = trained[0].output_dir / "export"
    _assert_predicts_like_training([export / "saved_model", export / "lenet_frozen_graph.pb", export], trained)


@pytest.mark.slow
def test_frozen_graph_has_the_seeds_input(trained: Trained) -> None:
    _needs_tensorflow_backend()
    import tensorflow as tf

    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString((trained[0].output_dir / "export" / "lenet_frozen_graph.pb").read_bytes())
    nodes = {n.name: n for n in graph.node}
    assert nodes["input_image"].op == "Placeholder"
    assert [d.size for d in nodes["input_image"].attr["shape"].shape.dim] == [-1, 784]
    assert {"logits", "classes"} <= nodes.keys()
    assert not any(n.op in ("VarHandleOp", "ReadVariableOp") for n in graph.node)  # frozen: constants only


@pytest.mark.slow
def test_predict_classifies_image_files(trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    from recipes.lenet.predict import classify, main, read_image

    env, digits, expected = trained
    paths = []
    for i in range(8):
        dark = tmp_path / f"digit{i}.png"  # MNIST style: light digit on black
        Image.fromarray(digits[i]).save(dark)
        paper = tmp_path / f"paper{i}.png"  # dark ink on white: must be inverted
        Image.fromarray(255 - digits[i]).save(paper)
        paths += [dark, paper]
    np.testing.assert_allclose(read_image(paths[1]), digits[0].reshape(784) / 255.0, atol=1e-6)
    predicted = [digit for digit, _ in classify(env.output_dir / "export", paths)]
    assert predicted == np.repeat(expected[:8].argmax(axis=1), 2).tolist()

    big = tmp_path / "big.jpg"  # not 28x28, RGB, JPEG
    Image.fromarray(np.stack([np.kron(digits[0], np.ones((4, 4), np.uint8))] * 3, axis=-1)).save(big)
    assert read_image(big).shape == (784,)
    assert main([str(env.output_dir / "export" / "lenet.keras"), str(paths[0]), str(big)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{paths[0]}: {expected[0].argmax()} (p=")
    assert out[1].startswith(f"{big}: ")
