"""Sweeps beyond one process: claim files, folder status, and the ray and slurm executors against local.

One local Ray cluster of 2 workers serves the whole file (starting Ray is slow). The SLURM path runs
through submitit's local executor, which runs each array job as a process on this machine.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from mixact_lib.runs.cells import cell_state
from mixact_lib.runs.locks import CLAIM, hold, is_expired, read_claim, release, try_claim
from mixact_lib.cli import main
from mixact_lib.runs.grid import SweepFailed, grid_configs, load_grid, sweep

FMNIST = Path("/usr/share/datasets/fashion-mnist")
needs_fmnist = pytest.mark.skipif(not FMNIST.exists(), reason="Fashion-MNIST not installed")
#: summary fields that measure time, not results
TIMING = ("total_seconds", "images_per_s")

GRID = """paper: b
base:
  dataset: fmnist
  model: resnet
  model_kwargs: {{width: 0.125, blocks: [1, 1, 1, 1]}}
  epochs: {epochs}
  optimizer: momentum
  lr: 0.01
  train_subset: 200
  test_subset: 100
grid:
  activation: {activations}
  seed: [0]
root: {root}
"""


def write_grid(folder: Path, name: str, activations: str = "[relu, arelu]", epochs: int = 1) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(GRID.format(activations=activations, epochs=epochs, root=folder / name))
    return path


def summaries(root: Path) -> dict[str, dict]:
    """Every finished run's summary.json under ``root``, timing fields left out, by folder name."""
    return {p.parent.name: {k: v for k, v in json.loads(p.read_text()).items() if k not in TIMING}
            for p in sorted(root.glob("*/summary.json"))}


def run_sweep(path: Path, **kwargs):
    base, grid, root = load_grid(path)
    return sweep(base, grid, root, progress=False, **kwargs)


# --- claims ----------------------------------------------------------------------------------------

def test_a_claim_is_exclusive_until_released(tmp_path):
    first = try_claim(tmp_path / "cell")
    assert first is not None and first["pid"] == os.getpid() and first["host"] == socket.gethostname()
    assert try_claim(tmp_path / "cell") is None
    release(tmp_path / "cell", {**first, "token": "someone else"})  # not the holder: nothing happens
    assert read_claim(tmp_path / "cell")["token"] == first["token"]
    release(tmp_path / "cell", first)
    assert read_claim(tmp_path / "cell") is None and try_claim(tmp_path / "cell") is not None


def test_racing_tasks_get_one_claim_each_time(tmp_path):
    def race(folder: Path) -> list:
        won, barrier = [], threading.Barrier(8)

        def contender():
            barrier.wait()
            won.append(try_claim(folder, ttl=60))

        threads = [threading.Thread(target=contender) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return [w for w in won if w is not None]

    assert len(race(tmp_path / "fresh")) == 1
    stale = try_claim(tmp_path / "stale", ttl=60)
    os.utime(tmp_path / "stale" / CLAIM, (time.time() - 3600, time.time() - 3600))
    winners = race(tmp_path / "stale")  # all eight find it expired; exactly one takes it over
    assert len(winners) == 1 and winners[0]["token"] != stale["token"]
    assert read_claim(tmp_path / "stale")["token"] == winners[0]["token"]


def test_a_claim_expires_without_heartbeat_or_when_its_process_is_gone(tmp_path):
    held = try_claim(tmp_path / "a", ttl=60)
    assert not is_expired(read_claim(tmp_path / "a"), ttl=60)
    os.utime(tmp_path / "a" / CLAIM, (time.time() - 61, time.time() - 61))
    assert is_expired(read_claim(tmp_path / "a"), ttl=60)
    assert try_claim(tmp_path / "a", ttl=60)["token"] != held["token"]
    # a holder on this host whose process has exited: free at once, not after the ttl
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / CLAIM).write_text(json.dumps({"host": socket.gethostname(), "pid": child.pid,
                                                     "started": time.time(), "token": "dead"}))
    assert is_expired(read_claim(tmp_path / "b"), ttl=3600)
    # the same pid on another host is not ours to judge: only the ttl frees it
    (tmp_path / "b" / CLAIM).write_text(json.dumps({"host": "elsewhere", "pid": child.pid,
                                                     "started": time.time(), "token": "far"}))
    assert not is_expired(read_claim(tmp_path / "b"), ttl=3600)
    assert try_claim(tmp_path / "b", ttl=3600) is None


def test_a_held_claim_heartbeats_and_is_gone_afterwards(tmp_path):
    with hold(tmp_path / "cell", ttl=0.5) as claim:
        assert claim is not None
        os.utime(tmp_path / "cell" / CLAIM, (time.time() - 0.45, time.time() - 0.45))
        time.sleep(0.3)  # a heartbeat (every ttl / 5) has refreshed it meanwhile
        assert not is_expired(read_claim(tmp_path / "cell"), ttl=0.5)
        with hold(tmp_path / "cell", ttl=0.5) as second:
            assert second is None
    assert not (tmp_path / "cell" / CLAIM).exists()


# --- status from the folders alone ---------------------------------------------------------------

def test_status_reads_every_state_from_the_folders(tmp_path, capsys):
    path = write_grid(tmp_path, "grid", activations="[relu, arelu, prelu, mish, elu]", epochs=3)
    configs, root = grid_configs(path)
    finished, partial, claimed, failed, _ = (Path(c.out) for c in configs)
    for folder in (finished, partial, failed):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
    (finished / "summary.json").write_text("{}")
    (partial / "history.json").write_text(json.dumps([{"epoch": 1}, {"epoch": 2}]))
    try_claim(claimed)
    (failed / "failed.json").write_text(json.dumps({"host": "node7", "error": "Traceback\nValueError: boom"}))
    assert [cell_state(c)["state"] for c in configs] == ["finished", "partial", "claimed", "failed", "not started"]
    assert cell_state(configs[1])["epochs_done"] == 2
    assert main(["sweep", str(path), "--status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "partial" in lines[1] and "2/3 epochs" in lines[1]
    assert f"pid {os.getpid()}" in lines[2] and "node7: ValueError: boom" in lines[3]
    assert lines[-1] == f"{root}: 5 runs: 1 finished, 1 partial, 1 claimed, 1 failed, 1 not started"


def test_a_missing_extra_is_one_line_naming_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    monkeypatch.setitem(sys.modules, "submitit", None)
    path = write_grid(tmp_path, "grid")
    for executor in ("ray", "slurm"):
        assert main(["sweep", str(path), "--executor", executor, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and 'pip install -e ".[cluster]"' in err, err
    assert not (tmp_path / "grid").exists()


# --- the executors, on one local cluster --------------------------------------------------------------

@pytest.fixture(scope="module")
def local_runs(tmp_path_factory):
    """The reference grid run by the local executor with one torch thread, as each cluster task uses."""
    folder = tmp_path_factory.mktemp("local")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_sweep(write_grid(folder, "grid"))
    finally:
        torch.set_num_threads(threads)
    return summaries(folder / "grid")


@needs_fmnist
def test_ray_cli_gives_the_summaries_of_local(tmp_path, ray_cluster, local_runs, capsys):
    path = write_grid(tmp_path, "grid")
    assert main(["sweep", str(path), "--executor", "ray", "--workers", "2", "--quiet"]) == 0  # joins the cluster
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(tmp_path / "grid")
    assert len(local_runs) == 2 and summaries(tmp_path / "grid") == local_runs
    assert not list((tmp_path / "grid").glob(f"*/{CLAIM}"))
    environments = [json.loads(p.read_text()) for p in (tmp_path / "grid").glob("*/environment.json")]
    assert [e["num_threads"] for e in environments] == [1, 1]  # one CPU per task, so one torch thread


@needs_fmnist
def test_slurm_array_through_submitit_gives_the_summaries_of_local(tmp_path, local_runs):
    pytest.importorskip("submitit")
    path = write_grid(tmp_path, "grid", activations="[arelu]")  # one job: each starts its own Python
    run_sweep(path, executor="slurm", cluster={"submitit_cluster": "local", "workers": 2, "time_min": 5})
    assert summaries(tmp_path / "grid") == {k: v for k, v in local_runs.items() if "arelu" in k}
    assert (tmp_path / "grid" / ".submitit").is_dir()  # submitit's job files, beside the runs


@needs_fmnist
def test_ray_skips_claimed_cells_and_reports_failures_without_stopping(tmp_path, ray_cluster, capsys):
    path = write_grid(tmp_path, "grid", activations="[relu, reluu]")
    configs, root = grid_configs(path)
    held = try_claim(configs[0].out)  # another live task is training relu
    with pytest.raises(SweepFailed) as failed:
        run_sweep(path, executor="ray")
    [failure] = failed.value.failures
    assert failure["folder"] == configs[1].out and "reluu" in failure["error"]
    assert failed.value.table.empty and failed.value.table.attrs["claimed_elsewhere"] == [configs[0].out]
    assert sorted(p.name for p in Path(configs[0].out).iterdir()) == [CLAIM]  # nobody touched the claimed folder
    assert [cell_state(c)["state"] for c in configs] == ["claimed", "failed"]
    release(configs[0].out, held)
    assert main(["sweep", str(path), "--executor", "ray", "--quiet"]) == 1  # a failed cell: non-zero exit
    captured = capsys.readouterr()
    assert f"failed: {configs[1].out}" in captured.err and "reluu" in captured.err
    assert "relu" in captured.out and captured.out.strip().splitlines()[-1] == str(root)
    assert [cell_state(c)["state"] for c in configs] == ["finished", "failed"]


@needs_fmnist
def test_a_killed_worker_loses_one_cell_and_a_rerun_completes_the_grid(tmp_path, ray_cluster):
    path = write_grid(tmp_path, "grid", activations="[relu, arelu]", epochs=2)
    configs, root = grid_configs(path)
    errors: list[BaseException] = []

    def first_sweep():
        try:
            run_sweep(path, executor="ray")
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            errors.append(err)

    thread = threading.Thread(target=first_sweep)
    thread.start()
    victim = None
    deadline = time.time() + 120
    while victim is None and time.time() < deadline and thread.is_alive():
        for config in configs:  # a cell mid-run: claimed, one epoch done, not finished
            folder = Path(config.out)
            claim = read_claim(folder)
            if claim and (folder / "checkpoint.pt").exists() and not (folder / "summary.json").exists():
                os.kill(claim["pid"], signal.SIGKILL)
                victim = folder
                break
        time.sleep(0.02)
    thread.join(timeout=180)
    assert victim is not None, "no cell was caught mid-run"
    [err] = errors
    assert isinstance(err, SweepFailed) and [f["folder"] for f in err.failures] == [str(victim)]
    before = json.loads((victim / "history.json").read_text())
    assert len(before) == 1 and cell_state(next(c for c in configs if c.out == str(victim)))["state"] == "failed"
    finished = {p: p.stat().st_mtime_ns for p in root.glob("*/summary.json")}
    assert len(finished) == 1

    table = run_sweep(path, executor="ray")
    assert len(table) == 2
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # finished cells were not repeated
    history = json.loads((victim / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2] and not (victim / "failed.json").exists()
    assert history[0] == before[0]  # resumed from its checkpoint, not trained again from the start
