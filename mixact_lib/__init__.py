"""mixact: learnable activation functions, three papers reproduced and compared.

The verbs a notebook or a user's own script needs:

>>> import mixact_lib as mx
>>> act = mx.make_activation("adact")                       # any activation by name
>>> net = mx.build_model("paper_c_convnet", 10, 1, "adact")  # any paper's network
>>> data = mx.load_dataset("fmnist", train_subset=2000)
>>> result = mx.run(mx.paper_config("c", epochs=1, train_subset=2000))
"""
from ._version import __version__  # noqa: E402

from .activations import available_activations, make_activation, swap_activations  # noqa: E402
from .data import available_datasets, load_dataset, synthetic_dataset  # noqa: E402
from .runs.config import RunConfig, paper_config  # noqa: E402
from .runs.runner import run  # noqa: E402
from .report.parameters import ParameterError, chapter_parameters, results_folder  # noqa: E402
from .models import available_models, build_model, count_parameters, optimized_from  # noqa: E402
from .runs.folders import collect_summaries, load_histories
from .analysis.results import (mean_sd_table, mixture_weights, paired_differences, phase_accuracy,
                               rebuild_activations, weight_trajectories)
from .analysis.reproduction import paper_values, reproduction_table  # noqa: E402
from .analysis.analysis_plan import claims_table, paper_a_claims  # noqa: E402
from .runs.grid import SweepFailed, run_study, sweep  # noqa: E402
from .report.tables import mean_sd, show_table  # noqa: E402
from .training import Phase, train  # noqa: E402

__all__ = [
    "make_activation", "available_activations", "swap_activations",
    "load_dataset", "available_datasets", "synthetic_dataset",
    "build_model", "available_models", "count_parameters", "optimized_from",
    "RunConfig", "paper_config", "run", "run_study", "sweep", "SweepFailed", "Phase", "train",
    "collect_summaries", "load_histories", "mean_sd_table", "mixture_weights", "paired_differences",
    "phase_accuracy", "rebuild_activations", "weight_trajectories",
    "paper_values", "reproduction_table", "claims_table", "paper_a_claims",
    "chapter_parameters", "results_folder", "ParameterError",
    "show_table", "mean_sd",
]
