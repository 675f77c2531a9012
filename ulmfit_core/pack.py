"""A scale's inputs packed as token ids, so its runs can go to a machine that has no data folder.

    python -m ulmfit_core.pack --scale gpu --out gpu_pack        # build (needs the data folder)
    ULMFIT_PACK=gpu_pack python -m ulmfit_core.notebooks --scale gpu   # run anywhere

A pack holds exactly what one scale reads: each dataset's parts as the scale selects them (train,
validation, test, unlabelled extra, with labels), the Wikipedia selection it pretrains on and the
WikiText-103 test articles. Each part is a tokenised corpus (word list + int32 ids, compressed ``.npz``,
no pickle); ``manifest.json`` names the scale, the selections, the tokeniser rules and spaCy versions and
every file's SHA-256, so a pack that does not match the scale asking for it, or whose files were
changed, is refused with an error naming the file.

With ``$ULMFIT_PACK`` set, the runner reads the pack instead of the data folder: a text becomes a
reference to one document of one packed corpus (:func:`refs`), and :func:`corpus_of` rebuilds the
tokenised corpus of a list of references exactly as tokenising the original texts would (same word list
order, counts, ids), so a run from a pack gives the same record as a run from the raw data.
"""
from __future__ import annotations

import argparse
import functools
import importlib.metadata
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ulmfit_core.download import file_sha256
from ulmfit_core.fileio import load_arrays, read_json, save_arrays, write_json
from ulmfit_core.scales import get_scale
from ulmfit_core.tokenize import RULES_VERSION, SPECIAL_TOKENS, TokenizedCorpus, tokenize_cached

PACK_ENV = "ULMFIT_PACK"
PARTS = ("train", "valid", "test", "extra")
WIKI, WIKITEXT = "wikipedia", "wikitext103-test"
_PREFIX = "\x00pack:"   # a text that starts with this NUL-led marker is a reference, not a raw text


def pack_dir() -> Path | None:
    """The pack named by ``$ULMFIT_PACK``, or ``None`` (read the data folder)."""
    env = os.environ.get(PACK_ENV)
    return Path(env).expanduser().resolve() if env else None


def refs(corpus: str, n: int) -> list[str]:
    """References to the ``n`` documents of packed ``corpus``, usable wherever a text is expected."""
    return [f"{_PREFIX}{corpus}:{i}" for i in range(n)]


def is_packed(texts: Sequence[str]) -> bool:
    """True when ``texts`` are pack references (all of them; a mixture is an error)."""
    flags = {isinstance(t, str) and t.startswith(_PREFIX) for t in texts}
    if len(flags) > 1:
        raise ValueError("a corpus mixes packed references and raw texts")
    return flags == {True}


# ------------------------------------------------------------------------------------------ reading

@functools.lru_cache(maxsize=4)
def manifest(folder: Path) -> dict:
    """The pack's manifest; ``FileNotFoundError``/``ValueError`` naming the file when absent or stale."""
    path = folder / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no pack manifest (set {PACK_ENV} to a folder made by "
                                f"`python -m ulmfit_core.pack`)")
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


def corpus_of(texts: Sequence[str]) -> TokenizedCorpus:
    """The tokenised corpus of pack references, as tokenising their original texts in this order
    would build it: special tokens first, then words in order of first occurrence, counts over these
    documents only."""
    folder = _require_pack()
    parsed = [_parse(t) for t in texts]
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


def task_parts(dataset: str, selection: dict[str, int]) -> tuple[dict[str, tuple[list[str], np.ndarray]], int]:
    """A dataset's packed parts as ``{part: (references, labels)}`` and its number of classes; the pack
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


def wiki_refs(shards: Sequence[int], words: int) -> list[str]:
    """References to the packed Wikipedia selection (it must be the one asked for)."""
    folder = _require_pack()
    packed = manifest(folder)["wikipedia"]
    if packed != {"shards": list(shards), "words": words}:
        raise ValueError(f"{folder / 'manifest.json'}: Wikipedia packed as {packed}, but the run asks for "
                         f"shards {list(shards)} and {words} words")
    return refs(WIKI, len(packed_corpus(folder, WIKI)[0]))


def wikitext_refs() -> list[str]:
    """References to the packed WikiText-103 test paragraphs."""
    folder = _require_pack()
    return refs(WIKITEXT, len(packed_corpus(folder, WIKITEXT)[0]))


def _require_pack() -> Path:
    folder = pack_dir()
    if folder is None:
        raise RuntimeError(f"pack references found but ${PACK_ENV} is not set")
    return folder


def _parse(text: str) -> tuple[str, int]:
    name, _, index = text[len(_PREFIX):].rpartition(":")
    return name, int(index)


@functools.lru_cache(maxsize=8)
def _shared_words(folder: Path, names: tuple[str, ...]) -> tuple[list[str], dict[str, np.ndarray]]:
    """One word list over the named corpora and, per corpus, the map from its word ids into it."""
    stoi = {w: i for i, w in enumerate(SPECIAL_TOKENS)}
    maps = {}
    for name in names:
        corpus, _ = packed_corpus(folder, name)
        maps[name] = np.asarray([stoi.setdefault(w, len(stoi)) for w in corpus.words], dtype=np.int64)
    return list(stoi), maps


# ------------------------------------------------------------------------------------------ building

def build_pack(scale_name: str, out: str | os.PathLike, datasets: Sequence[str] | None = None,
               progress: bool = True, n_workers: int | None = None) -> dict:
    """Tokenise what ``scale_name`` reads (from the data folder) into a pack at ``out``; return the
    manifest. Token caches are shared with the runner, so building after running costs little."""
    from ulmfit_core import experiments  # noqa: PLC0415 — the runner reads packs; building uses its selections

    if pack_dir() is not None:
        raise RuntimeError(f"unset ${PACK_ENV} to build a pack: it is built from the data folder")
    scale, out = get_scale(scale_name), Path(out)
    files: dict[str, str] = {}

    def put(name: str, cache_name: str, texts: Sequence[str], labels: Sequence[int]) -> int:
        corpus = tokenize_cached(texts, cache_name, n_workers=n_workers, progress=progress)
        path = out / f"{name}.npz"
        save_arrays(path, compressed=True, labels=np.asarray(labels, dtype=np.int64), **corpus.to_arrays())
        files[path.name] = file_sha256(path)
        return len(corpus)

    entries = {}
    for ds in datasets or list(scale.tasks):
        data = experiments.task_data(ds, scale_name)
        sizes = {part: put(f"{ds}-{part}", f"{ds}-{scale_name}-{cache}", [r.text for r in records],
                           [r.label for r in records])
                 for part, cache, records in (("train", "clf", data.train), ("valid", "valid", data.valid),
                                              ("test", "test", data.test))}
        sizes["extra"] = put(f"{ds}-extra", f"{ds}-{scale_name}-extra", data.extra_text,
                             [-1] * len(data.extra_text))
        entries[ds] = {"selection": experiments.data_selection(scale.task(ds)), "n_classes": data.n_classes,
                       "documents": sizes}
    wiki = experiments.wiki_texts(scale.wiki_shards, scale.wiki_words)
    put(WIKI, f"wiki-{scale_name}", wiki, [-1] * len(wiki))
    paragraphs = experiments.wikitext_paragraphs()
    put(WIKITEXT, WIKITEXT, paragraphs, [-1] * len(paragraphs))
    data = {"scale": scale_name, "rules_version": RULES_VERSION,
            "spacy_version": importlib.metadata.version("spacy"), "datasets": entries,
            "wikipedia": {"shards": list(scale.wiki_shards), "words": scale.wiki_words},
            "files": files, "bytes": sum((out / f).stat().st_size for f in files)}
    write_json(out / "manifest.json", data)
    manifest.cache_clear()
    return data


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="gpu")
    parser.add_argument("--out", default="gpu_pack", help="pack folder (default: gpu_pack, git-ignored)")
    parser.add_argument("--datasets", nargs="*", help="datasets (default: every dataset of the scale)")
    parser.add_argument("--workers", type=int, help="tokeniser processes (default: one per CPU core)")
    args = parser.parse_args(argv)
    data = build_pack(args.scale, args.out, args.datasets, n_workers=args.workers)
    print(f"{args.out}: {len(data['files'])} files, {data['bytes'] / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
