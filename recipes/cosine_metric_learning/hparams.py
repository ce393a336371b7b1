"""Cosine metric learning hyperparameters: the seed's and the original train_app.py's flags.

Imported by the CLI to check overrides quickly, so it must not import keras or tensorflow.

Flags not carried over: `--log_dir`, `--eval_log_dir`, `--run_id` and `--sdk_dir` (the job's output dir holds
checkpoints, TensorBoard events and exports), `--dataset_dir`/`--data_path` (the job's data_dir, from data_url),
`--restore_path` (eval/export/freeze use the newest checkpoint of the job's train_url: submit them with the
training job's `--train_url`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Mode = Literal["train", "eval", "export", "freeze"]
LossMode = Literal["cosine-softmax", "magnet", "triplet"]
Dataset = Literal["market1501", "mars", "mnist"]


class CosineMetricHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Mode = Field(
        "train",
        description="train; eval (CMC rank-1/5/10 and mAP on query/gallery); export (features to .mat); "
        "freeze (an image->features inference model) - all but train use the newest checkpoint.",
    )
    dataset: Dataset = Field(
        "market1501",
        description="Market-1501 (train_market1501.py) or MARS (train_mars.py); mnist: MNIST idx files with digits "
        "0-7 as 8 identities, validated closed-set on the test split (a small real-data check, not in the seed).",
    )
    loss_mode: LossMode = Field("cosine-softmax", description="The loss minimised (seed --loss_mode).")
    max_label: int | None = Field(
        None, gt=0, description="Highest person id: max_label + 1 logits. Default: the data set's (MAX_LABEL 1501 "
        "for Market-1501, 1500 for MARS, 8 for mnist).",
    )
    batch_size: int = Field(128, gt=0, description="Images per step: identities x images_per_id (seed 128).")
    images_per_id: int = Field(4, gt=0, description="Images of each identity in a batch (num_images_per_id).")
    learning_rate: float = Field(1e-3, gt=0, description="Adam learning rate (seed --learning_rate).")
    steps: int = Field(100_000, gt=0, description="Training steps (seed --steps / --number_of_steps).")
    image_height: int = Field(128, ge=16, description="Network input height (IMAGE_SHAPE 128,64,3).")
    image_width: int = Field(64, ge=8, description="Network input width.")
    bn_momentum: float = Field(
        0.999, gt=0, lt=1, description="Batch-norm moving-average weight of the old value (slim decay 0.999)."
    )
    dropout: float = Field(0.4, ge=0, lt=1, description="Dropout rate (the original's keep_prob 0.6).")
    weight_decay: float = Field(1e-8, ge=0, description="slim l2_regularizer scale on conv/FC kernels.")
    validation_fraction: float = Field(
        0.1, ge=0, lt=1, description="Fraction of training identities held out for validation (seed 1234); "
        "ignored for mnist, which validates on the test split's images of the training identities.",
    )
    num_galleries: int = Field(
        10, gt=0, description="Random probe/gallery draws per validation CMC (the original: 10, MARS 20)."
    )
    eval_every: int = Field(1000, gt=0, description="Validation CMC every this many steps (the original: every 60 s).")
    checkpoint_every: int = Field(1000, gt=0, description="Save a checkpoint every this many steps (and at the end).")
    keep_checkpoints: int = Field(5, gt=0, description="Newest checkpoints kept.")
    log_every: int = Field(100, gt=0, description="Log loss, accuracy and the monitored losses every this many steps.")
    test_eval: bool = Field(True, description="After training, run eval on query/gallery when the data has them.")
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = Field(
        "float32", description="Keras dtype policy (the seed ran allow_mix_precision on Ascend)."
    )
    seed: int = Field(0, ge=0, description="Seeds weight init, batch draws and flips.")

    @model_validator(mode="after")
    def _whole_identities(self) -> CosineMetricHyperparameters:
        if self.batch_size % self.images_per_id:
            raise ValueError(f"batch_size {self.batch_size} is not a multiple of images_per_id {self.images_per_id}")
        return self

    @property
    def ids_per_batch(self) -> int:
        return self.batch_size // self.images_per_id
