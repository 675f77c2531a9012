"""The AWD-LSTM encoder and the language model built on it (Merity et al. 2017; ULMFiT §3.1).

The encoder only assembles the pieces of :mod:`ulmfit_core.dropout`; its hidden state is passed in and
returned (never stored), so the language model can carry it across BPTT windows and the classifier can
carry it across BPT3C chunks.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from ulmfit_core.config import Config, check_range
from ulmfit_core.dropout import EmbeddingDropout, LockedDropout, WeightDropout

Hidden = list[tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class AWDLSTMConfig(Config):
    """Sizes and dropouts of an AWD-LSTM. Defaults: the paper's model (400 / 1150 / 3 layers).

    Dropout defaults are the paper's classifier values (§4 "Hyperparameters"); :func:`lm_dropouts`
    gives the fastai language-model values.
    """

    emb_size: int = 400
    hidden_size: int = 1150
    n_layers: int = 3
    pad_id: int = 1
    embed_p: float = 0.05   # whole-word embedding dropout
    input_p: float = 0.4    # locked dropout on the embedding output
    hidden_p: float = 0.3   # locked dropout between LSTM layers
    weight_p: float = 0.5   # DropConnect on hidden-to-hidden weights
    output_p: float = 0.4   # LM: locked dropout before the decoder; classifier: head dropout

    def __post_init__(self) -> None:
        for name in ("emb_size", "hidden_size", "n_layers"):
            check_range(self, name, low=1, integer=True)
        check_range(self, "pad_id", low=0, integer=True)
        for name in ("embed_p", "input_p", "hidden_p", "weight_p", "output_p"):
            check_range(self, name, low=0.0, high=1.0, high_open=True)

    def with_dropout(self, mult: float) -> "AWDLSTMConfig":
        """Return a copy with every dropout multiplied by ``mult`` (fastai's ``drop_mult``); 0 = vanilla LM."""
        return self.replace(**{k: getattr(self, k) * mult
                               for k in ("embed_p", "input_p", "hidden_p", "weight_p", "output_p")})


def lm_dropouts(cfg: AWDLSTMConfig, mult: float = 1.0) -> AWDLSTMConfig:
    """Return ``cfg`` with the fastai language-model dropouts (input .25, output .1, weight .2, embed .02,
    hidden .15) times ``mult`` — the paper's dropout values are the classifier's (see the deviations page)."""
    return cfg.replace(input_p=0.25 * mult, output_p=0.1 * mult, weight_p=0.2 * mult,
                       embed_p=0.02 * mult, hidden_p=0.15 * mult)


class AWDLSTM(nn.Module):
    """Embedding → (locked dropout → weight-dropped LSTM) × n_layers; the last layer outputs ``emb_size``
    so that a decoder can be tied to the embedding."""

    def __init__(self, vocab_size: int, cfg: AWDLSTMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(vocab_size, cfg.emb_size, padding_idx=cfg.pad_id)
        self.embedding.weight.data.uniform_(-0.1, 0.1)
        self.embedding.weight.data[cfg.pad_id] = 0
        self.embed_dropout = EmbeddingDropout(cfg.embed_p)
        self.input_dropout = LockedDropout(cfg.input_p)
        sizes = [cfg.emb_size] + [cfg.hidden_size] * (cfg.n_layers - 1) + [cfg.emb_size]
        self.rnns = nn.ModuleList(
            WeightDropout(nn.LSTM(sizes[i], sizes[i + 1], batch_first=True), cfg.weight_p)
            for i in range(cfg.n_layers))
        self.hidden_dropouts = nn.ModuleList(LockedDropout(cfg.hidden_p) for _ in range(cfg.n_layers))

    @property
    def out_size(self) -> int:
        return self.cfg.emb_size

    def init_hidden(self, batch_size: int) -> Hidden:
        """Return zero (h, c) states for every layer."""
        w = self.embedding.weight
        return [(w.new_zeros(1, batch_size, rnn.module.hidden_size),
                 w.new_zeros(1, batch_size, rnn.module.hidden_size)) for rnn in self.rnns]

    def forward(self, ids: Tensor, hidden: Hidden | None = None) -> tuple[list[Tensor], list[Tensor], Hidden]:
        """Encode ``ids`` (batch, time).

        Returns (raw outputs per layer, dropped outputs per layer, new hidden state detached from the
        graph). The last layer's dropped output is only dropped by ``hidden_p``; the LM adds ``output_p``.
        """
        if hidden is None:
            hidden = self.init_hidden(ids.size(0))
        x = self.input_dropout(self.embed_dropout(self.embedding, ids))
        raw_outputs, dropped_outputs, new_hidden = [], [], []
        for rnn, hid_dp, h in zip(self.rnns, self.hidden_dropouts, hidden):
            x, (h_n, c_n) = rnn(x, h)
            raw_outputs.append(x)
            new_hidden.append((h_n.detach(), c_n.detach()))
            x = hid_dp(x)
            dropped_outputs.append(x)
        return raw_outputs, dropped_outputs, new_hidden


class LinearDecoder(nn.Module):
    """Output dropout and a linear layer whose weight is tied to the embedding (Merity et al. 2017, §4.5)."""

    def __init__(self, embedding: nn.Embedding, output_p: float) -> None:
        super().__init__()
        self.dropout = LockedDropout(output_p)
        self.decoder = nn.Linear(embedding.embedding_dim, embedding.num_embeddings)
        self.decoder.weight = embedding.weight
        nn.init.zeros_(self.decoder.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return (logits, the dropped input used for AR)."""
        dropped = self.dropout(x)
        return self.decoder(dropped), dropped

    def loss(self, x: Tensor, targets: Tensor, chunk_rows: int = 0) -> tuple[Tensor, Tensor]:
        """Return (mean cross-entropy of the next-token predictions, the dropped input used for AR).

        With ``chunk_rows`` the logits are computed and scored that many positions at a time: the
        same value, but a CPU keeps each (chunk, vocabulary) block in cache — about 1.5× faster LM
        training at a 30k vocabulary on a 2-core CPU. On a GPU one block (``chunk_rows=0``) is fastest.
        """
        dropped = self.dropout(x)
        flat, flat_targets = dropped.flatten(0, 1), targets.flatten()
        size = chunk_rows or flat.size(0)
        total = sum(F.cross_entropy(self.decoder(flat[i:i + size]).float(), flat_targets[i:i + size],
                                    reduction="sum") for i in range(0, flat.size(0), size))
        return total / flat.size(0), dropped


class LanguageModel(nn.Module):
    """AWD-LSTM encoder + tied decoder: the model of general-domain pretraining and LM fine-tuning (§3.1–3.2)."""

    def __init__(self, vocab_size: int, cfg: AWDLSTMConfig) -> None:
        super().__init__()
        self.encoder = AWDLSTM(vocab_size, cfg)
        self.decoder = LinearDecoder(self.encoder.embedding, cfg.output_p)

    def forward(self, ids: Tensor, hidden: Hidden | None = None) -> tuple[Tensor, Tensor, Tensor, Hidden]:
        """Return (logits (batch, time, vocab), last raw output, last dropped output, new hidden)."""
        raw, _, new_hidden = self.encoder(ids, hidden)
        logits, dropped = self.decoder(raw[-1])
        return logits, raw[-1], dropped, new_hidden

    def loss(self, ids: Tensor, targets: Tensor, hidden: Hidden | None = None, chunk_rows: int = 0
             ) -> tuple[Tensor, Tensor, Tensor, Hidden]:
        """Return (mean cross-entropy, last raw output, last dropped output, new hidden) without keeping
        the whole (batch, time, vocabulary) logits — see :meth:`LinearDecoder.loss`."""
        raw, _, new_hidden = self.encoder(ids, hidden)
        loss, dropped = self.decoder.loss(raw[-1], targets, chunk_rows)
        return loss, raw[-1], dropped, new_hidden

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """fastai's LM split: [rnn1], [rnn2], [rnn3], [embedding + decoder] — the groups of discriminative
        fine-tuning (§3.2, eq. 2), lowest first. The tied weight appears once."""
        groups = [list(rnn.parameters()) for rnn in self.encoder.rnns]
        groups.append([self.encoder.embedding.weight, self.decoder.decoder.bias])
        return groups
