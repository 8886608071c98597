"""miniImageNet (paper B, Table 6) from disk: two layouts, every class pooled and split, resized to 84².

:mod:`mixact_lib.data.readers` finds the folder and calls :func:`read_miniimagenet`; the result is
an ordinary :class:`~mixact_lib.data.raw.RawData`, so ``load_dataset("miniimagenet")`` feeds the
same in-memory training engine as every other dataset (60,000 × 3 × 84 × 84 uint8 ≈ 1.3 GB).
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from .raw import RawData, stratified_split

#: miniImageNet images are resized to this many pixels square (Vinyals et al. 2016; Ravi & Larochelle's files)
MINIIMAGENET_SIZE = 84
#: our choice, as paper B (Table 6) states no split: each class's 600 images → 500 train / 100 test
MINIIMAGENET_TEST_FRACTION = 1 / 6
#: fixed like FER_SPLIT_SEED, so the miniImageNet test set never moves with the training seed
MINIIMAGENET_SPLIT_SEED = 0
#: decoding more image files than this shows a tqdm progress bar (60,000 files take minutes)
PROGRESS_MIN_FILES = 2000

MINI_FOLDERS = ("mini-imagenet", "miniimagenet")  # either name, either layout
MINI_CSVS = ("train.csv", "val.csv", "test.csv")
_IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})  # compared lower-cased: ImageNet's own files end .JPEG


def mini_layout(folder: Path) -> str:
    """"csv" or "folders" if ``folder`` holds miniImageNet in that layout, else what is wrong (for the error)."""
    if not folder.is_dir():
        return "no such folder"
    if any((folder / f).is_file() for f in MINI_CSVS):
        missing = [f for f in (*MINI_CSVS, "images/") if not (folder / f).exists()]
        return f"missing {', '.join(missing)}" if missing else "csv"
    if mini_class_dirs(folder):
        return "folders"
    return "neither train.csv/val.csv/test.csv nor class folders holding .jpg/.png images"


def mini_class_dirs(folder: Path) -> list[Path]:
    """Sub-folders with images, in ``folder`` or, where they exist, in its train/, val/, test/."""
    parents = [folder / s for s in ("train", "val", "test") if (folder / s).is_dir()] or [folder]
    return [c for p in parents for c in sorted(p.iterdir())
            if c.is_dir() and any(f.suffix.lower() in _IMAGE_SUFFIXES for f in c.iterdir())]


def read_miniimagenet(path: Path) -> RawData:
    """miniImageNet, both layouts, → uint8 (N, 3, 84, 84); every class pooled, then split per class.

    (a) Ravi & Larochelle: ``train.csv``, ``val.csv``, ``test.csv`` (header ``filename,label``, label a
    WordNet id such as ``n01532829``) and the files in ``images/``. (b) class folders ``<wnid>/*.jpg``
    (or .png), optionally under ``train/``, ``val/``, ``test/``. The few-shot splits have disjoint
    classes (64/16/20), useless for classification, so all classes are pooled (sorted wnids are the
    labels) and each class is split by :func:`stratified_split` with :data:`MINIIMAGENET_TEST_FRACTION`
    and :data:`MINIIMAGENET_SPLIT_SEED` — our choice, paper B's Table 6 states none. Images are
    squashed to :data:`MINIIMAGENET_SIZE` square (Lanczos, no crop: how the standard files were made).
    """
    files: list[Path] = []
    wnids: list[str] = []
    if mini_layout(path) == "csv":
        layout = "split CSVs + images/"
        for name in MINI_CSVS:
            with open(path / name, newline="") as f:
                reader = csv.DictReader(f)
                if not {"filename", "label"} <= set(reader.fieldnames or ()):
                    raise ValueError(f"{name}: expected header filename,label, found {reader.fieldnames}")
                for row in reader:
                    files.append(path / "images" / row["filename"].strip())
                    wnids.append(row["label"].strip())
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise ValueError(f"{len(missing)} of the {len(files)} files listed in the CSVs are not in "
                             f"{path / 'images'}/, e.g. {missing[0].name}")
    else:
        layout = "class folders"
        for class_dir in mini_class_dirs(path):
            for f in sorted(class_dir.iterdir()):
                if f.suffix.lower() in _IMAGE_SUFFIXES:
                    files.append(f)
                    wnids.append(class_dir.name)
    if not files:
        raise ValueError("the split CSVs list no images")
    classes = tuple(sorted(set(wnids)))
    # a fixed order (class, file name), so both layouts of the same files give the same split
    order = sorted(range(len(files)), key=lambda i: (wnids[i], files[i].name, str(files[i])))
    label_of = {c: k for k, c in enumerate(classes)}
    y = torch.tensor([label_of[wnids[i]] for i in order], dtype=torch.int64)
    train_idx, test_idx = stratified_split(y, MINIIMAGENET_TEST_FRACTION,
                                           torch.Generator().manual_seed(MINIIMAGENET_SPLIT_SEED))
    picked = torch.cat([train_idx, test_idx]).tolist()
    x = _decode_images([files[order[i]] for i in picked])  # one buffer, train rows first: no copy to split
    n_train = len(train_idx)
    source = (f"{path}/ ({layout}: {len(y)} images of {len(classes)} classes, resized to {MINIIMAGENET_SIZE}×"
              f"{MINIIMAGENET_SIZE}, split {n_train}/{len(test_idx)} stratified, seed {MINIIMAGENET_SPLIT_SEED})")
    return RawData(x[:n_train], y[train_idx], x[n_train:], y[test_idx], classes, source)


def _decode_images(files: list[Path]) -> Tensor:
    """Decode and resize to MINIIMAGENET_SIZE² RGB with PIL → uint8 (N, 3, S, S); a progress bar for many files."""
    from PIL import Image

    size = MINIIMAGENET_SIZE
    out = np.empty((len(files), 3, size, size), dtype=np.uint8)
    bar = tqdm(files, desc="decoding miniImageNet", unit="img", file=sys.stderr,
               disable=len(files) <= PROGRESS_MIN_FILES)
    for i, f in enumerate(bar):
        with Image.open(f) as img:
            img.draft("RGB", (size, size))  # JPEG: decode at the smallest DCT scale still ≥ size (several × faster)
            out[i] = np.asarray(img.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)).transpose(2, 0, 1)
    return torch.from_numpy(out)
