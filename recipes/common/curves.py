"""Training curves as a PNG (matplotlib's Agg backend: no display in a job)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def plot_curves(
    path: Path,
    loss: Sequence[tuple[int, float]],
    accuracy: Sequence[tuple[int, float]],
    title: str,
    accuracy_label: str = "test accuracy",
) -> Path:
    """Loss (left axis) and accuracy (right axis) against the global step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        if loss:
            steps, values = zip(*loss, strict=True)
            ax.plot(steps, values, color="tab:blue", label="training loss")
        ax.set_xlabel("step")
        ax.set_ylabel("loss", color="tab:blue")
        if accuracy:
            right = ax.twinx()
            steps, values = zip(*accuracy, strict=True)
            right.plot(steps, values, "o-", color="tab:orange", label=accuracy_label)
            right.set_ylabel(accuracy_label, color="tab:orange")
            right.set_ylim(0.0, 1.0)
        ax.set_title(title)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
