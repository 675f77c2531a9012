"""The classifier (ULMFiT §3.3): BPT3C, concat pooling over real tokens, the head, layer groups."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ulmfit_core.awd_lstm import AWDLSTMConfig
from ulmfit_core.classifier import TextClassifier, masked_concat_pool

VOCAB, PAD, N_CLASSES = 50, 1, 3
CFG = AWDLSTMConfig(emb_size=8, hidden_size=16, n_layers=3)
# Equal within float noise: a padding or layout bug moves logits by ~1e-2, far beyond this.
EXACT = {"rtol": 1e-6, "atol": 1e-6}




def classifier(cfg: AWDLSTMConfig = CFG, bptt: int = 5, max_len: int = 100) -> TextClassifier:
    torch.manual_seed(0)
    return TextClassifier(VOCAB, N_CLASSES, cfg, bptt=bptt, max_len=max_len, head_hidden=8)


def doc(n: int, seed: int, low: int = 2, high: int = VOCAB) -> torch.Tensor:
    return torch.randint(low, high, (n,), generator=torch.Generator().manual_seed(seed))


def batch_of(*docs: torch.Tensor, width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ``docs`` into (ids, lengths)."""
    lengths = torch.tensor([len(d) for d in docs])
    ids = torch.full((len(docs), width or int(lengths.max())), PAD)
    for row, d in enumerate(docs):
        ids[row, :len(d)] = d
    return ids, lengths


# ---------------------------------------------------------------- concat pooling


def test_masked_concat_pool_uses_real_tokens_only():
    g = torch.Generator().manual_seed(0)
    lengths = [7, 3, 5]
    output = -torch.rand(3, 7, 4, generator=g) - 0.1           # real activations all negative
    mask = torch.arange(7).unsqueeze(0) >= torch.tensor(lengths).unsqueeze(1)
    output = output.masked_fill(mask.unsqueeze(-1), 1e6)       # padding would win any max or mean
    pooled = masked_concat_pool(output, mask, torch.tensor(lengths) - 1)
    manual = torch.stack([torch.cat([output[b, n - 1], output[b, :n].max(0).values, output[b, :n].mean(0)])
                          for b, n in enumerate(lengths)])
    assert pooled.shape == (3, 12)
    torch.testing.assert_close(pooled, manual)


# ---------------------------------------------------------------- padding and batch independence


@pytest.mark.parametrize("max_len", [100, 15])
def test_appending_padding_does_not_change_the_logits(max_len):
    model = classifier(max_len=max_len).eval()
    docs = (doc(23, 1), doc(9, 2), doc(4, 3))
    tight = model(*batch_of(*docs))
    padded = model(*batch_of(*docs, width=41))
    torch.testing.assert_close(padded, tight, **EXACT)


@pytest.mark.parametrize("max_len,n", [(100, 12), (15, 12), (15, 23), (15, 30)])
def test_logits_do_not_depend_on_the_other_documents_of_the_batch(max_len, n):
    """A document alone, or batched with much longer and shorter ones (BPT3C with truncation when
    ``max_len`` = 15 < the lengths), gets the same logits."""
    model = classifier(max_len=max_len).eval()
    target = doc(n, 7)
    alone = model(*batch_of(target))[0]
    for others in [(doc(60, 8),), (doc(61, 9), doc(3, 10)), (doc(2, 11),)]:
        together = model(*batch_of(*others[:1], target, *others[1:]))[1]
        torch.testing.assert_close(together, alone, **EXACT)


def test_eval_mode_is_deterministic_and_training_is_not():
    model = classifier(CFG.with_dropout(1.0))
    ids, lengths = batch_of(doc(23, 1), doc(9, 2), doc(4, 3))
    model.eval()
    assert torch.equal(model(ids, lengths), model(ids, lengths))
    model.train()
    assert not torch.equal(model(ids, lengths), model(ids, lengths))


def test_empty_document_is_rejected():
    model = classifier().eval()
    with pytest.raises(ValueError, match="length of 0"):
        model(torch.full((2, 4), PAD), torch.tensor([4, 0]))


# ---------------------------------------------------------------- BPT3C gradients


def embedding_grad_after_backward(max_len: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Backward through a batch whose long document (25 tokens, bptt 5) is 15 words (ids 35..49) then 10
    words (ids 20..29), none found in the other document (ids 2..19). Returns (embedding gradient, ids of
    the first 15 tokens, ids of the last 10)."""
    model = classifier(CFG.with_dropout(0.0), bptt=5, max_len=max_len).train()
    early = torch.arange(35, 50)
    late = torch.arange(20, 30)[torch.randperm(10, generator=torch.Generator().manual_seed(1))]
    other = doc(8, 2, high=20)
    ids, lengths = batch_of(torch.cat([early, late]), other)
    logits = model(ids, lengths)
    nn.functional.cross_entropy(logits, torch.tensor([0, 2])).backward()
    return model.encoder.encoder.embedding.weight.grad, early, late


def test_bpt3c_gives_no_gradient_before_the_last_max_len_tokens():
    grad, early, late = embedding_grad_after_backward(max_len=10)
    assert torch.equal(grad[early], torch.zeros_like(grad[early]))
    assert bool((grad[late].abs().sum(1) > 0).all())


def test_bpt3c_without_truncation_reaches_every_token():
    grad, early, late = embedding_grad_after_backward(max_len=100)
    assert bool((grad[early].abs().sum(1) > 0).all())
    assert bool((grad[late].abs().sum(1) > 0).all())


# ---------------------------------------------------------------- head and layer groups


def test_head_is_two_batchnorm_dropout_linear_blocks():
    model = classifier()
    kinds = [type(m) for m in model.head.layers]
    assert kinds == [nn.BatchNorm1d, nn.Dropout, nn.Linear, nn.ReLU, nn.BatchNorm1d, nn.Dropout, nn.Linear]
    first, last = model.head.layers[2], model.head.layers[6]
    assert (first.in_features, first.out_features) == (3 * CFG.emb_size, 8)   # concat pooling of 3
    assert (last.in_features, last.out_features) == (8, N_CLASSES)
    assert model.head.layers[1].p == CFG.output_p and model.head.layers[5].p == 0.1


def test_classifier_layer_groups():
    model = classifier()
    groups = model.layer_groups()
    awd = model.encoder.encoder
    assert len(groups) == 5
    assert len(groups[0]) == 1 and groups[0][0] is awd.embedding.weight
    for k in range(3):
        assert {id(p) for p in groups[k + 1]} == {id(p) for p in awd.rnns[k].parameters()}
    assert {id(p) for p in groups[4]} == {id(p) for p in model.head.parameters()}
    flat = [id(p) for g in groups for p in g]
    assert len(flat) == len(set(flat)) and set(flat) == {id(p) for p in model.parameters()}
