"""One call per experiment: ``run(paper_config("c", dataset="fmnist"))`` → a results folder.

Paper presets fill in each paper's protocol; where a paper is silent or its
number was lost in extraction, the value below is *our* choice and the
comment says so. Every field can be overridden.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._version import __version__
from .activations import fast_backend, fast_path
from .data import Dataset, load_dataset
from .models import build_model
from .training import Phase, parse_phases, summarize, train
from .training.records import CHECKPOINT, load_checkpoint, read_json, write_json

PAPERS = ("a", "b", "c")

#: Paper B's lr step points as fractions of the run's epochs: the authors' TensorFlow code
#: (HuHaigen/Adaptively-Customizing-Activation-Functions) divides the lr by 10 at epochs 70 and 100 of 150;
#: the paper's text gives the three rates (B §5.2) but not where they change.
PAPER_B_STEPS = (70 / 150, 100 / 150)
#: Paper B's baselines and AReLU as its authors' TensorFlow code sets them (the paper states none of these):
#: LReLU slope 0.2, PReLU's slope starting at 0, AReLU starting at a = b = 1, c = d = 0 with
#: ``tf.maximum``'s tie rule. Our defaults are 0.01, 0.25 and a = 1, b = 0 (ReLU); pass these as a
#: run's ``activation_kwargs`` for the authors' versions.
PAPER_B_AUTHORS_ACTIVATION_KWARGS: dict[str, dict[str, Any]] = {
    "lrelu": {"negative_slope": 0.2},
    "prelu": {"init": 0.0},
    "arelu": {"start": "authors"},
}
#: The other step rule: near-equal thirds, our choice before the authors' points were read, and
#: what every committed paper B run up to issue 32 used (a config.json without ``lr_step_at`` means it).
EQUAL_THIRDS = "thirds"

# Each paper's protocol. Units and sources in the comments.
PAPER_DEFAULTS: dict[str, dict[str, Any]] = {
    "a": dict(
        model="paper_a_net",        # 2 conv + 2 FC, paper A §2 (widths ours: 32/64 conv, 128 FC)
        activation="mix",           # p1·ReLU + p2·tanh + p3·sin, paper A eq. 10
        activation_kwargs={"norm": "softmax"},  # eq. 9 lost; softmax is our reading (abs/square selectable)
        optimizer="adam",           # paper A §2
        lr=1e-3,                    # lost in extraction; ours: Adam's default, for all three cycles
        epochs=10,                  # per cycle; paper A §2: three cycles of 10 epochs
        batch_size=64,              # not stated in paper A; ours
    ),
    "b": dict(
        model="vgg",                # paper B Fig. 5 (also alexnet, googlenet, resnet, densenet)
        activation="arelu",         # paper B eq. 12
        activation_kwargs={},
        optimizer="sgd",            # paper B §5.2: SGD
        lr=1e-3,                    # paper B §5.2: 1e-3 → 1e-4 → 1e-5
        lr_step_at=PAPER_B_STEPS,   # authors' code: steps at epochs 70 and 100 of 150 (paper silent)
        epochs=80,                  # paper B §5.2: "no less than 80" (CIFAR-100: 150)
        batch_size=64,              # paper B §5.2 (CIFAR-100: 250)
    ),
    "c": dict(
        model="paper_c_convnet",    # paper C appendix A.1 (channel table lost; ours 32/64/128/256)
        activation="adact",         # paper C §2
        activation_kwargs={},
        optimizer="adamw",          # paper C A.1
        lr=1e-3,                    # paper C A.1
        weight_decay=0.01,          # not stated; torch's AdamW default
        epochs=15,                  # paper C A.2
        batch_size=64,              # paper C A.2
        test_batch_size=1000,       # paper C A.2
    ),
}


def lr_step_epochs(epochs: int, lr_step_at: str | Sequence[float] = PAPER_B_STEPS) -> list[int]:
    """The epochs of each lr stretch of paper B's schedule (lr, lr/10, lr/100, ...).

    ``lr_step_at`` is either a list of increasing fractions in (0, 1) of the run's ``epochs``, each
    step falling at ``round(fraction · epochs)`` (the authors' 70/150 and 100/150 give 70 and 100 of
    150, 4 and 6 of 9, and 37 and 53 of 80), or ``"thirds"``: three near-equal stretches, the
    first ones one epoch longer when ``epochs`` is not a multiple of 3. A stretch may be empty
    when ``epochs`` is small (the authors' points at 1 epoch give ``[0, 1, 0]``).
    """
    if lr_step_at == EQUAL_THIRDS:
        return [epochs // 3 + (1 if i < epochs % 3 else 0) for i in range(3)]
    steps = [round(f * epochs) for f in _step_fractions(lr_step_at)]
    bounds = [0, *steps, epochs]
    return [b - a for a, b in zip(bounds, bounds[1:])]


def _step_fractions(lr_step_at: Any) -> list[float]:
    """``lr_step_at`` as a list of floats, or a ValueError saying what is allowed."""
    allowed = (f"lr_step_at must be {EQUAL_THIRDS!r} or a list of increasing fractions of the epochs in (0, 1), "
               f"e.g. [{PAPER_B_STEPS[0]:.4f}, {PAPER_B_STEPS[1]:.4f}] (the authors' epochs 70 and 100 of 150)")
    if isinstance(lr_step_at, (str, bytes)) or not isinstance(lr_step_at, Sequence):
        raise ValueError(f"{allowed}; got {lr_step_at!r}")
    try:
        fractions = [float(f) for f in lr_step_at]
    except (TypeError, ValueError):
        raise ValueError(f"{allowed}; got {lr_step_at!r}") from None
    if not all(0 < f < 1 for f in fractions) or fractions != sorted(set(fractions)):
        raise ValueError(f"{allowed}; got {lr_step_at!r}")
    return fractions


def paper_phases(paper: str, epochs: int, optimizer: str, lr: float, weight_decay: float = 0.0,
                 act_lr: float | None = None, lr_step_at: str | Sequence[float] = PAPER_B_STEPS) -> list[Phase]:
    """The phase list of each paper's protocol.

    - a: three cycles of ``epochs`` each: net (mixture frozen) → mixture (net frozen) → net.
    - b: ``epochs`` split at ``lr_step_at`` (:func:`lr_step_epochs`) into stretches at lr, lr/10,
      lr/100, ...; by default at the authors' epochs 70 and 100 of 150, scaled to ``epochs``.
    - c: one phase of ``epochs``.
    """
    if paper == "a":
        return [Phase(epochs, optimizer, lr, weight_decay, trains="net"),
                Phase(epochs, optimizer, act_lr or lr, 0.0, trains="act"),
                Phase(epochs, optimizer, lr, weight_decay, trains="net")]
    if paper == "b":
        return [Phase(n, optimizer, lr * 10.0**-i, weight_decay, trains="all", act_lr=act_lr)
                for i, n in enumerate(lr_step_epochs(epochs, lr_step_at))]
    return [Phase(epochs, optimizer, lr, weight_decay, trains="all", act_lr=act_lr)]


@dataclass
class RunConfig:
    """Everything that defines a run; written to ``config.json`` in its folder."""

    paper: str = "c"
    dataset: str = "fmnist"
    model: str = "paper_c_convnet"
    activation: str = "adact"
    activation_kwargs: dict = field(default_factory=dict)
    model_kwargs: dict = field(default_factory=dict)
    phases: list = field(default_factory=lambda: [Phase(15, "adamw", 1e-3, 0.01)])
    batch_size: int = 64
    test_batch_size: int = 1000
    train_subset: int | None = None
    test_subset: int | None = None
    val_fraction: float = 0.0
    pad_to: int | None = None
    data_root: str | None = None
    seed: int = 0                      # model init, batch order, RReLU noise
    data_seed: int = 0                 # which subset / validation split; fixed across seeds by default
    device: str = "cpu"
    out: str | None = None
    optimized_from: str | None = None  # results folder of a mixture run: use its dominant activations
    init_from: str | None = None       # results folder of a finished run: start from its final weights
    keep_checkpoint: bool = True
    # paper B's lr step points (:func:`lr_step_epochs`), kept so that a sweep that changes the
    # optimiser or lr rebuilds the phases with the same steps; ``phases`` is what trains
    lr_step_at: str | list[float] = EQUAL_THIRDS

    def __post_init__(self) -> None:
        self.paper = str(self.paper).lower()
        if self.paper not in PAPERS:
            raise ValueError(f"unknown paper {self.paper!r}; choose one of {', '.join(PAPERS)}")
        self.phases = parse_phases(self.phases)
        if self.lr_step_at != EQUAL_THIRDS:
            self.lr_step_at = _step_fractions(self.lr_step_at)
        if sum(p.epochs for p in self.phases) < 1:
            # refused here, before a results folder exists: a run that trains nothing has nothing to report
            raise ValueError(f"the phases total 0 epochs ({[p.epochs for p in self.phases]}); a run needs at "
                             "least 1 epoch: give a phase epochs >= 1 (or paper_config(..., epochs=1) or more)")
        if self.activation == "optimized" and not self.optimized_from:
            raise ValueError("activation 'optimized' needs optimized_from: the results folder of a mixture run")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["phases"] = [p.to_dict() for p in self.phases]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**d)


def paper_config(paper: str, *, epochs: int | None = None, optimizer: str | None = None, lr: float | None = None,
                 weight_decay: float | None = None, act_lr: float | None = None, **overrides) -> RunConfig:
    """A :class:`RunConfig` with paper ``a``, ``b`` or ``c``'s protocol, any field overridden.

    ``epochs`` (>= 1) is per cycle for paper A (three cycles) and the total for B and C.
    Paper B's lr steps fall at ``lr_step_at`` (default: the authors' 70 and 100 of 150,
    :data:`PAPER_B_STEPS`; ``"thirds"`` for the equal thirds of the committed fmnist-cpu studies).
    """
    paper = str(paper).lower()
    if paper not in PAPERS:
        raise ValueError(f"unknown paper {paper!r}; choose one of {', '.join(PAPERS)}")
    d = dict(PAPER_DEFAULTS[paper])
    epochs = d.pop("epochs") if epochs is None else epochs
    optimizer = d.pop("optimizer") if optimizer is None else optimizer
    lr = d.pop("lr") if lr is None else lr
    weight_decay = d.pop("weight_decay", 0.0) if weight_decay is None else weight_decay
    for key in ("epochs", "optimizer", "lr", "weight_decay"):
        d.pop(key, None)
    lr_step_at = overrides.pop("lr_step_at", d.pop("lr_step_at", EQUAL_THIRDS))
    if "phases" not in overrides:
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be an integer >= 1 (per cycle for paper A, in total for B and C), "
                             f"got {epochs!r}; a run that trains no epoch has nothing to report")
        d["phases"] = paper_phases(paper, epochs, optimizer, lr, weight_decay, act_lr, lr_step_at)
    d["lr_step_at"] = list(lr_step_at) if lr_step_at != EQUAL_THIRDS else lr_step_at
    if "activation" in overrides and "activation_kwargs" not in overrides:
        d["activation_kwargs"] = {}  # the preset's kwargs belong to the preset's activation
    d.update(overrides)
    return RunConfig(paper=paper, **d)


def default_out(config: RunConfig) -> Path:
    return Path("runs") / f"{config.paper}-{config.dataset}-{config.model}-{config.activation}-seed{config.seed}"


@dataclass
class RunResult:
    out: Path
    config: RunConfig
    summary: dict
    history: list[dict]
    model: nn.Module | None = None  # None when the run was already complete and only read back
    data: Dataset | None = None


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here; use --device cpu")
    return device


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


def _first_missing(folder: Path) -> Path | None:
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

    created_from = _first_missing(out)
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
