"""The derivation chapter's tables, figures and sentences (mixact_lib.report.chapters.paper_b_derivation)."""
from __future__ import annotations

import json

import matplotlib
import pandas as pd
import pytest
import torch

from mixact_lib.data import synthetic_dataset
from mixact_lib.report.chapters import paper_b_derivation as chapter
from mixact_lib.studies import function_space as fs

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def tiny():
    """Three float64 batches of a 3-class synthetic set of 4×4 images, and an MLP 16 → 8 → 8 → 3."""
    data = synthetic_dataset(num_train=130, num_test=8, num_classes=3, shape=(1, 4, 4))
    return chapter.float64_batches(data, [8, 8])


def test_batches_are_float64_and_cover_every_image(tiny):
    batches, sizes = tiny
    assert [len(x) for x, _ in batches] == [64, 64, 2] and sizes == [16, 8, 8, 3]
    assert all(x.dtype == torch.float64 and x.shape[1] == 16 for x, _ in batches)


def _rows():
    """A hand-made function-space table: two optimisers, their derived rule and one control each, at a = 0.5, 3."""
    rows = []
    for optimizer, control, diffs in [("sgd", "paper", (1e-16, 2e-15, 0.002, 0.7)),
                                      ("adam", "unchanged", (0.0, 3e-7, 0.08, 0.9))]:
        for (rule, a), d in zip([("derived", 0.5), ("derived", 3.0), (control, 0.5), (control, 3.0)], diffs):
            expected = "equal" if rule == "derived" else "differs"
            tolerance = fs.EQUAL[optimizer] if expected == "equal" else fs.DIFFERS
            rows.append({"optimizer": optimizer, "f": "relu", "a": a, "rate_rule": rule, "relative_diff": d,
                         "expected": expected, "tolerance": tolerance,
                         "as_expected": d <= tolerance if expected == "equal" else d >= tolerance})
    return pd.DataFrame(rows)


def test_rule_summary_gives_one_row_per_optimiser_and_rule():
    summary = chapter.rule_summary(_rows()).set_index(["optimizer", "rate_rule"])
    assert list(summary.index) == [("sgd", "derived"), ("sgd", "paper"), ("adam", "derived"), ("adam", "unchanged")]
    assert summary.loc[("sgd", "paper"), "smallest"] == 0.002 and summary.loc[("adam", "derived"), "largest"] == 3e-7
    assert summary.rows.tolist() == [2, 2, 2, 2] and summary.as_expected.all()
    shown = chapter.rule_summary_table(_rows()).frame
    assert shown.loc[0, "largest"] == "2.0e-15" and shown.loc[0, "bound"] == "1e-09"


def test_rule_glue_quotes_the_derived_rows_the_controls_and_the_failures():
    glued = chapter.rule_glue(_rows(), steps=20)
    assert glued["d_as_expected"] == 8 and glued["d_rows"] == 8 and glued["d_failing"] == ""
    assert glued["d_sgd_family"] == "2.0e-15" and glued["d_adaptive"] == "3.0e-07"
    assert glued["d_worst"] == "adam, relu, a = 3" and glued["d_adaptive_half"] == "0.0e+00"
    assert glued["d_control_min"] == "2.0e-03" and glued["d_control_max"] == "0.90"
    assert glued["d_paper_sgd"] == "2.0e-03 to 0.70" and glued["d_adam_unchanged"] == "8.0e-02 to 0.90"
    broken = _rows()
    broken.loc[1, ["relative_diff", "as_expected"]] = [0.5, False]  # a derived SGD row that does not agree
    assert chapter.rule_glue(broken, 20)["d_failing"] == " (failing: sgd/relu/a=3/derived)"


def test_rule_checks_agree_at_the_derived_rule_and_the_figure_has_a_marker_per_rule(tiny):
    batches, _ = tiny
    table = chapter.rule_checks(batches, [0.5, 3.0], steps=3, seeds=[0, 1])
    assert set(table.seed) == {0, 1} and set(table.optimizer) == set(fs.OPTIMIZERS)
    derived = table[table.rate_rule == "derived"]
    assert (derived.relative_diff <= derived.tolerance).all()  # the derivation holds on any data
    fig = chapter.plot_rule_checks(table)
    ax = fig.axes[0]
    assert len(ax.collections) == table.rate_rule.nunique() and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == list(dict.fromkeys(table.optimizer))


def _learned():
    """Hand-made learned-slope rows: error ÷ η² constant for relu, 10 % apart for tanh."""
    rows = []
    for f, ratios in [("relu", (4e-4, 4e-4)), ("tanh", (1e-3, 1.1e-3))]:
        for lr, ratio in zip((0.1, 0.01), ratios):
            rows.append({"f": f, "a": 3.0, "lr": lr, "first_step_error": ratio * lr**2,
                         "first_step_error_over_lr2": ratio, "residual_after_closed_form": 1e-16 * (f == "tanh"),
                         "max_local_error": 0.2 * lr**2 if f == "relu" else 0.1 * lr**2})
    return pd.DataFrame(rows)


def test_learned_slope_table_and_sentence_read_the_rates():
    learned = _learned()
    shown = chapter.learned_slope_table(learned).frame
    assert list(shown.columns[-2:]) == [("worst local error", "η = 0.1"), ("worst local error", "η = 0.01")]
    assert shown.iloc[1][("spread over the rates", "")] == "1.0e-01"  # tanh: 1.1e-3 / 1e-3 − 1
    assert shown.iloc[0][("worst local error", "η = 0.01")] == "2.0e-05"
    text = chapter.learned_slope_sentence(learned, [0.1, 0.01], steps=20)
    assert "across the 2 rates by at most 1.0e-01" in text and "leaves at most 1.0e-16" in text
    assert "falls from 2.0e-03 at η = 0.1 to 2.0e-05 at η = 0.01" in text
    fig = chapter.plot_learned_slope_error(learned, [0.1, 0.01])
    assert len(fig.axes[0].lines) == 3  # relu, tanh and the slope-2 guide


def test_learned_slope_checks_error_is_of_order_lr_squared(tiny):
    batches, sizes = tiny
    learned = chapter.learned_slope_checks(batches, sizes, 3.0, [0.01, 0.001], steps=2)
    assert len(learned) == 3 * 2 * 2 and set(learned.a) == {1.0, 3.0}
    spread = learned.groupby(["f", "a"]).first_step_error_over_lr2.agg(lambda r: r.max() / r.min() - 1)
    assert spread.max() < 1e-4  # error ÷ η² is the same at both rates


def test_batchnorm_checks_match_before_and_read_the_gradients_after(tiny):
    batches, sizes = tiny
    before, after = chapter.batchnorm_checks(batches, sizes, 3.0, steps=2, optimizers=("sgd",))
    assert list(before.f) == ["relu", "tanh", "sigmoid"] and before.relative_diff.max() < 1e-9
    assert list(after.f) == ["relu", "relu", "tanh", "sigmoid"] and list(after.b) == [0.0, 0.3, 1.0, 1.0]
    text = chapter.batchnorm_sentence(before, after)
    joint = next(c for c in after.columns if c.startswith("a·dL/da"))
    assert f"is {after.loc[0, joint]:.1e} at $b = 0$" in text and "at $b = 0.3$" in text
    shown = chapter.batchnorm_after_table(after)
    assert any("ε 1e-12" in c for c in shown.frame.columns) and "ε: BatchNorm's epsilon" in shown.note


def _run(root, part, name, activation, optimizer, lr, slopes_by_epoch):
    folder = root / part / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model": "net", "activation": activation, "seed": 0,
                                                    "phases": [{"optimizer": optimizer, "lr": lr, "epochs": 2}]}))
    (folder / "summary.json").write_text(json.dumps({"model": "net", "activation": activation, "seed": 0}))
    history = [{"epoch": e, "optimizer": optimizer, "lr": lr,
                "activations": {"act1": {"a": a, "b": 0.0, "c": 0.0, "d": 0.0},
                                "act2": {"a": 1.0, "b": 0.0, "c": 0.0, "d": 0.0}}}
               for e, a in enumerate(slopes_by_epoch, start=1)]
    (folder / "history.json").write_text(json.dumps(history))


def test_committed_slopes_read_every_adaptive_run_in_table5_order(tmp_path):
    _run(tmp_path, "optimizers", "adam", "arelu", "adam", 1e-3, [1.0, 0.5])
    _run(tmp_path, "optimizers", "sgd", "arelu", "sgd", 1e-2, [1.0, 2.0])
    _run(tmp_path, "tables", "relu", "relu", "sgd", 1e-2, [1.0, 1.0])  # no adaptive site: left out
    rates = chapter.committed_slopes(tmp_path)
    assert list(dict.fromkeys(rates.setting)) == ["sgd 0.01", "adam 0.001"]
    assert set(rates.part) == {"optimizers"}
    assert chapter.committed_slopes_count(rates) == "2 runs with an adaptive function, 4 activation sites"
    last = rates[rates.epoch == 2].set_index(["setting", "site"]).rate_ratio
    assert last[("sgd 0.01", "act1")] == pytest.approx(4.0) and last[("adam 0.001", "act1")] == pytest.approx(0.5)
    text = chapter.committed_slopes_sentence(rates)
    assert "In the 2 committed runs with an adaptive function (4 sites)" in text
    assert "ended between 0.50 and 2.00; 50% of the sites ended within 5% of 1" in text
    assert "in 0% of the runs the site that moved furthest is the last one" in text
    assert "between 1.00 and 4.00 times the plain layer's under SGD" in text and "at most a factor 4.00" in text
    with pytest.raises(FileNotFoundError, match="no ASigmoid, ATanh or AReLU runs"):
        chapter.committed_slopes(tmp_path / "tables")
