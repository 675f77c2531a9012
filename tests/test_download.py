"""Downloads are verified before they land, archives cannot write outside their folder, and the data
folder's checksums are checked. All network traffic goes to a server on 127.0.0.1 started here."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import re
import tarfile
import zipfile
from pathlib import Path

import pytest

from ulmfit_core.harness import datasets, download


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _tar_with_link(name: str, target: str, symbolic: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo(name)
        info.type = tarfile.SYMTYPE if symbolic else tarfile.LNKTYPE
        info.linkname = target
        tf.addfile(info)
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


GOOD = {"corpus/readme.txt": b"hello\n", "corpus/data/train.csv": b'"1","a title","a body"\n'}


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --------------------------------------------------------------------------- fetch


def test_good_archive_with_right_checksum_is_fetched_and_extracted(tmp_path, serve):
    served = tmp_path / "served"
    served.mkdir()
    blob = _tgz(GOOD)
    (served / "corpus.tgz").write_bytes(blob)
    url = serve(served) + "corpus.tgz"

    archive = download.fetch(url, tmp_path / "dl" / "corpus.tgz", _sha(blob))
    files = download.safe_extract(archive, tmp_path / "out")

    assert archive.read_bytes() == blob
    assert files == sorted([tmp_path / "out" / "corpus/data/train.csv", tmp_path / "out" / "corpus/readme.txt"])
    assert (tmp_path / "out" / "corpus" / "readme.txt").read_bytes() == b"hello\n"
    assert _leftovers(tmp_path / "dl") == ["corpus.tgz"]
    assert _leftovers(tmp_path) == ["dl", "out", "served"]  # no staging folder left


def test_fetch_sources_downloads_plain_files_and_archives(tmp_path, serve, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    blob, plain = _tgz(GOOD), b"ABBR:exp What does NASA stand for ?\n"
    (served / "corpus.tgz").write_bytes(blob)
    (served / "q.label").write_bytes(plain)
    base = serve(served)
    monkeypatch.setitem(download.SOURCES, "toy", [
        download.Source(base + "q.label", _sha(plain), "q.label", False),
        download.Source(base + "corpus.tgz", None, "corpus.tgz", True),
    ])
    with pytest.raises(ValueError, match=_sha(blob)):  # unpinned archive: refused, hash reported
        download.fetch_sources("toy", tmp_path / "out", archive_dir=tmp_path / "dl")
    assert _leftovers(tmp_path / "dl") == []

    placed = download.fetch_sources("toy", tmp_path / "out2", archive_dir=tmp_path / "dl",
                                    sha256={"corpus.tgz": _sha(blob)})
    assert (tmp_path / "out2" / "q.label").read_bytes() == plain
    assert tmp_path / "out2" / "corpus" / "data" / "train.csv" in placed
    with pytest.raises(KeyError, match="toy"):
        download.fetch_sources("nope", tmp_path)


def test_wrong_checksum_raises_and_leaves_nothing_at_dest(tmp_path, serve):
    served = tmp_path / "served"
    served.mkdir()
    (served / "corpus.tgz").write_bytes(_tgz(GOOD))
    url = serve(served) + "corpus.tgz"
    dest = tmp_path / "dl" / "corpus.tgz"

    with pytest.raises(ValueError) as err:
        download.fetch(url, dest, "0" * 64)
    assert url in str(err.value) and "0" * 64 in str(err.value)
    assert "mismatch" in str(err.value)
    assert not dest.exists()
    assert _leftovers(tmp_path / "dl") == []  # the temporary file is gone too


def test_unverified_download_is_refused_but_its_hash_reported(tmp_path, serve):
    served = tmp_path / "served"
    served.mkdir()
    blob = b"some bytes"
    (served / "f.bin").write_bytes(blob)
    url = serve(served) + "f.bin"
    with pytest.raises(ValueError, match=_sha(blob)):
        download.fetch(url, tmp_path / "f.bin", None)
    assert not (tmp_path / "f.bin").exists()


def test_fetch_reuses_a_verified_file_without_a_server(tmp_path):
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"cached")
    assert download.fetch("http://127.0.0.1:9/never", dest, _sha(b"cached")) == dest


class _ShortBody(http.server.BaseHTTPRequestHandler):
    """Announces 1,000 bytes, sends 10, then closes the connection."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"0123456789")
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def test_short_read_raises_and_leaves_nothing(tmp_path, serve):
    url = serve(tmp_path, handler=_ShortBody) + "f.bin"
    with pytest.raises(ValueError, match="short read") as err:
        download.fetch(url, tmp_path / "dl" / "f.bin", _sha(b"0123456789"))
    assert url in str(err.value) and "1000" in str(err.value)
    assert _leftovers(tmp_path / "dl") == []


def test_fetch_rejects_non_http_urls_and_reports_unreachable_servers(tmp_path):
    with pytest.raises(ValueError, match="only http"):
        download.fetch("file:///etc/passwd", tmp_path / "x", None)
    with pytest.raises(ConnectionError, match="127.0.0.1:9"):
        download.fetch("http://127.0.0.1:9/x", tmp_path / "x", "0" * 64, timeout=2)
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- safe_extract


def test_truncated_archive_raises_naming_it_and_leaves_nothing(tmp_path, serve):
    served = tmp_path / "served"
    served.mkdir()
    blob = _tgz({"big.txt": bytes(range(256)) * 4000})
    cut = blob[: len(blob) // 2]
    (served / "cut.tgz").write_bytes(cut)
    archive = download.fetch(serve(served) + "cut.tgz", tmp_path / "cut.tgz", _sha(cut))

    with pytest.raises(ValueError, match="cut.tgz") as err:
        download.safe_extract(archive, tmp_path / "out")
    assert "truncated or corrupt" in str(err.value)
    assert not (tmp_path / "out").exists()
    assert _leftovers(tmp_path) == ["cut.tgz", "served"]


def test_not_an_archive_raises(tmp_path):
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(b"this is not an archive at all" * 20)
    with pytest.raises(ValueError, match="junk.tgz"):
        download.safe_extract(junk, tmp_path / "out")


@pytest.mark.parametrize("member", ["../evil", "a/../../evil", "/tmp/evil_abs"])
def test_member_escaping_the_destination_is_rejected(tmp_path, member):
    archive = tmp_path / "bad.tgz"
    archive.write_bytes(_tgz({"ok.txt": b"fine", member: b"pwned"}))
    dest = tmp_path / "inner" / "out"
    with pytest.raises(ValueError, match="bad.tgz") as err:
        download.safe_extract(archive, dest)
    assert member in str(err.value)
    assert not dest.exists()
    assert not (tmp_path / "evil").exists() and not (tmp_path / "inner" / "evil").exists()
    assert _leftovers(tmp_path / "inner") == []


@pytest.mark.parametrize("target,symbolic", [("../../outside", True), ("/etc/passwd", True),
                                             ("../outside", False)])
def test_links_pointing_outside_are_rejected(tmp_path, target, symbolic):
    archive = tmp_path / "links.tgz"
    archive.write_bytes(_tar_with_link("d/link", target, symbolic))
    with pytest.raises(ValueError, match="points outside"):
        download.safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_link_inside_the_archive_is_allowed(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("d/real.txt")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"data"))
        link = tarfile.TarInfo("d/alias.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "real.txt"
        tf.addfile(link)
    archive = tmp_path / "ok.tgz"
    archive.write_bytes(buf.getvalue())
    download.safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "d" / "alias.txt").read_bytes() == b"data"


def test_zip_archives_extract_and_reject_escapes(tmp_path):
    good = tmp_path / "good.zip"
    good.write_bytes(_zip({"w/wiki.valid.raw": b" = T = \n"}))
    assert download.safe_extract(good, tmp_path / "out") == [tmp_path / "out" / "w" / "wiki.valid.raw"]

    bad = tmp_path / "bad.zip"
    bad.write_bytes(_zip({"../evil": b"x"}))
    with pytest.raises(ValueError, match="bad.zip"):
        download.safe_extract(bad, tmp_path / "out2")
    assert not (tmp_path / "evil").exists() and not (tmp_path / "out2").exists()


def test_extract_refuses_to_overwrite_existing_entries(tmp_path):
    archive = tmp_path / "a.tgz"
    archive.write_bytes(_tgz({"corpus/readme.txt": b"new"}))
    (tmp_path / "out" / "corpus").mkdir(parents=True)
    (tmp_path / "out" / "corpus" / "readme.txt").write_bytes(b"old")
    with pytest.raises(ValueError, match="already present"):
        download.safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "corpus" / "readme.txt").read_bytes() == b"old"


# --------------------------------------------------------------------------- checksums


def test_pinned_trec_checksums_match_the_original_bytes(shared_data):
    for src in download.SOURCES["trec6"]:
        assert download.file_sha256(shared_data / "trec6" / src.filename) == src.sha256
        assert (shared_data / "trec6" / src.filename).stat().st_size == src.size


def test_every_source_has_a_pinned_sha256_and_size():
    for key, sources in download.SOURCES.items():
        for src in sources:
            assert re.fullmatch(r"[0-9a-f]{64}", src.sha256 or ""), f"{key}: {src.filename} has no pinned SHA-256"
            assert src.size and src.size > 0, f"{key}: {src.filename} has no size"
            assert src.url.startswith("https://") and src.url.endswith(src.filename)


def test_pinned_ag_test_checksum_matches_the_official_split_in_the_data_folder(shared_data):
    """The published checksum of AG News' test.csv agrees with the byte-identical copy here."""
    test = next(s for s in download.SOURCES["ag_news"] if s.filename == "test.csv")
    data = gzip.decompress((shared_data / "ag_news" / "test.csv.gz").read_bytes())
    assert hashlib.sha256(data).hexdigest() == test.sha256 and len(data) == test.size


def test_verify_checksums_passes_on_the_real_data_folder(shared_data):
    checked = datasets.verify_checksums(shared_data)
    assert len(checked) == 31
    assert "imdb/train.csv.gz" in checked and "trec6/TREC_10.label" in checked


def _fake_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    files = {"a.txt": b"alpha\n", "sub/b.bin": b"\x00\x01beta"}
    for rel, data in files.items():
        (root / rel).write_bytes(data)
    (root / "SHA256SUMS").write_text("".join(f"{_sha(d)}  ./{r}\n" for r, d in files.items()))
    return root


def test_verify_checksums_detects_tampering_and_missing_files(tmp_path):
    root = _fake_root(tmp_path)
    assert datasets.verify_checksums(root) == ["a.txt", "sub/b.bin"]

    (root / "sub" / "b.bin").write_bytes(b"\x00\x01betA")
    with pytest.raises(ValueError) as err:
        datasets.verify_checksums(root)
    assert "sub/b.bin" in str(err.value) and _sha(b"\x00\x01betA") in str(err.value)
    assert "a.txt" not in str(err.value)

    (root / "a.txt").unlink()
    with pytest.raises(ValueError, match="a.txt: missing"):
        datasets.verify_checksums(root)


def test_verify_checksums_rejects_malformed_and_escaping_lines(tmp_path):
    root = _fake_root(tmp_path)
    (root / "SHA256SUMS").write_text(f"{_sha(b'x')}  ./a.txt\nnot a checksum line\n")
    with pytest.raises(ValueError, match="SHA256SUMS: line 2"):
        datasets.verify_checksums(root)
    (root / "SHA256SUMS").write_text(f"{_sha(b'x')}  ../outside.txt\n")
    with pytest.raises(ValueError, match="line 1"):
        datasets.verify_checksums(root)
