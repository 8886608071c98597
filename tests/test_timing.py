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


# ------------------------------------------------------------------ quiet tables only (issue 31)


def _load(other, start=2.0, end=2.5):
    return {"wall_s": 10.0, "cores": 2, "own_cores": 1.0, "other_cores": other, "threshold_cores": 0.25,
            "loadavg_1min_start": start, "loadavg_1min_end": end, "loaded": other > 0.25}


def _activation_result(other=0.0, recorded=True, merged=()):
    """A result as activations.py writes it, with one row; ``recorded=False``: from before the load record."""
    run = {"device": "cpu", "dtype": "float32", "shape": [4, 4], "threads": 1, "rounds": 3, "relu_ms": 1.0,
           "relu_ms_min": 0.8, "relu_saved_per_input_byte": 1.0, "merged": list(merged),
           "rows": [{"activation": "adact", "impl": "fast", "backend": "native", "mode": "train",
                     "ratio_to_relu": 3.0, "saved_per_input_byte": 1.0}]}
    if recorded:
        run.update(load=[_load(other)], loaded=other > 0.25)
    else:
        del run["relu_ms_min"]
    return {"date": "now", "holds_freed_memory": True if recorded else None, "runs": [run]}


def _training_result(other=0.0):
    rows = [{"net": "paper_c_convnet", "activation": "relu", "impl": "reference", "backend": "eager", "step_ms": 300.0,
             "step_ms_min": 290.0, "images_per_s": 213.0, "throughput_vs_relu": 1.0},
            {"net": "paper_c_convnet", "activation": "adact", "impl": "fast", "backend": "native",
             "step_ms": 330.0, "step_ms_min": 320.0, "images_per_s": 194.0, "throughput_vs_relu": 0.91}]
    return {"date": "now", "holds_freed_memory": False, "runs": [
        {"device": "cpu", "batch": 64, "threads": 1, "rounds": 3, "load": [_load(other)], "loaded": other > 0.25,
         "rows": rows}]}


def _readme(tmp_path, *keys):
    readme = tmp_path / "README.md"
    readme.write_text("".join(f"<!-- {k} -->\nold {k}\n<!-- /{k} -->\n" for k in keys))
    return readme


def _bench(tmp_path, **results):
    """A results folder holding each of ``results`` (name with "_" for "-" → result dict) as <name>.json."""
    folder = tmp_path / "bench"
    folder.mkdir()
    for name, result in results.items():
        (folder / f"{name.replace('_', '-')}.json").write_text(json.dumps(result))
    return folder


def _block(readme, key):
    text = readme.read_text()
    return text[text.index(f"<!-- {key} -->"):text.index(f"<!-- /{key} -->")]


def test_labels_say_what_made_a_result_not_quiet():
    assert machine.load_label(_activation_result(0.1)) == ""
    assert machine.readme_refusal(_activation_result(0.1), "a.json", "t") is None
    assert machine.load_label(_activation_result(0.6)) == \
        "measured on a loaded machine (0.60 other cores busy, load 2.00–2.50)"
    assert machine.load_label(_activation_result(recorded=False)) == \
        "measured without a load record (before runs recorded the machine's load)"
    # a quiet run with a loaded run merged into it is loaded; a quiet one merged into an unrecorded one is not quiet
    later = {"names": ["pau"], "load": [_load(0.9, 3.0, 3.0)], "loaded": True}
    label = machine.load_label(_activation_result(0.1, merged=[later]))
    assert label == "measured on a loaded machine (0.10–0.90 other cores busy, load 2.00–3.00)"
    quiet_later = dict(later, load=[_load(0.1)], loaded=False)
    assert machine.load_label(_activation_result(recorded=False, merged=[quiet_later])).startswith("partly measured")
    refusal = machine.readme_refusal(_activation_result(0.6), "results/bench/a.json", "activations-cpu")
    assert "\n" not in refusal and refusal.startswith("results/bench/a.json was measured on a loaded machine")
    assert "activations-cpu left as it was" in refusal and "pause the training runs" in refusal
    assert "--allow-loaded" in refusal
    assert "has no load record" in machine.readme_refusal(_activation_result(recorded=False), "a.json", "t")


def test_update_readme_refuses_a_loaded_json_and_labels_it_when_allowed(tmp_path, capsys):
    activations = _script("activations")
    results = _bench(tmp_path, activations_cpu=_activation_result(0.6), activations_cpu_t2=_activation_result(0.1))
    readme = _readme(tmp_path, "activations-cpu", "activations-cpu-t2")
    assert activations.readme_from_json(False, results, readme) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "activations-cpu.json was measured on a loaded machine" in err[0]
    assert _block(readme, "activations-cpu") == "<!-- activations-cpu -->\nold activations-cpu\n"  # left as it was
    quiet = _block(readme, "activations-cpu-t2")
    assert "Measured" not in quiet and "ReLU forward+backward = 1.00 ms median, 0.80 ms min" in quiet
    assert "freed memory held in the process" in quiet and "1 thread(s)" in quiet
    assert "other processes held 0.10 of 2 cores" in quiet

    assert activations.readme_from_json(True, results, readme) == 0
    loaded = _block(readme, "activations-cpu")
    assert loaded.startswith("<!-- activations-cpu -->\n**Measured on a loaded machine (0.60 other cores busy, "
                             "load 2.00–2.50).**")
    assert "ReLU forward+backward = 1.00 ms median, 0.80 ms min" in loaded and "| adact | train |" in loaded


def test_update_readme_refuses_json_without_a_load_record(tmp_path, capsys):
    activations = _script("activations")
    result = dict(_activation_result(recorded=False), reduction_error={"shape": [2], "path": "native",
                                                                      "errors": {"one set (pau)": 1e-9}})
    results = _bench(tmp_path, activations_cpu=result)
    readme = _readme(tmp_path, "activations-cpu", "reduction-error")
    assert activations.readme_from_json(False, results, readme) == 1
    assert "has no load record" in capsys.readouterr().err
    assert "old activations-cpu" in _block(readme, "activations-cpu")
    assert "| one set (pau) | 1.0e-09 |" in _block(readme, "reduction-error")  # an error bound, not a time
    assert activations.readme_from_json(True, results, readme) == 0
    block = _block(readme, "activations-cpu")
    assert "**Measured without a load record" in block and "min not recorded" in block
    assert "allocator setting not recorded" in block and "The machine's load was not recorded." in block


def test_training_tables_and_targets_need_quiet_runs(tmp_path, capsys):
    training = _script("training")
    results = _bench(tmp_path, training_cpu=_training_result(0.1), activations_cpu=_activation_result(0.6))
    readme = _readme(tmp_path, "training-cpu", "targets-cpu")
    assert training.readme_from_json(False, results, readme) == 1  # the targets read the loaded activations
    assert "targets-cpu left as it was" in capsys.readouterr().err
    block = _block(readme, "training-cpu")
    assert "Measured" not in block and "ReLU twin step: paper_c_convnet 300.0 ms median, 290.0 ms min" in block
    assert "freed memory returned to the system" in block and "| paper_c_convnet | adact | fast (native) |" in block
    assert "old targets-cpu" in _block(readme, "targets-cpu")
    assert training.readme_from_json(True, results, readme) == 0
    targets = _block(readme, "targets-cpu")
    assert "**Measured on a loaded machine (0.10–0.60 other cores busy" in targets
    assert "ReLU forward+backward 1.00 ms median, 0.80 ms min" in targets and "3.00 met" in targets


def test_allow_loaded_only_with_update_readme_and_a_refusal_exits_1(tmp_path, monkeypatch):
    for name in ("activations", "training"):
        script = _script(name)
        with pytest.raises(SystemExit) as exit_:
            script.main(["--allow-loaded"])
        assert exit_.value.code == 2  # argparse's usage error
        results = tmp_path / name
        results.mkdir()
        result = _activation_result(recorded=False) if name == "activations" else _training_result()
        for run in result["runs"]:
            run.pop("load", None), run.pop("loaded", None)  # from before the load record
        (results / f"{name}-cpu.json").write_text(json.dumps(result))
        monkeypatch.setattr(script, "RESULTS", results)
        monkeypatch.setattr(script, "README", _readme(tmp_path, f"{name}-cpu"))
        with pytest.raises(SystemExit) as exit_:
            script.main(["--update-readme"])
        assert exit_.value.code == 1


# ------------------------------------------------------------------ before the rounds


class FakeProc:
    """A /proc with a stat file and a few processes whose CPU time moves only when the fake sleep says so."""

    def __init__(self, root: Path, processes: dict[int, tuple[str, bytes]]):
        self.root, self.processes, self.now = root, processes, 100.0
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.cores = sorted(os.sched_getaffinity(0))
        self.used = dict.fromkeys(processes, 0)  # ticks per pid
        self.busy = 1000  # busy ticks of the first core
        self.per_second: dict[int, float] = {}  # cores each pid holds while the fake sleep runs
        self.write()

    def write(self):
        lines = ["cpu  1 2 3 4 5 6 7 8 9 10"]
        lines += [f"cpu{c} {self.busy if i == 0 else 500} 0 0 90000 0 0 0 0 0 0" for i, c in enumerate(self.cores)]
        (self.root / "stat").write_text("\n".join(lines) + "\nintr 0\n")
        for pid, (comm, cmdline) in self.processes.items():
            folder = self.root / str(pid)
            folder.mkdir(exist_ok=True)
            rest = " ".join(["S", "1"] + ["0"] * 9 + [str(self.used[pid]), "0"] + ["0"] * 20)
            (folder / "stat").write_text(f"{pid} ({comm}) {rest}\n")
            if cmdline:
                (folder / "cmdline").write_bytes(cmdline)

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        for pid, cores in self.per_second.items():
            self.used[pid] += round(cores * seconds * self.ticks)
            self.busy += round(cores * seconds * self.ticks)
        self.write()


def _fake_proc(tmp_path):
    root = tmp_path / "proc"
    root.mkdir()
    return FakeProc(root, {101: ("python", b"python\0tools/reproduce.py\0--paper\0c\0"),
                           202: ("odd (name) x", b""), os.getpid(): ("pytest", b"pytest\0")})


def test_the_check_before_measuring_names_the_busiest_processes(tmp_path):
    proc = _fake_proc(tmp_path)
    proc.per_second = {101: 1.0, 202: 0.5, os.getpid(): 0.0}
    reading = machine.quiet_check(2.0, proc=proc.root, sleep=proc.sleep, clock=proc.clock)
    assert reading["wall_s"] == 2.0 and reading["loaded"] is True
    assert reading["other_cores"] == pytest.approx(1.5, abs=0.05)  # our own CPU over the fake 2 s is ~0
    assert [(b["pid"], b["command"], b["cpu_percent"]) for b in reading["busiest"]] == \
        [(101, "python tools/reproduce.py --paper c", 100.0), (202, "odd (name) x", 50.0)]
    warning = machine.busy_warning(reading)
    assert warning.startswith("warning: the machine is busy: other processes held 1.5")
    assert "101 python tools/reproduce.py --paper c (100 %CPU); 202 odd (name) x (50 %CPU)" in warning


def test_a_quiet_machine_passes_the_check(tmp_path, capsys):
    proc = _fake_proc(tmp_path)
    reading = machine.quiet_check(2.0, proc=proc.root, sleep=proc.sleep, clock=proc.clock)
    assert reading["loaded"] is False and reading["busiest"] == [] and machine.busy_warning(reading) is None
    kept = machine.check_before_measuring(True, check=lambda: reading)
    assert "busiest" not in kept and kept["loaded"] is False and capsys.readouterr().err == ""


def test_require_quiet_exits_3_on_a_busy_or_unreadable_machine(tmp_path, capsys):
    proc = _fake_proc(tmp_path)
    proc.per_second = {101: 1.0}
    busy = machine.quiet_check(2.0, proc=proc.root, sleep=proc.sleep, clock=proc.clock)
    assert machine.check_before_measuring(False, check=lambda: busy)["loaded"] is True  # a warning only
    assert "101 python tools/reproduce.py" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        machine.check_before_measuring(True, check=lambda: busy)
    assert exit_.value.code == machine.BUSY_EXIT == 3
    (proc.root / "stat").unlink()  # no /proc/stat: the load cannot be read, so it cannot count as quiet
    unread = machine.quiet_check(2.0, proc=proc.root, sleep=proc.sleep, clock=proc.clock)
    assert unread["loaded"] is None and "cannot be read" in machine.busy_warning(unread)
    with pytest.raises(SystemExit) as exit_:
        machine.check_before_measuring(True, check=lambda: unread)
    assert exit_.value.code == 3


@pytest.mark.parametrize("name", ["activations", "training"])
def test_a_script_with_require_quiet_measures_nothing_on_a_busy_machine(name, tmp_path, monkeypatch, capsys):
    script = _script(name)
    busy = dict(_load(1.2), busiest=[{"pid": 101, "command": "python tools/reproduce.py", "cpu_percent": 99.0}])
    monkeypatch.setattr(machine, "quiet_check", lambda: busy)
    monkeypatch.setattr(script, "bench_device", lambda *a, **k: pytest.fail("measured on a busy machine"))
    with pytest.raises(SystemExit) as exit_:
        script.main(["--device", "cpu", "--quick", "--require-quiet", "--out", str(tmp_path)])
    assert exit_.value.code == 3 and not list(tmp_path.iterdir())
    assert "101 python tools/reproduce.py (99 %CPU)" in capsys.readouterr().err


def test_the_activation_table_says_how_torchs_fixed_kernels_compare_with_the_fused_adact():
    acts = _script("activations")
    row = lambda ratio: {"ratio_to_relu": ratio}  # noqa: E731
    table = {("mish", "train"): {"reference": row(7.0)}, ("tanh", "train"): {"reference": row(1.0)},
             ("adact", "train"): {"reference": row(40.0), "fast (native)": row(2.5), "fast (eager)": row(25.0)}}
    note = acts._fixed_note(table)
    assert "mish 7.00×, tanh 1.00×" in note and "takes 2.50×" in note and "less than torch's Mish alone" in note
    table[("adact", "train")]["fast (native)"] = row(9.0)
    assert "less than" not in acts._fixed_note(table) and "takes 9.00×" in acts._fixed_note(table)
    assert acts._fixed_note({("adact", "train"): {"fast (native)": row(2.5)}}) == ""
