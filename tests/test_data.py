"""mixact_lib.data and its readers: finding files, normalising, subsets, batches, errors."""
from __future__ import annotations

import csv
import pickle
import socket
import urllib.error
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from mixact_lib import data
from mixact_lib.data import readers
from mixact_lib.data import (DatasetNotFoundError, Split, batches, get_batch_count, load_dataset,
                             synthetic_dataset)
from mixact_lib.data.raw import stratified_split

FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
needs_fmnist = pytest.mark.skipif(not (FMNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
                                  reason="Fashion-MNIST not in /usr/share/datasets (dataset-fashion-mnist)")


def _image_keys(split: Split) -> Counter:
    return Counter(bytes(row) for row in split.x.flatten(1).numpy().view(np.uint8))


# --- Fashion-MNIST from the Debian package ----------------------------------------------------------

@needs_fmnist
def test_fmnist_shapes_dtypes_range_and_mean():
    ds = load_dataset("FashionMNIST", download=False)
    assert ds.name == "fmnist" and ds.num_classes == 10 and ds.in_channels == 1 and ds.image_size == (28, 28)
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert ds.train.x.shape == (60000, 1, 28, 28) and ds.test.x.shape == (10000, 1, 28, 28)
    assert ds.train.x.dtype == torch.float32 and ds.train.y.dtype == torch.int64
    assert ds.train.x.min() == -1.0 and ds.train.x.max() == 1.0
    assert torch.equal(ds.train.y.bincount(), torch.full((10,), 6000))
    assert str(FMNIST_DIR) in ds.source and ds.val is None
    raw = readers.read_idx(FMNIST_DIR / "train-images-idx3-ubyte.gz")
    expected_mean = (raw.mean(dtype=np.float64) / 255 - 0.5) / 0.5
    assert ds.train.x.double().mean().item() == pytest.approx(expected_mean, abs=1e-6)


@needs_fmnist
def test_fmnist_parse_is_cached():
    load_dataset("fmnist", download=False, train_subset=10, test_subset=10)
    hits = readers._read.cache_info().hits
    load_dataset("fashion_mnist", download=False, train_subset=10, test_subset=10)
    assert readers._read.cache_info().hits == hits + 1


@needs_fmnist
def test_subset_is_stratified_and_seeded():
    a = load_dataset("fmnist", train_subset=1000, test_subset=55, seed=1)
    assert torch.equal(a.train.y.bincount(), torch.full((10,), 100))
    assert set(a.test.y.bincount().tolist()) == {5, 6} and len(a.test) == 55
    b = load_dataset("fmnist", train_subset=1000, test_subset=55, seed=1)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    c = load_dataset("fmnist", train_subset=1000, test_subset=55, seed=2)
    assert not torch.equal(a.train.x, c.train.x)


@needs_fmnist
def test_val_is_disjoint_stratified_part_of_the_same_subset():
    whole = load_dataset("fmnist", train_subset=500, seed=4)
    ds = load_dataset("fmnist", train_subset=500, val_fraction=0.2, seed=4)
    assert len(ds.train) == 400 and len(ds.val) == 100
    assert torch.equal(ds.val.y.bincount(), torch.full((10,), 10))
    # train + val is exactly the subset, image for image: nothing shared, nothing lost
    assert _image_keys(ds.train) + _image_keys(ds.val) == _image_keys(whole.train)


@needs_fmnist
def test_pad_to_pads_with_black_after_normalising():
    plain = load_dataset("fmnist", train_subset=20, test_subset=10)
    padded = load_dataset("fmnist", train_subset=20, test_subset=10, pad_to=32)
    assert padded.image_size == (32, 32) and padded.train.x.shape == (20, 1, 32, 32)
    assert torch.equal(padded.train.x[:, :, 2:30, 2:30], plain.train.x)
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert (padded.test.x[:, :, border] == -1.0).all()  # (0 - 0.5) / 0.5: black
    with pytest.raises(ValueError, match="smaller"):
        load_dataset("fmnist", pad_to=20)


@needs_fmnist
def test_argument_errors_are_clear():
    with pytest.raises(ValueError, match="at most 60000"):
        load_dataset("fmnist", train_subset=70000)
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="train_subset must be a positive integer"):
            load_dataset("fmnist", train_subset=bad)
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\)"):
            load_dataset("fmnist", val_fraction=bad)
    with pytest.raises(ValueError, match="empty validation"):
        load_dataset("fmnist", train_subset=10, val_fraction=0.01)


# --- names ----------------------------------------------------------------------------------------

def test_names_aliases_and_unknown_name():
    assert data.available_datasets() == ["cifar10", "cifar100", "fer2013", "fmnist", "kmnist", "miniimagenet", "mnist",
                                         "svhn"]
    assert readers.canonical_dataset_name("Fashion-MNIST") == "fmnist"
    assert readers.canonical_dataset_name("FER") == "fer2013"
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar'\. Did you mean 'cifar10'\?.*fmnist.*svhn"):
        load_dataset("cifar")


# --- missing data and downloads -------------------------------------------------------------------

def test_missing_dataset_names_every_place_and_the_files(isolated, monkeypatch):
    monkeypatch.setattr(readers, "_download", lambda *a: pytest.fail("download=False must not download"))
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("cifar10", root=isolated / "root", download=False)
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError) and info.value.dataset == "cifar10"
    for place in ("root", "env", "cwd/data", "system"):
        assert f"{isolated / place}/cifar-10-batches-py/" in msg
    assert "not attempted (download=False)" in msg
    assert "data_batch_1" in msg and "test_batch" in msg and "batches.meta" in msg
    assert "cifar-10-python.tar.gz" in msg


def test_failed_download_is_reported_bounded_and_cleaned_up(isolated, monkeypatch):
    import torchvision.datasets as tvd

    seen_timeouts = []

    class OfflineCIFAR10:
        def __init__(self, root, train, download):
            seen_timeouts.append(socket.getdefaulttimeout())
            Path(root).mkdir(parents=True, exist_ok=True)  # as torchvision does before fetching
            raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(tvd, "CIFAR10", OfflineCIFAR10)
    target = isolated / "root" / "fresh"
    with pytest.raises(DatasetNotFoundError, match=r"failed \(URLError: .*Name or service not known"):
        load_dataset("cifar10", root=target, download=True)
    assert seen_timeouts == [readers.DOWNLOAD_TIMEOUT_S]
    assert socket.getdefaulttimeout() is None  # restored
    assert not target.exists()  # no empty folder left behind


# --- FER2013 csv ----------------------------------------------------------------------------------

def _write_fer_csv(path: Path, per_class: int, usage: bool = True, pixels: int = 48 * 48) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"] if usage else ["emotion", "pixels"])
        for k in range(7):
            for i in range(per_class):
                row = [k, " ".join([str(10 * k + i)] * pixels)]  # every pixel = 10k + i < 255
                w.writerow(row + ["Training"] if usage else row)
        if usage:
            for k in range(7):
                w.writerow([k, " ".join(["255"] * pixels), "PublicTest"])


def test_fer_csv_training_rows_split_80_20_stratified(isolated):
    _write_fer_csv(isolated / "root" / "fer2013" / "fer2013.csv", per_class=10)
    ds = load_dataset("fer", root=isolated / "root", download=False)
    assert ds.name == "fer2013" and ds.num_classes == 7 and ds.classes[3] == "Happy"
    assert ds.train.x.shape == (56, 1, 48, 48) and ds.test.x.shape == (14, 1, 48, 48)
    assert torch.equal(ds.train.y.bincount(), torch.full((7,), 8))
    assert torch.equal(ds.test.y.bincount(), torch.full((7,), 2))
    assert ds.train.x.max() < 1.0 and ds.test.x.max() < 1.0  # PublicTest rows (pixel 255) left out
    assert "56/14" in ds.source
    # each image is its label's: pixel value 10k + i decodes back to class k
    pixel = ((ds.train.x[:, 0, 0, 0] * 0.5 + 0.5) * 255).round().long()
    assert torch.equal(pixel // 10, ds.train.y)
    # the split is fixed (FER_SPLIT_SEED), not moved by the training seed
    again = load_dataset("fer2013", root=isolated / "root", download=False, seed=7)
    assert torch.equal(again.test.x, ds.test.x)
    with pytest.raises(ValueError, match="at most 14"):
        load_dataset("fer", root=isolated / "root", download=False, test_subset=15)


def test_fer_challenge_train_csv_without_usage_column(isolated):
    _write_fer_csv(isolated / "env" / "fer2013" / "train.csv", per_class=5, usage=False)
    ds = load_dataset("fer2013", download=False)
    assert len(ds.train) == 28 and len(ds.test) == 7


def test_fer_bad_csv_is_reported_then_missing_advice(isolated):
    _write_fer_csv(isolated / "root" / "fer2013.csv", per_class=2, pixels=100)
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("fer", root=isolated / "root", download=False)
    msg = str(info.value)
    assert "unreadable" in msg and "100 pixel values" in msg
    assert "no automatic download" in msg and "kaggle.com" in msg and "fer2013/" in msg


# --- CIFAR-10 and SVHN through torchvision (tiny fake files; checksums switched off) -----------------

def test_cifar10_and_svhn_read_through_torchvision_into_nchw(isolated, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar
    import torchvision.datasets.svhn as tv_svhn

    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)
    monkeypatch.setattr(tv_svhn, "check_integrity", lambda *a, **k: True)
    rng = np.random.default_rng(0)
    folder = isolated / "system" / "cifar-10-batches-py"
    folder.mkdir()
    images = rng.integers(0, 256, (6, 3, 32, 32), dtype=np.uint8)  # CIFAR rows are channel-major
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        with open(folder / name, "wb") as f:
            pickle.dump({"data": images[i : i + 1].reshape(1, -1), "labels": [i % 10]}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane"] * 10}, f)
    ds = load_dataset("CIFAR-10", download=False, mean=0.0, std=1.0)
    assert ds.train.x.shape == (5, 3, 32, 32) and ds.in_channels == 3
    assert torch.equal((ds.train.x * 255).round().to(torch.uint8), torch.from_numpy(images[:5]))

    import scipy.io

    svhn = isolated / "cwd" / "data" / "svhn"
    svhn.mkdir(parents=True)
    hwcn = rng.integers(0, 256, (32, 32, 3, 4), dtype=np.uint8)  # SVHN's .mat layout
    for split in ("train", "test"):
        scipy.io.savemat(svhn / f"{split}_32x32.mat", {"X": hwcn, "y": np.array([[10], [1], [2], [3]])})
    ds = load_dataset("svhn", download=False, mean=0.0, std=1.0)
    assert ds.train.y.tolist() == [0, 1, 2, 3]  # label 10 means digit 0
    assert torch.equal((ds.test.x * 255).round().to(torch.uint8), torch.from_numpy(hwcn).permute(3, 2, 0, 1))


# --- batches and the synthetic dataset ------------------------------------------------------------

def test_batches_cover_each_index_once_in_a_seeded_order():
    split = Split(torch.arange(103.0).view(-1, 1, 1, 1), torch.arange(103))
    order = [y for _, y in batches(split, 10, shuffle=True, generator=torch.Generator().manual_seed(0))]
    assert [len(y) for y in order] == [10] * 10 + [3] and get_batch_count(103, 10) == 11
    seen = torch.cat(order)
    assert torch.equal(seen.sort().values, torch.arange(103)) and not torch.equal(seen, torch.arange(103))
    for x, y in batches(split, 10, shuffle=True, generator=torch.Generator().manual_seed(0)):
        assert torch.equal(x.flatten().long(), y)  # images stay with their labels
    same = torch.cat([y for _, y in batches(split, 10, True, torch.Generator().manual_seed(0))])
    other = torch.cat([y for _, y in batches(split, 10, True, torch.Generator().manual_seed(1))])
    assert torch.equal(seen, same) and not torch.equal(seen, other)
    plain = torch.cat([y for _, y in batches(split, 10, shuffle=False)])
    assert torch.equal(plain, torch.arange(103))
    dropped = list(batches(split, 10, True, torch.Generator().manual_seed(0), drop_last=True))
    assert len(dropped) == get_batch_count(103, 10, drop_last=True) == 10


def test_synthetic_dataset_is_balanced_seeded_and_learnable():
    ds = synthetic_dataset(num_train=200, num_test=100, num_classes=5, shape=(3, 16, 16), seed=0)
    assert ds.train.x.shape == (200, 3, 16, 16) and ds.train.x.dtype == torch.float32
    assert ds.train.y.dtype == torch.int64 and torch.equal(ds.train.y.bincount(), torch.full((5,), 40))
    assert ds.num_classes == 5 and ds.in_channels == 3 and ds.image_size == (16, 16)
    assert torch.equal(synthetic_dataset(seed=3).train.x, synthetic_dataset(seed=3).train.x)
    # nearest class mean, fitted on train, scores far above chance (0.2) on test
    means = torch.stack([ds.train.x[ds.train.y == k].mean(0) for k in range(5)]).flatten(1)
    pred = torch.cdist(ds.test.x.flatten(1), means).argmin(1)
    assert (pred == ds.test.y).float().mean() > 0.9


def test_stratified_split_keeps_class_proportions():
    y = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    kept, held = stratified_split(y, 0.25, torch.Generator().manual_seed(0))
    assert len(held) == 25 and len(set(kept.tolist()) | set(held.tolist())) == 100
    assert y[held].bincount().tolist() == [13, 7, 5]  # 12.5, 7.5, 5: the tie goes to the lower class
    small = data.stratified_subset(y, 70, torch.Generator().manual_seed(0))
    assert y[small].bincount().tolist() == [25, 25, 20]  # class 2 gives all it has, the rest share


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 4, 4), (3, 2, 7)])
def test_synthetic_dataset_stays_finite_and_unit_scaled_for_tiny_images(shape):
    """Images under 8×8 had one-pixel prototypes with zero spread, divided by 1e-6 (values ~1e6, or NaN)."""
    data = synthetic_dataset(200, 50, shape=shape, seed=3)
    x = data.train.x
    assert torch.isfinite(x).all()
    assert 1.0 < float(x.std()) < 2.5  # unit-variance prototypes plus N(0, 1) pixel noise
