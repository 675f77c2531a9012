"""Add the results a GPU call brought back (:mod:`ulmfit_core.harness.bundle` volumes) to ``results/`` here.

    python -m ulmfit_core.harness.gpu_import FOLDER_OR_VOLUMES... [--dry-run]

Everything is checked before anything is written: each volume against its manifest, each record's
file name, kind and scale against its content, its id against the hash of its configuration and
parents (so a record edited after it was made is refused), its parents (in the bundle or already in
``results/``), each predictions file as a readable array file with its record beside it. A record that
is already here is skipped when it is the same run with the same results — the same content apart
from its provenance and timings; one that differs is refused with both paths named. Files are written
atomically, predictions before their records.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Sequence

import numpy as np

from ulmfit_core.fileio import read_json, write_bytes
from ulmfit_core.settings import REPO_ROOT, results_dir
from ulmfit_core.harness.bundle import BundleError, read_bundle

RECORD_KEYS = ("id", "kind", "scale", "config", "parents", "metrics", "history", "provenance")
TIMING_KEYS = frozenset({"seconds", "items_per_s", "train_tokens_per_s"})   # measured, not computed
RUN_KINDS = ("pretrain", "finetune_lm", "classifier")
PRED_ARRAYS = ("valid_probs", "valid_labels", "test_probs", "test_labels")


@dataclasses.dataclass
class Imported:
    """What an import did (or, with ``dry_run``, would do): files added and files already here."""

    added: list[Path] = dataclasses.field(default_factory=list)
    present: list[Path] = dataclasses.field(default_factory=list)
    info: dict = dataclasses.field(default_factory=dict)

    def summary(self) -> str:
        records = sum(p.suffix == ".json" and p.parent.name in RUN_KINDS for p in self.added)
        return (f"{len(self.added)} files added ({records} run records), {len(self.present)} already here; "
                f"made on {self.info.get('device_name', 'an unknown device')}")


def record_id(record: dict) -> str:
    """The run id a record's content gives: the hash :class:`ulmfit_core.harness.experiments.Run` names it by."""
    blob = json.dumps({"kind": record["kind"], "scale": record["scale"], "config": record["config"],
                       "parents": list(record["parents"])}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def comparable(record: dict) -> dict:
    """``record`` without what depends on where and how fast it ran: its provenance and every timing
    field (seconds, items per second) at any depth."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in TIMING_KEYS}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip({k: v for k, v in record.items() if k != "provenance"})


def differences(a: dict, b: dict) -> list[str]:
    """The top-level keys in which two records differ, provenance and timings aside."""
    ca, cb = comparable(a), comparable(b)
    return sorted(k for k in set(ca) | set(cb) if ca.get(k) != cb.get(k))


def _destination(name: str, results: Path, bench: Path) -> Path:
    parts = PurePosixPath(name).parts
    return results.joinpath(*parts[1:]) if parts[0] == "results" else bench.joinpath(*parts[2:])


def _parse_record(name: str, blob: bytes) -> dict:
    where = f"{name} (in the bundle)"
    try:
        record = json.loads(blob)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(f"{where}: not valid JSON ({err})") from err
    if not isinstance(record, dict) or (missing := [k for k in RECORD_KEYS if k not in record]):
        raise BundleError(f"{where}: not a run record (missing {missing if isinstance(record, dict) else RECORD_KEYS})")
    _, scale, kind, filename = PurePosixPath(name).parts
    stem = filename.removesuffix(".json")
    if (record["id"], record["kind"], record["scale"]) != (stem, kind, scale):
        raise BundleError(f"{where}: holds run {record['kind']} {record['id']} at scale {record['scale']!r}, "
                          f"not the {kind} {stem} at scale {scale!r} its path names")
    if record_id(record) != stem:
        raise BundleError(f"{where}: its configuration and parents give id {record_id(record)}, not {stem}; "
                          f"the record was changed after it was made")
    return record


def _check_preds(name: str, blob: bytes) -> None:
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            missing = [a for a in PRED_ARRAYS if a not in npz.files]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise BundleError(f"{name} (in the bundle): unreadable predictions ({err})") from err
    if missing:
        raise BundleError(f"{name} (in the bundle): predictions without {missing}")


def _existing_record(results: Path, scale: str, run_id: str) -> bool:
    return any((results / scale / kind / f"{run_id}.json").exists() for kind in RUN_KINDS)


def plan_import(members: dict[str, bytes], results: Path, bench: Path) -> tuple[list[tuple[Path, bytes]], list[Path]]:
    """Check every member; return the files to write (predictions first) and those already here."""
    records = {n: _parse_record(n, b) for n, b in members.items() if n.startswith("results/") and n.endswith(".json")}
    ids = {r["id"] for r in records.values()}
    writes: list[tuple[Path, bytes]] = []
    present: list[Path] = []
    for name, record in records.items():
        for parent in record["parents"]:
            if parent not in ids and not _existing_record(results, record["scale"], parent):
                raise BundleError(f"{name} (in the bundle): its parent run {parent} is neither in the bundle "
                                  f"nor in {results / record['scale']}")
    for name in sorted(members, key=lambda n: (not n.endswith(".json"), n)):   # a record's clash first
        blob, dest = members[name], _destination(name, results, bench)
        if name.endswith(".preds.npz"):
            _check_preds(name, blob)
            if name.removesuffix(".preds.npz") + ".json" not in records:
                raise BundleError(f"{name} (in the bundle): predictions without their run record")
        if not dest.exists():
            writes.append((dest, blob))
        elif name in records:
            if diff := differences(read_json(dest), records[name]):
                raise BundleError(f"{name} (in the bundle) clashes with {dest}: the same run with different "
                                  f"{', '.join(diff)}")
            present.append(dest)
        elif dest.read_bytes() == blob or name.endswith(".preds.npz") and _same_preds(dest, blob):
            present.append(dest)
        else:
            raise BundleError(f"{name} (in the bundle) clashes with {dest}, which has other contents")
    writes.sort(key=lambda item: (item[0].suffix == ".json", str(item[0])))   # predictions before records
    return writes, present


def _same_preds(path: Path, blob: bytes) -> bool:
    """Whether an existing predictions file holds the same arrays as ``blob``."""
    with np.load(path, allow_pickle=False) as a, np.load(io.BytesIO(blob), allow_pickle=False) as b:
        return set(a.files) == set(b.files) and all(np.array_equal(a[k], b[k]) for k in a.files)


def import_bundle(sources: Sequence[Path], results: Path | None = None, bench: Path | None = None,
                  dry_run: bool = False) -> Imported:
    """Check the bundle in ``sources`` (volumes or folders) and add its files to ``results`` (default
    ``results/``) and ``bench`` (default ``bench/results/``); nothing is written when any check
    fails (:class:`~ulmfit_core.harness.bundle.BundleError`) or with ``dry_run``."""
    results = results or results_dir()
    bench = bench or REPO_ROOT / "bench" / "results"
    members, info = read_bundle(sources)
    writes, present = plan_import(members, results, bench)
    if not dry_run:
        for dest, blob in writes:
            write_bytes(dest, blob)
    return Imported([d for d, _ in writes], present, info)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ulmfit_core.harness.gpu_import", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", type=Path, help="results-NN.zip volumes, or folders holding them")
    parser.add_argument("--dry-run", action="store_true", help="check everything, write nothing")
    args = parser.parse_args(argv)
    try:
        done = import_bundle(args.sources, dry_run=args.dry_run)
    except BundleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(("would add: " if args.dry_run else "") + done.summary())
    for path in done.added:
        print(f"  + {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
