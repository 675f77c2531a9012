"""The AWD-LSTM's three dropouts (Merity et al. 2017; ULMFiT §3.1 uses them unchanged).

- :class:`LockedDropout` — variational dropout: one mask per sequence, reused at every time step.
- :class:`EmbeddingDropout` — drops whole words: rows of the embedding matrix.
- :class:`WeightDropout` — DropConnect on an LSTM's hidden-to-hidden matrix, re-sampled every forward,
  while the fused (cuDNN) LSTM kernel still runs.
"""
from __future__ import annotations

import warnings

import torch.nn.functional as F
from torch import Tensor, nn


def dropout_mask(like: Tensor, shape: tuple[int, ...], p: float) -> Tensor:
    """Return a Bernoulli(1-p) mask of ``shape``, scaled by 1/(1-p), on ``like``'s device and dtype."""
    return like.new_empty(shape).bernoulli_(1 - p).div_(1 - p)


class LockedDropout(nn.Module):
    """Dropout with one mask of shape (batch, 1, features) shared by all time steps; identity in eval."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:  # x: (batch, time, features)
        if not self.training or self.p == 0:
            return x
        return x * dropout_mask(x, (x.size(0), 1, x.size(2)), self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class EmbeddingDropout(nn.Module):
    """Look words up in an embedding whose whole rows are dropped with probability ``p`` while training.

    The mask has shape (vocab, 1): a dropped word is zero at every position of the batch. The embedding
    is passed in, not owned, so its weight appears once in the model's state.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, emb: nn.Embedding, ids: Tensor) -> Tensor:
        weight = emb.weight
        if self.training and self.p > 0:
            weight = weight * dropout_mask(weight, (weight.size(0), 1), self.p)
        return F.embedding(ids, weight, emb.padding_idx)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class WeightDropout(nn.Module):
    """DropConnect on the hidden-to-hidden weights of a wrapped ``nn.LSTM`` (Merity et al. 2017, §2).

    The real parameter is kept as ``weight_hh_l0_raw``; each forward writes a freshly dropped copy into the
    LSTM as a plain tensor, so the fused kernel runs on it and gradients flow back to the raw weights.
    In eval mode (or with p = 0) the copy is undropped — a clone, never the Parameter itself, which would
    break the next assignment.
    """

    def __init__(self, module: nn.LSTM, p: float, names: tuple[str, ...] = ("weight_hh_l0",)) -> None:
        super().__init__()
        self.module, self.p, self.names = module, p, names
        for name in names:
            raw = getattr(module, name)
            delattr(module, name)
            self.register_parameter(f"{name}_raw", nn.Parameter(raw.data))
            setattr(module, name, raw.data.clone())
        # The LSTM would otherwise try to re-flatten weights that are no longer its parameters.
        module.flatten_parameters = lambda *args, **kwargs: None  # type: ignore[method-assign]

    def _set_weights(self) -> None:
        for name in self.names:
            raw = getattr(self, f"{name}_raw")
            if self.training and self.p > 0:
                weight = F.dropout(raw, p=self.p, training=True)
            else:
                weight = raw * 1.0  # a new tensor that still carries the gradient to `raw`
            setattr(self.module, name, weight)

    def forward(self, *args, **kwargs):
        self._set_weights()
        with warnings.catch_warnings():
            # "RNN module weights are not part of single contiguous chunk": expected, weights are swapped in.
            warnings.simplefilter("ignore", category=UserWarning)
            return self.module(*args, **kwargs)
