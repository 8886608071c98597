"""The book's table helper: rounding to the spread, – for missing, no index, readable names, a scrolling box."""
import math

import numpy as np
import pandas as pd
import pytest

import mixact_lib as mx
from mixact_lib.report.tables import decimals_for, format_frame, mean_sd, show_table


@pytest.mark.parametrize("spread, decimals", [(0.0028, 3), (0.0014, 4), (0.0096, 3), (0.04, 2), (0.15, 2),
                                              (2.5, 0), (25.0, 0), (0.00049, 4)])
def test_decimals_show_the_first_significant_digit_of_the_spread(spread, decimals):
    assert decimals_for(spread) == decimals


@pytest.mark.parametrize("spread", [0.0, math.nan, math.inf, None])
def test_no_spread_falls_back(spread):
    assert decimals_for(spread, fallback=3) == 3


def test_mean_sd_rounds_both_to_the_sd():
    assert mean_sd(0.92163, 0.00281, 5) == "0.922 ± 0.003 (5)"
    assert mean_sd(0.92163, 0.0014) == "0.9216 ± 0.0014"
    assert mean_sd(0.92163, 0.0096) == "0.922 ± 0.010"  # rounds up to 0.010: still two digits of a leading 1
    assert mean_sd(0.92163, math.nan, 1) == "0.9216 (1)"  # one seed: no spread to round to
    assert mean_sd(math.nan, math.nan) == "–"


def _summary():
    return pd.DataFrame({"activation": ["relu", "adact", "mish"],
                         "best_test_acc_mean": [0.92163, 0.91874, np.nan],
                         "best_test_acc_std": [0.00281, 0.0014, np.nan],
                         "best_test_acc_count": [5, 5, 0],
                         "total_seconds": [12.34, np.nan, 1.5],
                         "p_value": [1e-16, 3e-5, np.nan]}, index=[7, 8, 9])


def test_mean_sd_columns_become_one_and_counts_one_seeds_column():
    shown = format_frame(_summary())
    assert list(shown.columns) == ["activation", "best test acc", "seconds", "p", "seeds"]
    assert shown["best test acc"].tolist() == ["0.922 ± 0.003", "0.9187 ± 0.0014", "–"]
    assert show_table(_summary()).note == "Mean ± sd over seeds."
    assert shown["seeds"].tolist() == ["5", "5", "0"]


def test_a_mean_sd_column_is_named_by_its_stem_or_its_mean_column():
    assert "best" in format_frame(_summary(), labels={"best_test_acc": "best"}).columns
    assert "best, mean ± sd" in format_frame(_summary(), labels={"best_test_acc_mean": "best, mean ± sd"}).columns


def test_missing_is_a_dash_never_nan():
    table = show_table(_summary())
    assert table.frame.loc[1, "seconds"] == "–"
    assert table.frame.loc[2, "p"] == "–"
    text = table.to_html() + repr(table)
    assert "NaN" not in text and "nan" not in text.replace("nanc", "")


def test_float_columns_get_a_precision_from_their_size():
    shown = format_frame(_summary())
    assert shown["seconds"].tolist() == ["12.3", "–", "1.5"]  # 3 significant digits of the largest
    assert shown["p"].tolist() == ["1.0e-16", "3.0e-05", "–"]  # tiny values: exponent form
    assert format_frame(pd.DataFrame({"epochs": [15.0, 30.0]}))["epochs"].tolist() == ["15", "30"]
    assert format_frame(pd.DataFrame({"x": [0.5, 0.25]}), digits=1)["x"].tolist() == ["0.5", "0.2"]
    assert format_frame(pd.DataFrame({"x": [0.5]}), formats={"x": "{:+.2f}"})["x"].tolist() == ["+0.50"]


def test_no_index_unless_asked_and_labels_override():
    table = show_table(_summary(), labels={"activation": "network"})
    html = table.to_html()
    assert "<th" in html and ">7<" not in html and ">network<" in html
    kept = show_table(pd.DataFrame({"x": [1, 2]}, index=pd.Index(["a", "b"], name="layer")), index=True)
    assert list(kept.frame.columns) == ["layer", "x"] and kept.frame.layer.tolist() == ["a", "b"]


def test_wide_tables_scroll_in_their_box_and_cells_do_not_wrap():
    wide = pd.DataFrame({f"column_{k}": [0.123456] for k in range(30)})
    html = show_table(wide, note="seconds: wall clock").to_html()
    assert 'class="mx-table-box"' in html and "overflow-x: auto" in html and "white-space: nowrap" in html
    # numbers stay on one line; headers and text cells may wrap, so that a table fits the column
    assert ".mx-table th, .mx-table td.mx-text {white-space: normal;" in html
    assert html.count("</th>") == 30 and "seconds: wall clock" in html


def test_text_left_numbers_right_and_two_level_headers():
    table = show_table(_summary())
    assert table.text_columns == [0]  # activation; "0.922 ± 0.003" and "–" read as numbers
    pivot = pd.DataFrame([[0.9, 0.8]], columns=pd.MultiIndex.from_tuples([("ours", "vgg"), ("ours", "resnet")]))
    html = show_table(pivot).to_html()
    assert 'colspan="2"' in html and ">vgg<" in html and ">resnet<" in html


def test_exported_from_the_package():
    assert mx.show_table is show_table and mx.mean_sd is mean_sd


def test_verdict_counts_in_words_agree_with_their_numbers():
    from mixact_lib.report.verdict_tables import counts_phrase
    assert counts_phrase(0, 1, 8) == "0 replicate, 1 does not and 8 are inconclusive"
    assert counts_phrase(1, 2, 1) == "1 replicates, 2 do not and 1 is inconclusive"


def test_verdict_summary_is_one_row_per_verdict_from_the_same_rows():
    from mixact_lib.report.verdict_tables import verdict_summary
    rows = pd.DataFrame({"verdict": ["does not replicate", "inconclusive", "inconclusive"],
                         "paper_value": [0.95, 0.92, 0.93], "interval_low": [0.90, 0.91, 0.90],
                         "interval_high": [0.93, 0.94, 0.96], "effect": [0.002, 0.001, 0.003],
                         "seeds_needed": [np.nan, 12, np.nan]})
    summary = verdict_summary(rows, digits=3).set_index("verdict")
    assert summary.numbers.tolist() == [1, 2]
    assert summary.loc["does not replicate", "paper outside by"] == "0.020"
    assert summary.loc["inconclusive", "interval width"] == "0.030 to 0.060"
    assert summary.loc["inconclusive", "more seeds"] == "12 would settle 1, none the other 1"


def test_difference_table_has_a_row_per_comparison_with_its_verdict():
    from mixact_lib.report.verdict_tables import difference_table
    diffs = pd.DataFrame({"model": ["vgg", "vgg"], "baseline": ["relu", "tanh"], "challenger": ["arelu", "atanh"],
                          "diff_mean": [0.01, -0.002], "ci_low": [0.004, -0.01], "ci_high": [0.016, 0.006],
                          "p_value": [0.0004, 0.5], "wins": [3, 1], "n_seeds": [3, 3]})
    table = difference_table(diffs, ["model"], digits=3)
    assert table.comparison.tolist() == ["arelu − relu", "atanh − tanh"]
    assert table.verdict.tolist() == ["better", "inconclusive"]
    assert table.p.tolist() == ["< 0.001", "0.500"] and table["seeds better"].tolist() == ["3 of 3", "1 of 3"]


def test_beside_table5_sets_each_study_beside_the_papers_cell():
    from mixact_lib.report.verdict_tables import beside_table5

    runs = pd.DataFrame([{"activation": a, "optimizer": o, "seed": s, "final_test_acc": 0.5 + 0.1 * s + (a == "arelu") * 0.01}
                         for a in ("arelu", "relu") for o in ("adam", "sgd") for s in (0, 1, 2)])
    frame = beside_table5({"authors_schedule": runs, "customary": runs.assign(final_test_acc=runs.final_test_acc - 0.2)},
                          mx.paper_values())
    # Table 5's order: optimisers sgd ... adam, activations relu ... arelu, whatever order the runs come in
    assert list(frame.optimizer) == ["sgd", "sgd", "adam", "adam"] and list(frame.activation) == ["relu", "arelu"] * 2
    first = frame.iloc[0]
    assert first.authors_schedule_mean == pytest.approx(0.6) and first.authors_schedule_std == pytest.approx(0.1)
    assert first.customary_mean == pytest.approx(0.4) and first.authors_schedule_count == 3
    assert first.paper_resnet_cifar10 == pytest.approx(0.6641)  # paper B Table 5, ResNet, ReLU, SGD
    shown = format_frame(frame)
    assert "0.60 ± 0.10" in shown.iloc[0].tolist() and "seeds" in shown.columns
    # control: two settings of one optimiser in a study cannot be set beside one paper cell
    with pytest.raises(ValueError, match="more than one run of arelu with adam"):
        beside_table5({"x": pd.concat([runs, runs.head(1)])}, mx.paper_values())


def test_corrected_difference_table_shows_the_corrected_p_and_verdict():
    from mixact_lib.analysis.rank_tests import corrected_verdicts
    from mixact_lib.report.verdict_tables import corrected_difference_table
    nan = float("nan")
    diffs = pd.DataFrame({"model": ["vgg"] * 4, "baseline": ["relu", "tanh", "sigmoid", "relu"],
                          "challenger": ["arelu", "atanh", "asigmoid", "prelu"], "diff_mean": [-0.01, 0.002, 0.003, 0.004],
                          "ci_low": [-0.016, 0.0005, 0.0002, nan], "ci_high": [-0.004, 0.0035, 0.0058, nan],
                          "p_value": [0.002, 0.03, 0.04, nan], "wins": [0, 3, 3, 1], "n_seeds": [3, 3, 3, 1]})
    table = corrected_difference_table(corrected_verdicts(diffs, "holm"), ["model"], digits=3)
    assert table["p (Holm)"].tolist() == ["0.006", "0.060", "0.060", "–"] and "p" not in table.columns
    # the uncorrected intervals of atanh and asigmoid exclude 0; their Holm-corrected p does not decide them
    assert table.verdict.tolist() == ["worse", "inconclusive", "inconclusive", "too few seeds"]
    assert table["95 % CI"].iloc[0] == "[-0.016, -0.004]"


def test_p_cell_writes_three_decimals_a_floor_or_a_dash():
    from mixact_lib.report.verdict_tables import p_cell
    assert [p_cell(p) for p in (0.04321, 0.0004, float("nan"))] == ["0.043", "< 0.001", "–"]


def test_corrected_counts_say_what_the_correction_left_and_what_has_no_test():
    from mixact_lib.report.verdict_tables import corrected_counts
    frame = pd.DataFrame({"p_value": [0.01, 0.02, 0.5, np.nan], "verdict": ["better", "inconclusive",
                                                                            "inconclusive", "inconclusive"]})
    assert corrected_counts(frame, "cells") == (
        "of 4 cells, paired by seed and Holm-corrected over all 3: **1 better, 0 worse and 2 inconclusive** "
        "(uncorrected, 2 of the 3 would pass at 0.05); 1 has one seed and no test")
    assert "(uncorrected, 1 of the 3 would pass at 0.015)" in corrected_counts(frame, "cells", alpha=0.015)
