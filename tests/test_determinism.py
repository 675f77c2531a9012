"""Determinism on the CPU: the same seed and scale give the same result, bit for bit, from empty results
and cache folders; another seed gives another result."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ulmfit_core.awd_lstm import AWDLSTMConfig, LanguageModel, lm_dropouts
from ulmfit_core.batching import TextDataset
from ulmfit_core.classifier import TextClassifier
from ulmfit_core.tasks import ClassificationTask, LMTask
from ulmfit_core.train import TrainConfig, fit
from ulmfit_core.harness import experiments as E
from ulmfit_core.harness.scales import get_scale

VOCAB = 50
CFG = AWDLSTMConfig(emb_size=8, hidden_size=16, n_layers=2)
CPU = torch.device("cpu")
TIMING = ("seconds", "items_per_s")


def without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k not in TIMING} for h in history]


def train_lm(seed: int) -> tuple[dict[str, torch.Tensor], list[dict]]:
    rng = np.random.default_rng(0)
    docs = [rng.integers(2, VOCAB, rng.integers(10, 30)) for _ in range(24)]
    torch.manual_seed(0)
    model = LanguageModel(VOCAB, lm_dropouts(CFG))
    history = fit(model, model.layer_groups(), LMTask(docs[:20], docs[20:], batch_size=4, bptt=8, seed=seed),
                  TrainConfig(epochs=2, lr=0.01, batch_size=4, seed=seed), None, CPU, progress=False)
    return model.state_dict(), history


def train_classifier(seed: int) -> tuple[dict[str, torch.Tensor], list[dict]]:
    rng = np.random.default_rng(0)
    docs = [rng.integers(2, VOCAB, rng.integers(3, 25)) for _ in range(22)]
    labels = rng.integers(0, 3, 22)
    torch.manual_seed(seed)
    model = TextClassifier(VOCAB, 3, CFG, bptt=5, max_len=15, head_hidden=8)
    task = ClassificationTask(TextDataset(docs[:16], labels[:16]), TextDataset(docs[16:], labels[16:]),
                              batch_size=4, seed=seed)
    history = fit(model, model.layer_groups(), task,
                  TrainConfig(epochs=2, lr=0.01, batch_size=4, strategy="gradual_unfreeze", seed=seed),
                  None, CPU, progress=False)
    return model.state_dict(), history


@pytest.mark.parametrize("train", [train_lm, train_classifier], ids=["lm", "classifier"])
def test_training_twice_with_one_seed_gives_identical_weights(train):
    (a, history_a), (b, history_b), (c, history_c) = train(0), train(0), train(1)
    assert a.keys() == b.keys()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    assert without_timing(history_a) == without_timing(history_b)
    assert any(not torch.equal(a[k], c[k]) for k in a)                # another seed: other dropout, order
    assert without_timing(history_a) != without_timing(history_c)


def ensure_in(folder: Path, seed: int, monkeypatch) -> tuple[dict, dict[str, np.ndarray]]:
    """Run the smoke TREC-6 classifier (from scratch) with empty results and cache folders under ``folder``;
    return its record and per-example predictions."""
    monkeypatch.setenv("ULMFIT_RESULTS", str(folder / "results"))
    monkeypatch.setenv("ULMFIT_CACHE", str(folder / "cache"))
    E._task_data.cache_clear()
    run = E.classifier_run(get_scale("smoke"), "trec6", seed, None, variant="from scratch")
    record = E.ensure(run, device="cpu")
    assert run.record_path.is_relative_to(folder) and run.preds_path.exists()
    return record, E.predictions(run)


def test_a_smoke_run_repeats_exactly_from_empty_folders_and_another_seed_differs(shared_data, tmp_path,
                                                                                   monkeypatch):
    first, preds_first = ensure_in(tmp_path / "one", 0, monkeypatch)
    second, preds_second = ensure_in(tmp_path / "two", 0, monkeypatch)
    assert first["id"] == second["id"]
    assert first["metrics"] == second["metrics"]
    assert without_timing(first["history"]) == without_timing(second["history"])
    assert preds_first.keys() == preds_second.keys() == {"valid_probs", "valid_labels", "test_probs",
                                                         "test_labels"}
    for key in preds_first:
        assert np.array_equal(preds_first[key], preds_second[key]), key
    assert first["provenance"]["device"] == "cpu"

    other, preds_other = ensure_in(tmp_path / "two", 1, monkeypatch)
    assert other["id"] != first["id"]
    assert np.array_equal(preds_other["test_labels"], preds_first["test_labels"])   # same examples
    assert not np.array_equal(preds_other["test_probs"], preds_first["test_probs"])
    assert without_timing(other["history"]) != without_timing(first["history"])
