"""Paired effects, bootstrap intervals and verdicts on synthetic arms with known differences."""
from __future__ import annotations

import numpy as np
import pytest

from ulmfit_core.harness.verdicts import Effect, describe, mean_std, paired_effect, verdict

N_SEEDS, N_EXAMPLES = 3, 500


def fixed_arms(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Arm a errs on exactly 100 of 500 examples per seed; arm b on 30% fewer (70): exactly -6.0 pp."""
    rng = np.random.default_rng(seed)
    a = np.zeros((N_SEEDS, N_EXAMPLES), dtype=np.int8)
    b = np.zeros_like(a)
    for s in range(N_SEEDS):
        wrong = rng.choice(N_EXAMPLES, size=100, replace=False)
        a[s, wrong] = 1
        b[s, wrong[:70]] = 1
    return a, b


def sampled_arms(rng: np.random.Generator, n_seeds: int = N_SEEDS) -> tuple[np.ndarray, np.ndarray, float]:
    """Draw arms from a model with hard and easy examples; return them and the true difference (pp).

    P(error) is 0.6 on the 30% hard examples, 0.02 on the rest; b fixes each of a's errors with
    probability 0.3 and adds an error on a correct example with probability 0.01.
    """
    hard = rng.random(N_EXAMPLES) < 0.3
    p = np.where(hard, 0.6, 0.02)
    a = (rng.random((n_seeds, N_EXAMPLES)) < p).astype(np.int8)
    keep = rng.random(a.shape) < 0.7
    new = rng.random(a.shape) < 0.01
    b = np.where(a == 1, keep, new).astype(np.int8)
    rate_a = 0.3 * 0.6 + 0.7 * 0.02
    return a, b, 100 * (-0.3 * rate_a + 0.01 * (1 - rate_a))


def test_clear_effect_holds():
    a, b = fixed_arms()
    effect = paired_effect(a, b)
    assert effect.mean_diff == pytest.approx(-6.0)
    assert effect.ci_low < -6.0 < effect.ci_high < 0
    assert (effect.n_seeds, effect.n_examples) == (3, 500)
    assert verdict(effect, expected_sign=-1) == "holds"


def test_reversed_effect_is_contradicted():
    a, b = fixed_arms()
    effect = paired_effect(b, a)
    assert effect.mean_diff == pytest.approx(6.0)
    assert effect.ci_low > 0
    assert verdict(effect, expected_sign=-1) == "contradicted"
    assert verdict(effect, expected_sign=1) == "holds"


def test_identical_arms_with_noise_are_inconclusive():
    a, _ = fixed_arms()
    b = a.copy()
    rng = np.random.default_rng(1)
    for s in range(N_SEEDS):  # ten errors fixed and ten new ones per seed: same error rate
        wrong, right = np.flatnonzero(a[s]), np.flatnonzero(a[s] == 0)
        b[s, rng.choice(wrong, 10, replace=False)] = 0
        b[s, rng.choice(right, 10, replace=False)] = 1
    effect = paired_effect(a, b)
    assert effect.mean_diff == 0.0
    assert effect.ci_low < 0 < effect.ci_high
    assert verdict(effect, -1) == "inconclusive" and verdict(effect, 1) == "inconclusive"
    assert paired_effect(a, a).ci_low == paired_effect(a, a).ci_high == 0.0


def test_interval_contains_the_true_difference():
    rng = np.random.default_rng(7)
    a, b, true_diff = sampled_arms(rng)
    effect = paired_effect(a, b)
    assert effect.ci_low < true_diff < effect.ci_high
    assert effect.mean_diff == pytest.approx(100 * (b.mean() - a.mean()))


def test_interval_coverage_is_near_95_percent():
    rng = np.random.default_rng(11)
    hits = 0
    trials = 60
    for trial in range(trials):
        a, b, true_diff = sampled_arms(rng)
        effect = paired_effect(a, b, n_boot=500, seed=trial)
        hits += effect.ci_low <= true_diff <= effect.ci_high
    assert hits / trials >= 0.85


def test_seed_disagreement_widens_the_interval():
    """Resampling seeds: three seeds that disagree give a wider interval than three that agree."""
    a = np.zeros((3, N_EXAMPLES), dtype=np.int8)
    a[:, :120] = 1
    agree, disagree = a.copy(), a.copy()
    agree[:, :30] = 0  # -6 pp on every seed
    for s, fixed in enumerate([60, 0, 30]):  # -12, 0, -6 pp: same mean
        disagree[s, :fixed] = 0
    e_agree, e_disagree = paired_effect(a, agree), paired_effect(a, disagree)
    assert e_agree.mean_diff == pytest.approx(e_disagree.mean_diff) == pytest.approx(-6.0)
    assert (e_disagree.ci_high - e_disagree.ci_low) > 1.5 * (e_agree.ci_high - e_agree.ci_low)


def test_mde_is_2_8_standard_errors():
    rng = np.random.default_rng(3)
    a, b, _ = sampled_arms(rng, n_seeds=1)
    effect = paired_effect(a, b, n_boot=4000)
    diff = (b - a).astype(float)[0]
    analytic_se = 100 * diff.std() / np.sqrt(diff.size)
    assert effect.se == pytest.approx(analytic_se, rel=0.1)
    assert effect.mde == pytest.approx(2.8 * effect.se)


def test_deterministic_given_seed():
    rng = np.random.default_rng(5)
    a, b, _ = sampled_arms(rng)
    assert paired_effect(a, b, seed=4) == paired_effect(a, b, seed=4)
    assert paired_effect(a, b, seed=4) != paired_effect(a, b, seed=5)


def test_bad_input_raises():
    a, b = fixed_arms()
    with pytest.raises(ValueError, match=r"\(3, 500\).*\(3, 499\)"):
        paired_effect(a, b[:, :-1])
    with pytest.raises(ValueError, match="shape"):
        paired_effect(a[0], b[0])
    bad = b.astype(float)
    bad[1, 7] = 0.5
    with pytest.raises(ValueError, match=r"errors_b.*seed 1, example 7"):
        paired_effect(a, bad)
    with pytest.raises(ValueError, match="expected_sign"):
        verdict(paired_effect(a, b), 0)


def test_describe_line():
    effect = Effect(mean_diff=-3.1, ci_low=-4.2, ci_high=-2.0, n_seeds=3, n_examples=545, mde=2.0)
    line = describe("pretraining lowers TREC-6 validation error", -4.98, effect, -1)
    assert line == ("pretraining lowers TREC-6 validation error: paper \u22124.98; ours \u22123.10 "
                    "[95% CI \u22124.20, \u22122.00] over 3 seeds \u2192 holds")
    unclear = Effect(mean_diff=-0.4, ci_low=-1.5, ci_high=0.7, n_seeds=1, n_examples=545, mde=1.6)
    line = describe("x", -0.63, unclear, -1)
    assert "over 1 seed \u2192 inconclusive" in line and "1.60 pp" in line


def test_mean_std():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0, 3)
    assert mean_std([5.0]) == (5.0, 0.0, 1)
    assert mean_std(iter([4, 6])) == pytest.approx((5.0, np.sqrt(2), 2))
    with pytest.raises(ValueError, match="non-empty"):
        mean_std([])
