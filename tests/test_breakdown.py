"""Where the time goes (``mixact_lib.studies.profiles`` and ``benchmarks/breakdown.py``)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mixact_lib.studies import profiles

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name,group", [
    ("FusedActivation", "activation"), ("FusedActivationBackward", "activation"), ("aten::clamp_min", "activation"),
    ("aten::threshold_backward", "activation"), ("aten::mkldnn_convolution", "convolution"),
    ("aten::convolution_backward", "convolution"), ("aten::native_batch_norm_backward", "batchnorm"),
    ("aten::max_pool2d_with_indices", "pooling"), ("NativeMaxPool2", "pooling"), ("NativeMaxPool2Backward", "pooling"),
    ("aten::addmm", "linear"), ("Optimizer.step#AdamW.step", "optimizer"),
    ("aten::_foreach_mul_", "optimizer"), ("aten::fill_", "other"), ("aten::softmax", "other")])
def test_operators_fall_into_their_groups(name, group):
    assert profiles.group_of(name) == group


def test_rates_divide_work_by_time():
    counts = {"flops": 50, "bytes": 10}
    r = profiles.rates(seconds=1e-3, elements=10**6, counts=counts, ghz=2.0, peak_gflops=100.0, bandwidth_gbs=20.0)
    assert r["ns_per_element"] == pytest.approx(1.0) and r["cycles_per_element"] == pytest.approx(2.0)
    assert r["gb_per_s"] == pytest.approx(10.0) and r["of_bandwidth"] == pytest.approx(0.5)
    assert r["gflop_per_s"] == pytest.approx(50.0) and r["of_peak_flops"] == pytest.approx(0.5)
    unknown = profiles.rates(1e-3, 10**6, counts, ghz=None, peak_gflops=None, bandwidth_gbs=20.0)
    assert unknown["cycles_per_element"] is None and unknown["of_peak_flops"] is None


def test_peak_follows_the_instruction_set_and_the_stated_clock(tmp_path):
    assert profiles.machine_peak(2.5, "AVX512")["gflops"] == pytest.approx(2.5 * 16 * 2 * 2)
    assert profiles.machine_peak(2.5, "AVX2")["gflops"] == pytest.approx(2.5 * 8 * 2 * 2)
    assert profiles.machine_peak(None, "AVX2")["gflops"] is None
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\ncpu MHz\t\t: 2600.000\n")
    assert profiles.nominal_ghz(info) == pytest.approx(2.6)
    info.write_text("processor\t: 0\n")
    assert profiles.nominal_ghz(info) is None and profiles.nominal_ghz(tmp_path / "absent") is None


def test_every_timed_pass_has_its_counts():
    for name, mode in [("relu", "train"), ("adact", "train"), ("adact", "eval"), ("mix", "train")]:
        for direction in ("forward", "backward"):
            counts = profiles.PASS_COUNTS[(profiles.counted(name, mode), direction)]
            assert counts["bytes"] == (8 if direction == "forward" else 12)
    # the training kernel does the eval kernel's work plus RReLU's random term
    for direction in ("forward", "backward"):
        assert profiles.PASS_COUNTS[("adact", direction)]["flops"] > profiles.PASS_COUNTS[("adact-eval", direction)]["flops"]


def test_pass_times_time_every_pass_every_round():
    seconds = profiles.pass_times([("relu", "train"), ("adact", "eval")], (2, 3, 4, 4), rounds=3)
    assert set(seconds) == {(n, m, p) for n, m in [("relu", "train"), ("adact", "eval")] for p in ("forward", "backward")}
    assert all(len(times) == 3 and min(times) > 0 for times in seconds.values())


def test_a_step_breakdown_adds_up_and_finds_the_activation():
    rows = profiles.step_breakdowns([("paper_a_net", "relu"), ("paper_a_net", "mix")], steps=1, blocks=3, warm=1,
                                    batch_size=4)
    assert [(r["model"], r["activation"]) for r in rows] == [("paper_a_net", "relu"), ("paper_a_net", "mix")]
    for row in rows:
        assert row["step_ms"] == pytest.approx(sum(row["groups"].values())) and len(row["blocks"]) == 3
        assert row["groups"]["activation"] > 0 and row["groups"]["convolution"] > 0 and 0 < row["activation_share"] < 1
        assert row["groups"]["activation"] == pytest.approx(sorted(b["activation"] for b in row["blocks"])[1])


def test_the_quick_script_writes_its_table_and_json(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "benchmarks/breakdown.py", "--quick", "--out", str(tmp_path)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((tmp_path / "profile-cpu.json").read_text())
    run = result["runs"][0]
    assert {(p["activation"], p["mode"], p["pass"]) for p in run["passes"]} >= {("adact", "train", "backward")}
    assert run["load"]["other_cores"] is not None and "loaded" in result
    assert "| adact | backward |" in proc.stdout and "added by adact" in proc.stdout and "| tanh |" in proc.stdout


def test_the_in_cache_harness_builds_from_the_kernel_source_and_reports_every_pass():
    source = ROOT / "benchmarks" / "native" / "cycles.cpp"
    ns = profiles.in_cache_ns(source, elements=4096, reps=3)
    assert set(ns) == {(n, p) for n in ("adact", "adact-eval", "mix", "piecewise-linear") for p in ("forward", "backward")}
    assert all(v > 0 for v in ns.values())
    assert profiles.in_cache_ns(source, compiler="no-such-compiler-here") is None


def test_the_pool_control_times_every_input_every_round():
    seconds = profiles.pool_after((2, 3, 8, 8), rounds=2)
    assert set(seconds) == set(profiles.POOL_INPUTS) and all(len(t) == 2 and min(t) > 0 for t in seconds.values())
