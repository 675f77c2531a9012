"""Word tokenisation in the style of fastai, with special tokens for case and repetition.

ULMFiT (Howard & Ruder 2018, §4.1 "Pre-processing") uses "special tokens for upper-case words, elongation,
and repetition". This module mirrors the reference implementation (fastai ``fastai/text/core.py``):

1. pre-rules on the raw string: :func:`fix_html`, :func:`replace_rep`, :func:`replace_wrep`,
   :func:`spec_add_spaces`, :func:`rm_useless_spaces`, then the text is stripped;
2. spaCy's blank English tokenizer (rule-based, no model download), with the special tokens protected;
3. post-rules on the tokens: :func:`replace_space`, :func:`replace_all_caps`, :func:`replace_maj`
   (which lower-cases everything), then ``xxbos`` is put in front.

Choices where fastai versions differ (stated here once):

* Repetition thresholds follow fastai v1, the library of the ULMFiT era: ``xxrep`` from 4 repeated
  characters, ``xxwrep`` from 4 repeated words. fastai v2 fires at 3 of either.
* Case rules run on tokens (fastai v1); fastai v2 runs equivalent regexes on the string. Both add ``xxup``
  before all-caps tokens longer than one character and ``xxmaj`` before Capitalised ones.
* Whitespace tokens follow fastai v2: spaCy emits a token for whitespace beyond a single space (for example
  the ``"\\n\\n"`` that ``<br /><br />`` becomes); such tokens are kept, because they mark paragraph breaks,
  with any space inside them replaced by ``"▁"`` so that no token contains a space.

Large corpora are tokenised once and cached as arrays of word ids (:func:`tokenize_cached`): texts stream
through a process pool in chunks, and each chunk comes back as its own small word list plus int32 ids, which
the parent maps onto the corpus-wide word list as it arrives.
"""
from __future__ import annotations

import functools
import hashlib
import html
import importlib.metadata
import math
import multiprocessing
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
from tqdm import tqdm

from ulmfit_core.fileio import load_arrays, save_arrays
from ulmfit_core.settings import cache_dir

BOS, UNK, PAD, EOS = "xxbos", "xxunk", "xxpad", "xxeos"
MAJ, UP, REP, WREP = "xxmaj", "xxup", "xxrep", "xxwrep"
SPECIAL_TOKENS: tuple[str, ...] = (UNK, PAD, BOS, EOS, MAJ, UP, REP, WREP)
"""The special tokens, in the order of their vocabulary ids: ``xxunk`` = 0, ``xxpad`` = 1, ``xxbos`` = 2."""

RULES_VERSION = "1"
"""Version of the rules below; part of every token-cache key, so bump it whenever a rule changes."""

CHAR_REP_MIN = 4
"""A non-space character repeated at least this many times becomes ``xxrep n c``."""
WORD_REP_MIN = 4
"""A word repeated at least this many times in a row becomes ``xxwrep n w``."""

_RE_SPEC = re.compile(r"([/#\\])")
_RE_SPACES = re.compile(" {2,}")
_RE_REP = re.compile(r"(\S)(\1{%d,})" % (CHAR_REP_MIN - 1))
_RE_WREP = re.compile(r"(?:\s|^)(\w+)\s+((?:\1\s+){%d,})\1(\s|\W|$)" % (WORD_REP_MIN - 2))


# --------------------------------------------------------------------------------------------------------
# Pre-rules: string -> string


def fix_html(text: str) -> str:
    """Undo HTML escapes and corpus artefacts (fastai's ``fix_html``); return the cleaned string.

    ``<br />`` -> newline, ``#39;``/``#146;``/``quot;`` -> ``'``, ``amp;`` -> ``&``, ``nbsp;`` -> space,
    ``#36;`` -> ``$``, a literal backslash-n -> newline, ``\\"`` -> ``"``, ``<unk>`` -> ``xxunk``,
    WikiText's `` @.@ `` / `` @-@ `` -> ``.`` / ``-``, ``...`` -> `` …``, then :func:`html.unescape`.
    """
    text = (
        text.replace("#39;", "'").replace("amp;", "&").replace("#146;", "'").replace("nbsp;", " ")
        .replace("#36;", "$").replace("\\n", "\n").replace("quot;", "'").replace("<br />", "\n")
        .replace('\\"', '"').replace("<unk>", UNK).replace(" @.@ ", ".").replace(" @-@ ", "-")
        .replace("...", " …")
    )
    return html.unescape(text)


def replace_rep(text: str) -> str:
    """Replace a character repeated ``CHAR_REP_MIN``+ times: ``"cccc"`` -> ``" xxrep 4 c "``; return text."""

    def _sub(match: re.Match[str]) -> str:
        char, rest = match.groups()
        return f" {REP} {len(rest) + 1} {char} "

    return _RE_REP.sub(_sub, text)


def replace_wrep(text: str) -> str:
    """Replace a word repeated ``WORD_REP_MIN``+ times: ``"ah ah ah ah."`` -> ``" xxwrep 4 ah ."``.

    Returns the text. The repeats may be separated by any whitespace; the last one must end the word.
    """

    def _sub(match: re.Match[str]) -> str:
        word, middle, end = match.groups()
        return f" {WREP} {len(middle.split()) + 2} {word} {end}"

    return _RE_WREP.sub(_sub, text)


def spec_add_spaces(text: str) -> str:
    """Put spaces around ``/``, ``#`` and ``\\`` so that each becomes its own token; return the text."""
    return _RE_SPEC.sub(r" \1 ", text)


def rm_useless_spaces(text: str) -> str:
    """Collapse runs of spaces into one space; return the text."""
    return _RE_SPACES.sub(" ", text)


PRE_RULES = (fix_html, replace_rep, replace_wrep, spec_add_spaces, rm_useless_spaces)


def apply_pre_rules(text: str) -> str:
    """Apply :data:`PRE_RULES` in order and strip the ends; return the string handed to spaCy."""
    for rule in PRE_RULES:
        text = rule(text)
    return text.strip()


# --------------------------------------------------------------------------------------------------------
# Post-rules: tokens -> tokens


def replace_space(tokens: Sequence[str]) -> list[str]:
    """Replace spaces inside tokens (spaCy's whitespace tokens) by ``"▁"``; return the new list."""
    return [t.replace(" ", "▁") for t in tokens]


def replace_all_caps(tokens: Sequence[str]) -> list[str]:
    """Lower-case ALL-CAPS tokens longer than one character and put ``xxup`` before each; return the list."""
    out: list[str] = []
    for tok in tokens:
        if len(tok) > 1 and tok.isupper():
            out += [UP, tok.lower()]
        else:
            out.append(tok)
    return out


def replace_maj(tokens: Sequence[str]) -> list[str]:
    """Put ``xxmaj`` before Capitalised tokens and lower-case every token; return the list.

    A token is Capitalised when it is longer than one character, starts upper-case and the rest is
    lower-case (``"Jeremy"``; not ``"I"`` nor ``"McDonald"``). Empty tokens are dropped.
    """
    out: list[str] = []
    for tok in tokens:
        if not tok:
            continue
        if len(tok) > 1 and tok[0].isupper() and tok[1:].islower():
            out.append(MAJ)
        out.append(tok.lower())
    return out


POST_RULES = (replace_space, replace_all_caps, replace_maj)


def apply_post_rules(tokens: Sequence[str]) -> list[str]:
    """Apply :data:`POST_RULES` in order and put ``xxbos`` first; return the document's final tokens."""
    out = list(tokens)
    for rule in POST_RULES:
        out = rule(out)
    return [BOS] + out


# --------------------------------------------------------------------------------------------------------
# The tokenizer


class Tokenizer:
    """Pre-rules, spaCy's blank English tokenizer (no model download), post-rules, ``xxbos`` first."""

    def __init__(self) -> None:
        import spacy  # imported here: it takes seconds, and most importers of this module never tokenise
        from spacy.symbols import ORTH

        nlp = spacy.blank("en")
        for tok in SPECIAL_TOKENS:
            nlp.tokenizer.add_special_case(tok, [{ORTH: tok}])
        self._spacy = nlp.tokenizer

    def __call__(self, text: str) -> list[str]:
        """Return the tokens of one document, starting with ``xxbos``."""
        _check_text(text, 0)
        return apply_post_rules([t.text for t in self._spacy(apply_pre_rules(text))])

    def pipe(self, texts: Iterable[str], batch_size: int = 1000) -> Iterator[list[str]]:
        """Yield each text's tokens in order (spaCy's batched ``pipe``: faster than one call per text)."""
        cleaned = (apply_pre_rules(_check_text(t, i)) for i, t in enumerate(texts))
        for doc in self._spacy.pipe(cleaned, batch_size=batch_size):
            yield apply_post_rules([t.text for t in doc])


def _check_text(text: Any, index: int) -> str:
    """Return ``text`` if it is a ``str``; otherwise raise ``ValueError`` naming its position."""
    if not isinstance(text, str):
        raise ValueError(f"text {index} is a {type(text).__name__}, not a str: {text!r:.80}")
    return text


# --------------------------------------------------------------------------------------------------------
# Parallel tokenisation in chunks


@functools.lru_cache(maxsize=1)
def _process_tokenizer() -> Tokenizer:
    """Return this process's tokenizer, built on first use (each pool worker keeps its own)."""
    return Tokenizer()


def _tokenize_chunk(texts: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Tokenise a chunk; return (the chunk's distinct words, its int32 word ids, each document's length).

    Word ids index the returned word list; sending this instead of lists of strings keeps the transfer
    from a worker small.
    """
    stoi: dict[str, int] = {}
    ids: list[int] = []
    lengths = np.empty(len(texts), dtype=np.int64)
    for k, tokens in enumerate(_process_tokenizer().pipe(texts)):
        ids += [stoi.setdefault(t, len(stoi)) for t in tokens]
        lengths[k] = len(tokens)
    return list(stoi), np.asarray(ids, dtype=np.int32), lengths


def _pool_context() -> multiprocessing.context.BaseContext:
    """Return ``fork`` on Linux (workers inherit the loaded tokenizer), else ``spawn``."""
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def _chunks(texts: Sequence[str], size: int) -> Iterator[list[str]]:
    """Yield consecutive chunks of ``texts`` as lists, checking that every item is a string."""
    for start in range(0, len(texts), size):
        chunk = list(texts[start:start + size])
        for k, text in enumerate(chunk):
            _check_text(text, start + k)
        yield chunk


def _tokenized_chunks(
    texts: Sequence[str], n_workers: int | None, progress: bool, chunk_size: int | None = None
) -> Iterator[tuple[list[str], np.ndarray, np.ndarray]]:
    """Yield :func:`_tokenize_chunk` results in input order, from a pool of ``n_workers`` processes."""
    n_workers = (os.cpu_count() or 1) if n_workers is None else n_workers
    if n_workers < 1:
        raise ValueError(f"n_workers must be at least 1, got {n_workers}")
    if chunk_size is None:
        chunk_size = min(500, max(1, math.ceil(len(texts) / (4 * n_workers))))
    with tqdm(total=len(texts), unit="doc", desc="tokenize", disable=not progress) as bar:
        if n_workers == 1 or len(texts) <= chunk_size:
            for chunk in _chunks(texts, chunk_size):
                yield _tokenize_chunk(chunk)
                bar.update(len(chunk))
            return
        if sys.platform.startswith("linux"):
            _process_tokenizer()  # build once here; forked workers inherit it
        with _pool_context().Pool(n_workers) as pool:
            for res in pool.imap(_tokenize_chunk, _chunks(texts, chunk_size)):
                bar.update(len(res[2]))
                yield res


def tokenize_texts(
    texts: Sequence[str], n_workers: int | None = None, progress: bool = True
) -> list[list[str]]:
    """Tokenise ``texts`` on ``n_workers`` processes (default: all cores); return token lists in input order.

    Suitable for thousands of documents; for a whole corpus use :func:`tokenize_cached`, which never holds
    every token as a Python string.
    """
    out: list[list[str]] = []
    for words, ids, lengths in _tokenized_chunks(texts, n_workers, progress):
        tokens = [words[i] for i in ids.tolist()]
        bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
        out += [tokens[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    return out


# --------------------------------------------------------------------------------------------------------
# The token cache


@dataclass
class TokenizedCorpus:
    """Tokenised documents stored as word ids over the corpus's own word list (no vocabulary cut yet).

    ``words[i]`` is word id ``i`` (the :data:`SPECIAL_TOKENS` come first, in order); ``counts[i]`` is how
    often it occurs; ``ids`` (int32) holds every document's ids back to back and document ``i`` is
    ``ids[offsets[i]:offsets[i + 1]]``.
    """

    words: list[str]
    counts: np.ndarray
    ids: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        """Return the number of documents."""
        return len(self.offsets) - 1

    def doc(self, i: int) -> np.ndarray:
        """Return the word ids of document ``i``."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"document {i} out of range for a corpus of {len(self)}")
        i %= len(self)
        return self.ids[self.offsets[i]:self.offsets[i + 1]]

    def tokens(self, i: int) -> list[str]:
        """Return the tokens of document ``i`` as strings."""
        return [self.words[k] for k in self.doc(i).tolist()]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Return the corpus as plain arrays (no pickle); the words become one string plus char offsets."""
        lengths = np.fromiter(map(len, self.words), dtype=np.int64, count=len(self.words))
        # "|" ends the joined string so that numpy cannot strip a trailing NUL of the last word.
        return {
            "words_joined": np.array(["".join(self.words) + "|"]),
            "word_offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            "counts": self.counts, "ids": self.ids, "offsets": self.offsets,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], source: str | os.PathLike) -> "TokenizedCorpus":
        """Rebuild a corpus from :meth:`to_arrays`; ``ValueError`` naming ``source`` if inconsistent."""
        missing = {"words_joined", "word_offsets", "counts", "ids", "offsets"} - set(arrays)
        if missing:
            raise ValueError(f"{source}: token cache lacks arrays {sorted(missing)}")
        joined, bounds = str(arrays["words_joined"][0]), arrays["word_offsets"].tolist()
        if len(joined) != bounds[-1] + 1:
            raise ValueError(f"{source}: word list has {len(joined) - 1} characters, expected {bounds[-1]}")
        words = [joined[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        corpus = cls(words, arrays["counts"], arrays["ids"], arrays["offsets"])
        problem = corpus.check()
        if problem:
            raise ValueError(f"{source}: {problem}")
        return corpus

    def check(self) -> str | None:
        """Return a description of the first inconsistency in the arrays, or ``None`` when consistent."""
        if tuple(self.words[:len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            return "the word list does not start with the special tokens"
        if len(self.counts) != len(self.words):
            return f"{len(self.counts)} counts for {len(self.words)} words"
        off = self.offsets
        if len(off) == 0 or off[0] != 0 or off[-1] != len(self.ids) or np.any(np.diff(off) < 0):
            return "document offsets are not a non-decreasing sequence from 0 to the number of ids"
        if len(self.ids) and (self.ids.min() < 0 or self.ids.max() >= len(self.words)):
            return "word ids outside the word list"
        return None


def _build_corpus(chunks: Iterable[tuple[list[str], np.ndarray, np.ndarray]]) -> TokenizedCorpus:
    """Merge chunk results into one corpus, mapping each chunk's word ids onto a shared word list."""
    stoi = {w: i for i, w in enumerate(SPECIAL_TOKENS)}
    id_parts: list[np.ndarray] = []
    len_parts: list[np.ndarray] = []
    for local_words, local_ids, lengths in chunks:
        remap = np.asarray([stoi.setdefault(w, len(stoi)) for w in local_words], dtype=np.int32)
        id_parts.append(remap[local_ids] if len(local_ids) else local_ids)
        len_parts.append(lengths)
    words = list(stoi)  # insertion order is id order
    ids = np.concatenate(id_parts) if id_parts else np.zeros(0, dtype=np.int32)
    lengths = np.concatenate(len_parts) if len_parts else np.zeros(0, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    counts = np.bincount(ids, minlength=len(words)).astype(np.int64)
    return TokenizedCorpus(words, counts, ids.astype(np.int32, copy=False), offsets)


def corpus_key(texts: Sequence[str]) -> str:
    """Return the hex SHA-256 of the rules version, the spaCy version and every text's UTF-8 bytes."""
    digest = hashlib.sha256()
    spacy_version = importlib.metadata.version("spacy")
    digest.update(f"rules={RULES_VERSION};spacy={spacy_version};n={len(texts)}\n".encode())
    for i, text in enumerate(texts):
        data = _check_text(text, i).encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def tokenize_cached(
    texts: Sequence[str],
    name: str,
    cache: Path | None = None,
    n_workers: int | None = None,
    progress: bool = True,
) -> TokenizedCorpus:
    """Return ``texts`` tokenised, reading ``{cache}/tokens/{name}-{key[:16]}.npz`` if it exists.

    ``key`` is :func:`corpus_key` (rules version, spaCy version, every text), so changed texts or rules give
    a new file. On a miss the texts are tokenised on ``n_workers`` processes and the file is written
    atomically. ``cache`` defaults to :func:`ulmfit_core.settings.cache_dir`.
    """
    if not name or not re.fullmatch(r"[\w.-]+", name):
        raise ValueError(f"cache name {name!r} must be non-empty letters, digits, '_', '-' or '.'")
    folder = Path(cache if cache is not None else cache_dir()) / "tokens"
    path = folder / f"{name}-{corpus_key(texts)[:16]}.npz"
    if path.exists():
        return TokenizedCorpus.from_arrays(load_arrays(path), path)
    corpus = _build_corpus(_tokenized_chunks(texts, n_workers, progress))
    save_arrays(path, **corpus.to_arrays())
    return corpus
