"""Curves parsed from what jobs really write: tensorboardX event files (also torn mid-write), history.json in
the recipes' shapes, progress.json's history; long series thinned."""

from __future__ import annotations

import json
from pathlib import Path

from tensorboardX import SummaryWriter

from entry.progress import ProgressReport
from launcher.ui import curves


def _event_bytes(folder: Path) -> bytes:
    writer = SummaryWriter(str(folder))
    for step in range(1, 6):
        writer.add_scalar("loss", 1.0 / step, step)
        writer.add_scalar("val/accuracy", step / 10, step)
    writer.add_text("note", "not a scalar", 1)
    writer.close()
    (path,) = folder.glob("events.out.tfevents.*")
    return path.read_bytes()


def test_event_file_scalars_by_tag(tmp_path: Path) -> None:
    series = {s.name: s for s in curves.from_event_file(_event_bytes(tmp_path), "tensorboard")}
    assert set(series) == {"loss", "val/accuracy"}
    assert series["loss"].points[0] == (1.0, 1.0) and series["loss"].points[-1][0] == 5.0
    assert series["val/accuracy"].points[-1][1] == 0.5


def test_a_torn_last_record_is_left_out_not_fatal(tmp_path: Path) -> None:
    data = _event_bytes(tmp_path)
    torn = curves.from_event_file(data[:-7], "tensorboard")
    assert torn and all(len(s.points) >= 4 for s in torn)
    assert curves.from_event_file(b"\x00garbage", "tensorboard") == []


def test_history_in_both_recipe_shapes() -> None:
    lenet = json.dumps({"loss": [[10, 2.1], [20, 1.5]], "accuracy": [[20, 0.8]]}).encode()
    cosine = json.dumps({"train": [{"step": 5, "total_loss": 3.0}], "validation": [{"step": 5, "Precision@1": 0.4}], "final": {"x": 1}}).encode()
    names = {s.name: s.points for s in curves.from_history(lenet) + curves.from_history(cosine)}
    assert names == {
        "loss": [(10.0, 2.1), (20.0, 1.5)],
        "accuracy": [(20.0, 0.8)],
        "train/total_loss": [(5.0, 3.0)],
        "validation/Precision@1": [(5.0, 0.4)],
    }
    assert curves.from_history(b"not json") == [] and curves.from_history(b"[1, 2]") == []


def test_progress_history_and_thinning() -> None:
    report = ProgressReport(step=5000, history=[{"step": s, "loss": 1 / s, "accuracy": float("nan")} for s in range(1, 5001)])
    (loss,) = curves.from_progress(report)  # NaN-only series are dropped, not drawn
    assert loss.name == "loss" and len(loss.points) <= curves.MAX_POINTS and loss.points[-1] == (5000.0, 1 / 5000)


def test_merge_joins_event_files_of_one_folder_by_step() -> None:
    first = curves.Series(name="loss", source="tensorboard", points=[(1, 1.0), (2, 0.9)])
    resumed = curves.Series(name="loss", source="tensorboard", points=[(2, 0.8), (3, 0.7)])
    (merged,) = curves.merge([first, resumed])
    assert merged.points == [(1, 1.0), (2, 0.8), (3, 0.7)]
    assert curves.event_source("tensorboard/events.out") == "tensorboard"
    assert curves.event_source("logs/train/events.out") == "tensorboard:logs/train"
