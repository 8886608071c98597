"""The papers' numbers beside ours, with a verdict per number.

Paper values live in one file, ``mixact_lib/paper_values.csv`` (columns
paper, table, dataset, model, activation, metric, paper_value, note), typed
from the extracted texts. Our values come from results folders written by
``tools/reproduce.py`` (``results/paper_<p>/<dataset>/<variant>/seed<k>``).
Paper A's Table 1 is compared once per reading of its lost eq. 9; paper C's
Table 1 also against runs that chose their epoch on a held-out validation
split (``results/paper_c/<dataset>-val/…``), where those exist.

Verdict rules (stated in the reproduction chapter too):

- a number **replicates** when the paper's value lies within our
  mean ± (2·std + half a unit of the paper's last printed digit), over ≥ 2 seeds;
- otherwise it **does not replicate**, and the note says by how much;
- with fewer than 2 seeds it is **not enough seeds**;
- a dataset or model we could not run here is **cannot be tested here**, with the reason.
"""
from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

import pandas as pd

from .results import collect_summaries, mixture_weights

COLUMNS = ["paper", "table", "dataset", "model", "activation", "metric", "paper_value",
           "ours_mean", "ours_std", "n_seeds", "verdict", "note"]
REPLICATES, DOES_NOT, TOO_FEW, UNTESTABLE = ("replicates", "does not replicate", "not enough seeds",
                                             "cannot be tested here")
CLAIM_COLUMNS = ["claim", "holds_in", "n_seeds", "verdict"]


def paper_values() -> pd.DataFrame:
    """Every number we compare against, with the table it comes from."""
    with resources.files("mixact_lib").joinpath("paper_values.csv").open() as f:
        return pd.read_csv(f)


def _half_unit(value: float) -> float:
    text = f"{value}".rstrip("0")
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10.0**-decimals


def verdict(paper_value: float, values: list[float]) -> tuple[str, str]:
    """Verdict and note for one number: see the module docstring for the rule."""
    s = pd.Series(values, dtype=float)
    if len(s) < 2:
        return TOO_FEW, f"{len(s)} seed(s); need ≥ 2 for a spread"
    mean, std = s.mean(), s.std()
    tolerance = 2 * std + _half_unit(paper_value)
    gap = paper_value - mean
    if abs(gap) <= tolerance:
        return REPLICATES, f"|paper − ours| = {abs(gap):.4f} ≤ 2·std + rounding = {tolerance:.4f}"
    side = "above" if gap > 0 else "below"
    return DOES_NOT, f"paper is {abs(gap):.4f} {side} our mean (tolerance {tolerance:.4f})"


def _home_runs(table: pd.DataFrame, paper: str, dataset: str | None, suffix: str) -> pd.DataFrame:
    if not len(table):
        return table
    rows = table[(table["paper"] == paper) & table["train_subset"].isna()]
    if dataset is not None:
        rows = rows[rows["dataset"] == dataset]
    home = [Path(f).parts[-4:-2] == (f"paper_{paper}", d + suffix) for f, d in zip(rows["folder"], rows["dataset"])]
    return rows[home]


def protocol_runs(table: pd.DataFrame, paper: str, dataset: str | None = None) -> pd.DataFrame:
    """The runs of ``table`` that count against a paper's numbers: its full protocol, nothing else.

    They live in ``paper_<p>/<dataset>/<variant>/seed<k>`` and use all the data. Variants in
    sibling folders (``<dataset>-val``: a held-out validation split; ``<dataset>-act-lr``: the
    learning-rate study) and subset runs are left out, so they can never mix into a verdict.
    """
    return _home_runs(table, paper, dataset, "")


def validation_runs(table: pd.DataFrame, paper: str, dataset: str | None = None) -> pd.DataFrame:
    """The full-protocol runs made with a held-out validation split: ``paper_<p>/<dataset>-val/…``."""
    return _home_runs(table, paper, dataset, "-val")


def _ours_paper_c(table: pd.DataFrame, metric: str = "best_test_acc", runs=protocol_runs) -> dict[tuple, list[float]]:
    out: dict[tuple, list[float]] = {}
    for _, r in runs(table, "c").iterrows():
        if pd.notna(r.get(metric)):
            out.setdefault((r["dataset"], r["activation"]), []).append(r[metric])
    return out


def norm_of(activation_kwargs: str) -> str:
    """The eq. 9 reading of a paper A run, from its ``activation_kwargs`` column (JSON; softmax by default)."""
    return json.loads(activation_kwargs).get("norm", "softmax")


def _ours_paper_a(table: pd.DataFrame, norm: str) -> dict[tuple, list[float]]:
    out: dict[tuple, list[float]] = {}
    for _, r in protocol_runs(table, "a").iterrows():
        if norm_of(r["activation_kwargs"]) != norm:
            continue
        for layer, weights in mixture_weights(r["folder"]).iterrows():
            for member, p in weights.items():
                out.setdefault((r["dataset"], f"weight {member} {layer}"), []).append(p)
    return out


#: the readings of paper A's lost eq. 9 (``make_activation("mix", norm=...)``), in the order the book shows them
PAPER_A_NORMS = ("softmax", "abs", "square")
#: the note of a paper C row measured with a validation split instead of the test set
VAL_NOTE = ("test accuracy at the best-validation epoch (10 % of train held out, trained on the other 90 %) "
            "against the paper's best-test number")


def _row(pv: pd.Series, ours: list[float], **overrides) -> dict:
    """One table row: the paper's number, ours (mean, std, n) and the verdict."""
    row = {k: pv[k] for k in ("paper", "table", "dataset", "model", "activation", "metric", "paper_value")}
    row.update(overrides)
    s = pd.Series(ours, dtype=float)
    row.update(ours_mean=s.mean() if len(s) else None, ours_std=s.std() if len(s) > 1 else None, n_seeds=len(s))
    if pd.isna(pv["paper_value"]):
        row.update(verdict=UNTESTABLE, note="the paper reports no value (did not converge)")
    elif not len(s):
        row.update(verdict=UNTESTABLE, note=_untestable_reason(pv))
    else:
        row["verdict"], row["note"] = verdict(float(pv["paper_value"]), list(s))
    return row


def reproduction_table(results_root: str | Path = "results",
                       paper_a_norms: tuple[str, ...] | list[str] = PAPER_A_NORMS) -> pd.DataFrame:
    """One row per paper number and way we measured it: ours (mean, std, n) and the verdict.

    Columns: :data:`COLUMNS`. Paper A's numbers get one row per reading of eq. 9 in
    ``paper_a_norms`` that has runs (``activation`` = ``mix (<norm>)``), or one untestable row when
    none has. Paper C's numbers get a second row (metric ``test_acc_at_best_val``) wherever
    validation-split runs exist, so the best-on-test selection can be judged beside the paper.
    """
    values = paper_values()
    table = collect_summaries(Path(results_root))
    ours_c = _ours_paper_c(table) if len(table) else {}
    ours_c_val = _ours_paper_c(table, "test_acc_at_best_val", validation_runs) if len(table) else {}
    ours_a = {norm: _ours_paper_a(table, norm) for norm in paper_a_norms} if len(table) else {}
    rows = []
    for _, pv in values.iterrows():
        if pv["paper"] == "A":
            measured = [(norm, ours[(pv["dataset"], pv["metric"])]) for norm, ours in ours_a.items()
                        if (pv["dataset"], pv["metric"]) in ours]
            if not measured:
                rows.append(_row(pv, []))
            for norm, ours in measured:
                row = _row(pv, ours, activation=f"{pv['activation']} ({norm})")
                row["note"] += f"; our reading of eq. 9: {norm}"
                rows.append(row)
        elif pv["paper"] == "C":
            key = (pv["dataset"], pv["activation"])
            rows.append(_row(pv, ours_c.get(key, [])))
            if key in ours_c_val:
                row = _row(pv, ours_c_val[key], metric="test_acc_at_best_val")
                row["note"] += f"; {VAL_NOTE}"
                rows.append(row)
        else:
            rows.append(_row(pv, []))
    return pd.DataFrame(rows, columns=COLUMNS)


def _untestable_reason(pv: pd.Series) -> str:
    if pv["dataset"] != "fmnist":
        return f"data unavailable: {pv['dataset']} cannot be downloaded on this machine (no dataset hub access)"
    return "no full-protocol runs committed yet (run tools/reproduce.py)"


#: an ordering claim replicates when it holds in at least this share of the seeds (and ≥ 2 seeds ran)
CLAIM_SHARE = 0.8


def claim_verdict(holds_in: int, n_seeds: int) -> str:
    """Verdict of a claim checked seed by seed: holds in ≥ 80 % of ≥ 2 seeds (4 of 5, 3 of 3, 2 of 2)."""
    if n_seeds < 2:
        return TOO_FEW
    return REPLICATES if holds_in >= math.ceil(CLAIM_SHARE * n_seeds - 1e-9) else DOES_NOT


def ordering_claims(results_root: str | Path = "results", dataset: str = "fmnist", metric: str = "best_test_acc",
                    validation: bool = False) -> pd.DataFrame:
    """Paper C's ordering claims checked seed by seed (paired): holds in how many seeds?

    ``metric`` is the summary number compared (the paper's is ``best_test_acc``); with
    ``validation`` the runs of the held-out-validation variant are used, e.g. with
    ``metric="test_acc_at_best_val"`` to check the claims with an epoch chosen without the test set.
    """
    table = collect_summaries(Path(results_root))
    if not len(table):
        return pd.DataFrame(columns=CLAIM_COLUMNS)
    c = (validation_runs if validation else protocol_runs)(table, "c", dataset)
    if not len(c):
        return pd.DataFrame(columns=CLAIM_COLUMNS)
    wide = c.pivot_table(index="seed", columns="activation", values=metric)
    claims = [("ConvNet-AdAct > ConvNet-ReLU", "adact", "relu"),
              ("ConvNet-Optimized ≥ ConvNet-AdAct", "optimized", "adact"),
              ("ConvNet-Optimized > ConvNet-ReLU", "optimized", "relu")]
    label = metric.replace("_", " ") + (", validation-split runs" if validation else "")
    rows = []
    for text, better, worse in claims:
        if better not in wide or worse not in wide:
            continue
        pair = wide[[better, worse]].dropna()
        holds = int((pair[better] >= pair[worse]).sum() if "≥" in text else (pair[better] > pair[worse]).sum())
        n = len(pair)
        rows.append({"claim": f"{text} ({dataset}, {label})", "holds_in": holds, "n_seeds": n,
                     "verdict": claim_verdict(holds, n)})
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


#: paper A's members that its text calls "convergent" (bounded): tanh and sin, against ReLU
CONVERGENT = ("tanh", "sin")


def paper_a_claims_per_run(folders: list[str | Path]) -> pd.DataFrame:
    """Paper A's two readings of its Table 1, checked on each run's final weights.

    Columns: ``folder``, ``layer1_relu`` (ReLU has the largest weight p in layer 1) and
    ``deeper_convergent`` (in every layer after the first, tanh or sin outweighs ReLU).
    """
    rows = []
    for folder in folders:
        layers = mixture_weights(folder)  # layer × member
        deeper = layers.iloc[1:]
        rows.append({"folder": str(folder), "layer1_relu": bool(layers.iloc[0].idxmax() == "relu"),
                     "deeper_convergent": bool((deeper[list(CONVERGENT)].max(axis=1) > deeper["relu"]).all())})
    return pd.DataFrame(rows, columns=["folder", "layer1_relu", "deeper_convergent"])


def paper_a_claims(results_root: str | Path = "results", dataset: str = "fmnist") -> pd.DataFrame:
    """Paper A's reading of its Table 1, checked run by run for every reading of eq. 9.

    Claim 1 (§4, eq. 11–13): "first activation layer is more dominated by ReLU": ReLU has the
    largest weight p in layer 1. Claim 2 (§4 and §5): deeper layers "prefer more convergent
    activation functions": in every layer after the first, tanh or sin outweighs ReLU.
    A claim replicates when it holds in ≥ 80 % of the seeds (at least 2).
    """
    table = collect_summaries(Path(results_root))
    columns = ["norm", "claim", "holds_in", "n_seeds", "verdict"]
    if not len(table):
        return pd.DataFrame(columns=columns)
    runs = protocol_runs(table, "a", dataset)
    rows = []
    for norm, group in runs.groupby(runs["activation_kwargs"].map(norm_of)):
        checks = paper_a_claims_per_run(group["folder"].tolist())
        for text, column in (("layer 1: ReLU has the largest weight", "layer1_relu"),
                             ("layers 2+: tanh or sin outweighs ReLU in every deeper layer", "deeper_convergent")):
            n, k = len(checks), int(checks[column].sum())
            rows.append({"norm": norm, "claim": text, "holds_in": k, "n_seeds": n, "verdict": claim_verdict(k, n)})
    return pd.DataFrame(rows, columns=columns)
