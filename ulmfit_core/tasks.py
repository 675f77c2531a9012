"""The two tasks the training loop runs: language modelling and text classification."""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from ulmfit_core.awd_lstm import Hidden, LanguageModel
from ulmfit_core.batching import LMStream, TextBatch, TextDataset, concat_docs, text_loader, window_lengths
from ulmfit_core.regularize import ar_tar_loss
from ulmfit_core.train import perplexity


def cpu_chunk(device: torch.device) -> int:
    """Positions scored at a time by the LM loss: small blocks on the CPU (cache), all at once on a GPU."""
    return 128 if device.type == "cpu" else 0


class LMTask:
    """Next-token prediction over a document stream, reshuffled each epoch, hidden state carried across
    windows; loss = cross-entropy + AR/TAR (α, β).

    Data parallel (see :mod:`ulmfit_core.distributed`): ``batch_size`` stays the global batch of rows, and
    process ``rank`` of ``world_size`` trains on rows ``[rank·b, (rank+1)·b)``, b = batch_size / world_size,
    with its own hidden state — together the processes cover exactly the single-process batch.
    """

    def __init__(self, train_docs: Sequence[np.ndarray], valid_docs: Sequence[np.ndarray], batch_size: int,
                 bptt: int = 70, seed: int = 0, alpha: float = 2.0, beta: float = 1.0,
                 device: torch.device | str = "cpu", rank: int = 0, world_size: int = 1) -> None:
        if world_size < 1 or not 0 <= rank < world_size or batch_size % world_size:
            raise ValueError(f"batch size {batch_size} must split evenly over {world_size} processes "
                             f"(and rank {rank} must be in 0..{world_size - 1})")
        self.rank, self.world_size = rank, world_size
        for part, docs in (("training", train_docs), ("validation", valid_docs)):
            if len(docs) == 0 or sum(len(d) for d in docs) == 0:
                raise ValueError(f"no {part} documents for the language model")
        self.train_docs, self.batch_size, self.bptt, self.seed = train_docs, batch_size, bptt, seed
        self.alpha, self.beta, self.device = alpha, beta, torch.device(device)
        self.n_train = sum(len(d) for d in train_docs)
        self.valid = LMStream(concat_docs(valid_docs, None), batch_size, bptt, variable=False)
        self.hidden: Hidden | None = None
        self.tokens_seen = 0

    def _epoch_seed(self, epoch: int) -> int:
        return self.seed * 100_003 + epoch

    def n_batches(self, epoch: int) -> int:
        rows = self.n_train // self.batch_size
        return len(window_lengths(rows - 1, self.bptt, True, self._epoch_seed(epoch)))

    def batches(self, epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
        seed = self._epoch_seed(epoch)
        tokens = concat_docs(self.train_docs, seed)
        if self.world_size > 1:
            # Row i of the global batch is tokens[i·n : (i+1)·n] (n = tokens per row), so this process's
            # rows are one contiguous piece; same n, hence the same BPTT windows, as the single stream.
            n, rows = len(tokens) // self.batch_size, self.batch_size // self.world_size
            tokens = tokens[self.rank * rows * n:(self.rank + 1) * rows * n]
        stream = LMStream(tokens, self.batch_size // self.world_size, self.bptt, True, seed)
        self.hidden = None
        for x, y in stream:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def loss(self, model: LanguageModel, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, int]:
        x, y = batch
        loss, raw, dropped, self.hidden = model.loss(x, y, self.hidden, cpu_chunk(self.device))
        self.tokens_seen += y.numel()
        return loss + ar_tar_loss(dropped, raw, self.alpha, self.beta), y.numel()

    def state_dict(self) -> dict[str, Tensor]:
        """The hidden state carried into the next window (what a mid-epoch checkpoint must keep)."""
        if self.hidden is None:
            return {}
        return {f"{part}{layer}": t for layer, (h, c) in enumerate(self.hidden) for part, t in (("h", h), ("c", c))}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Carry ``state`` (from :meth:`state_dict`) into the next window."""
        layers = len(state) // 2
        self.hidden = [(state[f"h{i}"].to(self.device), state[f"c{i}"].to(self.device))
                       for i in range(layers)] or None

    def evaluate(self, model: LanguageModel) -> dict[str, float]:
        loss = lm_loss(model, self.valid, self.device)
        return {"valid_loss": loss, "valid_perplexity": perplexity(loss)}


@torch.no_grad()
def lm_loss(model: LanguageModel, stream: LMStream, device: torch.device | str = "cpu") -> float:
    """Return the mean cross-entropy of ``model`` over ``stream`` in eval mode, hidden state carried."""
    was_training = model.training
    model.eval()
    hidden, total, count = None, 0.0, 0
    for x, y in stream:
        loss, _, _, hidden = model.loss(x.to(device), y.to(device), hidden, cpu_chunk(torch.device(device)))
        total += loss.item() * y.numel()
        count += y.numel()
    model.train(was_training)
    return total / count


class ClassificationTask:
    """Supervised classification with sortish batches; validation error after each epoch."""

    def __init__(self, train: TextDataset, valid: TextDataset, batch_size: int, seed: int = 0,
                 device: torch.device | str = "cpu", pad_id: int = 1) -> None:
        self.train, self.valid, self.batch_size = train, valid, batch_size
        self.loader = text_loader(train, batch_size, train=True, seed=seed, pad_id=pad_id)
        self.device, self.pad_id = torch.device(device), pad_id

    def n_batches(self, epoch: int) -> int:
        return len(self.loader)

    def batches(self, epoch: int) -> Iterator[TextBatch]:
        self.loader.sampler.set_epoch(epoch)
        yield from self.loader

    def loss(self, model: nn.Module, batch: TextBatch) -> tuple[Tensor, int]:
        logits = model(batch.ids.to(self.device), batch.lengths.to(self.device))
        return F.cross_entropy(logits.float(), batch.labels.to(self.device)), len(batch.labels)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        probs = predict(model, self.valid, self.batch_size, self.device, self.pad_id)
        return classification_metrics(probs, self.valid.labels, prefix="valid_")


@torch.no_grad()
def predict(model: nn.Module, data: TextDataset, batch_size: int = 64, device: torch.device | str = "cpu",
            pad_id: int = 1, progress: bool = False) -> np.ndarray:
    """Return class probabilities (n, classes) for ``data``, rows in dataset order (a progress bar over the
    batches with ``progress``)."""
    was_training = model.training
    model.eval()
    chunks, order = [], []
    loader = text_loader(data, batch_size, train=False, pad_id=pad_id)
    for batch in tqdm(loader, desc="predict", unit="batch", disable=not progress, leave=False):
        logits = model(batch.ids.to(device), batch.lengths.to(device))
        chunks.append(torch.softmax(logits.float(), -1).cpu().numpy())
        order.append(batch.index.numpy())
    model.train(was_training)
    probs = np.concatenate(chunks)
    out = np.empty_like(probs)
    out[np.concatenate(order)] = probs
    return out


def classification_metrics(probs: np.ndarray, labels: np.ndarray, prefix: str = "") -> dict[str, float]:
    """Return cross-entropy loss and error (%) of ``probs`` against ``labels``."""
    labels = np.asarray(labels)
    p_true = np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0)
    return {f"{prefix}loss": float(-np.log(p_true).mean()),
            f"{prefix}error": float(100.0 * (probs.argmax(1) != labels).mean())}
