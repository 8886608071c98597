"""Finding and parsing the image datasets' files: raw uint8 arrays, nothing normalised.

:mod:`mixact_lib.data` is the public side (normalised tensors, subsets, batches; the code is in
:mod:`~mixact_lib.data.tensors`) and its docstring says which dataset is which and where the files
go. This module does the work:

1. :func:`search_dirs` lists the folders to look in: ``root``, ``$MIXACT_DATA``, ``./data``,
   then :data:`SYSTEM_DATA_DIRS` (``/usr/share/datasets``, where Debian's
   ``dataset-fashion-mnist`` package puts its files).
2. In each folder every known layout is tried (e.g. ``fashion-mnist/`` and ``FashionMNIST/raw/``;
   for miniImageNet, split CSVs + ``images/`` or class folders, see :mod:`mixact_lib.data.miniimagenet`).
3. If nothing is found and ``download=True``, torchvision's downloader fetches the files into
   ``root``, else ``$MIXACT_DATA``, else ``./data``, under a socket timeout
   (:data:`DOWNLOAD_TIMEOUT_S`) so an offline machine fails in seconds instead of hanging; a
   failed download removes the empty folders it made.
4. Otherwise :class:`DatasetNotFoundError` lists every place tried and the files to put there.

FER2013 and miniImageNet have no downloader, and both are split by their own readers,
:mod:`~mixact_lib.data.fer` and :mod:`~mixact_lib.data.miniimagenet` (see their ``*_TEST_FRACTION``
constants). PASCAL VOC and COCO, for detection, are :mod:`mixact_lib.data.detection`'s job.

Parsed arrays are cached per process (:func:`functools.lru_cache`, keyed on the file location),
so a notebook that loads Fashion-MNIST twice parses it once; :func:`clear_cache` empties it.
"""
from __future__ import annotations

import contextlib
import difflib
import functools
import gzip
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .fer import FER_TEST_FRACTION, read_fer
from .miniimagenet import (MINI_FOLDERS, MINIIMAGENET_SIZE, MINIIMAGENET_SPLIT_SEED, MINIIMAGENET_TEST_FRACTION,
                           mini_layout, read_miniimagenet)
from .raw import RawData

#: how every "not found" message says what <dir> may be
WHERE_DIR = "where <dir> is one of the folders searched (pass root=<dir>, set MIXACT_DATA=<dir>, or use ./data)"
#: folders searched after ``root``, ``$MIXACT_DATA`` and ``./data``; tests may replace it
SYSTEM_DATA_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"),)
#: seconds any one socket operation of a torchvision download may wait before giving up
DOWNLOAD_TIMEOUT_S = 20.0
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass(frozen=True)
class _Spec:
    name: str
    title: str
    kind: str                                  # "idx" | "torchvision" | "fer" | "miniimagenet"
    layouts: tuple[tuple[str, tuple[str, ...]], ...]  # (sub-folder, files needed there)
    url: str                                   # where a person can get the files
    classes: tuple[str, ...] = ()              # empty: taken from the files (CIFAR-100)
    torchvision_class: str | None = None


def _idx_spec(name: str, title: str, flat: str, tv: str, url: str, classes: tuple[str, ...]) -> _Spec:
    files = tuple(f + ".gz" for f in _IDX_FILES)
    return _Spec(name, title, "idx", ((flat, files), (f"{tv}/raw", files)), url, classes, tv)


_DIGITS = tuple(str(k) for k in range(10))
_SPECS: dict[str, _Spec] = {s.name: s for s in (
    _idx_spec("fmnist", "Fashion-MNIST", "fashion-mnist", "FashionMNIST",
              "https://github.com/zalandoresearch/fashion-mnist",
              ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")),
    _idx_spec("mnist", "MNIST", "mnist", "MNIST", "https://ossci-datasets.s3.amazonaws.com/mnist/", _DIGITS),
    _idx_spec("kmnist", "Kuzushiji-MNIST", "kmnist", "KMNIST", "http://codh.rois.ac.jp/kmnist/",
              ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")),
    _Spec("cifar10", "CIFAR-10", "torchvision",
          (("cifar-10-batches-py", (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")),),
          "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (extract it)",
          ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
          "CIFAR10"),
    _Spec("cifar100", "CIFAR-100", "torchvision", (("cifar-100-python", ("train", "test", "meta")),),
          "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz (extract it)", (), "CIFAR100"),
    _Spec("svhn", "SVHN (cropped digits)", "torchvision",
          (("svhn", ("train_32x32.mat", "test_32x32.mat")), ("", ("train_32x32.mat", "test_32x32.mat"))),
          "http://ufldl.stanford.edu/housenumbers/ (format 2; reading .mat needs scipy)", _DIGITS, "SVHN"),
    _Spec("fer2013", "FER2013 (facial expressions)", "fer",
          (("fer2013", ("fer2013.csv", "icml_face_data.csv", "train.csv")), ("", ("fer2013.csv",))),
          "https://www.kaggle.com/c/"
          "challenges-in-representation-learning-facial-expression-recognition-challenge"
          " (fer2013.tar.gz holds fer2013/fer2013.csv; needs a Kaggle login, so no automatic download)",
          ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")),
    _Spec("miniimagenet", "miniImageNet", "miniimagenet",
          (("mini-imagenet", ("(a) train.csv, val.csv, test.csv (header filename,label) + images/<filename>",)),
           ("miniimagenet", ("(b) <wnid>/*.jpg|png, optionally one level down in train/, val/, test/",))),
          "split CSVs of Ravi & Larochelle (2017): https://github.com/twitter/meta-learning-lstm/tree/master/"
          "data/miniImagenet; the images are ILSVRC-2012 training images (https://image-net.org/download.php, "
          "needs a login), cut to the CSVs' 60,000 files e.g. with https://github.com/yaoyao-liu/mini-imagenet-tools"),
)}
_ALIASES = {"fashionmnist": "fmnist", "fer": "fer2013"}


class DatasetNotFoundError(FileNotFoundError):
    """No usable copy of a dataset was found (or downloaded); the message says where to put it."""

    def __init__(self, dataset: str, tried: list[str], needed: str):
        self.dataset, self.tried, self.needed = dataset, tried, needed
        lines = "\n".join(f"  - {t}" for t in tried)
        super().__init__(f"dataset {dataset!r} not found. Places tried:\n{lines}\n{needed}")


def available_datasets() -> list[str]:
    """Canonical names of every dataset :func:`mixact_lib.data.load_dataset` knows, sorted."""
    return sorted(_SPECS)


def canonical_dataset_name(name: str) -> str:
    """Canonical name: lower-cased, ``-``/``_`` dropped, aliases resolved (``Fashion-MNIST`` → ``fmnist``).

    Raises ValueError naming the closest known name and listing all of them.
    """
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a string, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "").replace("_", "")
    key = _ALIASES.get(key, key)
    if key not in _SPECS:
        close = difflib.get_close_matches(key, list(_SPECS) + list(_ALIASES), n=1, cutoff=0.5)
        hint = f" Did you mean {_ALIASES.get(close[0], close[0])!r}?" if close else ""
        raise ValueError(f"unknown dataset {name!r}.{hint} Known datasets: {', '.join(available_datasets())} "
                         f"(aliases: {', '.join(sorted(_ALIASES))}).")
    return key


def search_dirs(root: str | Path | None = None) -> list[Path]:
    """Folders to look in, in order: ``root``, ``$MIXACT_DATA``, ``./data``, :data:`SYSTEM_DATA_DIRS`."""
    dirs = [Path(root).expanduser()] if root is not None else []
    if os.environ.get("MIXACT_DATA"):
        dirs.append(Path(os.environ["MIXACT_DATA"]).expanduser())
    dirs += [Path("data"), *SYSTEM_DATA_DIRS]
    unique: list[Path] = []
    for d in (d.absolute() for d in dirs):  # absolute: the error message must not depend on the cwd
        if d not in unique:
            unique.append(d)
    return unique


def download_dir(root: str | Path | None = None) -> Path:
    """Where a download goes: ``root``, else ``$MIXACT_DATA``, else ``./data``."""
    return search_dirs(root)[0]


def _find_file(folder: Path, name: str) -> Path | None:
    """``name`` in ``folder``; an idx ``.gz`` may also be there uncompressed (torchvision extracts them)."""
    for candidate in (name, name.removesuffix(".gz")):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def _locate(spec: _Spec, dirs: list[Path], tried: list[str]) -> Iterator[Path]:
    """Yield each folder (or, for FER, csv file) holding a complete copy; note the misses in ``tried``."""
    if spec.kind == "miniimagenet":
        for folder in (d / sub for d in dirs for sub in MINI_FOLDERS):
            layout = mini_layout(folder)
            if layout in ("csv", "folders"):
                yield folder
            else:
                tried.append(f"{folder}/: {layout}")
        return
    for d in dirs:
        for sub, files in spec.layouts:
            folder = d / sub if sub else d
            found = {f: _find_file(folder, f) for f in files}
            if spec.kind == "fer":  # any one of the csv formats will do
                hits = [p for p in found.values() if p is not None]
                if hits:
                    yield hits[0]
                    continue
                missing = " or ".join(files)
            elif all(found.values()):
                yield folder
                continue
            else:
                missing = ", ".join(f for f, p in found.items() if p is None)
            tried.append(f"{folder}/: " + (f"missing {missing}" if folder.is_dir() else "no such folder"))


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    # torchvision's urllib calls take no timeout argument, so bound them through the socket default
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _download(spec: _Spec, target: Path) -> None:
    import torchvision.datasets as tvd

    cls = getattr(tvd, spec.torchvision_class)
    with _socket_timeout(DOWNLOAD_TIMEOUT_S):
        if spec.name == "svhn":
            for split in ("train", "test"):
                cls(str(target / "svhn"), split=split, download=True)
        else:
            for train in (True, False):
                cls(str(target), train=train, download=True)


def load_raw(name: str, root: str | Path | None = None, download: bool = True) -> RawData:
    """Find (or download) dataset ``name`` and return its uint8 arrays; see the module docstring."""
    spec = _SPECS[canonical_dataset_name(name)]
    tried: list[str] = []
    for location in _locate(spec, search_dirs(root), tried):
        try:
            return _read(spec.name, str(location))
        except Exception as e:  # a corrupt or foreign file: note it and keep looking
            tried.append(f"{location}: unreadable ({type(e).__name__}: {_short(e)})")
    target = download_dir(root)
    if spec.torchvision_class is None:
        tried.append(f"download: {spec.title} has no automatic download")
    elif not download:
        tried.append(f"download with torchvision into {target}/: not attempted (download=False)")
    else:
        existed = target.exists()
        try:
            _download(spec, target)
            for location in _locate(spec, [target], []):
                raw = _read(spec.name, str(location))
                return RawData(**{**raw.__dict__, "source": raw.source + ", downloaded by torchvision"})
            tried.append(f"download with torchvision into {target}/: finished but the files are not there")
        except Exception as e:  # network down, disk full, checksum mismatch: all end in the same advice
            tried.append(f"download with torchvision into {target}/: failed ({type(e).__name__}: {_short(e)})")
        if not existed:  # a failed download should not leave an empty ./data behind
            _remove_empty_dirs(target)
    raise DatasetNotFoundError(spec.name, tried, _advice(spec))


def _remove_empty_dirs(top: Path) -> None:
    # deepest first; rmdir refuses non-empty folders, so no file is ever removed
    for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [top]:
        with contextlib.suppress(OSError):
            folder.rmdir()


def _short(e: Exception, limit: int = 200) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _advice(spec: _Spec) -> str:
    if spec.kind == "miniimagenet":
        return (f"To fix: put miniImageNet in <dir>/{MINI_FOLDERS[0]}/ or <dir>/{MINI_FOLDERS[1]}/ in either "
                "layout:\n" + "\n".join(f"  {files[0]}" for _, files in spec.layouts)
                + f"\n{WHERE_DIR}.\nSource: {spec.url}.\nminiImageNet has no automatic download. Any image size will do "
                f"(resized to {MINIIMAGENET_SIZE}×{MINIIMAGENET_SIZE}); all classes are pooled and each is split "
                f"{1 - MINIIMAGENET_TEST_FRACTION:.4g}/{MINIIMAGENET_TEST_FRACTION:.4g} into train/test "
                f"(seed {MINIIMAGENET_SPLIT_SEED}; our choice, paper B does not state its split).")
    where = []
    for sub, files in spec.layouts:
        folder = f"<dir>/{sub}/" if sub else "<dir>/"
        joiner = " or " if spec.kind == "fer" else ", "
        where.append(f"  {folder}{' ' * max(1, 24 - len(folder))}{joiner.join(files)}")
    extra = " (the .gz files may also be uncompressed)" if spec.kind == "idx" else ""
    fer = (f"\nFER2013 has no downloader: fetch fer2013.csv (columns emotion, pixels, Usage) by hand. Its "
           f"'Training' rows are split {1 - FER_TEST_FRACTION:.0%}/{FER_TEST_FRACTION:.0%} into train/test "
           f"(paper C §A.2)." if spec.kind == "fer" else "")
    return (f"To fix: put the {spec.title} files in one of these layouts{extra}:\n" + "\n".join(where)
            + f"\n{WHERE_DIR}."
            + f"\nSource: {spec.url}" + fer)


@functools.lru_cache(maxsize=8)
def _read(name: str, location: str) -> RawData:
    """Parse one on-disk copy (cached per process: same dataset and location → same tensors)."""
    spec, path = _SPECS[name], Path(location)
    if spec.kind == "idx":
        x_tr, y_tr, x_te, y_te = (read_idx(_find_file(path, f + ".gz")) for f in _IDX_FILES)
        source = f"{path}/ (idx files)"
        return RawData(_nchw(x_tr), _labels(y_tr), _nchw(x_te), _labels(y_te), spec.classes, source)
    if spec.kind == "fer":
        return read_fer(path, spec.classes)
    if spec.kind == "miniimagenet":
        return read_miniimagenet(path)
    import torchvision.datasets as tvd

    cls = getattr(tvd, spec.torchvision_class)
    if name == "svhn":
        tr, te = (cls(location, split=s, download=False) for s in ("train", "test"))
        xs = tuple(torch.from_numpy(d.data).contiguous() for d in (tr, te))  # already (N, C, H, W)
        ys = (tr.labels, te.labels)
    else:  # CIFAR: torchvision's root is the folder above cifar-*-python/
        tr, te = (cls(str(path.parent), train=t, download=False) for t in (True, False))
        xs = tuple(torch.from_numpy(d.data).permute(0, 3, 1, 2).contiguous() for d in (tr, te))  # NHWC → NCHW
        ys = (tr.targets, te.targets)
    classes = spec.classes or tuple(tr.classes)
    return RawData(xs[0], _labels(ys[0]), xs[1], _labels(ys[1]), classes, f"{path}/ (read by torchvision)")


def clear_cache() -> None:
    """Forget every parsed dataset (the next load reads the files again)."""
    _read.cache_clear()


def read_idx(path: Path) -> np.ndarray:
    """Parse an idx file (LeCun's MNIST format, gzipped or not) into a uint8 array of its stated shape."""
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:  # 0x08: unsigned byte, the only type these datasets use
        raise ValueError(f"{path} is not an unsigned-byte idx file (magic {data[:4].hex()})")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{path} holds {arr.size} values but its header says shape {shape}")
    return arr.reshape(shape).copy()  # copy: frombuffer over bytes is read-only


def _nchw(images: np.ndarray) -> Tensor:
    return torch.from_numpy(images).unsqueeze(1)  # (N, H, W) → (N, 1, H, W)


def _labels(labels) -> Tensor:
    return torch.as_tensor(np.asarray(labels), dtype=torch.int64)
