"""Papers A's and C's reproductions as grid files: the committed runs are their cells, and a cell that needs
another run (ConvNet-Optimized its AdAct run, the lr study its cycle-1 run) runs after it, on every executor."""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from mixact_lib.cli import main
from mixact_lib.runs import runner
from mixact_lib.runs.cells import grid_status
from mixact_lib.runs.dependencies import DEPENDENCY_FIELDS, check_dependencies, folder_key, next_cell
from mixact_lib.runs.executors import pending_cells
from mixact_lib.runs.grid import SweepFailed, grid_configs, load_grid, sweep
from mixact_lib.runs.layout import grid_cells
from mixact_lib.runs.locks import release, try_claim
from mixact_lib.runs.runner import _config_differences, _same_source_run

ROOT = Path(__file__).resolve().parents[1]
PAPER_GRIDS = sorted((ROOT / "grids").glob("paper_[ac]_*.yaml"))


def committed_files() -> list[Path]:
    """The files of results/paper_a and results/paper_c as git tracks them: runs that finish while the tests run
    (a reproduction going on beside them) are not committed yet and not what these tests check. Without git (an
    exported tarball), every file there."""
    r = subprocess.run(["git", "ls-files", "-z", "results/paper_a", "results/paper_c"], cwd=ROOT, capture_output=True)
    if r.returncode == 0 and r.stdout:
        return [ROOT / name for name in r.stdout.decode().split("\0") if name]
    return [p for p in (ROOT / "results").glob("paper_[ac]/**/*") if p.is_file() and p.suffix != ".pt"]


#: every committed finished run under results/paper_a and results/paper_c
COMMITTED = sorted(p.parent for p in committed_files() if p.name == "summary.json")
FMNIST = Path("/usr/share/datasets/fashion-mnist")
needs_fmnist = pytest.mark.skipif(not FMNIST.exists(), reason="Fashion-MNIST not installed")
#: summary fields that measure time, not results
TIMING = ("total_seconds", "images_per_s")


def paper_cells(results: Path = ROOT / "results") -> dict[str, tuple[Path, object]]:
    """Every cell of every paper grid file, by folder, with the file it comes from; roots under ``results``."""
    cells = {}
    for path in PAPER_GRIDS:
        _, _, file_root = load_grid(path)
        configs, _ = grid_configs(path, root=results / file_root.relative_to("results"))
        for config in configs:
            assert folder_key(config.out) not in cells, f"{config.out} is a cell of two grid files"
            cells[folder_key(config.out)] = (path, config)
    return cells


@pytest.fixture(scope="module")
def cells() -> dict[str, tuple[Path, object]]:
    return paper_cells()


def as_saved(config) -> dict:
    """A config as its config.json holds it."""
    return json.loads(json.dumps(config.to_dict()))


# --- the committed runs are the grids' cells -------------------------------------------------------------

def test_the_committed_paper_runs_are_there_to_check():
    names = {str(p.relative_to(ROOT / "results")) for p in COMMITTED}
    assert {"paper_c/fmnist/optimized/seed0", "paper_c/fmnist-val/adact/seed4", "paper_a/fmnist/square/seed4",
            "paper_a/fmnist-act-lr-10ep/softmax/act_lr=0.1/seed2", "paper_c/fmnist-native/adact/seed0"} <= names


@pytest.mark.parametrize("folder", COMMITTED, ids=[str(p.relative_to(ROOT / "results")) for p in COMMITTED])
def test_a_committed_run_is_a_grid_cell_with_its_config(folder, cells):
    assert folder_key(folder) in cells, f"{folder} is no cell of {', '.join(p.name for p in PAPER_GRIDS)}"
    path, config = cells[folder_key(folder)]
    saved, new = json.loads((folder / "config.json").read_text()), as_saved(config)
    # what the runner checks before it resumes or reads back a folder: nothing differs, so a rerun skips it
    assert _config_differences(saved, new) == [], path
    # stricter: every field as written (keep_checkpoint too), a field older files lack at its default; only
    # where it trains (device) and where the tree lives (out, and the absolute paths of the runs it read) differ
    defaults = {k: v for k, v in as_saved(runner.RunConfig(activation="relu")).items() if k not in saved}
    saved = {**defaults, **saved}
    assert {k: v for k, v in saved.items() if k not in ("out", "device", *DEPENDENCY_FIELDS)} == \
        {k: v for k, v in new.items() if k not in ("out", "device", *DEPENDENCY_FIELDS)}, path
    for key in DEPENDENCY_FIELDS:
        assert (saved[key] is None) == (new[key] is None) and _same_source_run(saved[key], new[key]), (key, path)


def test_every_run_a_paper_cell_needs_is_a_cell_of_the_same_grid(cells):
    needing = [(path, c, f) for path, c in cells.values() for f in DEPENDENCY_FIELDS if getattr(c, f)]
    assert {f for _, _, f in needing} == {"optimized_from", "init_from"}
    for path, config, field in needing:
        needed = cells[folder_key(getattr(config, field))]
        assert needed[0] == path and needed[1].seed == config.seed
        assert needed[1].activation == ("adact" if field == "optimized_from" else "mix")


def test_status_on_the_committed_tree_reports_every_committed_run_finished(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the grid files' roots are relative to the repository
    committed = {folder_key(p) for p in COMMITTED}
    seen = set()
    for path in PAPER_GRIDS:
        configs, _ = grid_configs(path)
        for config, state in zip(configs, grid_status(configs)):
            if folder_key(config.out) in committed:
                assert state["state"] == "finished", (config.out, state)
                seen.add(folder_key(config.out))
            elif state["state"] == "not started" and config.optimized_from:
                waits = not (Path(config.optimized_from) / "summary.json").exists()
                assert state["detail"] == (f"after adact/seed{config.seed}" if waits else ""), state
    assert seen == committed
    assert main(["sweep", "grids/paper_c_fmnist.yaml", "--status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["relu/seed0", "finished", "15/15", "epochs"]
    finished = sum(1 for p in COMMITTED
                   if p.parent.parent.name == "fmnist" and p.parent.name in ("relu", "adact", "optimized"))
    counted = re.match(r"results/paper_c/fmnist: 60 runs: (\d+) finished", lines[-1])
    assert counted and int(counted.group(1)) >= finished, lines[-1]  # runs finishing beside the tests add to it


def test_a_rerun_on_a_copy_of_the_committed_tree_reads_every_run_back(tmp_path, monkeypatch):
    for path in committed_files():  # what is committed, not runs finishing beside the tests
        copy = tmp_path / path.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)

    def no_training(*args, **kwargs):
        raise AssertionError("a committed run would train again")

    monkeypatch.setattr(runner, "_train_into", no_training)
    cells = paper_cells(tmp_path / "results")
    copies = sorted(p.parent for p in (tmp_path / "results").glob("paper_[ac]/**/summary.json"))
    assert len(copies) == len(COMMITTED)
    for folder in copies:
        _, config = cells[folder_key(folder)]
        assert not list(pending_cells([config]))
        assert runner.run(config, progress=False).model is None  # read back, not trained


# --- the reproduce script picks grid files and their cells ---------------------------------------------------

@pytest.fixture(scope="module")
def reproduce():
    spec = importlib.util.spec_from_file_location("reproduce", ROOT / "tools" / "reproduce.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reproduce_flags_select_grid_files_cases_and_seeds(reproduce, tmp_path):
    [(path, cases)] = reproduce.selected_grids("c", networks=["optimized", "adact"])
    assert path.name == "paper_c_fmnist.yaml" and cases == ["optimized", "adact"]
    base, grid, root = reproduce.grid_for(path, cases, dataset="fmnist", results=tmp_path, seeds=[3])
    configs = grid_cells(base, grid, root)
    assert [Path(c.out).relative_to(tmp_path).as_posix() for c in configs] == [
        "paper_c/fmnist/adact/seed3", "paper_c/fmnist/optimized/seed3"]  # the grid's order, not the flags'
    assert configs[1].optimized_from == configs[0].out and base.device == "auto"
    both = reproduce.selected_grids("c", networks=["relu", "prelu", "mish"])
    assert [(p.name, c) for p, c in both] == [("paper_c_fmnist.yaml", ["relu"]),
                                                ("paper_c_fmnist_baselines.yaml", ["prelu", "mish"])]
    [(val, _)] = reproduce.selected_grids("c", val=True)
    base, grid, root = reproduce.grid_for(val, None, dataset="mnist", results=tmp_path, device="cpu")
    assert root == tmp_path / "paper_c" / "mnist-val"
    assert (base.dataset, base.val_fraction, base.device) == ("mnist", 0.1, "cpu")
    [(lrs, cases)] = reproduce.selected_grids("a", act_lrs=[1e-2], act_epochs=5)
    base, grid, root = reproduce.grid_for(lrs, cases, dataset="fmnist", results=tmp_path, norms=["abs"])
    configs = grid_cells(base, grid, root)
    assert [Path(c.out).relative_to(root).as_posix() for c in configs] == [
        "abs/cycle1/seed0", "abs/act_lr=0.01/seed0", "abs/cycle1/seed1", "abs/act_lr=0.01/seed1"]
    assert configs[1].init_from == configs[0].out and configs[1].phases[0].epochs == 5
    with pytest.raises(ValueError, match="has no case act_lr=0.003"):
        reproduce.grid_for(lrs, reproduce.selected_grids("a", act_lrs=[3e-3], act_epochs=5)[0][1], dataset="fmnist",
                           results=tmp_path)
    with pytest.raises(ValueError, match="--networks mish has no grid file with --val"):
        reproduce.selected_grids("c", networks=["mish"], val=True)


def test_reproduce_refuses_a_network_whose_run_is_missing(reproduce, tmp_path, capsys):
    assert reproduce.main(["--paper", "c", "--networks", "optimized", "--seeds", "12", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"needs {tmp_path}/paper_c/fmnist/adact/seed12 (its optimized_from)" in err
    assert "Finish those runs first" in err and not (tmp_path / "paper_c").exists()


# --- a paper-C-shaped grid, small, on each executor ----------------------------------------------------------

TINY = """paper: c
base:
  dataset: fmnist
  model_kwargs: {{channels: [4, 8, 8, 8]}}
  epochs: 1
  train_subset: 200
  test_subset: 100
  device: cpu
grid:
  seed: {seeds}
  cases:
{cases}
  folder: "{{case}}/seed{{seed}}"
root: {root}
"""
RELU = "    - {name: relu, activation: relu}"
ADACT = "    - {name: adact, activation: adact}"
# written before the run it needs: the order comes from the dependency, not from the file
OPTIMIZED = '    - {name: optimized, activation: optimized, optimized_from: "{root}/adact/seed{seed}"}'


def tiny_grid(folder: Path, name: str, cases=(RELU, OPTIMIZED, ADACT), seeds="[0, 1]") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(TINY.format(seeds=seeds, cases="\n".join(cases), root=folder / name))
    return path


def run_grid(path: Path, **kwargs):
    base, grid, root = load_grid(path)
    return sweep(base, grid, root, progress=False, **kwargs)


def summaries(root: Path) -> dict[str, dict]:
    return {p.parent.relative_to(root).as_posix(): {k: v for k, v in json.loads(p.read_text()).items()
                                                    if k not in TIMING}
            for p in sorted(root.glob("*/*/summary.json"))}


def assert_after_what_it_needs(root: Path, seeds=(0, 1)) -> None:
    """Each optimized run started (wrote its config.json) after its AdAct run had finished, and used it."""
    for seed in seeds:
        adact, optimized = root / "adact" / f"seed{seed}", root / "optimized" / f"seed{seed}"
        assert (adact / "summary.json").stat().st_mtime_ns <= (optimized / "config.json").stat().st_mtime_ns
        assert json.loads((optimized / "config.json").read_text())["optimized_from"] == str(adact)
        chosen = json.loads((adact / "summary.json").read_text())["dominant_activations"]
        assert len(chosen) == 4 and json.loads((optimized / "summary.json").read_text())["activation"] == "optimized"


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory):
    """The tiny grid by the local executor, one torch thread (as each cluster task uses), and the run order."""
    folder = tmp_path_factory.mktemp("local")
    order = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        table = run_grid(tiny_grid(folder, "grid"), on_run=lambda c, s: order.append(Path(c.out)))
    finally:
        torch.set_num_threads(threads)
    return folder / "grid", table, order


@needs_fmnist
def test_local_runs_a_dependency_first_and_a_rerun_skips_everything(local_runs):
    root, table, order = local_runs
    assert [p.relative_to(root).as_posix() for p in order] == [
        "relu/seed0", "adact/seed0", "optimized/seed0", "relu/seed1", "adact/seed1", "optimized/seed1"]
    assert len(table) == 6 and sorted(table.activation) == ["adact"] * 2 + ["optimized"] * 2 + ["relu"] * 2
    assert_after_what_it_needs(root)
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("*.json")}
    again = run_grid(root.parent / "grid.yaml")
    assert len(again) == 6 and {p: p.stat().st_mtime_ns for p in root.rglob("*.json")} == stamps


@needs_fmnist
def test_ray_waits_for_a_dependency_gives_the_runs_of_local_and_a_rerun_skips(tmp_path, ray_cluster, local_runs):
    path = tiny_grid(tmp_path, "grid")
    table = run_grid(path, executor="ray", cluster={"workers": 2})
    assert len(table) == 6
    assert_after_what_it_needs(tmp_path / "grid")
    assert summaries(tmp_path / "grid") == summaries(local_runs[0])
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "grid").rglob("*.json")}
    assert main(["sweep", str(path), "--executor", "ray", "--quiet"]) == 0
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "grid").rglob("*.json")} == stamps


@needs_fmnist
def test_slurm_submits_a_dependency_in_an_earlier_wave(tmp_path, local_runs):
    pytest.importorskip("submitit")
    path = tiny_grid(tmp_path, "grid", cases=(OPTIMIZED, ADACT), seeds="[0]")  # one job each: each starts Python
    run_grid(path, executor="slurm", cluster={"submitit_cluster": "local", "workers": 2, "time_min": 5})
    assert_after_what_it_needs(tmp_path / "grid", seeds=(0,))
    assert summaries(tmp_path / "grid") == {k: v for k, v in summaries(local_runs[0]).items()
                                            if k in ("adact/seed0", "optimized/seed0")}


# --- what is refused, and why -----------------------------------------------------------------------------

def test_a_grid_whose_needed_run_is_missing_says_which_run_to_finish_first(tmp_path, capsys):
    path = tiny_grid(tmp_path, "grid", cases=(RELU, OPTIMIZED), seeds="[0]")
    with pytest.raises(ValueError) as refused:
        run_grid(path)
    needed = tmp_path / "grid" / "adact" / "seed0"
    assert f"{tmp_path / 'grid' / 'optimized' / 'seed0'} needs {needed} (its optimized_from), which has not " \
           f"finished" in str(refused.value) and "Finish those runs first" in str(refused.value)
    assert not (tmp_path / "grid").exists()  # refused before anything ran, relu included
    assert main(["sweep", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"needs {needed}" in err
    assert main(["sweep", str(path), "--status"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[-2:] == ["after", "adact/seed0"]


@needs_fmnist
def test_a_cell_whose_needed_run_fails_is_not_run(tmp_path):
    broken = "    - {name: adact, activation: adactt}"  # no such activation: fails when its model is built
    path = tiny_grid(tmp_path, "grid", cases=(OPTIMIZED, broken), seeds="[0]")
    with pytest.raises(SweepFailed) as failed:
        run_grid(path)
    errors = {Path(f["folder"]).relative_to(tmp_path / "grid").as_posix(): f["error"] for f in failed.value.failures}
    assert list(errors) == ["adact/seed0", "optimized/seed0"] and "adactt" in errors["adact/seed0"]
    assert errors["optimized/seed0"] == (f"not run: it needs {tmp_path / 'grid' / 'adact' / 'seed0'} (its "
                                         "optimized_from), which failed in this sweep")
    assert not (tmp_path / "grid").exists()


def test_a_needed_run_held_by_a_live_task_is_waited_for(tmp_path):
    path = tiny_grid(tmp_path, "grid", cases=(OPTIMIZED,), seeds="[0]")
    [optimized], _ = grid_configs(path)
    held = try_claim(optimized.optimized_from)  # another task is training the AdAct run
    check_dependencies([optimized])  # not refused: it will be there
    assert next_cell([optimized], [], {}) is None  # waits
    (Path(optimized.optimized_from) / "summary.json").write_text("{}")
    assert next_cell([optimized], [], {}) == (optimized, None)  # finished: runs now
    (Path(optimized.optimized_from) / "summary.json").unlink()
    release(optimized.optimized_from, held)  # the task stopped without finishing
    queue = [optimized]
    config, reason = next_cell(queue, [], {})
    assert config is optimized and not queue and "stopped without finishing" in reason
    with pytest.raises(ValueError, match="Finish those runs first"):
        check_dependencies([optimized])


@pytest.mark.parametrize("change, message", [
    ('folder: "{case}/seed{seed}"', None),
    ('folder: "{case}/seed{sed}"', "names {sed}, which is neither a config field nor a key of this grid"),
    ('folder: "{case}/seed{seed"', "is not a template"),
    ('folder: "{case}"', "two grid cells get the folder .*relu: the folder template '{case}' must name every"),
    ('folder: "../{case}/seed{seed}"', "it must give a folder inside the grid's root"),
    ("folder: [a, b]", "grid 'folder' must be a template string"),
    ('folder: "{case}/{activation_kwargs[norm]}"', r"cannot be filled for the cell .*KeyError 'norm'"),
])
def test_a_bad_folder_template_is_one_line_naming_the_file(tmp_path, change, message):
    path = tiny_grid(tmp_path, "grid", cases=(RELU, ADACT))
    path.write_text(path.read_text().replace('folder: "{case}/seed{seed}"', change))
    if message is None:
        assert len(grid_configs(path)[0]) == 4
        return
    with pytest.raises(ValueError, match=message) as refused:
        load_grid(path)
    assert str(refused.value).startswith(f"{path}: ") and "\n" not in str(refused.value)


def test_cells_that_need_each_other_in_a_circle_are_refused(tmp_path):
    circle = ['    - {name: a, activation: optimized, optimized_from: "{root}/b/seed{seed}"}',
              '    - {name: b, activation: optimized, optimized_from: "{root}/a/seed{seed}"}']
    path = tiny_grid(tmp_path, "grid", cases=circle, seeds="[0]")
    with pytest.raises(ValueError, match=r"need each other in a circle: .*a/seed0 → .*b/seed0 → .*a/seed0"):
        run_grid(path)
