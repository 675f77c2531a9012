"""STLR (§3.2, eq. 3 of v5), cosine and constant schedules, discriminative rates (eq. 2)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ulmfit_core.schedules import (
    SCHEDULES,
    constant,
    cosine,
    discriminative_lrs,
    make_scheduler,
    slanted_triangular,
)

# (T, cut_frac, ratio) with T * cut_frac an integer, where the v5 decay length equals T - cut.
CASES = [(100, 0.1, 32), (1000, 0.1, 32), (30, 1 / 3, 8), (64, 0.125, 8), (10, 0.5, 4), (37, 0.1, 32)]


def expected_stlr(total: int, cut_frac: float, ratio: float) -> list[float]:
    """The v5 equation written out step by step, independently of the module."""
    cut = int(total * cut_frac + 1e-9)
    out = []
    for t in range(total):
        if t < cut:
            p = t / cut
        else:
            p = 1 - (t - cut) / (cut * (1 / cut_frac - 1))
        out.append((1 + p * (ratio - 1)) / ratio)
    return out


@pytest.mark.parametrize("total,cut_frac,ratio", CASES[:-1])
def test_stlr_matches_v5_equation_at_every_step(total, cut_frac, ratio):
    got = [slanted_triangular(t, total, cut_frac, ratio) for t in range(total)]
    assert got == pytest.approx(expected_stlr(total, cut_frac, ratio), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("total,cut_frac,ratio", CASES[:-1])
def test_stlr_is_two_straight_lines(total, cut_frac, ratio):
    """Geometrically: a ramp 1/ratio -> 1 over `cut` updates, then a ramp 1 -> 1/ratio over T - cut."""
    cut = round(total * cut_frac)
    up = np.linspace(1 / ratio, 1, cut + 1)
    down = np.linspace(1, 1 / ratio, total - cut + 1)[1:-1]
    got = [slanted_triangular(t, total, cut_frac, ratio) for t in range(total)]
    np.testing.assert_allclose(got, np.concatenate([up, down]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("total,cut_frac,ratio", CASES)
def test_stlr_starts_low_peaks_at_cut_and_ends_low(total, cut_frac, ratio):
    cut = math.floor(total * cut_frac + 1e-9)
    values = [slanted_triangular(t, total, cut_frac, ratio) for t in range(total + 1)]
    assert values[0] == pytest.approx(1 / ratio)
    assert values[cut] == 1.0
    assert max(values) == 1.0 and values.index(1.0) == cut
    assert all(a < b for a, b in zip(values[:cut], values[1 : cut + 1]))
    assert all(a >= b for a, b in zip(values[cut:], values[cut + 1 :]))
    assert values[total - 1] < 1 / ratio + 2 * (1 - 1 / ratio) / (total - cut)
    assert values[total] == pytest.approx(1 / ratio)
    assert min(values) >= 1 / ratio - 1e-12


def test_stlr_paper_defaults():
    # T = 1000: cut = 100; eta_max / 32 at t = 0, eta_max at t = 100, halfway down at t = 550.
    assert slanted_triangular(0, 1000) == 1 / 32
    assert slanted_triangular(100, 1000) == 1.0
    assert slanted_triangular(50, 1000) == pytest.approx((1 + 0.5 * 31) / 32)
    assert slanted_triangular(550, 1000) == pytest.approx(16.5 / 32)


def test_stlr_detects_older_wrong_denominator():
    """Some copies divide by cut * (ratio - 1); v5 divides by cut * (1 / cut_frac - 1)."""
    total, cut_frac, ratio, cut = 1000, 0.1, 32, 100

    def wrong(t: int) -> float:
        p = t / cut if t < cut else 1 - (t - cut) / (cut * (ratio - 1))
        return (1 + p * (ratio - 1)) / ratio

    for t, right in [(550, 16.5 / 32), (999, (1 + 31 / 900) / 32), (325, (1 + 0.75 * 31) / 32)]:
        got = slanted_triangular(t, total, cut_frac, ratio)
        assert got == pytest.approx(right, rel=1e-12)
        assert abs(got - wrong(t)) > 0.1


def test_stlr_never_negative_when_cut_is_floored():
    # T = 15, cut_frac = 0.1: cut = 1 and the v5 decay length is 9 < 14 updates; the raw equation
    # would go negative at t = 14 ((1 + (1 - 13/9) * 31) / 32 < 0). The clamp holds it at 1/ratio.
    raw = (1 + (1 - 13 / 9) * 31) / 32
    assert raw < 0
    assert slanted_triangular(14, 15) == pytest.approx(1 / 32)
    assert slanted_triangular(10, 15) == pytest.approx(1 / 32)
    assert slanted_triangular(5, 15) == pytest.approx((1 + (1 - 4 / 9) * 31) / 32)


def test_stlr_without_warmup_when_cut_is_zero():
    # T = 5, cut_frac = 0.1: cut = 0; start at the peak and decay linearly.
    values = [slanted_triangular(t, 5) for t in range(6)]
    assert values[0] == 1.0
    assert values[5] == pytest.approx(1 / 32)
    assert all(a > b for a, b in zip(values, values[1:]))


@pytest.mark.parametrize(
    "kwargs,word",
    [
        ({"t": 0, "total": 100, "cut_frac": 0.0}, "cut_frac"),
        ({"t": 0, "total": 100, "cut_frac": 1.0}, "cut_frac"),
        ({"t": 0, "total": 100, "ratio": 0.5}, "ratio"),
        ({"t": 0, "total": 0}, "total"),
        ({"t": -1, "total": 10}, "t=-1"),
        ({"t": 11, "total": 10}, "t=11"),
    ],
)
def test_stlr_bad_arguments_raise(kwargs, word):
    with pytest.raises(ValueError, match=word):
        slanted_triangular(**kwargs)


def test_cosine_and_constant():
    assert cosine(0, 100) == 1.0
    assert cosine(50, 100) == pytest.approx(0.5)
    assert cosine(100, 100) == pytest.approx(0.0)
    assert cosine(100, 100, floor=0.1) == pytest.approx(0.1)
    assert cosine(25, 100) == pytest.approx((1 + math.cos(math.pi / 4)) / 2)
    assert all(constant(t, 7) == 1.0 for t in range(8))
    with pytest.raises(ValueError, match="floor"):
        cosine(0, 10, floor=1.0)
    assert set(SCHEDULES) == {"stlr", "cos", "constant"}


def test_discriminative_lrs_divide_by_2_6_per_group():
    lrs = discriminative_lrs(0.01, 5)
    assert len(lrs) == 5
    assert lrs[-1] == 0.01
    for lower, upper in zip(lrs, lrs[1:]):
        assert upper == pytest.approx(lower * 2.6, rel=1e-12)
    assert lrs[0] == pytest.approx(0.01 / 2.6**4)
    assert discriminative_lrs(0.004, 1) == [0.004]
    assert discriminative_lrs(1.0, 3, factor=2.0) == [0.25, 0.5, 1.0]
    with pytest.raises(ValueError, match="n_groups"):
        discriminative_lrs(0.01, 0)
    with pytest.raises(ValueError, match="lr_last"):
        discriminative_lrs(-0.01, 3)


def _two_group_optimizer(lrs: list[float]) -> torch.optim.Optimizer:
    layer = torch.nn.Linear(3, 2)
    groups = [{"params": [layer.weight], "lr": lrs[0]}, {"params": [layer.bias], "lr": lrs[1]}]
    return torch.optim.Adam(groups, betas=(0.7, 0.99))


def _run(optimizer, scheduler, steps: int) -> list[list[float]]:
    """Return each group's lr before each update (steps + 1 readings)."""
    layer_params = [p for g in optimizer.param_groups for p in g["params"]]
    seen = [[g["lr"] for g in optimizer.param_groups]]
    for _ in range(steps):
        loss = sum((p**2).sum() for p in layer_params)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        seen.append([g["lr"] for g in optimizer.param_groups])
    return seen


def test_make_scheduler_scales_each_discriminative_rate():
    base = discriminative_lrs(0.01, 2)
    total = 40
    optimizer = _two_group_optimizer(base)
    seen = _run(optimizer, make_scheduler(optimizer, "stlr", total), total)
    for t, lrs in enumerate(seen):
        mult = slanted_triangular(t, total)
        assert lrs == pytest.approx([base[0] * mult, base[1] * mult], rel=1e-12)
    assert seen[0] == pytest.approx([base[0] / 32, base[1] / 32])
    assert seen[4] == pytest.approx(base)  # cut = floor(40 * 0.1) = 4: the peak is each group's own rate
    assert seen[4][1] / seen[4][0] == pytest.approx(2.6)


def test_make_scheduler_cosine_with_kwargs():
    optimizer = _two_group_optimizer([0.001, 0.01])
    seen = _run(optimizer, make_scheduler(optimizer, "cos", 10, floor=0.2), 10)
    assert seen[0] == pytest.approx([0.001, 0.01])
    assert seen[5] == pytest.approx([0.0006, 0.006])
    assert seen[10] == pytest.approx([0.0002, 0.002])


def test_make_scheduler_rejects_bad_input_up_front():
    optimizer = _two_group_optimizer([0.001, 0.01])
    with pytest.raises(ValueError, match="unknown schedule 'triangle'"):
        make_scheduler(optimizer, "triangle", 10)
    with pytest.raises(ValueError, match="cut_frac"):
        make_scheduler(optimizer, "stlr", 10, cut_frac=1.5)
    with pytest.raises(ValueError, match="bad arguments"):
        make_scheduler(optimizer, "constant", 10, ratio=8)
