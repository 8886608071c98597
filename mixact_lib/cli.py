"""Command line: ``python -m mixact_lib run --paper c --dataset fmnist --activation adact``.

Paper defaults are filled in (see ``mixact_lib.runs.config.PAPER_DEFAULTS``);
every flag overrides one of them. Errors in the input print one line and
exit with status 2; the results folder is the last line printed on success.
A sweep in which some runs failed prints each failed folder with its error's last lines
and exits with status 1 (the other runs finish; see ``mixact_lib.runs.executors``).
"""
from __future__ import annotations

import argparse
import json
import sys

import torch

from .activations import available_activations
from .data import DatasetNotFoundError, available_datasets
from .runs.config import PAPERS, paper_config
from .runs.runner import run
from .runs.executors import EXECUTORS
from .runs.cells import grid_status
from .runs.grid import SweepFailed, cluster_options, grid_configs, load_grid, sweep
from .models import available_models
from .training import OPTIMIZERS, TrainingDivergedError


def _json_dict(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err.msg}): {text!r}") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object like '{{\"norm\": \"abs\"}}', got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``error: ...``, exit status 2) like every other input error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m mixact_lib", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train one configuration and write its results folder",
                       description="Train one configuration; paper defaults are filled in, flags override them.")
    r.add_argument("--paper", choices=PAPERS, default="c", help="whose protocol fills the defaults (default: c)")
    r.add_argument("--dataset", default=None, help=f"one of {', '.join(available_datasets())} (default: fmnist)")
    r.add_argument("--model", default=None, help=f"one of {', '.join(available_models())} (default: the paper's)")
    r.add_argument("--activation", default=None,
                   help=f"registry name, or 'optimized' with --optimized-from: {', '.join(available_activations())}")
    r.add_argument("--activation-kwargs", type=_json_dict, default=None,
                   help='JSON object of activation arguments, e.g. \'{"norm": "abs"}\'')
    r.add_argument("--model-kwargs", type=_json_dict, default=None,
                   help='JSON object of model arguments, e.g. \'{"channels": [16, 32, 64, 128]}\'')
    r.add_argument("--epochs", type=_positive_int, default=None,
                   help="epochs, >= 1 (paper A: per cycle, three cycles; B and C: total)")
    r.add_argument("--optimizer", choices=OPTIMIZERS, default=None, help="optimiser (default: the paper's)")
    r.add_argument("--lr", type=float, default=None, help="learning rate (default: the paper's)")
    r.add_argument("--act-lr", type=float, default=None, help="learning rate of activation parameters (default: --lr)")
    r.add_argument("--lr-step-at", nargs="+", default=None, metavar="FRACTION",
                   help="paper B: where lr drops 10x, as fractions of the epochs, or 'thirds' "
                        "(default: the authors' 0.4667 0.6667, i.e. epochs 70 and 100 of 150)")
    r.add_argument("--weight-decay", type=float, default=None, help="weight decay of network parameters")
    r.add_argument("--batch-size", type=_positive_int, default=None, help="training batch size")
    r.add_argument("--train-subset", type=_positive_int, default=None,
                   help="train on a class-stratified seeded subset of N images")
    r.add_argument("--test-subset", type=_positive_int, default=None, help="evaluate on N test images")
    r.add_argument("--val-fraction", type=float, default=0.0, help="hold out this fraction of train as validation")
    r.add_argument("--pad-to", type=_positive_int, default=None, help="zero-pad images to this size (e.g. 32)")
    r.add_argument("--data-root", default=None, help="folder with the dataset files (else $MIXACT_DATA, ./data, ...)")
    r.add_argument("--optimized-from", default=None,
                   help="results folder of a mixture run: build each site with its dominant activation (paper C)")
    r.add_argument("--seed", type=int, default=0, help="seed for init, batch order and RReLU noise")
    r.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    r.add_argument("--out", default=None, help="results folder (default: runs/<paper>-<dataset>-...)")
    r.add_argument("--no-resume", action="store_true", help="refuse to reuse an existing results folder")
    r.add_argument("--no-checkpoint", action="store_true", help="delete checkpoint.pt when the run finishes")
    r.add_argument("--quiet", action="store_true", help="no progress bars")

    w = sub.add_parser("sweep", help="run a grid of configurations (resumable) and print the tidy table",
                       description="Run every point of a grid file; finished runs are read back, killed ones resume.")
    w.add_argument("grid", help="YAML file with paper, base (overrides), grid (key: [values]) and root (folder)")
    w.add_argument("--csv", default=None, help="also write the table of summaries to this CSV file")
    w.add_argument("--quiet", action="store_true", help="no progress bar")
    w.add_argument("--threads", type=_positive_int, default=None,
                   help="torch CPU threads per run (default: torch's, or --num-cpus on a cluster); use 1 when "
                        "another job shares the CPU")
    w.add_argument("--status", action="store_true",
                   help="print each run's state from its folder (finished, partial, claimed, failed, not started)")
    w.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local: one run after another here; ray: one Ray task per run; slurm: a SLURM job array "
                        "(ray and slurm need pip install -e \".[cluster]\")")
    w.add_argument("--address", default=None,
                   help="ray: the cluster to join (default: $RAY_ADDRESS, else a local cluster)")
    w.add_argument("--workers", type=_positive_int, default=None,
                   help="runs at once (ray: size of the local cluster; slurm: array parallelism)")
    w.add_argument("--num-cpus", type=_positive_int, default=None, help="CPUs per run (default: 1)")
    w.add_argument("--num-gpus", type=float, default=None, help="GPUs per run (default: 0; ray accepts 0.5)")
    w.add_argument("--partition", default=None, help="slurm: partition (default: the cluster's)")
    w.add_argument("--time", type=_positive_int, default=None, dest="time_min",
                   help="slurm: time limit per run in minutes (default: 60)")
    return parser


def _step_points(values: list[str] | None) -> str | list[float] | None:
    """``--lr-step-at``: ``thirds``, or fractions (checked by the config, which says what is allowed)."""
    if values is None or values == ["thirds"]:
        return None if values is None else "thirds"
    try:
        return [float(v) for v in values]
    except ValueError:
        raise ValueError(f"--lr-step-at takes 'thirds' or fractions such as 0.4667 0.6667, "
                                         f"got {' '.join(values)}") from None


def _config_from_args(args: argparse.Namespace):
    overrides = {
        "dataset": args.dataset, "model": args.model, "activation": args.activation,
        "activation_kwargs": args.activation_kwargs, "model_kwargs": args.model_kwargs,
        "batch_size": args.batch_size, "train_subset": args.train_subset, "test_subset": args.test_subset,
        "pad_to": args.pad_to, "data_root": args.data_root, "optimized_from": args.optimized_from,
        "out": args.out,
        "lr_step_at": _step_points(args.lr_step_at),
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.optimized_from and "activation" not in overrides:
        overrides["activation"] = "optimized"
    return paper_config(args.paper, epochs=args.epochs, optimizer=args.optimizer, lr=args.lr,
                        weight_decay=args.weight_decay, act_lr=args.act_lr, val_fraction=args.val_fraction,
                        seed=args.seed, device=args.device, keep_checkpoint=not args.no_checkpoint, **overrides)


def _status(args: argparse.Namespace) -> int:
    configs, root = grid_configs(args.grid)
    states = grid_status(configs)
    width = max(len(s["folder"]) for s in states)
    for s in states:
        epochs = f"{s['epochs_done']}/{s['epochs']} epochs"
        print(f"{s['folder']:<{width}}  {s['state']:<11}  {epochs:<14}  {s['detail']}".rstrip())
    counts = {}
    for s in states:
        counts[s["state"]] = counts.get(s["state"], 0) + 1
    print(f"{root}: {len(states)} runs: " + ", ".join(f"{n} {state}" for state, n in counts.items()))
    return 0


def _sweep(args: argparse.Namespace) -> int:
    if args.status:
        return _status(args)
    base, grid, root = load_grid(args.grid)
    options = cluster_options(args.grid, address=args.address, workers=args.workers, num_cpus=args.num_cpus,
                              num_gpus=args.num_gpus, partition=args.partition, time_min=args.time_min,
                              threads=args.threads)
    if args.threads and args.executor == "local":
        torch.set_num_threads(args.threads)
    failures = []
    try:
        table = sweep(base, grid, root, progress=not args.quiet, executor=args.executor, cluster=options)
    except SweepFailed as err:
        table, failures = err.table, err.failures
    columns = [c for c in ("model", "activation", "optimizer", "seed", "best_test_acc", "final_test_acc",
                           "convergence_area", "total_seconds") if c in table]
    if len(table):
        print(table[columns].to_string(index=False))
    if args.csv:
        table.to_csv(args.csv, index=False)
    for folder in table.attrs.get("claimed_elsewhere", []):
        print(f"note: {folder} is claimed by another live task; skipped (see --status)", file=sys.stderr)
    for failure in failures:
        lines = "\n".join("    " + line for line in failure["error"].splitlines())
        print(f"failed: {failure['folder']}\n{lines}", file=sys.stderr)
    if failures:
        print(f"error: {len(failures)} run(s) failed; the others finished. Fix the cause and run the same "
              "command again: finished runs are skipped, killed ones resume", file=sys.stderr)
    print(root)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "sweep":
        try:
            return _sweep(args)
        except (ValueError, OSError, DatasetNotFoundError, TrainingDivergedError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    try:
        config = _config_from_args(args)
        result = run(config, resume=not args.no_resume, progress=not args.quiet)
    except (ValueError, OSError, DatasetNotFoundError, TrainingDivergedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    s = result.summary
    print(f"best test acc {s['best_test_acc']:.4f} (epoch {s['best_epoch']}), final {s['final_test_acc']:.4f}, "
          f"convergence area {s['convergence_area']:.3f}, {s['total_seconds']:.1f} s")
    print(result.out)
    return 0
