"""What one run is: a :class:`RunConfig`, and each paper's protocol as a preset (``paper_config``).

:func:`mixact_lib.runs.runner.run` turns a configuration into a results folder. Paper presets fill in each paper's protocol; where a paper is silent or its
number was lost in extraction, the value below is *our* choice and the
comment says so. Every field can be overridden.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..training import Phase, parse_phases

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


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here; use --device cpu")
    return device
