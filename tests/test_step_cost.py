"""step_costs: side-by-side step timing ratios and memory held for backward (harness: test_timing.py); pareto_mask."""
import pandas as pd
import pytest
import torch

from mixact_lib.studies.step_cost import pareto_mask, step_costs


def test_step_costs_rows_and_reference():
    small = {"channels": [2, 2, 4, 4]}
    frame = step_costs(["adact", "relu", "sigmoid"], model_kwargs=small, batch_size=4, rounds=2, progress=False)
    assert list(frame.activation) == ["relu", "adact", "sigmoid"]  # ReLU first, once
    relu = frame.set_index("activation").loc["relu"]
    assert relu.step_ratio == pytest.approx(1.0) and relu.saved_ratio == pytest.approx(1.0)
    adact = frame.set_index("activation").loc["adact"]
    assert adact.extra_params > 0
    assert (frame.ratio_low <= frame.step_ratio).all() and (frame.step_ratio <= frame.ratio_high).all()
    assert frame.attrs["rounds"] == 2
    assert (frame.step_ms_min <= frame.step_ms).all() and frame.attrs["relu_ms"] == relu.step_ms
    assert frame.attrs["loaded"] in (True, False, None) and "other_cores" in frame.attrs["load"]
    assert "holds_freed_memory" in frame.attrs
    assert torch.get_num_threads() >= 1


def test_step_costs_rejects_bad_input():
    with pytest.raises(ValueError, match="rounds"):
        step_costs(["relu"], rounds=0)
    with pytest.raises(ValueError, match="unknown activation|not a known|Unknown"):
        step_costs(["no_such_activation"], rounds=1, progress=False)


def test_pareto_mask_keeps_only_undominated_rows():
    frame = pd.DataFrame({"acc": [0.90, 0.91, 0.89, 0.91], "time": [1.0, 2.0, 2.5, 2.0], "mem": [1, 1, 1, 3]})
    # row 2 is beaten by row 0 (lower acc, higher time); row 3 by row 1 (same acc and time, more memory)
    assert pareto_mask(frame, "acc", ["time", "mem"]).tolist() == [True, True, False, False]
    with pytest.raises(KeyError, match="speed"):
        pareto_mask(frame, "acc", ["speed"])
