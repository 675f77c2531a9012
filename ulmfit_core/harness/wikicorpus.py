"""The general-domain pretraining corpus (ULMFiT §3.1) as token ids, with one fixed held-out set.

The Wikipedia stand-in for WikiText-103 comes as eight shards of shuffled articles. Each shard is
tokenised once (all cores, cached on disk under ``$ULMFIT_CACHE/tokens``) and every pretraining run reads
the same arrays:

- **validation** is always the last :data:`HELDOUT_ARTICLES` articles of shard :data:`HELDOUT_SHARD`, the
  same for every probe, recipe and direction, and never trained on;
- **training** text is the other articles, shard by shard in order, cut at an article boundary once
  ``max_tokens`` tokens are reached, so a short probe reads a prefix of what a long run reads;
- the **vocabulary** is the ``max_size`` most frequent words of all the training articles of the eight
  shards, so every run that shares a vocabulary size shares the vocabulary itself, and perplexities
  compare across token budgets.
"""
from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from ulmfit_core.corpus import wikipedia_articles
from ulmfit_core.tokenize import TokenizedCorpus, tokenize_cached
from ulmfit_core.vocab import Vocab, reverse_docs

N_SHARDS = 8
HELDOUT_SHARD = 7
HELDOUT_ARTICLES = 100
"""Validation: the last 100 articles of shard 7 (about 0.3M tokens; the shards hold shuffled articles)."""


def shard_corpus(shard: int, progress: bool = False) -> TokenizedCorpus:
    """Shard ``shard`` tokenised (from the token cache after the first call), one document per article."""
    return _shard_corpus(shard, progress)


@functools.lru_cache(maxsize=N_SHARDS)
def _shard_corpus(shard: int, progress: bool) -> TokenizedCorpus:
    if not 0 <= shard < N_SHARDS:
        raise ValueError(f"Wikipedia shard {shard} does not exist; shards are 0..{N_SHARDS - 1}")
    return tokenize_cached(list(wikipedia_articles([shard])), f"wiki-shard{shard:02d}", progress=progress)


def training_range(shard: int, n_docs: int) -> range:
    """The article indices of ``shard`` that training may read (all but the held-out ones)."""
    return range(n_docs - HELDOUT_ARTICLES) if shard == HELDOUT_SHARD else range(n_docs)


def heldout_range(n_docs: int) -> range:
    """The article indices of the held-out shard that form the validation set."""
    if n_docs <= HELDOUT_ARTICLES:
        raise ValueError(f"Wikipedia shard {HELDOUT_SHARD} has {n_docs} articles; the held-out set needs "
                         f"more than {HELDOUT_ARTICLES}")
    return range(n_docs - HELDOUT_ARTICLES, n_docs)


def training_counts(shards: Sequence[int] = range(N_SHARDS)) -> dict[str, int]:
    """Word counts over the training articles of ``shards`` (the held-out articles excluded)."""
    totals: dict[str, int] = {}
    for shard in shards:
        corpus = shard_corpus(shard)
        keep = training_range(shard, len(corpus))
        ids = corpus.ids[corpus.offsets[keep.start]:corpus.offsets[keep.stop]]
        counts = np.bincount(ids, minlength=len(corpus.words))
        for word, count in zip(corpus.words, counts.tolist()):
            if count:
                totals[word] = totals.get(word, 0) + count
    return totals


def wiki_vocab(max_size: int, min_freq: int) -> Vocab:
    """The pretraining vocabulary: the most frequent words of every training article of the 8 shards."""
    return Vocab.build(training_counts(), max_size, min_freq)


def _encode(corpus: TokenizedCorpus, vocab: Vocab, docs: range, backward: bool) -> list[np.ndarray]:
    """Documents ``docs`` of ``corpus`` as ids of ``vocab`` (reversed for a backward LM, §3.3)."""
    lookup = np.asarray([vocab.stoi.get(w, vocab.unk_id) for w in corpus.words], dtype=np.int64)
    lo, hi = corpus.offsets[docs.start], corpus.offsets[docs.stop]
    ids = lookup[corpus.ids[lo:hi]]
    offsets = corpus.offsets[docs.start:docs.stop + 1] - lo
    if backward:
        ids = reverse_docs(ids, offsets)
    return np.split(ids, offsets[1:-1])


def training_docs(vocab: Vocab, shards: Sequence[int], max_tokens: int = 0,
                  backward: bool = False) -> list[np.ndarray]:
    """The training articles of ``shards`` in order, as ids, stopping after the article that reaches
    ``max_tokens`` tokens (0 = all of them)."""
    out: list[np.ndarray] = []
    total = 0
    for shard in shards:
        corpus = shard_corpus(shard)
        lengths = np.diff(corpus.offsets)
        keep = training_range(shard, len(corpus))
        stop = keep.stop
        if max_tokens:
            reached = np.nonzero(total + np.cumsum(lengths[:keep.stop]) >= max_tokens)[0]
            stop = int(reached[0]) + 1 if len(reached) else keep.stop
        out += _encode(corpus, vocab, range(0, stop), backward)
        total += int(lengths[:stop].sum())
        if max_tokens and total >= max_tokens:
            return out
    if max_tokens:
        raise ValueError(f"the training articles of Wikipedia shards {list(shards)} hold {total:,} tokens, "
                         f"fewer than the {max_tokens:,} asked for")
    return out


def heldout_docs(vocab: Vocab, backward: bool = False) -> list[np.ndarray]:
    """The fixed validation articles as ids of ``vocab``."""
    corpus = shard_corpus(HELDOUT_SHARD)
    return _encode(corpus, vocab, heldout_range(len(corpus)), backward)


def main() -> None:
    """Tokenise every shard into the token cache (``python -m ulmfit_core.harness.wikicorpus``)."""
    for shard in range(N_SHARDS):
        corpus = shard_corpus(shard, progress=True)
        print(f"shard {shard}: {len(corpus):,} articles, {len(corpus.ids):,} tokens", flush=True)


if __name__ == "__main__":
    main()
