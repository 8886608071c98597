"""Full-protocol reproduction runs (resumable), written under results/ for the reproduction chapter.

    python tools/reproduce.py --paper c --seeds 0 1 2 3 4          # paper C Table 1 on Fashion-MNIST
    python tools/reproduce.py --paper c --seeds 0 1 2 --val         # + held-out validation variant
    python tools/reproduce.py --paper c --seeds 2 --networks relu   # one network only
    python tools/reproduce.py --paper c --networks prelu mish       # all-PReLU and all-Mish, same protocol
    python tools/reproduce.py --paper a --seeds 0 1 2 3 4           # paper A Table 1, every norm reading
    python tools/reproduce.py --paper a --norms softmax --seeds 3 4 # one reading only
    python tools/reproduce.py --paper a --norms softmax --seeds 0 1 2 --act-lrs 1e-3 1e-2 1e-1   # lr study
    python tools/reproduce.py --table                               # results/reproduction.csv, claims.csv

Every reproduction is a grid file (grids/paper_c_fmnist.yaml, paper_c_fmnist_val.yaml,
paper_c_fmnist_baselines.yaml, paper_a_fmnist.yaml, paper_a_act_lr.yaml, paper_a_act_lr_5ep.yaml); this
script picks the files and the cells its flags ask for and sweeps them, so `--paper c --seeds 0 1` is
`python -m mixact_lib sweep grids/paper_c_fmnist.yaml` with the seed axis set to 0 and 1. Without
--seeds (or --norms) the grid file's own apply. Each run's folder is
results/paper_<p>/<dataset>[-val]/<variant>/seed<k>. Rerunning the same command skips finished runs and
continues a killed one from its checkpoint, so the script can be stopped at any time; a claim file
(mixact_lib.runs.locks) in the run's folder keeps a second process off a run that is being trained.
ConvNet-Optimized needs the same seed's AdAct run and an lr-study run its cycle-1 run: they run after it,
and a run whose needed run is neither selected nor finished is refused before anything trains.
Datasets that are not on this machine are skipped with the reason printed (the reproduction chapter then
marks them untestable).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

from mixact_lib.analysis.analysis_plan import claims_table
from mixact_lib.analysis.reproduction import PAPER_A_NORMS, reproduction_table
from mixact_lib.data import DatasetNotFoundError
from mixact_lib.runs.config import RunConfig, paper_config
from mixact_lib.runs.executors import EXECUTORS, ClusterOptions
from mixact_lib.runs.grid import SweepFailed, load_grid, sweep

ROOT = Path(__file__).resolve().parents[1]
GRIDS = ROOT / "grids"
NORMS = PAPER_A_NORMS
NETWORKS = ("relu", "adact", "optimized")
#: fixed-activation baselines at the same compute as one network of Table 1 (ours, not in paper C): Optimized
#: is PReLU in layers 1-2 and Mish in 3-4, so the all-PReLU and all-Mish networks say what the search adds
BASELINES = ("prelu", "mish")
#: paper C: the grid file of each network, without and with a held-out validation split
PAPER_C_GRIDS = {False: {**dict.fromkeys(NETWORKS, "paper_c_fmnist"),
                        **dict.fromkeys(BASELINES, "paper_c_fmnist_baselines")},
                 True: dict.fromkeys(NETWORKS, "paper_c_fmnist_val")}
#: paper A's lr study: the grid file of each length of cycle 2 (epochs)
ACT_LR_GRIDS = {10: "paper_a_act_lr", 5: "paper_a_act_lr_5ep"}


def selected_grids(paper: str, *, networks=NETWORKS, val: bool = False, act_lrs=None,
                   act_epochs: int = 10) -> list[tuple[Path, list[str] | None]]:
    """The grid files the flags ask for, each with the names of its cases to run (None: all of them)."""
    if paper == "c":
        files = PAPER_C_GRIDS[val]
        outside = [n for n in networks if n not in files]
        if outside:
            raise ValueError(f"--networks {' '.join(outside)} has no grid file{' with --val' if val else ''}; "
                             f"choose among {', '.join(files)}, or write a grid file under grids/ for it")
        chosen: dict[str, list[str]] = {}
        for name in networks:
            chosen.setdefault(files[name], []).append(name)
        return [(GRIDS / f"{file}.yaml", names) for file, names in chosen.items()]
    if act_lrs:
        if act_epochs not in ACT_LR_GRIDS:
            raise ValueError(f"--act-epochs {act_epochs} has no grid file; the lr study has "
                             f"{', '.join(map(str, ACT_LR_GRIDS))} epochs (a new length is a new grid file, "
                             f"e.g. a copy of grids/{ACT_LR_GRIDS[10]}.yaml with its own root)")
        return [(GRIDS / f"{ACT_LR_GRIDS[act_epochs]}.yaml", ["cycle1", *(f"act_lr={lr:g}" for lr in act_lrs)])]
    return [(GRIDS / "paper_a_fmnist.yaml", None)]


def grid_for(path: Path, cases: list[str] | None, *, dataset: str, results: Path, seeds=None, norms=None,
             device: str | None = None) -> tuple[RunConfig, dict, Path]:
    """One grid file narrowed to ``cases``, ``seeds`` and ``norms`` (None: the file's), on ``dataset``,
    under ``results`` (the file's root with its dataset's name replaced: results/paper_c/<dataset>[-val])."""
    base, grid, file_root = load_grid(path)
    grid = dict(grid)
    if cases is not None:
        known = [c["name"] for c in grid["cases"]]
        missing = [c for c in cases if c not in known]
        if missing:
            raise ValueError(f"{path} has no case {', '.join(missing)} (it has {', '.join(known)}); add one to "
                             "the grid file, or write a grid file with its own root for a new study")
        grid["cases"] = [c for c in grid["cases"] if c["name"] in cases]
    if seeds is not None:
        grid["seed"] = list(seeds)
    if norms is not None:
        grid["activation_kwargs"] = [{"norm": n} for n in norms]
    relative = file_root.relative_to("results")
    root = results / relative.parent / relative.name.replace(base.dataset, dataset, 1)
    base = dataclasses.replace(base, dataset=dataset, **({"device": device} if device else {}))
    return base, grid, root


def print_run(config: RunConfig, summary: dict) -> None:
    print(f"{config.out}: best {summary['best_test_acc']:.4f} final {summary['final_test_acc']:.4f} "
          f"({summary.get('total_seconds', 0):.0f} s)", flush=True)


def run_grid(base: RunConfig, grid: dict, root: Path, *, executor: str, cluster: ClusterOptions) -> int:
    """Sweep one grid, a line per run (finished before or now); the number of runs that failed."""
    failures = []
    try:
        table = sweep(base, grid, root, progress=False, on_run=print_run, executor=executor, cluster=cluster)
    except SweepFailed as err:
        table, failures = err.table, err.failures
    for folder in table.attrs.get("claimed_elsewhere", []):
        print(f"{folder}: held by another process, skipped", flush=True)
    for failure in failures:
        print(f"failed: {failure['folder']}\n    " + failure["error"].replace("\n", "\n    "),
              file=sys.stderr, flush=True)
    return len(failures)


def write_tables(results: Path) -> int:
    """Write the value verdicts (reproduction.csv) and the analysis plan's claims (claims.csv) from ``results``."""
    for name, table in (("reproduction.csv", reproduction_table(results)), ("claims.csv", claims_table(results))):
        table.to_csv(results / name, index=False)
        print(table.groupby(["paper", "verdict"]).size().rename("numbers" if name == "reproduction.csv" else "claims")
              .to_string())
        print(results / name)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--paper", choices=("a", "c"), help="which paper's runs to make")
    parser.add_argument("--table", action="store_true",
                        help="write results/reproduction.csv (one verdict per paper number) and results/claims.csv "
                             "(ordering claims) from the runs")
    parser.add_argument("--datasets", nargs="*", default=["fmnist"], help="default: fmnist")
    parser.add_argument("--seeds", nargs="*", type=int, default=None, help="default: the grid file's seeds")
    parser.add_argument("--norms", nargs="*", choices=NORMS, default=None,
                        help="paper A: which readings of eq. 9 to run (default: the grid file's; all three for "
                             "the protocol, softmax for the lr study)")
    parser.add_argument("--act-lrs", nargs="*", type=float, default=None,
                        help="paper A: instead of the protocol, run cycle 2 alone at each of these learning rates "
                             "from one cycle-1 state per seed (results/paper_a/<dataset>-act-lr-<E>ep; each rate "
                             "is a case of that grid file)")
    parser.add_argument("--act-epochs", type=int, default=paper_config("a").phases[1].epochs,
                        help="paper A, with --act-lrs: epochs E of cycle 2 (default: the protocol's, %(default)s; "
                             f"grid files exist for {', '.join(map(str, ACT_LR_GRIDS))})")
    parser.add_argument("--networks", nargs="*", choices=NETWORKS + BASELINES, default=list(NETWORKS),
                        help="paper C: which of Table 1's networks to run (default: all three, in order), "
                             "or the all-PReLU / all-Mish baselines (prelu, mish)")
    parser.add_argument("--val", action="store_true", help="paper C: hold out 10%% of train as validation")
    parser.add_argument("--device", default=None, help="default: the grid file's (auto: CUDA when present)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads per run (default: torch's)")
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="local: one run after another here; ray, slurm: as `python -m mixact_lib sweep`")
    parser.add_argument("--workers", type=int, default=None, help="ray, slurm: runs at once")
    parser.add_argument("--results", default=str(ROOT / "results"))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.table:
        return write_tables(Path(args.results))
    if args.paper is None:
        parser.error("give --paper a|c to make runs, or --table to write the reproduction table")
    cluster = ClusterOptions(threads=args.threads, workers=args.workers)
    failed = 0
    try:
        grids = selected_grids(args.paper, networks=args.networks, val=args.val, act_lrs=args.act_lrs,
                               act_epochs=args.act_epochs)
        for dataset in args.datasets:
            try:
                for path, cases in grids:
                    failed += run_grid(*grid_for(path, cases, dataset=dataset, results=Path(args.results),
                                                 seeds=args.seeds, norms=args.norms, device=args.device),
                                       executor=args.executor, cluster=cluster)
            except DatasetNotFoundError as err:
                print(f"skipping {dataset}: {err}", file=sys.stderr, flush=True)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if failed:
        print(f"error: {failed} run(s) failed; the others finished. Fix the cause and run the same command again: "
              "finished runs are skipped, killed ones resume", file=sys.stderr)
    return 1 if failed else 0

if __name__ == "__main__":
    sys.exit(main())
