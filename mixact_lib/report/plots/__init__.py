"""Figures for the book (seaborn), each also saved as PNG next to a CSV of its data.

Every ``plot_*`` takes a tidy DataFrame (from :mod:`mixact_lib.results`) and
returns the matplotlib Figure; :func:`save` writes figure and data together.
Three modules: :mod:`.common` (saving, shared panel helpers), :mod:`.shapes`
(activation shapes and mixture weights) and :mod:`.studies` (a study's runs).
"""
from .common import save
from .pareto import median_iqr, plot_pareto
from .ranks import plot_cd_diagram
from .shapes import (activation_curves, learned_shape_curves, plot_activation_curves, plot_learned_shapes,
                     plot_mixture_weights, plot_shapes_per_layer, plot_weight_trajectories)
from .studies import (plot_accuracy_vs_compute, plot_bars, plot_curves, plot_effective_rates, plot_layer_heatmaps,
                      plot_per_layer, plot_scatter, plot_simplex_loss, plot_weight_trace)

__all__ = ["save", "plot_mixture_weights", "plot_weight_trajectories", "activation_curves", "plot_activation_curves",
           "learned_shape_curves", "plot_learned_shapes", "plot_shapes_per_layer", "plot_layer_heatmaps",
           "plot_effective_rates", "plot_accuracy_vs_compute", "plot_curves", "plot_per_layer", "plot_bars",
           "plot_scatter", "plot_simplex_loss", "plot_pareto", "median_iqr", "plot_cd_diagram", "plot_weight_trace"]
