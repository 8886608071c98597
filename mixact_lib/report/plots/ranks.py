"""The critical-difference diagram of a Friedman/Nemenyi comparison (Demšar 2006, Fig. 1)."""
from __future__ import annotations

import matplotlib.pyplot as plt


def plot_cd_diagram(result: dict, title: str = "") -> plt.Figure:
    """Average ranks on one axis (best, rank 1, on the left), each method named at its rank, the critical
    difference as a scale bar, and a thick bar under every group whose ranks lie within it (the methods the
    test cannot tell apart). ``result`` is :func:`mixact_lib.analysis.rank_tests.friedman`'s."""
    ranks, cd, k = result["ranks"], result["cd"], result["k"]
    half = (len(ranks) + 1) // 2
    rows = max(half, len(ranks) - half)
    fig_h = 1.6 + 0.24 * rows + 0.18 * len(result["groups"])
    fig, ax = plt.subplots(figsize=(7.0, fig_h))
    top = 1.0
    ax.hlines(top, 1, k, color="black", lw=1.0)
    for r in range(1, k + 1):
        ax.vlines(r, top, top + 0.06, color="black", lw=0.8)
        ax.text(r, top + 0.09, str(r), ha="center", va="bottom", fontsize=7)
    ax.hlines(top + 0.45, 1, 1 + cd, color="tab:red", lw=1.6)
    ax.vlines([1, 1 + cd], top + 0.41, top + 0.49, color="tab:red", lw=1.2)
    ax.text(1 + cd / 2, top + 0.5, f"CD = {cd:.2f} (Nemenyi, α = {result['alpha']:g}, {result['n_blocks']} seeds)",
            ha="center", va="bottom", fontsize=8, color="tab:red")
    step = 0.22
    for i, (name, r) in enumerate(ranks.items()):
        left = i < half
        row = i if left else len(ranks) - 1 - i
        y = top - 0.25 - step * row
        x_text = 0.6 if left else k + 0.4
        ax.plot([r, r, x_text], [top, y, y], color="0.35", lw=0.7)
        ax.text(x_text - 0.05 if left else x_text + 0.05, y, f"{name} ({r:.1f})", ha="right" if left else "left",
                va="center", fontsize=8)
    for j, group in enumerate(result["groups"]):
        lo, hi = ranks[group[0]], ranks[group[-1]]
        ax.hlines(top - 0.1 - 0.07 * j, lo - 0.05, hi + 0.05, color="tab:blue", lw=3.0, alpha=0.8)
    ax.set_xlim(-3.5, k + 4.5)
    ax.set_ylim(top - 0.35 - step * rows, top + 0.75)
    ax.axis("off")
    ax.set_title(title or f"Average rank over seeds (Friedman p = {result['p_value']:.3g}); methods joined by a "
                 "blue bar are not told apart", fontsize=9)
    fig.tight_layout()
    return fig
