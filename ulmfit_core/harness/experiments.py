"""The experiment runner: every run is named by a hash of its full configuration, recorded once.

A run (pretrain an LM, fine-tune an LM, train a classifier) is a :class:`Run`: its kind, scale, the
complete configuration that determines its result, and the runs it starts from. :func:`ensure` returns
its record — reading it from ``results/<scale>/<kind>/<id>.json`` when it exists (a finished run is
never recomputed), else computing what is missing, parents first. Weights go to the cache
(``$ULMFIT_CACHE/runs``), not to ``results/``; a run cut off mid-way resumes from its last
checkpoint there. Records and their per-example predictions are written atomically.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import functools
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from ulmfit_core import __version__
from ulmfit_core.awd_lstm import AWDLSTMConfig, LanguageModel, lm_dropouts
from ulmfit_core.baseline import LinearConfig, chosen_c, class_probs, fit_linear, token_texts
from ulmfit_core.batching import LMStream, TextDataset, concat_docs
from ulmfit_core.checkpoint import load_into, load_weights, save_weights
from ulmfit_core.corpus import wikipedia_articles, wikitext103_articles
from ulmfit_core.fileio import atomic_path, load_arrays, read_json, save_arrays, write_json
from ulmfit_core.pipeline import Texts, build_vocab, encode, finetune_lm, pretrain_lm, train_classifier
from ulmfit_core.settings import REPO_ROOT, REVISION_ENV, cache_dir, results_dir
from ulmfit_core.splits import Record, low_shot_subset, validation_split
from ulmfit_core.tasks import classification_metrics, lm_loss, predict
from ulmfit_core.train import TrainConfig, best_epoch, perplexity, pick_device
from ulmfit_core.transfer import match_embeddings
from ulmfit_core.vocab import Vocab
from ulmfit_core.harness import pack, wikicorpus
from ulmfit_core.harness.datasets import dataset_info, lm_eval_text, load_split
from ulmfit_core.harness.scales import PretrainRecipe, Scale, TaskScale, get_scale

ULMFIT = "freez + discr + stlr"          # the classifier's recipe (Table 7's last row)
ULMFIT_LM = "full + discr + stlr"       # the target LM's recipe (Table 6's last row)
LM_FINETUNING = {  # Table 6 rows -> TrainConfig changes (None: no LM fine-tuning)
    "no LM fine-tuning": None,
    "full": {"discr_factor": 1.0, "schedule": "constant"},
    "full + discr": {"discr_factor": 2.6, "schedule": "constant"},
    "full + discr + stlr": {"discr_factor": 2.6, "schedule": "stlr"},
}
CLASSIFIER_FINETUNING = {  # Table 7 rows; rates as the paper states them (0.01 with discr, else 0.001)
    "from scratch": {"strategy": "full", "discr_factor": 1.0, "schedule": "constant", "lr": 1e-3},
    "full": {"strategy": "full", "discr_factor": 1.0, "schedule": "constant", "lr": 1e-3},
    "full + discr": {"strategy": "full", "discr_factor": 2.6, "schedule": "constant", "lr": 1e-2},
    "last": {"strategy": "last", "discr_factor": 1.0, "schedule": "constant", "lr": 1e-3},
    "chain-thaw": {"strategy": "chain_thaw", "schedule": "constant", "lr": 1e-3, "lr_lower": 1e-4},
    "freez": {"strategy": "gradual_unfreeze", "discr_factor": 1.0, "schedule": "constant", "lr": 1e-3},
    "freez + discr": {"strategy": "gradual_unfreeze", "discr_factor": 2.6, "schedule": "constant", "lr": 1e-2},
    "freez + stlr": {"strategy": "gradual_unfreeze", "discr_factor": 1.0, "schedule": "stlr", "lr": 1e-3},
    "freez + cos": {"strategy": "gradual_unfreeze", "discr_factor": 1.0, "schedule": "cos", "lr": 1e-3},
    ULMFIT: {"strategy": "gradual_unfreeze", "discr_factor": 2.6, "schedule": "stlr", "lr": 1e-2},
}
SPLIT_SEED = 0  # validation split, subsets and low-shot draws: the same examples for every arm and seed


@dataclasses.dataclass(frozen=True, eq=False)
class Run:
    """One experiment: ``kind`` in pretrain / finetune_lm / classifier, at ``scale``."""

    kind: str
    scale: str
    config: dict
    parents: tuple["Run", ...] = ()

    @functools.cached_property
    def id(self) -> str:
        blob = json.dumps({"kind": self.kind, "scale": self.scale, "config": self.config,
                           "parents": [p.id for p in self.parents]}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def record_path(self) -> Path:
        return results_dir() / self.scale / self.kind / f"{self.id}.json"

    @property
    def preds_path(self) -> Path:
        return self.record_path.with_suffix(".preds.npz")

    @property
    def work_dir(self) -> Path:
        return cache_dir() / "runs" / self.scale / f"{self.kind}-{self.id}"


# ------------------------------------------------------------------------------------ run builders

def pretrain_run(scale: Scale, direction: str = "forward", dropout: bool = True) -> Run:
    """(a) General-domain LM pretraining on the scale's Wikipedia text; ``dropout=False`` is Table 5's
    vanilla LM (same hyperparameters, every dropout 0)."""
    if scale.pretrain is not None:
        recipe = scale.pretrain if dropout else scale.pretrain.replace(drop_mult=0.0)
        return wiki_pretrain_run(scale, recipe, direction)
    model = lm_dropouts(scale.model, scale.pretrain_drop_mult if dropout else 0.0)
    train = TrainConfig(epochs=scale.pretrain_epochs, lr=scale.pretrain_lr, discr_factor=1.0,
                        batch_size=scale.pretrain_batch, clip=0.3, seed=0)
    return Run("pretrain", scale.name, {
        "corpus": ({"shards": list(scale.wiki_shards), "words": scale.wiki_words}
                   if scale.pretrain_corpus == "wikipedia" else {"name": scale.pretrain_corpus}),
        "vocab": {"max_size": scale.vocab_size, "min_freq": scale.min_freq},
        "model": model.to_dict(), "train": train.to_dict(), "bptt": scale.bptt, "direction": direction,
        **({"early_stopping": True} if scale.pretrain_keep_best else {})})


def wiki_pretrain_run(scale: Scale, recipe: PretrainRecipe, direction: str = "forward") -> Run:
    """(a) Pretraining with ``recipe`` on the fixed Wikipedia split (:mod:`ulmfit_core.harness.wikicorpus`): the
    first ``recipe.tokens`` training tokens of the eight shards in order, validation on the held-out
    articles, the vocabulary of every training article; the scale gives model size, vocabulary size, BPTT."""
    model = lm_dropouts(scale.model, recipe.drop_mult)
    train = TrainConfig(epochs=recipe.epochs, lr=recipe.lr, discr_factor=1.0, batch_size=recipe.batch_size,
                        clip=0.3, seed=0)
    return Run("pretrain", scale.name, {
        "corpus": {"shards": list(range(wikicorpus.N_SHARDS)), "tokens": recipe.tokens,
                   "heldout": {"shard": wikicorpus.HELDOUT_SHARD, "articles": wikicorpus.HELDOUT_ARTICLES}},
        "vocab": {"max_size": scale.vocab_size, "min_freq": scale.min_freq, "from": "wikipedia-train"},
        "model": model.to_dict(), "train": train.to_dict(), "bptt": scale.bptt, "direction": direction,
        "recipe": recipe.to_dict()})


def finetune_run(scale: Scale, dataset: str, seed: int, pretrained: Run | None,
                 variant: str = ULMFIT_LM, n_labelled: int = 0, lm_text: str = "task",
                 epochs: int | None = None, dropout: bool = True) -> Run:
    """(b) Target LM fine-tuning (Table 6 ``variant``), from ``pretrained`` or from random weights.

    ``lm_text``: ``task`` — every training text plus the scale's unlabelled extra, whatever
    ``n_labelled`` is (Figure 3, semi-supervised ULMFiT); ``labelled`` — only the ``n_labelled``
    labelled texts (Figure 3, supervised ULMFiT). The configuration names the text the LM really sees,
    so runs that would train on the same text are one run. ``epochs`` overrides the scale's LM
    fine-tuning epochs (for the schedule choice).

    The LM is fine-tuned with fastai's LM dropouts, whatever dropout its pretraining used (the pretraining
    multiplier is chosen on Wikipedia validation, as fastai pretrains with 0.1 and fine-tunes with its
    own); ``dropout=False`` turns every dropout off (Table 5's vanilla LM, with a vanilla parent).
    """
    if variant not in LM_FINETUNING:
        raise ValueError(f"unknown LM fine-tuning {variant!r}; choose one of {list(LM_FINETUNING)}")
    if lm_text not in ("task", "labelled"):
        raise ValueError(f"unknown LM text {lm_text!r}; choose 'task' or 'labelled'")
    task = scale.task(dataset)
    if lm_text == "labelled" and not n_labelled and not task.unlabelled:
        lm_text = "task"            # all the labelled texts and no extra: the task's text
    if lm_text == "task":
        n_labelled = 0
    changes = LM_FINETUNING[variant]
    train = None if changes is None else TrainConfig(
        epochs=epochs or task.lm_epochs, lr=scale.lm_lr, batch_size=scale.lm_batch, clip=0.3, seed=seed,
        **changes).to_dict()
    direction = pretrained.config["direction"] if pretrained else "forward"
    model = lm_dropouts(scale.model, 1.0 if dropout else 0.0)
    return Run("finetune_lm", scale.name, {
        "dataset": dataset, "task": data_selection(task), "variant": variant, "train": train,
        "model": model.to_dict(), "n_labelled": n_labelled, "lm_text": lm_text, "direction": direction,
        "vocab": {"max_size": scale.vocab_size, "min_freq": scale.min_freq}, "bptt": scale.bptt,
        "seed": seed}, (pretrained,) if pretrained else ())


def classifier_run(scale: Scale, dataset: str, seed: int, lm: Run | None, variant: str = ULMFIT,
                   n_labelled: int = 0, direction: str = "forward", changes: dict | None = None) -> Run:
    """(c) Classifier fine-tuning (Table 7 ``variant``) from a fine-tuned LM, or from scratch;
    ``changes`` overrides training settings (e.g. ``{"epochs": 12}``) for a tuning run. Every variant but
    ULMFiT's keeps its best validation epoch (early stopping, as the paper's baselines do, §4.1)."""
    if variant not in CLASSIFIER_FINETUNING:
        raise ValueError(f"unknown classifier fine-tuning {variant!r}; "
                         f"choose one of {list(CLASSIFIER_FINETUNING)}")
    task = scale.task(dataset)
    epochs = task.scratch_epochs if variant == "from scratch" and task.scratch_epochs else task.clf_epochs
    settings = {"epochs": epochs, **CLASSIFIER_FINETUNING[variant], **(changes or {})}
    train = TrainConfig(batch_size=task.batch_size, clip=25.0, seed=seed, **settings)
    model = scale.model.with_dropout(scale.clf_drop_mult)  # the paper's classifier dropouts × the scale's
    direction = lm.config["direction"] if lm else direction
    repeat = low_shot_repeat(task, n_labelled)
    return Run("classifier", scale.name, {
        "dataset": dataset, "task": data_selection(task), "variant": variant, "train": train.to_dict(),
        "model": model.to_dict(), "n_labelled": n_labelled, "direction": direction,
        "vocab": {"max_size": scale.vocab_size, "min_freq": scale.min_freq},
        "bptt": scale.bptt, "max_len": scale.max_len, "seed": seed,
        **({} if variant == ULMFIT else {"early_stopping": True}),
        **({"repeat": repeat} if repeat > 1 else {})}, (lm,) if lm else ())


def low_shot_repeat(task: TaskScale, n_labelled: int) -> int:
    """How many times a low-shot classifier's labelled examples are repeated in each epoch: enough for an
    epoch to hold ``task.low_shot_examples`` of them (1 for the whole training part, or where unset), so
    that Figure 3's smallest sets train for as many steps as that size does rather than a few dozen."""
    if not n_labelled or n_labelled >= task.low_shot_examples:
        return 1
    return math.ceil(task.low_shot_examples / n_labelled)


LM_KINDS = ("pretrain", "finetune_lm")    # the run kinds whose product is a language model's weights


def epoch_repeat(config: dict) -> int:
    """How many copies of its labelled set each epoch of a classifier run holds: its configuration's
    ``repeat`` (:func:`low_shot_repeat`), 1 where absent. Training and every cost count read it here."""
    return config.get("repeat", 1)


def linear_run(scale: Scale, dataset: str, n_labelled: int = 0) -> Run:
    """The linear baseline (TF-IDF n-grams + logistic regression, :mod:`ulmfit_core.baseline`) on the same
    split and the same text cut as the neural arms; deterministic, so one run serves every seed."""
    task = scale.task(dataset)
    return Run("baseline", scale.name, {"dataset": dataset, "task": data_selection(task), "n_labelled": n_labelled,
                                        "model": LinearConfig().to_dict()})


def data_selection(task: TaskScale) -> dict[str, int]:
    """The parts of a task budget that decide which data a run sees (not seeds or low-shot lists, so
    adding a seed to a scale never renames existing runs)."""
    return {k: getattr(task, k) for k in ("n_train", "n_test", "max_tokens", "unlabelled")}


def ulmfit_runs(scale: Scale, dataset: str, seed: int, direction: str = "forward",
                n_labelled: int = 0, lm_text: str = "task") -> tuple[Run, Run, Run]:
    """The full ULMFiT recipe: (pretrain, fine-tuned LM, classifier) runs."""
    pre = pretrain_run(scale, direction)
    lm = finetune_run(scale, dataset, seed, pre, n_labelled=n_labelled, lm_text=lm_text)
    return pre, lm, classifier_run(scale, dataset, seed, lm, n_labelled=n_labelled)


# ----------------------------------------------------------------------------------------- data

@dataclasses.dataclass(frozen=True)
class TaskData:
    """One dataset at one scale: labelled train, validation (10% of train) and test records."""

    train: list[Record]
    valid: list[Record]
    test: list[Record]
    extra_text: Texts              # unlabelled texts for LM fine-tuning
    n_classes: int


def task_data(dataset: str, scale_name: str) -> TaskData:
    """Return ``dataset`` as ``scale_name`` uses it (stratified caps, the paper's 10% validation split);
    from the pack when ``$ULMFIT_PACK`` names one."""
    return _task_data(dataset, scale_name, pack.pack_dir())


@functools.lru_cache(maxsize=16)
def _task_data(dataset: str, scale_name: str, packed: Path | None) -> TaskData:
    task = get_scale(scale_name).task(dataset)
    if packed is not None:
        return _packed_task_data(dataset, task)
    full = load_split(dataset, "train")
    kept = low_shot_subset(full, task.n_train, SPLIT_SEED) if task.n_train else full
    train, valid = validation_split(kept, 0.1, SPLIT_SEED)
    test = load_split(dataset, "test")
    test = low_shot_subset(test, task.n_test, SPLIT_SEED) if task.n_test else test
    extra: list[str] = []
    if task.unlabelled:
        if "unsup" in dataset_info(dataset).split_sizes:
            extra = [r.text for r in load_split(dataset, "unsup")[:task.unlabelled]]
        else:
            used = {id(r) for r in kept}
            extra = [r.text for r in full if id(r) not in used][:task.unlabelled]
    return TaskData(train, valid, test, extra, len(dataset_info(dataset).label_names))


def _packed_task_data(dataset: str, task: TaskScale) -> TaskData:
    parts, n_classes = pack.task_parts(dataset, data_selection(task))
    records = {part: [Record(d, int(y)) for d, y in zip(docs, labels)] for part, (docs, labels) in parts.items()}
    return TaskData(records["train"], records["valid"], records["test"], parts["extra"][0], n_classes)


def labelled_train(data: TaskData, n_labelled: int) -> list[Record]:
    """The first ``n_labelled`` examples (stratified, fixed draw) or all of the training part."""
    return low_shot_subset(data.train, n_labelled, SPLIT_SEED) if n_labelled else data.train


def record_texts(records: Sequence[Record]) -> Texts:
    """The texts of ``records`` as the pipeline takes them: raw strings, or the pack's documents."""
    return pack.texts_of([r.text for r in records])


def docs_for(texts: Texts, vocab: Vocab, name: str, max_tokens: int, direction: str
             ) -> list[np.ndarray]:
    """Numericalise ``texts``, cut each to its first ``max_tokens`` tokens, reverse for a backward model."""
    docs = encode(texts, vocab, name)
    if max_tokens:
        docs = [d[:max_tokens] for d in docs]
    return [d[::-1].copy() for d in docs] if direction == "backward" else docs


def corpus_texts(corpus: dict) -> Texts:
    """The articles a pretraining run's ``corpus`` entry names: WikiText-103's training text
    (``{"name": "wikitext103"}``, the paper's corpus) or Wikipedia shards (``{"shards", "words"}``)."""
    if corpus.get("name") == "wikitext103":
        return list(wikitext103_articles())
    return wiki_texts(corpus["shards"], corpus["words"])


def wiki_texts(shards: Sequence[int], words: int) -> Texts:
    """Wikipedia articles from ``shards``, in order, up to about ``words`` whitespace words (0 = all)
    (the pack's documents when ``$ULMFIT_PACK`` names one)."""
    if pack.pack_dir() is not None:
        return pack.wiki_refs(shards, words)
    out, count = [], 0
    for article in wikipedia_articles(shards):
        if words and count >= words:
            break
        out.append(article)
        count += len(article.split())
    return out


# ------------------------------------------------------------------------------------ execution

def ensure(run: Run, device: str = "auto", progress: bool = False) -> dict:
    """Return ``run``'s record, computing it (and any missing parents) only if it does not exist."""
    if run.record_path.exists():
        return read_json(run.record_path)
    for parent in run.parents:
        ensure(parent, device, progress)
    with _claim(run):
        if run.record_path.exists():  # another process finished it while this one waited
            return read_json(run.record_path)
        return _execute(run, device, progress)


def lock_path(run: Run) -> Path:
    """The lock file of ``run``, beside its cache folder: held while a process makes the run."""
    return run.work_dir.with_name(run.work_dir.name + ".lock")


@contextlib.contextmanager
def _claim(run: Run) -> Iterator[None]:
    """Hold an exclusive lock on ``run`` (a lock file beside its cache folder), so that two processes
    asking for the same run, e.g. two notebooks executed side by side, compute it once."""
    lock = lock_path(run)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _execute(run: Run, device: str, progress: bool) -> dict:
    for parent in run.parents:                      # an LM parent whose weights are lost is made again
        if parent.kind in LM_KINDS:                 # before the clock starts: not this run's time
            make_weights(parent, device)
    started, t0, revision = dt.datetime.now(dt.timezone.utc), time.perf_counter(), git_revision()
    executor = {"pretrain": _do_pretrain, "finetune_lm": _do_finetune, "classifier": _do_classifier,
                "baseline": _do_baseline}[run.kind]
    metrics, history, arrays = executor(run, device, progress)
    record = {
        "id": run.id, "kind": run.kind, "scale": run.scale, "config": run.config,
        "parents": [p.id for p in run.parents], "metrics": metrics, "history": history,
        "provenance": provenance(device, started, time.perf_counter() - t0, history, revision),
    }
    if arrays:
        save_arrays(run.preds_path, **arrays)
    write_json(run.record_path, record)
    if run.kind in ("classifier", "baseline"):
        shutil.rmtree(run.work_dir, ignore_errors=True)  # checkpoints no longer needed
    return record


def weights_of(run: Run, device: str = "auto") -> tuple[dict[str, torch.Tensor], Vocab]:
    """Return an LM run's final weights and vocabulary: from the cache, else from the committed copy in
    ``results/<scale>/weights/``, else by running it again (deterministic on the CPU, :func:`make_weights`)."""
    folder = make_weights(run, device)
    state = {k: v.float() for k, v in load_weights(folder / "model.safetensors").items()}
    return state, Vocab.load(folder / "vocab.json")


def make_weights(run: Run, device: str = "auto") -> Path:
    """The folder that holds an LM run's weights, making the run again first where no folder does.
    Running it again holds the run's lock, as :func:`ensure` does, so that two processes needing the same
    lost LM make it once: the second waits and then finds the first one's weights."""
    folder = _weights_folder(run)
    if folder is not None:
        return folder
    for parent in run.parents:
        ensure(parent, device)
    with _claim(run):
        if _weights_folder(run) is None:
            executor = {"pretrain": _do_pretrain, "finetune_lm": _do_finetune}[run.kind]
            executor(run, device, False)
    folder = _weights_folder(run)
    if folder is None:
        raise RuntimeError(f"{run.kind} {run.id} ran again but left no weights in {run.work_dir}")
    return folder


def _weights_folder(run: Run) -> Path | None:
    """An LM run's cache folder or committed copy, whichever holds its weights, or None."""
    for folder in (run.work_dir, results_dir() / run.scale / "weights" / f"{run.kind}-{run.id}"):
        if (folder / "model.safetensors").exists():
            return folder
    return None


def export_weights(run: Run, model: torch.nn.Module, vocab: Vocab) -> Path:
    """Keep a pretrained LM (fp16 safetensors + vocabulary) in ``results/<scale>/weights/`` so that a
    fresh checkout can fine-tune from it without pretraining again; return the folder."""
    folder = results_dir() / run.scale / "weights" / f"{run.kind}-{run.id}"
    state = {k: v.detach().half().contiguous() for k, v in model.state_dict().items()}
    half = type(model)(len(vocab), AWDLSTMConfig.from_dict(run.config["model"]))
    half.load_state_dict(state)
    with atomic_path(folder / "model.safetensors") as tmp:
        save_weights(half.half(), tmp)
    vocab.save(folder / "vocab.json")
    return folder


def _finish_lm(run: Run, model: torch.nn.Module, vocab: Vocab) -> None:
    vocab.save(run.work_dir / "vocab.json")         # first: the weights file is what readers look for
    with atomic_path(run.work_dir / "model.safetensors") as tmp:
        save_weights(model, tmp)
    shutil.rmtree(run.work_dir / "checkpoints", ignore_errors=True)


def _do_pretrain(run: Run, device: str, progress: bool) -> tuple[dict, list, dict]:
    cfg = run.config
    if "tokens" in cfg["corpus"]:
        return _do_wiki_pretrain(run, device, progress)
    texts = corpus_texts(cfg["corpus"])
    name = f"wiki-{run.scale}"
    vocab = build_vocab(texts, name, cfg["vocab"]["max_size"], cfg["vocab"]["min_freq"])
    docs = encode(texts, vocab, name, backward=cfg["direction"] == "backward", progress=progress)
    n_valid = max(1, len(docs) // 100)
    model_cfg = AWDLSTMConfig.from_dict(cfg["model"])
    keep_best = cfg.get("early_stopping", False)
    model, history = pretrain_lm(docs[n_valid:], docs[:n_valid], vocab, model_cfg,
                                 TrainConfig.from_dict(cfg["train"]), cfg["bptt"], run.work_dir, device,
                                 progress, keep_best=keep_best)
    _finish_lm(run, model, vocab)
    if get_scale(run.scale).commit_pretrained:
        export_weights(run, model, vocab)
    kept = best_epoch(history) if keep_best else len(history) - 1
    metrics = {"valid_perplexity": history[kept]["valid_perplexity"], **({"epoch_kept": kept + 1} if keep_best else {}),
               "vocab_size": len(vocab),
               "train_tokens": int(sum(len(d) for d in docs[n_valid:])),
               "wikitext103_test_perplexity": wikitext_perplexity(model, vocab, cfg["direction"], device)}
    return metrics, history, {}


CHECKPOINT_SECONDS = 300   # a long LM run checkpoints about this often inside an epoch (and on SIGTERM)
CURVE_POINTS = 12          # validation evaluations per run, for the perplexity-against-tokens curve,
CURVE_MIN_TOKENS = 2_000_000  # but at most one per this many training tokens (one costs ~20 s on a CPU)


def lm_checkpoint_every(device: str) -> int:
    """Batches between an LM run's checkpoints inside an epoch: about :data:`CHECKPOINT_SECONDS` apart, from
    a rough measured step time (batch 32 × 70 tokens of the CPU scales' AWD-LSTM; far less on a GPU)."""
    seconds_per_step = 1.1 if pick_device(device).type == "cpu" else 0.02
    return max(1, int(CHECKPOINT_SECONDS / seconds_per_step))


def _do_wiki_pretrain(run: Run, device: str, progress: bool) -> tuple[dict, list, dict]:
    """Pretraining on the fixed Wikipedia split, checkpointed inside the epoch so that hours of training
    survive interruptions; the published LMs are copied to ``results/`` by :func:`publish_weights`."""
    cfg = run.config
    backward = cfg["direction"] == "backward"
    vocab = wikicorpus.wiki_vocab(cfg["vocab"]["max_size"], cfg["vocab"]["min_freq"])
    train_docs = wikicorpus.training_docs(vocab, cfg["corpus"]["shards"], cfg["corpus"]["tokens"], backward)
    valid_docs = wikicorpus.heldout_docs(vocab, backward)
    train = TrainConfig.from_dict(cfg["train"])
    steps = sum(len(d) for d in train_docs) // (train.batch_size * cfg["bptt"])   # about, per epoch
    model, history = pretrain_lm(train_docs, valid_docs, vocab, AWDLSTMConfig.from_dict(cfg["model"]), train,
                                 cfg["bptt"], run.work_dir, device, progress,
                                 checkpoint_every=lm_checkpoint_every(device),
                                 eval_every=max(-(-steps * train.epochs // CURVE_POINTS),
                                                -(-CURVE_MIN_TOKENS // (train.batch_size * cfg["bptt"]))))
    _finish_lm(run, model, vocab)
    seconds = sum(h["seconds"] for h in history)
    metrics = {"valid_perplexity": history[-1]["valid_perplexity"], "vocab_size": len(vocab),
               "train_tokens": int(sum(len(d) for d in train_docs)),
               "tokens_seen": int(sum(h["items"] for h in history)),
               "train_tokens_per_s": sum(h["items"] for h in history) / max(seconds, 1e-9),
               "wikitext103_test_perplexity": wikitext_perplexity(model, vocab, cfg["direction"], device)}
    return metrics, history, {}


def publish_weights(run: Run, device: str = "auto") -> Path:
    """Copy a finished pretraining run's weights (fp16) and vocabulary to ``results/<scale>/weights/``."""
    state, vocab = weights_of(run, device)
    model = LanguageModel(len(vocab), AWDLSTMConfig.from_dict(run.config["model"]))
    load_into(model, state, run.work_dir / "model.safetensors")
    return export_weights(run, model, vocab)


def wikitext_perplexity(model: LanguageModel, vocab: Vocab, direction: str, device: str = "auto") -> float:
    """Perplexity of ``model`` on the WikiText-103 test articles, over our tokens and vocabulary (words
    outside it count as ``xxunk``), so it is not directly comparable with published word-level figures."""
    docs = encode(wikitext_paragraphs(), vocab, "wikitext103-test", backward=direction == "backward")
    stream = LMStream(concat_docs(docs, None), 16, 70, variable=False)
    dev = pick_device(device)
    return perplexity(lm_loss(model.to(dev), stream, dev))


def wikitext_paragraphs() -> Texts:
    """The WikiText-103 test articles, one text per paragraph (from the pack when one is set)."""
    if pack.pack_dir() is not None:
        return pack.wikitext_refs()
    return [p for p in lm_eval_text("wikitext103_test_raw").split("\n") if p.strip()]


def _lm_texts(run: Run, data: TaskData) -> Texts:
    cfg = run.config
    if cfg["lm_text"] == "labelled":
        return record_texts(labelled_train(data, cfg["n_labelled"]))
    return pack.texts_of([r.text for r in data.train] + list(data.extra_text))


def _do_finetune(run: Run, device: str, progress: bool) -> tuple[dict, list, dict]:
    cfg = run.config
    data = task_data(cfg["dataset"], run.scale)
    texts = _lm_texts(run, data)
    name = f"{cfg['dataset']}-{run.scale}-lm"
    vocab = build_vocab(texts, name, cfg["vocab"]["max_size"], cfg["vocab"]["min_freq"])
    max_tokens, direction = cfg["task"]["max_tokens"], cfg["direction"]
    train_docs = docs_for(texts, vocab, name, max_tokens, direction)
    valid_docs = docs_for(record_texts(data.valid), vocab, f"{cfg['dataset']}-{run.scale}-valid",
                          max_tokens, direction)
    model_cfg = AWDLSTMConfig.from_dict(cfg["model"])
    pretrained, pre_vocab = weights_of(run.parents[0], device) if run.parents else (None, None)
    if cfg["train"] is None:  # "no LM fine-tuning": only move the pretrained weights to the task vocabulary
        model = LanguageModel(len(vocab), model_cfg)
        load_into(model, match_embeddings(pretrained, pre_vocab.itos, vocab.itos), "pretrained LM")
        history: list[dict] = []
    else:
        model, history = finetune_lm(pretrained, pre_vocab, train_docs, valid_docs, vocab, model_cfg,
                                     TrainConfig.from_dict(cfg["train"]), cfg["bptt"], run.work_dir,
                                     device, progress, checkpoint_every=lm_checkpoint_every(device))
    _finish_lm(run, model, vocab)
    metrics = {"valid_perplexity": history[-1]["valid_perplexity"] if history else None,
               "vocab_size": len(vocab), "train_tokens": int(sum(len(d) for d in train_docs))}
    return metrics, history, {}


def _do_classifier(run: Run, device: str, progress: bool) -> tuple[dict, list, dict]:
    cfg = run.config
    data = task_data(cfg["dataset"], run.scale)
    train = labelled_train(data, cfg["n_labelled"])
    if run.parents:
        lm, vocab = weights_of(run.parents[0], device)
    else:
        lm, vocab = None, build_vocab(record_texts(train), f"{cfg['dataset']}-{run.scale}-clf",
                                      cfg["vocab"]["max_size"], cfg["vocab"]["min_freq"])
    max_tokens, direction = cfg["task"]["max_tokens"], cfg["direction"]

    def dataset(records: list[Record], part: str) -> TextDataset:
        docs = docs_for(record_texts(records), vocab, f"{cfg['dataset']}-{run.scale}-{part}",
                        max_tokens, direction)
        return TextDataset(docs, [r.label for r in records])

    train_set, valid_set, test_set = dataset(train, "clf"), dataset(data.valid, "valid"), dataset(data.test, "test")
    repeat = epoch_repeat(cfg)                          # Figure 3's small sets: see low_shot_repeat
    if repeat > 1:
        train_set = TextDataset(train_set.docs * repeat, np.tile(train_set.labels, repeat))
    model, history = train_classifier(lm, train_set, valid_set, data.n_classes, vocab,
                                      AWDLSTMConfig.from_dict(cfg["model"]), TrainConfig.from_dict(cfg["train"]),
                                      cfg["bptt"], cfg["max_len"], run.work_dir, device, progress,
                                      keep_best=cfg.get("early_stopping", False))
    dev = pick_device(device)
    valid_probs, test_probs = predict(model, valid_set, device=dev), predict(model, test_set, device=dev)
    metrics = {**classification_metrics(valid_probs, valid_set.labels, "valid_"),
               **classification_metrics(test_probs, test_set.labels, "test_"),
               "n_train": len(train), "n_valid": len(valid_set), "n_test": len(test_set),
               "epoch_kept": best_epoch(history) + 1 if cfg.get("early_stopping") else len(history)}
    arrays = {"valid_probs": valid_probs.astype(np.float32), "valid_labels": valid_set.labels,
              "test_probs": test_probs.astype(np.float32), "test_labels": test_set.labels}
    return metrics, history, arrays


def _do_baseline(run: Run, device: str, progress: bool) -> tuple[dict, list, dict]:
    cfg = run.config
    data = task_data(cfg["dataset"], run.scale)
    train = labelled_train(data, cfg["n_labelled"])
    max_tokens, name = cfg["task"]["max_tokens"], f"{cfg['dataset']}-{run.scale}"
    parts = {"train": (train, f"{name}-clf"), "valid": (data.valid, f"{name}-valid"), "test": (data.test, f"{name}-test")}
    tokens = {part: token_texts(record_texts(records), cache, max_tokens) for part, (records, cache) in parts.items()}
    labels = {part: np.asarray([r.label for r in records], dtype=np.int64) for part, (records, _) in parts.items()}
    model, table = fit_linear(tokens["train"], labels["train"], tokens["valid"], labels["valid"],
                              LinearConfig.from_dict(cfg["model"]))
    probs = {part: class_probs(model, tokens[part], data.n_classes) for part in ("valid", "test")}
    metrics = {**classification_metrics(probs["valid"], labels["valid"], "valid_"),
               **classification_metrics(probs["test"], labels["test"], "test_"),
               "C": chosen_c(table), "n_train": len(train), "n_valid": len(data.valid), "n_test": len(data.test)}
    arrays = {"valid_probs": probs["valid"].astype(np.float32), "valid_labels": labels["valid"],
              "test_probs": probs["test"].astype(np.float32), "test_labels": labels["test"]}
    return metrics, table, arrays


# ------------------------------------------------------------------------------------ provenance

def git_revision() -> str:
    """The repository's commit, with ``+dirty`` when tracked files in ``ulmfit_core/`` differ from it.

    ``$ULMFIT_REVISION``, where set, is recorded instead: a copy of the code made for another machine
    names the commit it was made from, since the copy may have no git history or a stale one."""
    if os.environ.get(REVISION_ENV):
        return os.environ[REVISION_ENV]
    root = REPO_ROOT
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "ulmfit_core"],
                               cwd=root, capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_name() -> str:
    """The CPU's model name and core count, e.g. "AMD EPYC, 2 cores"."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


# Variables that hold MKL, PyTorch's kernels and oneDNN to one instruction set (the Makefile's AVX2_ONLY):
# they change the last digits of CPU results, so a record names those that were set.
CPU_NUMERICS_ENV = ("MKL_CBWR", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")


def provenance(device: str, started: dt.datetime, seconds: float, history: list[dict],
               revision: str) -> dict[str, Any]:
    """Where, when and with what a run was computed (``revision``: the code's commit when it started)."""
    dev = pick_device(device)
    return {
        "device": dev.type,
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_name(),
        "cpu_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_numerics_env": {k: os.environ[k] for k in CPU_NUMERICS_ENV if k in os.environ},
        "started": started.isoformat(timespec="seconds"), "wall_seconds": round(seconds, 2),
        "items_processed": int(sum(h.get("items", 0) for h in history)),
        "git_revision": revision,
        "versions": {"ulmfit_core": __version__, "python": platform.python_version(),
                     "torch": torch.__version__, "numpy": np.__version__, "spacy": pack.installed_version("spacy")},
    }


def predictions(run: Run) -> dict[str, np.ndarray]:
    """The per-example probabilities and labels stored beside a classifier run's record."""
    return load_arrays(run.preds_path)
