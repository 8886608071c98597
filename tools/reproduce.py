"""Full-protocol reproduction runs (resumable), written under results/ for the reproduction chapter.

    python tools/reproduce.py --paper c --seeds 0 1 2 3 4          # paper C Table 1 on Fashion-MNIST
    python tools/reproduce.py --paper c --seeds 0 1 2 --val         # + held-out validation variant
    python tools/reproduce.py --paper c --seeds 2 --networks relu   # one network only
    python tools/reproduce.py --paper c --networks prelu mish       # all-PReLU and all-Mish, same protocol
    python tools/reproduce.py --paper a --seeds 0 1 2 3 4           # paper A Table 1, every norm reading
    python tools/reproduce.py --paper a --norms softmax --seeds 3 4 # one reading only
    python tools/reproduce.py --paper a --norms softmax --seeds 0 1 2 --act-lrs 1e-3 1e-2 1e-1   # lr study
    python tools/reproduce.py --table                               # results/reproduction.csv, claims.csv

Each run's folder is results/paper_<p>/<dataset>[-val]/<variant>/seed<k>. Rerunning the same
command skips finished runs and continues a killed one from its checkpoint, so the
script can be stopped at any time; a claim file (mixact_lib.runs.locks) in the run's folder
keeps a second process off a run that is being trained. Datasets that are not on this machine are
skipped with the reason printed (the reproduction chapter then marks them untestable).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from mixact_lib.runs.locks import hold
from mixact_lib.data import DatasetNotFoundError
from mixact_lib.runs.config import paper_config
from mixact_lib.runs.runner import run
from mixact_lib.analysis.analysis_plan import claims_table
from mixact_lib.analysis.reproduction import PAPER_A_NORMS, reproduction_table
from mixact_lib.training import Phase

ROOT = Path(__file__).resolve().parents[1]
NORMS = PAPER_A_NORMS
NETWORKS = ("relu", "adact", "optimized")
#: fixed-activation baselines at the same compute as one network of Table 1 (ours, not in paper C): Optimized
#: is PReLU in layers 1-2 and Mish in 3-4, so the all-PReLU and all-Mish networks say what the search adds
BASELINES = ("prelu", "mish")


def paper_c_runs(dataset: str, seed: int, base: Path, val_fraction: float, device: str, networks=NETWORKS):
    """ConvNet-ReLU, ConvNet-AdAct, then ConvNet-Optimized built from that AdAct run (paper C Table 1).

    ``networks`` picks a subset, so that two processes can share one seed's runs; "optimized"
    needs the same seed's finished AdAct run and says so if it is missing.
    """
    common = dict(dataset=dataset, seed=seed, device=device, val_fraction=val_fraction, keep_checkpoint=True)
    adact_out = base / "adact" / f"seed{seed}"
    if "relu" in networks:
        yield paper_config("c", activation="relu", out=str(base / "relu" / f"seed{seed}"), **common)
    if "adact" in networks:
        yield paper_config("c", activation="adact", out=str(adact_out), **common)
    if "optimized" in networks:
        yield paper_config("c", activation="optimized", optimized_from=str(adact_out),
                           out=str(base / "optimized" / f"seed{seed}"), **common)
    for name in BASELINES:
        if name in networks:
            yield paper_config("c", activation=name, out=str(base / name / f"seed{seed}"), **common)


def paper_a_runs(dataset: str, seed: int, base: Path, device: str, norms=NORMS):
    """The three-cycle protocol for each given reading of paper A's lost eq. 9."""
    for norm in norms:
        yield paper_config("a", dataset=dataset, seed=seed, device=device, activation_kwargs={"norm": norm},
                           out=str(base / norm / f"seed{seed}"), keep_checkpoint=True)


def paper_a_act_lr_runs(dataset: str, seed: int, base: Path, device: str, norms, act_lrs, act_epochs: int):
    """How much do the learned weights depend on the mixture cycle's learning rate (lost from paper A)?

    Cycle 1 (the network, mixture frozen at p = 1/3) runs once per seed and norm; each learning rate
    then runs cycle 2 alone (the mixture, network frozen) from that cycle-1 state (``init_from``).
    Cycle 3 does not change the weights, so it is skipped.
    """
    for norm in norms:
        first = base / norm / "cycle1" / f"seed{seed}"
        common = dict(dataset=dataset, seed=seed, device=device, activation_kwargs={"norm": norm})
        net_phase = paper_config("a").phases[0]
        yield paper_config("a", phases=[net_phase], out=str(first), keep_checkpoint=True, **common)
        for act_lr in act_lrs:
            yield paper_config("a", phases=[Phase(act_epochs, net_phase.optimizer, act_lr, 0.0, trains="act")],
                               init_from=str(first), out=str(base / norm / f"act_lr={act_lr:g}" / f"seed{seed}"),
                               keep_checkpoint=False, **common)


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
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--norms", nargs="*", choices=NORMS, default=list(NORMS),
                        help="paper A: which readings of eq. 9 to run (default: all three)")
    parser.add_argument("--act-lrs", nargs="*", type=float, default=None,
                        help="paper A: instead of the protocol, run cycle 2 alone at each of these learning rates "
                             "from one cycle-1 state per seed (results/paper_a/<dataset>-act-lr-<E>ep)")
    parser.add_argument("--act-epochs", type=int, default=paper_config("a").phases[1].epochs,
                        help="paper A, with --act-lrs: epochs E of cycle 2 (default: the protocol's, %(default)s)")
    parser.add_argument("--networks", nargs="*", choices=NETWORKS + BASELINES, default=list(NETWORKS),
                        help="paper C: which of Table 1's networks to run (default: all three, in order), "
                             "or the all-PReLU / all-Mish baselines (prelu, mish)")
    parser.add_argument("--val", action="store_true", help="paper C: hold out 10%% of train as validation")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--results", default=str(ROOT / "results"))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.table:
        return write_tables(Path(args.results))
    if args.paper is None:
        parser.error("give --paper a|c to make runs, or --table to write the reproduction table")
    for dataset in args.datasets:
        for seed in args.seeds:
            if args.paper == "c":
                base = Path(args.results) / "paper_c" / (dataset + ("-val" if args.val else ""))
                configs = paper_c_runs(dataset, seed, base, 0.1 if args.val else 0.0, args.device, args.networks)
            elif args.act_lrs:
                study = Path(args.results) / "paper_a" / f"{dataset}-act-lr-{args.act_epochs}ep"
                configs = paper_a_act_lr_runs(dataset, seed, study,
                                              args.device, args.norms, args.act_lrs, args.act_epochs)
            else:
                configs = paper_a_runs(dataset, seed, Path(args.results) / "paper_a" / dataset, args.device,
                                       args.norms)
            try:
                for config in configs:
                    # a claim file keeps a second process (this command started twice, or on another
                    # machine sharing the folder) off a run that is being trained
                    with hold(config.out) as claim:
                        if claim is None:
                            print(f"{config.out}: held by another process, skipped", flush=True)
                            continue
                        t0 = time.perf_counter()
                        result = run(config, progress=False)
                    s = result.summary
                    print(f"{config.out}: best {s['best_test_acc']:.4f} final {s['final_test_acc']:.4f} "
                          f"({time.perf_counter() - t0:.0f} s)", flush=True)
            except DatasetNotFoundError as err:
                print(f"skipping {dataset}: {err}", file=sys.stderr, flush=True)
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
