"""The papers' numbers beside ours, with a verdict per number and per ordering claim.

Paper values live in one file, ``mixact_lib/analysis/paper_values.csv`` (columns
paper, table, dataset, model, activation, metric, paper_value, note), typed
from the extracted texts. Our values come from results folders written by
``tools/reproduce.py`` (``results/paper_<p>/<dataset>/<variant>/seed<k>``).
Paper A's Table 1 is compared once per reading of its lost eq. 9; paper C's
Table 1 also against runs that chose their epoch on a held-out validation
split (``results/paper_c/<dataset>-val/…``), where those exist.

Value verdicts (:func:`reproduction_table`, rules in :mod:`mixact_lib.analysis.stats` and the reproduction
chapter): the paper reports one run, so its number is set against a 95 % *prediction interval for one
new run*, mean ± t_{n−1}·√(sd²(1 + 1/n) + se²), where se is the binomial test-set error of an accuracy
scored on other images than the paper's (0 when the test set is shared, and for mixture weights). It **replicates** when it lies inside the interval and the interval is narrower
than the *effect* the paper builds on; it **does not replicate** when it lies outside; otherwise the data
are **inconclusive**, with the seeds it would take; a number without runs **cannot be tested here**.
The effect (:func:`effect_of`):

- an accuracy: the smallest non-zero gap between it and the paper's other networks (activations) in the
  same table, dataset, model and metric, the differences its claims rest on (paper C, Fashion-MNIST:
  0.001 for AdAct and Optimized, 0.003 for ReLU);
- a paper A mixture weight: |paper value − 1/3|, its distance from the uniform start. Only that distance
  says a layer learned a preference; a weight near 1/3 cannot replicate anything.

Ordering claims (``results/claims.csv``) are judged by the analysis plan: :mod:`mixact_lib.analysis.analysis_plan`.

Test-set error: paper C and we score the same 10,000 Fashion-MNIST test images (and every paper here uses
its dataset's standard test split), so the binomial error of the test set is shared by the paper's number and
ours and does not widen the interval. It is added only for runs scored on a subset of the test set
(``test_subset``), whose images differ from the paper's.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pandas as pd

from . import stats
from ..runs.folders import collect_summaries
from .results import compare_predictions, mixture_weights

COLUMNS = ["paper", "table", "dataset", "model", "activation", "metric", "paper_value",
           "ours_mean", "ours_std", "n_seeds", "verdict", "note",
           "interval_low", "interval_high", "effect", "seeds_needed", "rule", "role"]
#: ``role`` of a row: ``primary`` is the one row that counts for its paper number (paper A under the primary
#: reading of eq. 9, paper C on the paper's own metric); the others are ``sensitivity`` (paper A's other readings)
#: or ``secondary`` (paper C at the best-validation epoch), shown but never counted as further numbers
ROLES = ("primary", "sensitivity", "secondary")
REPLICATES, DOES_NOT, INCONCLUSIVE, UNTESTABLE = stats.VERDICTS
#: test images per dataset when a run used the whole test set (``test_subset`` None)
FULL_TEST_SIZE = {"mnist": 10_000, "fmnist": 10_000, "kmnist": 10_000, "cifar10": 10_000, "cifar100": 10_000,
                  "svhn": 26_032}
#: paper A's mixture starts uniform: every member's weight is 1/3
UNIFORM = 1 / 3
#: the readings of paper A's lost eq. 9 (``make_activation("mix", norm=...)``), in the order the book shows them
PAPER_A_NORMS = ("softmax", "abs", "square")
#: the primary reading (the analysis plan's paper A family reads its runs); the others are sensitivity analyses
PRIMARY_NORM = "softmax"
#: paper A's members that its text calls "convergent" (bounded): tanh and sin, against ReLU
CONVERGENT = ("tanh", "sin")
#: the note of a paper C row measured with a validation split instead of the test set
VAL_NOTE = ("test accuracy at the best-validation epoch (10 % of train held out, trained on the other 90 %) "
            "against the paper's best-test number")


def paper_values() -> pd.DataFrame:
    """Every number we compare against, with the table it comes from."""
    with resources.files("mixact_lib.analysis").joinpath("paper_values.csv").open() as f:
        return pd.read_csv(f)


def n_test_of(folder: str | Path, dataset: str) -> int:
    """Test images a run was scored on: its config's ``test_subset``, else the dataset's full test set."""
    subset = json.loads((Path(folder) / "config.json").read_text()).get("test_subset")
    full = FULL_TEST_SIZE.get(dataset)
    if full is None and not subset:
        raise ValueError(f"the test-set size of {dataset!r} is unknown; add it to reproduction.FULL_TEST_SIZE")
    return min(subset, full) if subset and full else (subset or full)


def unshared_test_size(folder: str | Path, dataset: str) -> int | None:
    """Test images of a run that the paper did *not* score on: None when it used the whole standard test set.

    Then the paper's number and ours share the same test images, and their binomial sampling error is common
    to both: it must not widen the interval they are compared with (it would be counted twice).
    """
    n = n_test_of(folder, dataset)
    return None if n == FULL_TEST_SIZE.get(dataset) else n


def effect_of(pv: pd.Series, values: pd.DataFrame) -> tuple[float | None, str]:
    """The effect a paper number is judged against, and where it comes from (module docstring)."""
    if pv["paper"] == "A":
        return abs(pv["paper_value"] - UNIFORM), "|paper − 1/3|, the distance from the uniform start"
    same = values[(values[["paper", "table", "dataset", "model", "metric"]] == pv[["paper", "table", "dataset",
                                                                                   "model", "metric"]]).all(axis=1)]
    gaps = (same.paper_value - pv["paper_value"]).abs()
    others = same[(same.activation != pv["activation"]) & (gaps > 0)]
    if pd.isna(pv["paper_value"]) or not len(others):
        return None, "no other network to tell it from"
    nearest = others.loc[gaps[others.index].idxmin()]
    return (float(gaps[nearest.name]), f"the smallest gap to the paper's other networks on {pv['dataset']} "
            f"({nearest.activation} {nearest.paper_value:g})")


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


def norm_of(activation_kwargs: str) -> str:
    """The eq. 9 reading of a paper A run, from its ``activation_kwargs`` column (JSON; softmax by default)."""
    return json.loads(activation_kwargs).get("norm", "softmax")


def _ours_paper_c(table: pd.DataFrame, metric: str = "best_test_acc", runs=protocol_runs) -> dict[tuple, list]:
    """(dataset, activation) → [(value, test images not shared with the paper, or None)] over the runs."""
    out: dict[tuple, list] = {}
    for _, r in runs(table, "c").iterrows():
        if pd.notna(r.get(metric)):
            out.setdefault((r["dataset"], r["activation"]), []).append(
                (r[metric], unshared_test_size(r["folder"], r["dataset"])))
    return out


def _ours_paper_a(table: pd.DataFrame, norm: str) -> dict[tuple, list]:
    """(dataset, "weight <member> layer <i>") → [(p, None)] over the runs of one reading of eq. 9."""
    out: dict[tuple, list] = {}
    for _, r in protocol_runs(table, "a").iterrows():
        if norm_of(r["activation_kwargs"]) != norm:
            continue
        for layer, weights in mixture_weights(r["folder"]).iterrows():
            for member, p in weights.items():
                out.setdefault((r["dataset"], f"weight {member} {layer}"), []).append((p, None))
    return out


def _note(verdict: dict, paper_value: float, mean: float, effect: float, n_test: int | None) -> str:
    low, high = verdict["interval_low"], verdict["interval_high"]
    if verdict["verdict"] == DOES_NOT:
        side, gap = ("above", paper_value - high) if paper_value > high else ("below", low - paper_value)
        return f"paper is {abs(paper_value - mean):.4f} {side} our mean, {gap:.4f} outside the interval"
    width = high - low
    if verdict["verdict"] == REPLICATES:
        return f"paper inside the interval, whose width {width:.4f} is below the effect {effect:.4f}"
    needed = verdict["seeds_needed"]
    spread = "seeds and test set" if n_test else "seeds"
    more = (f"{needed} seeds would narrow it enough" if needed else
            f"no number of seeds would: one run's own spread ({spread}) is wider than the effect")
    return f"paper inside the interval, but its width {width:.4f} is not below the effect {effect:.4f}; {more}"


def _row(pv: pd.Series, ours: list, values: pd.DataFrame, **overrides) -> dict:
    """One table row: the paper's number, ours (mean, std, n), the interval, the effect and the verdict."""
    row = {k: pv[k] for k in ("paper", "table", "dataset", "model", "activation", "metric", "paper_value")}
    row.update(overrides)
    s = pd.Series([v for v, _ in ours], dtype=float)
    n_test = min((n for _, n in ours if n), default=None)
    row.update(ours_mean=s.mean() if len(s) else None, ours_std=s.std() if len(s) > 1 else None, n_seeds=len(s))
    effect, why = effect_of(pv, values)
    if pd.isna(pv["paper_value"]):  # no number to test, whatever we ran
        because = "the paper reports no value (did not converge)"
        result = {"verdict": UNTESTABLE, "interval_low": None, "interval_high": None, "rule": because,
                  "seeds_needed": None}
    else:  # no effect to resolve (no other network): 0, so the number can never replicate
        result = stats.value_verdict(float(pv["paper_value"]), list(s), effect or 0.0, n_test=n_test,
                                     untestable_because=_untestable_reason(pv))
    row.update(result, effect=effect)
    if result["verdict"] == UNTESTABLE:
        row["note"] = result["rule"]
    else:
        row["rule"] = f"{result['rule']} = {why}"
        row["note"] = _note(result, float(pv["paper_value"]), s.mean(), effect or 0.0, n_test)
    return row


def reproduction_table(results_root: str | Path = "results",
                       paper_a_norms: tuple[str, ...] | list[str] = PAPER_A_NORMS) -> pd.DataFrame:
    """One row per paper number and way we measured it: ours (mean, std, n), interval, effect, verdict.

    Columns: :data:`COLUMNS` (``role``: :data:`ROLES`). Paper A's numbers get one row per reading of eq. 9 in
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
                rows.append(_row(pv, [], values, role="primary"))
            for norm, ours in measured:
                row = _row(pv, ours, values, activation=f"{pv['activation']} ({norm})",
                           role="primary" if norm == PRIMARY_NORM else "sensitivity")
                row["note"] += f"; our reading of eq. 9: {norm}"
                rows.append(row)
        elif pv["paper"] == "C":
            key = (pv["dataset"], pv["activation"])
            rows.append(_row(pv, ours_c.get(key, []), values, role="primary"))
            if key in ours_c_val:
                row = _row(pv, ours_c_val[key], values, metric="test_acc_at_best_val", role="secondary")
                row["note"] += f"; {VAL_NOTE}"
                rows.append(row)
        else:
            rows.append(_row(pv, [], values, role="primary"))
    return pd.DataFrame(rows, columns=COLUMNS).astype({"seeds_needed": "Int64"})


def _untestable_reason(pv: pd.Series) -> str:
    if pv["dataset"] != "fmnist":
        return f"data unavailable: {pv['dataset']} cannot be downloaded on this machine (no dataset hub access)"
    return "no full-protocol runs committed yet (run tools/reproduce.py)"


def paper_a_margins(folder: str | Path) -> dict[str, float]:
    """Paper A's two readings of Table 1 as margins on one run's final weights (> 0: it holds in this run).

    ``layer 1``: p_relu − max(p_tanh, p_sin); ``layer i`` (i ≥ 2): max(p_tanh, p_sin) − p_relu. A description
    per run only: as a test statistic the margin is biased (a max minus one member is positive on average when
    nothing is preferred); the tests use p_relu − 1/3 (:mod:`mixact_lib.analysis.analysis_plan`).
    """
    layers = mixture_weights(folder)
    convergent = layers[list(CONVERGENT)].max(axis=1)
    margins = convergent - layers["relu"]
    margins.iloc[0] = -margins.iloc[0]
    return margins.to_dict()


def paper_a_claims_per_run(folders: list[str | Path]) -> pd.DataFrame:
    """Paper A's two claims on each run's final weights, as yes/no: a description per run, not a test.

    Columns: ``folder``, ``layer1_relu`` (ReLU has the largest weight p in layer 1) and
    ``deeper_convergent`` (in every layer after the first, tanh or sin outweighs ReLU).
    """
    rows = []
    for folder in folders:
        margins = list(paper_a_margins(folder).values())
        rows.append({"folder": str(folder), "layer1_relu": bool(margins[0] > 0),
                     "deeper_convergent": bool(all(m > 0 for m in margins[1:]))})
    return pd.DataFrame(rows, columns=["folder", "layer1_relu", "deeper_convergent"])


def paper_c_cost(table: pd.DataFrame, dataset: str = "fmnist") -> pd.DataFrame:
    """What each paper C network really costs to obtain: its own training plus any run it was derived from.

    ConvNet-Optimized is built from a finished AdAct run (its arg max per layer, ``optimized_from`` in
    its ``config.json``) and then trained from scratch, so its cost is the AdAct run's epochs and seconds
    plus its own. Epochs are exact; seconds are the wall clock of whatever machine and load each run had
    (``environment.json``), so compare medians and read them as rough. One row per protocol run:
    ``network, seed, epochs, seconds, search_epochs, search_seconds, best_test_acc, final_test_acc``.
    """
    runs = protocol_runs(table, "c", dataset) if len(table) else table
    by_tail = {Path(f).parts[-4:]: r for f, r in zip(runs.get("folder", []), runs.itertuples())}
    rows = []
    for r in runs.itertuples():
        config = json.loads((Path(r.folder) / "config.json").read_text())
        search_epochs, search_seconds = 0, 0.0
        if config.get("optimized_from"):
            parent = by_tail.get(Path(config["optimized_from"]).parts[-4:])
            if parent is None:
                raise FileNotFoundError(f"{r.folder} was optimized from {config['optimized_from']}, which is not "
                                        "among the committed protocol runs; its cost cannot be counted")
            search_epochs, search_seconds = int(parent.total_epochs), float(parent.total_seconds)
        rows.append({"network": r.activation, "seed": int(r.seed),
                     "epochs": int(r.total_epochs) + search_epochs,
                     "seconds": float(r.total_seconds) + search_seconds,
                     "search_epochs": search_epochs, "search_seconds": search_seconds,
                     "best_test_acc": r.best_test_acc, "final_test_acc": r.final_test_acc})
    return pd.DataFrame(rows, columns=["network", "seed", "epochs", "seconds", "search_epochs", "search_seconds",
                                       "best_test_acc", "final_test_acc"])


def mcnemar_by_seed(table: pd.DataFrame, first: str, second: str, dataset: str = "fmnist",
                    which: str = "final") -> pd.DataFrame:
    """McNemar's test of two paper C networks, seed by seed, on their saved test-set predictions.

    Only seeds where both protocol runs saved ``predictions.npz`` count (runs made before the file existed
    are skipped, not guessed). ``which``: ``final``, ``best_test`` or ``best_val``. Columns: ``seed``,
    ``acc_<first>``, ``acc_<second>``, ``<first>_only`` and ``<second>_only`` (examples only that network
    gets right), ``p_value``.
    """
    from ..training.records import PREDICTIONS

    runs = protocol_runs(table, "c", dataset) if len(table) else table
    rows = []
    if len(runs):
        folders = runs.pivot_table(index="seed", columns="activation", values="folder", aggfunc="first")
        for seed, r in folders.iterrows():
            if first not in r or second not in r or pd.isna(r[first]) or pd.isna(r[second]):
                continue
            if not ((Path(r[first]) / PREDICTIONS).exists() and (Path(r[second]) / PREDICTIONS).exists()):
                continue  # made before runs saved their predictions
            c = compare_predictions(r[first], r[second], which)
            rows.append({"seed": int(seed), f"acc_{first}": c["acc_a"], f"acc_{second}": c["acc_b"],
                         f"{first}_only": c["a_only"], f"{second}_only": c["b_only"], "p_value": c["p_value"]})
    return pd.DataFrame(rows, columns=["seed", f"acc_{first}", f"acc_{second}", f"{first}_only", f"{second}_only",
                                       "p_value"])


def act_lr_studies(results_root: str | Path = "results", dataset: str = "fmnist") -> dict[int, pd.DataFrame]:
    """Paper A's learning-rate studies (``paper_a/<dataset>-act-lr-<E>ep``), longest cycle 2 first.

    Maps E (the epochs of cycle 2) to that study's finished cycle-2 runs (``act_lr=<lr>/seed<k>``, with a
    ``norm`` column); studies with no finished cycle-2 run are left out.
    """
    studies = {}
    for folder in Path(results_root, "paper_a").glob(f"{dataset}-act-lr-*ep"):
        epochs = folder.name.rsplit("-", 1)[1][:-2]
        runs = collect_summaries(folder) if epochs.isdigit() else pd.DataFrame()
        if len(runs):
            runs = runs[runs.folder.map(lambda f: Path(f).parts[-2].startswith("act_lr="))].copy()
        if len(runs):
            runs["norm"] = runs.activation_kwargs.map(norm_of)
            studies[int(epochs)] = runs
    return dict(sorted(studies.items(), reverse=True))
