"""The analysis plan (``results/analysis_plan.yaml``) carried out: every planned claim, tested and corrected.

The plan was committed before the runs it judges. It names the families of claims, each family's correction
(Holm or Benjamini–Hochberg), α, the margin of every "≥" / "on par" claim, the metric and the number of seeds
at which each family is read. This module reads it and nothing else decides a verdict:

- a claim's per-seed values are paired by seed, using the lowest ``n_seeds`` seeds that have both networks
  (the planned n; more committed seeds are not looked at, so that adding seeds cannot be used to fish);
- its p-value comes from :func:`mixact_lib.analysis.stats.claim_test` for its kind (superiority, non-inferiority
  against −margin, equivalence by TOST within ±margin, one-sample against 1/3 for paper A's weights);
- p-values are corrected within the family (:func:`mixact_lib.analysis.stats.adjust`) and the verdict follows from the
  corrected p (:func:`mixact_lib.analysis.stats.planned_verdict`); a claim with fewer seeds than planned is
  ``pending``: reported with its interval, judged only when its seeds are in.

Paper C's primary family is read at 20 seeds, or at 30 when the 95 % interval of AdAct − ReLU at 20 seeds is
wider than the plan's ``max_half_width`` (a precision rule: it looks at the interval's width, not where it
lies). ``results/claims.csv`` is :func:`claims_table` of the committed runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from . import stats
from .reproduction import CONVERGENT, UNIFORM, act_lr_studies, norm_of, paper_values, protocol_runs, validation_runs
from ..runs.folders import collect_summaries
from .results import mixture_weights

PLAN_FILE = "analysis_plan.yaml"
CLAIM_COLUMNS = ["paper", "family", "claim", "kind", "direction", "metric", "n_seeds", "n_planned", "mean_diff", "ci_low",
                 "ci_high", "bound_low", "bound_high", "margin", "p_value", "adjustment", "p_adjusted", "verdict",
                 "wins", "seeds_needed", "paper_effect", "test", "runs"]
#: ``paper_effect``: the paper's own difference for the claim (challenger − baseline in its table; p_relu − 1/3
#: for paper A), signed, where the paper gives one
#: members of paper A's mixture, in eq. 10's order
PAPER_A_MEMBERS = ("relu",) + CONVERGENT


class PlanError(ValueError):
    """The analysis plan is malformed: what is wrong and what is allowed."""


def load_plan(results_root: str | Path = "results") -> dict[str, Any]:
    """``<results_root>/analysis_plan.yaml``, checked: known adjustments, kinds and margins, α in (0, 1)."""
    path = Path(results_root) / PLAN_FILE
    if not path.is_file():
        raise PlanError(f"no analysis plan at {path}: the claims are judged by the plan committed with the runs "
                        f"(results/{PLAN_FILE} in the repository); pass the folder that holds it")
    plan = yaml.safe_load(path.read_text())
    if not 0 < plan.get("alpha", 0) < 1:
        raise PlanError(f"{path}: alpha must lie in (0, 1), got {plan.get('alpha')!r}")
    margins = plan.get("margins", {})
    for family in plan.get("families", []):
        where = f"{path}: family {family.get('name')!r}"
        if family.get("adjustment") not in stats.ADJUSTMENTS:
            raise PlanError(f"{where}: adjustment {family.get('adjustment')!r} is not one of "
                            f"{', '.join(stats.ADJUSTMENTS)}")
        for claim in family.get("claims", []):
            kind = claim.get("kind")
            if kind not in stats.CLAIM_KINDS:
                raise PlanError(f"{where}: claim {claim.get('text')!r} has kind {kind!r}; allowed: "
                                f"{', '.join(stats.CLAIM_KINDS)}")
            if kind in ("non_inferiority", "equivalence") and claim.get("margin") not in margins:
                raise PlanError(f"{where}: claim {claim.get('text')!r} needs a margin named in 'margins' "
                                f"({', '.join(margins) or 'none defined'})")
    return plan


def _family(plan: dict, name: str) -> dict:
    for family in plan["families"]:
        if family["name"] == name:
            return family
    raise PlanError(f"the analysis plan has no family {name!r}; it has {[f['name'] for f in plan['families']]}")


def family_seeds(results_root: str | Path, name: str) -> int:
    """The number of seeds at which the plan reads family ``name`` (its ``n_seeds``; the primary family's
    ``primary_seeds.n_seeds`` before any extension by the precision rule)."""
    plan = load_plan(results_root)
    family = _family(plan, name)
    if "n_seeds" not in family:
        raise PlanError(f"the plan's family {name!r} has no single n_seeds: each of its variants sets its own")
    n = family["n_seeds"]
    return int(plan["primary_seeds"]["n_seeds"] if n == "primary" else n)


def _pairs(runs: pd.DataFrame, challenger: str, baseline: str, metric: str, n_planned: int | None) -> pd.DataFrame:
    """Seed × (challenger, baseline) values of ``metric``: the lowest ``n_planned`` seeds that have both."""
    if not len(runs) or metric not in runs:
        return pd.DataFrame(columns=[challenger, baseline])
    wide = runs.pivot_table(index="seed", columns="activation", values=metric)
    if challenger not in wide or baseline not in wide:
        return pd.DataFrame(columns=[challenger, baseline])
    pair = wide[[challenger, baseline]].dropna().sort_index()
    return pair.head(n_planned) if n_planned else pair


def pairing_correlation(runs: pd.DataFrame, challenger: str, baseline: str, metric: str) -> tuple[float, int]:
    """Pearson correlation of two networks' per-seed values, and the number of seeds it rests on.

    Pairing by seed narrows a difference's interval only as far as the two are correlated over seeds:
    var(a − b) = var(a) + var(b) − 2·cov(a, b). Near 0, the paired test gains nothing over an unpaired one.
    """
    pair = _pairs(runs, challenger, baseline, metric, None)
    if len(pair) < 3:
        return float("nan"), len(pair)
    return float(np.corrcoef(pair[challenger], pair[baseline])[0, 1]), len(pair)


def primary_seeds(plan: dict, runs: pd.DataFrame) -> int:
    """Seeds at which the primary family is read: ``n_seeds``, or ``extend_to`` by the precision rule.

    The rule looks at the 95 % interval of the first claim (AdAct − ReLU) on the first ``n_seeds`` pairs, once
    they exist: wider than ±``max_half_width`` → read at ``extend_to`` seeds instead.
    """
    rule = plan["primary_seeds"]
    first = _family(plan, "primary")["claims"][0]
    pair = _pairs(runs, first["challenger"], first["baseline"], _family(plan, "primary")["metric"], rule["n_seeds"])
    if len(pair) < rule["n_seeds"]:
        return rule["n_seeds"]
    r = stats.claim_test(pair[first["challenger"]], pair[first["baseline"]], confidence=plan["confidence"])
    half = (r["ci_high"] - r["ci_low"]) / 2
    return rule["extend_to"] if half > rule["max_half_width"] else rule["n_seeds"]


def _row(plan: dict, family: dict, claim: dict, metric: str, challenger, baseline, n_planned: int,
         runs_label: str, paper: str, effect: float | None) -> dict:
    kind = claim["kind"]
    margin = plan["margins"][claim["margin"]] if "margin" in claim else 0.0
    direction = claim.get("direction", ">")
    r = stats.claim_test(challenger, baseline, kind, margin, direction, plan["confidence"])
    power_effect = margin if kind in ("non_inferiority", "equivalence") else (None if effect is None else abs(effect))
    return {"paper": paper, "family": family["name"], "claim": claim["text"], "kind": kind, "metric": metric,
            "n_seeds": r["n"], "n_planned": n_planned, "mean_diff": r["mean_diff"], "ci_low": r["ci_low"],
            "ci_high": r["ci_high"], "bound_low": r["bound_low"], "bound_high": r["bound_high"],
            "margin": margin if margin else np.nan, "p_value": r["p_value"], "adjustment": family["adjustment"],
            "wins": r["wins"], "seeds_needed": stats.seeds_for_power(r["sd_diff"], power_effect, kind, plan["alpha"]),
            "paper_effect": np.nan if effect is None else effect, "test": r["test"], "runs": runs_label, "direction": direction}


def _judge(plan: dict, rows: list[dict]) -> pd.DataFrame:
    """Correct the family's p-values together and give each row its verdict.

    A family is read once, when every one of its claims has its planned seeds: until then every row is pending,
    the complete ones too, because their adjusted p still depends on the others' interim p-values."""
    frame = pd.DataFrame(rows)
    if not len(frame):
        return pd.DataFrame(columns=CLAIM_COLUMNS)
    frame["p_adjusted"] = stats.adjust(frame.p_value, frame.adjustment.iloc[0])
    short = bool((frame.n_seeds < frame.n_planned).any())
    frame["verdict"] = [
        stats.PENDING if short else
        stats.planned_verdict(r.kind, r.p_adjusted, r.mean_diff, r.ci_low, r.ci_high, r.bound_high,
                              0.0 if pd.isna(r.margin) else r.margin, r.direction, plan["alpha"])
        for r in frame.itertuples()]
    return frame[CLAIM_COLUMNS]


def _paper_c_effect(claim: dict, dataset: str) -> float | None:
    """The paper's own gap, challenger − baseline, in its Table 1 (None for our controls)."""
    values = paper_values().query("paper == 'C' and dataset == @dataset and metric == 'best_test_acc'")
    by = dict(zip(values.activation, values.paper_value))
    if claim["challenger"] in by and claim["baseline"] in by:
        return float(by[claim["challenger"]] - by[claim["baseline"]])
    return claim.get("paper_effect")


def _paper_c_rows(plan: dict, family: dict, claims: list[dict], metric: str, runs: pd.DataFrame,
                  n_planned: int, label: str, dataset: str) -> list[dict]:
    rows = []
    for claim in claims:
        pair = _pairs(runs, claim["challenger"], claim["baseline"], metric, n_planned)
        if len(pair) >= 2:
            rows.append(_row(plan, family, claim, metric, pair[claim["challenger"]], pair[claim["baseline"]],
                             n_planned, label, "C", _paper_c_effect(claim, dataset)))
    return rows


def paper_c_claims(results_root: str | Path = "results", dataset: str = "fmnist",
                   plan: dict | None = None, first_seeds: int | None = None,
                   table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Paper C's families of the plan: primary, other metrics, matched compute. Columns: :data:`CLAIM_COLUMNS`.

    ``first_seeds`` reads the primary runs at their first that many seeds instead of the planned number (a look
    back, e.g. the power analysis the first five seeds gave; such rows are never verdicts of the plan).
    ``table``: the runs under ``results_root`` (``collect_summaries``), when the caller has read them already.
    """
    plan = plan or load_plan(results_root)
    table = collect_summaries(Path(results_root)) if table is None else table
    protocol = protocol_runs(table, "c", dataset) if len(table) else table
    held_out = validation_runs(table, "c", dataset) if len(table) else table
    n_primary = first_seeds or primary_seeds(plan, protocol)
    primary = _family(plan, "primary")
    frames = [_judge(plan, _paper_c_rows(plan, primary, primary["claims"], primary["metric"], protocol, n_primary,
                                         f"paper_c/{dataset}", dataset))]
    other = _family(plan, "paper_c_other_metrics")
    rows = []
    for variant in other["variants"]:
        validation = variant["runs"].endswith("-val")
        n = n_primary if variant["n_seeds"] == "primary" else int(variant["n_seeds"])
        rows += _paper_c_rows(plan, other, _family(plan, other["claims_from"])["claims"], variant["metric"],
                              held_out if validation else protocol, n,
                              f"paper_c/{dataset}" + ("-val" if validation else ""), dataset)
    frames.append(_judge(plan, rows))
    control = _family(plan, "matched_compute")
    frames.append(_judge(plan, _paper_c_rows(plan, control, control["claims"], control["metric"], protocol,
                                             int(control["n_seeds"]), f"paper_c/{dataset}", dataset)))
    return pd.concat([f for f in frames if len(f)] or [frames[0]], ignore_index=True)


def chapter_claims(runs: pd.DataFrame, metrics: tuple[str, ...] = ("best_test_acc", "final_test_acc"),
                   label: str = "this chapter", results_root: str | Path = Path(__file__).parents[2] / "results",
                   plan: dict | None = None) -> pd.DataFrame:
    """The primary family's claims (kinds, margins, Holm) on any table of runs, e.g. a chapter's own.

    Not a verdict of the plan (these runs were not planned): the family is named ``label``, every seed with
    both networks is used and nothing is pending. Skips a claim with fewer than two paired seeds.
    """
    plan = plan or load_plan(results_root)
    family = {**_family(plan, "primary"), "name": label}
    rows = []
    for metric in metrics:
        for claim in family["claims"]:
            pair = _pairs(runs, claim["challenger"], claim["baseline"], metric, None)
            if len(pair) >= 2:
                rows.append(_row(plan, family, claim, metric, pair[claim["challenger"]], pair[claim["baseline"]],
                                 len(pair), label, "C", None))
    return _judge(plan, rows)


def paper_a_weights(folders: list[str | Path]) -> pd.DataFrame:
    """Final mixture weights of paper A runs, tidy: folder, layer, member, p."""
    rows = []
    for folder in folders:
        for layer, weights in mixture_weights(folder).iterrows():
            rows += [{"folder": str(folder), "layer": layer, "member": m, "p": float(p)} for m, p in weights.items()]
    return pd.DataFrame(rows, columns=["folder", "layer", "member", "p"])


def paper_a_family(plan: dict, runs: pd.DataFrame, label: str, dataset: str = "fmnist",
                   family_name: str | None = None, n_planned: int | None = None) -> pd.DataFrame:
    """Paper A's Table 1 claims on ``runs`` (one reading of eq. 9): p_relu − 1/3 per layer, Holm across layers.

    Under "no member preferred" every weight has mean 1/3 by symmetry, so the one-sample t of p_relu against
    1/3 has the right null; "layer 1 prefers ReLU" expects p_relu > 1/3, "layer i prefers tanh or sin"
    expects p_relu < 1/3 (the weights sum to 1). ``family_name`` renames the family (sensitivity readings);
    ``n_planned`` replaces the plan's seeds for runs the plan did not fix (e.g. the learning-rate study).
    """
    family = dict(_family(plan, "paper_a_table1"))
    if family_name:
        family["name"] = family_name
    if n_planned:
        family["n_seeds"] = n_planned
    runs = runs.sort_values("seed").head(int(family["n_seeds"]))
    weights = paper_a_weights(runs.folder.tolist())
    paper = paper_values().query("paper == 'A' and dataset == @dataset")
    paper_p = dict(zip(paper.metric, paper.paper_value))
    rows = []
    for claim in family["claims"]:
        layer = f"layer {claim['layer']}"
        p = weights[(weights.layer == layer) & (weights.member == claim["member"])].p.to_numpy(float)
        if len(p) < 2:
            continue
        effect = paper_p.get(f"weight {claim['member']} {layer}")
        rows.append(_row(plan, family, claim, f"p_{claim['member']} − 1/3, {layer}", p, np.full_like(p, UNIFORM),
                         int(family["n_seeds"]), label, "A", None if effect is None else effect - UNIFORM))
    return _judge(plan, rows)


def paper_a_claims(results_root: str | Path = "results", dataset: str = "fmnist",
                   plan: dict | None = None, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Paper A's family under its primary reading (softmax), then each sensitivity reading as its own family.

    ``table``: the runs under ``results_root`` (``collect_summaries``), when the caller has read them already.
    """
    plan = plan or load_plan(results_root)
    table = collect_summaries(Path(results_root)) if table is None else table
    runs = protocol_runs(table, "a", dataset) if len(table) else table
    if not len(runs):
        return pd.DataFrame(columns=CLAIM_COLUMNS)
    family = _family(plan, "paper_a_table1")
    primary_norm = Path(family["runs"]).name
    read_as = runs["activation_kwargs"].map(norm_of)
    frames = []
    for norm in [primary_norm] + list(family.get("sensitivity_norms", [])):
        group = runs[read_as == norm]
        if len(group) >= 2:
            name = None if norm == primary_norm else f"paper_a_table1_sensitivity_{norm}"
            frames.append(paper_a_family(plan, group, f"paper_a/{dataset}/{norm}", dataset, name))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CLAIM_COLUMNS)


def paper_a_by_act_lr(results_root: str | Path = "results", dataset: str = "fmnist",
                      plan: dict | None = None) -> pd.DataFrame:
    """Paper A's Table 1 claims (the plan's test and correction) at each cycle-2 learning rate of the longest
    committed learning-rate study (``reproduction.act_lr_studies``), read at the seeds it has; ``act_lr`` column.

    The lost learning rate decides how far the weights move, so the verdicts are given per rate, never pooled.
    """
    plan = plan or load_plan(results_root)
    studies = act_lr_studies(results_root, dataset)
    if not studies:
        return pd.DataFrame(columns=CLAIM_COLUMNS + ["act_lr"])
    runs = next(iter(studies.values()))
    frames = []
    for (norm, lr), group in runs.groupby(["norm", "lr"]):
        if group.seed.nunique() >= 2:
            frames.append(paper_a_family(plan, group, f"paper_a/{dataset}-act-lr/{norm}/act_lr={lr:g}", dataset,
                                         f"paper_a_table1_act_lr_{lr:g}", n_planned=group.seed.nunique())
                          .assign(act_lr=lr))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CLAIM_COLUMNS + ["act_lr"])


def paper_b_claims(results_root: str | Path = "results", plan: dict | None = None) -> pd.DataFrame:
    """Paper B's CPU study: each adaptive function against its fixed version, per model, BH across cells."""
    plan = plan or load_plan(results_root)
    family = _family(plan, "paper_b_adaptive_vs_fixed")
    runs = collect_summaries(Path(results_root) / family["runs"])
    rows = []
    for model in sorted(set(runs.model)) if len(runs) else []:
        for adaptive, fixed in family["pairs"]:
            claim = {"text": f"{adaptive} > {fixed} ({model})", "kind": "superiority"}
            pair = _pairs(runs[runs.model == model], adaptive, fixed, family["metric"], int(family["n_seeds"]))
            if len(pair) >= 2:
                rows.append(_row(plan, family, claim, family["metric"], pair[adaptive], pair[fixed],
                                 int(family["n_seeds"]), family["runs"], "B", None))
    return _judge(plan, rows)


def claims_table(results_root: str | Path = "results", dataset: str = "fmnist") -> pd.DataFrame:
    """Every planned claim, family by family (``results/claims.csv``). Columns: :data:`CLAIM_COLUMNS`."""
    plan = load_plan(results_root)
    runs = collect_summaries(Path(results_root))  # read once for papers C and A
    frames = [paper_c_claims(results_root, dataset, plan, table=runs),
              paper_a_claims(results_root, dataset, plan, table=runs), paper_b_claims(results_root, plan)]
    frames = [f for f in frames if len(f)]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CLAIM_COLUMNS)
    return table.astype({"seeds_needed": "Int64"})


def plan_summary(results_root: str | Path = "results") -> pd.DataFrame:
    """The plan's families as the book shows them: name, what they test, correction, seeds read at."""
    plan = load_plan(results_root)
    rows = []
    for family in plan["families"]:
        seeds = family.get("n_seeds", ", ".join(str(v["n_seeds"]) for v in family.get("variants", [])))
        seeds = str(seeds).replace("primary", f"{plan['primary_seeds']['n_seeds']} (or "
                                   f"{plan['primary_seeds']['extend_to']})")
        rows.append({"family": family["name"],
                     "correction": {"holm": "Holm", "bh": "Benjamini–Hochberg", "none": "none"}[family["adjustment"]],
                     "seeds": seeds, "what it tests": family["label"]})
    return pd.DataFrame(rows)
