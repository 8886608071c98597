"""The timing harness (mixact_lib.studies.timing; the machine's load and allocator: mixact_lib.studies.machine) and
the benchmark scripts built on it.

Only the bookkeeping is tested: times come from a fake clock, loads from fake readings, so nothing here
depends on how busy the machine is.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mixact_lib.studies import machine, timing
from mixact_lib.studies.machine import CpuSample

ROOT = Path(__file__).resolve().parents[1]


class FakeClock:
    """A clock that only moves when a fake step says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def quiet_sample():
    return CpuSample(0.0, 0.0, 0.0, 0.1, 2)


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ rounds


def test_every_round_visits_every_step_warm_then_timed():
    log = []
    steps = {key: (lambda key=key: log.append(("step", key))) for key in "abcd"}
    times = timing.time_rounds(steps, rounds=6, before=lambda key: log.append(("before", key)),
                               sync=lambda: log.append(("sync",)), clock=lambda: log.append(("clock",)) or 0.0,
                               seed=1, sample=quiet_sample)
    visit = 6  # before, warm step, sync, clock, timed step, sync, clock → 7 events per visit
    visits = [log[i:i + visit + 1] for i in range(0, len(log), visit + 1)]
    assert len(visits) == 6 * 4
    for v in visits:
        key = v[0][1]
        assert v == [("before", key), ("step", key), ("sync",), ("clock",), ("step", key), ("sync",), ("clock",)]
    orders = [tuple(v[0][1] for v in visits[r * 4:(r + 1) * 4]) for r in range(6)]
    assert all(sorted(order) == list("abcd") for order in orders)  # every step once per round
    assert len(set(orders)) > 1  # and the order changes between rounds
    assert {k: len(v) for k, v in times.seconds.items()} == dict.fromkeys("abcd", 6)


def test_summary_of_fake_durations():
    clock = FakeClock()
    durations = {"relu": iter([1.0, 1.0, 2.0] * 2), "act": iter([3.0, 3.0, 3.0] * 2)}  # warm and timed calls

    def step(key):
        def run():
            clock.now += next(durations[key])
        return run

    times = timing.time_rounds({"relu": step("relu"), "act": step("act")}, rounds=3, clock=clock, seed=0,
                               sample=quiet_sample)
    # which durations land on timed calls depends on the order; the multiset of all calls is fixed
    assert sorted(times.seconds["act"]) == [3.0, 3.0, 3.0]
    s = timing.summarise([3.0, 3.0, 3.0], [1.0, 1.0, 2.0])
    assert s["ms"] == 3000.0 and s["ms_min"] == 3000.0
    assert s["ratio"] == 3.0 and s["ratio_of_minima"] == 3.0
    assert s["round_ratio"] == 3.0 and s["round_ratio_min"] == 1.5 and s["round_ratio_max"] == 3.0
    with pytest.raises(ValueError, match="same number"):
        timing.summarise([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="rounds"):
        timing.time_rounds({"a": lambda: None}, rounds=0)


def test_first_call_waits_for_the_device_at_both_ends():
    log = []
    seconds = timing.first_call_seconds(lambda: log.append("step"), sync=lambda: log.append("sync"))
    assert log == ["sync", "step", "sync"] and seconds >= 0


# ------------------------------------------------------------------ load


def test_other_processes_cores_and_the_loaded_mark():
    start = CpuSample(wall_s=100.0, busy_s=50.0, own_s=5.0, loadavg_1min=1.0, cores=2)
    # 10 s: our process used 10 CPU-seconds (one core), the two cores were busy for 15: others held 0.5
    busy = machine.load_between(start, CpuSample(110.0, 65.0, 15.0, 1.5, 2))
    assert busy["own_cores"] == pytest.approx(1.0) and busy["other_cores"] == pytest.approx(0.5)
    assert busy["loaded"] is True and busy["loadavg_1min_end"] == 1.5
    quiet = machine.load_between(start, CpuSample(110.0, 61.0, 15.0, 1.0, 2))
    assert quiet["other_cores"] == pytest.approx(0.1) and quiet["loaded"] is False
    assert machine.load_between(start, CpuSample(110.0, 61.0, 15.0, 1.0, 2), threshold=0.05)["loaded"] is True
    unread = machine.load_between(CpuSample(0.0, None, 0.0, None, 2), CpuSample(1.0, None, 1.0, None, 2))
    assert unread["other_cores"] is None and unread["loaded"] is None


def test_time_rounds_records_the_load_it_read():
    samples = iter([CpuSample(0.0, 0.0, 0.0, 2.0, 2), CpuSample(4.0, 6.0, 4.0, 2.5, 2)])  # others: 0.5 cores
    times = timing.time_rounds({"a": lambda: None}, rounds=2, sample=lambda: next(samples))
    assert times.load["loaded"] is True and times.load["other_cores"] == pytest.approx(0.5)
    assert times.load["loadavg_1min_start"] == 2.0


def test_a_real_reading_is_sane():
    sample = machine.cpu_sample()
    assert sample.cores >= 1 and sample.own_s > 0
    assert sample.busy_s is None or sample.busy_s > 0


def test_loaded_flags_combine():
    assert machine.any_loaded([False, True, None]) is True
    assert machine.any_loaded([False, False]) is False
    assert machine.any_loaded([False, None]) is None and machine.any_loaded([]) is None
    result = {"runs": [{"loaded": False, "merged": [{"loaded": True}]}]}
    assert machine.result_loaded(result) is True
    assert "not loaded" in machine.load_sentence({"load": [machine.load_between(
        CpuSample(0.0, 0.0, 0.0, 0.3, 2), CpuSample(1.0, 1.0, 1.0, 0.4, 2))], "loaded": False})


# ------------------------------------------------------------------ allocator, memory


def test_allocator_setting_is_recognised_and_added():
    assert machine.allocator_state({})["holds_freed_memory"] is False
    env = machine.hold_freed_memory_env({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2", "X": "1"})
    assert env["X"] == "1" and env["GLIBC_TUNABLES"].startswith("glibc.malloc.arena_max=2:")
    state = machine.allocator_state(env)
    assert state["holds_freed_memory"] is True and state["glibc_tunables"] == env["GLIBC_TUNABLES"]
    assert machine.hold_freed_memory_env(env) == env  # already set: unchanged
    header = machine.result_header(extra=1)
    assert {"glibc_tunables", "holds_freed_memory", "loadavg_1min", "extra"} <= set(header) and header["runs"] == []


def test_saved_bytes_of_known_activations():
    x = torch.randn(4, 8, requires_grad=True)  # 128 bytes
    assert timing.saved_bytes(F.relu, x) == 128  # ReLU keeps its output
    assert timing.saved_bytes(lambda t: t * t, x) == 128  # x saved twice, one storage
    assert timing.saved_bytes(torch.nn.Identity(), x) == 0
    linear, target = torch.nn.Linear(8, 3), torch.tensor([0, 1, 2, 0])
    plain = timing.saved_bytes(lambda: F.cross_entropy(linear(x), target))
    with_relu = timing.saved_bytes(lambda: F.cross_entropy(F.relu(linear(x)), target))
    assert with_relu - plain == 4 * 3 * 4  # ReLU after the linear layer adds its 4×3 float32 output


# ------------------------------------------------------------------ repeats and merges


def _run(ratio_a, ms_a, loaded):
    return {"device": "cpu", "rounds": 3, "threads": 1, "relu_ms": ms_a / ratio_a, "relu_ms_min": 0.5,
            "load": {"other_cores": 0.3 if loaded else 0.0}, "loaded": loaded,
            "rows": [{"activation": "a", "ratio_to_relu": ratio_a, "ms": ms_a, "ms_min": ms_a / 2}]}


def test_merge_repeats_takes_medians_ranges_and_every_load():
    merged = timing.merge_repeats([_run(2.0, 4.0, False), _run(3.0, 9.0, True), _run(2.5, 5.0, False)],
                                  "ratio_to_relu", "ratio_min", "ratio_max", medians=("ms",), minima=("ms_min",),
                                  run_medians=("relu_ms",), run_minima=("relu_ms_min",))
    row = merged["rows"][0]
    assert (row["ratio_to_relu"], row["ratio_min"], row["ratio_max"]) == (2.5, 2.0, 3.0)
    assert row["ratios"] == [2.0, 3.0, 2.5] and row["ms"] == 5.0 and row["ms_min"] == 2.0
    assert merged["relu_ms"] == 2.0 and merged["repeats"] == 3
    assert len(merged["load"]) == 3 and merged["loaded"] is True


def test_merge_into_replaces_only_the_named_rows():
    old = {"date": "then", "runs": [{"device": "cpu", "rounds": 30, "threads": 1, "rows": [
        {"activation": "a", "net": "n1"}, {"activation": "b", "net": "n1"}, {"activation": "c", "net": "n2"}],
        "merged": [{"names": ["b"], "loaded": None}, {"names": ["c", "d"]}]}]}
    new = {"date": "now", "extra": 1, "runs": [{"device": "cpu", "rounds": 5, "threads": 1, "loaded": False,
                                               "load": {}, "rows": [{"activation": "b", "net": "n1", "new": True},
                                                                    {"activation": "x", "net": "n1"}]}]}
    out = timing.merge_into(old, new, ["b"], row_extra=lambda run, row: {"ref": run["rounds"]},
                            note_extra=lambda run: {"why": "test"}, carry=("extra", "missing"))
    rows = out["runs"][0]["rows"]
    assert [r["activation"] for r in rows] == ["a", "c", "b"] and rows[-1]["new"] and rows[-1]["ref"] == 5
    notes = out["runs"][0]["merged"]
    assert [n["names"] for n in notes] == [["c", "d"], ["b"]]  # the earlier note on b alone is replaced
    assert notes[-1]["date"] == "now" and notes[-1]["loaded"] is False and notes[-1]["why"] == "test"
    assert out["extra"] == 1 and "missing" not in out and old["runs"][0]["rows"][1]["activation"] == "b"
    placed = timing.merge_into(old, new, ["b"], place=lambda rows, row: 0)
    assert placed["runs"][0]["rows"][0]["activation"] == "b"


def test_training_rows_go_after_their_net():
    training = _script("training")
    old = {"date": "then", "runs": [{"device": "cpu", "rounds": 15, "threads": 1, "rows": [
        {"net": "n1", "activation": "relu", "step_ms": 10.0}, {"net": "n1", "activation": "adact"},
        {"net": "n2", "activation": "relu", "step_ms": 5.0}, {"net": "n2", "activation": "mix"}]}]}
    new = {"date": "now", "runs": [{"device": "cpu", "rounds": 2, "threads": 1, "rows": [
        {"net": "n1", "activation": "relu", "step_ms": 12.0}, {"net": "n1", "activation": "pau"}]}]}
    out = training.merge_into(old, new, ["pau"])
    rows = out["runs"][0]["rows"]
    assert [(r["net"], r["activation"]) for r in rows] == [("n1", "relu"), ("n1", "adact"), ("n1", "pau"),
                                                           ("n2", "relu"), ("n2", "mix")]
    assert rows[2]["twin_step_ms"] == 12.0 and out["runs"][0]["merged"][0]["twin_step_ms"] == {"n1": 12.0}


# ------------------------------------------------------------------ files and scripts


def test_update_block_and_write_result(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("top\n<!-- t -->\nold\n<!-- /t -->\nend\n")
    timing.update_block(readme, "t", "new table\n")
    assert readme.read_text() == "top\n<!-- t -->\nnew table\n<!-- /t -->\nend\n"
    with pytest.raises(SystemExit, match="no <!-- u -->"):
        timing.update_block(readme, "u", "x")
    timing.write_result({"a": 1}, tmp_path, tmp_path, "r", quick=True)  # a quick run into the default folder
    assert not (tmp_path / "r.json").exists()
    timing.write_result({"a": 1}, tmp_path / "elsewhere", tmp_path, "r", quick=True)
    assert json.loads((tmp_path / "elsewhere" / "r.json").read_text()) == {"a": 1}


def test_the_scripts_edit_no_import_path_and_import_no_sibling():
    for path in (ROOT / "benchmarks").glob("*.py"):
        text = path.read_text()
        assert "sys.path" not in text, f"{path.name} edits sys.path"
        for sibling in ("common", "activations", "training"):
            assert f"\nfrom {sibling} import" not in text and f"\nimport {sibling}\n" not in text, path.name


def test_a_quick_activation_run_records_time_and_load(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "benchmarks/activations.py", "--quick", "--device", "cpu", "--names",
                           "relu", "prelu", "--rounds", "2", "--out", str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((tmp_path / "activations-cpu.json").read_text())
    run = result["runs"][0]
    assert {"glibc_tunables", "holds_freed_memory", "loadavg_1min", "loaded"} <= set(result)
    assert run["relu_ms"] > 0 and 0 < run["relu_ms_min"] <= run["relu_ms"]
    assert run["loaded"] in (True, False, None) and run["load"][0]["threshold_cores"] == machine.LOADED_CORES
    assert {r["activation"] for r in run["rows"]} == {"relu", "prelu"}
    assert all(0 < r["ms_min"] <= r["ms"] and r["ratio_to_relu"] > 0 for r in run["rows"])
    assert "While it was timed" in proc.stdout
