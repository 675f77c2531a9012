"""Packed inputs: a scale's data as token ids, read instead of the data folder, with the same results."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ulmfit_core.fileio import read_json, write_json
from ulmfit_core.pipeline import Pretokenized, tokenized
from ulmfit_core.settings import data_dir
from ulmfit_core.tokenize import TokenizedCorpus, tokenize_cached
from ulmfit_core.harness import pack
from ulmfit_core.harness.experiments import (classifier_run, ensure, record_texts, task_data, wiki_texts,
                                             wikitext_paragraphs)
from ulmfit_core.harness.pack_build import build_pack
from ulmfit_core.harness.scales import get_scale

SMOKE = get_scale("smoke")
DATA = data_dir()


@pytest.fixture(scope="module")
def smoke_pack(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A smoke-scale pack of TREC-6 (with the smoke Wikipedia selection and the WikiText-103 test set)."""
    folder = tmp_path_factory.mktemp("pack")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ULMFIT_CACHE", str(folder.parent / "cache"))
        mp.delenv(pack.PACK_ENV, raising=False)
        build_pack("smoke", folder / "p", ["trec6"], progress=False)
    return folder / "p"


def same(a: TokenizedCorpus, b: TokenizedCorpus) -> None:
    assert a.words == b.words
    for name in ("counts", "ids", "offsets"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def online_and_packed(monkeypatch: pytest.MonkeyPatch, folder: Path, get):
    """``get()`` from the data folder, then from the pack with no data folder at all."""
    monkeypatch.delenv(pack.PACK_ENV, raising=False)
    monkeypatch.setenv("ULMFIT_DATA", str(DATA))
    online = get()
    monkeypatch.setenv(pack.PACK_ENV, str(folder))
    monkeypatch.setenv("ULMFIT_DATA", str(folder / "no-data-here"))   # the data folder is never read
    return online, get()


def test_packed_task_data_matches_the_data_folder(smoke_pack, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path))
    online, packed = online_and_packed(monkeypatch, smoke_pack, lambda: task_data("trec6", "smoke"))
    assert packed.n_classes == online.n_classes == 6
    for part in ("train", "valid", "test"):
        a, b = getattr(online, part), getattr(packed, part)
        assert [r.label for r in a] == [r.label for r in b]
        assert all(isinstance(r.text, pack.PackedDoc) for r in b)
        same(tokenize_cached([r.text for r in a], "t", progress=False), tokenized(record_texts(b), "t"))


def test_references_rebuild_any_selection_exactly(smoke_pack, monkeypatch, tmp_path) -> None:
    """Word order, counts and ids as tokenising the texts would give: subsets, reordering, two corpora."""
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path))

    def pick():
        data = task_data("trec6", "smoke")
        return pack.texts_of([data.train[i].text for i in (7, 3, 99, 3)] + [r.text for r in data.valid[:20]])

    online, packed = online_and_packed(monkeypatch, smoke_pack, pick)
    same(tokenize_cached(online, "x", progress=False), tokenized(packed, "x"))
    for get in (lambda: wiki_texts(SMOKE.wiki_shards, SMOKE.wiki_words), wikitext_paragraphs):
        online, packed = online_and_packed(monkeypatch, smoke_pack, get)
        assert len(online) == len(packed)
        same(tokenize_cached(online, "w", progress=False), tokenized(packed, "w"))


@pytest.mark.slow
def test_a_run_from_the_pack_gives_the_same_record(smoke_pack, monkeypatch, tmp_path) -> None:
    run = classifier_run(SMOKE, "trec6", 0, None, "from scratch")

    def record(where: str) -> dict:
        monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path / where / "results"))
        monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / where / "cache"))
        return ensure(run, "cpu")

    monkeypatch.delenv(pack.PACK_ENV, raising=False)
    monkeypatch.setenv("ULMFIT_DATA", str(DATA))
    online = record("online")
    monkeypatch.setenv(pack.PACK_ENV, str(smoke_pack))
    monkeypatch.setenv("ULMFIT_DATA", str(tmp_path / "no-data-here"))
    packed = record("packed")
    untimed = [{k: v for k, v in h.items() if k not in ("seconds", "items_per_s")} for h in online["history"]]
    assert packed["metrics"] == online["metrics"]
    assert [{k: h[k] for k in untimed[0]} for h in packed["history"]] == untimed
    assert not (tmp_path / "packed" / "cache" / "tokens").exists()   # nothing was tokenised


def test_a_changed_file_or_selection_is_refused(smoke_pack, monkeypatch, tmp_path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(smoke_pack, copy)
    monkeypatch.setenv(pack.PACK_ENV, str(copy))
    with open(copy / "trec6-test.npz", "r+b") as fh:
        fh.seek(100)
        fh.write(b"\xff\xff")
    with pytest.raises(ValueError, match=r"trec6-test\.npz: SHA-256 differs"):
        task_data("trec6", "smoke")
    with pytest.raises(KeyError, match="no dataset 'imdb'"):
        task_data("imdb", "smoke")
    with pytest.raises(ValueError, match="Wikipedia packed as"):
        wiki_texts((0, 1), 0)
    with pytest.raises(ValueError, match="mixes packed documents and raw texts"):
        pack.texts_of(list(pack.refs("trec6-train", 1)) + ["a question?"])
    manifest = read_json(copy / "manifest.json")
    manifest["datasets"]["trec6"]["selection"]["n_train"] = 10
    write_json(tmp_path / "other" / "manifest.json", manifest)
    monkeypatch.setenv(pack.PACK_ENV, str(tmp_path / "other"))
    with pytest.raises(ValueError, match=r"manifest\.json: trec6 was packed with selection"):
        task_data("trec6", "smoke")
    monkeypatch.setenv(pack.PACK_ENV, str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="no pack manifest"):
        task_data("trec6", "smoke")


def test_a_pack_is_read_where_spacy_is_not_installed_and_checked_where_it_is(smoke_pack, monkeypatch,
                                                                              tmp_path) -> None:
    """A GPU machine that only reads a pack needs no spaCy; a machine whose spaCy differs is refused."""
    real_version = pack.importlib.metadata.version

    def version(name: str, installed: str | None) -> str:
        if name != "spacy":
            return real_version(name)
        if installed is None:
            raise pack.importlib.metadata.PackageNotFoundError(name)
        return installed

    monkeypatch.setenv(pack.PACK_ENV, str(smoke_pack))
    for installed, readable in ((None, True), ("0.0.1", False)):
        pack.manifest.cache_clear()
        monkeypatch.setattr(pack.importlib.metadata, "version", lambda n, i=installed: version(n, i))
        assert pack.installed_version("spacy") == installed
        if readable:
            assert "trec6" in pack.manifest(smoke_pack)["datasets"]
        else:
            with pytest.raises(ValueError, match=r"manifest\.json: packed with tokeniser rules .* and 0\.0\.1"):
                pack.manifest(smoke_pack)
    pack.manifest.cache_clear()


def test_packed_documents_are_a_corpus_type_not_strings(smoke_pack, monkeypatch, tmp_path) -> None:
    """The pipeline reads a pack's documents through their own type: it never tokenises them, and a plain
    string is never taken for a packed document."""
    monkeypatch.setenv(pack.PACK_ENV, str(smoke_pack))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path))
    docs = task_data("trec6", "smoke").extra_text + record_texts(task_data("trec6", "smoke").train[:5])
    assert isinstance(docs, pack.PackedTexts) and isinstance(docs, Pretokenized) and len(docs) == 5
    assert isinstance(docs[1:3], pack.PackedTexts) and docs[0] == pack.PackedDoc("trec6-train", 0)
    assert len(tokenized(docs, "t")) == 5
    assert not (tmp_path / "tokens").exists()                       # nothing went through the tokeniser
    text = "\x00pack:trec6-train:0"                                   # what a reference used to look like
    assert pack.texts_of([text]) == [text] and not isinstance(pack.texts_of([text]), Pretokenized)


def test_building_a_pack_needs_the_data_folder(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(pack.PACK_ENV, str(tmp_path))
    with pytest.raises(RuntimeError, match="unset"):
        build_pack("smoke", tmp_path / "p", ["trec6"])
