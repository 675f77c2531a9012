"""Bidirectional ensembling (ULMFiT §3.3): forward and backward classifiers' probabilities averaged
example by example, whatever order each model's predictions come in."""
from __future__ import annotations

import numpy as np
import pytest

from ulmfit_core.ensemble import ensemble


def probs(n: int, classes: int, seed: int) -> np.ndarray:
    p = np.random.default_rng(seed).random((n, classes))
    return p / p.sum(1, keepdims=True)


def test_predictions_in_different_orders_are_aligned_by_index():
    forward, backward = probs(6, 3, 0), probs(6, 3, 1)            # row i = example i
    perm = np.array([4, 0, 5, 2, 1, 3])
    index, mean = ensemble([(np.arange(6), forward), (perm, backward[perm])])
    assert index.tolist() == list(range(6))
    np.testing.assert_allclose(mean, (forward + backward) / 2, rtol=0, atol=1e-15)
    # Both models shuffled, with example ids that are not 0..n-1.
    ids = np.array([10, 42, 7, 99, 3, 58])
    p, q = np.array([3, 1, 0, 5, 2, 4]), np.array([2, 5, 4, 0, 1, 3])
    index, mean = ensemble([(ids[p], forward[p]), (ids[q], backward[q])])
    order = np.argsort(ids)
    assert index.tolist() == sorted(ids.tolist())
    np.testing.assert_allclose(mean, ((forward + backward) / 2)[order], rtol=0, atol=1e-15)
    np.testing.assert_allclose(mean.sum(1), 1.0)


def test_three_models_and_a_single_model():
    a, b, c = probs(4, 2, 0), probs(4, 2, 1), probs(4, 2, 2)
    idx = np.arange(4)
    _, mean = ensemble([(idx, a), (idx[::-1], b[::-1]), (idx, c)])
    np.testing.assert_allclose(mean, (a + b + c) / 3)
    _, alone = ensemble([(idx[::-1], a[::-1])])
    np.testing.assert_array_equal(alone, a)


def test_mismatched_examples_raise():
    p = probs(4, 2, 0)
    with pytest.raises(ValueError, match="model 1 predicts a different set of examples"):
        ensemble([(np.arange(4), p), (np.array([0, 1, 2, 5]), p)])
    with pytest.raises(ValueError, match="different set"):
        ensemble([(np.arange(4), p), (np.arange(3), p[:3])])


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match="model 1 has 3 classes, model 0 2"):
        ensemble([(np.arange(4), probs(4, 2, 0)), (np.arange(4), probs(4, 3, 1))])
    with pytest.raises(ValueError, match="model 0: 3 indices but 4 rows"):
        ensemble([(np.arange(3), probs(4, 2, 0))])
    with pytest.raises(ValueError, match="nothing to ensemble"):
        ensemble([])
