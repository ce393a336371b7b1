"""MARS (Zheng et al. 2016) as the original datasets/mars.py reads it, plus the evaluation kit's track lists.

Layout (MARS-evaluation-master/ with the image folders beside info/, unpacked or as .zip files):
  bbox_train/<pid4>/<pid4>C<c>T<tttt>F<fff>.jpg   training tracklets; label = int(folder)
  bbox_test/<pid4 or 00-1>/...                     test images; folder 00-1 (junk) -> label -1, 0000 distractors
  info/test_name.txt                                the test image names in the kit's order
  info/tracks_test_info.mat (track_test_info: rows start, end, person, camera; 1-based inclusive)
  info/query_IDX.mat (query_IDX: 1-based rows of track_test_info)
Camera = the character after 'C', tracklet = the four digits after 'T', as `int(f[5])` and `int(f[7:11])`.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from recipes.common.filetree import FileTree
from recipes.cosine_metric_learning.images import DataError, ReidSet

MAX_LABEL = 1500
TRAIN_DIR, TEST_DIR, INFO_DIR = "bbox_train", "bbox_test", "info"
_NAME = re.compile(r"^(\d{4}|00-1)C(\d)T(\d{4})F(\d{3})\.jpg$")
NAME_HELP = "<pid4>C<c>T<tttt>F<fff>.jpg in a <pid4> folder, e.g. 0001/0001C1T0001F001.jpg"


def _label(folder: str) -> int:
    return int(folder) if folder.isdigit() else -1


def read_split(tree: FileTree, folder: str) -> ReidSet:
    names, ids, cameras, tracks = [], [], [], []
    for person in tree.folders_in(folder):
        for name in tree.files_in(f"{folder}/{person}"):
            filename = name.rsplit("/", 1)[-1]
            if not filename.endswith(".jpg"):
                continue
            match = _NAME.match(filename)
            if match is None or match.group(1) != person:
                raise DataError(f"{name}: not a MARS image name; expected {NAME_HELP}")
            names.append(name)
            ids.append(_label(person))
            cameras.append(int(match.group(2)))
            tracks.append(int(match.group(3)))
    as_int = lambda v: np.asarray(v, np.int64)
    return ReidSet(tree, names, as_int(ids), as_int(cameras), as_int(tracks))


class TestTracks(NamedTuple):
    images: ReidSet  # bbox_test in test_name.txt order
    tracks: np.ndarray  # int64 [T, 4]: start, end (0-based, inclusive), person, camera
    query: np.ndarray  # int64 [Q]: 0-based rows of `tracks`


class Mars(NamedTuple):
    train: ReidSet
    test: TestTracks | None  # None when the evaluation kit's info/ files are absent


def _mat(tree: FileTree, name: str, key: str) -> np.ndarray:
    import scipy.io

    try:
        return np.asarray(scipy.io.loadmat(io.BytesIO(tree.read(name)))[key])
    except KeyError:
        raise DataError(f"{name}: no variable {key!r} in this .mat file") from None


def _test_tracks(tree: FileTree, root: str) -> TestTracks | None:
    info = f"{root}/{INFO_DIR}" if root else INFO_DIR
    wanted = [f"{info}/test_name.txt", f"{info}/tracks_test_info.mat", f"{info}/query_IDX.mat"]
    if not all(w in tree for w in wanted):
        return None
    test_dir = f"{root}/{TEST_DIR}" if root else TEST_DIR
    order = tree.read(wanted[0]).decode().split()
    names = [f"{test_dir}/{n[:4]}/{n}" for n in order]
    missing = [n for n in names if n not in tree]
    if missing:
        raise DataError(f"{wanted[0]} lists {len(missing)} images not found in {test_dir}/, e.g. {missing[0]}")
    ids = np.asarray([_label(n[:4]) for n in order], np.int64)
    cameras = np.asarray([int(n[5]) for n in order], np.int64)
    tracks = _mat(tree, wanted[1], "track_test_info").astype(np.int64).reshape(-1, 4).copy()
    tracks[:, :2] -= 1  # MATLAB's 1-based rows
    query = _mat(tree, wanted[2], "query_IDX").astype(np.int64).ravel() - 1
    if tracks[:, 1].max(initial=-1) >= len(names) or query.max(initial=-1) >= len(tracks):
        raise DataError(f"{info}: track rows point past the {len(names)} images of test_name.txt")
    return TestTracks(ReidSet(tree, names, ids, cameras), tracks, query)


def load_mars(data_dir: Path) -> Mars:
    tree = FileTree(data_dir)
    root = tree.find_folder_holding(TRAIN_DIR)
    if root is None:
        raise DataError(
            f"no MARS layout in {data_dir} (found: {tree.describe()}): expected {TRAIN_DIR}/ (and {TEST_DIR}/, "
            f"{INFO_DIR}/ for evaluation) with images named {NAME_HELP}"
        )
    train = read_split(tree, f"{root}/{TRAIN_DIR}" if root else TRAIN_DIR)
    if not len(train):
        raise DataError(f"{data_dir}: {TRAIN_DIR}/ holds no .jpg images")
    return Mars(train, _test_tracks(tree, root))
