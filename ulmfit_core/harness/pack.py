"""A scale's inputs packed as token ids, so its runs can go to a machine that has no data folder.

    python -m ulmfit_core.harness.pack_build --scale gpu --out gpu_pack   # build (needs the data folder)
    ULMFIT_PACK=gpu_pack python -m ulmfit_core.harness.notebooks --scale gpu   # run anywhere

A pack holds exactly what one scale reads: each dataset's parts as the scale selects them (train,
validation, test, unlabelled extra, with labels), the Wikipedia selection it pretrains on and the
WikiText-103 test articles. Each part is a tokenised corpus (word list + int32 ids, compressed ``.npz``,
no pickle); ``manifest.json`` names the scale, the selections, the tokeniser rules and spaCy versions and
every file's SHA-256, so a pack that does not match the scale asking for it, or whose files were
changed, is refused with an error naming the file.

With ``$ULMFIT_PACK`` set, the runner reads the pack instead of the data folder: where a text would be,
a :class:`PackedDoc` names one document of one packed corpus, and a sequence of them is a
:class:`PackedTexts` — a corpus type the pipeline takes in place of raw texts
(:class:`ulmfit_core.pipeline.Pretokenized`). Its :meth:`PackedTexts.tokenized` rebuilds the tokenised
corpus exactly as tokenising the original texts would (same word list order, counts, ids), so a run from
a pack gives the same record as a run from the raw data.
"""
from __future__ import annotations

import functools
import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence, overload

import numpy as np

from ulmfit_core.fileio import load_arrays, read_json
from ulmfit_core.tokenize import RULES_VERSION, SPECIAL_TOKENS, TokenizedCorpus
from ulmfit_core.harness.download import file_sha256

PACK_ENV = "ULMFIT_PACK"
PARTS = ("train", "valid", "test", "extra")
WIKI, WIKITEXT = "wikipedia", "wikitext103-test"


def pack_dir() -> Path | None:
    """The pack named by ``$ULMFIT_PACK``, or ``None`` (read the data folder)."""
    env = os.environ.get(PACK_ENV)
    return Path(env).expanduser().resolve() if env else None


@dataclass(frozen=True, slots=True)
class PackedDoc:
    """Document ``index`` of the packed corpus ``corpus``: it stands where a raw text would."""

    corpus: str
    index: int


class PackedTexts(Sequence[PackedDoc]):
    """Documents of the pack in a given order: a corpus whose tokens are already known. The pipeline
    reads it through :meth:`tokenized` (:class:`ulmfit_core.pipeline.Pretokenized`) and never tokenises it."""

    def __init__(self, docs: Sequence[PackedDoc]) -> None:
        self.docs = tuple(docs)
        if not all(isinstance(d, PackedDoc) for d in self.docs):
            raise TypeError("PackedTexts holds PackedDoc items only")

    def __len__(self) -> int:
        return len(self.docs)

    @overload
    def __getitem__(self, i: int) -> PackedDoc: ...
    @overload
    def __getitem__(self, i: slice) -> "PackedTexts": ...

    def __getitem__(self, i: int | slice) -> "PackedDoc | PackedTexts":
        return PackedTexts(self.docs[i]) if isinstance(i, slice) else self.docs[i]

    def __iter__(self) -> Iterator[PackedDoc]:
        return iter(self.docs)

    def __add__(self, other: Sequence[PackedDoc]) -> "PackedTexts":
        return PackedTexts(self.docs + tuple(other))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PackedTexts) and self.docs == other.docs

    def __repr__(self) -> str:
        return f"PackedTexts({len(self)} documents)"

    def tokenized(self) -> TokenizedCorpus:
        """The tokenised corpus of these documents (see :func:`corpus_of`)."""
        return corpus_of(self.docs)


def refs(corpus: str, n: int) -> PackedTexts:
    """The ``n`` documents of packed ``corpus``, in order."""
    return PackedTexts([PackedDoc(corpus, i) for i in range(n)])


def texts_of(items: Sequence[str | PackedDoc]) -> Sequence[str] | PackedTexts:
    """``items`` as the pipeline takes them: raw texts as they are, packed documents as
    :class:`PackedTexts`; a mixture of the two raises ``ValueError``."""
    if isinstance(items, PackedTexts):
        return items
    kinds = {isinstance(t, PackedDoc) for t in items}
    if len(kinds) > 1:
        raise ValueError("a corpus mixes packed documents and raw texts")
    return PackedTexts(items) if kinds == {True} else list(items)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ reading

@functools.lru_cache(maxsize=4)
def manifest(folder: Path) -> dict:
    """The pack's manifest; ``FileNotFoundError``/``ValueError`` naming the file when absent or stale."""
    path = folder / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no pack manifest (set {PACK_ENV} to a folder made by "
                                f"`python -m ulmfit_core.harness.pack_build`)")
    data = read_json(path)
    spacy_version = installed_version("spacy")
    stale_spacy = spacy_version is not None and data.get("spacy_version") != spacy_version
    if data.get("rules_version") != RULES_VERSION or stale_spacy:
        raise ValueError(f"{path}: packed with tokeniser rules {data.get('rules_version')} and spaCy "
                         f"{data.get('spacy_version')}, but this code has {RULES_VERSION} and {spacy_version}")
    return data


def installed_version(package: str) -> str | None:
    """``package``'s installed version, or None where it is not installed. A pack needs no spaCy where it
    is read: its token ids are final, so only a machine that has spaCy can tokenise differently."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=32)
def packed_corpus(folder: Path, name: str) -> tuple[TokenizedCorpus, np.ndarray]:
    """One packed corpus and its labels, after checking the file's SHA-256 against the manifest."""
    expected = manifest(folder)["files"].get(f"{name}.npz")
    path = folder / f"{name}.npz"
    if expected is None or not path.is_file():
        raise FileNotFoundError(f"{path}: not in the pack (it holds {sorted(manifest(folder)['files'])})")
    if file_sha256(path) != expected:
        raise ValueError(f"{path}: SHA-256 differs from the pack manifest; the file was changed or damaged")
    arrays = load_arrays(path)
    return TokenizedCorpus.from_arrays(arrays, path), arrays["labels"]


def corpus_of(docs: Sequence[PackedDoc]) -> TokenizedCorpus:
    """The tokenised corpus of packed documents, as tokenising their original texts in this order
    would build it: special tokens first, then words in order of first occurrence, counts over these
    documents only."""
    folder = _require_pack()
    parsed = [(d.corpus, d.index) for d in docs]
    words, maps = _shared_words(folder, tuple(dict.fromkeys(name for name, _ in parsed)))
    pieces = [maps[name][packed_corpus(folder, name)[0].doc(i)] for name, i in parsed]
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    flat = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
    n_special = len(SPECIAL_TOKENS)
    uniq, first = np.unique(flat, return_index=True)
    uniq, first = uniq[uniq >= n_special], first[uniq >= n_special]
    order = uniq[np.argsort(first, kind="stable")]
    table = np.full(len(words), -1, dtype=np.int64)
    table[:n_special] = np.arange(n_special)
    table[order] = np.arange(n_special, n_special + len(order))
    ids = table[flat].astype(np.int32)
    new_words = list(SPECIAL_TOKENS) + [words[k] for k in order.tolist()]
    counts = np.bincount(ids, minlength=len(new_words)).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return TokenizedCorpus(new_words, counts, ids, offsets)


def task_parts(dataset: str, selection: dict[str, int]) -> tuple[dict[str, tuple[PackedTexts, np.ndarray]], int]:
    """A dataset's packed parts as ``{part: (documents, labels)}`` and its number of classes; the pack
    must have been made with the same data ``selection``."""
    folder = _require_pack()
    entry = manifest(folder)["datasets"].get(dataset)
    if entry is None:
        raise KeyError(f"{folder / 'manifest.json'}: the pack has no dataset {dataset!r}; it has "
                       f"{sorted(manifest(folder)['datasets'])}")
    if entry["selection"] != selection:
        raise ValueError(f"{folder / 'manifest.json'}: {dataset} was packed with selection "
                         f"{entry['selection']}, but this scale selects {selection}")
    out = {}
    for part in PARTS:
        name = f"{dataset}-{part}"
        corpus, labels = packed_corpus(folder, name)
        out[part] = (refs(name, len(corpus)), labels)
    return out, int(entry["n_classes"])


def wiki_refs(shards: Sequence[int], words: int) -> PackedTexts:
    """The documents of the packed Wikipedia selection (it must be the one asked for)."""
    folder = _require_pack()
    packed = manifest(folder)["wikipedia"]
    if packed != {"shards": list(shards), "words": words}:
        raise ValueError(f"{folder / 'manifest.json'}: Wikipedia packed as {packed}, but the run asks for "
                         f"shards {list(shards)} and {words} words")
    return refs(WIKI, len(packed_corpus(folder, WIKI)[0]))


def wikitext_refs() -> PackedTexts:
    """The packed WikiText-103 test paragraphs."""
    folder = _require_pack()
    return refs(WIKITEXT, len(packed_corpus(folder, WIKITEXT)[0]))


def _require_pack() -> Path:
    folder = pack_dir()
    if folder is None:
        raise RuntimeError(f"packed documents found but ${PACK_ENV} is not set")
    return folder


@functools.lru_cache(maxsize=8)
def _shared_words(folder: Path, names: tuple[str, ...]) -> tuple[list[str], dict[str, np.ndarray]]:
    """One word list over the named corpora and, per corpus, the map from its word ids into it."""
    stoi = {w: i for i, w in enumerate(SPECIAL_TOKENS)}
    maps = {}
    for name in names:
        corpus, _ = packed_corpus(folder, name)
        maps[name] = np.asarray([stoi.setdefault(w, len(stoi)) for w in corpus.words], dtype=np.int64)
    return list(stoi), maps
