"""Training engine: phases, freezing, repeatability, resume, divergence (issue: engine)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from mixact_lib.activations import activation_parameters, make_activation, network_parameters
from mixact_lib.data import synthetic_dataset
from mixact_lib.runs.config import paper_phases
from mixact_lib.training import Phase, TrainingDivergedError, convergence_area, make_optimizer, train
from mixact_lib.training.records import load_checkpoint

TIMING_KEYS = ("seconds", "images_per_s")


def tiny_net(activation="adact", seed=0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), make_activation(activation), nn.MaxPool2d(4),
        nn.Flatten(), nn.Linear(4 * 7 * 7, 16), make_activation(activation), nn.Linear(16, 10),
    )


@pytest.fixture(scope="module")
def data():
    return synthetic_dataset(num_train=192, num_test=64, num_classes=10, shape=(1, 28, 28), seed=0)


def strip_timing(history):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in history]


def state(tensors):
    return [t.detach().clone() for t in tensors]


def test_frozen_network_does_not_change(data):
    net = tiny_net()
    before_net = state(network_parameters(net))
    before_bn = state([net[1].running_mean, net[1].running_var])
    before_act = state(activation_parameters(net))
    train(net, data, [Phase(1, "adam", 1e-2, trains="act")], batch_size=32, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before_net, network_parameters(net)))
    assert torch.equal(before_bn[0], net[1].running_mean) and torch.equal(before_bn[1], net[1].running_var)
    assert any(not torch.equal(a, b) for a, b in zip(before_act, activation_parameters(net)))


def test_frozen_activations_do_not_change(data):
    net = tiny_net()
    before_act = state(activation_parameters(net))
    before_net = state(network_parameters(net))
    train(net, data, [Phase(1, "adamw", 1e-2, weight_decay=0.1, trains="net")], batch_size=32, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before_act, activation_parameters(net)))
    assert any(not torch.equal(a, b) for a, b in zip(before_net, network_parameters(net)))


def test_activation_parameters_get_no_weight_decay():
    net = tiny_net()
    opt = make_optimizer(net, Phase(1, "adamw", 1e-3, weight_decay=0.05, trains="all", act_lr=1e-2))
    groups = {g["name"]: g for g in opt.param_groups}
    assert groups["net"]["weight_decay"] == 0.05 and groups["act"]["weight_decay"] == 0.0
    assert groups["act"]["lr"] == 1e-2 and groups["net"]["lr"] == 1e-3


def test_act_phase_on_fixed_activation_is_an_error():
    with pytest.raises(ValueError, match="no such parameters"):
        make_optimizer(tiny_net("relu"), Phase(1, trains="act"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(epochs=-1), "epochs must be an integer >= 0"),
        (dict(epochs=1, optimizer="adamx"), "Did you mean 'adam'"),
        (dict(epochs=1, trains="weights"), "phase target"),
        (dict(epochs=1, lr=0.0), "learning rate must be > 0"),
    ],
)
def test_phase_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Phase(**kwargs)


def test_same_seed_same_history(data):
    runs = []
    for _ in range(2):
        net = tiny_net(seed=3)
        torch.manual_seed(3)
        runs.append(train(net, data, [Phase(2, "adam", 1e-2)], batch_size=32, seed=3, progress=False).history)
    assert strip_timing(runs[0]) == strip_timing(runs[1])
    other = train(tiny_net(seed=3), data, [Phase(2, "adam", 1e-2)], batch_size=32, seed=4, progress=False)
    assert strip_timing(other.history) != strip_timing(runs[0])


class Killed(Exception):
    pass


def test_resume_continues_to_the_same_result(data, tmp_path):
    phases = paper_phases("a", epochs=1, optimizer="adam", lr=1e-2)  # net → act → net, 3 epochs

    torch.manual_seed(0)
    net = tiny_net(seed=0)
    whole = train(net, data, phases, batch_size=32, seed=0, out=tmp_path / "whole", progress=False)
    final_whole = {k: v.clone() for k, v in net.state_dict().items()}

    def kill_after_two(record):
        if record["epoch"] == 2:
            raise Killed

    torch.manual_seed(0)
    with pytest.raises(Killed):
        train(tiny_net(seed=0), data, phases, batch_size=32, seed=0, out=tmp_path / "split",
              progress=False, callbacks=[kill_after_two])
    assert load_checkpoint(tmp_path / "split")["epochs_done"] == 2
    torch.manual_seed(123)  # a fresh process would not share the global RNG state
    net2 = tiny_net(seed=7)  # different init: must be overwritten by the checkpoint
    resumed = train(net2, data, phases, batch_size=32, seed=0, out=tmp_path / "split", resume=True, progress=False)
    assert resumed.resumed_from_epoch == 2
    assert strip_timing(resumed.history) == strip_timing(whole.history)
    for k, v in net2.state_dict().items():
        assert torch.equal(v, final_whole[k]), k
    assert (tmp_path / "split" / "history.csv").exists()


def test_resume_mid_phase_keeps_optimizer_state(data, tmp_path):
    phases = paper_phases("b", epochs=3, optimizer="momentum", lr=1e-2)  # lr steps share one optimiser
    torch.manual_seed(0)
    net = tiny_net("arelu")
    whole = train(net, data, phases, batch_size=32, out=tmp_path / "a", progress=False)

    def kill(record):
        if record["epoch"] == 1:
            raise Killed

    torch.manual_seed(0)
    with pytest.raises(Killed):
        train(tiny_net("arelu"), data, phases, batch_size=32, out=tmp_path / "b", progress=False, callbacks=[kill])
    resumed = train(tiny_net("arelu"), data, phases, batch_size=32, out=tmp_path / "b", resume=True, progress=False)
    assert strip_timing(resumed.history) == strip_timing(whole.history)
    assert [r["lr"] for r in whole.history] == pytest.approx([1e-2, 1e-3, 1e-4])


def test_divergence_names_epoch_and_step_and_keeps_checkpoint(data, tmp_path):
    net = tiny_net("relu")

    def poison(record):
        with torch.no_grad():
            net[-1].weight.fill_(float("nan"))

    with pytest.raises(TrainingDivergedError, match=r"epoch 2, step 1 .*learning rate") as err:
        train(net, data, [Phase(3, "adam", 1e-3)], batch_size=32, out=tmp_path, progress=False, callbacks=[poison])
    assert "end of epoch 1" in str(err.value)
    assert load_checkpoint(tmp_path)["epochs_done"] == 1


def test_history_records(data):
    net = tiny_net("arelu")
    hist = train(net, data, [Phase(2, "sgd", 1e-2)], batch_size=64, progress=False).history
    r = hist[-1]
    for key in ("train_loss", "train_acc", "test_loss", "test_acc", "seconds", "images_per_s", "activations", "delta_w"):
        assert key in r
    assert set(r["activations"]) == {"2", "6"} and set(r["activations"]["2"]) == {"a", "b", "c", "d"}
    assert set(r["delta_w"]) == {"0", "5", "7"} and all(v > 0 for v in r["delta_w"].values())


def test_history_records_weight_norms_for_a_relative_delta_w(data):
    net = tiny_net("arelu")
    with torch.no_grad():
        initial = {name: float(net[int(name)].weight.norm()) for name in ("0", "5", "7")}
    hist = train(net, data, [Phase(3, "sgd", 1e-1)], batch_size=64, progress=False).history
    # same layers, same order as delta_w; the initial norms only in the first record
    assert all(list(r["weight_norm"]) == list(r["delta_w"]) == ["0", "5", "7"] for r in hist)
    assert hist[0]["weight_norm_initial"] == pytest.approx(initial)
    assert all("weight_norm_initial" not in r for r in hist[1:])
    with torch.no_grad():
        assert hist[-1]["weight_norm"] == pytest.approx({n: float(net[int(n)].weight.norm()) for n in initial})
    # consistent with the increments: |‖W_e‖ − ‖W_{e−1}‖| ≤ ‖ΔW_e‖ (triangle inequality)
    norms = [hist[0]["weight_norm_initial"]] + [r["weight_norm"] for r in hist]
    for e, r in enumerate(hist):
        for name, step in r["delta_w"].items():
            assert abs(norms[e + 1][name] - norms[e][name]) <= step * (1 + 1e-6) + 1e-7
        assert any(norms[e + 1][n] != norms[e][n] for n in initial)


def test_convergence_area():
    assert convergence_area([2.0, 1.0, 0.5]) == 3.5
    assert convergence_area([1.0]) == 1.0


def test_a_moved_results_tree_still_matches_its_optimized_from():
    from mixact_lib.runs.runner import _config_differences

    saved = {"seed": 1, "optimized_from": "/work/main/results/paper_c/fmnist/adact/seed1", "out": "/a"}
    moved = {"seed": 1, "optimized_from": "/home/me/mixact/results/paper_c/fmnist/adact/seed1", "out": "/b"}
    assert _config_differences(saved, moved) == []
    other = dict(moved, optimized_from="/home/me/mixact/results/paper_c/fmnist/adact/seed2")
    assert _config_differences(saved, other) == ["optimized_from"]
    assert _config_differences(saved, dict(moved, optimized_from=None)) == ["optimized_from"]


def test_init_from_starts_from_a_finished_runs_final_weights(data, tmp_path):
    from mixact_lib.runs.config import RunConfig
    from mixact_lib.runs.runner import run

    common = dict(paper="a", model="paper_a_net", activation="mix", batch_size=64, device="cpu")
    first = run(RunConfig(phases=[Phase(1, "adam", 1e-3, trains="net")], out=str(tmp_path / "cycle1"), **common),
                data=data, progress=False)
    second = run(RunConfig(phases=[Phase(1, "adam", 1e-2, trains="act")], init_from=str(tmp_path / "cycle1"),
                           out=str(tmp_path / "act"), seed=1, **common), data=data, progress=False)
    # an act-only phase freezes the network, so it still holds the first run's final weights, not seed 1's init
    for a, b in zip(network_parameters(first.model), network_parameters(second.model)):
        assert torch.equal(a, b)
    assert not all(torch.equal(a, b) for a, b in zip(activation_parameters(first.model),
                                                     activation_parameters(second.model)))
    with pytest.raises(ValueError, match="kept its checkpoint"):
        run(RunConfig(init_from=str(tmp_path / "nothing"), out=str(tmp_path / "x"), **common), data=data)
    with pytest.raises(ValueError, match="another architecture or activation"):
        run(RunConfig(paper="c", model="paper_c_convnet", activation="adact", init_from=str(tmp_path / "cycle1"),
                      out=str(tmp_path / "y"), device="cpu"), data=data)


def test_test_set_predictions_are_saved_at_best_and_final_epoch_and_survive_resume(data, tmp_path):
    import numpy as np

    from mixact_lib.analysis.results import compare_predictions
    from mixact_lib.training.records import read_predictions

    phases = [Phase(3, "adam", 1e-2)]
    torch.manual_seed(0)
    whole = train(tiny_net("relu"), data, phases, batch_size=32, seed=0, out=tmp_path / "whole", progress=False)
    saved = read_predictions(tmp_path / "whole")
    assert saved["labels"].dtype == np.int16 and len(saved["labels"]) == len(data.test)
    assert int(saved["final_epoch"]) == 3 and (saved["labels"] == data.test.y.numpy()).all()
    accs = [r["test_acc"] for r in whole.history]
    best = int(np.argmax(accs)) + 1
    assert int(saved["best_test_epoch"]) == best
    assert (saved["best_test"] == saved["labels"]).mean() == pytest.approx(accs[best - 1])
    assert (saved["final"] == saved["labels"]).mean() == pytest.approx(accs[-1])

    def kill_after_two(record):
        if record["epoch"] == 2:
            raise Killed

    torch.manual_seed(0)
    with pytest.raises(Killed):
        train(tiny_net("relu"), data, phases, batch_size=32, seed=0, out=tmp_path / "split", progress=False,
              callbacks=[kill_after_two])
    train(tiny_net("relu"), data, phases, batch_size=32, seed=0, out=tmp_path / "split", resume=True, progress=False)
    resumed = read_predictions(tmp_path / "split")
    for key, value in saved.items():
        assert np.array_equal(resumed[key], value), key
    same = compare_predictions(tmp_path / "whole", tmp_path / "split")
    assert (same["a_only"], same["b_only"], same["p_value"]) == (0, 0, 1.0)
    with pytest.raises(ValueError, match="no predictions.npz"):
        compare_predictions(tmp_path / "whole", tmp_path)


# --- paper B's lr step points (issue 32) ----------------------------------------------------------

def test_paper_b_steps_at_the_authors_epochs_by_default():
    from mixact_lib.runs.config import lr_step_epochs, paper_config

    assert lr_step_epochs(150) == [70, 30, 50]  # the authors' main.py: steps at epochs 70 and 100 of 150
    assert lr_step_epochs(9) == [4, 2, 3] and lr_step_epochs(80) == [37, 16, 27]
    assert lr_step_epochs(9, "thirds") == [3, 3, 3] and lr_step_epochs(10, "thirds") == [4, 3, 3]
    config = paper_config("b", epochs=9)
    assert [(p.epochs, p.lr) for p in config.phases] == [(4, 1e-3), (2, 1e-4), (3, pytest.approx(1e-5))]
    assert [p.epochs for p in paper_config("b", epochs=9, lr_step_at="thirds").phases] == [3, 3, 3]
    with pytest.raises(ValueError, match="increasing fractions of the epochs in"):
        paper_config("b", epochs=9, lr_step_at=[0.7, 0.4])
    with pytest.raises(ValueError, match="'thirds' or a list"):
        paper_config("b", epochs=9, lr_step_at="halves")


def test_a_config_json_without_lr_step_at_means_the_equal_thirds_it_was_trained_with():
    import json

    from mixact_lib.runs.runner import _config_differences
    from mixact_lib.runs.config import paper_config

    new = json.loads(json.dumps(paper_config("b", epochs=9, lr_step_at="thirds").to_dict()))
    old = {k: v for k, v in new.items() if k != "lr_step_at"}  # written before the field existed
    assert _config_differences(old, new) == []
    authors = json.loads(json.dumps(paper_config("b", epochs=9).to_dict()))
    assert _config_differences(old, authors) == ["lr_step_at", "phases"]  # control: never read as the authors'


def test_committed_paper_b_runs_keep_their_configs():
    """Every committed run of the CPU paper B grids is what its grid file (still) asks for, so a sweep
    reads it back instead of refusing it or training it again under the new default steps."""
    import json
    from pathlib import Path

    from mixact_lib.runs.runner import _config_differences
    from mixact_lib.runs.grid import grid_configs

    root = Path(__file__).resolve().parents[1]
    checked = 0
    for name in ("tables", "optimizers", "delta_w", "optimizers_authors", "weight_trace", "tables_arelu_authors"):
        configs, _ = grid_configs(root / "grids" / "paper_b_fmnist_cpu" / f"{name}.yaml")
        for config in configs:
            saved = root / config.out / "config.json"
            if saved.exists():
                new = json.loads(json.dumps(config.to_dict()))
                assert _config_differences(json.loads(saved.read_text()), new) == [], saved
                checked += 1
    if checked == 0:
        pytest.skip("no committed paper B runs in this checkout")


# --- paper B Fig. 4 as drawn: four traced weights per layer (issue 32) -----------------------------

def test_traced_weights_are_layers_1_5_9_of_vgg_in_four_filters():
    from mixact_lib.models import build_model
    from mixact_lib.training import traced_weights

    net = build_model("vgg", 10, 1, width=0.0625, depth=16)
    traced = traced_weights(net)
    convs = net.conv_layers()
    names = {id(m): n for n, m in net.named_modules()}
    assert list(traced) == [names[id(convs[i])] for i in (0, 4, 8)]
    first = traced[names[id(convs[0])]]
    per_filter = convs[0].weight[0].numel()
    assert len(first) == 4 and len({i // per_filter for i in first}) == 4  # four different filters
    assert traced_weights(build_model("vgg", 10, 1, width=0.0625, depth=16)) == traced  # fixed by position


def test_weight_trace_records_the_signed_increments_of_the_traced_weights(data):
    net = tiny_net("arelu")
    path = "0"  # tiny_net's weight layers are 0, 5 and 7, so of 1, 5, 9 only layer 1 exists
    seen = [net[0].weight.detach().flatten().clone()]
    hist = train(net, data, [Phase(2, "sgd", 1e-1), Phase(1, "sgd", 1e-1, trains="act")], batch_size=64,
                 progress=False, callbacks=[lambda r: seen.append(net[0].weight.detach().flatten().clone())]).history
    assert all(list(r["weight_trace"]) == [path] for r in hist)
    indices = [int(i) for i in hist[0]["weight_trace"][path]]
    assert len(indices) == 4
    for e, record in enumerate(hist[:2]):
        expected = (seen[e + 1] - seen[e])[indices]
        got = torch.tensor(list(record["weight_trace"][path].values()))
        assert torch.allclose(got, expected) and (got != 0).all()
    assert any(v < 0 for r in hist[:2] for v in r["weight_trace"][path].values())  # signed, not a norm
    # control: a phase that trains only the activations leaves the traced weights where they were
    assert all(v == 0 for v in hist[2]["weight_trace"][path].values())
