"""FER2013 (paper C) from Kaggle's csv, split as paper C §A.2 splits it: the "Training" rows, 80/20.

:mod:`~mixact_lib.data.readers` finds the csv and calls :func:`read_fer`; the result is an ordinary
:class:`~mixact_lib.data.raw.RawData`. The split is stratified by class with a fixed seed
(:data:`FER_SPLIT_SEED`), so the test set does not change with the training seed.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from .raw import RawData, stratified_split

#: paper C §A.2: FER's 28,709 "Training" rows are partitioned 80 % train / 20 % test
FER_TEST_FRACTION = 0.2
#: fixed, so every run (whatever its training seed) sees the same FER test set
FER_SPLIT_SEED = 0

_FER_COLUMNS = ("emotion", "pixels")


def read_fer(path: Path, classes: tuple[str, ...]) -> RawData:
    """Kaggle's FER2013 csv → paper C's split: the "Training" rows, 80/20, stratified, seed FER_SPLIT_SEED.

    Accepts ``fer2013.csv`` / ``icml_face_data.csv`` (columns emotion, pixels, Usage; only
    Usage == "Training" is kept) and the challenge's ``train.csv`` (emotion, pixels: all training).
    ``classes`` names the emotion labels 0, 1, ...; a label outside them is an error.
    """
    images, labels = [], []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        if not all(c in header for c in _FER_COLUMNS):
            raise ValueError(f"expected columns emotion, pixels (and optionally Usage), found {header}")
        i_label, i_pixels = header.index("emotion"), header.index("pixels")
        i_usage = header.index("usage") if "usage" in header else None
        for line, row in enumerate(reader, start=2):
            if i_usage is not None and row[i_usage].strip() != "Training":
                continue
            pixels = np.fromstring(row[i_pixels], dtype=np.uint8, sep=" ")
            if pixels.size != 48 * 48:
                raise ValueError(f"line {line}: {pixels.size} pixel values, expected 48*48 = 2304")
            images.append(pixels.reshape(1, 48, 48))
            labels.append(int(row[i_label]))
    if not images:
        raise ValueError("no 'Training' rows")
    x, y = torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64)
    if y.min() < 0 or y.max() >= len(classes):
        raise ValueError(f"emotion labels must be 0..{len(classes) - 1}, found {y.min()}..{y.max()}")
    train_idx, test_idx = stratified_split(y, FER_TEST_FRACTION, torch.Generator().manual_seed(FER_SPLIT_SEED))
    source = (f"{path} ({len(y)} 'Training' rows split {len(train_idx)}/{len(test_idx)}, "
              f"stratified, seed {FER_SPLIT_SEED})")
    return RawData(x[train_idx], y[train_idx], x[test_idx], y[test_idx], classes, source)
