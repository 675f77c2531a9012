"""Labelled examples and the stratified splits the paper's protocol needs.

The analysis of the paper (§5) reports validation error on 10% of each training set
(:func:`validation_split`) and, for Figure 3, classifiers trained on a few labelled examples
(:func:`low_shot_subset`). Both keep every class in proportion and are deterministic for a seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping, Sequence

import numpy as np

UNLABELLED = -1


@dataclass(frozen=True, slots=True)
class Record:
    """One example: raw ``text`` and its ``label`` id (``UNLABELLED`` = -1 for unlabelled text). ``text`` may
    also stand for a document whose tokens are already known (one item of a
    :class:`~ulmfit_core.pipeline.Pretokenized` corpus); the splits never look at it."""

    text: str
    label: int


def _allocate(counts: Mapping[int, int], total: int, minimum: int) -> dict[int, int]:
    """Split ``total`` across classes in proportion to ``counts`` (largest remainder), giving each
    class at least ``minimum`` and at most its count; the result sums exactly to ``total``."""
    size = sum(counts.values())
    if not 0 <= total <= size:
        raise ValueError(f"cannot take {total} of {size} records")
    if minimum * len(counts) > total:
        raise ValueError(f"cannot take {total} records with at least {minimum} from each of "
                         f"{len(counts)} classes")
    quota = {c: Fraction(total * n, size) for c, n in counts.items()}
    alloc = {c: min(n, max(minimum, int(quota[c]))) for c, n in counts.items()}
    while sum(alloc.values()) < total:
        c = max((c for c in alloc if alloc[c] < counts[c]), key=lambda c: (quota[c] - alloc[c], -c))
        alloc[c] += 1
    while sum(alloc.values()) > total:
        c = min((c for c in alloc if alloc[c] > minimum), key=lambda c: (quota[c] - alloc[c], c))
        alloc[c] -= 1
    return alloc


def stratified_partition(records: Sequence[Record], n_held: int, seed: int,
                          minimum: int = 0) -> tuple[list[Record], list[Record]]:
    """Hold out ``n_held`` records, stratified by label; return ``(rest, held)`` in input order."""
    labels = np.fromiter((r.label for r in records), dtype=np.int64, count=len(records))
    classes, counts = np.unique(labels, return_counts=True)
    alloc = _allocate(dict(zip(classes.tolist(), counts.tolist())), n_held, minimum)
    rng = np.random.default_rng(seed)
    held = np.zeros(len(records), dtype=bool)
    for c in classes.tolist():
        held[rng.permutation(np.flatnonzero(labels == c))[:alloc[c]]] = True
    rest = [r for r, h in zip(records, held) if not h]
    return rest, [r for r, h in zip(records, held) if h]


def validation_split(records: Sequence[Record], frac: float = 0.1,
                     seed: int = 0) -> tuple[list[Record], list[Record]]:
    """Hold out ``round(frac * len(records))`` records as validation, stratified by label.

    Implements the paper's protocol for its analysis (Section 5: validation error on 10% of the
    training set). Deterministic for a given ``seed``; both parts keep the input order.
    Returns ``(train, valid)``.
    """
    if not 0 < frac < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {frac}")
    if not records:
        raise ValueError("cannot split an empty list of records")
    return stratified_partition(records, round(frac * len(records)), seed)


def low_shot_subset(records: Sequence[Record], n: int, seed: int = 0) -> list[Record]:
    """Return exactly ``n`` of ``records``, stratified by label (proportional, at least one per class).

    The labelled-example budgets of the paper's low-shot experiments (Section 5, Figure 3).
    Deterministic for a given ``seed``; keeps the input order.
    """
    if not 0 < n <= len(records):
        raise ValueError(f"low-shot size must be in 1..{len(records)}, got {n}")
    return stratified_partition(records, n, seed, minimum=1)[1]
