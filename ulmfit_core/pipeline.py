"""The three stages of ULMFiT (§3, Figure 1) as functions over numericalised documents:

(a) general-domain LM pretraining, (b) target-task LM fine-tuning, (c) target-task classifier
fine-tuning — each with a run folder for checkpoints, so an interrupted stage resumes where it stopped.

Texts enter as raw strings (tokenised through the on-disk cache) or as a corpus whose tokens are already
known: a :class:`~ulmfit_core.tokenize.TokenizedCorpus`, or any :class:`Pretokenized` object (for example
token ids read from disk), which is taken as it is.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence, Union, runtime_checkable

import numpy as np
import torch

from ulmfit_core.awd_lstm import AWDLSTMConfig, LanguageModel
from ulmfit_core.batching import TextDataset
from ulmfit_core.checkpoint import load_into
from ulmfit_core.classifier import TextClassifier
from ulmfit_core.tasks import ClassificationTask, LMTask
from ulmfit_core.tokenize import TokenizedCorpus, tokenize_cached
from ulmfit_core.train import TrainConfig, fit, pick_device
from ulmfit_core.transfer import encoder_state, match_embeddings
from ulmfit_core.vocab import Vocab, reverse_docs


@runtime_checkable
class Pretokenized(Protocol):
    """Documents whose tokens are already known: the pipeline reads :meth:`tokenized` instead of
    tokenising text."""

    def tokenized(self) -> TokenizedCorpus:
        """The documents as a tokenised corpus, in order."""
        ...


Texts = Union[Sequence[str], TokenizedCorpus, Pretokenized]


def encode(texts: Texts, vocab: Vocab, name: str, backward: bool = False,
           progress: bool = False) -> list[np.ndarray]:
    """Tokenise (cached on disk) and numericalise ``texts``; one id array per document, reversed for a
    backward model (§3.3, "Bidirectional language model")."""
    corpus = tokenized(texts, name, progress)
    ids, offsets = vocab.encode_corpus(corpus)
    if backward:
        ids = reverse_docs(ids, offsets)
    return np.split(ids, offsets[1:-1])


def build_vocab(texts: Texts, name: str, max_size: int = 60_000, min_freq: int = 2,
                progress: bool = False) -> Vocab:
    """Return the vocabulary of ``texts`` (tokenised through the cache, a progress bar with ``progress``)."""
    return Vocab.from_corpus(tokenized(texts, name, progress), max_size, min_freq)


def tokenized(texts: Texts, name: str, progress: bool = False) -> TokenizedCorpus:
    """``texts`` as a tokenised corpus: raw strings tokenised through the cache ``name`` (a progress bar
    with ``progress``), a corpus whose tokens are known taken as it is."""
    if isinstance(texts, TokenizedCorpus):
        return texts
    if isinstance(texts, Pretokenized):
        return texts.tokenized()
    return tokenize_cached(texts, name, progress=progress)


def pretrain_lm(train_docs: Sequence[np.ndarray], valid_docs: Sequence[np.ndarray], vocab: Vocab,
                model_cfg: AWDLSTMConfig, train_cfg: TrainConfig, bptt: int = 70,
                run_dir: Path | None = None, device: str = "auto", progress: bool = True,
                checkpoint_every: int = 0, eval_every: int = 0, keep_best: bool = False
                ) -> tuple[LanguageModel, list[dict]]:
    """(a) General-domain LM pretraining (§3.1). Returns the model and its per-epoch history; see
    :func:`~ulmfit_core.train.fit` for checkpoints and evaluations inside an epoch, and for ``keep_best``
    (the weights of the epoch with the lowest validation perplexity)."""
    dev = pick_device(device)
    torch.manual_seed(train_cfg.seed)
    model = LanguageModel(len(vocab), model_cfg)
    task = LMTask(train_docs, valid_docs, train_cfg.batch_size, bptt, train_cfg.seed, device=dev)
    history = fit(model, model.layer_groups(), task, train_cfg, run_dir, dev, progress,
                  checkpoint_every=checkpoint_every, eval_every=eval_every, keep_best=keep_best)
    return model, history


def finetune_lm(pretrained: dict[str, torch.Tensor] | None, pretrained_vocab: Vocab | None,
                train_docs: Sequence[np.ndarray], valid_docs: Sequence[np.ndarray], vocab: Vocab,
                model_cfg: AWDLSTMConfig, train_cfg: TrainConfig, bptt: int = 70,
                run_dir: Path | None = None, device: str = "auto", progress: bool = True,
                checkpoint_every: int = 0) -> tuple[LanguageModel, list[dict]]:
    """(b) Target-task LM fine-tuning (§3.2): start from the pretrained weights moved to the task
    vocabulary, then train with discriminative rates and STLR as ``train_cfg`` says (``checkpoint_every``:
    checkpoints inside an epoch too, see :func:`~ulmfit_core.train.fit`)."""
    dev = pick_device(device)
    torch.manual_seed(train_cfg.seed)
    model = LanguageModel(len(vocab), model_cfg)
    if pretrained is not None:
        assert pretrained_vocab is not None, "pretrained weights need their vocabulary"
        load_into(model, match_embeddings(pretrained, pretrained_vocab.itos, vocab.itos), "pretrained LM")
    task = LMTask(train_docs, valid_docs, train_cfg.batch_size, bptt, train_cfg.seed, device=dev)
    history = fit(model, model.layer_groups(), task, train_cfg, run_dir, dev, progress,
                  checkpoint_every=checkpoint_every)
    return model, history


def train_classifier(lm: dict[str, torch.Tensor] | None, train: TextDataset, valid: TextDataset,
                     n_classes: int, vocab: Vocab, model_cfg: AWDLSTMConfig, train_cfg: TrainConfig,
                     bptt: int = 70, max_len: int = 70 * 20, run_dir: Path | None = None,
                     device: str = "auto", progress: bool = True, keep_best: bool = False
                     ) -> tuple[TextClassifier, list[dict]]:
    """(c) Classifier fine-tuning (§3.3) from a fine-tuned LM's weights (``lm``), or from scratch
    (``lm=None``). ``lm`` must already be in ``vocab``. Returns the classifier and its history;
    ``keep_best``: early stopping (the weights of the best validation epoch, see :func:`fit`)."""
    dev = pick_device(device)
    torch.manual_seed(train_cfg.seed)
    model = TextClassifier(len(vocab), n_classes, model_cfg, bptt, max_len)
    if lm is not None:
        load_into(model.encoder.encoder, encoder_state(lm), "fine-tuned LM")
    task = ClassificationTask(train, valid, train_cfg.batch_size, train_cfg.seed, dev, vocab.pad_id)
    history = fit(model, model.layer_groups(), task, train_cfg, run_dir, dev, progress, keep_best=keep_best)
    return model, history
