"""Bidirectional ensembling (ULMFiT §3.3 "Bidirectional language model"): average the class
probabilities of the forward and the backward classifier, example by example."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def ensemble(predictions: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Average probabilities from several models, aligned by example index.

    ``predictions``: one (index (n,), probs (n, classes)) pair per model, rows in any order. Returns
    (sorted index, mean probs in that order). Models must cover the same examples and classes.
    """
    if not predictions:
        raise ValueError("nothing to ensemble")
    aligned = []
    reference = None
    for k, (index, probs) in enumerate(predictions):
        index, probs = np.asarray(index), np.asarray(probs)
        if len(index) != len(probs):
            raise ValueError(f"model {k}: {len(index)} indices but {len(probs)} rows of probabilities")
        order = np.argsort(index, kind="stable")
        if reference is None:
            reference = index[order]
        elif not np.array_equal(index[order], reference):
            raise ValueError(f"model {k} predicts a different set of examples than model 0")
        if probs.shape[1] != predictions[0][1].shape[1]:
            raise ValueError(f"model {k} has {probs.shape[1]} classes, model 0 {predictions[0][1].shape[1]}")
        aligned.append(probs[order])
    return reference, np.mean(aligned, axis=0)
