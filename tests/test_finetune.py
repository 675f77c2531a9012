"""Classifier fine-tuning strategies (ULMFiT §3.3, Table 7): full, last, gradual unfreezing, chain-thaw —
as stage plans and inside a real ``fit``, where frozen layer groups must stay bit-identical."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ulmfit_core.awd_lstm import AWDLSTMConfig
from ulmfit_core.batching import TextDataset
from ulmfit_core.classifier import TextClassifier
from ulmfit_core.finetune import Stage, freeze_to, stages_for
from ulmfit_core.tasks import ClassificationTask
from ulmfit_core.train import TrainConfig, fit
from wrapped_task import Wrapped

VOCAB, N_GROUPS = 50, 5




# ---------------------------------------------------------------- stage plans


def test_gradual_unfreezing_adds_one_group_from_the_top_per_epoch():
    assert stages_for("gradual_unfreeze", 5, 7) == [
        Stage((4,), 1), Stage((3, 4), 1), Stage((2, 3, 4), 1), Stage((1, 2, 3, 4), 1),
        Stage((0, 1, 2, 3, 4), 3)]
    assert stages_for("gradual_unfreeze", 4, 4) == [
        Stage((3,), 1), Stage((2, 3), 1), Stage((1, 2, 3), 1), Stage((0, 1, 2, 3), 1)]


@pytest.mark.parametrize("epochs", [1, 2, 3, 5, 9])
def test_gradual_unfreezing_keeps_the_epoch_budget_and_ends_with_all_groups(epochs):
    stages = stages_for("gradual_unfreeze", 5, epochs)
    assert sum(s.epochs for s in stages) == epochs
    assert stages[-1].groups == (0, 1, 2, 3, 4)
    for s in stages:                                            # always a top slice: the head is in every stage
        assert s.groups == tuple(range(5 - len(s.groups), 5))


def test_chain_thaw_trains_the_head_then_each_group_alone_then_all():
    assert stages_for("chain_thaw", 5, 7) == [
        Stage((4,), 1), Stage((0,), 1), Stage((1,), 1), Stage((2,), 1), Stage((3,), 1),
        Stage((0, 1, 2, 3, 4), 2)]


def test_full_and_last():
    assert stages_for("full", 5, 3) == [Stage((0, 1, 2, 3, 4), 3)]
    assert stages_for("last", 5, 3) == [Stage((4,), 3)]
    assert stages_for("full", 4, 1) == [Stage((0, 1, 2, 3), 1)]


def test_unknown_strategy_is_rejected():
    with pytest.raises(ValueError, match="'thaw'"):
        stages_for("thaw", 5, 3)


def test_freeze_to_sets_requires_grad_by_group():
    groups = [[torch.nn.Parameter(torch.zeros(2)) for _ in range(2)] for _ in range(4)]
    freeze_to(groups, (1, 3))
    assert [[p.requires_grad for p in g] for g in groups] == [[False] * 2, [True] * 2, [False] * 2, [True] * 2]
    freeze_to(groups, (0, 1, 2, 3))
    assert all(p.requires_grad for g in groups for p in g)


# ---------------------------------------------------------------- strategies inside fit


class Snapshots(Wrapped):
    """A classification task that records every layer group's weights after each epoch (in ``evaluate``)."""

    def __init__(self, task: ClassificationTask) -> None:
        super().__init__(task)
        self.states = []

    def evaluate(self, model):
        self.states.append([[p.detach().clone() for p in g] for g in model.layer_groups()])
        return self.task.evaluate(model)


def changed_groups(before: list[list[torch.Tensor]], after: list[list[torch.Tensor]]) -> set[int]:
    """Indices of the layer groups in which any tensor differs (bit for bit)."""
    return {k for k, (b, a) in enumerate(zip(before, after)) if not all(torch.equal(x, y) for x, y in zip(b, a))}


def run_strategy(strategy: str, epochs: int, tmp_path) -> tuple[list[set[int]], list[dict], TextClassifier]:
    """Fit a tiny classifier; return, per epoch, the groups whose weights changed during that epoch."""
    rng = np.random.default_rng(0)
    docs = [rng.integers(2, VOCAB, rng.integers(3, 20)) for _ in range(20)]
    labels = rng.integers(0, 3, 20)
    train = TextDataset(docs[:16], labels[:16])
    valid = TextDataset(docs[16:], labels[16:])
    torch.manual_seed(0)
    model = TextClassifier(VOCAB, 3, AWDLSTMConfig(emb_size=8, hidden_size=16, n_layers=3), bptt=5,
                           max_len=20, head_hidden=8)
    initial = [[p.detach().clone() for p in g] for g in model.layer_groups()]
    task = Snapshots(ClassificationTask(train, valid, batch_size=4))
    cfg = TrainConfig(epochs=epochs, lr=0.01, strategy=strategy, batch_size=4)
    history = fit(model, model.layer_groups(), task, cfg, tmp_path, torch.device("cpu"), progress=False)
    states = [initial] + task.states
    return [changed_groups(a, b) for a, b in zip(states, states[1:])], history, model


def test_gradual_unfreezing_in_fit_leaves_frozen_groups_bit_identical(tmp_path):
    changes, history, model = run_strategy("gradual_unfreeze", 3, tmp_path)
    assert changes == [{4}, {3, 4}, {0, 1, 2, 3, 4}]
    assert [h["trainable_groups"] for h in history] == [[4], [3, 4], [0, 1, 2, 3, 4]]
    assert [h["stage"] for h in history] == [0, 1, 2]
    assert all(p.requires_grad for p in model.parameters())    # everything trainable again after fit


def test_chain_thaw_in_fit_changes_one_group_per_epoch(tmp_path):
    changes, history, _ = run_strategy("chain_thaw", 6, tmp_path)
    assert changes == [{4}, {0}, {1}, {2}, {3}, {0, 1, 2, 3, 4}]
    assert len(history) == 6


def test_last_in_fit_only_trains_the_head(tmp_path):
    changes, _, _ = run_strategy("last", 2, tmp_path)
    assert changes == [{4}, {4}]
