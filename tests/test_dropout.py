"""The AWD-LSTM dropouts (Merity et al. 2017; ULMFiT §3.1) and AR/TAR (Merity et al. 2017, §4.6)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ulmfit_core.awd_lstm import AWDLSTM, AWDLSTMConfig, LanguageModel
from ulmfit_core.dropout import EmbeddingDropout, LockedDropout, WeightDropout
from ulmfit_core.regularize import ar_tar_loss

VOCAB = 50




def positive_input(batch: int = 4, time: int = 9, features: int = 32) -> torch.Tensor:
    """Strictly positive activations, so a zero in the output can only come from the mask."""
    return torch.rand(batch, time, features, generator=torch.Generator().manual_seed(1)) + 0.5


# ---------------------------------------------------------------- locked (variational) dropout


def test_locked_dropout_reuses_one_mask_over_time():
    torch.manual_seed(0)
    p = 0.4
    x = positive_input()
    out = LockedDropout(p).train()(x)
    kept = out[:, :1, :] != 0                                 # (batch, 1, features) at t = 0
    assert torch.equal(out != 0, kept.expand_as(out))         # zeros at the same features at every step
    torch.testing.assert_close(out, x * kept / (1 - p))       # kept values scaled by 1/(1-p)
    assert 0 < int(kept.sum()) < kept.numel()                 # some features dropped, some kept
    # One mask per sequence: sequences of the batch get different masks.
    assert not all(torch.equal(kept[0], kept[b]) for b in range(1, x.size(0)))


def test_locked_dropout_is_identity_in_eval_and_with_p_zero():
    x = positive_input()
    assert torch.equal(LockedDropout(0.5).eval()(x), x)
    assert torch.equal(LockedDropout(0.0).train()(x), x)


def test_locked_dropout_draws_a_new_mask_each_forward():
    torch.manual_seed(0)
    layer, x = LockedDropout(0.5).train(), positive_input()
    assert not torch.equal(layer(x), layer(x))


# ---------------------------------------------------------------- embedding (whole-word) dropout


def test_embedding_dropout_zeroes_whole_words():
    torch.manual_seed(0)
    p = 0.5
    emb = nn.Embedding(VOCAB, 8, padding_idx=1)
    ids = torch.arange(2, VOCAB).repeat(3).reshape(6, -1)     # every word id 2..49 three times
    ids = ids[:, torch.randperm(ids.size(1))]
    out = EmbeddingDropout(p).train()(emb, ids)
    dropped, kept = set(), set()
    for word in range(2, VOCAB):
        rows = out[ids == word]                               # every occurrence of the word in the batch
        if torch.all(rows == 0):
            dropped.add(word)
        else:
            kept.add(word)
            expected = (emb.weight[word] / (1 - p)).expand_as(rows)
            torch.testing.assert_close(rows, expected, rtol=1e-6, atol=0)
    assert dropped and kept                                   # p = 0.5 over 48 words: both happen


def test_embedding_dropout_is_a_plain_lookup_in_eval_and_with_p_zero():
    emb = nn.Embedding(VOCAB, 8, padding_idx=1)
    ids = torch.randint(0, VOCAB, (3, 11), generator=torch.Generator().manual_seed(0))
    assert torch.equal(EmbeddingDropout(0.5).eval()(emb, ids), emb(ids))
    assert torch.equal(EmbeddingDropout(0.0).train()(emb, ids), emb(ids))


def test_embedding_weight_is_stored_once():
    cfg = AWDLSTMConfig(emb_size=8, hidden_size=16, n_layers=3)
    state = AWDLSTM(VOCAB, cfg).state_dict()
    assert [k for k, v in state.items() if v.shape == (VOCAB, 8)] == ["embedding.weight"]
    assert not [k for k in state if k.startswith("embed_dropout")]
    lm_state = LanguageModel(VOCAB, cfg).state_dict()
    ptr = lm_state["encoder.embedding.weight"].data_ptr()
    # The only other key on the embedding's storage is the tied decoder weight.
    assert {k for k, v in lm_state.items() if v.data_ptr() == ptr} == {"encoder.embedding.weight",
                                                                       "decoder.decoder.weight"}


# ---------------------------------------------------------------- weight dropout (DropConnect)


def weight_dropped_lstm(p: float) -> WeightDropout:
    torch.manual_seed(0)
    return WeightDropout(nn.LSTM(6, 10, batch_first=True), p)


def lstm_input() -> torch.Tensor:
    return torch.randn(3, 5, 6, generator=torch.Generator().manual_seed(2))


def test_weight_dropout_resamples_hidden_to_hidden_weights_each_training_forward():
    p = 0.5
    wd, x = weight_dropped_lstm(p), lstm_input()
    raw = wd.weight_hh_l0_raw
    wd.train()
    wd(x)
    first = wd.module.weight_hh_l0.detach().clone()
    wd(x)
    second = wd.module.weight_hh_l0.detach().clone()
    assert not torch.equal(first, second)
    for eff in (first, second):
        kept = eff != 0
        assert 0 < int(kept.sum()) < kept.numel()
        torch.testing.assert_close(eff[kept], raw.detach()[kept] / (1 - p))
    # Only the hidden-to-hidden matrix is dropped.
    assert isinstance(wd.module.weight_ih_l0, nn.Parameter)
    assert not hasattr(wd, "weight_ih_l0_raw")


def test_weight_dropout_lstm_runs_on_the_dropped_weights():
    wd, x = weight_dropped_lstm(0.5), lstm_input()
    wd.train()
    out, _ = wd(x)
    reference = nn.LSTM(6, 10, batch_first=True)
    with torch.no_grad():
        for name, value in reference.named_parameters():
            value.copy_(getattr(wd.module, name))            # weight_hh_l0: the dropped copy just used
    torch.testing.assert_close(out, reference(x)[0], rtol=1e-6, atol=1e-7)


def test_weight_dropout_is_identity_in_eval():
    wd, x = weight_dropped_lstm(0.5), lstm_input()
    wd.eval()
    out1, _ = wd(x)
    assert torch.equal(wd.module.weight_hh_l0, wd.weight_hh_l0_raw)
    assert not isinstance(wd.module.weight_hh_l0, nn.Parameter)   # a copy, not the Parameter itself
    out2, _ = wd(x)
    assert torch.equal(out1, out2)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_weight_dropout_with_p_zero(mode):
    wd, x = weight_dropped_lstm(0.0), lstm_input()
    wd.train(mode == "train")
    out, _ = wd(x)
    assert torch.equal(wd.module.weight_hh_l0, wd.weight_hh_l0_raw)
    assert not isinstance(wd.module.weight_hh_l0, nn.Parameter)
    wd.train(mode != "train")
    assert torch.equal(wd(x)[0], out)                         # p = 0: train and eval agree


@pytest.mark.parametrize("p,mode", [(0.5, "train"), (0.5, "eval"), (0.0, "train")])
def test_weight_dropout_gradients_reach_the_raw_weights(p, mode):
    wd, x = weight_dropped_lstm(p), lstm_input()
    wd.train(mode == "train")
    out, _ = wd(x)
    out.pow(2).sum().backward()
    grad = wd.weight_hh_l0_raw.grad
    assert grad is not None and float(grad.abs().sum()) > 0
    names = {n for n, _ in wd.named_parameters()}
    assert "weight_hh_l0_raw" in names and "module.weight_hh_l0" not in names


@pytest.mark.parametrize("p", [0.0, 0.5])
def test_weight_dropout_survives_train_eval_train_cycles(p):
    """The pitfall: assigning the raw Parameter itself in eval breaks the next training assignment."""
    wd, x = weight_dropped_lstm(p), lstm_input()
    for mode in (True, False, True, False, True):
        wd.train(mode)
        out, _ = wd(x)
        assert out.shape == (3, 5, 10)
        assert not isinstance(wd.module.weight_hh_l0, nn.Parameter)
    out.sum().backward()
    assert wd.weight_hh_l0_raw.grad is not None


# ---------------------------------------------------------------- AR / TAR


def test_ar_tar_equals_the_formula_computed_by_hand():
    g = torch.Generator().manual_seed(3)
    dropped, raw = torch.randn(2, 4, 3, generator=g), torch.randn(2, 4, 3, generator=g)
    alpha, beta = 2.0, 1.0
    ar = sum(float(v) ** 2 for v in dropped.flatten()) / dropped.numel()
    diffs = [float(raw[b, t, f] - raw[b, t - 1, f]) for b in range(2) for t in range(1, 4) for f in range(3)]
    tar = sum(d * d for d in diffs) / len(diffs)
    assert float(ar_tar_loss(dropped, raw, alpha, beta)) == pytest.approx(alpha * ar + beta * tar, rel=1e-6)
    assert float(ar_tar_loss(dropped, raw, 3.0, 0.0)) == pytest.approx(3.0 * ar, rel=1e-6)
    assert float(ar_tar_loss(dropped, raw, 0.0, 0.5)) == pytest.approx(0.5 * tar, rel=1e-6)
    # A single time step has no temporal difference.
    assert float(ar_tar_loss(dropped[:, :1], raw[:, :1], 0.0, 1.0)) == 0.0
