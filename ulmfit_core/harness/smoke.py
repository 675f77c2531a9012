"""A tiny ULMFiT run end to end on a CPU in a few minutes: pretrain an AWD-LSTM on ~100k Wikipedia
tokens, fine-tune it on TREC-6 questions, train the classifier, and report validation and test error
beside the majority-class error. ``python -m ulmfit_core.harness.smoke``"""
from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ulmfit_core.awd_lstm import AWDLSTMConfig, lm_dropouts
from ulmfit_core.batching import TextDataset
from ulmfit_core.corpus import wikipedia_articles
from ulmfit_core.pipeline import build_vocab, encode, finetune_lm, pretrain_lm, train_classifier
from ulmfit_core.splits import validation_split
from ulmfit_core.tasks import classification_metrics, predict
from ulmfit_core.train import TrainConfig
from ulmfit_core.harness.datasets import load_split


@dataclass(frozen=True)
class SmokeResult:
    valid_error: float
    test_error: float
    majority_test_error: float
    pretrain_perplexity: float
    finetune_perplexity: float


def wiki_sample(n_words: int) -> list[str]:
    """Return the first Wikipedia articles (shard 0) totalling about ``n_words`` whitespace words."""
    articles, words = [], 0
    for article in itertools.takewhile(lambda _: words < n_words, wikipedia_articles([0])):
        articles.append(article)
        words += len(article.split())
    return articles


def run(n_wiki_words: int = 100_000, n_train: int = 1500, seed: int = 0, progress: bool = False,
        work: Path | None = None, clf_epochs: int = 10) -> SmokeResult:
    """Run the three ULMFiT stages at smoke size and return the errors (%)."""
    cfg = AWDLSTMConfig(emb_size=64, hidden_size=128, n_layers=2)
    wiki = wiki_sample(n_wiki_words)
    wiki_vocab = build_vocab(wiki, "smoke-wiki", max_size=8000)
    wiki_docs = encode(wiki, wiki_vocab, "smoke-wiki")
    n_valid = max(1, len(wiki_docs) // 20)
    lm, lm_hist = pretrain_lm(wiki_docs[n_valid:], wiki_docs[:n_valid], wiki_vocab, lm_dropouts(cfg),
                              TrainConfig(epochs=2, lr=3e-3, discr_factor=1.0, batch_size=32, seed=seed,
                                          clip=0.3), bptt=35, run_dir=work and work / "pretrain",
                              progress=progress)
    train_all = load_split("trec6", "train")
    rng = np.random.default_rng(seed)
    train_all = [train_all[i] for i in rng.permutation(len(train_all))[:n_train]]
    train, valid = validation_split(train_all, 0.1, seed)
    test = load_split("trec6", "test")
    vocab = build_vocab([r.text for r in train], "smoke-trec-train", min_freq=1)
    train_docs = encode([r.text for r in train], vocab, "smoke-trec-train")
    valid_docs = encode([r.text for r in valid], vocab, "smoke-trec-valid")
    test_docs = encode([r.text for r in test], vocab, "smoke-trec-test")
    ft, ft_hist = finetune_lm(lm.state_dict(), wiki_vocab, train_docs, valid_docs, vocab, lm_dropouts(cfg),
                              TrainConfig(epochs=3, lr=4e-3, batch_size=16, seed=seed, clip=0.3), bptt=35,
                              run_dir=work and work / "finetune", progress=progress)
    labels = lambda rs: [r.label for r in rs]  # noqa: E731
    clf, _ = train_classifier(ft.state_dict(), TextDataset(train_docs, labels(train)),
                              TextDataset(valid_docs, labels(valid)), 6, vocab, cfg,
                              TrainConfig(epochs=clf_epochs, lr=1e-2, strategy="gradual_unfreeze", batch_size=32,
                                          seed=seed), bptt=35, max_len=35 * 4,
                              run_dir=work and work / "classifier", progress=progress)
    test_set = TextDataset(test_docs, labels(test))
    test_error = classification_metrics(predict(clf, test_set), test_set.labels)["error"]
    valid_set = TextDataset(valid_docs, labels(valid))
    valid_error = classification_metrics(predict(clf, valid_set), valid_set.labels)["error"]
    majority = np.bincount(labels(train)).argmax()
    return SmokeResult(valid_error, test_error, 100.0 * float(np.mean(test_set.labels != majority)),
                       lm_hist[-1]["valid_perplexity"], ft_hist[-1]["valid_perplexity"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(seed=args.seed, progress=True, work=Path(tmp))
    print(json.dumps(result.__dict__, indent=2))


if __name__ == "__main__":
    main()
