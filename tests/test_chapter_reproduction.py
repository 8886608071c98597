"""What the reproduction chapter prints (mixact_lib/report/chapters/reproduction/), from a small generated results
tree: paper C's protocol, validation and control runs, paper A's runs under two readings with their cycles, and a
learning-rate study; each test checks numbers the page shows."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

import mixact_lib as mx
from mixact_lib.analysis import reproduction, stats
from mixact_lib.report import plan_tables, verdict_tables
from mixact_lib.report.chapters.reproduction import conclusions, overview, paper_a, paper_c
from mixact_lib.report.tables import Table

ROOT = Path(__file__).resolve().parents[1]
#: paper C's best test accuracy per network and seed (0-4); ReLU's sd is the smallest
PAPER_C = {"relu": [0.9170, 0.9195, 0.9160, 0.9190, 0.9175],
           "adact": [0.9200, 0.9230, 0.9190, 0.9240, 0.9210],
           "optimized": [0.9210, 0.9240, 0.9200, 0.9250, 0.9230],
           "prelu": [0.9205, 0.9235, 0.9195, 0.9245, 0.9215]}
#: paper A's final weights (relu, tanh, sin) per layer, seeds 0-2, the same under both readings but for layer 1
WEIGHTS = [((0.30, 0.40, 0.30), (0.25, 0.40, 0.35), (0.20, 0.50, 0.30)),
           ((0.32, 0.38, 0.30), (0.30, 0.40, 0.30), (0.25, 0.45, 0.30)),
           ((0.28, 0.42, 0.30), (0.35, 0.35, 0.30), (0.30, 0.30, 0.40))]


def _run(root: Path, paper: str, home: str, variant: str, seed: int, summary: dict, *, activation: str | None = None,
         norm: str | None = None, epochs: tuple[int, ...] = (15,), lr: float = 1e-3, **config) -> Path:
    folder = root / f"paper_{paper}" / home / variant / f"seed{seed}"
    folder.mkdir(parents=True)
    phases = [{"epochs": e, "optimizer": "adamw", "lr": lr} for e in epochs]
    (folder / "config.json").write_text(json.dumps({
        "paper": paper, "dataset": "fmnist", "seed": seed, "activation_kwargs": {"norm": norm} if norm else {},
        "train_subset": None, "phases": phases, **config}))
    (folder / "summary.json").write_text(json.dumps({"paper": paper, "dataset": "fmnist", "model": "m",
                                                     "activation": activation or variant, "seed": seed, **summary}))
    return folder


def _weights(layers) -> dict:
    return {"activation_params": {f"act{i}": {"weights": dict(zip(("relu", "tanh", "sin"), w))}
                                  for i, w in enumerate(layers, 1)}}


def _cycles(folder: Path, seed: int, shift: float) -> None:
    """Three cycles of two epochs: the best epoch in cycle 1 (shared by every reading), then ``shift`` apart."""
    accs = [0.900, 0.920 + 0.001 * seed, 0.910, 0.915 + shift, 0.912, 0.914 + shift]
    records = [{"epoch": e + 1, "phase": e // 2 + 1, "trains": "act" if e // 2 == 1 else "net", "test_acc": a}
               for e, a in enumerate(accs)]
    (folder / "history.json").write_text(json.dumps(records))


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("results")
    shutil.copy(ROOT / "results" / "analysis_plan.yaml", root)
    for network, accs in PAPER_C.items():
        for seed, acc in enumerate(accs):
            extra = {"optimized_from": f"/elsewhere/paper_c/fmnist/adact/seed{seed}"} if network == "optimized" else {}
            _run(root, "c", "fmnist", network, seed, {"best_test_acc": acc, "final_test_acc": acc - 0.002,
                                                      "total_seconds": {"relu": 100.0}.get(network, 150.0)}, **extra)
    for seed, (best, at_val) in enumerate([(0.921, 0.918), (0.922, 0.920), (0.920, 0.919)]):
        _run(root, "c", "fmnist-val", "adact", seed, {"best_test_acc": best, "test_acc_at_best_val": at_val,
                                                      "final_test_acc": at_val})
    for norm, shift in (("softmax", 0.0), ("abs", 0.001)):
        for seed, layers in enumerate(WEIGHTS):
            folder = _run(root, "a", "fmnist", norm, seed, {"best_test_acc": 0.92, "final_test_acc": 0.914 + shift,
                                                           **_weights(layers)}, activation="mix", norm=norm,
                          epochs=(2, 2, 2))
            _cycles(folder, seed, shift)
    for lr, layer1 in ((1e-3, [(0.34, 0.33, 0.33), (0.35, 0.33, 0.32), (0.33, 0.34, 0.33)]),
                       (1e-1, [(0.10, 0.70, 0.20), (0.15, 0.60, 0.25), (0.10, 0.65, 0.25)])):
        for seed in range(3):
            layers = (layer1[seed], (0.3, 0.4, 0.3), (0.3, 0.3, 0.4))
            _run(root, "a", "fmnist-act-lr-10ep/softmax", f"act_lr={lr:g}", seed,
                 {"best_test_acc": 0.92 + 0.001 * seed, "final_test_acc": 0.91 + 0.001 * seed + lr / 100,
                  **_weights(layers)}, activation="mix", norm="softmax", epochs=(10,), lr=lr)
    _run(root, "b", "fmnist-cpu", "relu", 0, {"best_test_acc": 0.9})  # paper B: its own chapter
    return root


@pytest.fixture(scope="module")
def runs(tree) -> pd.DataFrame:
    return overview.committed_runs(tree)


@pytest.fixture(scope="module")
def table(tree) -> pd.DataFrame:
    return mx.reproduction_table(tree, paper_a_norms=["softmax", "abs"])


@pytest.fixture(scope="module")
def claims(tree) -> pd.DataFrame:
    return mx.claims_table(tree, "fmnist")


def _text(parts: list) -> str:
    return "\n".join(p for p in parts if isinstance(p, str))


def _tables(parts: list) -> list[pd.DataFrame]:
    return [p.frame for p in parts if isinstance(p, Table)]


def test_results_root_says_what_to_do_when_it_is_not_a_folder(tree):
    assert overview.results_root(str(tree)) == tree
    with pytest.raises(mx.ParameterError, match="is not a folder.*papermill --cwd book"):
        overview.results_root(str(tree / "nowhere"))


def test_committed_runs_are_papers_a_and_c_with_their_reading_and_study(runs):
    assert set(runs.paper) == {"a", "c"} and len(runs) == 20 + 3 + 6 + 6
    assert set(runs[runs.paper == "c"].norm) == {""} and set(runs[runs.paper == "a"].norm) == {"softmax", "abs"}
    assert set(runs.study) == {"fmnist", "fmnist-val", "fmnist-act-lr-10ep"}
    parts = overview.runs_overview(runs, "../results")
    assert parts[0] == "Committed paper A and C runs found under `../results`: **35**."
    shown = _tables(parts)[0].set_index(["paper", "study", "activation"])
    assert shown.loc[("c", "fmnist", "relu"), "seeds"] == "0–4"
    assert shown.loc[("a", "fmnist", "mix")].shape[0] == 2  # one row per reading


def test_committed_runs_leave_the_comparison_study_to_its_chapter(tmp_path):
    _run(tmp_path, "c", "fmnist", "relu", 0, {"best_test_acc": 0.92})
    folder = tmp_path / "comparison" / "fmnist-cpu" / "seed=0__activation=relu"  # a paper C network, another study
    shutil.copytree(tmp_path / "paper_c" / "fmnist" / "relu" / "seed0", folder)
    assert len(mx.collect_summaries(tmp_path)) == 2
    runs = overview.committed_runs(tmp_path)
    assert len(runs) == 1 and runs.study.tolist() == ["fmnist"]


def test_seed_lists_collapse_consecutive_seeds_into_ranges():
    from mixact_lib.report.tables import seed_list
    assert seed_list([4, 0, 1, 2, 3, 7, 9, 10, 3]) == "0–4, 7, 9, 10"
    assert seed_list(range(20)) == "0–19" and seed_list([5]) == "5" and seed_list([]) == ""


def test_paper_c_gaps_and_the_interval_sentence(runs):
    assert sorted(overview.paper_c_gaps("fmnist")) == pytest.approx([0.001, 0.003, 0.004])  # 0.918, 0.921, 0.922
    text = overview.interval_sentence(runs, "fmnist")
    assert "**3.04·sd at 5 seeds**" in text and "**4.97·sd at 3**" in text and "2·1.96·sd" in text
    relu_sd = float(np.std(PAPER_C["relu"], ddof=1))
    assert f"is {relu_sd:.4f} to" in text and f"narrower than **{stats.one_run_floor(relu_sd):.4f}**" in text
    assert "refuted here, but not confirmed" in text  # the floor 0.0056 is above the largest gap 0.004
    tight = runs.assign(best_test_acc=0.92 + (runs.best_test_acc - 0.92) / 10)  # a tenth of the spread
    assert "narrower than **0.0006**" in overview.interval_sentence(tight, "fmnist")
    assert "refuted here" not in overview.interval_sentence(tight, "fmnist")
    assert "18.75% of the time, 3 of 3 12.5%" in text and "sign-test p of 0.0625" in text
    assert "seed-to-seed" not in overview.interval_sentence(runs.iloc[:0], "fmnist")


def test_paper_c_numbers_are_counted_once_on_the_papers_metric(table):
    parts, glued = paper_c.paper_c_numbers(table)
    primary = table[(table.paper == "C") & (table.n_seeds > 0) & (table.role == "primary")]
    assert glued["r_c_tested"] == len(primary) == 3 and glued["r_c_untested"] == 9  # the other datasets
    assert glued["r_c_replicates"] + glued["r_c_not"] + glued["r_c_open"] == 3
    shown = _tables(parts)[0]
    assert list(shown.columns)[:3] == ["network", "number", "verdict"]
    assert len(shown) == 4  # three numbers on the paper's metric and AdAct at the best-validation epoch
    assert "The other 9 numbers of paper C's Table 1 cannot be tested here:" in _text(parts)


def test_paper_c_claims_quote_the_primary_family_and_the_pairing(tree, runs, claims, tmp_path):
    parts, glued = paper_c.paper_c_claims(claims, tree, runs, "fmnist", tmp_path)
    primary = claims[claims.family == "primary"]
    assert glued["r_c_claims_checks"] == len(primary) == 3
    assert glued["r_c_claims_counts"].endswith("3 are pending (seeds still running)")  # 5 of 20 seeds
    r = np.corrcoef(PAPER_C["adact"], PAPER_C["relu"])[0, 1]
    assert f"Over the 5 seeds both have, the correlation of AdAct's and ReLU's accuracy is {r:+.2f}" in _text(parts)
    assert (tmp_path / "claims.csv").exists() and (tmp_path / "paper_c_power_first_five_seeds.csv").exists()
    none, glued = paper_c.paper_c_claims(claims.iloc[:0], tree, runs, "fmnist")
    assert none == ["No paired full-protocol runs yet, so the ordering claims are untested."]
    assert glued["r_c_claims_counts"] == "none tested"


def test_selection_gain_is_best_test_minus_test_at_best_validation(runs):
    gain = paper_c.selection_gain(runs, "fmnist").set_index("activation")
    assert gain.loc["adact", "selection_gain_mean"] == pytest.approx(np.mean([0.003, 0.002, 0.001]))
    text = _text(paper_c.selection_parts(runs, "fmnist"))
    assert "adds **0.0020 to 0.0020**" in text and "(0.001 to 0.004)" in text
    assert paper_c.selection_gain(runs[runs.study == "fmnist"], "fmnist").empty
    assert "--val" in _text(paper_c.selection_parts(runs[runs.study == "fmnist"], "fmnist"))


def test_best_and_final_shows_the_gap_picking_the_best_epoch_adds(runs):
    shown = _tables(paper_c.best_and_final(runs, "fmnist"))[0].set_index("activation")
    assert shown.loc["relu", "best − final"].startswith("0.0020")  # every run: final = best − 0.002
    assert paper_c.best_and_final(runs.iloc[:0], "fmnist") == []


def test_cost_counts_the_adact_run_optimized_is_read_from(runs, tmp_path):
    cost = reproduction.paper_c_cost(runs, "fmnist")
    parts = paper_c.cost_parts(cost, tmp_path)
    shown = _tables(parts)[0].set_index("network")
    assert shown.loc["optimized", "epochs"] == "30" and shown.loc["relu", "median ÷ ReLU's"] == "1.0"
    assert shown.loc["optimized", "median ÷ ReLU's"] == "3.0"  # its 150 s plus AdAct's 150 s, against 100 s
    assert "**30 epochs** (15 of them the AdAct run" in parts[1] and "50% of it AdAct's" in parts[1]
    assert "1.5 for prelu" in parts[1] and (tmp_path / "paper_c_cost.csv").exists()
    assert paper_c.cost_parts(cost.iloc[:0]) == []


def test_controls_say_which_baselines_lack_seeds(claims, runs):
    cost = reproduction.paper_c_cost(runs, "fmnist")  # all-PReLU has 5 seeds, all-Mish none
    text = _text(paper_c.controls_parts(claims, cost, runs, "fmnist"))
    assert "Fewer than two seeds are committed for all-Mish, so its comparisons are not tested yet" in text
    assert "--networks mish --seeds" in text
    controls = claims[claims.family == "matched_compute"]
    assert len(controls) == 2  # PReLU's two, Holm over both
    assert all(f"**{plan_tables.short_claim(c)}**" in text for c in controls.claim)


def test_slope_differences_are_one_holm_family():
    slopes = pd.DataFrame({"layer": ["layer 1", "layer 1", "layer 2", "layer 2"],
                           "measure": ["effective", "linear part"] * 2, "seeds": "0, 1, 2", "n": 3,
                           "mean_diff": [0.02, 0.003, -0.007, -0.03], "ci_low": [0.004, -0.016, -0.011, -0.033],
                           "ci_high": [0.042, 0.022, -0.004, -0.026], "p_value": [0.03, 0.7, 0.004, 0.0001]})
    out = paper_c.corrected_slope_differences(slopes)
    assert list(out.p_adjusted) == pytest.approx(list(multipletests(slopes.p_value, method="holm")[1]))
    # uncorrected, layer 1's effective slope (p 0.03) would be decided; Holm over the four makes it 0.06
    assert list(out.verdict) == ["inconclusive", "inconclusive", "AdAct's more negative", "AdAct's more negative"]
    assert list(out.mean_diff) == list(slopes.mean_diff)


def test_adact_slopes_on_the_committed_runs_show_the_holm_p_and_its_verdict():
    root = ROOT / "results"
    committed = overview.committed_runs(root)
    parts = paper_c.adact_slopes(root, committed, "fmnist")
    from mixact_lib.studies import adact_shapes
    expected = paper_c.corrected_slope_differences(
        adact_shapes.slope_differences(adact_shapes.negative_slopes(root / "paper_c" / "fmnist")))
    shown = _tables(parts)[1]
    for (layer, measure), name in zip([("layer 1", "effective"), ("layer 1", "linear part")],
                                      ["effective slope − α", "linear part − α"]):
        row = expected[(expected.layer == layer) & (expected.measure == measure)].iloc[0]
        first = shown[shown[("layer", "")] == layer].iloc[0]
        assert first[(name, "verdict")] == row.verdict
        assert first[(name, "p (Holm)")] == verdict_tables.p_cell(row.p_adjusted)
    assert f"Holm-corrected p over the {len(expected)} comparisons shown" in _text(parts)
    assert paper_c.adact_slopes(root, committed.iloc[:0], "fmnist")[0].startswith("No full-protocol AdAct runs")


def test_shape_gaps_per_layer():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    shapes = pd.DataFrame({"layer": ["layer 1"] * 5 + ["layer 2"] * 5, "x": np.tile(x, 2),
                           "y": np.r_[[-0.2, -0.1, 0.0, 1.0, 2.1], [-0.5, 0.0, 0.0, 1.0, 2.0]]})
    shown = _tables(paper_c.shape_gaps(shapes))[0].set_index("layer")
    assert list(shown["largest |f − ReLU|, x ≥ 0"]) == ["0.10", "0.00"]
    assert list(shown["largest |f − ReLU|, x < 0"]) == ["0.20", "0.50"]
    assert list(shown["lowest f"]) == ["-0.20", "-0.50"]


def test_paper_a_numbers_are_glued_for_the_primary_reading(table, runs):
    parts, glued = paper_a.paper_a_numbers(table, runs, ["softmax", "abs"], "fmnist")
    first = table[(table.paper == "A") & (table.activation == "mix (softmax)")]
    assert glued["r_a_reading"] == "softmax" and glued["r_a_numbers"] == len(first) == 9
    assert glued["r_a_dataset"] == "fmnist"
    counts = first.verdict.value_counts()
    assert glued["r_a_counts"].startswith(f"{counts.get('replicates', 0)} replicate")
    every = _tables(parts)[1]
    assert list(every.columns) == ["number", "paper", "effect", "softmax", "abs"]
    text = _text(parts)
    assert "All 2 readings rest on the same 3 seeds" in text and "not 6" in text
    assert "weight sin layer 1 = 0.3352 (effect 0.0019)" in text
    assert "Paper A's other 18 weights cannot be tested here:" in text
    _, none = paper_a.paper_a_numbers(table[table.paper != "A"], runs, ["softmax"], "fmnist")
    assert set(none.values()) == {"–"}


def test_paper_a_claims_show_the_sensitivity_reading_beside_the_primary(claims, tmp_path):
    parts = paper_a.paper_a_claims(claims, tmp_path)
    primary = claims[claims.family == "paper_a_table1"]
    assert len(_tables(parts)[0]) == len(primary) == 3
    sensitivity = _tables(parts)[1]
    assert list(sensitivity.columns)[:2] == ["reading", "claim"] and set(sensitivity.reading) == {"abs"}
    assert (tmp_path / "paper_a_claims.csv").exists()
    assert paper_a.paper_a_claims(claims[claims.paper != "A"]) == [
        "No full-protocol paper A runs yet, so its claims are untested."]


def test_weights_spreads_and_the_paper_beside_them(runs, tmp_path):
    a_runs = reproduction.protocol_runs(runs, "a", "fmnist")
    weights = paper_a.weights_long(a_runs)
    assert len(weights) == 2 * 3 * 3 * 3 and list(weights.columns) == ["norm", "seed", "layer", "member", "p"]
    spreads = paper_a.paper_a_spreads("fmnist")
    assert spreads.to_dict() == pytest.approx({"layer 1": 0.37, "layer 2": 0.69, "layer 3": 0.80}, abs=0.006)
    text = _text(paper_a.weights_parts(weights, "fmnist", tmp_path))
    mean_spread = np.mean([max(w) - min(w) for layers in WEIGHTS for w in layers])
    assert f"averages {mean_spread:.2f} under abs" in text and "0.37 (layer 1)" in text
    assert (tmp_path / "paper_a_weights.csv").exists()
    both = paper_a.weights_beside_paper(weights, "fmnist")
    assert (both.norm == "paper A Table 1").sum() == 9 and len(both) == 9 + len(weights)


def test_cycles_show_cycle_one_once_and_the_moves_paired_by_seed(runs, tmp_path):
    a_runs = reproduction.protocol_runs(runs, "a", "fmnist")
    parts = paper_a.paper_a_cycles(a_runs, tmp_path)
    per_phase = _tables(parts)[1]
    assert list(per_phase.reading).count("every reading (shared)") == 1  # identical cycle 1: shown once
    assert "in **3 of 3 seeds under every reading**" in _text(parts) and "that is 3 runs, not 6" in _text(parts)
    moves = _tables(parts)[2].set_index("reading")
    # end of cycle 2 − end of cycle 1 per seed: 0.915 − (0.920 + 0.001·seed), mean −0.006
    assert moves.loc["softmax", "end of cycle 2 − end of cycle 1"] == "-0.0060"
    assert moves.loc["abs", "end of cycle 2 − end of cycle 1"] == "-0.0050"
    assert moves.loc["softmax", "best epoch in cycle 1"] == "3 of 3 seeds"


def test_act_lr_study_runs_spreads_and_summary(tree):
    lr_runs, parts = paper_a.act_lr_study(tree, "fmnist")
    assert sorted(set(lr_runs.act_lr)) == [1e-3, 1e-1] and len(lr_runs) == 6
    assert "**10 epochs** at **3 seeds** (0, 1, 2)" in parts[0] and "Holm-corrected" in parts[0]
    weights = paper_a.weights_long(lr_runs, ("norm", "act_lr", "seed"))
    spread = paper_a.layer_spreads(weights)
    assert spread.loc[("softmax", 0.1, 0), "layer 1"] == pytest.approx(0.6)
    summary = paper_a.act_lr_summary(lr_runs, weights, "fmnist")
    assert "Reading of eq. 9: softmax." in _text(summary)
    top1 = _tables(summary)[1]
    assert list(top1["layer 1's largest weight"]) == ["relu in 2, tanh in 1", "tanh in 3"]
    assert paper_a.act_lr_study(tree / "paper_c", "fmnist")[0].empty


def test_act_lr_differences_are_two_holm_families(tree):
    lr_runs, _ = paper_a.act_lr_study(tree, "fmnist")
    weights = paper_a.weights_long(lr_runs, ("norm", "act_lr", "seed"))
    spread, accuracy = paper_a.act_lr_differences(lr_runs, weights)
    assert len(spread) == 3 and len(accuracy) == 2  # three layers; final and best accuracy
    for family in (spread, accuracy):
        assert list(family.p_adjusted) == pytest.approx(list(multipletests(family.p_value, method="holm")[1]))
    layer1 = spread.set_index("layer").loc["layer 1"]
    assert layer1.diff_mean == pytest.approx(np.mean([0.6, 0.45, 0.55]) - np.mean([0.01, 0.03, 0.01]))
    assert layer1.verdict == "better"  # a large, consistent widening survives the correction over three
    parts = paper_a.act_lr_parts(lr_runs, weights)
    text = _text(parts)
    assert "the verdict follows the Holm-corrected p over the 3 comparisons shown" in text
    assert "over the 2 comparisons shown" in text and "the spread is wider in layer 1" in text
    shown = _tables(parts)[0].set_index("layer")
    assert list(shown.columns) == ["comparison", "difference", "95 % CI", "p", "p (Holm)", "seeds wider", "verdict"]
    assert shown.loc["layer 1", "verdict"] == "wider"
    assert shown.loc["layer 1", "p (Holm)"] == verdict_tables.p_cell(layer1.p_adjusted)
    assert paper_a.act_lr_parts(lr_runs[lr_runs.seed == 0], weights) == []


def test_corrected_table_takes_the_familys_verdict_not_the_interval():
    diffs = pd.DataFrame({"baseline": "a", "challenger": ["b", "c"], "diff_mean": [0.01, 0.02],
                          "ci_low": [0.001, 0.002], "ci_high": [0.019, 0.038], "p_value": [0.04, 0.03],
                          "wins": [3, 3], "n_seeds": [3, 3]})
    from mixact_lib.analysis import rank_tests
    corrected = rank_tests.corrected_verdicts(diffs, "holm")
    shown = paper_a.corrected_table(corrected, [], 3, "wider", {"better": "wider"})
    # both intervals exclude 0, yet Holm over the two gives p 0.06 and 0.06: inconclusive
    assert list(shown["p (Holm)"]) == ["0.060", "0.060"] and list(shown.verdict) == ["inconclusive"] * 2
    assert list(shown.p) == ["0.040", "0.030"]


def test_act_lr_claims_per_rate(tree, tmp_path):
    parts = paper_a.act_lr_claims(tree, "fmnist")
    view = _tables(parts)[0]
    assert sorted(set(view["cycle-2 lr"])) == ["0.001", "0.1"] and len(view) == 6
    assert "Across the 2 cycle-2 learning rates:" in _text(parts)
    shutil.copy(tree / "analysis_plan.yaml", tmp_path)  # the plan, but no study
    assert paper_a.act_lr_claims(tmp_path, "fmnist") == []


def test_paper_b_numbers_and_every_verdict_counted(table, claims, tmp_path):
    untested = _tables(conclusions.paper_b_numbers(table))[0].set_index("dataset")
    assert untested.numbers.astype(int).sum() == (table.paper == "B").sum()
    parts, glued = conclusions.all_verdicts(table, claims, tmp_path)
    numbers = table[table.role == "primary"]
    assert glued["r_all_numbers"] == len(numbers) and glued["r_all_claims"] == len(claims) - 3  # abs: a look
    assert glued["r_all_untestable"] == int((numbers.verdict == "cannot be tested here").sum())
    assert (tmp_path / "reproduction.csv").exists()
    counts = _tables(parts)[0]
    assert counts.numbers.replace("–", "0").astype(int).sum() == len(numbers)


def test_conclusions_quote_the_key_claims_the_selection_gain_and_the_widest_interval(claims, runs):
    text = conclusions.conclusions(claims, runs, "fmnist")
    key = claims[claims.family.isin(["primary", "matched_compute", "paper_a_table1"])]
    assert text.count("\n- ") + 1 == len(key) + 2
    assert "adds 0.0020 to 0.0020 per network" in text
    best = claims[(claims.paper == "C") & (claims.metric == "best_test_acc")]
    widest = best[["ci_low", "ci_high"]].abs().max().max()
    assert f"lies within ±{widest:.4f}" in text
    assert conclusions.conclusions(claims.iloc[:0], runs.iloc[:0], "fmnist") == "No committed runs yet."
