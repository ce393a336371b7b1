"""GitLoss hyperparameters: the seed's flags and the original code's hard-coded values.

Imported by the CLI to check overrides quickly, so it must not import keras or tensorflow.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class GitLossHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: int = Field(8000, gt=0, description="Training steps (seed --steps).")
    update_centers: int = Field(
        1000,
        gt=0,
        description="Evaluate, log and plot every this many steps (seed --update_centers; the centers "
        "themselves move every step, as in the original code).",
    )
    lambda_c: float = Field(1.0, ge=0, description="Center-loss weight (seed --lambda_c).")
    lambda_g: float = Field(1.0, ge=0, description="Git (push) loss weight (seed --lambda_g).")
    batch_size: int = Field(128, gt=0, description="Images per step (hard-coded 128 in the original code).")
    learning_rate: float = Field(0.001, gt=0, description="Adam learning rate (original code).")
    center_alpha: float = Field(0.5, gt=0, le=1, description="Center update rate (CENTER_LOSS_ALPHA).")
    seed: int = Field(0, ge=0, description="Seeds weight init and batch order.")
    validation_from: Literal["train", "test"] = Field(
        "train",
        description="'train': the first validation_size train images, as the TF MNIST reader split them; "
        "'test': the t10k files (for small data sets such as the shipped 4,000/1,000 subset).",
    )
    validation_size: int = Field(5000, gt=0, description="Validation images (all of them when validation_from=test).")
    checkpoint_every: int | None = Field(
        None, gt=0, description="Save a checkpoint every this many steps (and at the end); default: update_centers."
    )
    keep_checkpoints: int = Field(5, gt=0, description="Newest checkpoints kept; older ones are deleted.")
    log_every: int = Field(100, gt=0, description="Print a short progress line every this many steps.")

    @property
    def checkpoint_interval(self) -> int:
        # Resolved here, not in a validator: the JSON sent to the job keeps `null`, so a later override of
        # `update_centers` still moves the default with it.
        return self.checkpoint_every or self.update_centers
