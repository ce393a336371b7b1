"""`--mode eval` and `--mode export`: the seed's eval.py and export.py, on one trained checkpoint.

The checkpoint is `checkpoint_url` (a `step-N` folder as the trainer writes it: a URL or a local path, the seed's
CHECKPOINT_PATH), else the newest complete one under the job's train_url (the boot core brings it into the job's
checkpoint folder, as for a resumed training run). The model is built and compiled from the same hyperparameters as
the training run (the optimizer state in the checkpoint has to line up), so pass the training run's `--extra/--mlp/
--class_num/--image_size/--precision`.

- eval: top-1/top-5 over the val split's full batches of `eval_batch_size` (remainder dropped, as eval.py's
  drop_remainder), the seed's `result: {'top_5_accuracy': ..., 'top_1_accuracy': ...}` line, `eval.json`;
  only `val/` is needed (its class folders give the labels when there is no `train/`).
- export: `export/genet_<variant>.keras` (+ `export/saved_model/` on TensorFlow), input uint8/float RGB pixels
  0..255 NHWC at image_size, output float32 logits. The seed exported AIR/MINDIR, MindSpore's formats.
"""

from __future__ import annotations

import json
from pathlib import Path

from entry.checkpoints import MANIFEST, is_complete, latest_checkpoint, read_state
from entry.environment import JobEnvironment
from launcher.errors import UserError
from recipes.common.inference_export import save_inference_model
from recipes.common.keras_state import restore_training_state
from recipes.genet_res50.data import BatchLoader, open_val
from recipes.genet_res50.hparams import GENetHyperparameters

EVAL_FILE = "eval.json"
EXPORT_DIR = "export"
FETCHED_DIR = "checkpoint-under-eval"  # in the job's work dir: a checkpoint fetched from checkpoint_url


def find_checkpoint(hp: GENetHyperparameters, env: JobEnvironment) -> Path:
    if hp.checkpoint_url:
        return fetch_checkpoint(hp.checkpoint_url, env.work_dir / FETCHED_DIR)
    newest = latest_checkpoint(env.checkpoint_dir)
    if newest is None:
        raise UserError(
            f"--mode {hp.mode}: no checkpoint in {env.checkpoint_dir}; pass --checkpoint_url (a step-N folder) or "
            "--train_url of the training job"
        )
    return newest


def fetch_checkpoint(url: str, scratch: Path) -> Path:
    """A local checkpoint folder as is; a remote one downloaded into `scratch`. Refused unless complete."""
    from launcher import storage
    from launcher.storage.urls import parse_url

    parsed = parse_url(url)
    if parsed.is_local:
        folder = Path(parsed.path)
    else:
        folder = scratch / (parsed.name or "checkpoint")
        storage.sync(url.rstrip("/") + "/", str(folder))
    if not (folder / MANIFEST).is_file() or not is_complete(folder):
        raise UserError(
            f"checkpoint_url {url}: not a complete checkpoint (a step-N folder with {MANIFEST} and every file it lists)"
        )
    return folder


def run_on_checkpoint(hp: GENetHyperparameters, env: JobEnvironment) -> dict[str, float]:
    import keras

    from recipes.genet_res50.train import compile_genet, evaluate, result_line

    checkpoint = find_checkpoint(hp, env)
    step = int(read_state(checkpoint).get("step", 0))
    model = compile_genet(hp, total_steps=1)
    try:
        restore_training_state(model, checkpoint)
    except ValueError as error:  # written by a run with other hyperparameters
        raise UserError(f"{checkpoint}: {error}") from None
    print(
        f"GE-{hp.variant}: {hp.mode} of {checkpoint} (step {step}); backend {keras.backend.backend()}",
        flush=True,
    )
    if hp.mode == "export":
        written = save_inference_model(model, env.output_dir / EXPORT_DIR, f"genet_{hp.variant}.keras")
        for kind, path in written.items():
            print(f"exported {kind}: {path}", flush=True)
        return {"steps": float(step), "exports": float(len(written))}

    val = open_val(env.data_dir)
    if len(val.classes) != hp.class_num:
        raise UserError(f"class_num={hp.class_num} but {env.data_dir} has {len(val.classes)} class folders")
    with BatchLoader(val, hp.image_size, False, hp.seed, hp.workers, hp.prefetch) as loader:
        result = evaluate(model, loader, min(hp.eval_batch_size, len(val)))
    print(result_line(result), flush=True)
    if env.is_chief:
        env.output_dir.mkdir(parents=True, exist_ok=True)
        (env.output_dir / EVAL_FILE).write_text(
            json.dumps({k: result[k] for k in ("top_5_accuracy", "top_1_accuracy")})
        )
    return {**result, "steps": float(step)}
