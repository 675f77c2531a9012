"""The AWD-LSTM language model (ULMFiT §3.1): shapes, tied decoder, layer groups, determinism, state."""
from __future__ import annotations

import torch

from ulmfit_core.awd_lstm import AWDLSTM, AWDLSTMConfig, LanguageModel, lm_dropouts

VOCAB = 50
CFG = AWDLSTMConfig(emb_size=8, hidden_size=16, n_layers=3)




def lm(cfg: AWDLSTMConfig = CFG, seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    return LanguageModel(VOCAB, cfg)


def token_ids(batch: int = 3, time: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.randint(2, VOCAB, (batch, time), generator=torch.Generator().manual_seed(seed))


def test_encoder_layer_sizes_end_at_the_embedding_size():
    enc = AWDLSTM(VOCAB, CFG).eval()
    raw, dropped, hidden = enc(token_ids())
    assert [r.shape for r in raw] == [(3, 12, 16), (3, 12, 16), (3, 12, 8)]
    assert [d.shape for d in dropped] == [r.shape for r in raw]
    assert [(h.shape, c.shape) for h, c in hidden] == [((1, 3, 16), (1, 3, 16))] * 2 + [((1, 3, 8), (1, 3, 8))]
    assert all(not h.requires_grad and not c.requires_grad for h, c in hidden)   # detached (truncated BPTT)


def test_padding_row_starts_at_zero():
    enc = AWDLSTM(VOCAB, CFG)
    assert torch.equal(enc.embedding.weight[CFG.pad_id], torch.zeros(CFG.emb_size))
    assert float(enc.embedding.weight.detach().abs().max()) <= 0.1


def test_decoder_is_tied_to_the_embedding_and_stays_tied_after_a_step():
    model = lm()
    emb, dec = model.encoder.embedding.weight, model.decoder.decoder.weight
    assert dec is emb and dec.data_ptr() == emb.data_ptr()
    before = emb.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    logits, *_ = model.train()(token_ids())
    logits.logsumexp(-1).mean().backward()
    opt.step()
    assert not torch.equal(emb, before)                        # the step did change the weight
    assert torch.equal(model.decoder.decoder.weight, model.encoder.embedding.weight)
    assert model.decoder.decoder.weight.data_ptr() == model.encoder.embedding.weight.data_ptr()


def test_decoder_bias_starts_at_zero_and_logits_cover_the_vocabulary():
    model = lm().eval()
    assert torch.equal(model.decoder.decoder.bias, torch.zeros(VOCAB))
    logits, raw, dropped, _ = model(token_ids())
    assert logits.shape == (3, 12, VOCAB)
    assert torch.equal(raw, dropped)                           # eval: no output dropout
    torch.testing.assert_close(logits, raw @ model.encoder.embedding.weight.T)


def test_lm_layer_groups_hold_every_parameter_once():
    model = lm()
    groups = model.layer_groups()
    assert len(groups) == 4
    flat = [id(p) for g in groups for p in g]
    assert len(flat) == len(set(flat))                          # no parameter twice (tied weight once)
    assert set(flat) == {id(p) for p in model.parameters()}     # and none missing
    for k in range(3):
        assert {id(p) for p in groups[k]} == {id(p) for p in model.encoder.rnns[k].parameters()}
        assert any(p is model.encoder.rnns[k].weight_hh_l0_raw for p in groups[k])
    assert groups[3][0] is model.encoder.embedding.weight and groups[3][0] is model.decoder.decoder.weight
    assert groups[3][1] is model.decoder.decoder.bias and len(groups[3]) == 2


def test_eval_mode_is_deterministic_and_training_is_not():
    model = lm(lm_dropouts(CFG, 1.0))
    ids = token_ids()
    model.eval()
    assert torch.equal(model(ids)[0], model(ids)[0])
    model.train()
    assert not torch.equal(model(ids)[0], model(ids)[0])


def test_without_dropout_training_and_eval_agree():
    model = lm(CFG.with_dropout(0.0))
    ids = token_ids()
    torch.testing.assert_close(model.train()(ids)[0], model.eval()(ids)[0], rtol=1e-6, atol=1e-7)


def test_hidden_state_carried_across_windows_equals_one_long_window():
    model = lm().eval()
    ids = token_ids(time=20)
    whole, *_ = model(ids)
    first, _, _, hidden = model(ids[:, :7])
    second, *_ = model(ids[:, 7:], hidden)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, rtol=1e-5, atol=1e-6)
    fresh, *_ = model(ids[:, 7:])
    assert not torch.allclose(fresh, second)                  # the carried state matters


def test_with_dropout_multiplies_every_dropout():
    half = CFG.with_dropout(0.5)
    assert (half.embed_p, half.input_p, half.hidden_p, half.weight_p, half.output_p) == \
        (0.025, 0.2, 0.15, 0.25, 0.2)
    lm_cfg = lm_dropouts(CFG, 2.0)
    assert (lm_cfg.input_p, lm_cfg.output_p, lm_cfg.weight_p, lm_cfg.embed_p, lm_cfg.hidden_p) == \
        (0.5, 0.2, 0.4, 0.04, 0.3)
    built = lm(CFG.with_dropout(0.5))
    assert built.encoder.embed_dropout.p == 0.025 and built.encoder.rnns[0].p == 0.25
    assert built.decoder.dropout.p == 0.2 and built.encoder.hidden_dropouts[1].p == 0.15
