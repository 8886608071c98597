"""What the paper C chapter prints (mixact_lib.report.chapters.paper_c), from generated run folders."""
import json
from pathlib import Path

import pandas as pd
import pytest

import mixact_lib as mx
from mixact_lib.analysis import analysis_plan
from mixact_lib.report.chapters import paper_c as chapter

ROOT = Path(__file__).resolve().parents[1]

MEMBERS = ("relu", "elu", "lrelu", "prelu", "rrelu", "silu", "mish")
BEST = {"relu": [0.80, 0.81, 0.79], "adact": [0.82, 0.83, 0.815], "optimized": [0.821, 0.832, 0.816]}
SECONDS = {"relu": 10.0, "adact": 15.0, "optimized": 11.0}


def _run(root: Path, activation: str, seed: int, weights: list | None = None) -> Path:
    folder = root / f"activation={activation}__seed={seed}"
    folder.mkdir(parents=True)
    config = {"paper": "c", "dataset": "fmnist", "activation": activation,
              "phases": [{"epochs": 2, "optimizer": "adamw", "lr": 1e-3}]}
    summary = {"paper": "c", "dataset": "fmnist", "model": "paper_c_convnet", "activation": activation, "seed": seed,
               "best_test_acc": BEST[activation][seed], "final_test_acc": BEST[activation][seed] - 0.01,
               "total_seconds": SECONDS[activation] * (seed + 1), "num_params": 1000}
    if weights:
        summary["activation_params"] = {f"act{i}": {"weights": dict(zip(MEMBERS, w))} for i, w in enumerate(weights)}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def _table(root: Path, seeds=(0, 1, 2)):
    layers = [(0.16, 0.14, 0.13, 0.13, 0.13, 0.13, 0.13), (0.13, 0.15, 0.14, 0.14, 0.14, 0.146, 0.144)]
    for seed in seeds:
        for activation in ("relu", "adact", "optimized"):
            _run(root, activation, seed, layers if activation == "adact" else None)
    return mx.collect_summaries(root)


def test_optimized_configs_read_each_seeds_adact_run(tmp_path):
    table = _table(tmp_path, seeds=(0, 1))
    base = mx.paper_config("c", epochs=3, model_kwargs={"channels": [8, 16, 32, 64]})
    configs = chapter.optimized_configs(base, table, [1, 0], tmp_path / "out")
    assert [c.seed for c in configs] == [1, 0]
    assert configs[0].optimized_from == str(tmp_path / "activation=adact__seed=1")
    assert configs[0].out == str(tmp_path / "out" / "activation=optimized__seed=1")
    assert configs[0].activation == "optimized" and configs[0].activation_kwargs == {}
    assert configs[0].model_kwargs == {"channels": [8, 16, 32, 64]} and configs[0].phases == base.phases
    with pytest.raises(ValueError):  # a seed without its AdAct run
        chapter.optimized_configs(base, table, [2], tmp_path / "out")


def test_runs_view_divides_by_relus_seconds_of_the_same_seed(tmp_path):
    view = chapter.runs_view(_table(tmp_path))
    rows = view.frame.set_index(["activation", "seed"])
    assert rows.loc[("adact", "1"), "time ÷ ReLU's"] == "1.50" and rows.loc[("relu", "2"), "time ÷ ReLU's"] == "1.00"
    assert "Optimized's time is its own run only" in view.note


def test_table1_beside_the_papers_and_its_sentence(tmp_path):
    table1 = chapter.beside_table1(_table(tmp_path), "fmnist")
    assert list(table1.model) == ["ConvNet-AdAct", "ConvNet-ReLU", "ConvNet-Optimized"]
    assert list(table1["paper (Table 1)"]) == [0.921, 0.918, 0.922]
    assert table1["ours: best test acc"][1] == mx.mean_sd(0.8, 0.01) == "0.800 ± 0.010"
    assert list(table1.seeds) == [3, 3, 3]
    glued = chapter.table1_glue(table1)
    assert glued["c_ours_relu"] == "0.800 ± 0.010" and glued["c_paper_optimized"] == "0.922"
    elsewhere = chapter.table1_glue(chapter.beside_table1(_table(tmp_path / "x"), "mnist"))  # not in Table 1
    assert elsewhere["c_paper_adact"] == "–"
    assert chapter.table1_view(table1).frame.iloc[0].tolist() == ["ConvNet-AdAct", "0.822 ± 0.008", "0.812 ± 0.008",
                                                                  "0.921", "3"]


def test_profile_note_says_what_was_run():
    assert chapter.profile_note("quick", "fmnist", 3000, 2, [0]).startswith(
        "Profile **quick**: fmnist, 3,000 training images, 2 epochs, seeds [0].")
    assert "all training images" in chapter.profile_note("paper", "fmnist", None, 15, [0, 1])


def test_claims_section_needs_two_seeds(tmp_path):
    one = analysis_plan.chapter_claims(_table(tmp_path, seeds=(0,)))  # the repository's plan, by default
    assert one.empty
    table, text = chapter.claims_section(one, [0])
    assert table is None and text.startswith("With 1 seed, no paired test")
    claims = analysis_plan.chapter_claims(_table(tmp_path / "three"))
    assert len(claims) == 6  # three claims on two metrics
    table, text = chapter.claims_section(claims, [0, 1, 2])
    assert len(table.frame) == 6 and "Holm over these 6 rows" in text
    counts = claims.verdict.value_counts()
    assert f"{counts.get('inconclusive', 0)} {'is' if counts.get('inconclusive', 0) == 1 else 'are'} inconclusive" \
        in text


def test_chosen_activation_is_the_largest_weight_and_its_margin(tmp_path):
    chosen = chapter.chosen_activations(_table(tmp_path, seeds=(0,)))
    assert chosen[["layer", "chosen", "runner-up"]].values.tolist() == [["layer 1", "relu", "elu"],
                                                                        ["layer 2", "elu", "silu"]]
    assert chosen.margin.tolist() == pytest.approx([0.02, 0.004])
    assert chapter.chosen_glue(chosen) == {"c_uniform": "0.143", "c_max_weight": "0.160", "c_median_margin": "0.0120"}
    assert chapter.chosen_view(chosen).frame["margin"].tolist() == ["0.0200", "0.0040"]


def test_committed_primary_states_each_claim_of_the_committed_family(tmp_path):
    text = chapter.committed_primary(ROOT / "results")
    committed = pd.read_csv(ROOT / "results" / "claims.csv").query("family == 'primary'")
    assert text.startswith("**At the paper's protocol**") and text.count("\n- ") == len(committed) == 3
    for row in committed.itertuples():
        assert f"{row.n_seeds} seeds: *{row.verdict}*" in text
    # control: nothing committed, or no primary family in it, and the text says what to run
    assert chapter.committed_primary(tmp_path).startswith("No committed claims")
    committed.assign(family="other").to_csv(tmp_path / "claims.csv", index=False)
    assert "holds no primary claims" in chapter.committed_primary(tmp_path)
