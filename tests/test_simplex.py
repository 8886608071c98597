"""mixact_lib.studies.simplex on a tiny paper A net trained here: the learned point, the vertices, the errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import mixact_lib as mx
from mixact_lib.studies import simplex
from mixact_lib.activations import normalise
from mixact_lib.data import DatasetNotFoundError
from mixact_lib.training import evaluate


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A paper A run (softmax reading, 1 epoch per cycle) on 200 images: (folder, its training split)."""
    out = tmp_path_factory.mktemp("simplex") / "run"
    config = mx.paper_config("a", epochs=1, train_subset=200, test_subset=100, act_lr=1e-1, out=str(out))
    try:
        data = mx.load_dataset("fmnist", train_subset=200, test_subset=100)
    except DatasetNotFoundError:
        data = mx.synthetic_dataset(num_train=200, num_test=100)
    torch.set_num_threads(1)
    mx.run(config, data=data, progress=False)
    return out, data.train


@pytest.mark.parametrize("norm", ["softmax", "abs", "square", "none"])
def test_raw_weights_invert_every_reading(norm):
    for p in ([0.2, 0.5, 0.3], [1.0, 0.0, 0.0], [0.0, 0.25, 0.75]):
        assert normalise(simplex.raw_weights(torch.tensor(p), norm), norm).tolist() == pytest.approx(p, abs=1e-7)
    assert normalise(simplex.raw_weights(torch.tensor([0.0, 1.0, 0.0]), norm), norm).tolist() == [0.0, 1.0, 0.0]


def test_barycentric_grid_covers_the_simplex_with_its_vertices():
    grid = simplex.barycentric_grid(4)
    assert grid.shape == (15, 3) and np.allclose(grid.sum(1), 1) and (grid >= 0).all()
    assert {tuple(row) for row in grid} >= {(1, 0, 0), (0, 1, 0), (0, 0, 1), (0.25, 0.25, 0.5)}
    with pytest.raises(ValueError, match="integer >= 1"):
        simplex.barycentric_grid(0)


def test_the_learned_point_is_the_unchanged_model(trained):
    folder, train = trained
    table, learned = simplex.simplex_loss(folder, 1, train, resolution=3, batch_size=64)
    assert len(table) == 10 + 6 + 1 and table.learned.sum() == 1 and bool(learned.learned)
    assert list(table.columns) == ["p_relu", "p_tanh", "p_sin", "loss", "accuracy", "point", "learned"]
    assert table.point.tolist() == ["grid"] * 10 + ["step"] * 6 + ["learned"]
    model = simplex.load_trained_model(folder, tuple(train.x.shape[1:]))
    loss, accuracy = evaluate(model, train)
    assert learned.loss == pytest.approx(loss, rel=1e-5) and learned.accuracy == pytest.approx(accuracy)
    p = mx.mixture_weights(folder).loc["layer 1"]
    assert [learned.p_relu, learned.p_tanh, learned.p_sin] == pytest.approx(p[["relu", "tanh", "sin"]].tolist())
    assert table.loss.nunique() > 5  # the layer's p does change the loss: the grid is not one model 11 times


def test_steps_move_weight_from_one_member_to_another_and_stay_on_the_simplex():
    learned = np.array([0.5, 0.45, 0.05])
    near = simplex.steps_from(learned, 0.1)
    assert near.shape == (6, 3) and np.allclose(near.sum(1), 1) and (near >= 0).all()
    moved = np.abs(near - learned).max(1)
    assert np.allclose(sorted(moved), [0.05, 0.05, 0.1, 0.1, 0.1, 0.1])  # p_sin has only 0.05 to give
    assert [0.6, 0.35, 0.05] in np.round(near, 12).tolist()


@pytest.mark.parametrize("member", ["relu", "tanh", "sin"])
def test_a_vertex_is_the_net_with_that_single_function(trained, member):
    folder, train = trained
    table, _ = simplex.simplex_loss(folder, 1, (train.x, train.y), resolution=1, step=None)
    assert len(table) == 3 + 1
    vertex = table[(table[f"p_{member}"] == 1.0) & ~table.learned].iloc[0]
    model = simplex.load_trained_model(folder, tuple(train.x.shape[1:]))
    model.features.act1 = mx.make_activation(member)  # layer 1 of paper_a_net, now a single function
    loss, accuracy = evaluate(model, train)
    assert vertex.loss == pytest.approx(loss, rel=1e-5) and vertex.accuracy == pytest.approx(accuracy)
    others = table[(table[f"p_{member}"] == 0.0)]
    assert (others.loss - loss).abs().min() > 1e-4  # negative control: another vertex is another net


def test_flatness_reads_the_range_and_the_neighbourhood(trained):
    folder, train = trained
    table, learned = simplex.simplex_loss(folder, 3, train, resolution=2)
    flat = simplex.flatness(table, radius=1.0)
    assert flat["range"] == pytest.approx(table.loss.max() - table.loss.min())
    assert flat["near_points"] == len(table) and flat["near_range"] == pytest.approx(flat["range"])
    assert flat["loss_learned"] == learned.loss and flat["best_vertex"] in ("relu", "tanh", "sin")
    assert flat["near_change"] == pytest.approx((table.loss - learned.loss).abs().max())
    alone = simplex.flatness(table, radius=0.0)
    assert alone["near_points"] == 1 and alone["near_range"] == 0.0
    local = simplex.flatness(table, radius=0.1)
    assert local["near_points"] == 7  # p̂ and its six steps (this run's p̂ is far from the grid of resolution 2)


def test_errors_say_what_to_do(trained, tmp_path):
    folder, train = trained
    with pytest.raises(ValueError, match="from 1 to 3"):
        simplex.simplex_loss(folder, 4, train, resolution=1)
    with pytest.raises(ValueError, match="from 1 to 3"):
        simplex.simplex_loss(folder, 0, train, resolution=1)
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text((folder / "config.json").read_text())
    with pytest.raises(ValueError, match="keep_checkpoint=True"):
        simplex.simplex_loss(bare, 1, train, resolution=1)
    assert json.loads((folder / "config.json").read_text())["activation"] == "mix"


def test_plot_marks_the_learned_point_and_labels_the_vertices(trained):
    from mixact_lib.report import plots
    folder, train = trained
    table, _ = simplex.simplex_loss(folder, 1, train, resolution=3)
    fig = plots.plot_simplex_loss(table, title="layer 1")
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"ReLU", "tanh", "sin"} <= texts
    assert any(line.get_label() == "learned p" for line in fig.axes[0].get_lines())
    assert "loss" in fig.axes[1].get_ylabel()
