"""Execute the paper's notebooks at a scale: jupytext source → papermill run → executed notebook.

    python -m ulmfit_core.harness.notebooks --scale smoke [--only 03_pretraining ...]

Sources are ``notebooks/NN_topic.py`` (jupytext percent format); executed copies go to
``notebooks/executed/<scale>/NN_topic.ipynb``, written atomically, so a cut-off execution leaves the
previous copy (and every finished run record) intact. Re-running skips every finished run. Before the
first notebook starts, the preflight (:mod:`ulmfit_core.harness.preflight`) checks every input of the notebooks
asked for and prints the estimated compute; anything missing stops the run with one message.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Sequence

import jupytext
import nbformat
import papermill

from ulmfit_core.fileio import atomic_path
from ulmfit_core.settings import REPO_ROOT
from ulmfit_core.harness import preflight
from ulmfit_core.harness.scales import get_scale

SOURCES = REPO_ROOT / "notebooks"


def sources(only: Sequence[str] | None = None) -> list[Path]:
    """The notebook sources, in order; ``only`` selects by name (``03_pretraining`` or ``03``)."""
    paths = sorted(SOURCES.glob("[0-9][0-9]_*.py"))
    if only:
        paths = [p for p in paths if p.stem in only or p.stem[:2] in only]
        if not paths:
            raise ValueError(f"no notebook matches {list(only)}; have {[p.stem for p in SOURCES.glob('[0-9]*.py')]}")
    return paths


def executed_path(source: Path, scale: str) -> Path:
    return SOURCES / "executed" / scale / f"{source.stem}.ipynb"


def execute(source: Path, scale: str, device: str = "auto", datasets: Sequence[str] | None = None,
            seeds: Sequence[int] | None = None) -> Path:
    """Run one notebook source at ``scale`` (on ``datasets`` and ``seeds``, default the notebook's and
    the scale's) with papermill; return the executed notebook's path."""
    get_scale(scale)
    notebook = jupytext.read(source)
    out = executed_path(source, scale)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out.with_suffix(".input.ipynb")) as tmp_in, atomic_path(out) as tmp_out:
        nbformat.write(notebook, tmp_in)
        papermill.execute_notebook(str(tmp_in), str(tmp_out), parameters={"scale": scale, "device": device,
                                                                     "datasets": list(datasets) if datasets else None,
                                                                     "seeds": list(seeds) if seeds else None},
                                   kernel_name="python3", cwd=str(SOURCES), progress_bar=False)
        _drop_papermill_metadata(tmp_out)
    out.with_suffix(".input.ipynb").unlink(missing_ok=True)
    return out


def _drop_papermill_metadata(path: Path) -> None:
    """Remove per-execution timestamps so that an unchanged result gives an unchanged file."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.get("execution", {}).clear()
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="smoke")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--only", nargs="*", help="notebook names or numbers (default: all)")
    parser.add_argument("--datasets", nargs="*", help="datasets (default: each notebook's own)")
    parser.add_argument("--seeds", nargs="*", type=int, help="seeds (default: the scale's for each dataset)")
    args = parser.parse_args(argv)
    get_scale(args.scale)
    chosen = sources(args.only)
    checked = [p.stem for p in chosen if p.stem[:2] in preflight.NOTEBOOKS]
    if checked:
        try:
            report = preflight.check(args.scale, checked, args.datasets, args.seeds, args.device)
        except preflight.PreflightError as err:
            raise SystemExit(str(err)) from None
        print(report.text(), flush=True)
    for source in chosen:
        t0 = time.perf_counter()
        out = execute(source, args.scale, args.device, args.datasets, args.seeds)
        print(f"{source.stem}: {time.perf_counter() - t0:.0f} s -> {out.relative_to(REPO_ROOT)}", flush=True)


if __name__ == "__main__":
    main()
