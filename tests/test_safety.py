"""Checkpoints run no code, and a failed run leaves no half-made results folder (issue 14)."""
from __future__ import annotations

import dataclasses
import importlib
import json
import os
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

import mixact_lib.runs.runner as runner
from mixact_lib.data import DatasetNotFoundError, Split, synthetic_dataset
from mixact_lib.runs.config import RunConfig, paper_config
from mixact_lib.runs.runner import run
from mixact_lib.models import build_model
from mixact_lib.runs.grid import sweep
from mixact_lib.training import Phase, TrainingDivergedError, train
from mixact_lib.training.records import CHECKPOINT, UnsafeCheckpointError, load_checkpoint

COMMON = dict(paper="a", model="paper_a_net", activation="relu", batch_size=32, device="cpu")


@pytest.fixture(scope="module")
def data():
    return synthetic_dataset(num_train=64, num_test=32, num_classes=10, shape=(1, 28, 28), seed=0)


def config(out: Path, epochs: int = 1, **overrides) -> RunConfig:
    return RunConfig(phases=[Phase(epochs, "adam", 1e-3)], out=str(out), **{**COMMON, **overrides})


class Payload:
    """Pickles as a call of os.system: loading it without weights_only=True creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def write_malicious_checkpoint(folder: Path, marker: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CHECKPOINT
    torch.save({"model": {}, "epochs_done": 1, "history": [Payload(marker)]}, path)
    return path


# --- checkpoints ---------------------------------------------------------------------------------

def test_the_payload_is_live_when_loaded_unsafely(tmp_path):
    # negative control: the same file loaded the old way (weights_only=False) does run the code
    marker = tmp_path / "pwned"
    path = write_malicious_checkpoint(tmp_path / "run", marker)
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_load_checkpoint_refuses_a_pickle_that_runs_code(tmp_path):
    marker = tmp_path / "pwned"
    path = write_malicious_checkpoint(tmp_path / "run", marker)
    with pytest.raises(UnsafeCheckpointError) as err:
        load_checkpoint(tmp_path / "run")
    message = str(err.value)
    assert str(path) in message and "system" in message  # the file, and the global torch refused
    assert "nothing from it was executed" in message and "delete it" in message
    assert "\n" not in message
    assert isinstance(err.value, ValueError)
    assert not marker.exists()


def test_resuming_into_a_folder_with_a_malicious_checkpoint_runs_no_code(tmp_path, data):
    marker = tmp_path / "pwned"
    path = write_malicious_checkpoint(tmp_path / "run", marker)
    with pytest.raises(UnsafeCheckpointError, match="nothing from it was executed"):
        run(config(tmp_path / "run", epochs=2), data=data, progress=False)
    assert not marker.exists()
    assert path.exists()  # the folder held a checkpoint before: the user's file is not ours to delete


def test_init_from_a_malicious_checkpoint_runs_no_code(tmp_path, data):
    marker = tmp_path / "pwned"
    source = tmp_path / "downloaded"
    path = write_malicious_checkpoint(source, marker)
    (source / "summary.json").write_text("{}")
    with pytest.raises(UnsafeCheckpointError, match=str(path)):
        run(config(tmp_path / "new", init_from=str(source)), data=data, progress=False)
    assert not marker.exists()
    assert not (tmp_path / "new").exists()


def test_a_damaged_checkpoint_is_a_clear_error(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / CHECKPOINT).write_bytes(b"PK\x03\x04 half a zip")
    with pytest.raises(ValueError, match=r"damaged or not a torch checkpoint; delete it"):
        load_checkpoint(folder)


def test_a_numpy_learning_rate_still_resumes(tmp_path, data):
    # np.float64 is a float to JSON but a numpy object to pickle: the checkpoint's history must be plain
    phases = [Phase(2, "adam", np.float64(1e-3))]

    def kill(record):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(build_model("paper_a_net", 10, 1, "relu"), data, phases,
              batch_size=32, out=tmp_path, progress=False, callbacks=[kill])
    saved = torch.load(tmp_path / CHECKPOINT, weights_only=True)  # no allow-list needed
    assert type(saved["history"][0]["lr"]) is float
    resumed = train(build_model("paper_a_net", 10, 1, "relu"), data, phases,
                    batch_size=32, out=tmp_path, resume=True, progress=False)
    assert resumed.resumed_from_epoch == 1 and len(resumed.history) == 2


# --- failed runs leave no half-made folder ---------------------------------------------------------

def test_zero_epochs_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        paper_config("c", epochs=0, out=str(tmp_path / "c"))
    with pytest.raises(ValueError, match="a run needs at least 1 epoch"):
        RunConfig(phases=[Phase(0, "adam", 1e-3)], out=str(tmp_path / "d"))
    # paper B's lr steps may be empty, as long as the run trains something
    assert [p.epochs for p in paper_config("b", epochs=1, lr_step_at="thirds").phases] == [1, 0, 0]
    assert [p.epochs for p in paper_config("b", epochs=1).phases] == [0, 1, 0]  # the authors' steps
    with pytest.raises(ValueError, match="a run needs at least 1 epoch"):
        sweep(paper_config("c", epochs=1), {"epochs": [1, 0]}, tmp_path / "sweep", progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dataset", ["fer2013", "mnist"])
def test_a_run_whose_dataset_is_missing_leaves_no_folder(isolated, monkeypatch, dataset):
    tv = pytest.importorskip("torchvision")

    def offline(self):
        raise OSError("no network in this test")

    monkeypatch.setattr(tv.datasets.MNIST, "download", offline)
    out = isolated / "runs" / "deep" / "run"
    with pytest.raises(DatasetNotFoundError):
        run(paper_config("c", dataset=dataset, data_root=str(isolated / "root"), epochs=1, out=str(out)),
            progress=False)
    assert not (isolated / "runs").exists()  # the parents this call made are gone too
    assert list((isolated / "root").iterdir()) == []


def nan_images(data):
    return dataclasses.replace(data, train=Split(torch.full_like(data.train.x, float("nan")), data.train.y))


def test_divergence_in_epoch_one_leaves_no_folder(tmp_path, data):
    with pytest.raises(TrainingDivergedError, match="No epoch finished"):
        run(config(tmp_path / "run", epochs=2), data=nan_images(data), progress=False)
    assert not (tmp_path / "run").exists()


def test_divergence_after_a_checkpoint_keeps_the_folder_and_says_how_to_start_over(tmp_path, data, monkeypatch):
    poisoned = nan_images(data)

    def train_then_poison(*args, **kwargs):
        def poison(record):  # epoch 1 finished and was checkpointed; epoch 2 sees non-finite inputs
            args[1].train.x.copy_(poisoned.train.x)
        return train(*args, **kwargs, callbacks=[poison])

    fresh = synthetic_dataset(num_train=64, num_test=32, num_classes=10, shape=(1, 28, 28), seed=0)
    monkeypatch.setattr(runner, "train", train_then_poison)
    out = tmp_path / "run"
    with pytest.raises(TrainingDivergedError) as err:
        run(config(out, epochs=3), data=fresh, progress=False)
    message = str(err.value)
    assert "epoch 2, step 1" in message and f"kept in {out}" in message and f"delete {out}" in message
    assert load_checkpoint(out)["epochs_done"] == 1
    assert {"config.json", "environment.json", "history.json", CHECKPOINT} <= {p.name for p in out.iterdir()}


def test_an_interrupt_removes_a_new_folder_but_keeps_a_resumable_one(tmp_path, data, monkeypatch):
    def interrupted_after(epochs_done):
        def train_until(*args, **kwargs):
            def stop(record):
                if record["epoch"] == epochs_done:
                    raise KeyboardInterrupt
            if epochs_done == 0:
                raise KeyboardInterrupt
            return train(*args, **kwargs, callbacks=[stop])
        return train_until

    monkeypatch.setattr(runner, "train", interrupted_after(0))
    with pytest.raises(KeyboardInterrupt):
        run(config(tmp_path / "early", epochs=2), data=data, progress=False)
    assert not (tmp_path / "early").exists()

    monkeypatch.setattr(runner, "train", interrupted_after(1))
    with pytest.raises(KeyboardInterrupt):
        run(config(tmp_path / "late", epochs=2), data=data, progress=False)
    assert load_checkpoint(tmp_path / "late")["epochs_done"] == 1
    monkeypatch.setattr(runner, "train", train)
    resumed = run(config(tmp_path / "late", epochs=2), data=data, progress=False)
    assert resumed.summary["epochs"] == 2


def test_a_failed_run_in_a_users_folder_removes_only_its_own_files(tmp_path, data):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(TrainingDivergedError):
        run(config(out), data=nan_images(data), progress=False)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TrainingDivergedError):
        run(config(empty), data=nan_images(data), progress=False)
    assert empty.is_dir() and list(empty.iterdir()) == []  # made by the user: emptied, not removed


def test_a_refused_run_leaves_the_existing_folder_untouched(tmp_path, data):
    out = tmp_path / "run"
    run(config(out), data=data, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ValueError, match=r"different config \(differs in: seed\)"):
        run(config(out, seed=1), data=data, progress=False)
    with pytest.raises(ValueError, match="already holds this run"):
        run(config(out), data=data, progress=False, resume=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_failing_sweep_cell_leaves_no_half_folder(tmp_path, data, monkeypatch):
    sweep_module = importlib.import_module("mixact_lib.runs.grid")  # mixact_lib.runs.grid is also the function

    monkeypatch.setattr(sweep_module, "load_dataset", lambda *args, **kwargs: data)
    root = tmp_path / "sweep"
    base = config(root, epochs=1)
    with pytest.raises(ValueError, match="reluu"):
        sweep(base, {"activation": ["relu", "reluu"]}, root, progress=False)
    assert [p.name for p in root.iterdir()] == ["activation=relu"]
    assert json.loads((root / "activation=relu" / "summary.json").read_text())["epochs"] == 1
