"""SESEMI hyperparameters: the seed's flags (train_evaluate_asl2.py) and the original code's settings.

Imported by the CLI to check overrides quickly, so it must not import keras or tensorflow.

Seed flags not carried over: `--dataset`/`--result`/`--obs_url` (the job's data_dir and output dir, synced by the
launcher), `--gpu_id`, and `--data svhn|cifar100` (only CIFAR-10 is implemented here).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ALL_LABELS = (50_000, 73_257)  # the original's "use every training label" values (CIFAR-10, SVHN)


class SesemiHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: int = Field(1000, gt=0, description="Labelled training images, labels // 10 per class (seed --labels).")
    network: Literal["convnet", "wrn", "nin"] = Field("convnet", description="Trunk (seed --network).")
    width: float = Field(1.0, gt=0, le=1, description="Channel-width multiplier of the trunk (1 = the seed's nets).")
    self_supervised_data: Literal["all", "labelled"] = Field(
        "all",
        description="Images for the self-supervised branch: 'all' training images (the paper and the original "
        "train_evaluate_sesemi.py) or only the 'labelled' subset (the seed port's train_evaluate_asl2.py).",
    )
    batch_size: int = Field(16, gt=0, description="Per step: 6 x batch_size labelled images and batch_size images x 6 transforms.")
    learning_rate: float = Field(0.05, gt=0, description="SGD (Nesterov, momentum 0.9) base rate, poly decay power 0.5.")
    epochs: int | None = Field(
        None, gt=0, description="Default: 50 with self_supervised_data=all (original), 300 with labelled (seed port)."
    )
    steps: int | None = Field(
        None, gt=0, description="Total steps, overriding epochs x steps per epoch (the poly decay then ends here)."
    )
    weight_decay: float = Field(5e-4, ge=0, description="Keras L2 on every conv and dense kernel.")
    head_dropout: float = Field(0.2, ge=0, lt=1, description="Dropout before the supervised head.")
    zca: bool = Field(True, description="ZCA whitening after global contrast normalisation (on for CIFAR-10).")
    hflip: bool = Field(True, description="Random horizontal flips on the supervised stream (on for CIFAR-10).")
    eval_every: int | None = Field(
        None, gt=0, description="Also score the test set every this many steps (default: once, at the end)."
    )
    checkpoint_every: int = Field(1000, gt=0, description="Save a checkpoint every this many steps (and at the end).")
    keep_checkpoints: int = Field(5, gt=0, description="Newest checkpoints kept.")
    log_every: int = Field(100, gt=0, description="Print the two branch losses every this many steps.")
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = Field(
        "float32", description="Keras dtype policy (the seed: no mixed precision)."
    )
    seed: int = Field(0, ge=0, description="Seeds init, batches and augmentation (the labelled subset uses RandomState(1)).")

    def steps_per_epoch(self, num_labelled: int, num_train: int) -> int:
        pool = num_train if self.self_supervised_data == "all" else num_labelled
        return max(1, pool // self.batch_size)

    def total_steps(self, num_labelled: int, num_train: int) -> int:
        if self.steps is not None:
            return self.steps
        epochs = self.epochs or (50 if self.self_supervised_data == "all" else 300)
        return epochs * self.steps_per_epoch(num_labelled, num_train)
