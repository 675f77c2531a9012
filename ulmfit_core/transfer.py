"""Moving weights between vocabularies and from a language model into a classifier (ULMFiT §3.2–3.3)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

EMBEDDING = "encoder.embedding.weight"
DECODER_WEIGHT = "decoder.decoder.weight"
DECODER_BIAS = "decoder.decoder.bias"


def match_embeddings(state: dict[str, Tensor], old_itos: Sequence[str],
                     new_itos: Sequence[str]) -> dict[str, Tensor]:
    """Return a copy of a language model's ``state`` re-indexed from ``old_itos`` to ``new_itos``.

    Words in both keep their rows; new words get the mean embedding row and the mean decoder bias
    (fastai's ``match_embeds``). The tied decoder weight follows the embedding.
    """
    old_index = {w: i for i, w in enumerate(old_itos)}
    emb = state[EMBEDDING]
    if emb.size(0) != len(old_itos):
        raise ValueError(f"embedding has {emb.size(0)} rows but the old vocabulary has {len(old_itos)} words")
    rows = torch.tensor([old_index.get(w, -1) for w in new_itos])
    found = rows >= 0
    new_state = dict(state)
    for key in (EMBEDDING, DECODER_BIAS):
        if key not in state:
            continue
        old = state[key]
        new = old.mean(0, keepdim=True).expand(len(new_itos), *old.shape[1:]).clone()
        new[found] = old[rows[found]]
        new_state[key] = new
    if DECODER_WEIGHT in state:
        new_state[DECODER_WEIGHT] = new_state[EMBEDDING]
    return new_state


def encoder_state(lm_state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Return the AWD-LSTM encoder's weights from a language model's state, keys without ``encoder.``."""
    return {k[len("encoder."):]: v for k, v in lm_state.items() if k.startswith("encoder.")}
