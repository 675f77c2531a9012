"""The vocabulary: special tokens at fixed ids, size and frequency cuts, encoding, files, reversal."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ulmfit_core.tokenize import BOS, PAD, SPECIAL_TOKENS, UNK, TokenizedCorpus
from ulmfit_core.vocab import Vocab, reverse_docs

N_SPECIAL = len(SPECIAL_TOKENS)
COUNTS = {"the": 10, "a": 7, "movie": 7, "good": 3, "bad": 2, "rare": 1, "xxmaj": 4, BOS: 5}


def test_special_tokens_have_fixed_ids():
    vocab = Vocab.build(COUNTS)
    assert vocab.itos[:N_SPECIAL] == list(SPECIAL_TOKENS)
    assert (vocab.unk_id, vocab.pad_id, vocab.bos_id) == (0, 1, 2)
    assert (vocab.stoi[UNK], vocab.stoi[PAD], vocab.stoi[BOS]) == (0, 1, 2)
    assert Vocab.build({}).itos == list(SPECIAL_TOKENS)


def test_order_is_by_count_then_word():
    vocab = Vocab.build(COUNTS, min_freq=1)
    assert vocab.itos[N_SPECIAL:] == ["the", "a", "movie", "good", "bad", "rare"]


def test_min_freq_and_max_size():
    assert Vocab.build(COUNTS, min_freq=2).itos[N_SPECIAL:] == ["the", "a", "movie", "good", "bad"]
    assert Vocab.build(COUNTS, min_freq=3).itos[N_SPECIAL:] == ["the", "a", "movie", "good"]
    small = Vocab.build(COUNTS, max_size=N_SPECIAL + 2, min_freq=1)
    assert len(small) == N_SPECIAL + 2 and small.itos[N_SPECIAL:] == ["the", "a"]
    assert len(Vocab.build(COUNTS, max_size=N_SPECIAL)) == N_SPECIAL
    with pytest.raises(ValueError, match="max_size"):
        Vocab.build(COUNTS, max_size=N_SPECIAL - 1)


def test_numericalize_and_textify():
    vocab = Vocab.build(COUNTS)
    ids = vocab.numericalize([BOS, "the", "movie", "rare", "unseen"])
    assert ids.dtype == np.int32
    assert ids.tolist() == [2, N_SPECIAL, N_SPECIAL + 2, 0, 0]
    assert vocab.textify(ids) == f"{BOS} the movie {UNK} {UNK}"
    with pytest.raises(ValueError, match="ids must lie"):
        vocab.textify([len(vocab)])


def _corpus() -> TokenizedCorpus:
    words = list(SPECIAL_TOKENS) + ["zebra", "the", "once"]
    ids = np.array([2, 9, 8, 9, 2, 10, 9], dtype=np.int32)
    offsets = np.array([0, 4, 7], dtype=np.int64)
    counts = np.bincount(ids, minlength=len(words)).astype(np.int64)
    return TokenizedCorpus(words, counts, ids, offsets)


def test_from_corpus_and_encode_corpus():
    corpus = _corpus()
    vocab = Vocab.from_corpus(corpus, min_freq=1)
    assert vocab.itos[N_SPECIAL:] == ["the", "once", "zebra"]
    ids, offsets = vocab.encode_corpus(corpus)
    assert ids.dtype == np.int32
    assert vocab.textify(ids[offsets[0]:offsets[1]]) == f"{BOS} the zebra the"
    assert vocab.textify(ids[offsets[1]:offsets[2]]) == f"{BOS} once the"
    cut = Vocab.from_corpus(corpus, min_freq=2)
    assert cut.textify(cut.encode_corpus(corpus)[0]) == f"{BOS} the {UNK} the {BOS} {UNK} the"


def test_save_load_round_trip(tmp_path):
    vocab = Vocab.build(COUNTS, min_freq=1)
    vocab.save(tmp_path / "vocab.json")
    assert json.loads((tmp_path / "vocab.json").read_text())["format"] == 1
    back = Vocab.load(tmp_path / "vocab.json")
    assert back == vocab and back.stoi == vocab.stoi
    assert back != Vocab.build(COUNTS, min_freq=3)


@pytest.mark.parametrize(
    "content, problem",
    [
        ({"format": 1, "itos": list(SPECIAL_TOKENS) + ["a", "b", "a"]}, "'a' appears twice"),
        ({"format": 1, "itos": [PAD, UNK] + list(SPECIAL_TOKENS[2:])}, "'xxunk' must have id 0"),
        ({"format": 1, "itos": list(SPECIAL_TOKENS[:3])}, "'xxeos' must have id 3"),
        ({"format": 1, "itos": list(SPECIAL_TOKENS) + [5]}, "entry 8 is a int"),
        ({"format": 2, "itos": list(SPECIAL_TOKENS)}, "not a vocabulary file"),
        (["xxunk"], "not a vocabulary file"),
    ],
)
def test_load_rejects_invalid_files(tmp_path, content, problem):
    path = tmp_path / "bad_vocab.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match="bad_vocab.json") as err:
        Vocab.load(path)
    assert problem in str(err.value)


def test_load_rejects_malformed_json_and_missing_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"format": 1, "itos": [')
    with pytest.raises(ValueError, match="broken.json"):
        Vocab.load(path)
    with pytest.raises(FileNotFoundError):
        Vocab.load(tmp_path / "absent.json")


def test_reverse_docs_reverses_each_document():
    ids = np.array([1, 2, 3, 4, 5, 6], dtype=np.int32)
    offsets = np.array([0, 3, 3, 4, 6])
    rev = reverse_docs(ids, offsets)
    assert rev.tolist() == [3, 2, 1, 4, 6, 5]
    assert rev.dtype == ids.dtype
    np.testing.assert_array_equal(reverse_docs(rev, offsets), ids)
    assert reverse_docs(np.zeros(0, np.int32), np.array([0])).tolist() == []
    with pytest.raises(ValueError, match="offsets"):
        reverse_docs(ids, np.array([0, 3]))


def test_reverse_docs_round_trip_random():
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 20, size=50)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    ids = rng.integers(0, 1000, size=offsets[-1]).astype(np.int32)
    rev = reverse_docs(ids, offsets)
    for a, b in zip(offsets[:-1], offsets[1:]):
        np.testing.assert_array_equal(rev[a:b], ids[a:b][::-1])
    np.testing.assert_array_equal(reverse_docs(rev, offsets), ids)
