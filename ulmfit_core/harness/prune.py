"""Remove the run records of a scale that no chapter shows any more, so that the book shows one recipe.

    python -m ulmfit_core.harness.prune --scale reduced            # list what would go
    python -m ulmfit_core.harness.prune --scale reduced --delete   # remove it

When a scale's recipe changes (a new pretrained LM, new epochs from the schedule choice), the runs made with
the old one stay in ``results/<scale>/`` and in the book's listing of runs, though no chapter reads
them. The runs a chapter reads are those of :data:`ulmfit_core.harness.gpu_plan.CHAPTERS` (the same lists the
worker makes, schedule choices included) and their ancestors; every other fine-tuned LM, classifier and
linear-baseline record of the scale is superseded, and goes with its predictions. Pretraining records stay:
the pretrained LMs' page shows every pretraining probe that chose the recipe. Git history keeps what is
removed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ulmfit_core.settings import results_dir
from ulmfit_core.harness.gpu_plan import CHAPTERS, closure, order
from ulmfit_core.harness.scales import Scale, get_scale

PRUNED_KINDS = ("finetune_lm", "classifier", "baseline")   # pretraining probes document the LM recipe


def shown(scale: Scale) -> set[str]:
    """The ids of every run the chapters at ``scale`` read, with their ancestors."""
    ids: set[str] = set()
    for chapter, ds in order(scale):
        for _, run in CHAPTERS[chapter](scale, ds, None):
            ids.update(r.id for r in closure(run))
    return ids


def superseded(scale: Scale) -> list[Path]:
    """The record files (and their predictions) of ``scale`` that no chapter reads, sorted."""
    keep = shown(scale)
    root = results_dir() / scale.name
    out = []
    for kind in PRUNED_KINDS:
        for path in sorted((root / kind).glob("*.json")):
            if path.stem not in keep:
                out += [path, *(p for p in [path.with_suffix(".preds.npz")] if p.exists())]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="reduced")
    parser.add_argument("--delete", action="store_true", help="remove the files (default: only list them)")
    args = parser.parse_args(argv)
    paths = superseded(get_scale(args.scale))
    for path in paths:
        print(path)
        if args.delete:
            path.unlink()
    verb = "removed" if args.delete else "would remove (run again with --delete)"
    print(f"{verb}: {len(paths)} files of superseded runs at {args.scale}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
