"""How well a classifier does on labelled texts: accuracy, error, per-class precision and recall, and the
confusion matrix (scikit-learn's metrics), as a JSON-ready report and as a table to print.

The paper reports test error in percent (Tables 2–3); the per-class figures and the confusion matrix show
where the errors are. Several models' reports (the forward and backward classifiers, their ensemble of
§3.3 and the linear baseline) are printed side by side.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np


def classification_report(probs: np.ndarray, labels: Sequence[int], names: Sequence[str]) -> dict[str, Any]:
    """The report of class probabilities ``probs`` (n, classes) against ``labels`` (ids into ``names``):
    ``n``, ``accuracy`` and ``error`` (%), cross-entropy ``loss``, ``per_class`` precision, recall, F1
    and support (%, by class name), and ``confusion`` (rows: true class, columns: predicted class, in the
    order of ``names``)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    if probs.ndim != 2 or len(probs) != len(labels) or probs.shape[1] != len(names):
        raise ValueError(f"{probs.shape} probabilities do not fit {len(labels)} labels of {len(names)} classes")
    classes = list(range(len(names)))
    predicted = probs.argmax(1)
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, labels=classes,
                                                                     zero_division=0)
    accuracy = float(100.0 * (predicted == labels).mean())
    p_true = np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0)
    return {
        "n": int(len(labels)), "accuracy": accuracy, "error": 100.0 - accuracy,
        "loss": float(-np.log(p_true).mean()),
        "per_class": {name: {"precision": float(100 * precision[i]), "recall": float(100 * recall[i]),
                             "f1": float(100 * f1[i]), "support": int(support[i])}
                      for i, name in enumerate(names)},
        "confusion": confusion_matrix(labels, predicted, labels=classes).tolist(),
    }


def format_reports(reports: Mapping[str, Mapping[str, Any]], names: Sequence[str]) -> str:
    """The reports side by side: accuracy and error per model, per-class precision / recall per model,
    then each model's confusion matrix."""
    models = list(reports)
    width = max(12, *(len(m) + 2 for m in models))
    label = max(10, *(len(n) + 2 for n in names))
    lines = [" " * label + "".join(f"{m:>{width}}" for m in models)]
    for key in ("accuracy", "error"):
        lines.append(f"{key:<{label}}" + "".join(f"{reports[m][key]:>{width - 1}.2f}%" for m in models))
    lines.append("")
    lines.append(f"{'class':<{label}}" + "".join(f"{'prec / rec':>{width}}" for _ in models))
    for name in names:
        cells = [reports[m]["per_class"][name] for m in models]
        lines.append(f"{name:<{label}}" + "".join(f"{c['precision']:>{width - 8}.1f} / {c['recall']:5.1f}"
                                                  for c in cells))
    for m in models:
        lines += ["", f"confusion matrix, {m} (rows: true class, columns: predicted)"]
        cell = max(6, *(len(n) + 1 for n in names))
        lines.append(" " * label + "".join(f"{n[:cell - 1]:>{cell}}" for n in names))
        for name, row in zip(names, reports[m]["confusion"]):
            lines.append(f"{name:<{label}}" + "".join(f"{v:>{cell}}" for v in row))
    return "\n".join(lines)
