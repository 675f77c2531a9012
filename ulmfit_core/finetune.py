"""Which layer groups train when: full, last, gradual unfreezing and chain-thaw (ULMFiT §3.3, Table 7).

A strategy becomes a list of :class:`Stage` s; each stage trains a set of layer groups for some epochs
with one learning-rate cycle of its own (as fastai runs one ``fit`` per unfreezing step).
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

STRATEGIES = ("full", "last", "gradual_unfreeze", "chain_thaw")


@dataclass(frozen=True)
class Stage:
    """Train the layer groups ``groups`` (indices, lowest group 0) for ``epochs`` epochs."""

    groups: tuple[int, ...]
    epochs: int


def full(n_groups: int, epochs: int) -> list[Stage]:
    """All layers at once ("full" in Table 7)."""
    return [Stage(tuple(range(n_groups)), epochs)]


def last(n_groups: int, epochs: int) -> list[Stage]:
    """Only the last layer group, the classifier head ("last" in Table 7)."""
    return [Stage((n_groups - 1,), epochs)]


def gradual_unfreeze(n_groups: int, epochs: int) -> list[Stage]:
    """Gradual unfreezing (§3.3): unfreeze one more group, from the top, per epoch; then train all groups
    for the remaining epochs. With fewer epochs than groups, the last stage is cut short."""
    stages = [Stage(tuple(range(n_groups - k, n_groups)), 1) for k in range(1, n_groups)]
    stages = stages[:max(epochs - 1, 0)]
    return stages + [Stage(tuple(range(n_groups)), max(epochs - len(stages), 1))]


def chain_thaw(n_groups: int, epochs: int) -> list[Stage]:
    """Chain-thaw (Felbo et al. 2017): the new head alone, then each other group alone from the lowest,
    one epoch each, then all groups for the remaining epochs — at least one, so chain-thaw always runs
    ``n_groups + 1`` epochs or more, whatever ``epochs`` says."""
    stages = [Stage((n_groups - 1,), 1)] + [Stage((g,), 1) for g in range(n_groups - 1)]
    return stages + [Stage(tuple(range(n_groups)), max(epochs - len(stages), 1))]


def stages_for(strategy: str, n_groups: int, epochs: int) -> list[Stage]:
    """Return the stages of ``strategy`` (one of :data:`STRATEGIES`)."""
    plans = {"full": full, "last": last, "gradual_unfreeze": gradual_unfreeze, "chain_thaw": chain_thaw}
    if strategy not in plans:
        raise ValueError(f"unknown fine-tuning strategy {strategy!r}; choose one of {STRATEGIES}")
    return plans[strategy](n_groups, epochs)


def freeze_to(groups: list[list[nn.Parameter]], trainable: tuple[int, ...]) -> None:
    """Let only the parameters of the ``trainable`` groups receive gradients."""
    for i, params in enumerate(groups):
        for p in params:
            p.requires_grad_(i in trainable)
