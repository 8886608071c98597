"""The analysis plan carried out: corrections, margins, TOST, power and the planned seeds, against
statsmodels, scipy and hand-worked cases (fake results folders, the committed plan)."""
import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as st
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

from mixact_lib.analysis import analysis_plan, stats

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "results" / "analysis_plan.yaml"


def _plan(root: Path, **changes) -> dict:
    """The committed plan, copied to ``root`` with some top-level or primary-seed values changed."""
    plan = yaml.safe_load(PLAN.read_text())
    plan["primary_seeds"].update(changes.pop("primary_seeds", {}))
    plan.update(changes)
    root.mkdir(parents=True, exist_ok=True)
    (root / analysis_plan.PLAN_FILE).write_text(yaml.safe_dump(plan, allow_unicode=True))
    return plan


def _run(root: Path, paper: str, variant: str, seed: int, summary: dict, home: str = "fmnist",
         activation_kwargs: dict | None = None, activation: str | None = None) -> None:
    folder = root / f"paper_{paper}" / home / variant / f"seed{seed}"
    folder.mkdir(parents=True)
    config = {"paper": paper, "dataset": "fmnist", "activation_kwargs": activation_kwargs or {}, "train_subset": None}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "summary.json").write_text(json.dumps({"paper": paper, "dataset": "fmnist", "model": "m",
                                                     "activation": activation or variant, "seed": seed, **summary}))


def _paper_c(root: Path, accs: dict[str, list[float]], home: str = "fmnist") -> None:
    for variant, values in accs.items():
        for seed, acc in enumerate(values):
            _run(root, "c", variant, seed, {"best_test_acc": acc, "final_test_acc": acc,
                                            "test_acc_at_best_val": acc}, home)


def test_the_committed_plan_loads_and_names_every_family_the_verdicts_use():
    plan = analysis_plan.load_plan(ROOT / "results")
    names = [f["name"] for f in plan["families"]]
    assert names == ["primary", "paper_c_other_metrics", "matched_compute", "paper_a_table1",
                     "paper_b_adaptive_vs_fixed"]
    assert plan["alpha"] == 0.05 and plan["margins"]["paper_c_on_par"] == 0.003
    on_par = [c for f in plan["families"] for c in f.get("claims", []) if c["kind"] in ("non_inferiority",
                                                                                          "equivalence")]
    assert on_par and all(c["margin"] in plan["margins"] for c in on_par)  # every "≥" / "on par" has a margin
    summary = analysis_plan.plan_summary(ROOT / "results")
    assert list(summary.correction) == ["Holm", "Holm", "Holm", "Holm", "Benjamini–Hochberg"]


def test_the_plan_was_committed_before_the_first_new_paper_c_run():
    """Issue 28: the plan predates, in git history, every run of paper C's seeds beyond the first five."""
    def first_commit(*paths: str) -> int | None:
        r = subprocess.run(["git", "log", "--diff-filter=A", "--format=%ct", "--reverse", "--", *paths],
                           capture_output=True, text=True, cwd=ROOT)
        if r.returncode != 0:
            pytest.skip("no git history here")
        times = [int(t) for t in r.stdout.split()]
        return times[0] if times else None
    if subprocess.run(["git", "rev-parse", "--is-shallow-repository"], capture_output=True, text=True,
                      cwd=ROOT).stdout.strip() == "true":
        pytest.skip("a shallow clone has no history to check")
    plan_time = first_commit("results/analysis_plan.yaml")
    assert plan_time is not None
    new_runs = [f"results/paper_c/fmnist/{n}/seed{k}/summary.json" for n in ("relu", "adact", "optimized")
                for k in range(5, 30)]
    runs_time = first_commit(*new_runs)
    if runs_time is not None:
        assert plan_time <= runs_time


def test_malformed_plans_are_refused_with_what_is_allowed(tmp_path):
    plan = _plan(tmp_path)
    plan["families"][0]["adjustment"] = "bonferroni-ish"
    (tmp_path / analysis_plan.PLAN_FILE).write_text(yaml.safe_dump(plan, allow_unicode=True))
    with pytest.raises(analysis_plan.PlanError, match="holm, bh, none"):
        analysis_plan.load_plan(tmp_path)
    plan = _plan(tmp_path)
    plan["families"][0]["claims"][1].pop("margin")
    (tmp_path / analysis_plan.PLAN_FILE).write_text(yaml.safe_dump(plan, allow_unicode=True))
    with pytest.raises(analysis_plan.PlanError, match="needs a margin"):
        analysis_plan.load_plan(tmp_path)
    with pytest.raises(analysis_plan.PlanError, match="no analysis plan"):
        analysis_plan.load_plan(tmp_path / "nowhere")


def test_holm_and_bh_by_hand_and_against_statsmodels():
    p = [0.04, 0.03, 0.20]
    # Holm by hand: sorted 0.03·3 = 0.09, 0.04·2 = 0.08 → 0.09 (monotone), 0.20·1 = 0.20
    assert stats.adjust(p, "holm") == pytest.approx([0.09, 0.09, 0.20])
    # BH by hand: 0.20·3/3 = 0.20, 0.04·3/2 = 0.06, 0.03·3/1 = 0.09 → min from the top: 0.06, 0.06, 0.20
    assert stats.adjust(p, "bh") == pytest.approx([0.06, 0.06, 0.20])
    assert stats.adjust(p, "bh") == pytest.approx(multipletests(p, method="fdr_bh")[1])
    assert stats.adjust(p, "none") == pytest.approx(p)
    assert np.isnan(stats.adjust([0.01, float("nan")], "holm")[1])
    with pytest.raises(ValueError, match="unknown adjustment"):
        stats.adjust(p, "bonferroni")


def test_non_inferiority_and_tost_against_one_sided_scipy_tests():
    a = np.array([0.921, 0.919, 0.924, 0.920, 0.922])
    b = np.array([0.920, 0.921, 0.921, 0.922, 0.919])
    d = a - b
    ni = stats.claim_test(a, b, "non_inferiority", margin=0.003)
    assert ni["p_value"] == pytest.approx(st.ttest_1samp(d + 0.003, 0.0, alternative="greater").pvalue)
    eq = stats.claim_test(a, b, "equivalence", margin=0.003)
    lower = st.ttest_1samp(d + 0.003, 0.0, alternative="greater").pvalue
    upper = st.ttest_1samp(d - 0.003, 0.0, alternative="less").pvalue
    assert eq["p_value"] == pytest.approx(max(lower, upper))
    # the one-sided (1 − α) bounds are the two-sided 90 % interval
    half = st.t.ppf(0.95, 4) * d.std(ddof=1) / math.sqrt(5)
    assert (eq["bound_low"], eq["bound_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    assert eq["wins"] == int((d > 0).sum())
    with pytest.raises(ValueError, match="needs a margin"):
        stats.claim_test(a, b, "equivalence")


@pytest.mark.parametrize("kind, p_adj, mean, ci, bound_high, verdict", [
    ("superiority", 0.01, +0.002, (0.001, 0.003), 0.003, "replicates"),
    ("superiority", 0.01, -0.002, (-0.003, -0.001), -0.001, "does not replicate"),
    ("superiority", 0.09, +0.002, (-0.001, 0.005), 0.004, "inconclusive"),
    ("non_inferiority", 0.01, -0.001, (-0.002, 0.000), -0.0003, "replicates"),
    ("non_inferiority", 0.60, -0.006, (-0.009, -0.004), -0.0045, "does not replicate"),
    ("non_inferiority", 0.30, -0.002, (-0.006, 0.002), 0.001, "inconclusive"),
    ("equivalence", 0.02, 0.000, (-0.002, 0.002), 0.0015, "replicates"),
    ("equivalence", 0.90, 0.006, (0.004, 0.008), 0.0075, "does not replicate"),
    ("equivalence", 0.20, 0.001, (-0.002, 0.004), 0.0035, "inconclusive"),
])
def test_each_planned_verdict(kind, p_adj, mean, ci, bound_high, verdict):
    assert stats.planned_verdict(kind, p_adj, mean, *ci, bound_high, margin=0.003) == verdict


def test_seeds_for_power_agrees_with_statsmodels_root_finder():
    for sd, effect in ((0.0033, 0.0019), (0.0033, 0.002), (0.0017, 0.004)):
        n = TTestPower().solve_power(effect_size=effect / sd, alpha=0.05, power=0.8, alternative="two-sided")
        assert stats.seeds_for_power(sd, effect) == math.ceil(n)
    assert stats.seeds_for_power(0.001, 0.05) == 2  # where statsmodels' own root finder gives up
    assert stats.seeds_for_power(0.0033, 1e-7) is None and stats.seeds_for_power(0.0, 0.01) is None
    # the figures: about 24 paired seeds for 0.002 at sd 0.0033
    assert stats.seeds_for_power(0.0033, 0.002) == 24


def test_holm_turns_an_uncorrected_replication_into_inconclusive(tmp_path):
    """Three primary claims: AdAct > ReLU at p ≈ 0.03 alone, but Holm over the family lifts it above 0.05."""
    _plan(tmp_path, primary_seeds={"n_seeds": 5, "max_half_width": 1.0})  # no extension
    relu = [0.9200, 0.9190, 0.9210, 0.9200, 0.9195]
    adact = [r + d for r, d in zip(relu, [0.0030, 0.0005, 0.0040, 0.0012, 0.0028])]
    optimized = [a + d for a, d in zip(adact, [0.004, -0.006, 0.001, 0.005, -0.003])]
    _paper_c(tmp_path, {"relu": relu, "adact": adact, "optimized": optimized})
    claims = analysis_plan.paper_c_claims(tmp_path)
    primary = claims[claims.family == "primary"].set_index("claim")
    first = primary.loc["ConvNet-AdAct > ConvNet-ReLU"]
    assert first.p_value == pytest.approx(st.ttest_rel(adact, relu).pvalue) and first.p_value < 0.05
    assert first.p_adjusted == pytest.approx(multipletests(primary.p_value, method="holm")[1][0])
    assert first.p_adjusted >= 0.05 and first.verdict == "inconclusive"  # uncorrected, it would replicate
    assert stats.planned_verdict("superiority", first.p_value, first.mean_diff, first.ci_low, first.ci_high,
                                 first.bound_high) == "replicates"
    on_par = primary.loc["ConvNet-Optimized ≥ ConvNet-AdAct (on par or slightly better)"]
    assert on_par.kind == "non_inferiority" and on_par.margin == 0.003 and "non-inferiority" in on_par.test
    assert set(claims.adjustment) == {"holm"} and (claims.n_planned == 5).all()


def test_claims_are_pending_below_the_planned_seeds_and_read_at_the_lowest_seeds_above(tmp_path):
    _plan(tmp_path, primary_seeds={"n_seeds": 4, "extend_to": 6})
    accs = {"relu": [0.920, 0.919, 0.921, 0.920, 0.5], "adact": [0.923, 0.921, 0.924, 0.922, 0.9]}
    _paper_c(tmp_path, {k: v[:3] for k, v in accs.items()})
    first = analysis_plan.paper_c_claims(tmp_path).iloc[0]
    assert (first.n_seeds, first.n_planned, first.verdict) == (3, 4, stats.PENDING)
    shutil.rmtree(tmp_path / "paper_c")
    _paper_c(tmp_path, accs)  # seed 4 (a wild pair) lies beyond the planned 4 seeds: never looked at
    first = analysis_plan.paper_c_claims(tmp_path).iloc[0]
    assert first.n_seeds == 4 and first.mean_diff == pytest.approx(0.0025)
    assert first.verdict != stats.PENDING


def test_a_family_is_read_only_when_all_its_claims_have_their_seeds(tmp_path):
    _plan(tmp_path, primary_seeds={"n_seeds": 4, "extend_to": 6})
    accs = {"relu": [0.920, 0.919, 0.921, 0.920], "adact": [0.923, 0.921, 0.924, 0.922],
            "optimized": [0.922, 0.922, 0.923, 0.921]}
    _paper_c(tmp_path, {**accs, "optimized": accs["optimized"][:3]})  # Optimized's fourth seed still running
    primary = analysis_plan.paper_c_claims(tmp_path).query("family == 'primary'")
    assert primary.n_seeds.tolist() == [4, 3, 3]
    assert (primary.verdict == stats.PENDING).all()  # AdAct − ReLU is complete, but its Holm p is not final
    shutil.rmtree(tmp_path / "paper_c")
    _paper_c(tmp_path, accs)  # control: every claim at its 4 seeds, every row judged
    primary = analysis_plan.paper_c_claims(tmp_path).query("family == 'primary'")
    assert (primary.n_seeds == 4).all() and not (primary.verdict == stats.PENDING).any()


def test_the_precision_rule_extends_the_primary_family_when_the_interval_is_wide(tmp_path):
    plan = _plan(tmp_path, primary_seeds={"n_seeds": 4, "extend_to": 6, "max_half_width": 0.0016})
    rng = np.random.default_rng(0)
    relu = 0.92 + rng.normal(0, 0.001, 4)
    narrow = {"relu": relu, "adact": relu + 0.002 + rng.normal(0, 0.0002, 4)}
    wide = {"relu": relu, "adact": relu + 0.002 + rng.normal(0, 0.004, 4)}
    from mixact_lib.runs.folders import collect_summaries
    for accs, expected in ((narrow, 4), (wide, 6)):
        shutil.rmtree(tmp_path / "paper_c", ignore_errors=True)
        _paper_c(tmp_path, {k: list(v) for k, v in accs.items()})
        runs = collect_summaries(tmp_path)
        assert analysis_plan.primary_seeds(plan, runs) == expected


def test_paper_a_tests_relu_against_one_third_and_the_old_margin_is_biased():
    """Negative control: with no preference at all (weights drawn exchangeably, with about the spread of our
    runs' weights, sd ≈ 0.05), the old margin max(p_tanh, p_sin) − p_relu is positive on average, and its test
    against 0 'finds' a preference far more often than α; p_relu − 1/3 keeps its error rate at α."""
    rng = np.random.default_rng(1)
    p = rng.dirichlet([30.0, 30.0, 30.0], size=(4000, 20))  # 4000 experiments of 20 seeds; relu, tanh, sin
    old_margin = np.maximum(p[..., 1], p[..., 2]) - p[..., 0]
    new_statistic = p[..., 0] - 1 / 3
    assert old_margin.mean() > 0.02 and abs(new_statistic.mean()) < 0.002
    old_rate = (st.ttest_1samp(old_margin, 0, axis=1).pvalue < 0.05).mean()
    new_rate = (st.ttest_1samp(new_statistic, 0, axis=1).pvalue < 0.05).mean()
    assert old_rate > 0.2  # the biased test: 'replicates' in pure noise
    assert abs(new_rate - 0.05) < 0.015


def test_paper_a_family_reads_softmax_first_and_the_other_readings_as_sensitivity(tmp_path):
    _plan(tmp_path)
    weights = [((0.40, 0.30, 0.30), (0.30, 0.35, 0.35), (0.20, 0.40, 0.40)),
               ((0.45, 0.28, 0.27), (0.25, 0.40, 0.35), (0.25, 0.35, 0.40)),
               ((0.38, 0.31, 0.31), (0.31, 0.34, 0.35), (0.22, 0.38, 0.40)),
               ((0.42, 0.29, 0.29), (0.28, 0.36, 0.36), (0.18, 0.42, 0.40)),
               ((0.41, 0.30, 0.29), (0.29, 0.35, 0.36), (0.21, 0.39, 0.40))]
    for norm in ("softmax", "abs"):
        for seed, layers in enumerate(weights):
            summary = {"activation_params": {f"act{i}": {"weights": dict(zip(("relu", "tanh", "sin"), w))}
                                             for i, w in enumerate(layers, 1)}}
            _run(tmp_path, "a", norm, seed, summary, activation_kwargs={"norm": norm}, activation="mix")
    claims = analysis_plan.paper_a_claims(tmp_path)
    assert list(claims.family.unique()) == ["paper_a_table1", "paper_a_table1_sensitivity_abs"]
    primary = claims[claims.family == "paper_a_table1"]
    relu1 = np.array([w[0][0] for w in weights])
    first = primary.iloc[0]
    assert first.mean_diff == pytest.approx(relu1.mean() - 1 / 3)
    assert first.p_value == pytest.approx(st.ttest_1samp(relu1, 1 / 3).pvalue)
    assert first.verdict == "replicates" and first.wins == 5
    third = primary.iloc[2]  # p_relu well below 1/3 in layer 3: the claim's direction is "<"
    assert third.mean_diff < 0 and third.verdict == "replicates"
    assert list(primary.p_adjusted) == pytest.approx(list(multipletests(primary.p_value, method="holm")[1]))
    assert first.seeds_needed == stats.seeds_for_power(np.std(relu1 - 1 / 3, ddof=1), 0.5178 - 1 / 3)


def test_the_book_states_what_the_data_rule_out_and_whether_the_paper_value_is_among_it():
    from types import SimpleNamespace

    from mixact_lib.report import plan_tables
    row = SimpleNamespace(claim="layer 1 prefers ReLU", kind="one_sample", direction=">", metric="p_relu − 1/3",
                          mean_diff=-0.017, ci_low=-0.080, ci_high=0.046, bound_low=-0.065, bound_high=0.031,
                          adjustment="holm", p_adjusted=0.49, n_seeds=5, n_planned=5, verdict="inconclusive",
                          seeds_needed=3, paper_effect=0.1845)
    assert plan_tables.ruled_out(row) == "a difference above +0.0310"
    assert plan_tables.excludes_paper(row)
    assert "the paper's own +0.1845 among it" in plan_tables.claim_sentence(row)
    row.paper_effect = 0.02  # inside what the data allow: not excluded (the control)
    assert not plan_tables.excludes_paper(row) and "among it" not in plan_tables.claim_sentence(row)
    # the seeds for 80 % power name the difference they assume: the paper's for a one-sample claim ...
    assert ("(one-sided 95 %); the 5 seeds had at least 80 % power at the paper's own difference (+0.0200), for "
            "which about 3 paired seeds suffice at the spread observed." in plan_tables.claim_sentence(row))
    row.seeds_needed = 8  # more than the claim has: how many it would need
    assert ("(one-sided 95 %); 80 % power at the paper's own difference (+0.0200) needs about 8 paired seeds."
            in plan_tables.claim_sentence(row))
    row.kind, row.bound_low, row.margin = "non_inferiority", -0.0043, 0.003
    assert plan_tables.ruled_out(row) == "a loss larger than 0.0043" and not plan_tables.excludes_paper(row)
    # ... and a true difference of 0 against the margin for non-inferiority
    assert "80 % power at a true difference of 0 (margin 0.003)" in plan_tables.claim_sentence(row)
    row.kind = "equivalence"
    assert plan_tables.ruled_out(row) == "differences outside [-0.0043, +0.0310]"
    assert "(each bound one-sided 95 %)" in plan_tables.claim_sentence(row)
    row.seeds_needed = pd.NA  # no power estimate (no paper difference): no sentence about it
    assert "power" not in plan_tables.claim_sentence(row)
    row.verdict, row.n_seeds, row.n_planned = "pending", 5, 20
    assert "*pending* until 20 seeds are in" in plan_tables.claim_sentence(row)


def test_chapter_claims_use_the_primary_kinds_and_margins_on_any_runs(tmp_path):
    rng = np.random.default_rng(3)
    relu = 0.92 + rng.normal(0, 0.001, 4)
    accs = {"relu": relu, "adact": relu + 0.004, "optimized": relu + 0.004 + rng.normal(0, 0.0005, 4)}
    _paper_c(tmp_path, {k: list(v) for k, v in accs.items()})
    from mixact_lib.runs.folders import collect_summaries
    claims = analysis_plan.chapter_claims(collect_summaries(tmp_path), ("best_test_acc",), "quick runs")
    assert list(claims.kind) == ["superiority", "non_inferiority", "superiority"]
    assert set(claims.family) == {"quick runs"} and (claims.n_seeds == claims.n_planned).all()
    assert not (claims.verdict == stats.PENDING).any()
    assert claims.iloc[1].margin == 0.003 and claims.iloc[1].verdict == "replicates"  # on par within the margin


def test_paper_a_claims_per_cycle_two_learning_rate(tmp_path):
    _plan(tmp_path)
    for lr in (0.001, 0.1):
        for seed in range(3):
            layers = ((0.5 + 0.01 * seed, 0.25, 0.25 - 0.01 * seed), (0.3, 0.35, 0.35), (0.2, 0.4, 0.4))
            summary = {"activation_params": {f"act{i}": {"weights": dict(zip(("relu", "tanh", "sin"), w))}
                                             for i, w in enumerate(layers, 1)}, "best_test_acc": 0.9}
            _run(tmp_path, "a", f"act_lr={lr:g}", seed, summary, home="fmnist-act-lr-10ep/softmax",
                 activation_kwargs={"norm": "softmax"}, activation="mix")
            config = tmp_path / "paper_a" / "fmnist-act-lr-10ep" / "softmax" / f"act_lr={lr:g}" / f"seed{seed}"
            (config / "config.json").write_text(json.dumps({**json.loads((config / "config.json").read_text()),
                                                            "phases": [{"epochs": 10, "optimizer": "adam", "lr": lr}]}))
    by_lr = analysis_plan.paper_a_by_act_lr(tmp_path)
    assert sorted(set(by_lr.act_lr)) == [0.001, 0.1] and len(by_lr) == 6
    assert (by_lr.n_planned == 3).all() and not (by_lr.verdict == stats.PENDING).any()


def test_pairing_correlation_by_hand_and_with_too_few_seeds(tmp_path):
    _paper_c(tmp_path, {"relu": [0.90, 0.91, 0.92, 0.93], "adact": [0.95, 0.96, 0.97, 0.98]})
    from mixact_lib.runs.folders import collect_summaries
    runs = collect_summaries(tmp_path)
    r, n = analysis_plan.pairing_correlation(runs, "adact", "relu", "best_test_acc")
    assert (round(r, 12), n) == (1.0, 4)  # moving together: pairing removes all of the spread
    shutil.rmtree(tmp_path / "paper_c")
    _paper_c(tmp_path, {"relu": [0.90, 0.91], "adact": [0.95, 0.96]})
    r, n = analysis_plan.pairing_correlation(collect_summaries(tmp_path), "adact", "relu", "best_test_acc")
    assert np.isnan(r) and n == 2


def test_counts_phrase_names_pending_claims_only_when_there_are_some():
    from mixact_lib.report import plan_tables
    claims = pd.DataFrame({"verdict": ["replicates", "inconclusive", "inconclusive", "pending"]})
    assert plan_tables.counts_phrase(claims) == ("1 replicates, 0 do not, 2 are inconclusive and 1 is pending "
                                                 "(seeds still running)")
    assert plan_tables.counts_phrase(claims.iloc[:3]) == "1 replicates, 0 do not and 2 are inconclusive"


def test_family_seeds_reads_each_familys_seeds_from_the_plan():
    root = ROOT / "results"
    assert analysis_plan.family_seeds(root, "primary") == 20  # primary_seeds.n_seeds, before any extension
    assert analysis_plan.family_seeds(root, "paper_b_adaptive_vs_fixed") == 3
    with pytest.raises(analysis_plan.PlanError, match="has no family 'nowhere'"):
        analysis_plan.family_seeds(root, "nowhere")
    with pytest.raises(analysis_plan.PlanError, match="no single n_seeds"):  # its variants set their own
        analysis_plan.family_seeds(root, "paper_c_other_metrics")
