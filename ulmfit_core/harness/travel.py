"""Getting a working tree ready to go to a GPU machine, and back: one prepared step and its twin.

    python -m ulmfit_core.harness.travel prepare --scale gpu     # make gpu-prepare
    python -m ulmfit_core.harness.travel restore                 # make gpu-restore

What travels to the machine is every file git tracks or would track (untracked files that are not
ignored) plus the folders named to go with it (the pack) — at most :data:`LIMIT` bytes in all.
Today's tracked files and the ``gpu`` pack together exceed it, mostly because of the reduced scale's
language models. ``prepare``

1. builds the scale's pack (:mod:`ulmfit_core.harness.pack`) where it is missing or was made for other
   selections, and writes into it ``travel.json`` with the code's revision (a copy may travel without
   its git history; the GPU machine records this revision);
2. lists what the scale does not read — the results and executed notebooks of the other scales — and
   checks that what is left, with the pack, fits: if it does not, it refuses and moves nothing;
3. moves those files into :data:`ASIDE` (git-ignored, so they stay here) with a list of them.

``restore`` moves every file back and refuses, naming it, to overwrite a file that has reappeared
with other contents in the meantime. Neither touches git's index or history.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

from ulmfit_core.fileio import read_json, write_json

LIMIT = 64 * 2**20                        # what a call to the GPU machine may carry, in all
ASIDE = Path(".cache") / "travel-aside"   # relative to the repository root; .cache/ is git-ignored
LIST = "aside.json"
TRAVEL_FILE = "travel.json"


class TravelError(RuntimeError):
    """A tree that cannot be made ready (too big, already prepared) or put back; the message says why."""


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What ``prepare`` did: files set aside, and the bytes that will travel (tree + carried folders)."""

    set_aside: list[str]
    travel_bytes: int
    carry: list[str]

    def report(self) -> str:
        mib = self.travel_bytes / 2**20
        return (f"{len(self.set_aside)} files set aside in {ASIDE}/; {mib:.1f} MiB will travel "
                f"({LIMIT / 2**20 - mib:.1f} MiB to spare), carrying {self.carry}")


def travelling_files(root: Path) -> list[str]:
    """Files that travel with the tree: those git tracks and the untracked ones it does not ignore,
    as paths relative to ``root`` (files that no longer exist are left out)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=root, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise TravelError(f"{root}: cannot list the files git tracks ({err})") from err
    names = sorted({n for n in out.decode().split("\0") if n})
    return [n for n in names if (root / n).is_file() and not (root / n).is_symlink()]


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def not_read_by(scale: str, files: Sequence[str]) -> list[str]:
    """Of ``files``, those a run of ``scale`` never reads: other scales' results and executed notebooks."""
    def other(name: str, top: tuple[str, ...]) -> bool:
        parts = Path(name).parts
        return parts[:len(top)] == top and len(parts) > len(top) + 1 and parts[len(top)] != scale

    return [n for n in files if other(n, ("results",)) or other(n, ("notebooks", "executed"))]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_revision(root: Path) -> str:
    """``root``'s commit, ``+dirty`` when tracked files differ from it, or ``unknown``."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def prepare(root: Path, scale: str, pack_folder: Path, limit: int = LIMIT,
            build_pack: Callable[[str, Path], None] | None = None) -> Prepared:
    """Make ``root`` ready to travel with ``pack_folder`` (see the module docstring). ``build_pack``
    (scale, folder) is called when the pack is missing or stale; None: such a pack is an error."""
    aside = root / ASIDE
    if (aside / LIST).exists():
        raise TravelError(f"{aside / LIST}: the tree is already prepared; run `make gpu-restore` first")
    if not pack_is_current(scale, pack_folder):
        if build_pack is None:
            raise TravelError(f"{pack_folder}: no pack for scale {scale!r} with its current selections")
        build_pack(scale, pack_folder)
    write_json(pack_folder / TRAVEL_FILE, {"revision": git_revision(root), "scale": scale})
    files = travelling_files(root)
    leave = not_read_by(scale, files)
    carry = [os.path.relpath(pack_folder.resolve(), root.resolve())]
    inside = {n for n in files if (root / n).resolve().is_relative_to(pack_folder.resolve())}
    staying = [n for n in files if n not in set(leave) | inside]
    size = sum((root / n).stat().st_size for n in staying) + folder_bytes(pack_folder)
    if size > limit:
        biggest = sorted(staying, key=lambda n: -(root / n).stat().st_size)[:5]
        raise TravelError(f"{root}: {size / 2**20:.1f} MiB would travel (the tree without other scales' "
                          f"results, and {carry[0]}), over the {limit / 2**20:.0f} MiB a call carries; "
                          f"largest files: {biggest}; nothing was moved")
    entries = [{"path": n, "sha256": _sha256(root / n)} for n in leave]
    write_json(aside / LIST, {"scale": scale, "files": entries})
    for entry in entries:
        target = aside / "files" / entry["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(root / entry["path"], target)
    return Prepared(leave, size, carry)


def pack_is_current(scale: str, folder: Path) -> bool:
    """Whether ``folder`` holds a pack of ``scale`` with the selections the scale makes today."""
    from ulmfit_core.harness import experiments  # noqa: PLC0415 — torch only when a pack is checked
    from ulmfit_core.harness.scales import get_scale  # noqa: PLC0415

    path = folder / "manifest.json"
    if not path.is_file():
        return False
    manifest, sc = read_json(path), get_scale(scale)
    datasets = {ds: entry.get("selection") for ds, entry in manifest.get("datasets", {}).items()}
    return (manifest.get("scale") == scale
            and datasets == {ds: experiments.data_selection(t) for ds, t in sc.tasks.items()}
            and manifest.get("wikipedia") == {"shards": list(sc.wiki_shards), "words": sc.wiki_words})


def restore(root: Path) -> list[str]:
    """Move every set-aside file back; return their paths. A file that reappeared at its place with
    other contents is not overwritten (error naming it; the others are restored)."""
    aside = root / ASIDE
    if not (aside / LIST).exists():
        raise TravelError(f"{aside / LIST}: nothing is set aside")
    entries = read_json(aside / LIST)["files"]
    restored, conflicts = [], []
    for entry in entries:
        source, target = aside / "files" / entry["path"], root / entry["path"]
        if not source.exists():
            if not target.exists():
                conflicts.append(f"{entry['path']} (missing both here and in {aside})")
            continue
        if target.exists():
            if _sha256(target) != entry["sha256"]:
                conflicts.append(f"{target} (changed while set aside; the set-aside copy is {source})")
                continue
            source.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
        restored.append(entry["path"])
    if conflicts:
        raise TravelError(f"{len(restored)} files restored; not restored: {conflicts}")
    shutil.rmtree(aside)
    return restored


def _build(scale: str, folder: Path) -> None:
    from ulmfit_core.harness.pack_build import build_pack  # noqa: PLC0415

    build_pack(scale, folder)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ulmfit_core.harness.travel", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2],
                        help="the working tree (default: this repository)")
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="build the pack, set aside what the scale does not read, check the size")
    prep.add_argument("--scale", default="gpu")
    prep.add_argument("--pack", type=Path, default=Path("gpu_pack"))
    sub.add_parser("restore", help="put back everything prepare set aside")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        if args.command == "restore":
            print(f"{len(restore(root))} files restored")
            return 0
        done = prepare(root, args.scale, (root / args.pack).resolve(), build_pack=_build)
    except TravelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(done.report())
    print(f"on the GPU machine, from the repository root (carry {done.carry}):\n"
          f"  python -m ulmfit_core.harness.gpu_driver --scale {args.scale} --budget-s 570 --out \"$OUT\"\n"
          f"then here: make gpu-restore && make gpu-import FROM=<the folder the files came back to>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
