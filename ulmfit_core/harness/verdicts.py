"""Statistics for checking the paper's claims with paired comparisons.

Each claim compares two arms (e.g. without vs with pretraining, Table 4) trained with the same seeds and
scored on the same validation examples. A run stores per-example errors (1 = misclassified), so the two
arms form matrices of shape ``(n_seeds, n_examples)`` aligned by seed and by example.

The uncertainty has two sources — which seeds were drawn and which examples sit in the validation set —
so :func:`paired_effect` uses a two-way (seeds x examples) bootstrap: each replicate resamples seeds
with replacement and, independently, example indices with replacement, and applies the same draw to
both arms, keeping the pairing.

This crossed resampling is conservative: the seed-by-example noise (examples that flip between seeds)
enters through both factors and their product, about three times over. On synthetic arms where that noise
dominates (tests/test_verdicts.py, ``sampled_arms``) the bootstrap standard error was 1.35x the true
spread of ``mean_diff`` and nominal 95% intervals covered 99% of the time. With only a few seeds the seed
factor is resampled from those few values, so a seed-level effect is estimated roughly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

# z_{0.975} + z_{0.80} = 1.96 + 0.84: a true effect this many SEs away from 0 is detected by a two-sided
# 5% test with 80% power (normal approximation).
MDE_Z = 2.8
# Bootstrap replicates are processed in chunks of at most this many (replicate x example) counts.
_CHUNK_CELLS = 4_000_000
VERDICTS = ("holds", "contradicted", "inconclusive")


@dataclass(frozen=True)
class Effect:
    """A paired difference between arm b and arm a, in percentage points of error.

    ``mean_diff`` is the mean over seeds of (error_b - error_a); ``ci_low``/``ci_high`` its 95% bootstrap
    percentile interval; ``se`` the bootstrap standard error; ``mde = 2.8 * se`` the smallest true
    difference detectable with 80% power at alpha = 0.05 (two-sided) with these seeds and examples.
    """

    mean_diff: float
    ci_low: float
    ci_high: float
    n_seeds: int
    n_examples: int
    mde: float
    se: float = float("nan")


def _as_error_matrix(errors: np.ndarray, name: str) -> np.ndarray:
    """Return ``errors`` as a float (n_seeds, n_examples) array of 0/1; raise ``ValueError`` otherwise."""
    arr = np.asarray(errors)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name}: expected shape (n_seeds, n_examples), got {arr.shape}")
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        seed, example = np.argwhere(bad)[0]
        raise ValueError(f"{name}: entry [seed {seed}, example {example}] is {arr[seed, example]!r}, not 0/1")
    return arr.astype(np.float64)


def _bootstrap_diffs(diff: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Return ``n_boot`` two-way bootstrap means (in pp) of the per-seed, per-example differences.

    A replicate's mean over resampled seeds and examples equals ``c_s @ diff @ c_e / (S * N)`` with
    ``c_s``/``c_e`` the multinomial draw counts, which avoids materialising resampled matrices.
    """
    n_seeds, n_examples = diff.shape
    seed_counts = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=n_boot)
    chunk = max(1, _CHUNK_CELLS // n_examples)
    out = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        example_counts = rng.multinomial(n_examples, np.full(n_examples, 1 / n_examples), size=stop - start)
        per_seed = example_counts @ diff.T  # (replicates, seeds): summed differences per seed
        out[start:stop] = (per_seed * seed_counts[start:stop]).sum(axis=1)
    return 100.0 * out / (n_seeds * n_examples)


def paired_effect(errors_a: np.ndarray, errors_b: np.ndarray, n_boot: int = 2000, seed: int = 0) -> Effect:
    """Return the paired effect of arm b vs arm a (error_b - error_a, percentage points).

    ``errors_a``/``errors_b``: 0/1 per-example errors, shape ``(n_seeds, n_examples)``, row ``i`` of both
    from the same seed and column ``j`` the same validation example. The 95% interval comes from a
    seeds x examples bootstrap with ``n_boot`` replicates drawn from ``numpy`` generator ``seed``.
    """
    a = _as_error_matrix(errors_a, "errors_a")
    b = _as_error_matrix(errors_b, "errors_b")
    if a.shape != b.shape:
        raise ValueError(f"errors_a has shape {a.shape} but errors_b has {b.shape}; arms must be paired")
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got n_boot={n_boot}")
    diff = b - a
    boots = _bootstrap_diffs(diff, n_boot, np.random.default_rng(seed))
    ci_low, ci_high = np.percentile(boots, [2.5, 97.5])
    se = float(boots.std(ddof=1))
    return Effect(
        mean_diff=float(100.0 * diff.mean()),
        ci_low=float(ci_low),
        ci_high=float(ci_high),
        n_seeds=a.shape[0],
        n_examples=a.shape[1],
        mde=MDE_Z * se,
        se=se,
    )


def verdict(effect: Effect, expected_sign: int) -> str:
    """Return 'holds', 'contradicted' or 'inconclusive' for a claim about ``effect``.

    ``expected_sign`` is the paper's direction for (b - a): -1 when arm b should have the lower error.
    The claim holds when the 95% interval excludes 0 on that side, is contradicted when it excludes 0 on
    the other side, and is inconclusive when the interval contains 0.
    """
    if expected_sign not in (-1, 1):
        raise ValueError(f"expected_sign must be -1 or +1, got {expected_sign}")
    if effect.ci_high < 0:
        observed = -1
    elif effect.ci_low > 0:
        observed = 1
    else:
        return "inconclusive"
    return "holds" if observed == expected_sign else "contradicted"


def _signed(x: float, digits: int = 2) -> str:
    """Format ``x`` with a typographic minus sign ("n/a" where the paper gives no number)."""
    if np.isnan(x):
        return "n/a"
    return f"{x:.{digits}f}".replace("-", "\u2212")


def signed_pp(value: float | None, digits: int = 2) -> str:
    """``value`` (percentage points) with its sign and a typographic minus ("+1.20", "−0.50"); "n/a"
    where there is no number (``None`` or NaN)."""
    if value is None or np.isnan(value):
        return "n/a"
    return f"{value:+.{digits}f}".replace("-", "\u2212")


def describe(claim: str, paper_diff: float, effect: Effect, expected_sign: int) -> str:
    """Return a one-line verdict, e.g.

    ``pretraining lowers TREC-6 validation error: paper −4.98; ours −3.10 [95% CI −4.20, −2.00] over
    3 seeds → holds``. Inconclusive lines add the smallest effect this comparison could detect.
    """
    outcome = verdict(effect, expected_sign)
    seeds = f"{effect.n_seeds} seed" + ("s" if effect.n_seeds != 1 else "")
    line = (
        f"{claim}: paper {_signed(paper_diff)}; ours {_signed(effect.mean_diff)} "
        f"[95% CI {_signed(effect.ci_low)}, {_signed(effect.ci_high)}] over {seeds} \u2192 {outcome}"
    )
    if outcome == "inconclusive":
        line += f" (smallest detectable effect \u2248 {effect.mde:.2f} pp)"
    return line


def mean_std(values: Iterable[float]) -> tuple[float, float, int]:
    """Return (mean, sample standard deviation with ddof=1 — 0.0 for one value, n) of ``values``."""
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"mean_std needs a non-empty flat sequence of numbers, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"mean_std: non-finite value among {arr.tolist()}")
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), std, int(arr.size)
