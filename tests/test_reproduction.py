"""Verdicts against the papers' numbers and claims, built from (fake) results folders."""
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import mixact_lib as mx
from mixact_lib import reproduction, stats, verdict_tables
from mixact_lib.reproduction import DOES_NOT, INCONCLUSIVE, REPLICATES, UNTESTABLE

ROOT = Path(__file__).resolve().parents[1]
T_ONE_DF = 12.706204736174698  # t_{1, 0.975}, from tables
T_TWO_DF = 4.302652729749464  # t_{2, 0.975}


def _run(root: Path, paper: str, variant: str, seed: int, summary: dict, activation_kwargs: dict | None = None,
         train_subset: int | None = None, activation: str | None = None, home: str = "fmnist") -> None:
    folder = root / f"paper_{paper}" / home / variant / f"seed{seed}"
    folder.mkdir(parents=True)
    config = {"paper": paper, "dataset": "fmnist", "activation_kwargs": activation_kwargs or {},
              "train_subset": train_subset, "phases": [{"epochs": 15, "optimizer": "adamw", "lr": 1e-3}]}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "summary.json").write_text(json.dumps({"paper": paper, "dataset": "fmnist", "model": "m",
                                                     "activation": activation or variant, "seed": seed, **summary}))


def _weights(*layers):
    return {"activation_params": {f"act{i}": {"weights": dict(zip(("relu", "tanh", "sin"), w))}
                                  for i, w in enumerate(layers, 1)}}


def _row(table, paper, dataset, activation, metric):
    rows = table[(table.paper == paper) & (table.dataset == dataset) & (table.activation == activation)
                 & (table.metric == metric)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_table_has_the_interval_effect_and_rule_columns(tmp_path):
    table = mx.reproduction_table(tmp_path)  # no runs at all: every number untestable, with its reason
    assert list(table.columns) == reproduction.COLUMNS
    assert {"interval_low", "interval_high", "rule", "seeds_needed", "effect"} <= set(table.columns)
    assert set(table.verdict) == {UNTESTABLE}
    assert table.interval_low.isna().all() and table.seeds_needed.isna().all()
    relu = _row(table, "C", "fmnist", "relu", "best_test_acc")
    assert "no full-protocol runs" in relu.note and relu.rule == relu.note
    assert set(table[table.dataset == "cifar10"].note) <= {
        "data unavailable: cifar10 cannot be downloaded on this machine (no dataset hub access)",
        "the paper reports no value (did not converge)"}


def test_effects_are_the_paper_gaps_and_the_distance_from_uniform():
    values = mx.paper_values()
    effect = {(r.dataset, r.activation, r.metric): reproduction.effect_of(r, values)[0]
              for _, r in values[values.paper.isin(["A", "C"])].iterrows()}
    # paper C, fmnist: adact 0.921, relu 0.918, optimized 0.922
    assert effect[("fmnist", "adact", "best_test_acc")] == pytest.approx(0.001)
    assert effect[("fmnist", "relu", "best_test_acc")] == pytest.approx(0.003)
    assert effect[("fmnist", "optimized", "best_test_acc")] == pytest.approx(0.001)
    # cifar10: adact and optimized tie at 0.766, a gap of 0 that nothing could resolve; the next is relu's 0.759
    assert effect[("cifar10", "adact", "best_test_acc")] == pytest.approx(0.007)
    assert effect[("fmnist", "mix", "weight sin layer 1")] == pytest.approx(abs(0.3352 - 1 / 3))


def test_paper_c_row_with_a_wide_interval_is_inconclusive(tmp_path):
    accs = [0.9180, 0.9240, 0.9210]
    for seed, acc in enumerate(accs):
        _run(tmp_path, "c", "adact", seed, {"best_test_acc": acc})
    _run(tmp_path, "c", "relu", 0, {"best_test_acc": 0.99}, train_subset=2000)  # subset runs never count
    _run(tmp_path, "c", "adact", 7, {"best_test_acc": 0.5}, home="fmnist-val")  # nor do variants' runs
    row = _row(mx.reproduction_table(tmp_path), "C", "fmnist", "adact", "best_test_acc")
    assert row.n_seeds == 3 and row.ours_mean == pytest.approx(0.921)
    # by hand: mean ± t_2 · √(sd²(1 + 1/3) + 0.921·0.079/10,000)
    half = T_TWO_DF * math.sqrt(0.003**2 * 4 / 3 + 0.921 * 0.079 / 10_000)
    assert (row.interval_low, row.interval_high) == (pytest.approx(0.921 - half), pytest.approx(0.921 + half))
    assert row.effect == pytest.approx(0.001) and row.verdict == INCONCLUSIVE
    assert pd.isna(row.seeds_needed)  # the test-set error alone is wider than 0.001
    assert "no number of seeds would" in row.note and "10,000 images" in row.rule and "other networks" in row.rule
    assert _row(mx.reproduction_table(tmp_path), "C", "fmnist", "relu", "best_test_acc").verdict == UNTESTABLE


def test_paper_c_value_outside_the_interval_does_not_replicate(tmp_path):
    for seed, at_val in enumerate([0.9345, 0.9350, 0.9355, 0.9348, 0.9352]):  # paper 0.921, well below
        best = at_val + 0.001
        _run(tmp_path, "c", "adact", seed, {"best_test_acc": best, "test_acc_at_best_val": at_val},
             home="fmnist-val")
    table = mx.reproduction_table(tmp_path)
    adact = table[(table.paper == "C") & (table.dataset == "fmnist") & (table.activation == "adact")]
    assert list(adact.metric) == ["best_test_acc", "test_acc_at_best_val"]
    protocol, val = adact.iloc[0], adact.iloc[1]
    assert protocol.n_seeds == 0  # validation runs never count as the protocol
    assert val.n_seeds == 5 and val.interval_low > 0.921 and val.verdict == DOES_NOT
    assert "below our mean" in val.note and "best-validation epoch" in val.note


def _paper_a_runs(root, sin1: list[float], tanh2: list[float], sin3: list[float], norm: str = "softmax"):
    for seed, (s1, t2, s3) in enumerate(zip(sin1, tanh2, sin3)):
        layers = ((0.5, 0.5 - s1, s1), (0.2, t2, 0.8 - t2), (0.1, 0.9 - s3, s3))
        _run(root, "a", norm, seed, _weights(*layers), {"norm": norm}, activation="mix")


def test_paper_a_weight_near_one_third_cannot_replicate(tmp_path):
    # paper A, fmnist: sin layer 1 = 0.3352 (|p − 1/3| = 0.0019), tanh layer 2 = 0.7001, sin layer 3 = 0.8369
    _paper_a_runs(tmp_path, sin1=[0.30, 0.34, 0.36], tanh2=[0.68, 0.70, 0.72], sin3=[0.75, 0.85, 0.95])
    table = mx.reproduction_table(tmp_path)
    near = _row(table, "A", "fmnist", "mix (softmax)", "weight sin layer 1")
    assert near.interval_low < 0.3352 < near.interval_high and near.verdict == INCONCLUSIVE
    assert near.effect == pytest.approx(0.0019, abs=1e-4) and pd.isna(near.seeds_needed)
    assert "1/3" in near.rule and near.note.endswith("our reading of eq. 9: softmax")
    # the same spread decides a weight far from 1/3: interval ≈ 0.70 ± 4.97·0.02, narrower than 0.367
    far = _row(table, "A", "fmnist", "mix (softmax)", "weight tanh layer 2")
    assert far.verdict == REPLICATES and far.interval_high - far.interval_low < far.effect
    # a wide interval that more seeds could narrow: the seeds-needed figure is stats' own
    wide = _row(table, "A", "fmnist", "mix (softmax)", "weight sin layer 3")
    assert wide.verdict == INCONCLUSIVE and wide.seeds_needed == stats.seeds_needed(0.1, wide.effect) > 3
    assert f"{wide.seeds_needed} seeds would" in wide.note


def test_paper_a_numbers_get_one_row_per_reading_of_eq_9(tmp_path):
    _paper_a_runs(tmp_path, [0.30, 0.34], [0.68, 0.70], [0.80, 0.85])
    _paper_a_runs(tmp_path, [0.31, 0.35], [0.33, 0.34], [0.30, 0.32], norm="abs")
    table = mx.reproduction_table(tmp_path)
    tanh2 = table[(table.paper == "A") & (table.dataset == "fmnist") & (table.metric == "weight tanh layer 2")]
    assert list(tanh2.activation) == ["mix (softmax)", "mix (abs)"]  # square: no runs, so no row
    assert list(tanh2.verdict) == [INCONCLUSIVE, DOES_NOT]  # two seeds: t_1 makes the interval wide
    mnist = table[(table.paper == "A") & (table.dataset == "mnist")]
    assert len(mnist) == 9 and set(mnist.verdict) == {UNTESTABLE} and set(mnist.activation) == {"mix"}


def test_ordering_claim_recomputed_by_hand_from_two_seeds(tmp_path):
    for seed, (relu, adact) in enumerate([(0.920, 0.923), (0.921, 0.926)]):
        _run(tmp_path, "c", "relu", seed, {"best_test_acc": relu, "final_test_acc": relu - 0.002})
        _run(tmp_path, "c", "adact", seed, {"best_test_acc": adact, "final_test_acc": adact - 0.002})
    claims = reproduction.claims_table(tmp_path)
    assert list(claims.columns) == reproduction.CLAIM_COLUMNS
    assert reproduction.CLAIM_COLUMNS[:11] == ["paper", "claim", "metric", "n_seeds", "mean_diff", "ci_low",
                                               "ci_high", "p_value", "test", "wins", "verdict"]
    assert list(claims.metric) == ["best_test_acc", "final_test_acc"]  # no optimized runs, no validation runs
    row = claims.iloc[0]
    # differences 0.003 and 0.005: mean 0.004, sd √2·0.001, t = 0.004 / 0.001 = 4 on 1 df (a Cauchy variable)
    half = T_ONE_DF * math.sqrt(2) * 0.001 / math.sqrt(2)
    assert (row.paper, row.claim, row.n_seeds, row.wins, row.runs) == (
        "C", "ConvNet-AdAct > ConvNet-ReLU", 2, 2, "paper_c/fmnist")
    assert row.mean_diff == pytest.approx(0.004)
    assert (row.ci_low, row.ci_high) == (pytest.approx(0.004 - half), pytest.approx(0.004 + half))
    assert row.p_value == pytest.approx(1 - 2 * math.atan(4) / math.pi)
    assert row.verdict == INCONCLUSIVE  # 2 of 2 seeds agree, and still the interval contains 0
    assert "paired t" in row.test


def test_ordering_claims_replicate_only_when_the_interval_excludes_zero(tmp_path):
    for seed, (relu, adact, opt) in enumerate([(0.920, 0.923, 0.9231), (0.921, 0.9235, 0.9232),
                                               (0.919, 0.9222, 0.9219), (0.918, 0.9208, 0.9212),
                                               (0.920, 0.9226, 0.9224)]):
        for variant, acc in (("relu", relu), ("adact", adact), ("optimized", opt)):
            _run(tmp_path, "c", variant, seed, {"best_test_acc": acc, "test_acc_at_best_val": acc},
                 home="fmnist-val")
    claims = reproduction.ordering_claims(tmp_path).set_index(["claim", "metric"])
    assert list(claims.index.get_level_values("metric").unique()) == ["test_acc_at_best_val"]  # no protocol runs
    assert claims.loc[("ConvNet-AdAct > ConvNet-ReLU", "test_acc_at_best_val")].verdict == REPLICATES
    tie = claims.loc[("ConvNet-Optimized ≥ ConvNet-AdAct", "test_acc_at_best_val")]
    assert tie.verdict == INCONCLUSIVE and "'≥' is judged as '>'" in tie.test
    assert set(claims.runs) == {"paper_c/fmnist-val"}


def test_paper_a_claims_test_margins_per_reading(tmp_path):
    relu_first = [_weights((0.5, 0.3, 0.2), (0.2, 0.5, 0.3), (0.3, 0.3, 0.4)),
                  _weights((0.45, 0.3, 0.25), (0.25, 0.45, 0.3), (0.35, 0.3, 0.35)),
                  _weights((0.48, 0.32, 0.2), (0.3, 0.4, 0.3), (0.3, 0.5, 0.2))]
    for seed, summary in enumerate(relu_first):
        _run(tmp_path, "a", "softmax", seed, summary, {"norm": "softmax"}, activation="mix")
    _run(tmp_path, "a", "abs", 0, relu_first[0], {"norm": "abs"}, activation="mix")  # one seed: no test
    _run(tmp_path, "a", "cycle1", 0, _weights((0.1, 0.5, 0.4), (0.2, 0.5, 0.3), (0.3, 0.3, 0.4)),
         {"norm": "softmax"}, activation="mix", home="fmnist-act-lr-10ep")  # a study's run: not the protocol
    claims = mx.paper_a_claims(tmp_path)
    assert list(claims.columns) == reproduction.CLAIM_COLUMNS and set(claims.runs) == {"paper_a/fmnist/softmax"}
    assert list(claims.metric) == ["p_relu − max(p_tanh, p_sin), layer 1", "max(p_tanh, p_sin) − p_relu, layer 2",
                                   "max(p_tanh, p_sin) − p_relu, layer 3"]
    first = claims.iloc[0]
    margins = [0.5 - 0.3, 0.45 - 0.3, 0.48 - 0.32]
    by_hand = stats.paired_difference(margins, [0, 0, 0])
    assert first.claim == "layer 1 prefers ReLU (eq. 9 read as softmax)" and first.wins == 3
    assert (first.mean_diff, first.ci_low) == (pytest.approx(by_hand["mean_diff"]), pytest.approx(by_hand["ci_low"]))
    assert first.verdict == REPLICATES and first.ci_low > 0
    third = claims.iloc[2]  # margins 0.1, 0.0, 0.2: holds in 2 of 3, the interval contains 0
    assert (third.wins, third.verdict) == (2, INCONCLUSIVE)
    assert "one-sample t" in third.test
    assert mx.paper_a_claims(tmp_path / "nothing").empty


def test_per_run_claims_are_read_from_the_margins(tmp_path):
    _run(tmp_path, "a", "softmax", 0, _weights((0.5, 0.3, 0.2), (0.2, 0.5, 0.3), (0.5, 0.3, 0.2)),
         {"norm": "softmax"}, activation="mix")
    folder = tmp_path / "paper_a" / "fmnist" / "softmax" / "seed0"
    assert reproduction.paper_a_margins(folder) == pytest.approx({"layer 1": 0.2, "layer 2": 0.3, "layer 3": -0.2})
    per_run = reproduction.paper_a_claims_per_run([folder]).iloc[0]
    assert per_run.layer1_relu and not per_run.deeper_convergent


def test_the_numbers_the_chapter_states_about_its_rules():
    assert verdict_tables.wins_by_chance(4, 5) == pytest.approx(0.1875)
    assert verdict_tables.wins_by_chance(3, 3) == pytest.approx(0.125)
    assert verdict_tables.narrowest_width(0.92, 10_000) == pytest.approx(2 * 1.959964 * math.sqrt(0.92 * 0.08 / 1e4))
    assert stats.accuracy_standard_error(0.92, 10_000) == pytest.approx(0.0027, abs=5e-5)


def test_book_views_use_a_dash_for_missing(tmp_path):
    for seed, acc in enumerate([0.9180, 0.9240]):
        _run(tmp_path, "c", "adact", seed, {"best_test_acc": acc})
    table = mx.reproduction_table(tmp_path)
    view = verdict_tables.value_view(table[(table.paper == "C") & (table.dataset == "fmnist")])
    assert list(view.columns) == ["dataset", "network", "number", "paper", "ours: mean ± sd (n)",
                                  "95 % prediction interval", "effect", "verdict"]
    assert view.iloc[0]["ours: mean ± sd (n)"] == "0.9210 ± 0.0042 (2)"
    assert view.iloc[1]["ours: mean ± sd (n)"] == "–" and view.iloc[1]["95 % prediction interval"] == "–"
    sentence = verdict_tables.verdict_sentence(table[(table.paper == "C") & (table.n_seeds > 0)])
    assert sentence.startswith("*inconclusive*: **1**")


def test_reproduce_table_regenerates_the_committed_csvs(tmp_path):
    """``tools/reproduce.py --table`` on a copy of the committed runs writes both committed CSVs byte for byte."""
    results = tmp_path / "results"
    for study in ("paper_a", "paper_c"):  # the runs the two tables read
        shutil.copytree(ROOT / "results" / study, results / study)
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "reproduce.py"), "--table", "--results", str(results)],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("reproduction.csv", "claims.csv"):
        assert (results / name).read_bytes() == (ROOT / "results" / name).read_bytes(), f"{name} is stale: rerun " \
            "`python tools/reproduce.py --table`"
    assert "replicates" in r.stdout and "claims.csv" in r.stdout


def test_matched_compute_controls_pair_optimized_and_adact_with_the_baselines(tmp_path):
    accs = {"relu": [0.918, 0.919, 0.920], "adact": [0.921, 0.922, 0.9235], "optimized": [0.9215, 0.923, 0.924],
            "prelu": [0.9195, 0.920, 0.9205]}
    for variant, values in accs.items():
        for seed, acc in enumerate(values):
            _run(tmp_path, "c", variant, seed, {"best_test_acc": acc, "final_test_acc": acc})
    claims = reproduction.ordering_claims(tmp_path).set_index(["claim", "metric"])
    controls = claims[claims.index.get_level_values("claim").str.startswith("control:")]
    # all-Mish has no runs: only the two PReLU controls, on both measurements
    assert sorted(set(controls.index.get_level_values("claim"))) == [
        "control: ConvNet-AdAct > all-PReLU ConvNet", "control: ConvNet-Optimized > all-PReLU ConvNet"]
    row = controls.loc[("control: ConvNet-Optimized > all-PReLU ConvNet", "best_test_acc")]
    diffs = [a - b for a, b in zip(accs["optimized"], accs["prelu"])]
    assert row.mean_diff == pytest.approx(sum(diffs) / 3) and row.n_seeds == 3


def _chain(root: Path, seed: int, seconds: dict) -> None:
    for variant, s in seconds.items():
        _run(root, "c", variant, seed, {"best_test_acc": 0.92, "final_test_acc": 0.91, "total_seconds": s})
    config = root / "paper_c" / "fmnist" / "optimized" / f"seed{seed}" / "config.json"
    c = json.loads(config.read_text())
    c["optimized_from"] = f"/elsewhere/results/paper_c/fmnist/adact/seed{seed}"  # made on another machine
    config.write_text(json.dumps(c))


def test_optimized_cost_counts_the_adact_run_it_was_read_from(tmp_path):
    _chain(tmp_path, 0, {"relu": 100.0, "adact": 300.0, "optimized": 120.0})
    cost = reproduction.paper_c_cost(mx.collect_summaries(tmp_path)).set_index("network")
    assert (cost.loc["relu", "epochs"], cost.loc["relu", "seconds"]) == (15, 100.0)
    assert (cost.loc["adact", "epochs"], cost.loc["adact", "seconds"]) == (15, 300.0)
    assert (cost.loc["optimized", "epochs"], cost.loc["optimized", "seconds"]) == (30, 420.0)
    assert (cost.loc["optimized", "search_epochs"], cost.loc["optimized", "search_seconds"]) == (15, 300.0)
    plots_dir = tmp_path / "fig"
    from mixact_lib import plots
    plots.save(plots.plot_accuracy_vs_compute(cost.reset_index()), cost, plots_dir, "cost")
    assert (plots_dir / "cost.png").stat().st_size > 0


def test_optimized_cost_refuses_a_run_whose_search_is_missing(tmp_path):
    _chain(tmp_path, 0, {"adact": 300.0, "optimized": 120.0})
    shutil.rmtree(tmp_path / "paper_c" / "fmnist" / "adact")
    with pytest.raises(FileNotFoundError, match="cost cannot be counted"):
        reproduction.paper_c_cost(mx.collect_summaries(tmp_path))


def test_mcnemar_by_seed_uses_saved_predictions_and_skips_runs_without(tmp_path):
    import numpy as np
    labels = np.arange(20, dtype=np.int16) % 10
    right = labels.copy()
    wrong_on_six = labels.copy()
    wrong_on_six[:6] = (wrong_on_six[:6] + 1) % 10
    for seed in (0, 1):
        _run(tmp_path, "c", "prelu", seed, {"best_test_acc": 1.0})
        _run(tmp_path, "c", "mish", seed, {"best_test_acc": 0.7})
    for variant, pred in (("prelu", right), ("mish", wrong_on_six)):  # seed 1 has no predictions.npz
        np.savez(tmp_path / "paper_c" / "fmnist" / variant / "seed0" / "predictions.npz", labels=labels, final=pred)
    mc = reproduction.mcnemar_by_seed(mx.collect_summaries(tmp_path), "prelu", "mish")
    assert list(mc.seed) == [0]
    row = mc.iloc[0]
    assert (row.prelu_only, row.mish_only) == (6, 0)
    assert row.p_value == pytest.approx(2 * 0.5 ** 6)  # exact binomial, two-sided: 6 of 6 discordant one way
    assert (row.acc_prelu, row.acc_mish) == (1.0, 0.7)


def test_act_lr_studies_are_found_longest_first_and_unfinished_ones_left_out(tmp_path):
    for epochs, seeds in ((5, (0, 1)), (10, (0,))):
        for seed in seeds:
            _run(tmp_path, "a", "act_lr=0.01", seed, {"best_test_acc": 0.9}, {"norm": "softmax"}, activation="mix",
                 home=f"fmnist-act-lr-{epochs}ep/softmax")
            _run(tmp_path, "a", "cycle1", seed, {"best_test_acc": 0.9}, {"norm": "softmax"}, activation="mix",
                 home=f"fmnist-act-lr-{epochs}ep/softmax")
    (tmp_path / "paper_a" / "fmnist-act-lr-20ep" / "softmax" / "act_lr=0.01" / "seed0").mkdir(parents=True)
    studies = reproduction.act_lr_studies(tmp_path)
    assert list(studies) == [10, 5]
    assert sorted(studies[5].seed) == [0, 1] and set(studies[5].norm) == {"softmax"}
    assert all(Path(f).parts[-2] == "act_lr=0.01" for f in studies[10].folder)


def test_difference_words_follow_the_interval_and_the_direction():
    from types import SimpleNamespace
    assert verdict_tables.difference_verdict(0.001, 0.004) == "better"
    assert verdict_tables.difference_verdict(-0.004, -0.001) == "worse"
    assert verdict_tables.difference_verdict(-0.004, -0.001, higher_is_better=False) == "better"  # a loss area
    assert verdict_tables.difference_verdict(-0.001, 0.004) == "inconclusive"
    assert verdict_tables.difference_verdict(float("nan"), float("nan")) == "too few seeds"
    row = SimpleNamespace(diff_mean=0.0023, ci_low=-0.0118, ci_high=0.0164, p_value=0.56, wins=1, n_seeds=3)
    assert verdict_tables.difference_phrase(row) == (
        "+0.0023 (95 % CI [-0.0118, +0.0164], p = 0.560; better in 1 of 3 seeds): **inconclusive**")
    text = verdict_tables.difference_counts(["better", "inconclusive", "inconclusive", "too few seeds"], "cells")
    assert text.startswith("of 4 cells, **1 better, 0 worse and 2 inconclusive**")
    assert "1 has one seed" in text and "about 0.2 of 3 would exclude 0 by chance" in text  # 0.05 · 3 = 0.15
    assert verdict_tables.p_text(0.0004) == "p < 0.001" and verdict_tables.p_text(0.0123) == "p = 0.012"
