"""LeNet hyperparameters: the seed's flags, validated before any data moves.

Imported by the CLI to check overrides quickly, so it must not import keras or tensorflow.

Seed flags not carried over: `--data_path` (the job's data_dir, from data_url), and the Ascend-only debugging
knobs (`--over_dump`, `--data_dump_flag`, `--data_dump_step`, `--profiling`, `--random_remove`, `--autotune`,
`--iteration_per_loop`, `--loss_scale_flag`, `--loss_scale_value`), which have no Keras meaning; Keras' own
dynamic loss scaling is used under mixed_float16.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LeNetHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(64, gt=0, description="Images per training step (seed --batch_size).")
    learning_rate: float = Field(
        0.001,
        gt=0,
        description="Adam learning rate (seed --learing_rata; parsed but unused there, Adam's 0.001 ruled).",
    )
    steps: int = Field(1000, gt=0, description="Training steps per epoch (seed --steps).")
    epochs: int = Field(5, gt=0, description="Epochs; total steps = epochs * steps (seed --epochs).")
    seed: int = Field(0, ge=0, description="Seeds weight init, batch order and the evaluation sample.")
    checkpoint_every: int | None = Field(
        None,
        gt=0,
        description="Save a checkpoint every this many steps (and at the end); default: `steps`, once per epoch.",
    )
    keep_checkpoints: int = Field(
        5, gt=0, description="Newest checkpoints kept in the output dir; older ones are deleted (seed --ckpt_count)."
    )
    eval_batches: int = Field(
        10, gt=0, description="Test batches of batch_size averaged for the seed's `accuracy` (10 x 64 = 640 images)."
    )
    log_every: int = Field(100, gt=0, description="Print the seed's per-step log line every this many steps.")
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = Field(
        "float32", description="Keras dtype policy (seed --precision_mode allow_mix_precision -> mixed_float16)."
    )
    export: bool = Field(
        True,
        description="At the end, export the inference model (SavedModel + frozen graph on the TensorFlow backend).",
    )

    @property
    def checkpoint_interval(self) -> int:
        # Resolved here, not in a validator: the JSON sent to the job keeps `null`, so a later override of
        # `steps` (e.g. a platform parameter) still moves the default with it.
        return self.checkpoint_every or self.steps

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps
