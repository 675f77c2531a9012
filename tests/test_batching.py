"""Batches: the LM stream (variable-length BPTT, Merity et al. 2017 §4.1), sortish classification batches,
padding, and predictions returned in dataset order."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ulmfit_core.awd_lstm import AWDLSTMConfig
from ulmfit_core.batching import (
    LMStream,
    SortishSampler,
    TextDataset,
    concat_docs,
    pad_collate,
    text_loader,
    window_lengths,
)
from ulmfit_core.classifier import TextClassifier
from ulmfit_core.tasks import LMTask, predict

VOCAB = 50




def random_docs(n: int, low: int, high: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(2, VOCAB, rng.integers(low, high)) for _ in range(n)]


# ---------------------------------------------------------------- language-model stream


def test_concat_docs_keeps_order_without_seed_and_permutes_with_one():
    docs = [np.array([1, 2]), np.array([3]), np.array([4, 5, 6])]
    assert concat_docs(docs, None).tolist() == [1, 2, 3, 4, 5, 6]
    shuffled = concat_docs(docs, 3)
    assert shuffled.dtype == np.int64 and sorted(shuffled.tolist()) == [1, 2, 3, 4, 5, 6]
    assert np.array_equal(shuffled, concat_docs(docs, 3))


@pytest.mark.parametrize("variable", [False, True])
def test_lm_targets_are_inputs_shifted_by_one_and_cover_the_stream_once(variable):
    stream = np.arange(1003, dtype=np.int64)                   # token value = its position
    lm = LMStream(stream, batch_size=4, bptt=10, variable=variable, seed=1)
    n_rows = 1003 // 4
    rows = stream[:4 * n_rows].reshape(4, n_rows)
    xs, ys = zip(*lm)
    assert len(xs) == len(lm)
    for x, y in zip(xs, ys):
        assert x.shape == y.shape and torch.equal(y, x + 1)   # next token, row by row
    assert np.array_equal(torch.cat(xs, 1).numpy(), rows[:, :-1])   # every input position exactly once
    assert np.array_equal(torch.cat(ys, 1).numpy(), rows[:, 1:])
    assert lm.n_tokens == 4 * (n_rows - 1)
    if not variable:
        assert [x.size(1) for x in xs] == [10] * 24 + [9]       # 249 positions


def test_variable_bptt_is_deterministic_per_seed_and_averages_near_bptt():
    a, b, c = (window_lengths(20_000, 70, True, s) for s in (5, 5, 6))
    assert a == b and a != c
    assert sum(a) == 20_000 and min(a[:-1]) >= 5
    assert abs(np.mean(a[:-1]) - 70) < 3                       # 95% at bptt, 5% at bptt/2, N(0, 5) jitter
    assert any(length < 50 for length in a)                     # some halved windows occur
    assert window_lengths(100, 30, False, 0) == [30, 30, 30, 10]


def test_too_short_stream_is_rejected():
    with pytest.raises(ValueError, match="too short"):
        LMStream(np.arange(7), batch_size=4)


def test_lm_task_announces_as_many_batches_as_it_yields():
    docs = random_docs(30, 5, 30)
    task = LMTask(docs, docs[:5], batch_size=4, bptt=8, seed=3)
    counts = [task.n_batches(e) for e in range(3)]
    assert [sum(1 for _ in task.batches(e)) for e in range(3)] == counts
    first = [x.clone() for x, _ in task.batches(0)]
    again = [x.clone() for x, _ in task.batches(0)]
    other = [x.clone() for x, _ in task.batches(1)]
    assert all(torch.equal(p, q) for p, q in zip(first, again))             # an epoch repeats exactly
    assert len(first) != len(other) or not all(torch.equal(p, q) for p, q in zip(first, other))


# ---------------------------------------------------------------- sortish sampling


LENGTHS = [int(x) for x in np.random.default_rng(0).integers(1, 200, 103)]


def sampled(seed: int, epoch: int, batch_size: int = 8, lengths: list[int] = LENGTHS) -> list[int]:
    sampler = SortishSampler(lengths, batch_size, seed)
    sampler.set_epoch(epoch)
    return list(sampler)


def test_sortish_sampler_yields_a_permutation():
    order = sampled(0, 0)
    assert sorted(order) == list(range(len(LENGTHS))) and len(SortishSampler(LENGTHS, 8)) == len(LENGTHS)


def test_sortish_first_batch_holds_the_longest_document():
    for seed, epoch in [(0, 0), (1, 0), (0, 3), (7, 2)]:
        first = sampled(seed, epoch)[:8]
        assert int(np.argmax(LENGTHS)) in first


def test_sortish_is_deterministic_per_seed_and_epoch_and_changes_across_epochs():
    assert sampled(0, 0) == sampled(0, 0)
    assert sampled(0, 0) != sampled(0, 1)
    assert sampled(0, 0) != sampled(1, 0)


def test_sortish_batches_hold_similar_lengths():
    # One chunk of 50 batches: each batch is a run of the length-sorted order, far less padding than random.
    lengths = [int(x) for x in np.random.default_rng(1).integers(1, 500, 64)]
    order = sampled(0, 0, batch_size=8, lengths=lengths)
    batches = [order[i:i + 8] for i in range(0, 64, 8)]
    ranks = {doc: r for r, doc in enumerate(sorted(range(64), key=lambda j: -lengths[j]))}
    for batch in batches:
        assert sorted(ranks[d] for d in batch) == list(range(min(ranks[d] for d in batch),
                                                             min(ranks[d] for d in batch) + 8))
    sortish_pad = sum(max(lengths[d] for d in b) * 8 - sum(lengths[d] for d in b) for b in batches)
    rng = np.random.default_rng(0)
    random = rng.permutation(64).reshape(8, 8)
    random_pad = sum(max(lengths[d] for d in b) * 8 - sum(lengths[d] for d in b) for b in random)
    assert sortish_pad < random_pad / 3


# ---------------------------------------------------------------- datasets and padding


def test_pad_collate_right_pads_and_keeps_the_dataset_index():
    batch = pad_collate([(np.array([5, 6, 7]), 2, 10), (np.array([8]), 0, 3)], pad_id=1)
    assert batch.ids.tolist() == [[5, 6, 7], [8, 1, 1]]
    assert batch.lengths.tolist() == [3, 1] and batch.labels.tolist() == [2, 0]
    assert batch.index.tolist() == [10, 3]


def test_text_dataset_rejects_bad_input():
    with pytest.raises(ValueError, match="2 documents but 3 labels"):
        TextDataset([np.array([2]), np.array([3])], [0, 1, 0])
    with pytest.raises(ValueError, match="document 1 has no tokens"):
        TextDataset([np.array([2]), np.array([], dtype=np.int64)], [0, 1])


def test_eval_loader_sorts_longest_first_and_covers_everything_once():
    docs = random_docs(11, 1, 40)
    data = TextDataset(docs, [0] * 11)
    batches = list(text_loader(data, 4, train=False))
    seen = torch.cat([b.index for b in batches]).tolist()
    assert sorted(seen) == list(range(11))
    assert [len(docs[i]) for i in seen] == sorted((len(d) for d in docs), reverse=True)


def test_predict_returns_rows_in_dataset_order():
    torch.manual_seed(0)
    model = TextClassifier(VOCAB, 3, AWDLSTMConfig(emb_size=8, hidden_size=16, n_layers=3), bptt=5,
                           max_len=20, head_hidden=8)
    docs = random_docs(10, 1, 30, seed=2)
    data = TextDataset(docs, [0] * 10)
    probs = predict(model, data, batch_size=4)
    model.eval()
    with torch.no_grad():
        one_by_one = np.stack([torch.softmax(model(torch.as_tensor(d)[None], torch.tensor([len(d)])), -1)[0]
                               .numpy() for d in docs])
    np.testing.assert_allclose(probs, one_by_one, rtol=1e-5, atol=1e-6)
    assert len({tuple(np.round(p, 6)) for p in probs}) == 10   # rows really differ: the order is tested
    assert model.training is False


def test_sortish_loader_batches_stay_sorted_runs_when_the_last_batch_is_short():
    lengths = [int(x) for x in np.random.default_rng(0).permutation(103) + 1]   # distinct lengths
    data = TextDataset([np.full(n, 2) for n in lengths], [0] * 103)
    ranks = {doc: r for r, doc in enumerate(sorted(range(103), key=lambda j: -lengths[j]))}
    loader = text_loader(data, 8, train=True, seed=0)
    for epoch in range(5):
        loader.sampler.set_epoch(epoch)
        for batch in loader:
            r = sorted(ranks[int(i)] for i in batch.index)
            assert r == list(range(r[0], r[0] + len(r))), f"epoch {epoch}: batch mixes two sorted runs"


def test_training_loader_never_yields_a_single_document_batch():
    data = TextDataset(random_docs(9, 1, 20), [0] * 9)
    loader = text_loader(data, 4, train=True)
    assert min(len(b.labels) for b in loader) > 1
