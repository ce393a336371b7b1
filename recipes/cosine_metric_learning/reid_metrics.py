"""Re-identification scores in NumPy: CMC and mAP on a query/gallery split, and the original's validation CMC.

Market-1501 protocol (Zheng et al. 2015, the dataset's evaluation kit): rank the whole gallery by distance to
each query; gallery images of the query's person seen by the query's camera, and junk detections (person -1),
are removed from that query's ranking; the rest of the query's person are the true matches; distractors
(person 0) stay as negatives. CMC@k = share of queries with a true match in the top k; AP per query as the kit
computes it (the mean of the precision just before and at each hit), mAP = its mean. Queries without any true
match are left out, as the kit does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recipes.cosine_metric_learning.sampling import GALLERY_SEED, probe_and_gallery


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - cos between rows of a [N, D] and b [M, D]."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return 1.0 - a @ b.T


def average_precision(hit_ranks: np.ndarray) -> float:
    """AP from the 0-based ranks of the true matches in a junk-free ranking (compute_AP.m)."""
    hit_ranks = np.sort(hit_ranks)
    n = len(hit_ranks)
    ap = 0.0
    for i, rank in enumerate(hit_ranks):
        precision = (i + 1) / (rank + 1)
        before = i / rank if rank else 1.0
        ap += (before + precision) / (2 * n)
    return ap


def rank_queries(
    distances: np.ndarray,
    query_ids: np.ndarray,
    query_cameras: np.ndarray,
    gallery_ids: np.ndarray,
    gallery_cameras: np.ndarray,
    ranks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """{'rank1': .., 'rank5': .., 'rank10': .., 'mAP': .., 'queries': n} for distances [Q, G]."""
    first_hits, aps = [], []
    for q in range(len(query_ids)):
        junk = (gallery_ids == -1) | ((gallery_ids == query_ids[q]) & (gallery_cameras == query_cameras[q]))
        order = np.argsort(distances[q], kind="stable")
        order = order[~junk[order]]
        hits = np.flatnonzero(gallery_ids[order] == query_ids[q])
        if len(hits) == 0:
            continue
        first_hits.append(hits[0])
        aps.append(average_precision(hits))
    first = np.asarray(first_hits)
    scores = {f"rank{k}": float(np.mean(first < k)) if len(first) else 0.0 for k in ranks}
    scores["mAP"] = float(np.mean(aps)) if aps else 0.0
    scores["queries"] = float(len(first))
    return scores


def validation_cmc(
    features: np.ndarray, ids: np.ndarray, cameras: np.ndarray, num_galleries: int, ranks: Sequence[int] = (1, 5, 10, 20)
) -> dict[str, float]:
    """The original eval loop: mean CMC over `num_galleries` random probe/gallery draws (seed 4321 + i), each
    with one image per identity on each side; reported as Precision@k."""
    curves = []
    for i in range(num_galleries):
        probe, gallery = probe_and_gallery(ids, cameras, GALLERY_SEED + i)
        if len(probe) == 0:
            continue
        distances = cosine_distance(features[probe], features[gallery])
        # Rank of the probe's own gallery image (gallery j belongs to probe j).
        true = distances[np.arange(len(probe)), np.arange(len(probe))]
        rank_of_match = (distances < true[:, None]).sum(axis=1)
        curves.append([np.mean(rank_of_match < k) for k in ranks])
    mean = np.mean(curves, axis=0) if curves else np.zeros(len(ranks))
    return {f"Precision@{k}": float(v) for k, v in zip(ranks, mean, strict=True)}
