"""What a run measures besides accuracy: paper B's Δw (Fig. 4) as a per-layer norm and as the increments of
four traced weights, the weight norms that make the norm relative, and convergence area (Fig. 6)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import Split, batches


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(path, module) of every convolution and linear layer, in definition order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]


def snapshot_weights(model: nn.Module) -> dict[str, Tensor]:
    """Copy of every weight-layer's weight matrix, for Δw at the end of the epoch."""
    return {n: m.weight.detach().clone() for n, m in weight_layers(model)}


def weight_increments(model: nn.Module, before: dict[str, Tensor]) -> dict[str, float]:
    """Paper B Fig. 4: Δw_l = ‖W_l(epoch e) − W_l(epoch e−1)‖_F for every layer l."""
    return {n: float((m.weight.detach() - before[n]).norm()) for n, m in weight_layers(model) if n in before}


#: paper B Fig. 4 follows layers 1, 5 and 9 (1 = the first convolution or linear layer in definition order)
TRACE_LAYERS = (1, 5, 9)
#: paper B Fig. 4: "Rows 1–4 illustrate four various weights" of each of those layers (B, line 221)
TRACED_WEIGHTS = 4


def traced_weights(model: nn.Module, layers: Sequence[int] = TRACE_LAYERS,
                   count: int = TRACED_WEIGHTS) -> dict[str, list[int]]:
    """{layer path: flat indices} of the scalar weights that :func:`weight_trace` follows.

    The paper does not say which four weights it drew; ours are fixed by position alone, the
    same in every run of a model: the centres of ``count`` equal slices of the flattened weight,
    ``(2k + 1)·n // (2·count)`` for k = 0 … count − 1, so in a convolution they fall in
    ``count`` different filters. Layers beyond the model's depth are left out.
    """
    found = weight_layers(model)
    traced = {}
    for index in layers:
        if 1 <= index <= len(found):
            name, module = found[index - 1]
            n = module.weight.numel()
            traced[name] = sorted({(2 * k + 1) * n // (2 * count) for k in range(count)})
    return traced


def weight_trace(model: nn.Module, before: dict[str, Tensor], layers: Sequence[int] = TRACE_LAYERS,
                 count: int = TRACED_WEIGHTS) -> dict[str, dict[str, float]]:
    """Paper B Fig. 4 as drawn: the signed increment w(e) − w(e−1) of each traced scalar weight.

    ``before`` is :func:`snapshot_weights` at the start of the epoch. Returned as
    {layer path: {flat index: increment}} (:func:`traced_weights` picks the indices); recorded in
    every epoch's history as ``weight_trace``, beside the per-layer norm ``delta_w``.
    """
    modules = dict(weight_layers(model))
    trace = {}
    for name, indices in traced_weights(model, layers, count).items():
        now, then = modules[name].weight.detach().reshape(-1), before[name].reshape(-1)
        trace[name] = {str(i): float(now[i] - then[i]) for i in indices}
    return trace


def weight_norms(model: nn.Module) -> dict[str, float]:
    """‖W_l‖_F of every weight layer l (the layers and order of :func:`weight_increments`).

    Recorded at the end of every epoch as ``weight_norm`` (and before the first as
    ``weight_norm_initial``), so that paper B's Fig. 4 increment can also be read relative
    to the layer's size, ‖W_l(e) − W_l(e−1)‖_F / ‖W_l(e−1)‖_F. The raw increment alone
    changes under a mere rescaling: an inner slope a makes f(a(Wx + b)) the same function as
    f(W′x + b′) with W′ = aW, so W → W/s with a → s·a leaves the network's function unchanged
    and divides ‖ΔW‖ by s (chapter ``paper-b-derivation``); the ratio does not change.
    """
    return {n: float(m.weight.detach().norm()) for n, m in weight_layers(model)}


def convergence_area(train_losses: Sequence[float]) -> float:
    """Paper B Fig. 6: area under the per-epoch training-loss curve.

    A = Σ_e L_e · (1 epoch), the rectangle rule with one-epoch width, so a
    single-epoch run has area L_1 and a curve that falls faster has less area.
    Compare areas only between runs with the same number of epochs.
    """
    return float(sum(train_losses))


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, batch_size: int = 1000,
             predictions: bool = False) -> tuple[float, float] | tuple[float, float, torch.Tensor]:
    """Mean cross-entropy and accuracy of ``model`` on ``split`` (eval mode, no gradients).

    With ``predictions`` also the predicted class of every example, in the split's order (on the
    CPU), so that two runs on the same test set can be compared example by example (McNemar).
    """
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=split.x.device)
    correct = torch.zeros((), device=split.x.device, dtype=torch.long)
    predicted = []
    for x, y in batches(split, batch_size, shuffle=False):
        logits = model(x)
        loss_sum += F.cross_entropy(logits, y, reduction="sum")
        guess = logits.argmax(1)
        correct += (guess == y).sum()
        if predictions:
            predicted.append(guess.cpu())
    model.train(was_training)
    n = len(split)
    if predictions:
        return float(loss_sum) / n, float(correct) / n, torch.cat(predicted)
    return float(loss_sum) / n, float(correct) / n
