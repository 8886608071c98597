"""What the paper A chapter prints (mixact_lib.report.chapters.paper_a), from generated run folders."""
import json
import math
from pathlib import Path

import pandas as pd
import pytest

import mixact_lib as mx
from mixact_lib.report.chapters import paper_a as chapter

SOFTMAX_1 = ((0.5, 0.3, 0.2), (0.2, 0.5, 0.3), (0.1, 0.2, 0.7))  # layer 1 ReLU, deeper tanh then sin: both hold
SOFTMAX_2 = ((0.3, 0.5, 0.2), (0.2, 0.6, 0.2), (0.4, 0.3, 0.3))  # layer 1 tanh, layer 3 ReLU: neither holds
ABS_1 = ((0.6, 0.2, 0.2), (0.4, 0.1, 0.5), (0.2, 0.2, 0.6))  # both hold


def _run(root: Path, norm: str, seed: int, layers, w=None) -> None:
    """A finished paper A run folder: config, and a summary with each layer's weights p (and raw w, if given)."""
    folder = root / f"activation_kwargs=norm={norm}__seed={seed}"
    folder.mkdir(parents=True)
    config = {"paper": "a", "dataset": "fmnist", "activation": "mix", "activation_kwargs": {"norm": norm},
              "phases": [{"epochs": 1, "optimizer": "adam", "lr": 1e-3}] * 3}
    summary = {"paper": "a", "dataset": "fmnist", "model": "paper_a_net", "activation": "mix", "seed": seed,
               "best_test_acc": 0.8 + seed / 100, "final_test_acc": 0.79, "total_seconds": 12.0,
               "activation_params": {f"act{i}": {"weights": dict(zip(chapter.MEMBERS, p))}
                                     for i, p in enumerate(layers, 1)}}
    if w is not None:
        summary["activation_state"] = {f"act{i}": {"w": list(v)} for i, v in enumerate(w, 1)}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "summary.json").write_text(json.dumps(summary))


@pytest.fixture
def table(tmp_path):
    _run(tmp_path, "softmax", 0, SOFTMAX_1, w=[(0, 0, 0), (5, -5, -5), (-5, -5, 5)])
    _run(tmp_path, "softmax", 1, SOFTMAX_2)
    _run(tmp_path, "abs", 0, ABS_1, w=[(1, 1, 1), (1, 0, 0), (0, 0, 1)])
    return chapter.with_norms(mx.collect_summaries(tmp_path))


def test_phases_text_lists_each_cycle_with_its_rate():
    text = chapter.phases_text(mx.paper_config("a", epochs=2, lr=1e-3, act_lr=1e-2))
    assert text.splitlines() == ["phases:", "  2 epoch(s) adam lr=0.001 trains=net", "  2 epoch(s) adam lr=0.01 trains=act",
                                 "  2 epoch(s) adam lr=0.001 trains=net"]


def test_norms_and_runs_view(table):
    assert sorted(zip(table.norm, table.seed)) == [("abs", 0), ("softmax", 0), ("softmax", 1)]
    view = chapter.runs_view(table)
    assert list(view.frame.columns) == ["reading of eq. 9", "seed", "best test acc", "final test acc", "seconds"]
    assert "shared with other jobs" in view.note


def test_learned_weights_one_row_per_run_and_layer(table):
    weights = chapter.learned_weights(table)
    assert len(weights) == 9 and set(weights.columns) >= {"layer", "relu", "tanh", "sin", "norm", "seed"}
    row = weights[(weights.norm == "softmax") & (weights.seed == 1) & (weights.layer == "layer 3")].iloc[0]
    assert (row.relu, row.tanh, row.sin) == (0.4, 0.3, 0.3)


def test_table1_is_the_papers_value_beside_our_mean_of_one_reading(table):
    side = chapter.beside_table1(chapter.learned_weights(table), "fmnist", "softmax")
    assert list(side.layer) == ["layer 1", "layer 2", "layer 3"]
    layer2 = side.set_index("layer").loc["layer 2"]
    assert layer2["paper p(tanh)"] == 0.7001  # paper A Table 1, Fashion-MNIST
    assert layer2["ours p(tanh)"] == pytest.approx(0.55)  # (0.5 + 0.6) / 2; the abs run is left out
    missing = chapter.beside_table1(chapter.learned_weights(table), "no-such-dataset", "softmax")
    assert missing["paper p(relu)"].isna().all()
    view = chapter.table1_view(side)
    assert list(view.frame.columns[1:3]) == [("p(relu)", "paper"), ("p(relu)", "ours")]
    assert view.frame.iloc[1, 4] == "0.550"  # ours p(tanh), layer 2
    assert view.frame.iloc[1, 3] == "0.7001"  # the paper's number as printed
    assert chapter.table1_caption("fmnist", "softmax", [0, 1]) == \
        "Paper A Table 1 (fmnist) beside ours (softmax reading, mean over seeds [0, 1]):"


def test_claims_per_run_read_the_largest_weight(table):
    claims = chapter.claims_per_run(table, chapter.learned_weights(table))
    assert list(zip(claims.norm, claims.seed)) == [("abs", 0), ("softmax", 0), ("softmax", 1)]
    assert list(claims.iloc[2, 2:5]) == ["tanh", "tanh", "relu"]
    assert list(claims["layer 1 is ReLU"]) == [True, True, False]
    assert list(claims["deeper are tanh/sin"]) == [True, True, False]
    glued = chapter.claims_glue(claims, "quick")
    assert glued == {"a_runs": 3, "a_layer1_relu": 2, "a_deeper_convergent": 2, "a_profile": "quick"}
    assert chapter.claims_view(claims).frame.iloc[2].tolist() == ["softmax", "1", "tanh", "tanh", "relu", "no", "no"]


def test_weights_figure_data_is_long(table):
    fig, long = chapter.weights_by_norm(chapter.learned_weights(table))
    assert len(long) == 27 and set(long.member) == {"relu", "tanh", "sin"}
    assert len(fig.axes) == 2  # one panel per reading


def test_learned_shapes_are_the_rebuilt_mixtures(table):
    fig, curves = chapter.learned_shapes(table, seed=0)
    assert set(curves.norm) == {"softmax", "abs"} and len(fig.axes) == 2
    # softmax layer 1 with w = 0 is the uniform mix; at x = -6: (0 + tanh(-6) + sin(-6)) / 3
    first = curves[(curves.norm == "softmax") & (curves.layer == "layer 1")].iloc[0]
    assert first.x == -6 and first.y == pytest.approx((math.tanh(-6) + math.sin(-6)) / 3, abs=1e-5)
    # abs layer 2 with w = (1, 0, 0) is plain ReLU
    relu = curves[(curves.norm == "abs") & (curves.layer == "layer 2")]
    assert relu.y.to_numpy() == pytest.approx(relu.x.clip(lower=0).to_numpy(), abs=1e-6)


def test_simplex_sentence():
    flat = {"loss_min": 0.41, "loss_max": 1.9, "range": 1.49, "accuracy_min": 0.5, "accuracy_max": 0.86,
            "best_vertex": "relu", "loss_best_vertex": 0.45, "loss_learned": 0.43, "near_change": 0.0123}
    glued = chapter.simplex_glue(flat, {"p_relu": 0.5, "p_tanh": 0.3, "p_sin": 0.2}, "quick", 1, 3000, 800)
    assert glued["a_learned_vs_lowest"] == "0.020 above the lowest point"
    assert glued["a_near_percent"] == "2.9 %" and glued["a_p_hat"] == "relu 0.50, tanh 0.30, sin 0.20"
    assert glued["a_simplex_net"] == ("quick profile, 1 epoch per cycle on 3000 training images, the loss measured "
                                      "on 800 of them")
    lowest = chapter.simplex_glue({**flat, "loss_learned": 0.41}, {"p_relu": 1, "p_tanh": 0, "p_sin": 0}, "paper",
                                  10, 60000, 800)
    assert lowest["a_learned_vs_lowest"] == "the lowest of all points evaluated"
    assert "10 epochs per cycle" in lowest["a_simplex_net"]
    assert chapter.simplex_title("abs", 3, 800).endswith("(abs reading, seed 3, 800 training images)")
