"""A small labelled CSV pair from one of the datasets the data layer reads, to try ``ulmfit`` on.

    python -m ulmfit_core.harness.make_csv --dataset ag_news_7k6 --train 1200 --test 500 --out news

writes ``news/train.csv`` and ``news/test.csv`` with the columns ``text`` and ``label`` (the class name),
drawn stratified (seed 0) from the dataset's train and test splits, so every class keeps its share
(:func:`ulmfit_core.splits.low_shot_subset`). Texts are as the data layer returns them, raw.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path
from typing import Sequence

from ulmfit_core.fileio import write_text
from ulmfit_core.splits import Record, low_shot_subset
from ulmfit_core.harness.datasets import DATASETS, dataset_info, load_split


def _csv(records: Sequence[Record], names: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["text", "label"])
    writer.writerows([r.text, names[r.label]] for r in records)
    return out.getvalue()


def make_csv(dataset: str, n_train: int, n_test: int, out: Path, seed: int = 0) -> tuple[Path, Path]:
    """Write ``n_train`` examples of ``dataset``'s train split to ``out/train.csv`` and ``n_test`` of its
    test split to ``out/test.csv`` (atomically); return the two paths. A size larger than the split raises
    ``ValueError`` naming the split."""
    names = dataset_info(dataset).label_names
    paths = []
    for split, n in (("train", n_train), ("test", n_test)):
        records = load_split(dataset, split)
        if not 0 < n <= len(records):
            raise ValueError(f"{dataset}/{split} has {len(records)} examples; asked for {n}")
        path = Path(out) / f"{split}.csv"
        write_text(path, _csv(low_shot_subset(records, n, seed), names))
        paths.append(path)
    return paths[0], paths[1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ulmfit_core.harness.make_csv", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    parser.add_argument("--train", type=int, required=True, help="training examples")
    parser.add_argument("--test", type=int, required=True, help="test examples")
    parser.add_argument("--out", type=Path, required=True, help="folder for train.csv and test.csv")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        train, test = make_csv(args.dataset, args.train, args.test, args.out, args.seed)
    except (ValueError, FileNotFoundError) as err:
        print(f"make_csv: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {train} ({args.train} rows) and {test} ({args.test} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
