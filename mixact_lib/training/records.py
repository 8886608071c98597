"""A run's files: config.json, history.json/.csv, summary.json and checkpoint.pt.

Everything but the checkpoint is small, human-readable and meant to be
committed; the book reads these files, never a live model.
"""
from __future__ import annotations

import json
import math
import os
import pickle
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from ..activations import Mix, activation_sites, describe_activations, dominant
from .metrics import convergence_area

CHECKPOINT = "checkpoint.pt"
PREDICTIONS = "predictions.npz"


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


class UnsafeCheckpointError(ValueError):
    """A checkpoint holds pickled objects that a plain checkpoint never does; it was refused, none of it ran."""


def save_checkpoint(out: Path, state: dict) -> None:
    """Write ``out/checkpoint.pt`` atomically, holding only what :func:`load_checkpoint` accepts.

    That is tensors, str/int/float/bool/None, and dicts, lists and tuples of them
    (model and optimiser state dicts, RNG states, the history). Numbers of a
    subclass or of numpy (e.g. ``lr=np.float64(1e-3)``, which ends up in the
    optimiser's param groups) are saved as plain Python numbers, since pickle
    would store them as numpy objects that a safe load refuses.
    """
    state = _plain_state(state, "state")
    tmp = out / (CHECKPOINT + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, out / CHECKPOINT)


def _plain_state(value: Any, where: str) -> Any:
    """``value`` rebuilt from plain types only; TypeError naming ``where`` for anything else."""
    if value is None or isinstance(value, torch.Tensor):
        return value
    for kind in (bool, int, float, str):  # bool first: it is an int
        if isinstance(value, kind):
            return kind(value)
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return _plain_state(value.item(), where)
    if isinstance(value, dict):
        plain = OrderedDict() if isinstance(value, OrderedDict) else {}
        for key, item in value.items():
            plain[_plain_state(key, where)] = _plain_state(item, f"{where}[{key!r}]")
        if hasattr(value, "_metadata"):  # a state dict's module versions, used by load_state_dict
            plain._metadata = _plain_state(value._metadata, f"{where}._metadata")
        return plain
    if isinstance(value, (list, tuple)):
        items = [_plain_state(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise TypeError(f"cannot put {where} (a {type(value).__module__}.{type(value).__name__}) in a checkpoint: "
                    "a checkpoint holds only tensors, numbers, strings, None and lists/dicts of them, so that "
                    "loading it runs no code; convert the value to one of those before saving")


#: Types a checkpoint may hold beyond those torch's weights-only unpickler accepts by default
#: (tensors, ``OrderedDict`` state dicts, dict/list/tuple/str/int/float/bool/None). None:
#: everything :mod:`.loop` saves is of those kinds, so nothing is allow-listed.
CHECKPOINT_SAFE_GLOBALS: tuple = ()


def load_checkpoint(out: Path) -> dict | None:
    """Read ``out/checkpoint.pt`` without running any code from it; ``None`` if there is none.

    Loads with ``weights_only=True``: a pickle that names any function or class
    outside tensors and plain containers (the way a tampered file runs code) is
    refused before anything in it is called, with :class:`UnsafeCheckpointError`.
    A truncated or foreign file raises ``ValueError``; both messages name the file
    and say what to do.
    """
    path = Path(out) / CHECKPOINT
    if not path.exists():
        return None
    try:
        with torch.serialization.safe_globals(list(CHECKPOINT_SAFE_GLOBALS)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f"refused to load {path}: it holds {_refused_part(str(err))}, which a mixact checkpoint never "
            "contains (only tensors, numbers, strings and lists/dicts of them); nothing from it was executed. "
            "If you did not make this file, delete it (or its whole results folder) and re-run; "
            "only load checkpoints from sources you trust"
        ) from None
    except (RuntimeError, EOFError) as err:
        raise ValueError(
            f"could not read {path} ({str(err).splitlines()[0]}): the file is damaged or not a torch checkpoint; "
            "delete it (its run then starts over from epoch 1) or put back an intact copy"
        ) from err


def _refused_part(torch_message: str) -> str:
    """What torch's weights-only unpickler refused, in a few words (torch's own advice is to turn safety off)."""
    found = re.search(r"GLOBAL ([\w.]+)", torch_message)
    if found:
        return f"a reference to the Python global {found.group(1)}"
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", torch_message)
    return f"pickle data torch refuses to load safely ({detail.group(1).strip() if detail else 'unsupported content'})"


def write_predictions(out: Path, arrays: dict[str, Any]) -> None:
    """Write ``out/predictions.npz`` atomically: the test set's predicted classes at chosen epochs.

    ``arrays`` maps a name (``labels``, ``final``, ``best_test``, ``best_val``) to a 1-D array of
    class indices, stored as int16 (a few KB for 10,000 examples), ``<name>_epoch`` to the epoch it
    comes from and ``<name>_score`` to the accuracy that chose it.
    """
    import numpy as np

    def kind(key: str):
        return np.int32 if key.endswith("_epoch") else np.float64 if key.endswith("_score") else np.int16

    plain = {k: np.asarray(v, dtype=kind(k)) for k, v in arrays.items()}
    tmp = Path(out) / (PREDICTIONS + ".tmp.npz")
    np.savez_compressed(tmp, **plain)
    os.replace(tmp, Path(out) / PREDICTIONS)


def read_predictions(out: Path) -> dict | None:
    """``out/predictions.npz`` as {name: array} (no pickles are loaded), or None for runs made before it existed."""
    import numpy as np

    path = Path(out) / PREDICTIONS
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


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
