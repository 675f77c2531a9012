"""Fetching the paper's datasets from their canonical public sources, safely.

For users without a local copy of the data folder. Every download is streamed to a temporary file,
checked against a SHA-256 before it is renamed into place, and archives are unpacked only after every
member has been checked to stay inside the destination folder. Nothing half-written or half-extracted
is ever left behind.

Every source has a pinned SHA-256 and size. The TREC files' hashes were computed from the original bytes
in the shared data folder; the others are the checksums that public dataset registries publish for the
same URLs (Hugging Face's ``datasets`` for IMDb, AG News and WikiText, the fastai dataset list for
fastai's archives), one of which — AG News' ``test.csv`` — was checked here against the byte-identical
copy in the data folder. The datasets' readers check the
published row counts on top. :func:`fetch` refuses to keep a download whose hash it cannot check.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Mapping

from tqdm import tqdm

from ulmfit_core import settings
from ulmfit_core.fileio import atomic_path, file_sha256

_CHUNK = 1 << 20
_FASTAI_NLP = "https://s3.amazonaws.com/fast-ai-nlp/"
_COGCOMP_QC = "https://cogcomp.seas.upenn.edu/Data/QA/QC/"
_WIKITEXT = "https://s3.amazonaws.com/research.metamind.io/wikitext/"
_STANFORD_IMDB = "https://ai.stanford.edu/~amaas/data/sentiment/"
_AG_CSV = "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/"


@dataclass(frozen=True)
class Source:
    """One downloadable file: where it lives, its SHA-256 (``None`` = not verified), its local name,
    whether it is an archive to unpack, and its size in bytes (``None`` = unknown)."""

    url: str
    sha256: str | None
    filename: str
    extract: bool
    size: int | None = None


def _fastai(name: str, sha256: str, size: int) -> Source:
    return Source(_FASTAI_NLP + name, sha256, name, True, size)


SOURCES: dict[str, list[Source]] = {
    # Maas et al. (2011) reviews, the original archive: aclImdb/{train,test}/{pos,neg}/<n>_<rating>.txt,
    # aclImdb/train/unsup/.
    "imdb": [Source(_STANFORD_IMDB + "aclImdb_v1.tar.gz",
                    "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
                    "aclImdb_v1.tar.gz", True, 84_125_825)],
    # Li & Roth (2002) question classification, original bytes (SHA-256 computed from those bytes).
    "trec6": [
        Source(_COGCOMP_QC + "train_5500.label",
               "9e4c8bdcaffb96ed61041bd64b564183d52793a8e91d84fc3a8646885f466ec3",
               "train_5500.label", False, 335_858),
        Source(_COGCOMP_QC + "TREC_10.label",
               "033f22c028c2bbba9ca682f68ffe204dc1aa6e1cf35dd6207f2d4ca67f0d0e8e",
               "TREC_10.label", False, 23_354),
    ],
    # Zhang et al. (2015) CSVs. AG News: the two plain CSV files (the copy the data folder's test split
    # comes from); the others: fastai's archives <name>_csv/{train,test}.csv, readme.txt (classes.txt).
    "ag_news": [
        Source(_AG_CSV + "train.csv", "76a0a2d2f92b286371fe4d4044640910a04a803fdd2538e0f3f29a5c6f6b672e",
               "train.csv", False, 29_470_338),
        Source(_AG_CSV + "test.csv", "521465c2428ed7f02f8d6db6ffdd4b5447c1c701962353eb2c40d548c3c85699",
               "test.csv", False, 1_857_427),
    ],
    "dbpedia": [_fastai("dbpedia_csv.tgz",
                        "42db5221ddedddb673a4cabcc5f3a7d869714c878bcfe4ba94b29d14aa38e417", 68_341_743)],
    "yelp_polarity": [_fastai("yelp_review_polarity_csv.tgz",
                              "528f22e286cad085948acbc3bea7e58188416546b0e364d0ae4ca0ce666abe35", 166_373_201)],
    "yelp_full": [_fastai("yelp_review_full_csv.tgz",
                          "56006b0a17a370f1e366504b1f2c3e3754e4a3dda17d3e718a885c552869a559", 196_146_755)],
    # Merity et al. (2017): WikiText-103, tokenised and raw (original host).
    "wikitext103": [Source(_WIKITEXT + "wikitext-103-v1.zip",
                           "242ba0f20b329cfdf1ccc61e9e9e5b59becf189db7f7a81cd2a0e2fc31539590",
                           "wikitext-103-v1.zip", True, 190_229_076)],
    "wikitext103_raw": [Source(_WIKITEXT + "wikitext-103-raw-v1.zip",
                               "91c00ae287f0d699e18605c84afc9e45c192bc6b7797ff8837e5474655a33794",
                               "wikitext-103-raw-v1.zip", True, 191_984_949)],
}


def fetch(url: str, dest: Path, sha256: str | None, *, timeout: float = 60) -> Path:
    """Download ``url`` to ``dest`` and return ``dest``.

    The body is streamed into a temporary file beside ``dest`` (with a progress bar on a terminal);
    its SHA-256 is compared with ``sha256`` before the rename, so ``dest`` only ever holds verified
    bytes. A ``dest`` that already holds the expected bytes is returned without downloading.

    An unverified download is never trusted: with ``sha256=None`` the file is downloaded, hashed and
    discarded, and the ``ValueError`` reports its SHA-256 so that the caller can check that value
    against an independent source and pass it in. A checksum mismatch or a short read (fewer bytes
    than the server announced) raises ``ValueError`` naming the URL and the expected and actual
    values; a network failure raises ``ConnectionError`` naming the URL. Nothing is left at ``dest``.
    """
    dest = Path(dest)
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"{url}: only http(s) URLs can be fetched")
    if sha256 is not None and dest.is_file() and file_sha256(dest) == sha256.lower():
        return dest
    with atomic_path(dest) as tmp:
        actual = _stream(url, tmp, timeout, desc=dest.name)
        if sha256 is None:
            raise ValueError(f"{url}: no expected SHA-256 given, refusing to trust the download "
                             f"(its SHA-256 is {actual}); verify that value and pass it as sha256")
        if actual != sha256.lower():
            raise ValueError(f"{url}: SHA-256 mismatch, expected {sha256.lower()}, got {actual}")
    return dest


def _stream(url: str, tmp: Path, timeout: float, desc: str) -> str:
    """Copy the body of ``url`` into ``tmp``; return its SHA-256 hex digest."""
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
            length = resp.headers.get("Content-Length")
            expected = int(length) if length is not None else None
            bar = tqdm(total=expected, unit="B", unit_scale=True, desc=desc,
                       disable=None, leave=False)
            with bar:
                while chunk := resp.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except http.client.IncompleteRead as err:
        raise ValueError(f"{url}: short read, expected {received + (err.expected or 0)} bytes, "
                         f"got {received + len(err.partial)}") from err
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        raise ConnectionError(f"{url}: download failed ({err})") from err
    if expected is not None and received != expected:
        raise ValueError(f"{url}: short read, expected {expected} bytes, got {received}")
    return digest.hexdigest()


def safe_extract(archive: Path, dest: Path) -> list[Path]:
    """Unpack a ``.tar``/``.tar.gz``/``.tgz`` or ``.zip`` ``archive`` into folder ``dest``.

    Returns the extracted files (final paths, sorted). Every member is checked first: absolute names,
    ``..`` components, links pointing outside ``dest`` and special files (devices, FIFOs) raise
    ``ValueError`` naming the archive and the member. Extraction goes to a temporary folder beside
    ``dest``; only when it has fully succeeded are its top-level entries renamed into ``dest`` (an entry
    that already exists there raises ``ValueError`` before anything is moved). A truncated or corrupt
    archive raises ``ValueError`` naming the archive, and leaves nothing behind.
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise FileNotFoundError(f"{archive}: archive not found")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".extract", dir=dest.parent))
    try:
        _extract_checked(archive, staging)
        return _move_into(staging, dest, archive)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract_checked(archive: Path, staging: Path) -> None:
    """Check every member of ``archive`` and extract it into ``staging``."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    _check_member_name(archive, info.filename)
                    if _zip_is_symlink(info):
                        raise ValueError(f"{archive}: member {info.filename!r} is a symbolic link")
                zf.extractall(staging)
            return
        with tarfile.open(archive, "r:*") as tf:
            members = tf.getmembers()
            for member in members:
                _check_tar_member(archive, member)
            tf.extractall(staging, members=members, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as err:
        raise ValueError(f"{archive}: truncated or corrupt archive ({err})") from err


def _check_member_name(archive: Path, name: str) -> PurePosixPath:
    """Return ``name`` as a relative path; raise ``ValueError`` if it is absolute or escapes."""
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or (posix.parts and ":" in posix.parts[0]):
        raise ValueError(f"{archive}: member {name!r} has an absolute path")
    if ".." in posix.parts:
        raise ValueError(f"{archive}: member {name!r} escapes the destination ('..')")
    return posix


def _check_tar_member(archive: Path, member: tarfile.TarInfo) -> None:
    """Reject unsafe names, links whose target leaves the archive root and special files."""
    path = _check_member_name(archive, member.name)
    if member.issym() or member.islnk():
        base = path.parent if member.issym() else PurePosixPath()
        target = PurePosixPath(member.linkname.replace("\\", "/"))
        if target.is_absolute() or not _stays_inside(base / target):
            raise ValueError(f"{archive}: link {member.name!r} points outside the destination "
                             f"({member.linkname!r})")
    elif not (member.isfile() or member.isdir()):
        raise ValueError(f"{archive}: member {member.name!r} is not a regular file or folder")


def _stays_inside(path: PurePosixPath) -> bool:
    """Return whether relative ``path`` never climbs above its root once ``..`` is resolved."""
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return False
    return True


def _zip_is_symlink(info: zipfile.ZipInfo) -> bool:
    return (info.external_attr >> 16) & 0o170000 == 0o120000


def _move_into(staging: Path, dest: Path, archive: Path) -> list[Path]:
    """Rename ``staging``'s top-level entries into ``dest``; return the files now under ``dest``."""
    entries = sorted(staging.iterdir())
    clashes = [e.name for e in entries if (dest / e.name).exists()]
    if clashes:
        raise ValueError(f"{archive}: cannot extract into {dest}, already present: {clashes}")
    dest.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for entry in entries:
        os.replace(entry, dest / entry.name)
        target = dest / entry.name
        files.extend([target] if target.is_file() else [p for p in target.rglob("*") if p.is_file()])
    return sorted(files)


def fetch_sources(key: str, dest: Path, *, archive_dir: Path | None = None,
                  sha256: Mapping[str, str] | None = None, timeout: float = 60) -> list[Path]:
    """Fetch every :data:`SOURCES` entry of ``key`` into folder ``dest``; return the files placed there.

    Plain files are fetched straight into ``dest``. Archives are downloaded into ``archive_dir``
    (default ``<cache>/downloads``, kept so a rerun skips the download) and unpacked into ``dest``
    with :func:`safe_extract`. ``sha256`` maps a source's filename to an expected hash for sources
    without a pinned one (see :func:`fetch`). Unknown ``key`` raises ``KeyError`` listing known keys.
    """
    if key not in SOURCES:
        raise KeyError(f"no download source {key!r}; known: {sorted(SOURCES)}")
    placed: list[Path] = []
    for src in SOURCES[key]:
        expected = src.sha256 or (sha256 or {}).get(src.filename)
        if src.extract:
            folder = Path(archive_dir) if archive_dir is not None else settings.cache_dir() / "downloads"
            archive = fetch(src.url, folder / src.filename, expected, timeout=timeout)
            placed.extend(safe_extract(archive, dest))
        else:
            placed.append(fetch(src.url, Path(dest) / src.filename, expected, timeout=timeout))
    return placed
