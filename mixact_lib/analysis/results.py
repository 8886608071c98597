"""Tables computed from run folders: means and SDs, paired differences, learned weights and their paths.

The folders are read by :mod:`mixact_lib.runs.folders`; a folder is what :func:`mixact_lib.runs.runner.run`
writes: ``config.json``, ``history.json``, ``summary.json`` (+ ``environment.json``).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..runs.folders import load_history


def mean_sd_table(table: pd.DataFrame, by: list[str] | str, values: list[str] | str) -> pd.DataFrame:
    """Mean, std and count over seeds of ``values`` grouped by ``by``."""
    by = [by] if isinstance(by, str) else list(by)
    values = [values] if isinstance(values, str) else list(values)
    grouped = table.groupby(by, sort=False)[values]
    out = grouped.agg(["mean", "std", "count"])
    out.columns = [f"{v}_{stat}" for v, stat in out.columns]
    return out.reset_index()


def paired_differences(table: pd.DataFrame, pairs: list[tuple[str, str]], metric: str = "final_test_acc",
                       by: list[str] | str = "model", column: str = "activation",
                       higher_is_better: bool = True, confidence: float = 0.95) -> pd.DataFrame:
    """``challenger − baseline`` per seed for each (baseline, challenger) pair, within each ``by`` group.

    Runs are paired by seed (same init seed and batch order). One row per group and pair:
    mean and std of the difference, and ``wins`` = seeds where the challenger is better
    (``higher_is_better`` says which direction that is), out of ``n_seeds`` paired seeds.
    ``ci_low``/``ci_high`` bound the mean difference d̄ at ``confidence`` by the paired t-test,
    d̄ ± t_{(1+confidence)/2, n−1} · s_d/√n, and ``p_value`` is its two-sided p for d̄ = 0
    (:func:`mixact_lib.analysis.stats.paired_difference`); both are NaN with fewer than two seeds. An
    interval that contains 0 means the comparison is inconclusive.
    """
    by = [by] if isinstance(by, str) else list(by)
    rows = []
    for key, group in table.groupby(by, sort=False) if by else [((), table)]:
        key = key if isinstance(key, tuple) else (key,)
        for baseline, challenger in pairs:
            a = group[group[column] == baseline].set_index("seed")[metric]
            b = group[group[column] == challenger].set_index("seed")[metric]
            if a.index.duplicated().any() or b.index.duplicated().any():
                raise ValueError(f"several {metric} values per seed for {baseline!r} or {challenger!r} in group "
                                 f"{key}; add the column that tells them apart to `by`")
            seeds = a.index.intersection(b.index)
            if seeds.empty:
                continue
            diff = b[seeds] - a[seeds]
            better = diff > 0 if higher_is_better else diff < 0
            rows.append({**dict(zip(by, key)), "baseline": baseline, "challenger": challenger,
                         "diff_mean": diff.mean(), "diff_std": diff.std(), "wins": int(better.sum()),
                         "n_seeds": len(seeds), **_paired_t(b[seeds], a[seeds], confidence)})
    return pd.DataFrame(rows)


def _paired_t(challenger: pd.Series, baseline: pd.Series, confidence: float) -> dict:
    """ci_low, ci_high and p_value of :func:`mixact_lib.analysis.stats.paired_difference`; NaN below two pairs."""
    if len(challenger) < 2:
        return {"ci_low": float("nan"), "ci_high": float("nan"), "p_value": float("nan")}
    from .stats import paired_difference

    result = paired_difference(challenger.to_numpy(float), baseline.to_numpy(float), confidence)
    return {k: result[k] for k in ("ci_low", "ci_high", "p_value")}


def mixture_weights(summary_or_folder: dict | str | Path, which: str = "weights") -> pd.DataFrame:
    """Layer × member table of a mixture run's final weights (``which``: ``weights`` or ``raw``)."""
    summary = summary_or_folder
    if not isinstance(summary, dict):
        summary = json.loads((Path(summary_or_folder) / "summary.json").read_text())
    rows = {}
    for site, values in summary.get("activation_params", {}).items():
        if which in values:
            rows[site] = values[which]
    if not rows:
        raise ValueError("this run has no mixture activations (no 'weights' in activation_params)")
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = [f"layer {i + 1}" for i in range(len(table))]
    return table


def weight_trajectories(folders: list[str | Path], which: str = "weights") -> pd.DataFrame:
    """Mixture weights after every epoch of each run, tidy: folder, epoch, phase, trains, layer, member, p.

    Reads ``history.json`` (one record per epoch, with the normalised weights p = normalise(w) and
    the raw w of every mixture site). ``layer i`` numbers the sites in the order the model applies
    them, as in :func:`mixture_weights`. Use it to see when the weights move, e.g. only in
    paper A's second cycle, where the network is frozen and only the mixture trains.
    """
    rows = []
    for folder in folders:
        records = json.loads((Path(folder) / "history.json").read_text())
        for rec in records:
            sites = rec.get("activations") or {}
            for i, params in enumerate(sites.values()):
                for member, p in (params.get(which) or {}).items():
                    rows.append({"folder": str(folder), "epoch": rec["epoch"], "phase": rec.get("phase"),
                                 "trains": rec.get("trains"), "layer": f"layer {i + 1}", "member": member, "p": p})
    if not rows:
        raise ValueError(f"no mixture weights ({which!r}) in the histories of {len(folders)} run(s); "
                         "were they trained with a mixture activation such as 'mix' or 'adact'?")
    return pd.DataFrame(rows)


def phase_accuracy(folders: list[str | Path]) -> pd.DataFrame:
    """Test accuracy per training phase of each run: folder, phase, trains, epochs, end_test_acc, best_test_acc.

    ``end_test_acc`` is the accuracy after the phase's last epoch, ``best_test_acc`` the best
    within the phase. For paper A's three cycles (net → mixture → net) this says what the
    mixture cycle and the second network cycle add over the first, run by run.
    """
    rows = []
    for folder in folders:
        history = load_history(folder)
        if "phase" not in history:
            raise ValueError(f"{folder}: history.json has no 'phase' field; was it written by mixact's train()?")
        for phase, h in history.groupby("phase", sort=True):
            rows.append({"folder": str(folder), "phase": int(phase), "trains": h["trains"].iloc[0],
                         "epochs": f"{h['epoch'].min()}–{h['epoch'].max()}",
                         "end_test_acc": h["test_acc"].iloc[-1], "best_test_acc": h["test_acc"].max()})
    return pd.DataFrame(rows, columns=["folder", "phase", "trains", "epochs", "end_test_acc", "best_test_acc"])


def rebuild_activations(folder: str | Path) -> dict[str, "torch.nn.Module"]:
    """The trained activation module of every learnable site of a finished run, keyed ``layer i``."""
    import torch

    from ..activations import make_activation

    folder = Path(folder)
    summary = json.loads((folder / "summary.json").read_text())
    config = json.loads((folder / "config.json").read_text())
    modules = {}
    for i, (site, state) in enumerate(summary.get("activation_state", {}).items()):
        kwargs = dict(config.get("activation_kwargs") or {})
        if "w" in state and isinstance(state["w"][0], list):
            kwargs.update(per_channel=True, num_channels=len(state["w"]))
        module = make_activation(config["activation"], **kwargs)
        module.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
        modules[f"layer {i + 1}"] = module.eval()
    return modules


def compare_predictions(folder_a: str | Path, folder_b: str | Path, which: str = "final") -> dict:
    """Two runs on the same test set, example by example: exact McNemar test on their predictions.

    ``which`` picks the saved epoch: ``final``, ``best_test`` or ``best_val`` (see
    ``predictions.npz``, written by every run since the file was introduced). Returns both
    accuracies, the counts of examples only one run gets right, and McNemar's p-value.
    """
    from .stats import mcnemar
    from ..training.records import read_predictions

    saved = [read_predictions(folder) for folder in (folder_a, folder_b)]
    for folder, preds in zip((folder_a, folder_b), saved):
        if preds is None:
            raise ValueError(f"{folder} has no predictions.npz: it was made before runs saved their test-set "
                             "predictions; rerun it to compare example by example")
        if which not in preds:
            raise ValueError(f"{folder}/predictions.npz has no {which!r} predictions; it has "
                             f"{', '.join(k for k in preds if not k.endswith(('_epoch', '_score')) and k != 'labels')}")
    (a, b) = saved
    if a["labels"].shape != b["labels"].shape or (a["labels"] != b["labels"]).any():
        raise ValueError(f"{folder_a} and {folder_b} were tested on different examples; McNemar needs the same test set")
    correct_a, correct_b = a[which] == a["labels"], b[which] == b["labels"]
    return {"acc_a": float(correct_a.mean()), "acc_b": float(correct_b.mean()), **mcnemar(correct_a, correct_b)}
