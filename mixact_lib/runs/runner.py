"""One call per experiment: ``run(paper_config("c", dataset="fmnist"))`` → a results folder.

The configuration and the papers' presets are in :mod:`mixact_lib.runs.config`. A run is resumable: its
folder keeps a checkpoint each epoch, and a finished folder is read back instead of trained again.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .._version import __version__
from ..activations import fast_backend, fast_native, fast_path
from ..data import Dataset, load_dataset
from ..models import build_model
from ..training import summarize, train
from ..training.records import CHECKPOINT, load_checkpoint, read_json, write_json
from .config import RunConfig, default_out, resolve_device


@dataclass
class RunResult:
    out: Path
    config: RunConfig
    summary: dict
    history: list[dict]
    model: nn.Module | None = None  # None when the run was already complete and only read back
    data: Dataset | None = None


def _per_site_from(folder: str) -> list[str]:
    path = Path(folder) / "summary.json"
    if not path.exists():
        raise ValueError(f"optimized_from={folder!r} has no summary.json: finish that mixture run first")
    chosen = read_json(path).get("dominant_activations") or {}
    if not chosen:
        raise ValueError(f"{path} records no dominant activations: was that run trained with a mixture?")
    return list(chosen.values())


def _same_source_run(saved: str | None, new: str | None) -> bool:
    """Whether two ``optimized_from``/``init_from`` paths name the same run folder, wherever the tree now lives.

    A committed tree is cloned to other paths, so the folder is identified by its last four parts
    (``paper_c/<dataset>/<variant>/seed<k>``), not by the absolute path it was written with.
    """
    if saved is None or new is None:
        return saved == new
    return Path(saved).parts[-4:] == Path(new).parts[-4:]


def _config_differences(saved: dict, new: dict) -> list[str]:
    # a field a config.json predates takes its default, which is always what runs did before it
    # existed (``init_from`` None; ``lr_step_at`` the equal thirds), so old folders still resume
    defaults = {f.name: f.default for f in dataclasses.fields(RunConfig) if f.default is not dataclasses.MISSING}
    saved = {**{k: v for k, v in defaults.items() if k in new}, **saved}
    ignore = {"out", "keep_checkpoint", "device"}
    different = [k for k in set(saved) | set(new) if k not in ignore and saved.get(k) != new.get(k)]
    for key in ("optimized_from", "init_from"):
        if key in different and _same_source_run(saved.get(key), new.get(key)):
            different.remove(key)
    return sorted(different)


def _load_init(model: nn.Module, folder: str) -> None:
    """Copy a finished run's final weights into ``model`` (same architecture and activation required)."""
    path = Path(folder) / CHECKPOINT
    if not (Path(folder) / "summary.json").exists() or not path.exists():
        raise ValueError(f"init_from={folder!r} needs a finished run that kept its checkpoint ({CHECKPOINT}); "
                         "run it to the end with keep_checkpoint=True first")
    weights = load_checkpoint(folder)["model"]  # refuses a tampered file without running any of it
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise ValueError(f"init_from={folder!r} holds weights of another architecture or activation: "
                         f"{str(err).splitlines()[0]}") from err


def _cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def first_missing(folder: Path) -> Path | None:
    """The outermost of ``folder`` and its parents that does not exist yet (``None`` if ``folder`` exists)."""
    if folder.exists():
        return None
    while not folder.parent.exists() and folder.parent != folder:
        folder = folder.parent
    return folder


def _undo_folder(out: Path, created_from: Path | None, existing: set[str]) -> None:
    """Remove what a failed run added to ``out``: entries not in ``existing``, then folders it created.

    Folders are removed with ``rmdir``, so one that something else has filled meanwhile stays.
    """
    if out.is_dir():
        for entry in out.iterdir():
            if entry.name in existing:
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
    folder = out
    while created_from is not None:
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == created_from:
            return
        folder = folder.parent


def run(config: RunConfig | dict, *, resume: bool = True, progress: bool = True,
        data: Dataset | None = None) -> RunResult:
    """Train one configuration and write its results folder.

    With ``resume`` (default) a folder that already holds this exact run is
    continued from its checkpoint, or just read back when finished; a folder
    holding a *different* configuration is an error, never silently reused.
    ``data`` lets a caller reuse an already-loaded dataset across runs.

    A failed call leaves no half-made folder. The rule: if anything goes wrong
    (dataset not found, model build error, loss diverging in epoch 1, Ctrl-C,
    ...) while the folder holds no ``checkpoint.pt``, everything this call put
    there is removed again: a folder it created (with any parents it created)
    goes, while a folder that existed keeps exactly the entries it had. Once a
    checkpoint exists — written by this call after its first epoch, or there
    before from a killed run — the folder is kept as it is, because it can be
    resumed and its history shows what happened (a divergence message says so
    and how to start over). A refused call (the folder holds a different
    configuration, or ``resume=False`` and it holds this one) touches nothing.
    """
    if isinstance(config, dict):
        config = RunConfig.from_dict(config)
    out = Path(config.out) if config.out else default_out(config)
    config.out = str(out)
    config_dict = json.loads(json.dumps(config.to_dict()))
    saved_config = out / "config.json"
    if saved_config.exists():
        differences = _config_differences(read_json(saved_config), config_dict)
        if differences:
            raise ValueError(f"results folder {out} holds a run with a different config (differs in: "
                             f"{', '.join(differences)}); choose another out folder or delete it")
        if not resume:
            raise ValueError(f"results folder {out} already holds this run; pass resume=True to continue or "
                             "read it back, or delete the folder to start over")
        if (out / "summary.json").exists():
            return RunResult(out, config, read_json(out / "summary.json"), read_json(out / "history.json"))

    created_from = first_missing(out)
    existing = set(os.listdir(out)) if created_from is None and out.is_dir() else set()
    try:
        return _train_into(config, out, config_dict, resume=resume, progress=progress, data=data)
    except BaseException:  # KeyboardInterrupt too: an interrupted first epoch leaves nothing worth keeping
        if not (out / CHECKPOINT).exists():
            _undo_folder(out, created_from, existing)
        raise


def build_run_model(config: RunConfig, num_classes: int, in_channels: int, image_size: tuple[int, int]) -> nn.Module:
    """The (untrained) network of a run: its model with its activation, or, for ConvNet-Optimized
    (``optimized_from``), each site's dominant member of that mixture run."""
    model_kwargs = dict(config.model_kwargs)
    if config.optimized_from:
        model_kwargs["activation_per_site"] = _per_site_from(config.optimized_from)
    return build_model(config.model, num_classes=num_classes, in_channels=in_channels,
                       activation="relu" if config.activation == "optimized" else config.activation,
                       activation_kwargs=None if config.optimized_from else config.activation_kwargs,
                       image_size=image_size, **model_kwargs)


def _train_into(config: RunConfig, out: Path, config_dict: dict, *, resume: bool, progress: bool,
                data: Dataset | None) -> RunResult:
    """The body of :func:`run` once the folder is known to be free for this run (or to hold it)."""
    saved_config = out / "config.json"
    device = resolve_device(config.device)
    if data is None:
        data = load_dataset(config.dataset, root=config.data_root, train_subset=config.train_subset,
                            test_subset=config.test_subset, val_fraction=config.val_fraction,
                            seed=config.data_seed, device=device, pad_to=config.pad_to)
    torch.manual_seed(config.seed)
    model = build_run_model(config, data.num_classes, data.in_channels, data.image_size).to(device)
    if config.init_from:
        _load_init(model, config.init_from)

    out.mkdir(parents=True, exist_ok=True)
    write_json(saved_config, config_dict)
    write_json(out / "environment.json", {
        "dataset_source": data.source, "device": device, "torch": torch.__version__,
        "mixact": __version__, "python": platform.python_version(), "platform": platform.platform(),
        "cuda_device": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
        "num_threads": torch.get_num_threads(),
        "cpu": _cpu_model(),  # CPU kernels differ between machines, and so do long runs' last digits
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the instruction set torch's kernels use
        "fast_backend": fast_backend(),  # the backend asked for (auto, native, eager, compile)
        "fast_path": fast_path(device),  # what the fused activations ran on: same maths, other speed
        # the native kernels' build (source hash, ISA, torch, Python): which kernel source a run used
        "native_build": fast_native.build_name() if fast_path(device) == "native" else None,
    })
    result = train(model, data, config.phases, batch_size=config.batch_size,
                   test_batch_size=config.test_batch_size, seed=config.seed, out=out,
                   resume=resume, progress=progress)
    summary = {"paper": config.paper, "dataset": config.dataset, "model": config.model,
               "activation": config.activation, "seed": config.seed,
               **summarize(result.history, model)}
    write_json(out / "summary.json", summary)
    if not config.keep_checkpoint:
        (out / CHECKPOINT).unlink(missing_ok=True)
    return RunResult(out, config, summary, result.history, model, data)
