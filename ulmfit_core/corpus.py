"""Reading text files: CSV rows and lines with clear errors, and the articles of a pretraining corpus.

General-domain LM pretraining (§3.1) reads articles: files in WikiText's layout, one `` = Title = ``
line per article followed by its paragraphs (:func:`articles`) — the Wikipedia shards of the data folder
(:func:`wikipedia_articles`) or WikiText-103's training text, the paper's corpus
(:func:`wikitext103_articles`). A user's own corpus is a UTF-8 text file with one document per line
(:func:`text_documents`). Files may be gzip-compressed (``.gz``).

Every reader checks its input: a malformed CSV row, a corrupt gzip file or text that is not valid in its
encoding raises ``ValueError`` naming the file and the row or line.
"""
from __future__ import annotations

import csv
import gzip
import io
import zlib
from pathlib import Path
from typing import Iterator, Sequence

from ulmfit_core import settings


def open_text(path: Path, encoding: str) -> io.TextIOBase:
    """Open ``path`` for reading text, through gzip where it ends in ``.gz``."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding=encoding, newline="")
    return open(path, encoding=encoding, newline="")


def _read_errors(path: Path, err: Exception) -> ValueError:
    """Translate a low-level read error on ``path`` into a ``ValueError`` that names the file."""
    if isinstance(err, UnicodeDecodeError):
        return ValueError(f"{path}: not valid {err.encoding} text ({err})")
    return ValueError(f"{path}: corrupt or truncated gzip file ({err})")


_READ_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error, UnicodeDecodeError)


def csv_rows(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, list[str]]]:
    """Yield ``(row number, fields)`` for each CSV row of ``path`` (plain or ``.gz``)."""
    row_no = 0
    try:
        with open_text(path, encoding) as fh:
            for row_no, row in enumerate(csv.reader(fh, strict=True), start=1):
                yield row_no, row
    except csv.Error as err:
        raise ValueError(f"{path}: row {row_no + 1}: malformed CSV ({err})") from err
    except _READ_ERRORS as err:
        raise _read_errors(path, err) from err


def text_lines(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Yield ``(line number, line without its line break)`` for each line of ``path``."""
    try:
        with open_text(path, encoding) as fh:
            for line_no, line in enumerate(fh, start=1):
                yield line_no, line.rstrip("\r\n")
    except _READ_ERRORS as err:
        raise _read_errors(path, err) from err


def data_folder(data_root: Path | None, *, create: bool = False) -> Path:
    """Return the data folder; a missing one raises ``FileNotFoundError`` naming ``ULMFIT_DATA``."""
    root = Path(data_root) if data_root is not None else settings.data_dir()
    if not root.is_dir():
        if not create:
            raise FileNotFoundError(f"data folder {root} not found; set {settings.DATA_ENV} to the "
                                    f"folder that holds the datasets")
        root.mkdir(parents=True)
    return root


def _is_title(line: str) -> bool:
    return line.startswith(" = ") and line.endswith(" = ") and not line.startswith(" = = ")


def articles(paths: Sequence[Path], expect_lines: int | None = None) -> Iterator[str]:
    """Yield the `` = Title = `` articles of ``paths``; with ``expect_lines``, each file must have that
    many lines (checked when it has been read to its end)."""
    for path in paths:
        lines: list[str] = []
        line_no = 0
        for line_no, line in text_lines(path):
            if _is_title(line):
                if lines:
                    yield "\n".join(lines).rstrip("\n")
                lines = [line]
            elif lines:
                lines.append(line)
            elif line.strip():
                raise ValueError(f"{path}: line {line_no}: expected an article title ' = Title = ', "
                                 f"found {line[:60]!r}")
        if expect_lines is not None and line_no != expect_lines:
            raise ValueError(f"{path}: expected {expect_lines:,} lines, found {line_no:,} "
                             f"(a truncated or different file)")
        if lines:
            yield "\n".join(lines).rstrip("\n")


def wikipedia_articles(shards: Sequence[int] = range(8), data_root: Path | None = None) -> Iterator[str]:
    """Iterate over the Wikipedia articles of the given shards (``wikipedia/wiki_0{k}.txt.gz``).

    The general-domain pretraining corpus (Section 3.1; a stand-in for WikiText-103). Yields one
    string per article: its title line ``' = Title = '``, a blank line, then one paragraph per line.
    Missing shards raise ``FileNotFoundError`` at the call, before iteration starts.
    """
    root = data_folder(data_root)
    paths = [root / "wikipedia" / f"wiki_{k:02d}.txt.gz" for k in shards]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: Wikipedia shard not found")
    return articles(paths)


WIKITEXT103_TRAIN = "wikitext/wikitext-103-raw/wiki.train.raw"
WIKITEXT103_TRAIN_LINES = 1_801_350
"""Lines of WikiText-103's training text as published (the valid and test files here have the published
3,760 and 4,358); 28,475 articles, 103M words (Merity et al. 2017)."""


def wikitext103_articles(data_root: Path | None = None) -> Iterator[str]:
    """Iterate over the articles of WikiText-103's training text (raw variant, ``wiki.train.raw``).

    The paper's general-domain pretraining corpus (Section 3.1). Yields one string per article, as
    :func:`wikipedia_articles` does; a missing file raises ``FileNotFoundError`` at the call (it can be
    fetched with ``make preflight SCALE=paper FETCH=1``), a line count other than the published one ``ValueError``
    naming the file once it has been read.
    """
    path = data_folder(data_root) / WIKITEXT103_TRAIN
    if not path.is_file():
        raise FileNotFoundError(f"{path}: WikiText-103 training text not found "
                                f"(make preflight SCALE=paper FETCH=1 downloads it)")
    return articles([path], expect_lines=WIKITEXT103_TRAIN_LINES)


def text_documents(path: Path) -> list[str]:
    """The documents of a user's corpus file: one per non-blank line of UTF-8 text (plain or ``.gz``).

    A missing file raises ``FileNotFoundError``, invalid text or a file without any document
    ``ValueError``, each naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: corpus file not found")
    docs = [line for _, line in text_lines(path) if line.strip()]
    if not docs:
        raise ValueError(f"{path}: no text (the corpus needs one document per line)")
    return docs
