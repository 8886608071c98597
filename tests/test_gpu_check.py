"""benchmarks/gpu_check.sh, the one-shot CUDA check, as far as a CPU-only machine can test it.

Without CUDA the script must print its skip line, exit 0 and write nothing; its syntax must hold;
its four steps must stay in it; the flags of its ``mixact_lib run`` line must exist; and the two
Python blocks it runs inline must work (here on the CPU: the equivalence check and the targets table).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"
BENCH = ROOT / "results" / "bench"
BASH = shutil.which("bash")
SKIP_LINE = "gpu_check: no CUDA device; skipping the CUDA checks (nothing written)"

needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")


def _text() -> str:
    return SCRIPT.read_text()


def _files(folder: Path) -> dict[str, int]:
    """Every file under folder (recursively), with its modification time."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def _heredoc(marker: str) -> str:
    """The body of the script's ``<<'marker'`` heredoc."""
    match = re.search(rf"<<'{marker}'[^\n]*\n(.*?)\n{marker}\n", _text(), re.S)
    assert match, f"no <<'{marker}' heredoc in {SCRIPT.name}"
    return match.group(1)


@needs_bash
@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present: the script would run the full GPU check")
def test_without_cuda_it_prints_the_skip_line_exits_0_and_writes_nothing():
    assert (ROOT / ".venv" / "bin" / "python").exists(), "the test expects .venv (else the script runs setup)"
    before = _files(BENCH)
    proc = subprocess.run([BASH, str(SCRIPT.relative_to(ROOT))], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert SKIP_LINE in proc.stdout.splitlines(), proc.stdout + proc.stderr
    assert "setup.sh" not in proc.stdout, "setup ran although .venv exists"
    assert _files(BENCH) == before, "the script changed results/bench/ without CUDA"


@needs_bash
def test_the_script_parses_and_is_executable():
    proc = subprocess.run([BASH, "-n", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert SCRIPT.stat().st_mode & 0o111, "benchmarks/gpu_check.sh is not executable"
    assert "set -euo pipefail" in _text()


def test_every_step_is_still_in_the_script():
    text = _text()
    for command in [
        "MIXACT_TEST_DEVICE=cuda",
        '"$PY" -m pytest -q tests/test_fast.py tests/test_native.py -x',
        "<<'EQUIVALENCE_PY'",
        '"$PY" benchmarks/activations.py --device cuda --compile',
        '"$PY" benchmarks/training.py --device cuda --compile',
        '"$PY" benchmarks/activations.py --device cpu --threads "$threads"',  # the native kernels' threading
        '"$PY" -m mixact_lib run --paper c --dataset fmnist --activation adact --epochs 1 --device cuda',
        "gpu_check.log",
        "gpu_equivalence.json",
        "checkpoint.pt",
        "bash tools/setup.sh",
    ]:
        assert command in text, f"{SCRIPT.name} lost: {command}"


def test_the_paper_c_run_uses_only_flags_the_cli_has(capsys):
    from mixact_lib.cli import build_parser

    line = re.search(r'-m mixact_lib run (.*?[^\\])\n', _text(), re.S).group(1)  # with its continuation
    flags = set(re.findall(r"(--[a-z][a-z-]*)", line))
    assert {"--paper", "--dataset", "--activation", "--epochs", "--device", "--out"} <= flags
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])  # what `python -m mixact_lib run --help` prints
    known = set(re.findall(r"(--[a-z][a-z-]*)", capsys.readouterr().out))
    assert flags <= known, f"flags `mixact_lib run --help` does not list: {sorted(flags - known)}"


def test_the_inline_equivalence_check_passes_on_the_cpu(tmp_path):
    out = tmp_path / "equivalence.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread: a small CPU job on a shared machine
    proc = subprocess.run([sys.executable, "-", "cpu", str(out)], input=_heredoc("EQUIVALENCE_PY"), cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "max abs error" in line]
    assert len(lines) == 8 and all(line.startswith("ok") for line in lines), proc.stdout
    summary = json.loads(out.read_text())
    assert summary["all_ok"] and summary["device"] == "cpu"
    assert {(r["activation"], r["dtype"]) for r in summary["records"]} == {
        (n, d) for n in ("adact", "mix", "arelu", "prelu") for d in ("float32", "bfloat16")}


@pytest.mark.skipif(not ((BENCH / "activations-cpu.json").exists() and (BENCH / "training-cpu.json").exists()),
                    reason="no CPU benchmark results to read")
def test_the_targets_block_reads_the_benchmark_json():
    proc = subprocess.run([sys.executable, "-", "cpu"], input=_heredoc("TARGETS_PY"), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "adact fwd+bwd (train mode) <= 1.5x ReLU" in proc.stdout
    assert "ConvNet + adact images/s >= 0.9x ReLU twin" in proc.stdout
