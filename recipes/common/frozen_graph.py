"""TF1-style frozen GraphDefs (variables folded into constants), the format the seeds' inference scripts load.

TensorFlow is imported lazily and only here: training runs on JAX machines without it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def write_frozen_graph(
    path: Path,
    outputs: Callable[[Any], dict[str, Any]],
    input_name: str,
    input_shape: Sequence[int | None],
    input_dtype: str = "float32",
) -> Path:
    """Trace `outputs(input_tensor) -> {node name: tensor}` and write it with a placeholder `input_name` and an
    Identity node per output name, so a loader finds `<input_name>:0` and `<output name>:0`."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    @tf.function
    def serve(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        return {name: tf.identity(tensor, name=name) for name, tensor in outputs(inputs).items()}

    concrete = serve.get_concrete_function(tf.TensorSpec(list(input_shape), input_dtype, name=input_name))
    frozen = convert_variables_to_constants_v2(concrete)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(frozen.graph.as_graph_def().SerializeToString())
    return path


def load_frozen_graph(path: Path, input_name: str, output_name: str) -> Callable[[Any], Any]:
    """The frozen graph at `path` as a function input array -> output array (TensorFlow needed)."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(path.read_bytes())
    wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    fn = wrapped.prune(f"{input_name}:0", f"{output_name}:0")
    return lambda x: fn(tf.constant(x)).numpy()
