"""The paper B chapter's tables, figures and sentences (mixact_lib.report.chapters.paper_b)."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

import mixact_lib as mx
from mixact_lib.analysis import stats
from mixact_lib.report.chapters import paper_b as chapter
from mixact_lib.report.chapters import paper_b_plan
from mixact_lib.studies import slopes as slope_study

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]

# final test accuracy per (model, activation): seeds 0, 1, 2 add 0, +0.002, −0.001 (same for every activation),
# plus a per-seed wobble that keeps asigmoid − sigmoid clearly positive and arelu − relu undecided
BASE = {"sigmoid": 0.80, "asigmoid": 0.83, "tanh": 0.81, "atanh": 0.812, "relu": 0.84, "arelu": 0.841,
        "prelu": 0.845}
WOBBLE = {"asigmoid": (0.0, 0.001, -0.001), "atanh": (0.004, -0.004, 0.001), "arelu": (0.006, -0.007, 0.002)}


def _acc(activation: str, seed: int, model: str = "vgg") -> float:
    return BASE[activation] + (0.002, 0.004, 0.0)[seed] + WOBBLE.get(activation, (0, 0, 0))[seed] + \
        (0.01 if model == "resnet" else 0.0)


def _study(models=("vgg", "resnet"), seeds=(0, 1, 2)) -> pd.DataFrame:
    return pd.DataFrame([{"model": m, "activation": a, "seed": s, "final_test_acc": _acc(a, s, m),
                          "best_test_acc": _acc(a, s, m) + 0.001, "convergence_area": 10 - 20 * _acc(a, s, m),
                          "dataset": "fmnist", "optimizer": "momentum", "lr": 0.01, "total_epochs": 9,
                          "train_subset": 6000}
                         for m in models for a in BASE for s in seeds])


def _run_folder(root: Path, model: str, activation: str, seed: int, optimizer: str = "momentum", lr: float = 0.01,
                slopes: tuple[float, ...] = (1.0, 1.2, 1.5), delta_w: tuple[float, float] = (1.0, 2.0),
                acc: float = 0.8) -> Path:
    """A finished run folder: config, summary (with the final a, b, c, d) and a three-epoch history."""
    folder = root / f"{model}-{activation}-{optimizer}-{lr:g}-{seed}"
    folder.mkdir(parents=True)
    adaptive = activation in ("asigmoid", "atanh", "arelu")
    (folder / "config.json").write_text(json.dumps({
        "model": model, "activation": activation, "seed": seed, "train_subset": 600,
        "phases": [{"optimizer": optimizer, "lr": lr * 10 ** -k, "epochs": 1} for k in range(3)]}))
    sites = lambda a: {"body.act1": {"a": a, "b": 1.0, "c": 0.0, "d": 0.0},  # noqa: E731
                       "body.act2": {"a": 1.0, "b": 1.004, "c": 0.0, "d": 0.02}} if adaptive else {}
    (folder / "summary.json").write_text(json.dumps({
        "model": model, "activation": activation, "seed": seed, "final_test_acc": acc,
        "activation_params": sites(slopes[-1])}))
    norms = {"conv1": 10.0, "conv2": 20.0}
    history = [{"epoch": e, "phase": e, "optimizer": optimizer, "lr": lr * 10 ** -(e - 1), "train_loss": 2.0 / e,
                "test_acc": 0.5 + 0.1 * e, "delta_w": dict(zip(("conv1", "conv2"), delta_w)),
                "weight_norm_initial": norms, "weight_norm": norms, "activations": sites(a)}
               for e, a in enumerate(slopes, start=1)]
    (folder / "history.json").write_text(json.dumps(history))
    return folder


def test_study_reader_reads_the_committed_study_and_refuses_an_empty_required_part(tmp_path):
    study = ROOT / "grids" / "paper_b_fmnist_cpu"
    read = chapter.study_reader(study, ROOT, tmp_path, "cpu", False, seed=None, epochs=None)
    runs = read("delta_w")
    assert len(runs) and set(runs.activation) == {"relu", "arelu"} and runs.model.unique().tolist() == ["vgg"]
    assert read("no_such_part").empty  # a sweep file the study does not have reads as no runs
    changed = chapter.study_reader(study, ROOT, tmp_path, "cpu", False, seed=[99])  # new runs, none trained
    assert changed("delta_w").empty
    with pytest.raises(RuntimeError, match=r"no finished runs under .*runs/delta_w"):
        changed("delta_w", required=True)


def test_protocol_table_describes_each_part_from_its_runs():
    table = _study(models=("vgg",))
    shown = chapter.protocol_table({"Tables 1-2": table, "Table 5": table.assign(optimizer="adam", lr=0.001),
                                    "Fig. 4": pd.DataFrame()}).frame
    assert shown.part.tolist() == ["Tables 1-2", "Table 5"]
    assert shown.iloc[1]["first lr"] == "0.001" and shown.iloc[0].runs == "21" and shown.iloc[0].seeds == "3"


def test_accuracy_sits_beside_the_papers_cell_in_the_chapters_order():
    summary = mx.mean_sd_table(_study(models=("alexnet",)), ["model", "activation"], ["final_test_acc"])
    shown = chapter.accuracy_beside_paper(summary.iloc[::-1], mx.paper_values()).frame  # any order in
    assert shown.iloc[:, 0].tolist() == [a for a in chapter.ACTIVATIONS if a in BASE]
    arelu = shown.set_index(shown.columns[0]).loc["arelu"]
    assert arelu.iloc[0] == "0.843 ± 0.006" and arelu.iloc[1] == "0.8331"  # paper B Table 1, AlexNet, AReLU


def test_adaptive_vs_fixed_is_one_bh_family_and_its_sentence_counts_the_adjusted_verdicts():
    table = _study()
    diffs = chapter.adaptive_vs_fixed(table)
    assert len(diffs) == 6 and diffs.p_adjusted.to_numpy() == pytest.approx(stats.adjust(diffs.p_value, "bh"))
    verdict = diffs.set_index(["model", "challenger"]).verdict
    assert verdict[("vgg", "asigmoid")] == "better" and verdict[("vgg", "arelu")] == "inconclusive"
    summary = mx.mean_sd_table(table, ["model", "activation"], ["final_test_acc"])
    text = chapter.adaptive_vs_fixed_sentence(diffs, summary)
    better = int((diffs.verdict == "better").sum())
    assert text.startswith(f"Adaptive against fixed, of 6 model × pair cells, paired by seed and "
                           f"Benjamini–Hochberg-adjusted over all 6: **{better} better, 0 worse")
    assert f"(uncorrected, {int((diffs.p_value < 0.05).sum())} of the 6 would pass at 0.05)" in text
    assert "AReLU ranked 2 of 7 on vgg, 2 of 7 on resnet" in text
    assert "the best mean per model was prelu (resnet), prelu (vgg)." in text


def test_adaptive_vs_fixed_gives_the_committed_claims_adjusted_p():
    """On the committed study, at the seeds the plan reads, the chapter's table and results/claims.csv are one
    family with one correction."""
    table = mx.collect_summaries(ROOT / "results" / "paper_b" / "fmnist-cpu" / "tables")
    diffs = paper_b_plan.planned_family(table, paper_b_plan.plan_seeds(table, ROOT / "results"))
    claims = pd.read_csv(ROOT / "results" / "claims.csv").query("family == 'paper_b_adaptive_vs_fixed'")
    assert len(claims) == len(diffs) == 9
    ours = {f"{r.challenger} > {r.baseline} ({r.model})": (r.p_adjusted, r.verdict) for r in diffs.itertuples()}
    for claim in claims.itertuples():
        p_adjusted, verdict = ours[claim.claim]
        assert p_adjusted == pytest.approx(claim.p_adjusted, rel=1e-9)
        assert (verdict == "better") == (claim.verdict == "replicates")


def test_the_plan_reads_its_seeds_and_the_added_seeds_are_an_exploratory_check():
    three = _study()
    later = three[three.seed < 2].assign(seed=lambda f: f.seed + 3)  # seeds 3 and 4, where asigmoid loses 0.06
    later.loc[later.activation == "asigmoid", "final_test_acc"] -= 0.06
    table = pd.concat([three, later], ignore_index=True)
    seeds = paper_b_plan.plan_seeds(table, ROOT / "results")  # the committed plan reads paper B at 3 seeds
    assert seeds == [0, 1, 2]
    planned = paper_b_plan.planned_family(table, seeds)
    assert (planned.n_seeds == 3).all() and set(planned[planned.challenger == "asigmoid"].verdict) == {"better"}
    every, intro, text = paper_b_plan.all_seeds_check(table, planned, seeds)
    assert (every.n_seeds == 5).all() and "also has seeds 3, 4" in intro and "those of seeds 0–2" in intro
    assert text.startswith("Verdicts the added seeds overturned: **asigmoid − sigmoid (vgg)** was *better* on "
                           "seeds 0–2")
    assert "*inconclusive* on all 5 seeds" in text and "BH p" in text and "(resnet)" in text
    # control: no seed beyond the plan's, nothing to add
    assert paper_b_plan.all_seeds_check(three, planned, seeds) is None


def test_area_pairs_call_a_smaller_area_better():
    table = _study()
    area = chapter.area_pairs(table).set_index(["model", "challenger"])
    assert (area.diff_mean < 0).loc[("vgg", "asigmoid")] and area.verdict[("vgg", "asigmoid")] == "better"
    assert area.p_adjusted.to_numpy() == pytest.approx(stats.adjust(area.p_value, "holm"))


def test_loss_curves_draw_the_three_pairs_and_keep_every_run():
    hist = pd.DataFrame([{"model": m, "activation": a, "seed": 0, "epoch": e, "train_loss": 1 / e, "test_acc": 0.5}
                         for m in ("vgg", "resnet") for a in ("relu", "arelu", "prelu") for e in (1, 2)])
    fig, data = chapter.loss_curves(hist)
    assert len(fig.axes) == 2 and len(data) == len(hist) and "prelu" in set(data.activation)


def test_early_increments_table_and_sentences(tmp_path):
    for seed in range(3):  # layer 1: AReLU's step 1.5 times ReLU's in every seed; layer 2: no difference
        _run_folder(tmp_path, "vgg", "relu", seed, delta_w=(1 + 0.1 * seed, 2.0))
        _run_folder(tmp_path, "vgg", "arelu", seed, delta_w=(1.5 * (1 + 0.1 * seed), 2.0 + (0.3, -0.2, 0.1)[seed]))
    table = mx.collect_summaries(tmp_path)
    table.attrs["root"] = tmp_path
    assert chapter.first_lr_step(table) == 1
    dw = slope_study.delta_w_norms(table, [1, 2])
    ratio, pairs = slope_study.early_increments(dw, slope_study.relative_increments(table, [1, 2]), 1)
    shown = chapter.early_increments_table(ratio, pairs).frame
    assert shown.columns[5] == ("‖ΔW‖/‖W‖, AReLU − ReLU", "p (Holm)")
    assert shown.iloc[:, 1].tolist() == ["1.50", "1.03"] and shown.iloc[:, 7].tolist() == ["0.110", "0.100"]
    assert shown.iloc[:, 6].tolist() == ["AReLU larger", "inconclusive"]  # layer 1: +0.05, +0.055, +0.06
    intro = chapter.early_increments_intro(pairs, 1)
    assert "first 1 epoch(s)" in intro and "Holm-corrected over the 2 layers" in intro
    assert chapter.early_increments_sentence(pairs).startswith(
        "The Holm-corrected p is below 0.05 in 1 of 2 layers (layer 1 (conv1): AReLU larger), and the comparison "
        "is inconclusive in the others.")


def test_learned_slopes_and_abcd_read_the_final_values(tmp_path):
    for seed, last in enumerate((1.5, 0.5)):
        _run_folder(tmp_path, "vgg", "arelu", seed, slopes=(1.0, 1.2, last))
    _run_folder(tmp_path, "vgg", "atanh", 0, slopes=(1.0, 1.0, 1.02))
    _run_folder(tmp_path, "vgg", "relu", 0)
    table = mx.collect_summaries(tmp_path)
    adaptive = table[table.activation != "relu"]
    traj = slope_study.activation_param_trajectories(adaptive.folder)
    text = chapter.learned_slopes_sentence(traj, mx.load_histories(tmp_path))
    assert "After 3 epochs the 6 adaptive sites (3 runs) ended with a between 0.50 and 1.50; 67% of them" in text
    assert "The furthest is layer 1 of vgg with arelu (body.act1), a = 1.50" in text
    assert "momentum (lr·a²)" in text and "at 0.25 to 2.25 times" in text
    shown = chapter.abcd_table(slope_study.learned_abcd(table)).frame
    assert shown.iloc[0].tolist()[:3] == ["vgg", "arelu", "1.00 [0.50, 1.50]"]


def test_optimiser_tables_and_the_holm_corrected_arelu_rows(tmp_path):
    table = chapter.with_setting(pd.concat([_study(models=("vgg",)).assign(optimizer=o, lr=lr)
                                            for o, lr in (("adam", 0.001), ("sgd", 0.01), ("weird", 1.0))]))
    assert chapter.setting_order(table.setting) == ["sgd 0.01", "adam 0.001", "weird 1"]
    opt_stats = mx.mean_sd_table(table, ["activation", "setting"], "final_test_acc")
    shown = chapter.optimizer_table(opt_stats).frame
    assert shown.columns.tolist() == ["activation", "sgd 0.01", "adam 0.001", "weird 1"]
    pairs = chapter.versus_relu(table)
    assert len(pairs) == 3 * 6 and "p_adjusted" not in pairs
    arelu_vs = chapter.arelu_vs_relu(pairs)
    assert len(arelu_vs) == 3 and arelu_vs.p_adjusted.to_numpy() == pytest.approx(stats.adjust(arelu_vs.p_value,
                                                                                                "holm"))
    text = chapter.optimizer_sentence(arelu_vs, opt_stats)
    assert text.startswith("AReLU against ReLU, of 3 optimiser settings, paired by seed and Holm-corrected over all 3")
    assert text.endswith("(a description, not a test): sgd 0.01: prelu, adam 0.001: prelu, weird 1: prelu.")


def test_repeatability_finds_the_same_configuration_in_two_parts():
    table = _study(models=("vgg",))
    twin = table.assign(final_test_acc=table.final_test_acc + 0.0005)
    assert chapter.repeatability_sentence(table, twin) == (
        "Repeatability: 21 runs of this table have an identical configuration in the Tables 1–2 part, trained "
        "separately; their final test accuracies differ by at most 0.0005.")
    assert chapter.repeatability_sentence(table, twin.assign(lr=0.1)) is None


def test_arelu_rates_follow_each_setting(tmp_path):
    for optimizer, lr in (("adam", 0.001), ("sgd", 0.01), ("adadelta", 1.0)):
        _run_folder(tmp_path, "vgg", "arelu", 0, optimizer, lr, slopes=(1.0, 1.5, 2.0))
    _run_folder(tmp_path, "vgg", "relu", 0, "sgd", 0.01)
    runs = chapter.with_setting(mx.collect_summaries(tmp_path))
    rates = chapter.arelu_rates(runs)
    assert list(dict.fromkeys(rates.setting)) == ["sgd 0.01", "adadelta 1", "adam 0.001"]
    assert chapter.arelu_rates_sentence(rates) == (
        "In the last epoch, AReLU's slopes put the implied rate of the layer in front of each site at sgd 0.01: "
        "1.00–4.00 × lr; adam 0.001: 1.00–2.00 × lr (AdaDelta: no single rate). Across these settings that is at "
        "most a factor 4.00 away from the plain layer's rate, against the factor 10 of each learning-rate step.")


def test_table5_leaves_plain_sgd_at_1e3_out_of_the_customary_study():
    runs = _study(models=("resnet",))
    customary = pd.concat([runs.assign(optimizer="sgd", lr=0.01), runs.assign(optimizer="sgd", lr=0.001)])
    frame = chapter.table5(runs.assign(optimizer="sgd", lr=0.001), customary, mx.paper_values())
    relu = frame.set_index("activation").loc["relu"]
    assert relu.customary_rates_count == 3 and relu.paper_resnet_cifar10 == pytest.approx(0.6641)
    shown = chapter.table5_view(frame)
    assert "authors' schedule" in shown.frame.columns and "Paper B: its Table 5" in shown.note


def test_arelu_against_the_others_is_one_holm_family():
    runs = _study(models=("vgg",)).drop(columns="optimizer").rename(columns={"model": "optimizer"})
    pairs = chapter.arelu_vs_others(runs)
    assert len(pairs) == 6 and set(pairs.challenger) == {"arelu"}
    assert pairs.p_adjusted.to_numpy() == pytest.approx(stats.adjust(pairs.p_value, "holm"))
    text = chapter.authors_schedule_sentence(pairs, 3)
    n_better = int((pairs.verdict == "better").sum())
    assert f"Holm-corrected over all 6 comparisons: **{n_better} better" in text
    assert "AReLU's mean is below PReLU's under 1 of the 1 optimisers." in text


def test_the_authors_start_is_paired_with_both_and_its_branch_gaps_shown(tmp_path):
    for seed in range(3):
        _run_folder(tmp_path / "ours", "vgg", "arelu", seed, acc=0.84 + (0.001, -0.002, 0.003)[seed])
        _run_folder(tmp_path / "ours", "vgg", "relu", seed, acc=0.83 + (0.002, 0.001, -0.001)[seed])
        _run_folder(tmp_path / "authors", "vgg", "arelu", seed, slopes=(1.0, 1.0, 1.0), acc=0.835 + 0.001 * seed)
    table, authors = mx.collect_summaries(tmp_path / "ours"), mx.collect_summaries(tmp_path / "authors")
    starts = chapter.arelu_starts(table, authors)
    assert sorted(set(starts.activation)) == ["arelu", chapter.AUTHORS_START, "relu"]
    pairs = chapter.start_pairs(starts)
    assert pairs.baseline.tolist() == ["arelu", "relu"] and (pairs.challenger == chapter.AUTHORS_START).all()
    assert pairs.p_adjusted.to_numpy() == pytest.approx(stats.adjust(pairs.p_value, "holm"))
    assert pairs.diff_mean.to_numpy() == pytest.approx([0.836 - 0.840667, 0.836 - 0.830667], abs=1e-6)
    shown = chapter.branch_gaps_table(table, authors).frame
    assert shown.start.tolist() == ["authors' start", "ReLU start"] and "share within 0.01 of linear" in shown
