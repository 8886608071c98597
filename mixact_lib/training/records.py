"""A run's files: config.json, history.json/.csv, summary.json and checkpoint.pt.

Everything but the checkpoint is small, human-readable and meant to be
committed; the book reads these files, never a live model.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from ..activations import Mix, activation_sites, describe_activations, dominant
from .metrics import convergence_area

CHECKPOINT = "checkpoint.pt"


def write_json(path: Path, obj: Any) -> None:
    """Write atomically (temp file + rename) so a killed run never leaves half a file."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=_jsonable) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def write_history(out: Path, history: list[dict]) -> None:
    write_json(out / "history.json", history)
    if history:
        pd.json_normalize(history, sep=".").to_csv(out / "history.csv", index=False)


def save_checkpoint(out: Path, state: dict) -> None:
    tmp = out / (CHECKPOINT + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, out / CHECKPOINT)


def load_checkpoint(out: Path) -> dict | None:
    path = Path(out) / CHECKPOINT
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def dominant_activations(model: nn.Module) -> dict[str, str]:
    """{site path: dominant member} of every mixture in ``model`` (paper C's chosen activations)."""
    return {name: dominant(m) for name, m in model.named_modules() if isinstance(m, Mix)}


def activation_state(model: nn.Module) -> dict[str, dict[str, list]]:
    """Final parameters of every learnable activation site (small), to rebuild its curve exactly."""
    return {name: {k: v.detach().cpu().tolist() for k, v in m.state_dict().items()}
            for name, m in activation_sites(model) if any(True for _ in m.parameters())}


def summarize(history: list[dict], model: nn.Module) -> dict:
    """The numbers a run is judged by.

    ``best_test_acc`` is paper C's metric (highest test accuracy over epochs,
    which is optimistic: it selects on the test set); ``final_test_acc`` is
    the last epoch's. With a validation split, ``test_acc_at_best_val`` is the
    honest counterpart: test accuracy at the epoch of best validation accuracy.
    """
    if not history:
        raise ValueError("no epochs were trained; nothing to summarise")
    best = max(history, key=lambda r: r["test_acc"])
    summary = {
        "epochs": len(history),
        "best_test_acc": best["test_acc"],
        "best_epoch": best["epoch"],
        "final_test_acc": history[-1]["test_acc"],
        "final_train_loss": history[-1]["train_loss"],
        "final_test_loss": history[-1]["test_loss"],
        "convergence_area": convergence_area([r["train_loss"] for r in history]),
        "total_seconds": sum(r["seconds"] for r in history),
        "images_per_s": sum(r["images_per_s"] for r in history) / len(history),
        "activation_params": describe_activations(model),
        "dominant_activations": dominant_activations(model),
        "activation_state": activation_state(model),
        "num_params": sum(p.numel() for p in model.parameters()),
    }
    if all("val_acc" in r for r in history):
        best_val = max(history, key=lambda r: r["val_acc"])
        summary.update(best_val_acc=best_val["val_acc"], best_val_epoch=best_val["epoch"],
                       test_acc_at_best_val=best_val["test_acc"])
    for key, value in summary.items():
        if isinstance(value, float) and not math.isfinite(value):
            summary[key] = None
    return summary
