"""The command line, experiment grids, and learnable activations inside torchvision models."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import mixact_lib as mx
from mixact_lib.activations import activation_parameters
from mixact_lib.runs.layout import configure, expand

ROOT = Path(__file__).resolve().parents[1]
FMNIST = Path("/usr/share/datasets/fashion-mnist")
needs_fmnist = pytest.mark.skipif(not FMNIST.exists(), reason="Fashion-MNIST not installed")


def cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mixact_lib", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


@needs_fmnist
def test_cli_paper_c_one_epoch_learns(tmp_path):
    r = cli("run", "--paper", "c", "--dataset", "fmnist", "--activation", "adact", "--epochs", "1",
            "--train-subset", "2000", "--quiet", "--out", str(tmp_path / "c"), cwd=ROOT)
    assert r.returncode == 0, r.stderr
    out = Path(r.stdout.strip().splitlines()[-1])
    assert out == tmp_path / "c"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best_test_acc"] > 0.70
    assert set(summary["dominant_activations"]) and len(summary["activation_params"]) == 4
    for name in ("config.json", "history.json", "history.csv", "environment.json", "checkpoint.pt"):
        assert (out / name).exists(), name
    environment = json.loads((out / "environment.json").read_text())
    assert environment["fast_backend"] in ("auto", "native", "eager", "compile") and environment["device"] == "cpu"
    assert environment["fast_path"] in ("native", "eager", "compile")
    assert (environment["native_build"] or "").startswith("mixact_native_") == (environment["fast_path"] == "native")


@needs_fmnist
def test_cli_paper_a_runs_three_phases_and_optimized_from(tmp_path):
    r = cli("run", "--paper", "a", "--epochs", "1", "--train-subset", "300", "--test-subset", "200", "--quiet",
            "--activation-kwargs", '{"norm": "abs"}', "--out", str(tmp_path / "a"), cwd=ROOT)
    assert r.returncode == 0, r.stderr
    history = json.loads((tmp_path / "a" / "history.json").read_text())
    assert [h["trains"] for h in history] == ["net", "act", "net"]
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["activation_kwargs"] == {"norm": "abs"} and config["model"] == "paper_a_net"
    # paper C's ConvNet-Optimized from a mixture run, by the same command line
    r = cli("run", "--paper", "c", "--activation", "adact", "--epochs", "1", "--train-subset", "300",
            "--test-subset", "200", "--quiet", "--out", str(tmp_path / "ad"), cwd=ROOT)
    assert r.returncode == 0, r.stderr
    r = cli("run", "--paper", "c", "--optimized-from", str(tmp_path / "ad"), "--epochs", "1", "--train-subset",
            "300", "--test-subset", "200", "--quiet", "--out", str(tmp_path / "opt"), cwd=ROOT)
    assert r.returncode == 0, r.stderr
    chosen = json.loads((tmp_path / "ad" / "summary.json").read_text())["dominant_activations"]
    opt_config = json.loads((tmp_path / "opt" / "config.json").read_text())
    assert opt_config["activation"] == "optimized" and len(chosen) == 4


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dataset", "cifar11"], "unknown dataset 'cifar11'"),
        (["--model", "resnet9000"], "unknown model"),
        (["--activation", "reluu"], "Did you mean 'relu'"),
        (["--optimizer", "lbfgs"], "invalid choice"),
        (["--epochs", "-3"], "argument --epochs: must be >= 1, got -3"),
        (["--epochs", "0"], "argument --epochs: must be >= 1, got 0"),
        (["--epochs", "two"], "expected a whole number >= 1, got 'two'"),
        (["--activation-kwargs", "{norm: abs}"], "not valid JSON"),
        (["--activation", "mix", "--activation-kwargs", '{"norm": "l3"}'], "choose one of softmax"),
    ],
)
def test_cli_bad_input_is_one_clear_line(tmp_path, args, message):
    r = cli("run", "--train-subset", "100", "--epochs", "1", "--quiet", "--out", str(tmp_path / "x"), *args,
            cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert not (tmp_path / "x").exists()


def main_status(argv: list[str]) -> int:
    """``cli.main``'s exit status, whether it returns it or argparse raises SystemExit."""
    from mixact_lib.cli import main

    try:
        return main(argv)
    except SystemExit as exit:
        return exit.code


def test_cli_zero_epochs_is_refused_before_any_folder_exists(tmp_path, capsys):
    out = tmp_path / "x1"
    status = main_status(["run", "--paper", "c", "--dataset", "fmnist", "--activation", "adact", "--epochs", "0",
                          "--train-subset", "200", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("error: argument --epochs: must be >= 1, got 0"), err
    assert not out.exists()


@pytest.mark.parametrize(
    "text, where, message",
    [
        ("paper: b\nbase:\n  model: resnet: 3\ngrid: {seed: [0]}\nroot: x\n", ":3:16:",
         "could not parse YAML: mapping values are not allowed here"),
        ("grid:\n  activation: [relu, arelu\nroot: x\n", ":3:5:", "could not parse YAML: expected ',' or ']'"),
        ("grid:\n\tseed: [0]\nroot: x\n", ":2:1:", "could not parse YAML: found character '\\t'"),
        ("- activation\n- seed\n", ": ", "top level of a sweep file must be a mapping"),
        ("grid: {activation: relu}\nroot: x\n", ": ", "grid keys ['activation'] need a list of values"),
        ("base: {colour: red}\ngrid: {seed: [0]}\nroot: x\n", ": ", "base keys ['colour'] are neither"),
        ("base: {epochs: 0}\ngrid: {seed: [0]}\nroot: x\n", ": ", "epochs must be an integer >= 1"),
    ],
)
def test_sweep_file_errors_are_one_line_with_file_line_and_column(tmp_path, capsys, text, where, message):
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    assert main_status(["sweep", str(path), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith(f"error: {path}{where}") and message in captured.err, captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.yaml"]


def test_sweep_file_that_does_not_exist_is_one_line(tmp_path, capsys):
    assert main_status(["sweep", str(tmp_path / "nothere.yaml")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path / 'nothere.yaml'}: sweep file does not exist; give the path of a YAML grid " \
                  "file (examples in grids/)\n"


def test_cli_missing_dataset_says_where_to_put_files(tmp_path):
    env = {**__import__("os").environ, "MIXACT_DATA": str(tmp_path / "nothing")}
    r = cli("run", "--dataset", "fer2013", "--epochs", "1", "--quiet", "--out", str(tmp_path / "x"),
            cwd=tmp_path, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "fer2013.csv" in r.stderr and "no downloader" in r.stderr.lower()


def test_expand_and_configure_grid(tmp_path):
    points = expand({"activation": ["relu", "arelu"], "seed": [0, 1, 2]})
    assert len(points) == 6 and points[0] == {"activation": "relu", "seed": 0}
    base = mx.paper_config("b", epochs=6, lr_step_at="thirds")
    c = configure(base, {"optimizer": "adam", "lr": 1e-3, "seed": 1}, tmp_path)
    assert [p.optimizer for p in c.phases] == ["adam"] * 3 and [p.epochs for p in c.phases] == [2, 2, 2]
    assert c.out.endswith("optimizer=adam__lr=0.001__seed=1")
    with pytest.raises(ValueError, match="neither config fields"):
        configure(base, {"colour": "red"}, tmp_path)


def test_grid_cases_keep_values_together(tmp_path):
    cases = [{"name": "small", "model": "resnet", "model_kwargs": {"width": 0.125}},
             {"name": "vgg11", "model": "vgg", "model_kwargs": {"depth": 11}}]
    points = expand({"cases": cases, "seed": [0, 1]})
    assert len(points) == 4
    configs = [configure(mx.paper_config("b", epochs=3), p, tmp_path) for p in points]
    assert [(c.model, c.model_kwargs, c.seed) for c in configs] == [
        ("resnet", {"width": 0.125}, 0), ("resnet", {"width": 0.125}, 1), ("vgg", {"depth": 11}, 0), ("vgg", {"depth": 11}, 1)]
    assert configs[2].out.endswith("case=vgg11__seed=0")
    opt = configure(mx.paper_config("b", epochs=3), {"cases": {"name": "adam", "optimizer": "adam", "lr": 1e-4}}, tmp_path)
    assert [p.lr for p in opt.phases] == pytest.approx([1e-4, 1e-5, 1e-6]) and opt.phases[0].optimizer == "adam"
    with pytest.raises(ValueError, match="unique, non-empty 'name'"):
        expand({"cases": [{"model": "vgg"}]})
    with pytest.raises(ValueError, match="both by a case and as their own axis"):
        configure(mx.paper_config("b"), {"cases": {"name": "x", "seed": 1}, "seed": 0}, tmp_path)


@needs_fmnist
def test_sweep_cli_runs_the_smoke_grid_and_resumes(tmp_path):
    grid = (ROOT / "grids" / "paper_b_smoke.yaml").read_text().replace("root: runs/paper_b_smoke",
                                                                       f"root: {tmp_path / 'sweep'}")
    (tmp_path / "grid.yaml").write_text(grid)
    r = cli("sweep", str(tmp_path / "grid.yaml"), "--quiet", "--csv", str(tmp_path / "t.csv"), cwd=ROOT)
    assert r.returncode == 0, r.stderr
    first = (tmp_path / "t.csv").read_text()
    assert first.count("\n") == 3  # header + relu + arelu
    stamp = (tmp_path / "sweep" / "activation=arelu__seed=0" / "summary.json").stat().st_mtime
    r = cli("sweep", str(tmp_path / "grid.yaml"), "--quiet", "--csv", str(tmp_path / "t2.csv"), cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "sweep" / "activation=arelu__seed=0" / "summary.json").stat().st_mtime == stamp  # skipped
    assert (tmp_path / "t2.csv").read_text() == first



@needs_fmnist
def test_run_study_reads_back_and_overrides_need_their_own_root(tmp_path):
    spec = (ROOT / "grids" / "paper_b_smoke.yaml").read_text().replace("root: runs/paper_b_smoke", "root: study")
    (tmp_path / "grid.yaml").write_text(spec)
    table = mx.run_study(tmp_path / "grid.yaml", base_dir=tmp_path, progress=False)
    assert sorted(table.activation) == ["arelu", "relu"] and table.attrs["root"] == str(tmp_path / "study")
    summary = tmp_path / "study" / "activation=relu__seed=0" / "summary.json"
    stamp = summary.stat().st_mtime
    again = mx.run_study(tmp_path / "grid.yaml", base_dir=tmp_path, progress=False, device="cpu")
    assert summary.stat().st_mtime == stamp and again.final_test_acc.tolist() == table.final_test_acc.tolist()
    with pytest.raises(ValueError, match="give a root folder"):
        mx.run_study(tmp_path / "grid.yaml", base_dir=tmp_path, overrides={"seed": [1]})
    more = mx.run_study(tmp_path / "grid.yaml", overrides={"seed": [1], "activation": ["relu"], "epochs": None},
                        root=tmp_path / "more", progress=False)
    assert more.seed.tolist() == [1] and (tmp_path / "more" / "activation=relu__seed=1" / "summary.json").exists()
    assert not (tmp_path / "study" / "activation=relu__seed=1").exists()
    (tmp_path / "study" / "activation=arelu__seed=0" / "summary.json").unlink()
    assert mx.run_study(tmp_path / "grid.yaml", base_dir=tmp_path, train=False).activation.tolist() == ["relu"]


def _step_moves_activations(model: nn.Module, loss_fn) -> None:
    params = activation_parameters(model)
    assert params, "no learnable activation was swapped in"
    before = [p.detach().clone() for p in params]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = loss_fn(model)
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, params)), "activation parameters did not move"


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v3_small"])
def test_swap_into_torchvision_classifiers(name):
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    net = getattr(tv.models, name)(weights=None, num_classes=10)
    n = mx.swap_activations(net, "arelu", types=(nn.ReLU, nn.Hardswish))
    assert n > 0
    net.train()
    x, y = torch.randn(2, 3, 64, 64), torch.tensor([1, 7])
    _step_moves_activations(net, lambda m: nn.functional.cross_entropy(m(x), y))


@pytest.mark.parametrize("name", ["fasterrcnn_mobilenet_v3_large_fpn", "fcos_resnet50_fpn"])
def test_swap_into_torchvision_detectors(name):
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    net = getattr(tv.models.detection, name)(weights=None, weights_backbone=None, num_classes=3,
                                             min_size=96, max_size=96)
    n = mx.swap_activations(net, "adact", types=(nn.ReLU, nn.Hardswish))
    assert n > 0
    net.train()
    images = [torch.rand(3, 96, 96)]
    targets = [{"boxes": torch.tensor([[10.0, 12.0, 60.0, 70.0]]), "labels": torch.tensor([1])}]
    _step_moves_activations(net, lambda m: sum(m(images, targets).values()))


def test_run_takes_paper_b_step_points_from_the_command_line():
    from mixact_lib.cli import _config_from_args, build_parser

    def phases(*flags):
        args = build_parser().parse_args(["run", "--paper", "b", "--epochs", "9", *flags])
        return [p.epochs for p in _config_from_args(args).phases]

    assert phases() == [4, 2, 3]  # the authors' steps by default
    assert phases("--lr-step-at", "thirds") == [3, 3, 3]
    assert phases("--lr-step-at", "0.5") == [4, 5]  # round(4.5) = 4: one step, two stretches
    with pytest.raises(ValueError, match="'thirds' or fractions"):
        phases("--lr-step-at", "half")
