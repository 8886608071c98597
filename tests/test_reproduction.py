"""Verdicts against the papers' numbers, built from (fake) results folders."""
import json
from pathlib import Path

import pytest

import mixact_lib as mx
from mixact_lib import reproduction
from mixact_lib.reproduction import DOES_NOT, REPLICATES, TOO_FEW, UNTESTABLE


def _run(root: Path, paper: str, variant: str, seed: int, summary: dict, activation_kwargs: dict | None = None,
         train_subset: int | None = None, activation: str | None = None, home: str = "fmnist") -> None:
    folder = root / f"paper_{paper}" / home / variant / f"seed{seed}"
    folder.mkdir(parents=True)
    config = {"paper": paper, "dataset": "fmnist", "activation_kwargs": activation_kwargs or {},
              "train_subset": train_subset, "phases": [{"epochs": 15, "optimizer": "adamw", "lr": 1e-3}]}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "summary.json").write_text(json.dumps({"paper": paper, "dataset": "fmnist", "model": "m",
                                                     "activation": activation or variant, "seed": seed, **summary}))


def test_verdict_rule_uses_two_std_plus_rounding():
    assert reproduction.verdict(0.921, [0.920, 0.922])[0] == REPLICATES
    assert reproduction.verdict(0.918, [0.9206, 0.9200])[0] == DOES_NOT  # 0.0023 gap > 2·0.0004 + 0.0005
    assert reproduction.verdict(0.918, [0.92])[0] == TOO_FEW
    assert reproduction._half_unit(0.918) == pytest.approx(0.0005)
    assert reproduction._half_unit(0.5178) == pytest.approx(0.00005)


def test_claim_verdict_needs_eighty_percent_of_at_least_two_seeds():
    assert [reproduction.claim_verdict(k, 5) for k in (3, 4, 5)] == [DOES_NOT, REPLICATES, REPLICATES]
    assert [reproduction.claim_verdict(k, 3) for k in (2, 3)] == [DOES_NOT, REPLICATES]
    assert [reproduction.claim_verdict(k, 4) for k in (3, 4)] == [DOES_NOT, REPLICATES]
    assert reproduction.claim_verdict(1, 1) == TOO_FEW


def test_reproduction_table_pairs_our_runs_with_paper_c_table_1(tmp_path):
    for seed, acc in enumerate([0.9200, 0.9220, 0.9210]):
        _run(tmp_path, "c", "adact", seed, {"best_test_acc": acc})
    _run(tmp_path, "c", "relu", 0, {"best_test_acc": 0.99}, train_subset=2000)  # subset runs never count
    _run(tmp_path, "c", "adact", 7, {"best_test_acc": 0.5}, home="fmnist-val")  # nor do variants' runs
    table = mx.reproduction_table(tmp_path)
    row = table[(table.paper == "C") & (table.dataset == "fmnist") & (table.activation == "adact")].iloc[0]
    assert row.n_seeds == 3 and row.ours_mean == pytest.approx(0.921) and row.verdict == REPLICATES
    relu = table[(table.paper == "C") & (table.dataset == "fmnist") & (table.activation == "relu")].iloc[0]
    assert relu.n_seeds == 0 and relu.verdict == UNTESTABLE and "no full-protocol runs" in relu.note
    assert set(table[table.dataset == "cifar10"].verdict) == {UNTESTABLE}
    assert list(table.columns) == reproduction.COLUMNS
    assert not (table.metric == "test_acc_at_best_val").any()  # no validation runs have test_acc_at_best_val


def test_validation_runs_get_their_own_rows_beside_the_paper(tmp_path):
    for seed, (best, at_val) in enumerate([(0.925, 0.915), (0.923, 0.917)]):
        _run(tmp_path, "c", "adact", seed, {"best_test_acc": best, "test_acc_at_best_val": at_val},
             home="fmnist-val")
    table = mx.reproduction_table(tmp_path)
    adact = table[(table.paper == "C") & (table.dataset == "fmnist") & (table.activation == "adact")]
    assert list(adact.metric) == ["best_test_acc", "test_acc_at_best_val"]
    protocol, val = adact.iloc[0], adact.iloc[1]
    assert protocol.n_seeds == 0  # validation runs never count as the protocol
    assert val.n_seeds == 2 and val.ours_mean == pytest.approx(0.916) and val.verdict == DOES_NOT  # paper 0.921
    assert "best-validation epoch" in val.note


def test_paper_a_numbers_get_one_row_per_reading_of_eq_9(tmp_path):
    layers = ((0.5178, 0.147, 0.3352), (0.3, 0.7, 0.0), (0.1, 0.0, 0.9))  # layer 1 = paper A on FMNIST
    for seed in range(2):
        _run(tmp_path, "a", "softmax", seed, _weights(*layers), {"norm": "softmax"}, activation="mix")
        _run(tmp_path, "a", "abs", seed, _weights(*((1 / 3,) * 3,) * 3), {"norm": "abs"}, activation="mix")
    table = mx.reproduction_table(tmp_path)
    relu1 = table[(table.paper == "A") & (table.dataset == "fmnist") & (table.metric == "weight relu layer 1")]
    assert list(relu1.activation) == ["mix (softmax)", "mix (abs)"]  # square: no runs, so no row
    assert list(relu1.verdict) == [REPLICATES, DOES_NOT]  # paper 0.5178: softmax matches it, abs has 1/3
    assert relu1.iloc[1].note.endswith("our reading of eq. 9: abs")
    mnist = table[(table.paper == "A") & (table.dataset == "mnist")]
    assert len(mnist) == 9 and set(mnist.verdict) == {UNTESTABLE} and set(mnist.activation) == {"mix"}


def _weights(*layers):
    return {"activation_params": {f"act{i}": {"weights": dict(zip(("relu", "tanh", "sin"), w))}
                                  for i, w in enumerate(layers, 1)}}


def test_paper_a_claims_per_norm_and_seed(tmp_path):
    agree = _weights((0.5, 0.3, 0.2), (0.2, 0.5, 0.3), (0.3, 0.3, 0.4))
    relu_everywhere = _weights((0.5, 0.3, 0.2), (0.6, 0.2, 0.2), (0.3, 0.3, 0.4))
    for seed, summary in enumerate([agree, agree, relu_everywhere]):
        _run(tmp_path, "a", "softmax", seed, summary, {"norm": "softmax"}, activation="mix")
    _run(tmp_path, "a", "abs", 0, _weights((0.2, 0.5, 0.3), (0.2, 0.5, 0.3), (0.2, 0.5, 0.3)), {"norm": "abs"},
         activation="mix")
    _run(tmp_path, "a", "cycle1", 0, _weights((0.1, 0.5, 0.4), (0.2, 0.5, 0.3), (0.3, 0.3, 0.4)),
         {"norm": "softmax"}, activation="mix", home="fmnist-act-lr")  # a study's run: not the protocol
    claims = mx.paper_a_claims(tmp_path).set_index(["norm", "claim"])
    first = claims.loc[("softmax", "layer 1: ReLU has the largest weight")]
    assert (first.holds_in, first.n_seeds, first.verdict) == (3, 3, REPLICATES)
    deeper = claims.loc[("softmax", "layers 2+: tanh or sin outweighs ReLU in every deeper layer")]
    assert (deeper.holds_in, deeper.n_seeds, deeper.verdict) == (2, 3, DOES_NOT)  # 2 of 3 < 80 %
    assert claims.loc[("abs", "layer 1: ReLU has the largest weight")].verdict == TOO_FEW
    assert mx.paper_a_claims(tmp_path / "nothing").empty


def test_ordering_claims_are_paired_by_seed(tmp_path):
    for seed, (relu, adact) in enumerate([(0.920, 0.921), (0.921, 0.920), (0.919, 0.925), (0.918, 0.922),
                                          (0.920, 0.923)]):
        _run(tmp_path, "c", "relu", seed, {"best_test_acc": relu})
        _run(tmp_path, "c", "adact", seed, {"best_test_acc": adact})
    claims = reproduction.ordering_claims(tmp_path)
    row = claims.iloc[0]
    assert row.claim.startswith("ConvNet-AdAct > ConvNet-ReLU") and (row.holds_in, row.n_seeds) == (4, 5)
    assert row.verdict == REPLICATES  # 4 of 5 = 80 %


def test_ordering_claims_on_validation_runs_use_their_own_metric(tmp_path):
    for seed, (relu, adact) in enumerate([(0.920, 0.921), (0.921, 0.920), (0.919, 0.925)]):
        _run(tmp_path, "c", "relu", seed, {"best_test_acc": 0.93, "test_acc_at_best_val": relu}, home="fmnist-val")
        _run(tmp_path, "c", "adact", seed, {"best_test_acc": 0.91, "test_acc_at_best_val": adact},
             home="fmnist-val")
    assert reproduction.ordering_claims(tmp_path).empty  # no protocol runs
    claims = reproduction.ordering_claims(tmp_path, metric="test_acc_at_best_val", validation=True)
    row = claims.iloc[0]
    assert (row.holds_in, row.n_seeds, row.verdict) == (2, 3, DOES_NOT)
    assert "validation-split runs" in row.claim
    best = reproduction.ordering_claims(tmp_path, validation=True).iloc[0]
    assert best.holds_in == 0  # on best_test_acc these fake runs say the opposite
