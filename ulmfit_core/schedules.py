"""Learning-rate schedules and discriminative learning rates (paper §3.2).

A schedule here is a *multiplier* ``f(t, total) -> float`` of each parameter group's own base rate, so
discriminative fine-tuning (eq. 2: one rate per layer group) and slanted triangular learning rates (STLR,
eq. 3 of arXiv 1801.06146 v5) compose: group ``l`` trains at ``eta^l * f(t, T)``.

``t`` counts optimiser updates from 0; ``t == total`` is allowed so that a scheduler stepped once after
each of ``total`` updates can still be evaluated after the last one.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

Schedule = Callable[..., float]

# ``total * cut_frac`` is floored after rounding away binary noise (0.29 * 100 == 28.999999999999996).
_FLOOR_DIGITS = 9


def _check_step(t: int, total: int) -> None:
    """Raise ``ValueError`` unless ``total >= 1`` and ``0 <= t <= total``."""
    if total < 1:
        raise ValueError(f"total must be >= 1 update, got total={total}")
    if not 0 <= t <= total:
        raise ValueError(f"step t={t} is outside 0..total={total}")


def stlr_cut(total: int, cut_frac: float = 0.1) -> int:
    """Return ``cut = floor(T * cut_frac)``, the update at which STLR peaks (§3.2, eq. 3)."""
    return math.floor(round(total * cut_frac, _FLOOR_DIGITS))


def slanted_triangular(t: int, total: int, cut_frac: float = 0.1, ratio: float = 32) -> float:
    """Return the STLR multiplier of ``eta_max`` at update ``t`` of ``total`` (§3.2, eq. 3, v5).

    ``cut = floor(T * cut_frac)``; ``p = t / cut`` if ``t < cut`` else
    ``1 - (t - cut) / (cut * (1 / cut_frac - 1))``; multiplier ``(1 + p * (ratio - 1)) / ratio``.
    It rises linearly from ``1 / ratio`` at ``t = 0`` to exactly 1 at ``t = cut``, then falls linearly
    back towards ``1 / ratio`` at ``t = T``. Paper defaults: ``cut_frac = 0.1``, ``ratio = 32``.

    Two guards keep the result in ``[1 / ratio, 1]``:
    - ``cut == 0`` (``T * cut_frac < 1``): no warm-up; ``p = 1 - t / T``.
    - when ``T * cut_frac`` is not an integer the v5 decay length ``cut * (1 / cut_frac - 1)`` is shorter
      than ``T - cut`` and ``p`` would turn negative (a negative learning rate) in the last few updates;
      ``p`` is clamped at 0 there. Where ``T * cut_frac`` is an integer the two lengths are equal and the
      clamp never acts.
    """
    if not 0 < cut_frac < 1:
        raise ValueError(f"cut_frac must be in (0, 1), got cut_frac={cut_frac}")
    if ratio < 1:
        raise ValueError(f"ratio must be >= 1, got ratio={ratio}")
    _check_step(t, total)
    cut = stlr_cut(total, cut_frac)
    if cut == 0:
        p = 1 - t / total
    elif t < cut:
        p = t / cut
    else:
        p = 1 - (t - cut) / (cut * (1 / cut_frac - 1))
    p = max(p, 0.0)
    return (1 + p * (ratio - 1)) / ratio


def cosine(t: int, total: int, floor: float = 0.0) -> float:
    """Return the cosine-annealing multiplier at update ``t``: 1 at ``t = 0``, ``floor`` at ``t = T``.

    ``floor + (1 - floor) * (1 + cos(pi * t / T)) / 2`` — the "cos" schedule of Table 7.
    """
    if not 0 <= floor < 1:
        raise ValueError(f"floor must be in [0, 1), got floor={floor}")
    _check_step(t, total)
    return floor + (1 - floor) * (1 + math.cos(math.pi * t / total)) / 2


def constant(t: int, total: int) -> float:
    """Return 1.0: a fixed learning rate (the Table 7 rows without "stlr" or "cos")."""
    _check_step(t, total)
    return 1.0


SCHEDULES: dict[str, Schedule] = {
    "stlr": slanted_triangular,
    "cos": cosine,
    "constant": constant,
}


def make_scheduler(
    optimizer: torch.optim.Optimizer, name: str, total_steps: int, **kw: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Return a ``LambdaLR`` that scales every param group's initial lr by schedule ``name``.

    Each group's initial lr is its discriminative rate (eq. 2), so group ``l`` runs at
    ``eta^l * SCHEDULES[name](t, total_steps, **kw)``. Call ``scheduler.step()`` once after each
    ``optimizer.step()``. Bad names or arguments raise ``ValueError`` here, not mid-training.
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; valid: {sorted(SCHEDULES)}")
    schedule = SCHEDULES[name]
    try:
        schedule(0, total_steps, **kw)
    except TypeError as err:
        raise ValueError(f"schedule {name!r}: bad arguments {kw} ({err})") from err

    def multiplier(step: int) -> float:
        return schedule(step, total_steps, **kw)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)


def discriminative_lrs(lr_last: float, n_groups: int, factor: float = 2.6) -> list[float]:
    """Return one learning rate per layer group, lowest group first (§3.2, eq. 2).

    The last group gets ``lr_last``; each group below gets the rate above divided by ``factor``:
    ``eta^(l-1) = eta^l / 2.6``.
    """
    if not lr_last > 0:
        raise ValueError(f"lr_last must be > 0, got lr_last={lr_last}")
    if n_groups < 1:
        raise ValueError(f"n_groups must be >= 1, got n_groups={n_groups}")
    if not factor > 0:
        raise ValueError(f"factor must be > 0, got factor={factor}")
    lrs = [lr_last]
    for _ in range(n_groups - 1):
        lrs.append(lrs[-1] / factor)
    return lrs[::-1]
