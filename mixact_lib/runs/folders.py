"""Run folders read back as tables: one row per finished run, or every epoch of every run.

A results folder is what :func:`mixact_lib.runs.runner.run` writes:
``config.json``, ``history.json``, ``summary.json`` (+ ``environment.json``).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

SUMMARY_COLUMNS = ("best_test_acc", "final_test_acc", "convergence_area", "total_seconds", "images_per_s",
                   "num_params", "best_epoch", "test_acc_at_best_val", "best_val_acc")


def run_folders(root: str | Path) -> list[Path]:
    """Every finished run (a folder with summary.json) under ``root``, sorted."""
    root = Path(root)
    return sorted(p.parent for p in root.rglob("summary.json")) if root.exists() else []


def _config_columns(config: dict) -> dict:
    phases = config.get("phases", [])
    return {
        "optimizer": "+".join(dict.fromkeys(p["optimizer"] for p in phases)),
        "lr": phases[0]["lr"] if phases else None,
        "activation_kwargs": json.dumps(config.get("activation_kwargs", {}), sort_keys=True),
        "train_subset": config.get("train_subset"),
        "total_epochs": sum(p["epochs"] for p in phases),
    }


def collect_summaries(root: str | Path) -> pd.DataFrame:
    """One row per finished run under ``root``: config fields + summary numbers + ``folder``."""
    rows = []
    for folder in run_folders(root):
        summary = json.loads((folder / "summary.json").read_text())
        config = json.loads((folder / "config.json").read_text())
        row = {k: summary.get(k) for k in ("paper", "dataset", "model", "activation", "seed")}
        row.update(_config_columns(config))
        row.update({k: summary.get(k) for k in SUMMARY_COLUMNS})
        row["folder"] = str(folder)
        rows.append(row)
    return pd.DataFrame(rows)


def load_history(folder: str | Path) -> pd.DataFrame:
    """Per-epoch history of one run, flattened (``activations.<site>.<key>``, ``delta_w.<layer>``, ...)."""
    records = json.loads((Path(folder) / "history.json").read_text())
    return pd.json_normalize(records, sep=".")


def load_histories(root: str | Path, label: str = "activation") -> pd.DataFrame:
    """Histories of every run under ``root`` stacked, with the summary/config columns attached."""
    frames = []
    table = collect_summaries(root)
    for _, row in table.iterrows():
        h = load_history(row["folder"])
        for col in table.columns:
            if col not in h.columns:
                h[col] = row[col]
        frames.append(h)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
