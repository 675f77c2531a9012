"""Batches for the two kinds of training: a language-model token stream and padded classification batches."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Sampler


def concat_docs(docs: Sequence[np.ndarray], seed: int | None) -> np.ndarray:
    """Concatenate documents into one stream, shuffled with ``seed`` (``None`` keeps their order)."""
    order = np.arange(len(docs)) if seed is None else np.random.default_rng(seed).permutation(len(docs))
    return np.concatenate([docs[i] for i in order]).astype(np.int64)


def window_lengths(total: int, bptt: int, variable: bool, seed: int) -> list[int]:
    """Return the BPTT window lengths that cover ``total`` positions (see :class:`LMStream`)."""
    rng = np.random.default_rng(seed)
    lengths, covered = [], 0
    while covered < total:
        if variable:
            base = bptt if rng.random() < 0.95 else bptt / 2
            length = max(5, int(rng.normal(base, 5)))
        else:
            length = bptt
        lengths.append(min(length, total - covered))
        covered += lengths[-1]
    return lengths


@dataclass
class LMStream:
    """A token stream cut into ``batch_size`` parallel rows and read in windows of about ``bptt`` tokens.

    Variable-length BPTT (Merity et al. 2017, §4.1): each window is ``bptt`` with probability 0.95, else
    ``bptt / 2``, jittered by N(0, 5) and at least 5 — drawn from a generator seeded with ``seed`` so the
    number of windows (hence the schedule length) is known before the epoch and repeats exactly on resume.
    """

    stream: np.ndarray
    batch_size: int
    bptt: int = 70
    variable: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        n_rows = len(self.stream) // self.batch_size
        if n_rows < 2:
            raise ValueError(f"a stream of {len(self.stream)} tokens is too short for batch size "
                             f"{self.batch_size} (needs at least {2 * self.batch_size})")
        self.rows = torch.from_numpy(self.stream[: n_rows * self.batch_size].reshape(self.batch_size, n_rows))
        self.windows = window_lengths(n_rows - 1, self.bptt, self.variable, self.seed)

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def n_tokens(self) -> int:
        """Tokens predicted in one pass over the stream."""
        return sum(self.windows) * self.batch_size

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield (input, target) windows of shape (batch, length); target is input shifted by one."""
        start = 0
        for length in self.windows:
            yield self.rows[:, start:start + length], self.rows[:, start + 1:start + 1 + length]
            start += length


class SortishSampler(Sampler[int]):
    """Shuffle, then sort by length inside chunks of 50 batches; largest batch first, a short batch last
    (fastai's ``SortedDL``).

    Batches hold documents of similar length (little padding) while their order stays random.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 0) -> None:
        self.lengths, self.batch_size, self.seed, self.epoch = np.asarray(lengths), batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng((self.seed, self.epoch))
        idx = rng.permutation(len(self.lengths))
        chunk = self.batch_size * 50
        idx = np.concatenate([sorted(idx[i:i + chunk], key=lambda j: -self.lengths[j])
                              for i in range(0, len(idx), chunk)]).astype(int)
        batches = [idx[i:i + self.batch_size] for i in range(0, len(idx), self.batch_size)]
        # The short batch (if any) goes last, so the loader's cuts every batch_size items stay on
        # batch boundaries; the longest full batch goes first (memory peaks at once), the rest shuffled.
        short = [batches.pop()] if len(batches[-1]) < self.batch_size else []
        if batches:
            longest = int(np.argmax([self.lengths[b[0]] for b in batches]))
            batches[0], batches[longest] = batches[longest], batches[0]
            rest = batches[1:]
            batches = [batches[0]] + [rest[i] for i in rng.permutation(len(rest))]
        return iter(np.concatenate(batches + short).tolist())


@dataclass(frozen=True)
class TextBatch:
    """A padded classification batch; ``index`` maps each row back to its position in the dataset."""

    ids: Tensor       # (batch, time), right-padded
    lengths: Tensor   # (batch,)
    labels: Tensor    # (batch,)
    index: Tensor     # (batch,)


class TextDataset(torch.utils.data.Dataset):
    """Numericalised documents with labels; item = (token ids, label, index)."""

    def __init__(self, docs: Sequence[np.ndarray], labels: Sequence[int]) -> None:
        if len(docs) == 0:
            raise ValueError("a dataset needs at least one document; got no documents")
        if len(docs) != len(labels):
            raise ValueError(f"{len(docs)} documents but {len(labels)} labels")
        empty = [i for i, d in enumerate(docs) if len(d) == 0]
        if empty:
            raise ValueError(f"document {empty[0]} has no tokens ({len(empty)} empty in all)")
        self.docs, self.labels = list(docs), np.asarray(labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.docs)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int, int]:
        return self.docs[i], int(self.labels[i]), i

    @property
    def lengths(self) -> list[int]:
        return [len(d) for d in self.docs]


def pad_collate(items: Sequence[tuple[np.ndarray, int, int]], pad_id: int = 1) -> TextBatch:
    """Right-pad a list of (ids, label, index) items into a :class:`TextBatch`."""
    lengths = [len(ids) for ids, _, _ in items]
    out = torch.full((len(items), max(lengths)), pad_id, dtype=torch.long)
    for row, (ids, _, _) in enumerate(items):
        out[row, :len(ids)] = torch.as_tensor(ids, dtype=torch.long)
    return TextBatch(out, torch.tensor(lengths), torch.tensor([y for _, y, _ in items]),
                     torch.tensor([i for _, _, i in items]))


def text_loader(data: TextDataset, batch_size: int, train: bool, seed: int = 0,
                pad_id: int = 1) -> torch.utils.data.DataLoader:
    """Return a loader: sortish-shuffled batches when training, longest-first sorted batches otherwise."""
    if train:
        sampler: Sampler[int] | list[int] = SortishSampler(data.lengths, batch_size, seed)
    else:
        sampler = sorted(range(len(data)), key=lambda i: -data.lengths[i])
    # A training batch of one document would break batch norm in the head: drop that one (it is a
    # different document each epoch).
    drop_last = train and len(data) % batch_size == 1 and len(data) > 1
    return torch.utils.data.DataLoader(data, batch_size=batch_size, sampler=sampler, drop_last=drop_last,
                                       collate_fn=lambda items: pad_collate(items, pad_id))
