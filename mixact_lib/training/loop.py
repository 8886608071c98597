"""The training loop: phases, per-epoch history, checkpoints, resume, divergence checks.

Repeatable: the batch order comes from a seeded ``torch.Generator`` whose
state, with the global RNG (RReLU draws from it), is saved in every
checkpoint, so ``resume=True`` continues a killed run to the same result as
an uninterrupted one.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..activations import describe_activations
from ..data import Dataset, batches
from .metrics import evaluate, snapshot_weights, weight_increments, weight_norms, weight_trace
from .phases import Phase, frozen_norm_statistics, make_optimizer, parse_phases, set_learning_rates, set_trainable
from .records import load_checkpoint, read_predictions, save_checkpoint, write_history, write_predictions


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the message says where and what to try."""


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    resumed_from_epoch: int = 0


def _schedule(phases: Sequence[Phase]) -> list[tuple[int, int]]:
    """(phase index, epoch within phase) for every epoch of the run."""
    return [(i, e) for i, p in enumerate(phases) for e in range(p.epochs)]


def _diverged(epoch: int, step: int, phase_index: int, phase: Phase, value: float, out: Path | None) -> str:
    if out is None:
        kept = "Nothing was saved (no out folder was given)."
    elif epoch > 1:
        kept = (f"The last good checkpoint (end of epoch {epoch - 1}) and the history so far are kept in {out}. "
                "Resuming it unchanged repeats the same steps and will most likely diverge again; to start over "
                f"with a change (e.g. a smaller learning rate), delete {out} or write to another folder.")
    else:
        kept = "No epoch finished, so there is no checkpoint to keep or resume from."
    return (
        f"training loss became {value} at epoch {epoch}, step {step} "
        f"(phase {phase_index + 1}: {phase.optimizer} lr={phase.lr:g} trains={phase.trains}). "
        "Likely causes: a learning rate too high for this optimiser/activation (try 10× smaller), "
        "an unbounded learnable activation blowing up (e.g. 'none' mixture normalisation or large AReLU slopes), "
        f"or non-finite input data. {kept}"
    )


def _keep_predictions(kept: dict, record: dict, predicted: torch.Tensor, data: Dataset) -> dict:
    """Test-set predictions at the final epoch, the best test epoch and (with a validation split) the best one.

    Ties keep the earlier epoch, as :func:`~.records.summarize` does for ``best_epoch``.
    """
    kept = dict(kept)
    kept.setdefault("labels", data.test.y.cpu())
    kept["final"], kept["final_epoch"] = predicted, record["epoch"]
    scores = [("best_test", "test_acc")] + ([("best_val", "val_acc")] if "val_acc" in record else [])
    for name, key in scores:
        if name not in kept or record[key] > kept[f"{name}_score"]:
            kept[name], kept[f"{name}_epoch"], kept[f"{name}_score"] = predicted, record["epoch"], record[key]
    return kept


def train(
    model: nn.Module,
    data: Dataset,
    phases: Sequence[Phase | dict],
    *,
    batch_size: int = 64,
    test_batch_size: int = 1000,
    seed: int = 0,
    out: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    callbacks: Sequence[Callable[[dict], None]] = (),
) -> TrainResult:
    """Train ``model`` on ``data`` through ``phases``; one history record per epoch.

    With ``out`` set, history.json/.csv and checkpoint.pt are rewritten after
    every epoch. ``resume=True`` continues from ``out/checkpoint.pt`` if one
    exists (read with :func:`~.records.load_checkpoint`, which runs no code from
    the file). ``callbacks`` get each epoch's record after it is saved.
    """
    phases = parse_phases(list(phases))
    if batch_size < 1 or test_batch_size < 1:
        raise ValueError(f"batch sizes must be >= 1, got batch_size={batch_size}, test_batch_size={test_batch_size}")
    out = Path(out) if out is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    schedule = _schedule(phases)
    generator = torch.Generator().manual_seed(seed)
    history: list[dict] = []
    start = 0
    saved_optimizer = None

    checkpoint = load_checkpoint(out) if (out is not None and resume) else None
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        history = checkpoint["history"]
        start = checkpoint["epochs_done"]
        generator.set_state(checkpoint["data_rng"])
        torch.set_rng_state(checkpoint["rng"])
        if torch.cuda.is_available() and checkpoint.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(checkpoint["cuda_rng"])
        saved_optimizer = checkpoint["optimizer"]

    kept = (read_predictions(out) or {}) if (out is not None and start > 0) else {}
    device = next(model.parameters()).device
    optimizer = None
    for epoch_index in range(start, len(schedule)):
        phase_index, _ = schedule[epoch_index]
        phase = phases[phase_index]
        previous = phases[schedule[epoch_index - 1][0]] if epoch_index > 0 else None
        continues = previous is not None and previous.shares_optimizer_with(phase)
        if optimizer is None or not continues:
            set_trainable(model, phase)
            optimizer = make_optimizer(model, phase)
            if saved_optimizer is not None and continues:
                optimizer.load_state_dict(saved_optimizer)
            saved_optimizer = None
        set_learning_rates(optimizer, phase)

        epoch = epoch_index + 1
        before = snapshot_weights(model)
        initial_norms = weight_norms(model) if epoch == 1 else None
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        n_batches = math.ceil(len(data.train) / batch_size)
        bar = tqdm(batches(data.train, batch_size, shuffle=True, generator=generator), total=n_batches,
                   desc=f"epoch {epoch}/{len(schedule)} [{phase.trains}]", leave=False, disable=not progress)
        t0 = time.perf_counter()
        with frozen_norm_statistics(model, frozen=phase.trains == "act"):
            for step, (x, y) in enumerate(bar, start=1):
                logits = model(x)
                loss = F.cross_entropy(logits, y)
                value = float(loss.detach())
                if not math.isfinite(value):
                    bar.close()
                    raise TrainingDivergedError(_diverged(epoch, step, phase_index, phase, value, out))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.detach() * len(y)
                correct += (logits.detach().argmax(1) == y).sum()
                seen += len(y)
                if progress and step % 20 == 0:
                    bar.set_postfix(loss=f"{value:.3f}")
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_seconds = time.perf_counter() - t0
        bar.close()

        test_loss, test_acc, predicted = evaluate(model, data.test, test_batch_size, predictions=True)
        record = {
            "epoch": epoch,
            "phase": phase_index + 1,
            "trains": phase.trains,
            "optimizer": phase.optimizer,
            "lr": phase.lr,
            "train_loss": float(loss_sum) / seen,
            "train_acc": float(correct) / seen,
            "test_loss": test_loss,
            "test_acc": test_acc,
        }
        if data.val is not None:
            record["val_loss"], record["val_acc"] = evaluate(model, data.val, test_batch_size)
        record.update(
            seconds=time.perf_counter() - t0,
            images_per_s=seen / train_seconds,
            activations=describe_activations(model),
            delta_w=weight_increments(model, before),
            weight_trace=weight_trace(model, before),
            weight_norm=weight_norms(model),
        )
        if initial_norms is not None:  # ‖W‖ before any step: the denominator of epoch 1's relative Δw
            record["weight_norm_initial"] = initial_norms
        history.append(record)
        kept = _keep_predictions(kept, record, predicted, data)
        if out is not None:
            write_predictions(out, kept)
            write_history(out, history)
            save_checkpoint(out, {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epochs_done": epoch,
                "history": history,
                "data_rng": generator.get_state(),
                "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            })
        if progress:
            tqdm.write(f"epoch {epoch}/{len(schedule)}  train loss {record['train_loss']:.4f}  "
                       f"test acc {test_acc:.4f}  ({record['images_per_s']:.0f} img/s)")
        for callback in callbacks:
            callback(record)
    return TrainResult(history=history, resumed_from_epoch=start)
