"""The same training loop on a GPU under mixed precision (skipped without CUDA)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ulmfit_core.awd_lstm import AWDLSTMConfig, LanguageModel, lm_dropouts
from ulmfit_core.batching import TextDataset
from ulmfit_core.classifier import TextClassifier
from ulmfit_core.tasks import ClassificationTask, LMTask
from ulmfit_core.train import TrainConfig, autocast_for, fit

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

VOCAB = 50
CFG = AWDLSTMConfig(emb_size=16, hidden_size=32, n_layers=3)


@pytest.fixture
def cuda() -> torch.device:
    return torch.device("cuda")


def test_autocast_runs_the_model_in_half_precision(cuda):
    torch.manual_seed(0)
    model = LanguageModel(VOCAB, lm_dropouts(CFG)).to(cuda)
    ids = torch.randint(2, VOCAB, (4, 12), device=cuda)
    with autocast_for(cuda):
        logits, *_ = model(ids)
    assert logits.dtype in (torch.bfloat16, torch.float16)
    for mode in (True, False, True):                             # weight-drop cycles on cuDNN
        model.train(mode)
        with autocast_for(cuda):
            logits, *_ = model(ids)
        assert bool(torch.isfinite(logits.float()).all())


def test_language_model_fits_one_epoch_on_cuda(cuda, tmp_path):
    rng = np.random.default_rng(0)
    docs = [rng.integers(2, VOCAB, rng.integers(20, 80)) for _ in range(200)]
    torch.manual_seed(0)
    model = LanguageModel(VOCAB, lm_dropouts(CFG))
    task = LMTask(docs[:180], docs[180:], batch_size=16, bptt=20, device=cuda)
    history = fit(model, model.layer_groups(), task, TrainConfig(epochs=1, lr=0.01, batch_size=16, clip=0.3),
                  tmp_path, cuda, progress=False)
    assert math.isfinite(history[0]["train_loss"]) and math.isfinite(history[0]["valid_loss"])
    assert history[0]["valid_loss"] < math.log(VOCAB) + 0.5
    assert all(p.device.type == "cuda" for p in model.parameters())
    print(f"\nLM on {torch.cuda.get_device_name()}: {history[0]['items_per_s']:.0f} tokens/s "
          f"(tiny model, first epoch includes warm-up)")


def test_classifier_fits_one_epoch_on_cuda(cuda, tmp_path):
    rng = np.random.default_rng(0)
    docs = [rng.integers(2, VOCAB, rng.integers(3, 120)) for _ in range(72)]
    labels = rng.integers(0, 3, 72)
    torch.manual_seed(0)
    model = TextClassifier(VOCAB, 3, CFG, bptt=20, max_len=60, head_hidden=8)
    task = ClassificationTask(TextDataset(docs[:64], labels[:64]), TextDataset(docs[64:], labels[64:]),
                              batch_size=8, device=cuda)
    history = fit(model, model.layer_groups(), task,
                  TrainConfig(epochs=2, lr=0.01, batch_size=8, strategy="gradual_unfreeze"), tmp_path, cuda,
                  progress=False)
    assert all(math.isfinite(h["train_loss"]) and math.isfinite(h["valid_loss"]) for h in history)
    assert all(p.device.type == "cuda" for p in model.parameters())
    print(f"\nclassifier on {torch.cuda.get_device_name()}: {history[-1]['items_per_s']:.0f} documents/s")
