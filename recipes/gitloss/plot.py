"""The original code's Cluster-Results-{N}.png: the 2-D features coloured by digit, with the class centers."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_embedding(path: Path, features: np.ndarray, labels: np.ndarray, centers: np.ndarray, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6), dpi=100)
    try:
        colors = plt.get_cmap("tab10")
        for digit in range(10):
            mine = labels == digit
            ax.scatter(features[mine, 0], features[mine, 1], s=3, alpha=0.6, color=colors(digit), label=str(digit))
        ax.scatter(centers[:, 0], centers[:, 1], s=60, c="black", marker="x", label="centers")
        ax.legend(loc="upper right", markerscale=3, fontsize=7, ncol=2)
        ax.set_title(title)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
