"""The target-task classifier (ULMFiT §3.3): BPT3C encoding, concat pooling and a two-block head."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ulmfit_core.awd_lstm import AWDLSTM, AWDLSTMConfig, Hidden


def masked_concat_pool(output: Tensor, mask: Tensor, last_index: Tensor) -> Tensor:
    """Concat pooling h_c = [h_T, maxpool(H), meanpool(H)] (§3.3, eq. 4) over real tokens only.

    ``output`` (batch, time, features); ``mask`` (batch, time) True at padding; ``last_index`` (batch,)
    the position of each document's last real token. Returns (batch, 3·features).
    """
    real = (~mask).unsqueeze(-1)
    n_real = real.sum(1).clamp(min=1).to(output.dtype)
    mean = output.masked_fill(~real, 0).sum(1) / n_real
    maxed = output.masked_fill(~real, float("-inf")).max(1).values
    last = output[torch.arange(output.size(0), device=output.device), last_index]
    return torch.cat([last, maxed, mean], dim=1)


class SentenceEncoder(nn.Module):
    """BPT3C — backpropagation through time for text classification (§3.3).

    A document is cut into chunks of ``bptt`` tokens; each chunk starts from the previous chunk's final
    state, detached as in fastai. Only chunks within a document's last ``max_len`` tokens keep their
    outputs (for pooling) and so their gradients; chunks no document keeps run without a graph. Documents are laid out so that each one starts on a chunk
    boundary and the longest ones share chunk positions (as fastai's ``pad_input_chunk``): padding
    never passes through the LSTM before a real token, so a document's output does not depend on how
    much padding its batch needed.
    """

    def __init__(self, encoder: AWDLSTM, bptt: int = 70, max_len: int = 70 * 20) -> None:
        super().__init__()
        if bptt < 1 or max_len < 1:
            raise ValueError(f"bptt ({bptt}) and max_len ({max_len}) must be positive")
        self.encoder, self.bptt, self.max_len = encoder, bptt, max_len

    def forward(self, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Encode right-padded ``ids`` (batch, time) whose documents have ``lengths``.

        Returns (outputs from the first kept chunk on (batch, kept, features), mask (batch, kept) True where
        a position is padding or outside its document's last ``max_len`` tokens, index of each document's
        last token within the kept outputs), rows in input order.
        """
        if int(lengths.min()) < 1:
            raise ValueError("every document needs at least one token (got a length of 0)")
        bptt, pad = self.bptt, self.encoder.cfg.pad_id
        order = torch.argsort(lengths, descending=True, stable=True)
        sizes = lengths[order].tolist()
        n_chunks = -(-sizes[0] // bptt)
        lead = [(sizes[0] - n) // bptt for n in sizes]  # whole empty chunks before each document
        # First chunk of each document whose outputs are kept: within its last max_len tokens.
        kept_from = [k + max(0, -(-(n - self.max_len) // bptt)) for n, k in zip(sizes, lead)]
        first = min(kept_from)
        # The longest document ends last (every other one ends no later), so the last chunk is cut there.
        laid = ids.new_full((ids.size(0), sizes[0]), pad)
        for row, (src, n, k) in enumerate(zip(order.tolist(), sizes, lead)):
            laid[row, k * bptt: k * bptt + n] = ids[src, :n]
        hidden: Hidden | None = None
        outputs = []
        for chunk in range(n_chunks):
            active = sum(k <= chunk for k in lead)  # a prefix: documents are sorted longest first
            hidden = self._grow(hidden, active)
            with torch.set_grad_enabled(torch.is_grad_enabled() and chunk >= first):
                # The returned state is detached: no gradient crosses a chunk boundary (as in fastai).
                raw, _, hidden = self.encoder(laid[:active, chunk * bptt:(chunk + 1) * bptt], hidden)
            if chunk >= first:
                out = raw[-1]
                outputs.append(torch.cat([out, out.new_zeros(ids.size(0) - active, *out.shape[1:])]))
        positions = torch.arange(first * bptt, sizes[0], device=ids.device)
        starts = torch.tensor(kept_from, device=ids.device).unsqueeze(1) * bptt
        mask = (laid[:, first * bptt:] == pad) | (positions.unsqueeze(0) < starts)
        last = torch.tensor([k * bptt + n - 1 - first * bptt for n, k in zip(sizes, lead)], device=ids.device)
        inverse = torch.argsort(order)
        return torch.cat(outputs, dim=1)[inverse], mask[inverse], last[inverse]

    def _grow(self, hidden: Hidden | None, active: int) -> Hidden:
        """Return ``hidden`` extended with zero states for documents that start in this chunk."""
        fresh = self.encoder.init_hidden(active)
        if hidden is None:
            return fresh
        return [(torch.cat([h, z_h[:, h.size(1):]], 1), torch.cat([c, z_c[:, c.size(1):]], 1))
                for (h, c), (z_h, z_c) in zip(hidden, fresh)]


def head_block(n_in: int, n_out: int, p: float, relu: bool) -> list[nn.Module]:
    """One block of the head: batch norm, dropout, linear (and ReLU between blocks) (§3.3)."""
    layers: list[nn.Module] = [nn.BatchNorm1d(n_in), nn.Dropout(p), nn.Linear(n_in, n_out)]
    return layers + [nn.ReLU(inplace=True)] if relu else layers


class PoolingClassifier(nn.Module):
    """Concat pooling followed by two head blocks (hidden size 50); returns logits (softmax in the loss)."""

    def __init__(self, n_in: int, n_classes: int, hidden: int = 50, p: float = 0.4) -> None:
        super().__init__()
        self.layers = nn.Sequential(*head_block(3 * n_in, hidden, p, relu=True),
                                    *head_block(hidden, n_classes, 0.1, relu=False))

    def forward(self, output: Tensor, mask: Tensor, last: Tensor) -> Tensor:
        return self.layers(masked_concat_pool(output, mask, last))


class TextClassifier(nn.Module):
    """AWD-LSTM encoder (through BPT3C) + pooling head: the ULMFiT classifier."""

    def __init__(self, vocab_size: int, n_classes: int, cfg: AWDLSTMConfig, bptt: int = 70,
                 max_len: int = 70 * 20, head_hidden: int = 50) -> None:
        super().__init__()
        self.encoder = SentenceEncoder(AWDLSTM(vocab_size, cfg), bptt, max_len)
        self.head = PoolingClassifier(cfg.emb_size, n_classes, head_hidden, cfg.output_p)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """Return logits (batch, classes) for right-padded ``ids`` with ``lengths``."""
        return self.head(*self.encoder(ids, lengths))

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """fastai's classifier split: [embedding], [rnn1], [rnn2], [rnn3], [head], lowest first."""
        awd = self.encoder.encoder
        return ([[awd.embedding.weight]] + [list(rnn.parameters()) for rnn in awd.rnns]
                + [list(self.head.parameters())])
