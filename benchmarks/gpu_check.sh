#!/usr/bin/env bash
# gpu_check.sh: the CUDA checks of mixact_lib, in one run, on a bare GPU machine from a clean clone.
#
#     bash benchmarks/gpu_check.sh        # from anywhere; it cd's to the repository root
#
# What it does, in order (each step's output also goes to results/bench/gpu_check.log; the script
# stops at the first failing step, except step d: when it fails, e.g. because Fashion-MNIST is
# missing, the error is shown, step e still runs, and the script then exits non-zero):
#   0. setup: runs tools/setup.sh when .venv/bin/python is missing (venv, package with extras,
#      Fashion-MNIST where it can be had); then checks for CUDA. Without CUDA it prints one line,
#      writes nothing and exits 0.
#   a. fast-vs-reference equivalence: tests/test_fast.py and tests/test_native.py (these run on the
#      CPU whatever MIXACT_TEST_DEVICE says), then an inline check on CUDA: adact, mix, arelu and prelu,
#      fast vs reference with the same state, eval mode, forward+backward on (8, 16, 12, 12) in
#      float32 (rtol=atol=1e-5; a parameter gradient's atol grows with sqrt of the terms it sums, see
#      tolerance() below) and bfloat16 (against the float32 reference on the same inputs and
#      parameters, upcast; rtol=1.6e-2, atol=1e-2) -> results/bench/gpu_equivalence.json
#   a2. the native CPU kernels (adact, mix, arelu, pau) at 1 thread and at every core of the host, a
#      scaling check of their threading -> results/bench/gpu_host/activations-cpu[-t<cores>].json
#   b. activation benchmark at 2^26 elements (64x64x128x128, float32 and bfloat16), eager and
#      torch.compile backends -> results/bench/activations-cuda.json
#   c. training benchmark (paper nets vs their ReLU twins, images/s and peak memory)
#      -> results/bench/training-cuda.json
#   d. one paper C AdAct epoch on full Fashion-MNIST -> results/bench/gpu_paper_c_adact_epoch/
#      (that folder is replaced on every run, so the epoch is always measured afresh)
#   e. deletes any checkpoint.pt under results/bench/ (results only, never weights), prints the GPU
#      targets met or missed, where everything was written, and a reminder to commit results/bench/.
#
# How long: meant to finish in under 9 minutes on one GPU (most of it the benchmark of step b,
# including torch.compile's one-off compiles on a cold cache), plus setup time on a fresh machine.
# Each step's seconds are printed at the end.
#
# The GPU targets it serves (step e prints them against the measured numbers):
#   * AdAct forward+backward <= 1.5x ReLU at 2^26 elements, float32        (activations-cuda.json)
#   * paper C ConvNet + AdAct >= 0.9x the ReLU twin's images/s, and
#     <= 1.1x the ReLU twin's peak memory                                  (training-cuda.json)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [ ! -e .venv/bin/python ]; then
  echo "gpu_check: no .venv/bin/python; running tools/setup.sh"
  bash tools/setup.sh
fi
PY=.venv/bin/python

cuda_rc=0
"$PY" -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 3)" || cuda_rc=$?
if [ "$cuda_rc" -eq 3 ]; then
  echo "gpu_check: no CUDA device; skipping the CUDA checks (nothing written)"
  exit 0
elif [ "$cuda_rc" -ne 0 ]; then
  echo "gpu_check: the CUDA check itself failed (exit $cuda_rc); is torch installed in .venv?" >&2
  exit "$cuda_rc"
fi

OUT=results/bench
LOG="$OUT/gpu_check.log"
EPOCH_OUT="$OUT/gpu_paper_c_adact_epoch"
mkdir -p "$OUT"
: > "$LOG"
final_status=0
current_step="setup"
timings=""

finish() {
  local rc=$?
  if [ -n "${EPOCH_TMP:-}" ]; then rm -f "$EPOCH_TMP"; fi
  # results only, never weights
  find "$OUT" -name checkpoint.pt -print -delete 2>/dev/null | sed 's/^/gpu_check: deleted /' || true
  if [ "$rc" -ne 0 ] && [ "$current_step" != "done" ]; then
    echo "gpu_check: FAILED in step: $current_step (exit $rc); see $LOG" | tee -a "$LOG" >&2
  fi
}
trap finish EXIT

step() {
  current_step="$1"
  step_start=$SECONDS
  printf '\n=== gpu_check %s: %s ===\n' "$1" "$2" | tee -a "$LOG"
}
step_done() {
  timings="${timings}  ${current_step}: $((SECONDS - step_start)) s"$'\n'
}

step "0" "environment"
{ "$PY" -c "import torch, mixact_lib; print('mixact', mixact_lib.__version__, '| torch', torch.__version__, '| CUDA', torch.version.cuda, '|', torch.cuda.get_device_name(0))"
  git rev-parse HEAD 2>/dev/null | sed 's/^/commit /' || true
} 2>&1 | tee -a "$LOG"
step_done

# ---------------------------------------------------------------- a. equivalence
step "a" "fast-vs-reference equivalence (tests, then the inline CUDA check)"
MIXACT_TEST_DEVICE=cuda "$PY" -m pytest -q tests/test_fast.py tests/test_native.py -x 2>&1 | tee -a "$LOG"

# The inline check. Arguments: device, JSON path (tests/test_gpu_check.py runs this block on the CPU).
"$PY" - cuda "$OUT/gpu_equivalence.json" <<'EQUIVALENCE_PY' 2>&1 | tee -a "$LOG"
import json
import sys
import time

import torch

from mixact_lib.activations import fast_core, make_activation

device = torch.device(sys.argv[1])
out_path = sys.argv[2]
NAMES = ["adact", "mix", "arelu", "prelu"]
SHAPE = (8, 16, 12, 12)
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.bfloat16: dict(rtol=1.6e-2, atol=1e-2)}


def tolerance(key, dtype, terms):
    """The tolerance of one compared tensor.

    Output and input gradient: TOL as it stands. A float32 parameter gradient is a sum of `terms`
    per-element contributions (18,432 for a scalar parameter here), and two correct float32 sums in a
    different order differ by more than 1e-5 (measured on the CPU: 4e-5 for arelu's `a`, and each
    implementation is 1e-5 to 3e-5 away from the float64 sum), so its atol grows like a random walk's
    rounding error, with sqrt(terms): 1.4e-3 at 18,432. A wrong gradient formula is off by O(|grad|).
    In bfloat16 the rounding of the result dominates and TOL stands.
    """
    tol = dict(TOL[dtype])
    if key.startswith("grad[") and dtype == torch.float32:
        tol["atol"] = tol["atol"] * terms ** 0.5
    return tol


def run(module, x, g):
    """Output, input gradient and every parameter gradient of one forward+backward."""
    x = x.detach().clone().requires_grad_()
    module.zero_grad(set_to_none=True)
    y = module(x)
    y.backward(g)
    grads = {"output": y.detach(), "input_grad": x.grad.detach()}
    for pname, p in module.named_parameters():
        grads[f"grad[{pname}]"] = None if p.grad is None else p.grad.detach()
    return grads


def terms_per_entry(module):
    """Per-element contributions summed into each entry of each parameter's gradient."""
    size = 1
    for n in SHAPE:
        size *= n
    return {f"grad[{pname}]": max(1, size // p.numel()) for pname, p in module.named_parameters()}


records, failures = [], []
for name in NAMES:
    torch.manual_seed(0)
    ref = make_activation(name, impl="reference")
    fast = make_activation(name, impl="fast")
    fast.load_state_dict(ref.state_dict())
    ref.to(device).eval()
    fast.to(device).eval()
    x = torch.randn(SHAPE, device=device)
    g = torch.randn(SHAPE, device=device)  # fixed upstream gradient
    for dtype in (torch.float32, torch.bfloat16):
        if dtype == torch.float32:
            expected = run(ref, x, g)
            got = run(fast, x, g)
        else:
            # the float32 reference on the same inputs: bfloat16 values, upcast
            x_lo, g_lo = x.to(dtype), g.to(dtype)
            ref32 = make_activation(name, impl="reference").to(device).eval()
            ref32.load_state_dict({k: v.to(dtype).float() if v.is_floating_point() else v
                                   for k, v in ref.state_dict().items()})
            fast_lo = make_activation(name, impl="fast").to(device).eval()
            fast_lo.load_state_dict(ref.state_dict())
            fast_lo.to(dtype)
            expected = run(ref32, x_lo.float(), g_lo.float())
            got = run(fast_lo, x_lo, g_lo)
        errors, tolerances, problems = {}, {}, []
        terms = terms_per_entry(ref)
        if set(expected) != set(got):
            problems.append(f"different tensors: reference {sorted(expected)}, fast {sorted(got)}")
        for key in sorted(set(expected) & set(got)):
            e, a = expected[key], got[key]
            if e is None or a is None:
                if (e is None) != (a is None):
                    problems.append(f"{key}: one implementation has no gradient")
                continue
            if a.dtype != dtype:
                problems.append(f"{key}: dtype {a.dtype}, expected {dtype}")
            a32 = a.float()
            errors[key] = (a32 - e.float()).abs().max().item() if a32.shape == e.shape else float("inf")
            tolerances[key] = tolerance(key, dtype, terms.get(key, 1))
            try:
                torch.testing.assert_close(a32, e.float(), **tolerances[key])
            except AssertionError as err:
                problems.append(f"{key}: {str(err).splitlines()[0]} ({' '.join(str(err).split())[:300]})")
        worst = max(errors.values()) if errors else float("nan")
        worst_key = max(errors, key=errors.get) if errors else "-"
        worst_ref = expected[worst_key].abs().max().item() if errors else float("nan")
        ok = not problems
        dname = str(dtype).replace("torch.", "")
        print(f"{'ok  ' if ok else 'FAIL'} {name:6s} {dname:8s} max abs error {worst:.3e} (in {worst_key}, max |reference| {worst_ref:.3g})"
              + ("" if ok else "  <- " + "; ".join(problems)), flush=True)
        records.append({"activation": name, "dtype": dname, "ok": ok, "max_abs_error": worst,
                        "max_abs_error_by_tensor": errors, "tolerance_by_tensor": tolerances, "problems": problems})
        if not ok:
            failures.append(f"{name} {dname}")

summary = {
    "torch": torch.__version__, "device": str(device),
    "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
    "fast_backend": getattr(fast_core, "_backend", "?"), "shape": list(SHAPE), "mode": "eval",
    "date": time.strftime("%Y-%m-%d %H:%M"),
    "bfloat16_compared_against": "float32 reference on the bfloat16 inputs and parameters, upcast",
    "all_ok": not failures, "records": records,
}
with open(out_path, "w") as f:
    json.dump(summary, f, indent=1)
print(f"wrote {out_path}")
if failures:
    print("equivalence check FAILED: " + ", ".join(failures))
    sys.exit(1)
print(f"equivalence check passed: {len(records)} (activation, dtype) pairs on {device}")
EQUIVALENCE_PY
step_done

# ---------------------------------------------------------------- a2. native CPU kernels on the host's cores
# The native CPU kernels split their loops over torch's threads (built with -fopenmp since issue 31); a GPU
# host has many cores, so time them there at every core and at one, as a scaling check (not a README table).
step "a2" "native CPU kernels at 1 and $(nproc) threads (writes $OUT/gpu_host/)"
for threads in 1 "$(nproc)"; do
  "$PY" benchmarks/activations.py --device cpu --threads "$threads" --rounds 10 --names adact mix arelu pau \
    --hold-freed-memory --out "$OUT/gpu_host" 2>&1 | tee -a "$LOG"
done
step_done

# ---------------------------------------------------------------- b. activation benchmark
step "b" "activation benchmark at 2^26 elements (writes $OUT/activations-cuda.json)"
"$PY" benchmarks/activations.py --device cuda --compile 2>&1 | tee -a "$LOG"
step_done

# ---------------------------------------------------------------- c. training benchmark
step "c" "training benchmark with peak memory (writes $OUT/training-cuda.json)"
"$PY" benchmarks/training.py --device cuda --compile 2>&1 | tee -a "$LOG"
step_done

# ---------------------------------------------------------------- d. one paper C epoch
step "d" "one paper C AdAct epoch on full Fashion-MNIST (writes $EPOCH_OUT/)"
rm -rf "$EPOCH_OUT"  # a finished run there would only be read back, not measured
EPOCH_TMP="$(mktemp)"
set +e
"$PY" -m mixact_lib run --paper c --dataset fmnist --activation adact --epochs 1 --device cuda \
  --out "$EPOCH_OUT" --no-checkpoint --quiet 2>&1 | tee -a "$LOG" "$EPOCH_TMP"
epoch_rc=${PIPESTATUS[0]}
set -e
if [ "$epoch_rc" -ne 0 ]; then
  final_status=$epoch_rc
  if grep -q "dataset 'fmnist' not found" "$EPOCH_TMP"; then
    echo "gpu_check: Fashion-MNIST is missing (the data layer's error is above); step d not done," \
         "continuing to the end with exit status $epoch_rc" | tee -a "$LOG"
  else
    echo "gpu_check: the paper C epoch failed (exit $epoch_rc, see above); continuing to the end" | tee -a "$LOG"
  fi
fi
step_done

# ---------------------------------------------------------------- e. summary
step "e" "summary"
find "$OUT" -name checkpoint.pt -print -delete | sed 's/^/deleted /' | tee -a "$LOG"

# The GPU targets against the measured numbers (informational: a missed target does not fail the run).
# Argument: the device suffix of the JSON files (tests/test_gpu_check.py runs this block on the CPU files).
"$PY" - cuda <<'TARGETS_PY' 2>&1 | tee -a "$LOG"
import json
import sys
from pathlib import Path

dev = sys.argv[1]
bench = Path("results/bench")
acts = json.loads((bench / f"activations-{dev}.json").read_text())
train = json.loads((bench / f"training-{dev}.json").read_text())


def verdict(value, limit, sense):
    if value is None:
        return "not measured"
    ok = value <= limit if sense == "max" else value >= limit
    return f"{value:.2f} {'met' if ok else 'MISSED'}"


run32 = next(r for r in acts["runs"] if r["dtype"] == "float32")
size = 1
for n in run32["shape"]:
    size *= n
print(f"GPU targets ({dev}; fast implementation, per backend):")
for mode in ("train", "eval"):
    for r in run32["rows"]:
        if (r["activation"], r["mode"], r["impl"]) == ("adact", mode, "fast"):
            print(f"  adact fwd+bwd ({mode} mode) <= 1.5x ReLU at {size} float32 elements "
                  f"[{r['backend']}]: {verdict(r['ratio_to_relu'], 1.5, 'max')}")
for r in train["runs"][0]["rows"]:
    if (r["net"], r["activation"], r["impl"]) == ("paper_c_convnet", "adact", "fast"):
        print(f"  ConvNet + adact images/s >= 0.9x ReLU twin [{r['backend']}]: "
              f"{verdict(r['throughput_vs_relu'], 0.9, 'min')}")
        print(f"  ConvNet + adact peak memory <= 1.1x ReLU twin [{r['backend']}]: "
              f"{verdict(r.get('memory_vs_relu'), 1.1, 'max')}")
TARGETS_PY

{
  echo
  echo "gpu_check: seconds per step:"
  printf '%s' "$timings"
  echo "  total: ${SECONDS} s"
  echo
  echo "gpu_check: written under $ROOT/$OUT/:"
  for f in "$OUT/gpu_check.log" "$OUT/gpu_equivalence.json" "$OUT/activations-cuda.json" \
           "$OUT/training-cuda.json" "$OUT/gpu_host/" "$EPOCH_OUT/"; do
    if [ -e "$f" ]; then echo "  $f"; else echo "  $f (missing)"; fi
  done
  echo
  echo "gpu_check: now commit the results (results only: no checkpoint.pt is left, *.pt is git-ignored):"
  echo "  git add results/bench/ && git commit -m 'CUDA benchmark and equivalence results'"
  if [ "$final_status" -ne 0 ]; then
    echo
    echo "gpu_check: finished with exit status $final_status: step d (the paper C epoch) failed; see above"
  else
    echo
    echo "gpu_check: all steps passed"
  fi
} | tee -a "$LOG"
current_step="done"
exit "$final_status"
