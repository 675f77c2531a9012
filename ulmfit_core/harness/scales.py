"""Named experiment scales: every experiment runs at one, and every result says which.

- ``smoke``   — toy sizes; all notebooks together run in a few minutes on a 2-core CPU (tests, nbval).
- ``reduced`` — what a 2-core CPU can really run: hours per chapter and dataset, resumable (the book's
  "Time per notebook" table gives the compute time of each chapter's runs).
- ``gpu``     — the paper's model size and most of the local data, sized so that one notebook's core runs
  (pretraining, then ULMFiT on one dataset) take minutes on one NVIDIA H100/H200.
- ``paper``   — the paper's data and protocol: every dataset complete (AG News 120k, DBpedia 560k,
  Yelp-bi 560k, Yelp-full 650k from Zhang et al.'s CSVs, IMDb with its 50k unlabelled reviews, TREC-6),
  pretraining on WikiText-103's training text, the paper's model and hyperparameters; for a GPU and the
  downloaded data (:mod:`ulmfit_core.harness.preflight` lists what is missing and estimates the compute).

Each scale names the datasets it runs (:meth:`Scale.datasets`); the smaller scales use the stand-ins of
the data folder (``ag_news_7k6``, ``dbpedia_14k``, the Yelp samples), and every table names which.

Reasoning behind ``reduced``: on a 2-core CPU the AWD-LSTM language model trains at about 3-4k
tokens/s at 200/400 with a 20k vocabulary (the softmax dominates; 1.1k at the paper's 400/1150 and 60k).
Its pretraining recipe (``pretrain``) was chosen on held-out Wikipedia articles by short probes
(:mod:`ulmfit_core.harness.lm_recipe`): peak rate 0.01, no dropout, batch 32, one pass over 24M tokens,
about two hours per LM; without dropout the forward LM is also Table 5's vanilla LM. Every classifier
takes the paper's dropouts times 0.5 (``clf_drop_mult``, fastai's ``drop_mult`` for its IMDb classifier):
with the paper's full dropouts, meant for 1150 hidden units, ULMFiT's training loss stalled near 0.52 on
TREC-6, AG and IMDb alike (training from scratch reached 0.04-0.2), and seed 0 at half of them reached
7.3% TREC-6 validation error against 9.7% (IMDb: 25.0% against 26.5%). IMDb and AG use
stratified subsets (IMDb with reviews cut to their first 300 tokens), so that LM and classifier
fine-tuning fit the rest of the budget. Every dataset chooses its schedule lengths on validation before
any other run (``tune_lm_epochs``, ``tune_epochs``; :mod:`ulmfit_core.harness.epoch_choice`), and its
``lm_epochs``, ``clf_epochs`` and ``scratch_epochs`` are set to the recorded choice (a test checks them
against ``results/reduced/choices/``). Those epochs are chosen on the whole training set; on Figure 3's
smaller labelled sets they would be a few dozen steps (100 examples are four batches), and the 100-label
classifiers ended with their training loss still high, training from scratch at chance on AG News. So a
labelled set smaller than ``low_shot_examples`` (1,000) is repeated until an epoch holds that many
examples: every point of the curve below it trains for as many steps as the 1,000-label one, and the 100-
and 500-label classifiers then fit their training sets, training from scratch reaching its best validation
epoch before its last on all but one seed. Repeating to the whole training set instead would make every
point cost as much as a full run. The ``gpu`` scale does the same. The paper's ablation effects are
around one point, so every dataset gets three seeds and every comparison is paired (same seeds, same
validation examples); IMDb, the costliest, gets three for its main result, Table 4 and Figure 3, and one
for the other ablations.

Reasoning behind ``gpu``: its inputs must travel to a GPU machine as a pack of token ids
(:mod:`ulmfit_core.harness.pack`) of at most about 50 MB; compressed token ids cost about 1.6 bytes per token. So:
6M words of Wikipedia (about 8M tokens, two shards), the full IMDb train and test sets (25k + 25k
reviews) with 5k of its unlabelled reviews, and every other dataset as the data folder holds it. IMDb
(about 8M tokens of LM fine-tuning text, 7M tokens of training reviews) gets a short schedule: 2 LM
fine-tuning epochs and 5 classifier epochs (gradual unfreezing adds one of the 5 layer groups per epoch,
so the last epoch trains them all; fastai's course recipe also uses 5, as 1+1+1+2): about 4 minutes on an
NVIDIA H100, after about 3 minutes of pretraining. Pretraining makes 4 passes over the 8M tokens (one pass
took 40 s on an H100) and keeps the pass with the lowest validation perplexity; its peak rate and dropout
multiplier are the ones the reduced scale chose on Wikipedia validation
(:func:`ulmfit_core.harness.lm_recipe.chosen`), carried over rather than probed again on a GPU, although
this model is seven times larger and sees less text; keeping the best pass guards against overfitting.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ulmfit_core.awd_lstm import AWDLSTMConfig
from ulmfit_core.config import Config, ConfigError, check_range
from ulmfit_core.harness.paper import PAPER_KEY

ANALYSIS = ("imdb", "trec6", "ag")      # the paper's datasets of Tables 4-7, Figure 3 and bidirectionality
CORPORA = ("wikipedia", "wikitext103")  # the data folder's Wikipedia sample; WikiText-103's training text


@dataclass(frozen=True)
class TaskScale(Config):
    """How much of one dataset a scale uses and how long it trains on it."""

    n_train: int = 0                   # labelled training examples kept, stratified (0 = all)
    n_test: int = 0                    # test examples scored, stratified (0 = all)
    max_tokens: int = 0                # documents cut to their first max_tokens tokens (0 = whole)
    lm_epochs: int = 10
    clf_epochs: int = 10
    batch_size: int = 64
    seeds: tuple[int, ...] = (0,)
    main_seeds: tuple[int, ...] = ()   # seeds of Tables 2-3, 4 and Figure 3, where more than ``seeds``
    low_shot: tuple[int, ...] = ()     # numbers of labelled examples for Figure 3
    unlabelled: int = 0                # extra unlabelled documents for semi-supervised LM fine-tuning
    tune_epochs: tuple[int, ...] = ()  # classifier epochs compared on validation to choose clf_epochs
    tune_lm_epochs: tuple[int, ...] = ()  # LM fine-tuning epochs compared on validation to choose lm_epochs
    scratch_epochs: int = 0            # epochs of the from-scratch classifier (0: clf_epochs)
    low_shot_examples: int = 0         # Figure 3: a smaller labelled set is repeated to this many per epoch

    def __post_init__(self) -> None:
        for name in ("n_train", "n_test", "max_tokens", "unlabelled", "scratch_epochs", "low_shot_examples"):
            check_range(self, name, low=0, integer=True)
        for name in ("lm_epochs", "clf_epochs", "batch_size"):
            check_range(self, name, low=1, integer=True)


@dataclass(frozen=True)
class PretrainRecipe(Config):
    """General-domain LM pretraining on the fixed Wikipedia split (:mod:`ulmfit_core.harness.wikicorpus`): the
    first ``tokens`` training tokens, ``epochs`` passes, STLR to peak ``lr``, fastai's LM dropouts times
    ``drop_mult`` (0 = Table 5's vanilla LM), validation on the held-out articles."""

    tokens: int = 1_500_000
    epochs: int = 1
    lr: float = 3e-3
    drop_mult: float = 1.0
    batch_size: int = 64

    def __post_init__(self) -> None:
        for name in ("tokens", "epochs", "batch_size"):
            check_range(self, name, low=1, integer=True)
        check_range(self, "lr", low=0, low_open=True)
        check_range(self, "drop_mult", low=0)


@dataclass(frozen=True)
class Scale(Config):
    """Model size, pretraining corpus and per-dataset budgets of one scale."""

    name: str = "smoke"
    model: AWDLSTMConfig = AWDLSTMConfig(emb_size=32, hidden_size=64, n_layers=2)
    vocab_size: int = 60_000
    min_freq: int = 2
    wiki_shards: tuple[int, ...] = (0,)
    wiki_words: int = 0                # whitespace words of Wikipedia used (0 = all of the shards)
    pretrain_epochs: int = 1
    pretrain_lr: float = 3e-3
    pretrain_batch: int = 64
    pretrain_drop_mult: float = 1.0    # fastai's LM dropouts times this (the reduced recipe's choice)
    pretrain_keep_best: bool = False   # keep the pretraining epoch with the lowest validation perplexity
    clf_drop_mult: float = 1.0         # every classifier's dropouts: the paper's times this (fastai's drop_mult)
    lm_lr: float = 4e-3
    lm_batch: int = 32
    bptt: int = 70
    max_len_chunks: int = 20           # BPT3C keeps the last max_len_chunks * bptt tokens
    commit_pretrained: bool = False    # keep the pretrained LMs (fp16) in results/, so no rerun needs them
    pretrain_corpus: str = "wikipedia"  # "wikitext103": the paper's corpus (wiki_shards/words unused)
    pretrain: PretrainRecipe | None = None  # set: pretrain on the fixed Wikipedia split with this recipe
    #                                          (None: wiki_words of wiki_shards, validation its first 1%)
    epochs_from_choice: bool = False   # each dataset's epochs are its recorded choice (epoch_choice.pending)
    tasks: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_range(self, "clf_drop_mult", low=0)
        if self.pretrain_corpus not in CORPORA:
            raise ConfigError(f"Scale.pretrain_corpus must be one of {CORPORA}, got {self.pretrain_corpus!r}")

    @property
    def max_len(self) -> int:
        return self.bptt * self.max_len_chunks

    def datasets(self) -> list[str]:
        """The scale's datasets in the order of the paper's Tables 2-3 (IMDb, TREC-6, AG, DBpedia,
        Yelp-bi, Yelp-full): the complete ones or their stand-ins, whichever the scale runs."""
        order = list(dict.fromkeys(PAPER_KEY.values()))
        return sorted(self.tasks, key=lambda d: order.index(PAPER_KEY[d]))

    def analysis(self) -> list[str]:
        """The scale's datasets of the paper's analysis (Tables 4-7, Figure 3): IMDb, TREC-6 and AG."""
        return [d for d in self.datasets() if PAPER_KEY[d] in ANALYSIS]

    def own(self, dataset: str) -> str:
        """The scale's dataset that stands for the same paper dataset as ``dataset`` (e.g. AG News:
        ``ag_news_7k6`` here, ``ag_news_120k`` at the ``paper`` scale); KeyError if it has none."""
        for candidate in self.tasks:
            if PAPER_KEY.get(candidate) == PAPER_KEY.get(dataset, dataset):
                return candidate
        raise KeyError(f"scale {self.name!r} has no dataset for {dataset!r}; it covers {sorted(self.tasks)}")

    def task(self, dataset: str) -> TaskScale:
        """Return the budget of ``dataset`` at this scale (KeyError naming the scale if it has none)."""
        if dataset not in self.tasks:
            raise KeyError(f"scale {self.name!r} has no settings for dataset {dataset!r}; "
                           f"it covers {sorted(self.tasks)}")
        return self.tasks[dataset]

    def to_dict(self) -> dict:
        data = super().to_dict()
        data["tasks"] = {k: v.to_dict() for k, v in self.tasks.items()}
        return data


def _tasks(**kw: TaskScale) -> dict[str, TaskScale]:
    return dict(kw)


SCALES: dict[str, Scale] = {
    "smoke": Scale(
        name="smoke", model=AWDLSTMConfig(emb_size=32, hidden_size=64, n_layers=2),
        vocab_size=4000, min_freq=1, wiki_shards=(0,), wiki_words=40_000, pretrain_epochs=1,
        pretrain_lr=5e-3, pretrain_batch=16, lm_batch=16, bptt=20, max_len_chunks=4,
        tasks=_tasks(
            trec6=TaskScale(n_train=400, n_test=200, lm_epochs=2, clf_epochs=5, batch_size=32,
                            low_shot=(60,), tune_epochs=(5, 8), tune_lm_epochs=(1, 2)),
            ag_news_7k6=TaskScale(n_train=300, n_test=200, max_tokens=40, lm_epochs=1, clf_epochs=5,
                                  batch_size=32, low_shot=(60,), unlabelled=300),
            imdb=TaskScale(n_train=200, n_test=100, max_tokens=60, lm_epochs=1, clf_epochs=5, batch_size=32,
                           low_shot=(60,), unlabelled=200),
            dbpedia_14k=TaskScale(n_train=280, n_test=140, max_tokens=40, lm_epochs=1, clf_epochs=5,
                                  batch_size=32),
            yelp_bi=TaskScale(n_train=200, n_test=100, max_tokens=60, lm_epochs=1, clf_epochs=5,
                              batch_size=32),
            yelp_full=TaskScale(n_train=200, n_test=100, max_tokens=60, lm_epochs=1, clf_epochs=5,
                                batch_size=32),
        )),
    "reduced": Scale(   # pretraining: the recipe chosen on Wikipedia validation (lm_recipe.chosen)
        name="reduced", model=AWDLSTMConfig(emb_size=200, hidden_size=400, n_layers=3),
        vocab_size=20_000, min_freq=2, wiki_shards=(0,), wiki_words=2_500_000, pretrain_epochs=1,
        pretrain_lr=3e-3, pretrain_batch=64, lm_batch=32, bptt=70, max_len_chunks=5, commit_pretrained=True,
        pretrain=PretrainRecipe(tokens=24_000_000, lr=1e-2, drop_mult=0.0, batch_size=32), epochs_from_choice=True,
        clf_drop_mult=0.5,
        tasks=_tasks(
            trec6=TaskScale(lm_epochs=5, clf_epochs=12, batch_size=32, seeds=(0, 1, 2),
                            low_shot=(100, 500, 1000, 2500), tune_lm_epochs=(5, 10, 20), tune_epochs=(12, 20, 30),
                            scratch_epochs=20, low_shot_examples=1000),
            ag_news_7k6=TaskScale(n_train=3000, max_tokens=80, lm_epochs=4, clf_epochs=10, batch_size=32,
                                  seeds=(0, 1, 2), low_shot=(100, 500, 1000), unlabelled=3600,
                                  tune_lm_epochs=(4, 8, 16), tune_epochs=(10, 20), scratch_epochs=10,
                                  low_shot_examples=1000),
            imdb=TaskScale(n_train=2000, n_test=5000, max_tokens=300, lm_epochs=3, clf_epochs=12,
                           batch_size=32, seeds=(0,), main_seeds=(0, 1, 2), low_shot=(100, 500),
                           unlabelled=5000, tune_lm_epochs=(3, 6), tune_epochs=(12, 20), scratch_epochs=12,
                           low_shot_examples=1000),
            dbpedia_14k=TaskScale(n_train=3000, max_tokens=80, lm_epochs=3, clf_epochs=12, batch_size=32,
                                  seeds=(0, 1, 2), tune_lm_epochs=(3, 6), tune_epochs=(6, 12), scratch_epochs=12),
            yelp_bi=TaskScale(n_train=2000, max_tokens=200, lm_epochs=3, clf_epochs=6, batch_size=32,
                              seeds=(0, 1, 2), tune_lm_epochs=(3, 6), tune_epochs=(6, 12), scratch_epochs=24),
            yelp_full=TaskScale(n_train=2000, max_tokens=200, lm_epochs=3, clf_epochs=12, batch_size=32,
                                seeds=(0, 1, 2), tune_lm_epochs=(3, 6), tune_epochs=(6, 12), scratch_epochs=6),
        )),
    "gpu": Scale(   # pretraining: the reduced scale's chosen rate and dropout (lm_recipe.chosen), 4 passes
        name="gpu", model=AWDLSTMConfig(), vocab_size=60_000, min_freq=2, wiki_shards=(0, 1),
        wiki_words=6_000_000, pretrain_epochs=4, pretrain_lr=1e-2, pretrain_drop_mult=0.0,
        pretrain_keep_best=True, pretrain_batch=128, lm_batch=64, bptt=70, max_len_chunks=20,
        tasks=_tasks(
            trec6=TaskScale(lm_epochs=15, clf_epochs=12, batch_size=64, seeds=(0, 1, 2),
                            low_shot=(100, 500, 1000, 2500), low_shot_examples=1000),
            ag_news_7k6=TaskScale(lm_epochs=8, clf_epochs=10, batch_size=64, seeds=(0, 1, 2),
                                  low_shot=(100, 500, 1000, 3000), low_shot_examples=1000),
            imdb=TaskScale(lm_epochs=2, clf_epochs=5, batch_size=64, seeds=(0,), max_tokens=700,
                           low_shot=(100, 1000, 5000), unlabelled=5_000, low_shot_examples=1000),
            dbpedia_14k=TaskScale(lm_epochs=4, clf_epochs=8, batch_size=64),
            yelp_bi=TaskScale(lm_epochs=4, clf_epochs=8, batch_size=64),
            yelp_full=TaskScale(lm_epochs=4, clf_epochs=8, batch_size=64),
        )),
    "paper": Scale(
        name="paper", model=AWDLSTMConfig(), vocab_size=60_000, min_freq=2, pretrain_corpus="wikitext103",
        wiki_shards=(), wiki_words=0, pretrain_epochs=10, pretrain_lr=5e-3,
        pretrain_batch=64, lm_batch=64, bptt=70, max_len_chunks=20,
        tasks=_tasks(
            imdb=TaskScale(lm_epochs=25, clf_epochs=50, batch_size=64, seeds=(0, 1, 2), unlabelled=50_000,
                           low_shot=(100, 200, 500, 1000, 2000, 5000, 10_000)),
            trec6=TaskScale(lm_epochs=15, clf_epochs=50, batch_size=64, seeds=(0, 1, 2),
                            low_shot=(100, 200, 500, 1000, 2000)),
            ag_news_120k=TaskScale(lm_epochs=25, clf_epochs=50, batch_size=64, seeds=(0, 1, 2),
                                   low_shot=(100, 200, 500, 1000, 2000, 5000, 10_000)),
            **{name: TaskScale(lm_epochs=25, clf_epochs=50, batch_size=64, seeds=(0, 1, 2))
               for name in ("dbpedia_560k", "yelp_bi_560k", "yelp_full_650k")},
        )),
}


def seeds_for(scale: Scale, dataset: str, seeds: Sequence[int] | None = None, main: bool = False) -> list[int]:
    """The seeds a study runs on ``dataset``: ``seeds`` where given, else the scale's — the dataset's
    ``main_seeds`` (where set) for the headline studies (``main``: the main results of Tables 2–3, Table
    4's pretraining and Figure 3's low-shot curves), its ``seeds`` for every other study."""
    if seeds is not None:
        return list(seeds)
    task = scale.task(dataset)
    return list(task.main_seeds if main and task.main_seeds else task.seeds)


def get_scale(name: str) -> Scale:
    """Return the scale called ``name`` (ValueError listing the known scales otherwise)."""
    if name not in SCALES:
        raise ValueError(f"unknown scale {name!r}; choose one of {sorted(SCALES)}")
    return SCALES[name]
