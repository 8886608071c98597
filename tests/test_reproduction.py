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
from mixact_lib.analysis import reproduction, stats
from mixact_lib.report import verdict_tables
from mixact_lib.analysis.reproduction import DOES_NOT, INCONCLUSIVE, REPLICATES, UNTESTABLE

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
    # by hand: mean ± t_2 · sd · √(1 + 1/3); the paper scored the same 10,000 test images, so their binomial
    # error is shared and not added (it would be counted twice)
    half = T_TWO_DF * math.sqrt(0.003**2 * 4 / 3)
    assert (row.interval_low, row.interval_high) == (pytest.approx(0.921 - half), pytest.approx(0.921 + half))
    assert row.effect == pytest.approx(0.001) and row.verdict == INCONCLUSIVE and row.role == "primary"
    assert pd.isna(row.seeds_needed)  # one run's own spread, 2·1.96·0.003, is wider than 0.001
    assert "no number of seeds would" in row.note and "images" not in row.rule and "other networks" in row.rule
    assert _row(mx.reproduction_table(tmp_path), "C", "fmnist", "relu", "best_test_acc").verdict == UNTESTABLE


def test_test_set_error_is_added_only_for_images_the_paper_did_not_score(tmp_path):
    for seed, acc in enumerate([0.9180, 0.9240, 0.9210]):
        _run(tmp_path, "c", "adact", seed, {"best_test_acc": acc})
    folder = tmp_path / "paper_c" / "fmnist" / "adact" / "seed0"
    assert reproduction.unshared_test_size(folder, "fmnist") is None  # the whole test set: shared with the paper
    for seed in range(3):  # the same runs scored on 2,000 test images: not the paper's images
        config = tmp_path / "paper_c" / "fmnist" / "adact" / f"seed{seed}" / "config.json"
        config.write_text(json.dumps({**json.loads(config.read_text()), "test_subset": 2000}))
    assert reproduction.unshared_test_size(folder, "fmnist") == 2000
    row = _row(mx.reproduction_table(tmp_path), "C", "fmnist", "adact", "best_test_acc")
    half = T_TWO_DF * math.sqrt(0.003**2 * 4 / 3 + 0.921 * 0.079 / 2000)
    assert row.interval_high - row.interval_low == pytest.approx(2 * half) and "2,000 images" in row.rule


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
    assert list(tanh2.role) == ["primary", "sensitivity"]  # one paper number, counted once
    mnist = table[(table.paper == "A") & (table.dataset == "mnist")]
    assert len(mnist) == 9 and set(mnist.verdict) == {UNTESTABLE} and set(mnist.activation) == {"mix"}


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
    se = stats.accuracy_standard_error(0.92, 10_000)
    assert stats.one_run_floor(0.0, se=se) == pytest.approx(2 * 1.959964 * math.sqrt(0.92 * 0.08 / 1e4))
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
    for study in ("paper_a", "paper_c", "paper_b/fmnist-cpu/tables"):  # the runs the two tables read
        shutil.copytree(ROOT / "results" / study, results / study)
    shutil.copy(ROOT / "results" / "analysis_plan.yaml", results)  # and the plan that judges the claims
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "reproduce.py"), "--table", "--results", str(results)],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("reproduction.csv", "claims.csv"):
        assert (results / name).read_bytes() == (ROOT / "results" / name).read_bytes(), f"{name} is stale: rerun " \
            "`python tools/reproduce.py --table`"
    assert "replicates" in r.stdout and "claims.csv" in r.stdout


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
    from mixact_lib.report import plots
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
