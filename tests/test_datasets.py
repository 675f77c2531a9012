"""The data layer: registry counts against the real files, the paper's stratified splits, and bad input.

Tests on real data use the shared data folder and are skipped where it is absent; bad-input tests build
tiny synthetic files in ``tmp_path``.
"""
from __future__ import annotations

import csv
import dataclasses
import functools
import gzip
import hashlib
import io
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from ulmfit_core import corpus as C, splits as S
from ulmfit_core.splits import Record
from ulmfit_core.harness import datasets as D
from ulmfit_core.harness import download

ALL_SPLITS = [(name, split) for name, info in D.DATASETS.items() for split in info.split_sizes]
COMPLETE_ZHANG = ("ag_news_120k", "dbpedia_560k", "yelp_bi_560k", "yelp_full_650k")   # downloaded, not shared


@functools.cache
def _load(root: Path, name: str, split: str) -> list[Record]:
    return D.load_split(name, split, root)


def _labels(records) -> Counter:
    return Counter(r.label for r in records)


# --------------------------------------------------------------------------- real data


@pytest.mark.parametrize("name,split", ALL_SPLITS)
def test_every_split_has_the_registry_count_and_label_set(shared_data, name, split):
    if name in COMPLETE_ZHANG and not all((shared_data / f).is_file() for f in D.split_files(name, split)):
        pytest.skip(f"{name}/{split} is not in this data folder (fetch_dataset downloads it)")
    records = _load(shared_data, name, split)
    info = D.dataset_info(name)
    assert len(records) == info.split_sizes[split]
    if split == "unsup":
        assert set(_labels(records)) == {S.UNLABELLED}
    else:
        assert set(_labels(records)) == set(range(len(info.label_names)))
    assert all(isinstance(r.text, str) and r.text.strip() for r in records)


def test_imdb_is_balanced_and_keeps_raw_html(shared_data):
    for split in ("train", "test"):
        assert _labels(_load(shared_data, "imdb", split)) == {0: 12_500, 1: 12_500}
    assert any("<br />" in r.text for r in _load(shared_data, "imdb", "train")[:200])


def test_trec_counts_per_coarse_class(shared_data):
    names = D.DATASETS["trec6"].label_names
    train = {names[k]: v for k, v in _labels(_load(shared_data, "trec6", "train")).items()}
    test = {names[k]: v for k, v in _labels(_load(shared_data, "trec6", "test")).items()}
    assert train == {"ABBR": 86, "DESC": 1162, "ENTY": 1250, "HUM": 1223, "LOC": 835, "NUM": 896}
    assert test == {"ABBR": 9, "DESC": 138, "ENTY": 94, "HUM": 65, "LOC": 81, "NUM": 113}
    assert _load(shared_data, "trec6", "test")[0] == Record("How far is it from Denver to Aspen ?", 5)


@pytest.mark.parametrize("name,source,per_train,per_test,fingerprint", [
    ("ag_news_7k6", "ag_news/test.csv.gz", 1_650, 250, "558a86291468c84b"),
    ("dbpedia_14k", "dbpedia/subset14k_train.csv.gz", 900, 100, "e51559ec17bec2c2"),
])
def test_resplit_is_balanced_disjoint_and_pinned(shared_data, name, source, per_train, per_test,
                                                 fingerprint):
    train, test = _load(shared_data, name, "train"), _load(shared_data, name, "test")
    n_classes = len(D.DATASETS[name].label_names)
    assert _labels(train) == {c: per_train for c in range(n_classes)}
    assert _labels(test) == {c: per_test for c in range(n_classes)}
    assert not {r.text for r in train} & {r.text for r in test}
    assert len({r.text for r in train} | {r.text for r in test}) == len(train) + len(test)
    # the seed-0 split must never change silently: results depend on it
    digest = hashlib.sha256("\n".join(r.text for r in test).encode()).hexdigest()[:16]
    assert digest == fingerprint
    assert D.load_split(name, "test", shared_data) == test


def test_ag_text_joins_title_and_description(shared_data):
    first = D.read_zhang_csv(shared_data / "ag_news" / "test.csv.gz", n_classes=4)[0]
    assert first == Record("Fears for T N pension after talks. Unions representing workers at Turner   "
                           "Newall say they are 'disappointed' after talks with stricken parent firm "
                           "Federal Mogul.", 2)


def test_yelp_bi_drops_three_star_reviews(shared_data):
    for split in ("train", "test"):
        full, bi = _load(shared_data, "yelp_full", split), _load(shared_data, "yelp_bi", split)
        stars = _labels(full)
        assert len(bi) == len(full) - stars[2]
        assert _labels(bi) == {0: stars[0] + stars[1], 1: stars[3] + stars[4]}
        expected = [Record(r.text, int(r.label >= 3)) for r in full if r.label != 2]
        assert bi == expected


def test_zhang_format_fixture_files(shared_data):
    folder = shared_data / "yelp" / "zhang_format_fixture"
    train = D.read_zhang_csv(folder / "yelp_polarity_train_5rows.csv", n_classes=2)
    test = D.read_zhang_csv(folder / "yelp_polarity_test_9rows.csv", n_classes=2)
    assert [r.label for r in train] == [0, 1, 0, 0, 1]
    assert [r.label for r in test] == [1, 0, 1, 0, 1, 1, 0, 0, 0]
    assert train[0].text.startswith("Unfortunately, the frustration of being Dr. Goldberg's patient")
    assert any("\\n" in r.text for r in train + test)  # Zhang's newline escape kept for the tokenizer


def test_wikipedia_shard_zero_yields_titled_articles(shared_data):
    articles = list(C.wikipedia_articles([0], shared_data))
    assert len(articles) == 2297
    assert all(a.startswith(" = ") and a.split("\n")[0].endswith(" = ") for a in articles)
    assert articles[0].startswith(" = Battle of Maldon = \n\nThe Battle of Maldon took place")
    assert all(a.split("\n")[1] == "" and not a.endswith("\n") for a in articles)


def test_lm_eval_texts_have_the_published_token_counts(shared_data):
    """WikiText/PTB counts: whitespace tokens plus one end-of-line token per line."""
    expected = {"wikitext2_valid_tokens": 217_646, "wikitext2_test_tokens": 245_569,
                "ptb_valid": 73_760, "ptb_test": 82_430}
    for name, count in expected.items():
        text = D.lm_eval_text(name, shared_data)
        assert len(text.split()) + len(text.splitlines()) == count
    raw = D.lm_eval_text("wikitext103_test_raw", shared_data)
    assert raw.startswith(" \n = Robert Boulter = \n") and "<unk>" not in raw


def test_loading_imdb_train_is_fast(shared_data):
    import time
    start = time.perf_counter()
    D.load_split("imdb", "train", shared_data)
    assert time.perf_counter() - start < 5.0


# --------------------------------------------------------------------------- splits (synthetic)


def _toy(counts: dict[int, int]) -> list[Record]:
    return [Record(f"doc {label} {i}", label) for label, n in counts.items() for i in range(n)]


def test_validation_split_is_stratified_deterministic_and_exhaustive():
    records = _toy({0: 600, 1: 300, 2: 100})
    train, valid = S.validation_split(records, frac=0.1, seed=0)
    assert _labels(valid) == {0: 60, 1: 30, 2: 10}
    assert _labels(train) == {0: 540, 1: 270, 2: 90}
    assert sorted(train + valid, key=records.index) == records
    assert train == [r for r in records if r in set(train)]  # input order kept
    assert S.validation_split(records, 0.1, 0) == (train, valid)
    assert S.validation_split(records, 0.1, 1)[1] != valid


def test_validation_split_total_is_exact_with_uneven_classes():
    records = _toy({0: 7, 1: 5, 2: 3})
    train, valid = S.validation_split(records, frac=0.2, seed=3)
    assert len(valid) == 3 and len(train) == 12
    with pytest.raises(ValueError, match="fraction"):
        S.validation_split(records, frac=1.0)


def test_low_shot_subset_is_exact_proportional_and_covers_every_class():
    records = _toy({0: 900, 1: 90, 2: 10})
    subset = S.low_shot_subset(records, 100, seed=0)
    assert len(subset) == 100
    assert _labels(subset) == {0: 90, 1: 9, 2: 1}
    tiny = S.low_shot_subset(records, 3, seed=0)
    assert _labels(tiny) == {0: 1, 1: 1, 2: 1}
    assert S.low_shot_subset(records, 100, seed=0) == subset
    assert S.low_shot_subset(records, 100, seed=1) != subset
    assert len(set(subset)) == 100


def test_low_shot_subset_rejects_impossible_sizes():
    records = _toy({0: 5, 1: 5, 2: 5})
    with pytest.raises(ValueError, match="at least 1"):
        S.low_shot_subset(records, 2)
    with pytest.raises(ValueError, match="1..15"):
        S.low_shot_subset(records, 16)


def test_registry_lookups():
    with pytest.raises(KeyError, match="imdb"):
        D.dataset_info("imdb_full")
    with pytest.raises(ValueError, match="unsup"):
        D.load_split("trec6", "unsup", Path("/nonexistent"))
    with pytest.raises(KeyError, match="ptb_valid"):
        D.lm_eval_text("ptb_train")
    for info in D.DATASETS.values():
        assert "\n" not in info.description
    for name in ("ag_news_7k6", "dbpedia_14k"):
        assert D.DATASETS[name].description.startswith("NOT the paper's")
    for name in COMPLETE_ZHANG:
        assert "complete" in D.DATASETS[name].description and D.fetchable(name)
    assert not D.fetchable("yelp_bi") and not D.fetchable("dbpedia_14k")


# --------------------------------------------------------------------------- complete datasets, small files

def _shrunk(monkeypatch, name: str, **sizes: int) -> None:
    """Let the registry expect ``sizes`` records for ``name``, so that small files of the real format load."""
    info = D.DATASETS[name]
    monkeypatch.setitem(D.DATASETS, name, dataclasses.replace(info, split_sizes={**info.split_sizes, **sizes}))


def test_complete_ag_reads_the_original_format(tmp_path, shared_data, monkeypatch):
    with gzip.open(shared_data / "ag_news" / "test.csv.gz", "rt", encoding="utf-8") as fh:
        head = "".join(fh.readline() for _ in range(6))
    _gz(tmp_path / "ag_news" / "train.csv.gz", head)
    (tmp_path / "ag_news" / "classes.txt").write_bytes((shared_data / "ag_news" / "classes.txt").read_bytes())
    with pytest.raises(ValueError, match=r"train\.csv\.gz: ag_news_120k/train: expected 120000 records, found 6"):
        D.load_split("ag_news_120k", "train", tmp_path)
    _shrunk(monkeypatch, "ag_news_120k", train=6)
    records = D.load_split("ag_news_120k", "train", tmp_path)
    assert records[:2] == [D.read_zhang_csv(shared_data / "ag_news" / "test.csv.gz", n_classes=4)[0],
                           Record("The Race is On: Second Private Team Sets Launch Date for Human Spaceflight "
                                  "(SPACE.com). SPACE.com - TORONTO, Canada -- A second\\team of rocketeers "
                                  "competing for the  #36;10 million Ansari X Prize, a contest for\\privately "
                                  "funded suborbital space flight, has officially announced the first\\launch "
                                  "date for its manned rocket.", 3)]
    assert D.load_split("ag_news_120k", "test", shared_data) == D.read_zhang_csv(
        shared_data / "ag_news" / "test.csv.gz", n_classes=4)      # the official 7,600-row test split


def test_complete_dbpedia_joins_title_and_abstract_and_checks_classes(tmp_path, shared_data, monkeypatch):
    rows = ('1,"E. D. Abbott Ltd"," Abbott of Farnham E D Abbott Limited was a British coachbuilding business."\n'
            '14,"Old Man Goya","Old Man Goya is a 2003 book by Julia Blackburn."\n')
    _gz(tmp_path / "dbpedia" / "test.csv.gz", rows)
    (tmp_path / "dbpedia" / "classes.txt").write_bytes((shared_data / "dbpedia" / "classes.txt").read_bytes())
    _shrunk(monkeypatch, "dbpedia_560k", test=2)
    assert D.load_split("dbpedia_560k", "test", tmp_path) == [
        Record("E. D. Abbott Ltd. Abbott of Farnham E D Abbott Limited was a British coachbuilding business.", 0),
        Record("Old Man Goya. Old Man Goya is a 2003 book by Julia Blackburn.", 13)]
    _gz(tmp_path / "dbpedia" / "test.csv.gz", rows + '15,"Extra","A fifteenth class."\n')
    _shrunk(monkeypatch, "dbpedia_560k", test=3)
    with pytest.raises(ValueError, match=r"test\.csv\.gz: row 3: label 15 outside 1\.\.14"):
        D.load_split("dbpedia_560k", "test", tmp_path)
    (tmp_path / "dbpedia" / "classes.txt").write_text("Company\n")
    with pytest.raises(ValueError, match=r"classes\.txt: class names \('Company',\) differ"):
        D.load_split("dbpedia_560k", "test", tmp_path)


def test_complete_yelp_full_maps_stars_to_labels(tmp_path, shared_data, monkeypatch):
    fixture = D.read_zhang_csv(shared_data / "yelp" / "zhang_format_fixture" / "yelp_polarity_test_9rows.csv")
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(
        (stars, r.text) for stars, r in zip((1, 2, 3, 4, 5), fixture))          # Zhang et al.'s quoting
    rows = buf.getvalue()
    _gz(tmp_path / "yelp" / "review_full" / "train.csv.gz", rows)
    _shrunk(monkeypatch, "yelp_full_650k", train=5)
    records = D.load_split("yelp_full_650k", "train", tmp_path)
    assert [r.label for r in records] == [0, 1, 2, 3, 4]
    assert [r.text for r in records] == [r.text for r in fixture[:5]]
    _gz(tmp_path / "yelp" / "review_full" / "train.csv.gz", rows + '6,"Six stars?"\n')
    _shrunk(monkeypatch, "yelp_full_650k", train=6)
    with pytest.raises(ValueError, match=r"review_full/train\.csv\.gz: row 6: label 6 outside 1\.\.5"):
        D.load_split("yelp_full_650k", "train", tmp_path)


def test_wikitext103_training_text_is_read_by_article_and_its_line_count_checked(tmp_path, shared_data,
                                                                                monkeypatch):
    lines = (shared_data / "wikitext" / "raw" / "wiki.valid.raw").read_text(encoding="utf-8").splitlines(True)
    path = tmp_path / C.WIKITEXT103_TRAIN
    with pytest.raises(FileNotFoundError, match="FETCH=1 downloads it"):
        C.wikitext103_articles(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("".join(lines[:200]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"wiki\.train\.raw: expected 1,801,350 lines, found 200"):
        list(C.wikitext103_articles(tmp_path))
    monkeypatch.setattr(C, "WIKITEXT103_TRAIN_LINES", 200)
    articles = list(C.wikitext103_articles(tmp_path))
    assert articles[0].startswith(" = Homarus gammarus = ")
    assert all(a.startswith(" = ") for a in articles) and len(articles) >= 1


# --------------------------------------------------------------------------- bad input (synthetic)

IMDB_HEADER = "id,rating,label,text\n"


def _gz(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode("utf-8")))
    return path


def _imdb_root(tmp_path: Path, body: str) -> Path:
    _gz(tmp_path / "imdb" / "train.csv.gz", IMDB_HEADER + body)
    return tmp_path


def test_missing_data_folder_names_the_setting_and_path(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as err:
        D.load_split("imdb", "train", missing)
    assert "ULMFIT_DATA" in str(err.value) and str(missing) in str(err.value)
    monkeypatch.setenv("ULMFIT_DATA", str(missing))
    with pytest.raises(FileNotFoundError, match="ULMFIT_DATA"):
        list(C.wikipedia_articles([0]))


def test_missing_file_in_present_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        D.load_split("trec6", "test", tmp_path)
    assert str(tmp_path / "trec6" / "TREC_10.label") in str(err.value)
    assert "download=True" in str(err.value)
    with pytest.raises(FileNotFoundError, match="wiki_03"):
        C.wikipedia_articles([3], tmp_path)


def test_not_gzip_bytes_raise_naming_the_file(tmp_path):
    path = tmp_path / "imdb" / "train.csv.gz"
    path.parent.mkdir()
    path.write_bytes(b"id,rating,label,text\n0_1,1,neg,plain text, not gzip\n")
    with pytest.raises(ValueError, match=r"train\.csv\.gz: corrupt or truncated gzip"):
        D.load_split("imdb", "train", tmp_path)


def test_truncated_gzip_raises_naming_the_file(tmp_path):
    body = "".join(f"{i}_1,1,neg,review number {i} {'x' * 50}\n" for i in range(2000))
    path = _gz(tmp_path / "imdb" / "train.csv.gz", IMDB_HEADER + body)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(ValueError, match=r"train\.csv\.gz: corrupt or truncated gzip"):
        D.load_split("imdb", "train", tmp_path)


def test_malformed_csv_row_names_file_and_row(tmp_path):
    root = _imdb_root(tmp_path, '0_1,1,neg,"fine"\n1_2,2,neg\n')
    with pytest.raises(ValueError) as err:
        D.load_split("imdb", "train", root)
    assert "train.csv.gz: row 3: expected 4 columns, found 3" in str(err.value)


def test_unterminated_quote_is_a_malformed_row(tmp_path):
    root = _imdb_root(tmp_path, '0_1,1,neg,"fine"\n1_2,2,neg,"never closed\n')
    with pytest.raises(ValueError, match="train.csv.gz: row 3: malformed CSV"):
        D.load_split("imdb", "train", root)


def test_unknown_imdb_label_names_file_row_and_label(tmp_path):
    root = _imdb_root(tmp_path, '0_1,1,neg,"ok"\n1_5,5,maybe,"hmm"\n')
    with pytest.raises(ValueError, match=r"train\.csv\.gz: row 3: label 'maybe' not in \('neg', 'pos'\)"):
        D.load_split("imdb", "train", root)


def test_wrong_imdb_header_is_reported(tmp_path):
    _gz(tmp_path / "imdb" / "train.csv.gz", "id,label,text\n0_1,neg,ok\n")
    with pytest.raises(ValueError, match="row 1: expected header id,rating,label,text"):
        D.load_split("imdb", "train", tmp_path)


def test_empty_text_names_file_and_row(tmp_path):
    root = _imdb_root(tmp_path, '0_1,1,neg,"ok"\n1_9,9,pos,"   "\n')
    with pytest.raises(ValueError, match=r"train\.csv\.gz: row 3: empty text"):
        D.load_split("imdb", "train", root)


def test_count_mismatch_names_file_expected_and_found(tmp_path):
    root = _imdb_root(tmp_path, '0_1,1,neg,"one"\n1_9,9,pos,"two"\n')
    with pytest.raises(ValueError) as err:
        D.load_split("imdb", "train", root)
    assert "train.csv.gz" in str(err.value) and "expected 25000 records, found 2" in str(err.value)


def test_unsup_rows_must_be_unlabelled(tmp_path):
    path = _gz(tmp_path / "unsup.csv.gz", IMDB_HEADER + '0_0,0,unsup,"a"\n1_0,0,pos,"b"\n')
    with pytest.raises(ValueError, match="row 3: label 'pos' not 'unsup'"):
        D.read_imdb_csv(path, unlabelled=True)
    assert D.read_imdb_csv(_gz(tmp_path / "u2.csv.gz", IMDB_HEADER + '0_0,0,unsup,"a"\n'),
                           unlabelled=True) == [Record("a", -1)]


def _ag_root(tmp_path: Path, rows: str) -> Path:
    (tmp_path / "ag_news").mkdir(parents=True)
    (tmp_path / "ag_news" / "classes.txt").write_text("World\nSports\nBusiness\nSci/Tech\n")
    _gz(tmp_path / "ag_news" / "test.csv.gz", rows)
    return tmp_path


def test_ag_class_outside_label_set_names_file_row_and_label(tmp_path):
    root = _ag_root(tmp_path, '"3","Title","Body"\n"9","Other","Body"\n')
    with pytest.raises(ValueError, match=r"test\.csv\.gz: row 2: label 9 outside 1\.\.4"):
        D.load_split("ag_news_7k6", "train", root)


def test_ag_source_count_is_checked_before_resplitting(tmp_path):
    root = _ag_root(tmp_path, '"3","Title","Body"\n"1","Other","Body?"\n')
    with pytest.raises(ValueError, match="expected 7600 records, found 2"):
        D.load_split("ag_news_7k6", "test", root)


def test_class_names_file_must_match_registry(tmp_path):
    root = _ag_root(tmp_path, '"3","Title","Body"\n')
    (root / "ag_news" / "classes.txt").write_text("World\nSports\nBusiness\nScience\n")
    with pytest.raises(ValueError, match="classes.txt: class names"):
        D.load_split("ag_news_7k6", "train", root)


def test_read_zhang_csv_parses_and_rejects_bad_rows(tmp_path):
    path = tmp_path / "z.csv"
    path.write_text('"2","Title?","Body with ""quotes"" and \\n escape"\n"1","Plain title","Body"\n')
    assert D.read_zhang_csv(path, n_classes=2) == [
        Record('Title? Body with "quotes" and \\n escape', 1), Record("Plain title. Body", 0)]
    path.write_text('"2","only text"\n"x","bad label"\n')
    with pytest.raises(ValueError, match="z.csv: row 2: label 'x' is not a class number"):
        D.read_zhang_csv(path)
    path.write_text('"2","a","b"\n"1","c"\n')
    with pytest.raises(ValueError, match="z.csv: row 2: expected 3 columns, found 2"):
        D.read_zhang_csv(path)
    path.write_text('"0","text"\n')
    with pytest.raises(ValueError, match=r"label 0 outside >= 1"):
        D.read_zhang_csv(path)


def test_trec_malformed_line_and_unknown_class(tmp_path):
    folder = tmp_path / "trec6"
    folder.mkdir()
    (folder / "TREC_10.label").write_bytes(b"NUM:dist How far ?\nno colon here\n")
    with pytest.raises(ValueError, match=r"TREC_10\.label: line 2: expected 'COARSE:fine question'"):
        D.load_split("trec6", "test", tmp_path)
    (folder / "TREC_10.label").write_bytes(b"NUM:dist How far ?\nWHAT:x Caf\xe9 ?\n")
    with pytest.raises(ValueError, match=r"line 2: label 'WHAT' not in"):
        D.load_split("trec6", "test", tmp_path)
    (folder / "TREC_10.label").write_bytes(b"NUM:dist How far ?\r\nLOC:other Caf\xe9 ?\n")
    assert D.read_trec(folder / "TREC_10.label") == [Record("How far ?", 5), Record("Caf\u00e9 ?", 4)]


def test_dbpedia_and_yelp_label_errors(tmp_path):
    (tmp_path / "dbpedia").mkdir()
    (tmp_path / "dbpedia" / "classes.txt").write_text("\n".join(D.DATASETS["dbpedia_14k"].label_names))
    _gz(tmp_path / "dbpedia" / "subset14k_train.csv.gz", "0,ok\n14,too high\n")
    with pytest.raises(ValueError, match=r"subset14k_train\.csv\.gz: row 2: label 14 outside 0\.\.13"):
        D.load_split("dbpedia_14k", "train", tmp_path)
    _gz(tmp_path / "yelp" / "open_dataset_sample" / "test.csv.gz",
        'text,label1,label2\n"good",Food,Review Stars: 5.0\n"meh",Food,Review Stars: 6.0\n')
    with pytest.raises(ValueError, match=r"test\.csv\.gz: row 3: label 'Review Stars: 6\.0'"):
        D.load_split("yelp_full", "test", tmp_path)


def test_wikipedia_text_before_first_title_is_rejected(tmp_path):
    _gz(tmp_path / "wikipedia" / "wiki_00.txt.gz", "stray paragraph\n = T = \n\nBody\n")
    with pytest.raises(ValueError, match=r"wiki_00\.txt\.gz: line 1: expected an article title"):
        list(C.wikipedia_articles([0], tmp_path))
    _gz(tmp_path / "wikipedia" / "wiki_01.txt.gz", " = A = \n\nP1\nP2\n\n = B = \n\nQ\n")
    assert list(C.wikipedia_articles([1], tmp_path)) == [" = A = \n\nP1\nP2", " = B = \n\nQ"]


# --------------------------------------------------------------------------- downloads (local server)


def test_trec_download_fetches_verified_original_files(tmp_path, serve, shared_data, monkeypatch):
    base = serve(shared_data / "trec6")  # served in place, nothing copied
    pinned = [download.Source(base + s.filename, s.sha256, s.filename, s.extract)
              for s in download.SOURCES["trec6"]]
    monkeypatch.setitem(download.SOURCES, "trec6", pinned)
    root = tmp_path / "fresh"
    records = D.load_split("trec6", "test", root, download=True)
    assert records == _load(shared_data, "trec6", "test")
    assert download.file_sha256(root / "trec6" / "train_5500.label") == pinned[0].sha256


def _serve_archive(tmp_path: Path, serve, monkeypatch, key: str, filename: str,
                   members: dict[str, str]) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    served = tmp_path / "served"
    served.mkdir(exist_ok=True)
    (served / filename).write_bytes(buf.getvalue())
    sha = hashlib.sha256(buf.getvalue()).hexdigest()
    monkeypatch.setitem(download.SOURCES, key, [download.Source(serve(served) + filename, sha,
                                                                filename, True)])
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))


def test_imdb_download_is_repacked_into_csv(tmp_path, serve, monkeypatch):
    _serve_archive(tmp_path, serve, monkeypatch, "imdb", "imdb.tgz", {
        "imdb/README": "Large Movie Review Dataset",
        "imdb/train/pos/10_9.txt": "Great, <br />really.", "imdb/train/pos/2_7.txt": "Good \"film\"",
        "imdb/train/neg/0_3.txt": "Bad.", "imdb/test/neg/1_2.txt": "Awful", "imdb/test/pos/0_10.txt": "Wow",
        "imdb/unsup/0_0.txt": "Unlabelled, review\nwith newline",
    })
    root = tmp_path / "data"
    written = D.fetch_dataset("imdb", root)
    assert sorted(p.name for p in written) == ["test.csv.gz", "train.csv.gz", "unsup.csv.gz"]
    assert D.read_imdb_csv(root / "imdb" / "train.csv.gz") == [
        Record("Bad.", 0), Record('Good "film"', 1), Record("Great, <br />really.", 1)]
    assert D.read_imdb_csv(root / "imdb" / "test.csv.gz") == [Record("Awful", 0), Record("Wow", 1)]
    assert D.read_imdb_csv(root / "imdb" / "unsup.csv.gz", unlabelled=True) == [
        Record("Unlabelled, review\nwith newline", -1)]
    with gzip.open(root / "imdb" / "train.csv.gz", "rt") as fh:
        assert fh.read().splitlines()[:2] == ["id,rating,label,text", "0_3,3,neg,Bad."]
    assert (root / "imdb" / "README").read_text() == "Large Movie Review Dataset"
    assert not list((tmp_path / "cache").glob("tmp*"))  # extraction folder cleaned up


def _serve_plain(tmp_path: Path, serve, monkeypatch, key: str, files: dict[str, bytes]) -> None:
    """Serve ``files`` from a local HTTP server as the pinned plain-file sources of ``key``."""
    served = tmp_path / "served"
    served.mkdir(exist_ok=True)
    base = serve(served)
    for name, data in files.items():
        (served / name).write_bytes(data)
    monkeypatch.setitem(download.SOURCES, key, [
        download.Source(base + name, hashlib.sha256(data).hexdigest(), name, False, len(data))
        for name, data in files.items()])
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))


def test_ag_download_places_both_splits_of_the_original_csvs(tmp_path, serve, monkeypatch):
    _serve_plain(tmp_path, serve, monkeypatch, "ag_news", {
        "train.csv": b'"1","big","train"\n', "test.csv": b'"2","Win","Team wins"\n"4","New chip?","Faster"\n'})
    root = tmp_path / "data"
    D.fetch_dataset("ag_news_7k6", root)               # the stand-in is re-split from the same test file
    assert D.read_zhang_csv(root / "ag_news" / "test.csv.gz", n_classes=4) == [
        Record("Win. Team wins", 1), Record("New chip? Faster", 3)]
    assert D.read_zhang_csv(root / "ag_news" / "train.csv.gz", n_classes=4) == [Record("big. train", 0)]
    assert (root / "ag_news" / "classes.txt").read_text().splitlines() == list(D.DATASETS["ag_news_120k"].label_names)
    with pytest.raises(ValueError, match=r"train\.csv\.gz: ag_news_120k/train: expected 120000 records, found 1"):
        D.load_split("ag_news_120k", "train", root)


def test_zhang_archive_download_is_placed_where_the_reader_reads_it(tmp_path, serve, monkeypatch, shared_data):
    fixture = shared_data / "yelp" / "zhang_format_fixture"
    _serve_archive(tmp_path, serve, monkeypatch, "yelp_polarity", "yelp_review_polarity_csv.tgz", {
        "yelp_review_polarity_csv/readme.txt": (fixture / "readme.txt").read_text(),
        "yelp_review_polarity_csv/train.csv": (fixture / "yelp_polarity_train_5rows.csv").read_text(),
        "yelp_review_polarity_csv/test.csv": (fixture / "yelp_polarity_test_9rows.csv").read_text(),
    })
    root = tmp_path / "data"
    written = D.fetch_dataset("yelp_bi_560k", root)
    assert sorted(p.relative_to(root).as_posix() for p in written) == [
        "yelp/review_polarity/readme.txt", "yelp/review_polarity/test.csv.gz", "yelp/review_polarity/train.csv.gz"]
    info = D.DATASETS["yelp_bi_560k"]
    monkeypatch.setitem(D.DATASETS, "yelp_bi_560k", dataclasses.replace(info, split_sizes={"train": 5, "test": 9}))
    assert D.load_split("yelp_bi_560k", "test", root) == D.read_zhang_csv(fixture / "yelp_polarity_test_9rows.csv")
    assert [r.label for r in D.load_split("yelp_bi_560k", "train", root)] == [0, 1, 0, 0, 1]
    assert not list((tmp_path / "cache").glob("tmp*"))


def test_wikitext103_download_places_the_training_text_and_missing_eval_files(tmp_path, serve, monkeypatch):
    buf = io.BytesIO()
    texts = {"wiki.train.raw": " \n = A = \n \n Alpha text . \n", "wiki.valid.raw": " \n = V = \n",
             "wiki.test.raw": " \n = T = \n"}
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in texts.items():
            zf.writestr(f"wikitext-103-raw/{name}", text)
    served = tmp_path / "served"
    served.mkdir()
    (served / "wikitext-103-raw-v1.zip").write_bytes(buf.getvalue())
    monkeypatch.setitem(download.SOURCES, "wikitext103_raw", [download.Source(
        serve(served) + "wikitext-103-raw-v1.zip", hashlib.sha256(buf.getvalue()).hexdigest(),
        "wikitext-103-raw-v1.zip", True)])
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "data"
    (root / "wikitext" / "raw").mkdir(parents=True)
    (root / "wikitext" / "raw" / "wiki.test.raw").write_text("kept")
    written = D.fetch_wikitext103(root)
    assert sorted(p.relative_to(root).as_posix() for p in written) == [
        "wikitext/raw/wiki.valid.raw", C.WIKITEXT103_TRAIN]
    assert (root / "wikitext" / "raw" / "wiki.test.raw").read_text() == "kept"
    monkeypatch.setattr(C, "WIKITEXT103_TRAIN_LINES", 4)
    assert list(C.wikitext103_articles(root)) == [" = A = \n \n Alpha text . "]


def test_surrogate_datasets_cannot_be_downloaded(tmp_path):
    with pytest.raises(ValueError, match="no download reproduces"):
        D.fetch_dataset("yelp_bi", tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        D.load_split("dbpedia_14k", "train", tmp_path)
    assert "download=True" not in str(err.value)
