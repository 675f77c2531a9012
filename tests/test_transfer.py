"""Transfer (ULMFiT §3.2–3.3): a language model moved to a new vocabulary (fastai's ``match_embeds``) and
its encoder loaded into the classifier."""
from __future__ import annotations

import pytest
import torch

from ulmfit_core.awd_lstm import AWDLSTMConfig, LanguageModel
from ulmfit_core.checkpoint import load_into
from ulmfit_core.classifier import TextClassifier
from ulmfit_core.transfer import DECODER_BIAS, DECODER_WEIGHT, EMBEDDING, encoder_state, match_embeddings

CFG = AWDLSTMConfig(emb_size=8, hidden_size=16, n_layers=3)
OLD = ["xxunk", "xxpad", "the", "a", "movie", "film", "good", "bad"]
NEW = ["xxunk", "xxpad", "film", "the", "plot", "great", "bad", "twist", "a"]   # 3 new words, 2 dropped




def pretrained() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = LanguageModel(len(OLD), CFG)
    with torch.no_grad():
        model.decoder.decoder.bias.copy_(torch.arange(len(OLD), dtype=torch.float) / 10)
    return model.state_dict()


def test_shared_words_keep_their_rows_and_new_words_get_the_means():
    state = pretrained()
    new = match_embeddings(state, OLD, NEW)
    emb, bias = new[EMBEDDING], new[DECODER_BIAS]
    assert emb.shape == (len(NEW), 8) and bias.shape == (len(NEW),)
    mean_row = state[EMBEDDING].mean(0)
    mean_bias = state[DECODER_BIAS].mean()
    for i, word in enumerate(NEW):
        if word in OLD:
            assert torch.equal(emb[i], state[EMBEDDING][OLD.index(word)]), word
            assert bias[i] == state[DECODER_BIAS][OLD.index(word)], word
        else:
            torch.testing.assert_close(emb[i], mean_row)
            assert float(bias[i]) == pytest.approx(float(mean_bias)) == pytest.approx(0.35)
    assert torch.equal(new[DECODER_WEIGHT], emb)                   # the tied decoder follows the embedding
    # Everything else is untouched and the input is not modified.
    assert all(torch.equal(new[k], v) for k, v in state.items() if k not in (EMBEDDING, DECODER_WEIGHT,
                                                                             DECODER_BIAS))
    assert state[EMBEDDING].shape == (len(OLD), 8)


def test_matched_weights_load_into_a_model_of_the_new_vocabulary():
    new = match_embeddings(pretrained(), OLD, NEW)
    model = LanguageModel(len(NEW), CFG)
    load_into(model, new, "pretrained LM")
    assert torch.equal(model.encoder.embedding.weight, new[EMBEDDING])
    assert torch.equal(model.decoder.decoder.bias, new[DECODER_BIAS])
    assert model.decoder.decoder.weight is model.encoder.embedding.weight
    ids = torch.tensor([[2, 3, 4, 8]])
    logits, *_ = model.eval()(ids)
    assert logits.shape == (1, 4, len(NEW)) and bool(torch.isfinite(logits).all())


def test_same_vocabulary_is_an_identity():
    state = pretrained()
    new = match_embeddings(state, OLD, OLD)
    assert all(torch.equal(new[k], state[k]) for k in state)


def test_wrong_old_vocabulary_is_rejected():
    with pytest.raises(ValueError, match="8 rows but the old vocabulary has 7 words"):
        match_embeddings(pretrained(), OLD[:-1], NEW)


def test_encoder_weights_move_into_the_classifier():
    state = pretrained()
    encoder = encoder_state(state)
    assert set(encoder) == {k[len("encoder."):] for k in state if k.startswith("encoder.")}
    torch.manual_seed(1)
    clf = TextClassifier(len(OLD), 3, CFG)
    load_into(clf.encoder.encoder, encoder, "fine-tuned LM")
    for key, value in encoder.items():
        assert torch.equal(clf.encoder.encoder.state_dict()[key], value), key
    assert torch.equal(clf.encoder.encoder.rnns[0].weight_hh_l0_raw, state["encoder.rnns.0.weight_hh_l0_raw"])
