"""The data set a job reads, whichever layout: training identities, and the query/gallery used to score it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from recipes.cosine_metric_learning import digits, market1501, mars
from recipes.cosine_metric_learning.images import DataError, ReidSet

Embed = Callable[[ReidSet], np.ndarray]  # images -> unit features [N, 128]


class TestProtocol(NamedTuple):
    """What eval scores and export writes: query and gallery items with their ids and cameras."""

    query_ids: np.ndarray
    query_cameras: np.ndarray
    gallery_ids: np.ndarray
    gallery_cameras: np.ndarray
    features: Callable[[Embed], tuple[np.ndarray, np.ndarray]]  # -> (query features, gallery features)
    export: Callable[[Embed], dict[str, np.ndarray]]  # -> {.mat file stem: features}, as the original exports


class ReidData(NamedTuple):
    train: ReidSet
    num_classes: int
    test: TestProtocol | None
    validation: ReidSet | None = None  # closed-set validation images (mnist); None: hold out training identities


def _market_protocol(data: market1501.Market1501) -> TestProtocol:
    def features(embed: Embed) -> tuple[np.ndarray, np.ndarray]:
        return embed(data.query), embed(data.gallery)

    def export(embed: Embed) -> dict[str, np.ndarray]:
        query, gallery = features(embed)
        return {"feat_test": gallery, "feat_query": query}

    return TestProtocol(data.query.ids, data.query.cameras, data.gallery.ids, data.gallery.cameras, features, export)


def track_features(image_features: np.ndarray, tracks: np.ndarray) -> np.ndarray:
    """Mean of each track's image features, re-normalised (the seed's edit of process_box_features.m)."""
    means = np.stack([image_features[start : end + 1].mean(axis=0) for start, end in tracks[:, :2]])
    return means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)


def _mars_protocol(test: mars.TestTracks) -> TestProtocol:
    def features(embed: Embed) -> tuple[np.ndarray, np.ndarray]:
        tracks = track_features(embed(test.images), test.tracks)
        return tracks[test.query], tracks

    def export(embed: Embed) -> dict[str, np.ndarray]:
        return {"feat_test": embed(test.images)}  # per image, in test_name.txt order, for the MATLAB kit

    ids, cameras = test.tracks[:, 2], test.tracks[:, 3]
    return TestProtocol(ids[test.query], cameras[test.query], ids, cameras, features, export)


def load_data(dataset: str, data_dir: Path, max_label: int | None = None) -> ReidData:
    if dataset == "market1501":
        market = market1501.load_market1501(data_dir)
        top = max_label or market1501.MAX_LABEL
        data = ReidData(market.train, top + 1, _market_protocol(market) if len(market.query) else None)
    elif dataset == "mars":
        found = mars.load_mars(data_dir)
        top = max_label or mars.MAX_LABEL
        data = ReidData(found.train, top + 1, _mars_protocol(found.test) if found.test else None)
    else:
        train, validation = digits.load_digit_identities(data_dir)
        top = max_label or digits.MAX_LABEL
        data = ReidData(train, top + 1, None, validation)
    if data.train.ids.max() > top:
        raise DataError(f"{data_dir}: person id {data.train.ids.max()} is above max_label {top}; raise max_label")
    return data
