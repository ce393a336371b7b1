"""GENet_Res50 hyperparameters: the seed's src/config.py and flags, validated before any data moves.

Imported by the CLI to check overrides quickly, so it must not import keras or tensorflow.

Seed settings not carried over: `pretrain_epoch_size` / `PRETRAINED_CKPT_PATH` (a job resumes from its own
checkpoints instead), the HCCL rank table and DEVICE_ID (all visible devices are used), `save_checkpoint_path`
(checkpoints go to the job's output). `loss_scale` is Keras' LossScaleOptimizer's starting scale under
mixed_float16; unlike MindSpore's FixedLossScaleManager it still halves (and skips the step) on an overflow.

`--mode eval` is the seed's eval.py (`run_eval.sh DATASET_PATH CHECKPOINT_PATH`): `checkpoint_url` names the
checkpoint, else the newest one of the job's train_url; `--mode export` is its export.py, writing Keras / SavedModel
files instead of AIR/MINDIR.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


SEED_GLOBAL_BATCH = 2048  # the seed's lr_init 0.8 is for 8 cards x batch 256


class GENetHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["train", "eval", "export"] = Field(
        "train",
        description="train; eval (the seed's eval.py: top-1/top-5 on val of one checkpoint); export (the seed's "
        "export.py: an inference model as .keras, + SavedModel on TensorFlow).",
    )
    checkpoint_url: str | None = Field(
        None,
        description="eval/export: the checkpoint folder (step-N, a URL or a path; the seed's CHECKPOINT_PATH). "
        "Default: the newest checkpoint under the job's train_url.",
    )

    extra: bool = Field(
        True,
        description="Seed EXTRA flag: parametrised gather (theta / theta+); False = theta-.",
    )
    mlp: bool = Field(
        True,
        description="Seed MLP flag: 1x1-conv MLP after the gather (theta+); needs extra.",
    )
    class_num: int = Field(
        1000,
        ge=2,
        description="Classes (seed class_num); the data's class folders must match.",
    )
    image_size: int = Field(
        224, ge=32, description="Training/eval crop side (seed 224)."
    )
    batch_size: int = Field(
        256,
        gt=0,
        description="Images per step per device (seed batch_size); global = x devices.",
    )
    epoch_size: int | None = Field(
        None,
        gt=0,
        description="Epochs (seed epoch_size); default 150, or 220 for theta- (its config).",
    )
    steps: int | None = Field(
        None,
        gt=0,
        description="Stop after this many steps in all (demos, --perf); the lr still decays over epochs.",
    )
    lr_init: float = Field(
        0.8, gt=0, description="Initial learning rate (seed lr_init), as given unless lr_scale_by_batch."
    )
    lr_scale_by_batch: bool = Field(
        False,
        description="Scale lr_init and lr_end linearly by global batch / 2048 (the seed's 8 x 256): 0.8 -> 0.1 on "
        "one device at batch 256. Off: the values are used as given (the seed's literal 0.8).",
    )
    lr_end: float = Field(
        0.0, ge=0, description="Final learning rate of the linear decay (seed lr_end)."
    )
    decay_mode: Literal["linear", "cosine"] | None = Field(
        None,
        description="Per-step lr decay; default linear, cosine for theta- (its config). No warm-up.",
    )
    momentum: float = Field(
        0.9, ge=0, lt=1, description="SGD momentum (seed Momentum optimizer)."
    )
    weight_decay: float = Field(
        1e-4,
        ge=0,
        description="Weight decay on conv/dense kernels only, not BN or biases.",
    )
    label_smooth_factor: float = Field(
        0.1, ge=0, lt=1, description="0 disables (seed use_label_smooth True, 0.1)."
    )
    loss_scale: float = Field(
        1024.0, gt=0, description="Initial loss scale under mixed_float16 (seed 1024)."
    )
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = Field(
        "mixed_float16",
        description="Keras dtype policy (seed amp_level O2 = float16 network, float32 BN/loss).",
    )
    bn_momentum: float = Field(
        0.997,
        gt=0,
        lt=1,
        description="Bottleneck and shortcut BN momentum, weight of the old moving value (nn.Conv2dBnAct 0.997).",
    )
    gather_bn_momentum: float = Field(
        0.9,
        gt=0,
        lt=1,
        description="Gather BN momentum (nn.BatchNorm2d 0.9).",
    )
    save_checkpoint_epochs: int = Field(
        5, gt=0, description="Checkpoint every N epochs (seed code 5) and at the end."
    )
    keep_checkpoint_max: int = Field(
        5, gt=0, description="Newest checkpoints kept (seed keep_checkpoint_max)."
    )
    eval_every_epochs: int | None = Field(
        None,
        gt=0,
        description="Top-1/top-5 on val every N epochs (not in the seed, which evaluates separately).",
    )
    eval_batch_size: int = Field(
        256, gt=0, description="Eval batch (seed 256, remainder dropped)."
    )
    crop_min_area: float = Field(
        0.08,
        gt=0,
        le=1,
        description="Smallest area fraction of the training crop (seed RandomCropDecodeResize scale 0.08-1); "
        "1 keeps the whole image and only jitters the aspect ratio.",
    )
    workers: int | None = Field(
        None, gt=0, description="JPEG decode threads; default: every CPU core."
    )
    prefetch: int = Field(
        2, ge=1, description="Batches decoded ahead of the training step."
    )
    log_every: int = Field(
        100, gt=0, description="Print the loss line every this many steps."
    )
    seed: int = Field(
        1,
        ge=0,
        description="Seeds init, batch order and augmentation (seed set_seed(1)).",
    )

    @model_validator(mode="after")
    def _mlp_needs_extra(self) -> GENetHyperparameters:
        if self.mlp and not self.extra:
            raise ValueError(
                "mlp=True needs extra=True (theta+ is theta plus the MLP); theta- is extra=False, mlp=False"
            )
        return self

    @property
    def variant(self) -> str:
        return "theta_plus" if self.mlp else "theta" if self.extra else "theta_minus"

    @property
    def epochs(self) -> int:
        return self.epoch_size or (150 if self.extra else 220)

    def learning_rates(self, global_batch: int) -> tuple[float, float]:
        """(lr_init, lr_end) for this global batch: as given, or linearly scaled from the seed's 2048."""
        scale = global_batch / SEED_GLOBAL_BATCH if self.lr_scale_by_batch else 1.0
        return self.lr_init * scale, self.lr_end * scale

    @property
    def decay(self) -> str:
        return self.decay_mode or ("linear" if self.extra else "cosine")
