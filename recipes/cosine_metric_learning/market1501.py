"""Market-1501 (Zheng et al. 2015) as the original datasets/market1501.py reads it.

Layout (Market-1501-v15.09.15/, unpacked or as the release .zip): bounding_box_train/ (training identities),
bounding_box_test/ (the gallery), query/, and gt_query/ (not needed: the junk images follow from the names).
File names `PPPP_cCsS_FFFFFF_DD.jpg`, e.g. 0002_c1s1_000451_03.jpg: person 2, camera 1, sequence 1, frame 451,
detection 3. Person -1 marks junk detections, 0000 distractors. Files that are not .jpg are skipped, and a double
extension (x.jpg.jpg) is tolerated, as in the original; a .jpg whose name does not parse is an error.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import numpy as np

from recipes.common.filetree import FileTree
from recipes.cosine_metric_learning.images import DataError, ReidSet

MAX_LABEL = 1501  # person ids run to 1501: 1502 logits, as the original
TRAIN_DIR, GALLERY_DIR, QUERY_DIR = "bounding_box_train", "bounding_box_test", "query"
_NAME = re.compile(r"^(-1|\d{4})_c(\d)s(\d)_(\d{6})_(\d{2})$")
NAME_HELP = "PPPP_cCsS_FFFFFF_DD.jpg, e.g. 0002_c1s1_000451_03.jpg (person, camera, sequence, frame, detection)"


class MarketName(NamedTuple):
    person_id: int
    camera: int
    sequence: int
    frame: int
    detection: int


def image_stem(filename: str) -> tuple[str, str]:
    """(stem, extension), seeing through one doubled extension as the original does."""
    stem, ext = PurePosixPath(filename).stem, PurePosixPath(filename).suffix
    if "." in stem:
        stem, ext = PurePosixPath(stem).stem, PurePosixPath(stem).suffix
    return stem, ext


def parse_market_name(filename: str) -> MarketName:
    stem, _ = image_stem(PurePosixPath(filename).name)
    match = _NAME.match(stem)
    if match is None:
        raise DataError(f"{filename}: not a Market-1501 image name; expected {NAME_HELP}")
    person, camera, sequence, frame, detection = match.groups()
    if camera == "0":
        raise DataError(f"{filename}: camera c0 does not exist (Market-1501 cameras are c1..c6); expected {NAME_HELP}")
    return MarketName(int(person), int(camera), int(sequence), int(frame), int(detection))


def read_split(tree: FileTree, folder: str) -> ReidSet:
    names, ids, cameras = [], [], []
    for name in tree.files_in(folder):
        if image_stem(name)[1] != ".jpg":
            continue
        parsed = parse_market_name(name)
        names.append(name)
        ids.append(parsed.person_id)
        cameras.append(parsed.camera)
    return ReidSet(tree, names, np.asarray(ids, np.int64), np.asarray(cameras, np.int64))


class Market1501(NamedTuple):
    train: ReidSet
    gallery: ReidSet  # bounding_box_test; empty when absent
    query: ReidSet


def load_market1501(data_dir: Path) -> Market1501:
    tree = FileTree(data_dir)
    root = tree.find_folder_holding(TRAIN_DIR)
    if root is None:
        raise DataError(
            f"no Market-1501 layout in {data_dir} (found: {tree.describe()}): expected a folder (or the release "
            f".zip) holding {TRAIN_DIR}/, {GALLERY_DIR}/ and {QUERY_DIR}/ with images named {NAME_HELP}"
        )
    split = {d: read_split(tree, f"{root}/{d}" if root else d) for d in (TRAIN_DIR, GALLERY_DIR, QUERY_DIR)}
    if not len(split[TRAIN_DIR]):
        raise DataError(f"{data_dir}: {root + '/' if root else ''}{TRAIN_DIR}/ holds no .jpg images")
    if (len(split[GALLERY_DIR]) == 0) != (len(split[QUERY_DIR]) == 0):
        present, absent = (GALLERY_DIR, QUERY_DIR) if len(split[GALLERY_DIR]) else (QUERY_DIR, GALLERY_DIR)
        raise DataError(f"{data_dir}: {present}/ has images but {absent}/ has none; evaluation needs both")
    return Market1501(split[TRAIN_DIR], split[GALLERY_DIR], split[QUERY_DIR])
