"""Results that travel back from a GPU machine: a few zip volumes with a manifest of SHA-256 sums.

A call to a lent GPU machine can bring back a few files of limited size, so the new run records, their
predictions and benchmark results are written as ``results-00.zip``, ``results-01.zip``, … each at most
:data:`VOLUME_BYTES` and at most :data:`MAX_VOLUMES` of them. Every volume holds ``MANIFEST.json``: the
bundle's id (the same in all its volumes), its volume number and count, where it was made, and each
member's size and SHA-256. Members are named by where they belong in the repository
(``results/gpu/classifier/<id>.json``, ``bench/results/gpu-….json``); :mod:`ulmfit_core.harness.gpu_import`
checks all of it before adding anything to ``results/``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Sequence

from ulmfit_core.fileio import write_bytes

VOLUME_BYTES = 15 * 2**20       # under the 16 MiB a returned file may have
MAX_VOLUMES = 4                 # 60 MiB at most, under the 64 MiB in all, leaving room for the log
MANIFEST = "MANIFEST.json"
FORMAT = 1
VOLUME_NAME = "results-{:02d}.zip"
MEMBER = re.compile(r"results/[a-z0-9_]+/(pretrain|finetune_lm|classifier)/[0-9a-f]{16}(\.json|\.preds\.npz)"
                    r"|bench/results/gpu-[a-z0-9-]+\.json")


class BundleError(ValueError):
    """A bundle that cannot be imported; the message names the file and the problem."""


@dataclasses.dataclass(frozen=True)
class Written:
    """What :func:`write_bundle` wrote: the volume paths, and the members that did not fit."""

    volumes: list[Path]
    left_out: list[str]

    @property
    def bytes(self) -> int:
        return sum(p.stat().st_size for p in self.volumes)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _volumes(members: Sequence[tuple[str, Path]]) -> tuple[list[list[tuple[str, Path]]], list[str]]:
    """Members split into volumes in their order by uncompressed size (a safe upper bound); those that
    do not fit in :data:`MAX_VOLUMES` are left out."""
    limit = VOLUME_BYTES - 2**16                    # room for the manifest and the zip headers
    volumes: list[list[tuple[str, Path]]] = [[]]
    used, left_out = 0, []
    for name, path in members:
        size = path.stat().st_size
        if size > limit:
            left_out.append(name)
            continue
        if used + size > limit:
            if len(volumes) == MAX_VOLUMES:
                left_out.append(name)
                continue
            volumes.append([])
            used = 0
        volumes[-1].append((name, path))
        used += size
    return [v for v in volumes if v] or [[]], left_out


def write_bundle(out: Path, members: Sequence[tuple[str, Path]], info: dict) -> Written:
    """Write ``members`` (repository path, local file) as the volumes of one bundle in ``out``, each
    atomically; ``info`` (bundle id, device, revision, …) goes into every manifest. Volumes left from
    an earlier, larger write of the same folder are removed."""
    for name, _ in members:
        if not MEMBER.fullmatch(name):
            raise BundleError(f"{name}: not a path a bundle may carry")
    groups, left_out = _volumes(members)
    paths = []
    for i, group in enumerate(groups):
        buffer = io.BytesIO()
        files = {}
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, path in group:
                data = path.read_bytes()
                files[name] = {"bytes": len(data), "sha256": sha256_bytes(data)}
                zf.writestr(name, data)
            manifest = {"format": FORMAT, "volume": i, "volumes": len(groups), "info": info, "files": files}
            zf.writestr(MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
        path = out / VOLUME_NAME.format(i)
        write_bytes(path, buffer.getvalue())
        paths.append(path)
    for stale in out.glob("results-*.zip"):
        if stale not in paths:
            stale.unlink()
    return Written(paths, left_out)


def read_bundle(sources: Sequence[Path]) -> tuple[dict[str, bytes], dict]:
    """The members of one bundle (every volume, each checked against its manifest) and its ``info``.

    ``sources`` are volume files or folders holding them. Raises :class:`BundleError` naming the file
    for an unreadable volume, a missing manifest or volume, volumes of different bundles, a member
    whose bytes do not match its SHA-256, or a member path a bundle may not carry."""
    files = _volume_files(sources)
    members: dict[str, bytes] = {}
    manifests = [(path, _read_volume(path, members)) for path in files]
    ids = {m["info"].get("bundle") for _, m in manifests}
    if len(ids) > 1:
        raise BundleError(f"{', '.join(str(p) for p, _ in manifests)}: volumes of different bundles {sorted(map(str, ids))}")
    count = manifests[0][1]["volumes"]
    numbers = sorted(m["volume"] for _, m in manifests)
    if numbers != list(range(count)):
        raise BundleError(f"{files[0].parent}: the bundle has {count} volumes, found volumes {numbers}")
    return members, manifests[0][1]["info"]


def _volume_files(sources: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for source in sources:
        source = Path(source)
        if source.is_dir():
            found = sorted(source.glob("results-*.zip"))
            if not found:
                raise BundleError(f"{source}: no results-NN.zip volume in this folder")
            out += found
        elif source.is_file():
            out.append(source)
        else:
            raise BundleError(f"{source}: no such file or folder")
    return out


def _read_volume(path: Path, members: dict[str, bytes]) -> dict:
    """Read one volume into ``members``; return its manifest."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if MANIFEST not in names:
                raise BundleError(f"{path}: no {MANIFEST}; not a results volume")
            manifest = json.loads(zf.read(MANIFEST))
            data = {n: zf.read(n) for n in names if n != MANIFEST}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, json.JSONDecodeError,
            UnicodeDecodeError, ValueError) as err:
        if isinstance(err, BundleError):
            raise
        raise BundleError(f"{path}: unreadable results volume ({err})") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise BundleError(f"{path}: {MANIFEST} is not a results manifest of format {FORMAT}")
    listed = manifest["files"]
    if set(listed) != set(data):
        raise BundleError(f"{path}: members {sorted(set(data) ^ set(listed))} are in the volume or the "
                          f"manifest but not both")
    for name, blob in data.items():
        if not MEMBER.fullmatch(name):
            raise BundleError(f"{path}: member {name!r} is not a path a bundle may carry")
        if sha256_bytes(blob) != listed[name].get("sha256"):
            raise BundleError(f"{path}: {name} does not match its SHA-256 in the manifest (damaged)")
        if name in members and members[name] != blob:
            raise BundleError(f"{path}: {name} appears in two volumes with different contents")
        members[name] = blob
    return manifest
