"""The vocabulary: the most frequent words of a corpus, with the special tokens at fixed ids.

ULMFiT's reference code keeps at most 60,000 words (fastai v1: words seen at least twice; fastai v2: at least
three times). Ids 0..7 are always the :data:`~ulmfit_core.tokenize.SPECIAL_TOKENS`, so ``xxunk`` = 0,
``xxpad`` = 1 and ``xxbos`` = 2 in every vocabulary; any word outside the vocabulary maps to ``xxunk``.
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np

from ulmfit_core.fileio import read_json, write_json
from ulmfit_core.tokenize import SPECIAL_TOKENS, TokenizedCorpus

VOCAB_FORMAT = 1


class Vocab:
    """An id <-> word mapping: ``itos[i]`` is word ``i`` and ``stoi[w]`` its id."""

    unk_id = 0
    pad_id = 1
    bos_id = 2

    def __init__(self, itos: Sequence[str]) -> None:
        """Wrap ``itos``; ``ValueError`` unless it starts with the special tokens and has no duplicates."""
        problem = _itos_problem(itos)
        if problem:
            raise ValueError(problem)
        self.itos: list[str] = list(itos)
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def build(cls, counts: Mapping[str, int], max_size: int = 60_000, min_freq: int = 2) -> "Vocab":
        """Return the vocabulary of the words in ``counts`` seen at least ``min_freq`` times.

        The special tokens come first (whatever their counts), then words by descending count, ties broken
        by the word itself; at most ``max_size`` entries in all, the special tokens included.
        """
        if max_size < len(SPECIAL_TOKENS):
            n_special = len(SPECIAL_TOKENS)
            raise ValueError(f"max_size={max_size} leaves no room for the {n_special} special tokens")
        specials = set(SPECIAL_TOKENS)
        kept = [(w, int(c)) for w, c in counts.items() if int(c) >= min_freq and w not in specials]
        kept.sort(key=lambda wc: (-wc[1], wc[0]))
        return cls(list(SPECIAL_TOKENS) + [w for w, _ in kept[: max_size - len(SPECIAL_TOKENS)]])

    @classmethod
    def from_corpus(cls, corpus: TokenizedCorpus, max_size: int = 60_000, min_freq: int = 2) -> "Vocab":
        """Return :meth:`build` over the word counts of a tokenised corpus."""
        return cls.build(dict(zip(corpus.words, corpus.counts.tolist())), max_size, min_freq)

    def __len__(self) -> int:
        return len(self.itos)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by content

    def __repr__(self) -> str:
        return f"Vocab({len(self)} words: {self.itos[len(SPECIAL_TOKENS):len(SPECIAL_TOKENS) + 5]}...)"

    def numericalize(self, tokens: Sequence[str]) -> np.ndarray:
        """Return the int32 ids of ``tokens``; words outside the vocabulary get ``unk_id`` (0)."""
        get = self.stoi.get
        return np.fromiter((get(t, self.unk_id) for t in tokens), dtype=np.int32, count=len(tokens))

    def encode_corpus(self, corpus: TokenizedCorpus) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(ids, offsets)`` of ``corpus`` in this vocabulary: int32 ids, int64 document offsets.

        Vectorised: one lookup table from the corpus's word ids to this vocabulary's ids.
        """
        table = self.numericalize(corpus.words)
        return table[corpus.ids], corpus.offsets.astype(np.int64, copy=True)

    def textify(self, ids: Sequence[int] | np.ndarray) -> str:
        """Return the words of ``ids`` joined by single spaces."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"ids must lie in [0, {len(self)}), got min {ids.min()} and max {ids.max()}")
        return " ".join(self.itos[i] for i in ids.tolist())

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary to ``path`` as JSON ``{"format": 1, "itos": [...]}`` (atomically)."""
        write_json(path, {"format": VOCAB_FORMAT, "itos": self.itos})

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocab":
        """Read a vocabulary written by :meth:`save`; an invalid file raises ``ValueError`` naming it."""
        obj = read_json(path)
        is_vocab = isinstance(obj, dict) and obj.get("format") == VOCAB_FORMAT
        if not is_vocab or not isinstance(obj.get("itos"), list):
            expected = f'{{"format": {VOCAB_FORMAT}, "itos": [...]}}'
            raise ValueError(f"{path}: not a vocabulary file (expected {expected})")
        problem = _itos_problem(obj["itos"])
        if problem:
            raise ValueError(f"{path}: {problem}")
        return cls(obj["itos"])


def _itos_problem(itos: Sequence[Any]) -> str | None:
    """Return what is wrong with a word list (non-strings, misplaced specials, duplicates), or ``None``."""
    for i, word in enumerate(itos):
        if not isinstance(word, str):
            return f"entry {i} is a {type(word).__name__}, not a string"
    for i, special in enumerate(SPECIAL_TOKENS):
        if i >= len(itos) or itos[i] != special:
            found = repr(itos[i]) if i < len(itos) else "nothing"
            return f"special token {special!r} must have id {i}, found {found}"
    seen: dict[str, int] = {}
    for i, word in enumerate(itos):
        if word in seen:
            return f"word {word!r} appears twice (ids {seen[word]} and {i})"
        seen[word] = i
    return None


def reverse_docs(ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Return ``ids`` with each document's tokens in reverse order (same offsets), for backward LMs.

    ULMFiT (§3.3, "Bidirectional language model") ensembles a forward and a backward language model; the
    backward one reads every document from its end (``xxbos`` then comes last, as in fastai's backward
    models). Applying this twice gives back ``ids``.
    """
    ids, offsets = np.asarray(ids), np.asarray(offsets, dtype=np.int64)
    if len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(ids) or np.any(np.diff(offsets) < 0):
        raise ValueError("offsets must rise from 0 to len(ids)")
    lengths = np.diff(offsets)
    last = np.repeat(offsets[:-1] + offsets[1:] - 1, lengths)  # start + end - 1 of each position's document
    return ids[last - np.arange(len(ids))]
