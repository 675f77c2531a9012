"""The paper's classification datasets (Table 1) and the text for language-model pretraining and evaluation.

Everything is read from the data folder (``settings.data_dir()``, the setting ``ULMFIT_DATA``). Texts
are returned raw — HTML such as ``<br />``, AG's ``#36;`` entities and Zhang et al.'s ``\\n`` escapes
are left for the tokenizer to fix, as fastai does. The registry holds the paper's datasets complete
(``imdb``, ``trec6``, ``ag_news_120k``, ``dbpedia_560k``, ``yelp_bi_560k``, ``yelp_full_650k``; the last
four from Zhang et al.'s CSVs, downloaded with :func:`fetch_dataset`) and the stand-ins a data folder
without them holds (``ag_news_7k6``, ``dbpedia_14k``, ``yelp_bi``, ``yelp_full``); a stand-in's name and
description say how it differs, and its split is rebuilt deterministically (stratified, seed 0). The
pretraining corpora's readers are the library's (:mod:`ulmfit_core.corpus`); this module downloads
WikiText-103 (:func:`fetch_wikitext103`) and reads the LM evaluation texts (:func:`lm_eval_text`).

Every reader checks its input: a malformed row, an unknown label, an empty text, a corrupt gzip file or
a count that differs from the registry raises ``ValueError`` naming the file, the row (CSV rows counted
from 1, header included, as a spreadsheet shows them) or line, and the problem.
"""
from __future__ import annotations

import csv
import gzip
import io
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator, Mapping, Sequence

from ulmfit_core import settings
from ulmfit_core.corpus import WIKITEXT103_TRAIN, csv_rows, data_folder, text_lines
from ulmfit_core.fileio import atomic_path, write_bytes
from ulmfit_core.splits import UNLABELLED, Record, stratified_partition
from ulmfit_core.harness import download

RESPLIT_SEED = 0


@dataclass(frozen=True)
class DatasetInfo:
    """A registry entry: label names (index = label id), expected split sizes, and a one-line
    description that says how the local data differs from the paper's dataset."""

    name: str
    label_names: tuple[str, ...]
    split_sizes: dict[str, int]
    description: str


_DBPEDIA_CLASSES = ("Company", "EducationalInstitution", "Artist", "Athlete", "OfficeHolder",
                    "MeanOfTransportation", "Building", "NaturalPlace", "Village", "Animal", "Plant",
                    "Album", "Film", "WrittenWork")
_AG_CLASSES = ("World", "Sports", "Business", "Sci/Tech")

DATASETS: dict[str, DatasetInfo] = {
    "imdb": DatasetInfo(
        "imdb", ("neg", "pos"), {"train": 25_000, "test": 25_000, "unsup": 50_000},
        "IMDb movie reviews (Maas et al. 2011), complete: the paper's 25k train / 25k test / 50k "
        "unlabelled reviews, repacked from the original files into CSV."),
    "trec6": DatasetInfo(
        "trec6", ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"), {"train": 5_452, "test": 500},
        "TREC-6 questions (Li & Roth 2002), complete original files, coarse labels: the paper's "
        "5.5k train / 500 test."),
    "ag_news_7k6": DatasetInfo(
        "ag_news_7k6", _AG_CLASSES, {"train": 6_600, "test": 1_000},
        "NOT the paper's AG News (120k train / 7.6k test): only the official 7,600-row AG test split, "
        "re-split stratified (seed 0) into 6,600 train / 1,000 test; text = title + '. ' + description."),
    "dbpedia_14k": DatasetInfo(
        "dbpedia_14k", _DBPEDIA_CLASSES, {"train": 12_600, "test": 1_400},
        "NOT the paper's DBpedia (560k train / 70k test): a 14,000-row sample of its train split "
        "(1,000 per class, titles dropped, pre-tokenised), re-split stratified (seed 0) into "
        "12,600 train / 1,400 test."),
    "yelp_bi": DatasetInfo(
        "yelp_bi", ("negative", "positive"), {"train": 4_484, "test": 4_455},
        "Surrogate for Yelp-bi (560k train / 38k test): real Yelp Open Dataset reviews (5k + 5k "
        "sample), 1-2 stars negative, 4-5 positive, 3 stars dropped; not Zhang et al.'s split."),
    "yelp_full": DatasetInfo(
        "yelp_full", ("1", "2", "3", "4", "5"), {"train": 5_000, "test": 5_000},
        "Surrogate for Yelp-full (650k train / 50k test): real Yelp Open Dataset reviews (5k + 5k "
        "sample) labelled by star rating; not Zhang et al.'s split."),
    "ag_news_120k": DatasetInfo(
        "ag_news_120k", _AG_CLASSES, {"train": 120_000, "test": 7_600},
        "AG News (Zhang et al. 2015), complete: the paper's 120k train / 7.6k test, the original CSVs; "
        "text = title + '. ' + description."),
    "dbpedia_560k": DatasetInfo(
        "dbpedia_560k", _DBPEDIA_CLASSES, {"train": 560_000, "test": 70_000},
        "DBpedia ontology (Zhang et al. 2015), complete: the paper's 560k train / 70k test, the original "
        "CSVs; text = title + '. ' + abstract."),
    "yelp_bi_560k": DatasetInfo(
        "yelp_bi_560k", ("negative", "positive"), {"train": 560_000, "test": 38_000},
        "Yelp review polarity (Zhang et al. 2015), complete: the paper's Yelp-bi, 560k train / 38k test, "
        "the original CSVs (class 1 negative, 2 positive)."),
    "yelp_full_650k": DatasetInfo(
        "yelp_full_650k", ("1", "2", "3", "4", "5"), {"train": 650_000, "test": 50_000},
        "Yelp review full (Zhang et al. 2015), complete: the paper's Yelp-full, 650k train / 50k test, "
        "the original CSVs (class = stars)."),
}


def dataset_info(name: str) -> DatasetInfo:
    """Return the registry entry for ``name``; an unknown name raises ``KeyError`` listing known names."""
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    return DATASETS[name]


# --------------------------------------------------------------------------- reading files


def _expect_columns(path: Path, where: str, row: Sequence[str], n: int) -> None:
    if len(row) != n:
        raise ValueError(f"{path}: {where}: expected {n} columns, found {len(row)}")


def _expect_header(path: Path, first: tuple[int, list[str]] | None, header: tuple[str, ...]) -> None:
    if first is None:
        raise ValueError(f"{path}: empty file, expected header {','.join(header)}")
    if tuple(first[1]) != header:
        raise ValueError(f"{path}: row 1: expected header {','.join(header)}, found {first[1]!r}")


def _label_index(path: Path, where: str, value: str, names: Sequence[str]) -> int:
    try:
        return names.index(value)
    except ValueError:
        raise ValueError(f"{path}: {where}: label {value!r} not in {tuple(names)}") from None


def _class_number(path: Path, where: str, value: str, lo: int, hi: int | None) -> int:
    """Parse an integer class column and check ``lo <= value <= hi`` (``hi=None``: no upper bound)."""
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{path}: {where}: label {value!r} is not a class number") from None
    if number < lo or (hi is not None and number > hi):
        bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{path}: {where}: label {number} outside {bound}")
    return number


def _checked_text(path: Path, where: str, text: str) -> str:
    if not text.strip():
        raise ValueError(f"{path}: {where}: empty text")
    return text


def _join_fields(fields: Sequence[str]) -> str:
    """Join title-like fields into one text: ``"Title. Body"`` (no extra full stop after ``.!?``).

    A single field is returned unchanged. fastai joins such columns with field markers instead; a
    sentence break keeps the text free of special tokens before tokenisation.
    """
    if len(fields) == 1:
        return fields[0]
    parts = [f.strip() for f in fields if f.strip()]
    joined = ""
    for part in parts[:-1]:
        joined += part + (" " if part.endswith((".", "!", "?")) else ". ")
    return joined + (parts[-1] if parts else "")


def read_imdb_csv(path: Path, *, unlabelled: bool = False) -> list[Record]:
    """Read an IMDb CSV (header ``id,rating,label,text``) and return its records.

    Labels ``neg``/``pos`` map to 0/1; with ``unlabelled=True`` every label must be ``unsup`` and
    the records get label -1 (the 50k reviews the paper uses for LM fine-tuning, Section 5).
    """
    path = Path(path)
    rows = csv_rows(path)
    _expect_header(path, next(rows, None), ("id", "rating", "label", "text"))
    names = DATASETS["imdb"].label_names
    records = []
    for row_no, row in rows:
        where = f"row {row_no}"
        _expect_columns(path, where, row, 4)
        if unlabelled:
            if row[2] != "unsup":
                raise ValueError(f"{path}: {where}: label {row[2]!r} not 'unsup'")
            label = UNLABELLED
        else:
            label = _label_index(path, where, row[2], names)
        records.append(Record(_checked_text(path, where, row[3]), label))
    return records


def read_trec(path: Path) -> list[Record]:
    """Read a TREC question file (ISO-8859-1, lines ``COARSE:fine question ...``); return records
    labelled with the six coarse classes used by the paper (Table 1)."""
    path = Path(path)
    names = DATASETS["trec6"].label_names
    records = []
    for line_no, line in text_lines(path, encoding="iso-8859-1"):
        where = f"line {line_no}"
        head, _, text = line.partition(" ")
        coarse, colon, fine = head.partition(":")
        if not colon or not fine:
            raise ValueError(f"{path}: {where}: expected 'COARSE:fine question', found {line[:60]!r}")
        label = _label_index(path, where, coarse, names)
        records.append(Record(_checked_text(path, where, text), label))
    return records


def read_zhang_csv(path: Path, n_classes: int | None = None) -> list[Record]:
    """Read a CSV in Zhang et al.'s (2015) format — the canonical AG News, DBpedia and Yelp files.

    No header; column 1 is the class number (1-based, checked against ``n_classes`` when given), the
    other columns are text (title, body), joined by :func:`_join_fields`. Every row must have as many
    columns as the first. Returns records with 0-based labels; the ``\\n`` and ``\\"`` escapes of
    that format are kept for the tokenizer.
    """
    path = Path(path)
    records, width = [], None
    for row_no, row in csv_rows(path):
        where = f"row {row_no}"
        if width is None:
            width = len(row)
            if width < 2:
                raise ValueError(f"{path}: {where}: expected a class column and text columns, "
                                 f"found {width} column(s)")
        _expect_columns(path, where, row, width)
        number = _class_number(path, where, row[0], 1, n_classes)
        records.append(Record(_checked_text(path, where, _join_fields(row[1:])), number - 1))
    return records


def _read_dbpedia_subset(path: Path) -> list[Record]:
    """Read the DBpedia sample: no header, columns ``label`` (0-13) and ``content``."""
    n_classes = len(_DBPEDIA_CLASSES)
    records = []
    for row_no, row in csv_rows(path):
        where = f"row {row_no}"
        _expect_columns(path, where, row, 2)
        label = _class_number(path, where, row[0], 0, n_classes - 1)
        records.append(Record(_checked_text(path, where, row[1]), label))
    return records


_STARS = re.compile(r"Review Stars: ([1-5])\.0")


def _read_yelp_stars(path: Path) -> list[tuple[str, int]]:
    """Read the Yelp sample (header ``text,label1,label2``); return ``(text, stars)`` pairs."""
    rows = csv_rows(path)
    _expect_header(path, next(rows, None), ("text", "label1", "label2"))
    pairs = []
    for row_no, row in rows:
        where = f"row {row_no}"
        _expect_columns(path, where, row, 3)
        match = _STARS.fullmatch(row[2])
        if match is None:
            raise ValueError(f"{path}: {where}: label {row[2]!r} not 'Review Stars: 1.0'..'5.0'")
        pairs.append((_checked_text(path, where, row[0]), int(match.group(1))))
    return pairs


def _check_class_names(path: Path, expected: Sequence[str]) -> None:
    found = tuple(line.strip() for _, line in text_lines(path) if line.strip())
    if found != tuple(expected):
        raise ValueError(f"{path}: class names {found} differ from the registry's {tuple(expected)}")


def _expect_count(path: Path, what: str, expected: int, found: int) -> None:
    if found != expected:
        raise ValueError(f"{path}: {what}: expected {expected} records, found {found}")


# --------------------------------------------------------------------------- the registry's readers


@dataclass(frozen=True)
class _Layout:
    """Where a dataset's splits live under the data root and how to read one split."""

    files: dict[str, str]
    read: Callable[[Path, str], list[Record]]
    classes: str | None = None         # the dataset's classes.txt, checked against the registry


def _read_imdb_split(root: Path, split: str) -> list[Record]:
    return read_imdb_csv(root / _LAYOUTS["imdb"].files[split], unlabelled=split == "unsup")


def _read_trec_split(root: Path, split: str) -> list[Record]:
    return read_trec(root / _LAYOUTS["trec6"].files[split])


def _resplit(path: Path, records: list[Record], source_size: int, name: str,
             split: str) -> list[Record]:
    """Check the source size, then split it stratified (seed 0) into the registry's train/test."""
    _expect_count(path, f"{name} source file", source_size, len(records))
    train, test = stratified_partition(records, DATASETS[name].split_sizes["test"], RESPLIT_SEED)
    return train if split == "train" else test


def _read_ag_split(root: Path, split: str) -> list[Record]:
    names = DATASETS["ag_news_7k6"].label_names
    _check_class_names(root / _AG_CLASSES_FILE, names)
    path = root / _LAYOUTS["ag_news_7k6"].files[split]
    return _resplit(path, read_zhang_csv(path, n_classes=len(names)), 7_600, "ag_news_7k6", split)


def _read_dbpedia_split(root: Path, split: str) -> list[Record]:
    _check_class_names(root / _DBPEDIA_CLASSES_FILE, _DBPEDIA_CLASSES)
    path = root / _LAYOUTS["dbpedia_14k"].files[split]
    return _resplit(path, _read_dbpedia_subset(path), 14_000, "dbpedia_14k", split)


def _read_yelp_full(root: Path, split: str) -> list[Record]:
    path = root / _LAYOUTS["yelp_full"].files[split]
    return [Record(text, stars - 1) for text, stars in _read_yelp_stars(path)]


def _read_yelp_bi(root: Path, split: str) -> list[Record]:
    """Polarity by stars: 1-2 negative, 4-5 positive, 3 (neutral) dropped.

    Zhang et al.'s Yelp-polarity readme says "stars 1 and 2 negative, and 3 and 4 positive"; on a
    5-star scale that wording is ambiguous, so this rule keeps only clearly polar reviews.
    """
    path = root / _LAYOUTS["yelp_bi"].files[split]
    return [Record(text, int(stars >= 4)) for text, stars in _read_yelp_stars(path) if stars != 3]


def _zhang_reader(name: str) -> Callable[[Path, str], list[Record]]:
    """The reader of a complete Zhang et al. dataset: its ``classes.txt`` (where it has one) must name
    the registry's classes, then one split is read by :func:`read_zhang_csv`."""
    def read(root: Path, split: str) -> list[Record]:
        layout, names = _LAYOUTS[name], DATASETS[name].label_names
        if layout.classes is not None:
            _check_class_names(root / layout.classes, names)
        return read_zhang_csv(root / layout.files[split], n_classes=len(names))
    return read


def _zhang_files(folder: str) -> dict[str, str]:
    return {s: f"{folder}/{s}.csv.gz" for s in ("train", "test")}


_AG_CLASSES_FILE, _DBPEDIA_CLASSES_FILE = "ag_news/classes.txt", "dbpedia/classes.txt"
_YELP_FILES = {"train": "yelp/open_dataset_sample/dev.csv.gz",
               "test": "yelp/open_dataset_sample/test.csv.gz"}

_LAYOUTS: dict[str, _Layout] = {
    "imdb": _Layout({s: f"imdb/{s}.csv.gz" for s in ("train", "test", "unsup")}, _read_imdb_split),
    "trec6": _Layout({"train": "trec6/train_5500.label", "test": "trec6/TREC_10.label"},
                     _read_trec_split),
    "ag_news_7k6": _Layout({s: "ag_news/test.csv.gz" for s in ("train", "test")}, _read_ag_split,
                           _AG_CLASSES_FILE),
    "dbpedia_14k": _Layout({s: "dbpedia/subset14k_train.csv.gz" for s in ("train", "test")},
                           _read_dbpedia_split, _DBPEDIA_CLASSES_FILE),
    "yelp_bi": _Layout(_YELP_FILES, _read_yelp_bi),
    "yelp_full": _Layout(_YELP_FILES, _read_yelp_full),
    "ag_news_120k": _Layout(_zhang_files("ag_news"), _zhang_reader("ag_news_120k"), _AG_CLASSES_FILE),
    "dbpedia_560k": _Layout(_zhang_files("dbpedia"), _zhang_reader("dbpedia_560k"), _DBPEDIA_CLASSES_FILE),
    "yelp_bi_560k": _Layout(_zhang_files("yelp/review_polarity"), _zhang_reader("yelp_bi_560k")),
    "yelp_full_650k": _Layout(_zhang_files("yelp/review_full"), _zhang_reader("yelp_full_650k")),
}


def split_files(name: str, split: str) -> tuple[str, ...]:
    """The files (relative to the data folder) that :func:`load_split` reads for one split of ``name``."""
    info, layout = dataset_info(name), _LAYOUTS[name]
    if split not in info.split_sizes:
        raise ValueError(f"dataset {name!r} has no split {split!r}; splits: {list(info.split_sizes)}")
    return (layout.files[split],) + ((layout.classes,) if layout.classes else ())


def fetchable(name: str) -> bool:
    """Whether :func:`fetch_dataset` can download dataset ``name`` from a source with a pinned SHA-256."""
    return name in _FETCHERS


def download_sources(name: str) -> list[download.Source]:
    """The sources :func:`fetch_dataset` downloads for ``name`` (empty where no download reproduces it)."""
    return list(download.SOURCES[_SOURCE_OF[name]]) if name in _SOURCE_OF else []


def load_split(name: str, split: str, data_root: Path | None = None, *,
               download: bool = False) -> list[Record]:
    """Return the records of one split of dataset ``name`` (see :data:`DATASETS`).

    The number of records is checked against the registry. With ``download=True`` a dataset whose
    files are missing is first fetched from its canonical source (:func:`fetch_dataset`); otherwise
    a missing file raises ``FileNotFoundError`` naming it.
    """
    info = dataset_info(name)
    if split not in info.split_sizes:
        raise ValueError(f"dataset {name!r} has no split {split!r}; splits: {list(info.split_sizes)}")
    layout = _LAYOUTS[name]
    root = data_folder(data_root, create=download)
    path = root / layout.files[split]
    if not path.is_file():
        if not download:
            hint = " (pass download=True to fetch it)" if name in _FETCHERS else ""
            raise FileNotFoundError(f"{path}: data file of dataset {name!r} not found{hint}")
        fetch_dataset(name, root)
    records = layout.read(root, split)
    _expect_count(path, f"{name}/{split}", info.split_sizes[split], len(records))
    return records


# --------------------------------------------------------------------------- downloads


def _write_gzip_csv(path: Path, header: Sequence[str] | None, rows: Iterator[Sequence[str]]) -> None:
    """Write ``rows`` as a gzip-compressed CSV, atomically, with reproducible bytes (mtime 0)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
            with io.TextIOWrapper(gz, encoding="utf-8", newline="") as text:
                writer = csv.writer(text)
                if header is not None:
                    writer.writerow(header)
                writer.writerows(rows)


def _find_dir(root: Path, contains: Sequence[str]) -> Path:
    """Return the shallowest folder under ``root`` that holds every name in ``contains``."""
    for folder in sorted((p for p in [root, *root.rglob("*")] if p.is_dir()),
                         key=lambda p: len(p.parts)):
        if all((folder / c).exists() for c in contains):
            return folder
    raise ValueError(f"{root}: downloaded archive has no folder holding {list(contains)}")


def _imdb_rows(top: Path, split: str) -> Iterator[tuple[str, str, str, str]]:
    """Yield ``(id, rating, label, text)`` from the review files ``<n>_<rating>.txt`` of a split."""
    if split == "unsup":
        folder = top / "unsup" if (top / "unsup").is_dir() else top / "train" / "unsup"
        groups = [(folder, "unsup")]
    else:
        groups = [(top / split / label, label) for label in ("neg", "pos")]
    for folder, label in groups:
        if not folder.is_dir():
            raise ValueError(f"{folder}: expected a folder of IMDb reviews in the download")
        files = sorted(folder.glob("*.txt"), key=lambda p: int(p.stem.split("_")[0]))
        for file in files:
            try:
                text = file.read_text(encoding="utf-8")
            except UnicodeDecodeError as err:
                raise ValueError(f"{file}: not valid UTF-8 text ({err})") from err
            yield file.stem, file.stem.split("_")[1], label, text


def _fetch_imdb(root: Path, sha256: Mapping[str, str] | None) -> list[Path]:
    """Fetch the IMDb archive and repack it as ``imdb/{train,test,unsup}.csv.gz``."""
    written = []
    with tempfile.TemporaryDirectory(dir=settings.cache_dir()) as tmp:
        download.fetch_sources("imdb", Path(tmp) / "x", sha256=sha256)
        top = _find_dir(Path(tmp) / "x", ("train", "test"))
        for split, rel in _LAYOUTS["imdb"].files.items():
            if not (root / rel).is_file():
                _write_gzip_csv(root / rel, ("id", "rating", "label", "text"), _imdb_rows(top, split))
                written.append(root / rel)
        if (top / "README").is_file() and not (root / "imdb" / "README").exists():
            write_bytes(root / "imdb" / "README", (top / "README").read_bytes())
    return written


def _fetch_trec(root: Path, sha256: Mapping[str, str] | None) -> list[Path]:
    """Fetch the two original TREC files into ``trec6/``."""
    return download.fetch_sources("trec6", root / "trec6", sha256=sha256)


def _gzip_copy(src: Path, dest: Path) -> Path:
    """Write ``src`` gzip-compressed to ``dest``, atomically, with reproducible bytes (mtime 0)."""
    with atomic_path(dest) as out:
        with open(src, "rb") as fh, open(out, "wb") as raw:
            with gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
                shutil.copyfileobj(fh, gz)
    return dest


def _place_zhang(top: Path, folder: Path, class_names: Sequence[str] | None) -> list[Path]:
    """Gzip ``top``'s ``train.csv`` and ``test.csv`` into ``folder`` and copy its readme; write
    ``classes.txt`` (the archive's, else the registry's ``class_names``) where the dataset has one.
    Files already in ``folder`` are kept; returns the files written."""
    written = []
    for split in ("train", "test"):
        if not (folder / f"{split}.csv.gz").is_file():
            written.append(_gzip_copy(top / f"{split}.csv", folder / f"{split}.csv.gz"))
    if (top / "readme.txt").is_file() and not (folder / "readme.txt").exists():
        write_bytes(folder / "readme.txt", (top / "readme.txt").read_bytes())
        written.append(folder / "readme.txt")
    if class_names is not None and not (folder / "classes.txt").exists():
        text = (top / "classes.txt").read_bytes() if (top / "classes.txt").is_file() \
            else "".join(f"{c}\n" for c in class_names).encode()
        write_bytes(folder / "classes.txt", text)
        written.append(folder / "classes.txt")
    return written


def _zhang_fetcher(key: str, name: str) -> Callable[[Path, Mapping[str, str] | None], list[Path]]:
    """The fetcher of a Zhang et al. dataset: download source ``key``, then place its two splits
    where the registry's ``name`` reads them (the row counts are checked when they are loaded)."""
    def fetch(root: Path, sha256: Mapping[str, str] | None) -> list[Path]:
        layout = _LAYOUTS[name]
        folder = root / PurePosixPath(layout.files["train"]).parent
        with tempfile.TemporaryDirectory(dir=settings.cache_dir()) as tmp:
            download.fetch_sources(key, Path(tmp) / "x", sha256=sha256)
            top = _find_dir(Path(tmp) / "x", ("train.csv", "test.csv"))
            classes = DATASETS[name].label_names if layout.classes else None
            return _place_zhang(top, folder, classes)
    return fetch


_SOURCE_OF = {"imdb": "imdb", "trec6": "trec6", "ag_news_7k6": "ag_news", "ag_news_120k": "ag_news",
              "dbpedia_560k": "dbpedia", "yelp_bi_560k": "yelp_polarity", "yelp_full_650k": "yelp_full"}
_FETCHERS: dict[str, Callable[[Path, Mapping[str, str] | None], list[Path]]] = {
    "imdb": _fetch_imdb, "trec6": _fetch_trec,
    **{name: _zhang_fetcher(_SOURCE_OF[name], "ag_news_120k" if name == "ag_news_7k6" else name)
       for name in ("ag_news_7k6", "ag_news_120k", "dbpedia_560k", "yelp_bi_560k", "yelp_full_650k")},
}


def fetch_dataset(name: str, data_root: Path | None = None, *,
                  sha256: Mapping[str, str] | None = None) -> list[Path]:
    """Download dataset ``name`` from its canonical source into the local layout; return files written.

    Supported where the canonical download reproduces the local files: ``trec6`` (original bytes),
    ``imdb`` (archive repacked into CSV), Zhang et al.'s ``ag_news_120k``, ``dbpedia_560k``,
    ``yelp_bi_560k`` and ``yelp_full_650k`` (their ``train.csv``/``test.csv`` gzipped; ``ag_news_7k6``
    is re-split from AG's official test split, so it fetches the same files). Every source has a pinned
    SHA-256 (:data:`ulmfit_core.harness.download.SOURCES`); ``sha256={filename: hash}`` supplies one for a
    source without. Other datasets are local subsets or surrogates that no download reproduces, and
    raise ``ValueError``.
    """
    dataset_info(name)
    if name not in _FETCHERS:
        raise ValueError(f"dataset {name!r} is a local subset or surrogate that no download "
                         f"reproduces; downloadable: {sorted(_FETCHERS)}")
    return _FETCHERS[name](data_folder(data_root, create=True), sha256)


# --------------------------------------------------------------------------- language-model text


def fetch_wikitext103(data_root: Path | None = None) -> list[Path]:
    """Download WikiText-103 (raw, pinned SHA-256) and place ``wiki.train.raw`` at
    :data:`WIKITEXT103_TRAIN`, and its valid/test files where :func:`lm_eval_text` reads them if they
    are absent; return the files written."""
    root = data_folder(data_root, create=True)
    targets = {"wiki.train.raw": WIKITEXT103_TRAIN, "wiki.valid.raw": _LM_EVAL_FILES["wikitext103_valid_raw"],
               "wiki.test.raw": _LM_EVAL_FILES["wikitext103_test_raw"]}
    written = []
    with tempfile.TemporaryDirectory(dir=settings.cache_dir()) as tmp:
        download.fetch_sources("wikitext103_raw", Path(tmp) / "x")
        top = _find_dir(Path(tmp) / "x", tuple(targets))
        for name, rel in targets.items():
            if not (root / rel).is_file():
                with atomic_path(root / rel) as out:
                    shutil.copyfile(top / name, out)
                written.append(root / rel)
    return written


_LM_EVAL_FILES = {
    "wikitext103_valid_raw": "wikitext/raw/wiki.valid.raw",
    "wikitext103_test_raw": "wikitext/raw/wiki.test.raw",
    "wikitext2_valid_tokens": "wikitext/wikitext-2/wiki.valid.tokens",
    "wikitext2_test_tokens": "wikitext/wikitext-2/wiki.test.tokens",
    "ptb_valid": "ptb/ptb.valid.txt",
    "ptb_test": "ptb/ptb.test.txt",
}


def lm_eval_text(name: str, data_root: Path | None = None) -> str:
    """Return the whole text of a language-model evaluation set (WikiText-103 raw valid/test,
    WikiText-2 tokenised valid/test, PTB valid/test); unknown ``name`` raises ``KeyError``."""
    if name not in _LM_EVAL_FILES:
        raise KeyError(f"unknown LM evaluation text {name!r}; known: {sorted(_LM_EVAL_FILES)}")
    path = data_folder(data_root) / _LM_EVAL_FILES[name]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: LM evaluation text {name!r} not found")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not valid UTF-8 text ({err})") from err


# --------------------------------------------------------------------------- integrity

_SUM_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")


def verify_checksums(data_root: Path | None = None) -> list[str]:
    """Check every file listed in the data folder's ``SHA256SUMS``; return the paths checked.

    Any missing file or SHA-256 mismatch raises one ``ValueError`` naming every failing file with its
    expected and actual hash; a malformed line raises ``ValueError`` naming the line.
    """
    root = data_folder(data_root)
    sums = root / "SHA256SUMS"
    if not sums.is_file():
        raise FileNotFoundError(f"{sums}: checksum list not found")
    checked, problems = [], []
    for line_no, line in text_lines(sums):
        if not line.strip():
            continue
        match = _SUM_LINE.fullmatch(line)
        rel = PurePosixPath(match.group(2)) if match else None
        if rel is None or rel.is_absolute() or ".." in rel.parts:
            raise ValueError(f"{sums}: line {line_no}: expected '<sha256>  <relative path>', "
                             f"found {line[:80]!r}")
        path, expected = root / rel, match.group(1).lower()
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif (actual := download.file_sha256(path)) != expected:
            problems.append(f"{rel}: expected {expected}, got {actual}")
        checked.append(rel.as_posix())
    if problems:
        raise ValueError(f"{sums}: {len(problems)} file(s) failed: " + "; ".join(problems))
    return checked
