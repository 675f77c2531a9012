"""Activation regularisation (AR) and temporal activation regularisation (TAR) (Merity et al. 2017, §4.6).

Kept apart from the model, as in fastai's ``RNNRegularizer``; the language-model loss adds this term.
"""
from __future__ import annotations

from torch import Tensor


def ar_tar_loss(dropped_last: Tensor, raw_last: Tensor, alpha: float = 2.0, beta: float = 1.0) -> Tensor:
    """Return α·mean(dropped_last²) + β·mean((h_t − h_{t−1})²) over the last LSTM layer's outputs.

    ``dropped_last`` is the last layer's output after dropout (AR); ``raw_last`` the output before it (TAR);
    both (batch, time, features).
    """
    loss = dropped_last.new_zeros(())
    if alpha:
        loss = loss + alpha * dropped_last.float().pow(2).mean()
    if beta and raw_last.size(1) > 1:
        loss = loss + beta * (raw_last[:, 1:] - raw_last[:, :-1]).float().pow(2).mean()
    return loss
