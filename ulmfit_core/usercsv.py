"""A user's own labelled texts: a CSV file with a text column and a label column."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd


def read_labelled_csv(path: Path, text_column: str = "text", label_column: str | None = "label"
                      ) -> tuple[list[str], list[str] | None]:
    """Return (texts, labels as strings) from ``path``; ``label_column=None`` reads texts only.

    A missing file or column, an empty file, or an empty text raises ``ValueError`` naming the file and
    the row (1-based, counting the header as row 1).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable CSV file ({err})") from err
    needed = [text_column] + ([label_column] if label_column else [])
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(frame.columns)}")
    if frame.empty:
        raise ValueError(f"{path}: no rows")
    texts = frame[text_column].tolist()
    for i, text in enumerate(texts):
        if not text.strip():
            raise ValueError(f"{path}, row {i + 2}: empty text")
    labels = frame[label_column].str.strip().tolist() if label_column else None
    if labels is not None:
        blank = [i for i, y in enumerate(labels) if not y]
        if blank:
            raise ValueError(f"{path}, row {blank[0] + 2}: empty label")
    return texts, labels


def label_ids(labels: Sequence[str], names: Sequence[str], source: Path) -> list[int]:
    """Map label strings to ids in ``names``; an unknown label raises naming ``source`` and the row."""
    index = {n: i for i, n in enumerate(names)}
    out = []
    for row, label in enumerate(labels):
        if label not in index:
            raise ValueError(f"{source}, row {row + 2}: label {label!r} is not one of {list(names)}")
        out.append(index[label])
    return out


def min_rows(valid_frac: float) -> int:
    """The fewest rows whose validation split, ``round(valid_frac * n)`` rows (see
    :func:`ulmfit_core.splits.validation_split`), has at least one row and leaves one for training."""
    n = 2
    while round(valid_frac * n) < 1 or n - round(valid_frac * n) < 1:
        n += 1
    return n


def check_labelled_csv(path: Path, text_column: str, label_column: str, valid_frac: float) -> list[str]:
    """Return the problems of a training CSV, each naming the file: unreadable or missing columns (see
    :func:`read_labelled_csv`), fewer than two classes, or too few rows for a validation split of
    ``valid_frac``. An empty list means the file can be used."""
    try:
        _, labels = read_labelled_csv(path, text_column, label_column)
    except (ValueError, FileNotFoundError) as err:
        return [str(err)]
    problems = []
    classes = sorted(set(labels or []))
    if len(classes) < 2:
        problems.append(f"{path}: column {label_column!r} has {len(classes)} class(es) {classes}; a classifier "
                        f"needs at least two")
    n, need = len(labels or []), min_rows(valid_frac)
    if n < need:
        problems.append(f"{path}: {n} row(s) give {round(valid_frac * n)} validation row(s) at valid_frac "
                        f"{valid_frac} (round({valid_frac} × {n})); at least {need} rows are needed")
    return problems
