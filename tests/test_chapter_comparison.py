"""What the comparison chapter prints (mixact_lib.report.chapters.comparison), from generated runs."""
import json

import pandas as pd
import pytest

from mixact_lib.analysis import stats
from mixact_lib.report.chapters import comparison as chapter

# final test accuracy per seed (means: prelu 0.820, elu 0.814, relu 0.809, pau 0.8075); elu is the best fixed
# one, prelu gains a steady 0.011 over relu, elu and pau differ from it by less than their spread
FINAL = {"relu": [0.80, 0.81, 0.82, 0.806], "elu": [0.812, 0.808, 0.83, 0.806],
         "prelu": [0.811, 0.82, 0.831, 0.818], "pau": [0.79, 0.83, 0.81, 0.80]}
PARAMS = {"relu": 100, "elu": 100, "prelu": 104, "pau": 140}


def _table(final=FINAL) -> pd.DataFrame:
    return pd.DataFrame([{"activation": a, "seed": s, "final_test_acc": v, "best_test_acc": v + 0.002,
                          "total_seconds": 10.0, "num_params": PARAMS[a], "folder": f"/runs/{a}/seed{s}"}
                         for a, values in final.items() for s, v in enumerate(values)])


def _run(root, activation, seed):
    folder = root / f"activation={activation}__seed={seed}"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"activation": activation, "train_subset": 500, "phases": [
        {"epochs": 5, "optimizer": "adamw", "lr": 1e-3}]}))
    (folder / "summary.json").write_text(json.dumps({"dataset": "fmnist", "model": "paper_c_convnet", "seed": seed,
                                                     "activation": activation, "final_test_acc": 0.8}))


def test_study_runs_reads_the_committed_runs_and_keeps_overrides_apart(tmp_path):
    study = tmp_path / "study.yaml"
    study.write_text("paper: c\nbase: {dataset: fmnist, model: paper_c_convnet, model_kwargs: {channels: [8, 16]}, "
                     "epochs: 5, train_subset: 500}\ngrid: {seed: [0, 1], activation: [relu, elu]}\nroot: res/study\n")
    for activation in ("relu", "elu"):
        for seed in (0, 1):
            _run(tmp_path / "res" / "study", activation, seed)
    nothing = {"seed": None, "epochs": None}
    table, base = chapter.study_runs(study, nothing, tmp_path, tmp_path / "mine", train=False)
    assert len(table) == 4 and base.model_kwargs == {"channels": [8, 16]}
    row = chapter.protocol(table, base).iloc[0].to_dict()
    assert row == {"dataset": "fmnist", "model": "paper_c_convnet", "widths": "8/16", "optimizer": "adamw 0.001",
                   "epochs": 5, "train images": 500, "activations": 2, "seeds": 2, "runs": 4}
    with pytest.raises(RuntimeError, match="mine"):  # other seeds: other runs, under the chapter's own folder
        chapter.study_runs(study, {**nothing, "seed": [7]}, tmp_path, tmp_path / "mine", train=False)


def test_accuracy_summary_best_first_with_families_and_extra_parameters():
    summary = chapter.accuracy_summary(_table())
    assert list(summary.activation) == ["prelu", "elu", "relu", "pau"]
    assert list(summary.extra_params) == [4, 0, 0, 40]
    assert summary.set_index("activation").family["relu"] == "fixed"
    assert summary.final_test_acc_count.tolist() == [4, 4, 4, 4]
    assert chapter.learnable_and_best_fixed(summary) == (["prelu", "pau"], "elu")
    view = chapter.accuracy_view(summary)
    assert list(view.frame.columns) == ["activation", "family", "extra parameters", "final test acc", "best test acc",
                                        "seeds"]


def test_versus_is_holm_corrected_over_its_challengers():
    table = _table()
    frame = chapter.versus(table, "relu", ["relu", "elu", "prelu", "pau"])
    assert list(frame.challenger) == ["elu", "prelu", "pau"]
    assert frame.p_adjusted.tolist() == pytest.approx(stats.adjust(frame.p_value, "holm").tolist())
    prelu = frame.set_index("challenger").loc["prelu"]
    assert prelu.diff_mean == pytest.approx(0.011) and prelu.verdict == "better" and prelu.p_adjusted < 0.05
    assert frame.set_index("challenger").verdict["pau"] == "inconclusive"
    text = chapter.counts_text(frame, chapter.versus(table, "elu", ["prelu", "pau"]), "elu")
    assert "of 3 activations against ReLU, **1 better, 0 worse and 2 inconclusive** after Holm" in text
    assert "against elu, the fixed activation with the best mean: of 2 learnable activations against elu" in text
    apart = _table({"relu": [0.8, 0.81], "elu": [0.8, 0.8, 0.82]}).query("activation == 'relu' or seed == 2")
    empty = chapter.versus(apart, "relu", ["elu"])  # no seed that both finished
    assert empty.empty and list(empty.columns) == chapter.DIFFERENCE_COLUMNS


def test_difference_views_largest_first_with_their_notes():
    frame = chapter.versus(_table(), "relu", ["elu", "prelu", "pau"])
    shown = chapter.difference_view(frame)
    assert list(shown.activation) == ["prelu", "elu", "pau"]
    assert shown["Δ final test acc"].iloc[0] == "+0.0110" and shown["95 % CI"].iloc[0].startswith("[+0.0")
    relu_view = chapter.versus_relu_view(frame, 4)
    assert relu_view.note == ("Each activation − ReLU, final test accuracy, paired by seed (4 seeds); Holm over the 3 "
                              "comparisons.")
    assert relu_view.frame["p (Holm)"].iloc[0] == f"{frame.set_index('challenger').p_adjusted['prelu']:.3f}"
    fixed_view = chapter.versus_best_fixed_view(frame.iloc[:2], "elu")
    assert fixed_view.note.startswith("Each learnable activation − elu, the fixed") and "the 2 comparisons" in fixed_view.note


def test_friedman_sentence_names_the_pairs_told_apart():
    ranked = {"ranks": pd.Series({"a": 1.0, "b": 2.0, "c": 5.0}), "cd": 3.5, "n_blocks": 3, "k": 3,
              "statistic": 4.5, "p_value": 0.1054}
    text = chapter.friedman_sentence(ranked)
    assert "χ² = 4.5, p = 0.105" in text and "**3.5 ranks** of 3: the data tell apart only a from c." in text
    assert "no two activations are told apart" in chapter.friedman_sentence({**ranked, "cd": 4.5})
    assert chapter.friedman_glue(ranked) == {"cmp_friedman_p": "0.105", "cmp_cd": "3.5"}


def test_summary_glue_quotes_the_top_and_relu():
    table = _table()
    glued = chapter.summary_glue(table, chapter.accuracy_summary(table), "elu")
    assert glued == {"cmp_n_runs": 16, "cmp_n_seeds": 4, "cmp_t_crit": "3.18", "cmp_best_fixed": "elu",
                     "cmp_top": "prelu", "cmp_top_acc": "0.8200", "cmp_relu_acc": "0.8090"}


def _costs():
    return pd.DataFrame({"activation": ["relu", "elu", "prelu", "pau"], "step_ratio": [1.0, 1.2, 0.9, 2.5],
                         "ratio_low": [1.0, 1.1, 0.8, 2.0], "ratio_high": [1.0, 1.3, 1.1, 3.0],
                         "ratio_q1": [1.0, 1.15, 0.85, 2.2], "ratio_q3": [1.0, 1.25, 0.95, 2.7],
                         "saved_mb": [7.9, 10.7, 10.7, 12.0], "saved_ratio": [1.0, 1.36, 1.36, 1.52],
                         "fast_path": ["native"] * 4})


def test_cost_view_cheapest_first():
    table = _table()
    view = chapter.cost_view(chapter.accuracy_summary(table), _costs(), 7, 64, 1)
    assert list(view.frame.activation) == ["prelu", "relu", "elu", "pau"]
    assert view.frame["step time ÷ ReLU's"].tolist() == ["0.90", "1.00", "1.20", "2.50"]
    assert view.note == "Measured when this page was built: 7 rounds, batch 64, 1 torch thread(s)."


def test_cost_caption_gives_relus_time_and_the_load_it_was_measured_under():
    quiet = {"relu_ms": 12.34, "load": {"other_cores": 0.05, "cores": 2, "loadavg_1min_end": 0.4, "loaded": False}}
    assert chapter.measured_note(quiet, 7, 64, 1) == (
        "Measured when this page was built: 7 rounds, batch 64, 1 torch thread(s). ReLU's step: 12.3 ms. Other "
        "processes held 0.05 of 2 cores meanwhile (1-minute load average 0.40): a quiet machine.")
    busy = {"relu_ms": 30.0, "load": {"other_cores": 1.9, "cores": 2, "loadavg_1min_end": None, "loaded": True}}
    assert chapter.measured_note(busy, 7, 64, 1).endswith(
        "Other processes held 1.90 of 2 cores meanwhile: a loaded machine, so read the ratios as rough.")
    unread = {"relu_ms": 30.0, "load": {"other_cores": None, "cores": 2, "loaded": None}}
    assert "cannot count as quiet" in chapter.measured_note(unread, 7, 64, 1)


def test_accuracy_and_cost_medians_and_figure():
    table = _table()
    priced = chapter.accuracy_and_cost(table, chapter.accuracy_summary(table), _costs())
    relu = priced.set_index("activation").loc["relu"]
    assert relu.final_test_acc_median == pytest.approx(0.808) and relu.family == "fixed" and relu.step_ratio == 1
    assert len(chapter.pareto_figure(priced).axes) == 2


def test_learned_curves_read_each_learnable_activations_lowest_seed(monkeypatch):
    seen = []
    monkeypatch.setattr(chapter.plots, "learned_shape_curves", lambda folders: seen.extend(folders) or "curves")
    table = _table().sort_values("seed", ascending=False)
    assert chapter.learned_curves(table[table.seed > 0], ["pau", "prelu", "missing"]) == "curves"
    assert seen == ["/runs/pau/seed1", "/runs/prelu/seed1"]


def test_verdicts_on_fewer_seeds_shows_what_the_added_seeds_overturned():
    # prelu's steady gain on seeds 0-2 (Holm: better) is gone once seed 3 loses 0.02 to relu
    final = {**FINAL, "prelu": [0.811, 0.82, 0.831, 0.786]}
    table = _table(final)
    names = ["relu", "elu", "prelu", "pau"]
    changed, text = chapter.verdicts_on_fewer_seeds(table, names, [0, 1, 2])
    assert changed.challenger.tolist() == ["prelu"]
    row = changed.iloc[0]
    assert (row.verdict_fewer, row.verdict_all) == ("better", "inconclusive")
    assert row.diff_mean_fewer == pytest.approx(0.032 / 3) and row.diff_mean_all == pytest.approx(0.003)
    assert text.startswith("Verdicts the added seeds overturned: **prelu − ReLU** was *better* on seeds 0–2 "
                           "(+0.0107")
    assert "is *inconclusive* on all 4 seeds (+0.0030" in text
    # control: with FINAL's steady gain nothing is overturned, and the sentence says so
    same, same_text = chapter.verdicts_on_fewer_seeds(_table(), names, [0, 1, 2])
    assert same.empty and same_text == "Every verdict on seeds 0–2 alone is the same on all 4 seeds."
    # seeds that are all of the table's, or not in it: nothing to compare, and the sentence says so
    for seeds in ([0, 1, 2, 3], [0, 7]):
        none, none_text = chapter.verdicts_on_fewer_seeds(table, names, seeds)
        assert none.empty and none_text.startswith("No earlier verdicts")
