"""What the paper C chapter (``book/paper_c.ipynb``) prints: its runs and their cost, Table 1 beside ours, the
planned claims on its runs, and the activation each layer chose.

Every function takes the chapter's run table (:func:`mixact_lib.collect_summaries` of its ``runs`` folder) or
what an earlier function returned, and returns a DataFrame, a formatted table or text; the notebook shows them
and writes the CSVs.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from ...analysis.reproduction import paper_values
from ...analysis.results import mean_sd_table, mixture_weights
from ...runs.config import RunConfig
from .. import plan_tables
from ..tables import MISSING, Table, mean_sd, show_table

#: the three networks of paper C's Table 1, in its order
NAMES = {"adact": "ConvNet-AdAct", "relu": "ConvNet-ReLU", "optimized": "ConvNet-Optimized"}
TIMING_NOTE = ("Seconds are the wall clock of a machine shared with other jobs, so they move with its load; compare "
               "the ratio to ReLU's run of the same seed. Optimized's time is its own run only, without the AdAct run "
               "it is read from.")


def optimized_configs(base: RunConfig, table: pd.DataFrame, seeds: list[int], root: str | Path) -> list[RunConfig]:
    """ConvNet-Optimized of each seed: ``base`` rebuilt from that seed's AdAct run in ``table`` (its dominant
    activation per layer, ``optimized_from``) and trained from scratch into ``root/activation=optimized__seed=<s>``."""
    configs = []
    for seed in seeds:
        adact_run = table[(table.activation == "adact") & (table.seed == seed)].folder.item()
        configs.append(dataclasses.replace(base, activation="optimized", seed=seed, optimized_from=adact_run,
                                           activation_kwargs={},
                                           out=str(Path(root) / f"activation=optimized__seed={seed}")))
    return configs


def runs_view(table: pd.DataFrame) -> Table:
    """One row per run: network, seed, best and final test accuracy, seconds, seconds ÷ those of ReLU's run of the
    same seed (side by side on one machine), parameters."""
    relu_seconds = table[table.activation == "relu"].set_index("seed").total_seconds
    shown = table.assign(time_vs_relu=table.total_seconds / table.seed.map(relu_seconds))
    return show_table(shown[["activation", "seed", "best_test_acc", "final_test_acc", "total_seconds", "time_vs_relu",
                             "num_params"]], labels={"time_vs_relu": "time ÷ ReLU's"}, note=TIMING_NOTE)


def beside_table1(table: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Paper C's Table 1 for ``dataset`` beside ours: per network, our best and final test accuracy as mean ± sd
    over seeds (text), the paper's number (NaN where it has none) and our seeds."""
    stats = mean_sd_table(table, "activation", ["best_test_acc", "final_test_acc"]).set_index("activation")
    paper = paper_values().query("paper == 'C' and dataset == @dataset").set_index("activation")["paper_value"]
    return pd.DataFrame([{"model": NAMES[act],
                          "ours: best test acc": mean_sd(stats.best_test_acc_mean[act], stats.best_test_acc_std[act]),
                          "ours: final test acc": mean_sd(stats.final_test_acc_mean[act],
                                                          stats.final_test_acc_std[act]),
                          "paper (Table 1)": paper.get(act, float("nan")),
                          "seeds": int(stats.best_test_acc_count[act])} for act in NAMES])


def table1_view(table1: pd.DataFrame) -> Table:
    """:func:`beside_table1` as the page shows it: the paper's numbers as printed."""
    return show_table(table1, formats={"paper (Table 1)": "{:g}"})


def table1_glue(table1: pd.DataFrame) -> dict[str, str]:
    """The sentence under Table 1, as glue names → text: ours (best test accuracy) and the paper's per network."""
    glued = {}
    for act, row in zip(NAMES, table1.itertuples(index=False)):
        glued[f"c_ours_{act}"] = row[1]
        glued[f"c_paper_{act}"] = MISSING if pd.isna(row[3]) else f"{row[3]:g}"
    return glued


def profile_note(profile: str, dataset: str, train_subset: int | None, epochs: int, seeds: list[int]) -> str:
    """What this chapter's runs are, and why they are not comparable to Table 1."""
    subset = "all" if train_subset is None else f"{train_subset:,}"
    return (f"Profile **{profile}**: {dataset}, {subset} training images, {epochs} epochs, seeds {seeds}. Paper C "
            f"trains 15 epochs on the full training set, so quick-profile numbers are not comparable to its Table 1; "
            "{ref}`reproduction` has the full-protocol comparison.")


def claims_section(claims: pd.DataFrame, seeds: list[int]) -> tuple[Table | None, str]:
    """The planned claims on this chapter's runs (:func:`mixact_lib.analysis.analysis_plan.chapter_claims`): their
    table and the sentence of their verdicts, or no table and why not when there are fewer than two seeds."""
    if not len(claims):
        return None, (f"With {len(seeds)} seed{'s' if len(seeds) != 1 else ''}, no paired test of paper C's ordering "
                      "claims (AdAct > ReLU, Optimized on par with AdAct, Optimized > ReLU) is possible here: give "
                      "two or more `seeds`. The full-protocol test is in {ref}`reproduction`.")
    return show_table(plan_tables.claims_view(claims)), (
        f"Paper C's ordering claims on these runs, paired by seed and judged as the analysis plan judges them (Holm "
        f"over these {len(claims)} rows): **" + plan_tables.counts_phrase(claims) + "**. The full-protocol test, "
        "read at 20 paired seeds, is in {ref}`reproduction`.")


def committed_primary(results_root: str | Path) -> str:
    """The analysis plan's primary family as committed (``<results_root>/claims.csv``, written by
    ``tools/reproduce.py --table`` from the full-protocol runs): one sentence per claim
    (:func:`plan_tables.claim_sentence`), or what to run when the file or the family is missing."""
    path = Path(results_root) / "claims.csv"
    if not path.exists():
        return (f"No committed claims at `{path}`: `python tools/reproduce.py --table` writes them from the "
                "full-protocol runs.")
    primary = pd.read_csv(path).query("family == 'primary'")
    if primary.empty:
        return f"`{path}` holds no primary claims: `python tools/reproduce.py --table` rewrites it from the runs."
    return ("**At the paper's protocol**, on the committed runs (`tools/reproduce.py`, `results/paper_c/`), the "
            "analysis plan's primary family reads, Holm-corrected over its claims ({ref}`reproduction-findings` "
            "gives the rest):\n\n" + "\n".join(f"- {plan_tables.claim_sentence(r)}" for r in primary.itertuples()))


def chosen_activations(table: pd.DataFrame) -> pd.DataFrame:
    """Per AdAct run and layer, the member ConvNet-Optimized takes (largest softmax weight), its weight, the
    runner-up and the margin between them: seed, layer, chosen, weight, runner-up, margin."""
    rows = []
    for r in table[table.activation == "adact"].itertuples():
        for layer, weights in mixture_weights(r.folder, "weights").iterrows():
            top = weights.sort_values(ascending=False)
            rows.append({"seed": r.seed, "layer": layer, "chosen": top.index[0], "weight": top.iloc[0],
                         "runner-up": top.index[1], "margin": top.iloc[0] - top.iloc[1]})
    return pd.DataFrame(rows, columns=["seed", "layer", "chosen", "weight", "runner-up", "margin"])


def chosen_view(chosen: pd.DataFrame) -> Table:
    """:func:`chosen_activations` as the page shows it: weights to 3 decimals, margins to 4."""
    return show_table(chosen, digits={"weight": 3, "margin": 4})


def chosen_glue(chosen: pd.DataFrame, members: int = 7) -> dict[str, str]:
    """The sentence under the chosen activations, as glue names → text: a uniform weight (1/``members``), the
    largest learned weight and the median margin over the runner-up."""
    return {"c_uniform": f"{1 / members:.3f}", "c_max_weight": f"{chosen.weight.max():.3f}",
            "c_median_margin": f"{chosen.margin.median():.4f}"}
