"""The linear baseline: TF-IDF word and character n-grams with logistic regression (scikit-learn).

Not one of the paper's baselines: a floor that tells whether transfer pays at all on a given split. If
ULMFiT does not beat a linear model on the same texts, the setup (data, scale, schedule) is what is being
measured, not the method. The inverse regularisation strength ``C`` is chosen on the validation split
only: :func:`fit_linear` never sees test data, and its model is trained on the training texts alone, as
the neural arms are.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
from tqdm import tqdm

from ulmfit_core.config import Config, ConfigError
from ulmfit_core.pipeline import Texts, tokenized

if TYPE_CHECKING:   # scikit-learn is imported where a baseline is fitted, so a GPU machine without it
    from sklearn.pipeline import FeatureUnion, Pipeline   # can still run everything else


@dataclass(frozen=True)
class LinearConfig(Config):
    """The features (word and character n-gram ranges) and the grid of ``C`` compared on validation."""

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    c_grid: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
    max_iter: int = 2000

    def __post_init__(self) -> None:
        for name in ("word_ngrams", "char_ngrams"):
            lo, hi = getattr(self, name)
            if not 1 <= lo <= hi:
                raise ConfigError(f"LinearConfig.{name} = {getattr(self, name)}; expected (low, high), 1 <= low <= high")
        if not self.c_grid or any(c <= 0 for c in self.c_grid):
            raise ConfigError(f"LinearConfig.c_grid = {self.c_grid}; expected positive values")


def features(cfg: LinearConfig) -> "FeatureUnion":
    """TF-IDF (sublinear term frequency) of word n-grams and of character n-grams inside words; texts
    come already tokenised and lower-cased, tokens separated by spaces."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion([
        ("words", TfidfVectorizer(analyzer="word", token_pattern=r"\S+", lowercase=False,
                                  ngram_range=tuple(cfg.word_ngrams), sublinear_tf=True)),
        ("chars", TfidfVectorizer(analyzer="char_wb", lowercase=False, ngram_range=tuple(cfg.char_ngrams),
                                  sublinear_tf=True, min_df=2)),
    ])


def token_texts(texts: Texts, name: str, max_tokens: int = 0, progress: bool = False) -> list[str]:
    """``texts`` as our tokens (the neural arms' tokenisation, cached under ``name``), cut to the first
    ``max_tokens`` tokens (0: no cut) and joined by spaces: the linear model reads exactly the tokens the
    classifier reads."""
    corpus = tokenized(texts, name, progress)
    cut = max_tokens or None
    return [" ".join(corpus.tokens(i)[:cut]) for i in range(len(corpus))]


def fit_linear(train_texts: Sequence[str], train_labels: Sequence[int], valid_texts: Sequence[str],
               valid_labels: Sequence[int], cfg: LinearConfig = LinearConfig(), progress: bool = False
               ) -> tuple["Pipeline", list[dict]]:
    """Fit the features on the training texts, a logistic regression per ``C`` of the grid, and keep the
    one with the lowest validation error (the smaller ``C``, i.e. more regularisation, on a tie).
    Return the chosen pipeline and the table of the choice (``C``, validation error in %); ``progress``
    shows a bar over the grid."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    if len(set(int(y) for y in train_labels)) < 2:
        raise ValueError("the linear baseline needs at least two classes among the training labels")
    feats = features(cfg)
    x_train, x_valid = feats.fit_transform(train_texts), feats.transform(valid_texts)
    y_valid = np.asarray(valid_labels)
    table, best = [], None
    for c in tqdm(sorted(cfg.c_grid), desc="baseline C", disable=not progress, leave=False):
        model = LogisticRegression(C=c, max_iter=cfg.max_iter)
        model.fit(x_train, np.asarray(train_labels))
        error = float(100.0 * (model.predict(x_valid) != y_valid).mean())
        table.append({"C": c, "valid_error": error})
        if best is None or error < best[0]:
            best = (error, model)
    assert best is not None
    return Pipeline([("features", feats), ("classifier", best[1])]), table


def chosen_c(table: list[dict]) -> float:
    """The ``C`` that :func:`fit_linear` kept, read from its table."""
    return min(table, key=lambda row: (row["valid_error"], row["C"]))["C"]


def class_probs(model: "Pipeline", texts: Sequence[str], n_classes: int) -> np.ndarray:
    """Class probabilities of a fitted model, one column per class of the task (``n_classes``), also for
    classes absent from its training labels (their column is 0)."""
    out = np.zeros((len(texts), n_classes))
    out[:, model.classes_] = model.predict_proba(texts)
    return out
