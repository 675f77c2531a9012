"""ULMFiT's stages on a user's own CSV, each writing one folder under the run's ``output``.

    pretrained/   (a) general-domain LM (§3.1), unless the config names a pretrained LM
    lm/           (b) the LM fine-tuned on the task's training texts (§3.2)
    classifier/   (c) the classifier fine-tuned from it (§3.3)
    baseline/     the TF-IDF linear model on the same split, the floor transfer has to beat
    evaluation.json

A backward model's folders end in ``-backward`` (``lm-backward/``, …). Each folder holds the weights
(safetensors), the vocabulary (JSON), the per-epoch history and ``stage.json``: the key of the
configuration that made it and whether it is finished. A finished stage with the same key is skipped; an
interrupted one resumes from its last checkpoint; a folder made by another configuration is refused, so a
run never mixes the results of two configurations.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from ulmfit_core import pretrained
from ulmfit_core.awd_lstm import lm_dropouts
from ulmfit_core.baseline import chosen_c, class_probs, fit_linear, token_texts
from ulmfit_core.batching import TextDataset
from ulmfit_core.checkpoint import load_into, load_weights, save_weights
from ulmfit_core.classifier import TextClassifier
from ulmfit_core.config import ConfigError
from ulmfit_core.corpus import text_documents, wikipedia_articles
from ulmfit_core.ensemble import ensemble
from ulmfit_core.evaluation import classification_report, format_reports
from ulmfit_core.fileio import file_sha256, read_json, write_json, write_text
from ulmfit_core.pipeline import build_vocab, encode, finetune_lm, pretrain_lm, train_classifier
from ulmfit_core.runconfig import PretrainConfig, RunConfig
from ulmfit_core.splits import Record, validation_split
from ulmfit_core.tasks import predict
from ulmfit_core.train import pick_device
from ulmfit_core.usercsv import label_ids, read_labelled_csv
from ulmfit_core.vocab import Vocab

STAGE_FILE = "stage.json"
BASELINE_LABEL = "baseline (TF-IDF)"


def stage_dir(cfg: RunConfig, stage: str, direction: str = "forward") -> Path:
    """The folder of ``stage`` (pretrained, lm, classifier) for a ``direction`` model."""
    return Path(cfg.output) / (stage if direction == "forward" else f"{stage}-{direction}")


def stage_key(cfg: RunConfig, stage: str, direction: str = "forward", from_scratch: bool = False) -> str:
    """A digest of everything that decides a stage's result: its settings, the model, the data (the
    training file's content) and the key of the stage it starts from."""
    parts: dict[str, Any] = {"stage": stage, "direction": direction, "model": cfg.model.to_dict(),
                             "bptt": cfg.bptt}
    if stage == "pretrained":
        parts["pretrain"] = cfg.pretrain.to_dict()
    else:
        parts["data"] = {**cfg.data.to_dict(), "train_sha256": file_sha256(cfg.data.train_csv)}
    if stage == "lm":
        lm = cfg.lm_for(direction)
        parts["finetune_lm"] = cfg.finetune_lm.to_dict()
        parts["from"] = str(lm.folder) if lm else stage_key(cfg, "pretrained", direction)
    elif stage == "classifier":
        parts.update(classifier=cfg.classifier.to_dict(), max_len=cfg.max_len,
                     start="scratch" if from_scratch else stage_key(cfg, "lm", direction))
    elif stage == "baseline":
        parts = {"stage": stage, "data": parts["data"], "baseline": cfg.baseline.to_dict(),
                 "test_sha256": file_sha256(cfg.data.test_csv) if cfg.data.test_csv else None}
    blob = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def is_done(folder: Path, key: str) -> bool:
    """Whether ``folder`` holds the finished stage of ``key``; a folder made by another configuration
    raises :class:`ConfigError`."""
    meta = folder / STAGE_FILE
    if meta.is_file():
        state = read_json(meta)
        if state.get("key") != key:
            raise ConfigError(f"{folder}: made by another configuration (data, model or stage settings "
                              f"changed); delete the folder or set another `output`")
        return bool(state.get("done"))
    if (folder / "checkpoints").exists() or (folder / "model.safetensors").exists():
        raise ConfigError(f"{folder}: holds a stage of unknown configuration (no {STAGE_FILE}); delete the "
                          f"folder or set another `output`")
    return False


def _pending(folder: Path, key: str, what: str) -> bool:
    """Whether the stage in ``folder`` still has to run (a note where it is done)."""
    if is_done(folder, key):
        print(f"{what}: done ({folder}), skipped")
        return False
    return True


def _start(folder: Path, key: str, what: str) -> None:
    """Mark ``folder`` as the stage of ``key`` before its training starts."""
    print(f"{what} -> {folder}", flush=True)
    write_json(folder / STAGE_FILE, {"key": key, "done": False})


def save_stage(folder: Path, key: str, model: torch.nn.Module, vocab: Vocab, history: list[dict]) -> None:
    """Write a finished stage: weights, vocabulary, history, and ``stage.json`` marking it done."""
    save_weights(model, folder / "model.safetensors")
    vocab.save(folder / "vocab.json")
    write_json(folder / "history.json", history)
    write_json(folder / STAGE_FILE, {"key": key, "done": True})


# ------------------------------------------------------------------------------------------ data

def corpus_texts(cfg: PretrainConfig) -> list[str]:
    """The pretraining corpus: the data folder's Wikipedia shards or a text file (one document per
    line), cut after ``max_words`` whitespace words where set."""
    docs = wikipedia_articles(cfg.shards) if cfg.corpus == "wikipedia" else iter(text_documents(Path(cfg.corpus)))
    out, words = [], 0
    for doc in docs:
        if cfg.max_words and words >= cfg.max_words:
            break
        out.append(doc)
        words += len(doc.split())
    return out


def task_records(cfg: RunConfig) -> tuple[list[Record], list[Record], list[str]]:
    """The training file as (train, validation) records — the validation split stratified, as the paper
    holds out 10% of training data (§5) — and the class names (sorted; id = position)."""
    texts, labels = read_labelled_csv(Path(cfg.data.train_csv), cfg.data.text_column, cfg.data.label_column)
    names = sorted(set(labels or []))
    ids = label_ids(labels or [], names, Path(cfg.data.train_csv))
    train, valid = validation_split([Record(t, y) for t, y in zip(texts, ids)], cfg.data.valid_frac,
                                    cfg.data.seed)
    return train, valid, names


def _texts(records: Sequence[Record]) -> list[str]:
    return [r.text for r in records]


# ------------------------------------------------------------------------------------------ stages

def run_pretrain(cfg: RunConfig) -> None:
    """(a) General-domain LM pretraining (§3.1), each direction on the same corpus and vocabulary."""
    if cfg.pretrained:
        raise ConfigError(f"the run starts from the pretrained LM {cfg.pretrained}; remove `pretrained:` "
                          f"to pretrain an LM of its own")
    keys = {d: stage_key(cfg, "pretrained", d) for d in cfg.directions}
    todo = [d for d in cfg.directions if _pending(stage_dir(cfg, "pretrained", d), keys[d], f"pretrain ({d})")]
    if not todo:
        return
    texts = corpus_texts(cfg.pretrain)
    name = "pretrain-" + re.sub(r"[^\w.-]", "_", cfg.pretrain.corpus)[-40:]   # a token-cache name
    vocab = build_vocab(texts, name, max_size=cfg.pretrain.vocab_size, progress=True)
    for direction in todo:
        out = stage_dir(cfg, "pretrained", direction)
        _start(out, keys[direction], f"pretrain ({direction})")
        docs = encode(texts, vocab, name, backward=direction == "backward", progress=True)
        n_valid = max(1, len(docs) // 100)
        model, history = pretrain_lm(docs[n_valid:], docs[:n_valid], vocab, lm_dropouts(cfg.model),
                                     cfg.pretrain.train, cfg.bptt, out, cfg.device)
        save_stage(out, keys[direction], model, vocab, history)
        twin = [stage_dir(cfg, "pretrained", d) for d in cfg.directions if d != direction]
        pretrained.write_meta(out, direction, twin[0] if twin else None)


def source_lm(cfg: RunConfig, direction: str) -> tuple[dict[str, torch.Tensor], Vocab]:
    """The general-domain LM that ``direction`` fine-tunes: the named pretrained LM (or its twin of that
    direction), else the run's own ``pretrained`` stage. Weights as float32."""
    lm = cfg.lm_for(direction)
    folder = lm.folder if lm else stage_dir(cfg, "pretrained", direction)
    state = {k: v.float() for k, v in load_weights(folder / "model.safetensors").items()}
    return state, Vocab.load(folder / "vocab.json")


def run_finetune_lm(cfg: RunConfig) -> None:
    """(b) Target-task LM fine-tuning (§3.2) on the training split's texts, each direction."""
    keys = {d: stage_key(cfg, "lm", d) for d in cfg.directions}
    todo = [d for d in cfg.directions if _pending(stage_dir(cfg, "lm", d), keys[d], f"fine-tune LM ({d})")]
    if not todo:
        return
    train, valid, _ = task_records(cfg)
    vocab = build_vocab(_texts(train), "task-train", progress=True)
    for direction in todo:
        out, backward = stage_dir(cfg, "lm", direction), direction == "backward"
        _start(out, keys[direction], f"fine-tune LM ({direction})")
        state, pre_vocab = source_lm(cfg, direction)
        train_docs = encode(_texts(train), vocab, "task-train", backward, progress=True)
        valid_docs = encode(_texts(valid), vocab, "task-valid", backward, progress=True)
        model, history = finetune_lm(state, pre_vocab, train_docs, valid_docs, vocab, lm_dropouts(cfg.model),
                                     cfg.finetune_lm, cfg.bptt, out, cfg.device)
        save_stage(out, keys[direction], model, vocab, history)


def run_train_classifier(cfg: RunConfig, from_scratch: bool = False) -> None:
    """(c) Classifier fine-tuning (§3.3) from the fine-tuned LM (or from random weights), each direction."""
    keys = {d: stage_key(cfg, "classifier", d, from_scratch) for d in cfg.directions}
    todo = [d for d in cfg.directions
            if _pending(stage_dir(cfg, "classifier", d), keys[d], f"train classifier ({d})")]
    if not todo:
        return
    train, valid, names = task_records(cfg)
    for direction in todo:
        out, backward = stage_dir(cfg, "classifier", direction), direction == "backward"
        _start(out, keys[direction], f"train classifier ({direction})")
        lm = None
        if from_scratch:
            vocab = build_vocab(_texts(train), "task-train", progress=True)
        else:
            vocab = Vocab.load(stage_dir(cfg, "lm", direction) / "vocab.json")
            lm = load_weights(stage_dir(cfg, "lm", direction) / "model.safetensors")
        datasets = [TextDataset(encode(_texts(rs), vocab, f"task-{part}", backward, progress=True),
                                [r.label for r in rs]) for rs, part in ((train, "train"), (valid, "valid"))]
        model, history = train_classifier(lm, *datasets, len(names), vocab, cfg.model, cfg.classifier, cfg.bptt,
                                          cfg.max_len, out, cfg.device)
        write_json(out / "labels.json", names)
        save_stage(out, keys[direction], model, vocab, history)


def run_baseline(cfg: RunConfig) -> dict[str, Any]:
    """The TF-IDF linear model (:mod:`ulmfit_core.baseline`) on the same split and our tokens: ``C`` chosen
    on the validation split, then scored on ``data.test_csv`` where it is set. Returns what it wrote to
    ``baseline/baseline.json``."""
    out, key = Path(cfg.output) / "baseline", stage_key(cfg, "baseline")
    what = "baseline (TF-IDF + logistic regression)"
    if not _pending(out, key, what):
        return read_json(out / "baseline.json")
    _start(out, key, what)
    train, valid, names = task_records(cfg)
    tokens = {part: token_texts(_texts(rs), f"task-{part}", progress=True)
              for part, rs in (("train", train), ("valid", valid))}
    model, table = fit_linear(tokens["train"], [r.label for r in train], tokens["valid"], [r.label for r in valid],
                              cfg.baseline, progress=True)
    result: dict[str, Any] = {"C": chosen_c(table), "table": table, "classes": names,
                              "valid": classification_report(class_probs(model, tokens["valid"], len(names)),
                                                             [r.label for r in valid], names)}
    if cfg.data.test_csv:
        path = Path(cfg.data.test_csv)
        texts, labels = read_labelled_csv(path, cfg.data.text_column, cfg.data.label_column)
        probs = class_probs(model, token_texts(texts, "task-test", progress=True), len(names))
        result.update(test_csv=str(path), test_sha256=file_sha256(path),
                      test=classification_report(probs, label_ids(labels or [], names, path), names))
    write_json(out / "baseline.json", result)
    write_json(out / STAGE_FILE, {"key": key, "done": True})
    print(f"baseline: C = {result['C']:g}, validation error {result['valid']['error']:.2f}%")
    return result


def load_classifier(cfg: RunConfig, direction: str = "forward") -> tuple[TextClassifier, Vocab, list[str]]:
    """The trained classifier of ``direction``, its vocabulary and class names, on the run's device."""
    folder = stage_dir(cfg, "classifier", direction)
    vocab, names = Vocab.load(folder / "vocab.json"), read_json(folder / "labels.json")
    model = TextClassifier(len(vocab), len(names), cfg.model, cfg.bptt, cfg.max_len)
    load_into(model, load_weights(folder / "model.safetensors"), folder / "model.safetensors")
    return model.to(pick_device(cfg.device)), vocab, names


def class_probabilities(cfg: RunConfig, texts: list[str], name: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """Each direction's class probabilities for ``texts`` (and, with two directions, their ensemble's:
    the mean, §3.3), with the class names."""
    probs, names = {}, None
    for direction in cfg.directions:
        model, vocab, labels = load_classifier(cfg, direction)
        if names is not None and labels != names:
            raise ConfigError(f"{stage_dir(cfg, 'classifier', direction)}: classes {labels} differ from {names}")
        names = labels
        data = TextDataset(encode(texts, vocab, name, direction == "backward", progress=True), [0] * len(texts))
        probs[direction] = predict(model, data, device=pick_device(cfg.device), progress=True)
    if len(probs) > 1:
        index = np.arange(len(texts))
        probs["ensemble"] = ensemble([(index, p) for p in probs.values()])[1]
    assert names is not None
    return probs, names


def run_evaluate(cfg: RunConfig) -> dict[str, Any]:
    """Score the classifier(s) on ``data.test_csv``: accuracy, error, per-class precision and recall and the
    confusion matrix of each direction, of their ensemble and of the baseline where it was scored on the
    same file. Printed as a table and written to ``evaluation.json``; returns what was written."""
    path = Path(cfg.data.test_csv)
    texts, labels = read_labelled_csv(path, cfg.data.text_column, cfg.data.label_column)
    probs, names = class_probabilities(cfg, texts, "task-test")
    ids = label_ids(labels or [], names, path)
    reports = {model: classification_report(p, ids, names) for model, p in probs.items()}
    baseline = Path(cfg.output) / "baseline" / "baseline.json"
    note = "run `ulmfit baseline` to compare with the TF-IDF linear model"
    if baseline.is_file():
        found = read_json(baseline)
        if found.get("test_sha256") == file_sha256(path) and found.get("classes") == names:
            reports[BASELINE_LABEL], note = found["test"], ""
        else:
            note = f"{baseline} was scored on another test file; run `ulmfit baseline` again"
    result = {"test_csv": str(path), "n": len(texts), "classes": names, "models": reports}
    write_json(Path(cfg.output) / "evaluation.json", result)
    print(f"\ntest set {path}: {len(texts)} texts, {len(names)} classes\n")
    print(format_reports(reports, names))
    if note:
        print(f"\n({note})")
    best = "ensemble" if "ensemble" in reports else cfg.directions[0]
    print(f"\ntest error {reports[best]['error']:.2f}% ({best})"
          + (f", {reports[BASELINE_LABEL]['error']:.2f}% for the baseline" if BASELINE_LABEL in reports else ""))
    print(f"wrote {Path(cfg.output) / 'evaluation.json'}")
    return result


def run_predict(cfg: RunConfig, input_csv: Path, output_csv: Path) -> None:
    """Write the predicted class and every class's probability for each text of ``input_csv`` (the
    ensemble's, with two directions)."""
    texts, _ = read_labelled_csv(input_csv, cfg.data.text_column, None)
    probs, names = class_probabilities(cfg, texts, "predict")
    final = probs["ensemble"] if "ensemble" in probs else probs[cfg.directions[0]]
    frame = pd.DataFrame(final, columns=[f"p_{n}" for n in names])
    frame.insert(0, "prediction", [names[i] for i in final.argmax(1)])
    write_text(output_csv, frame.to_csv(index=False))
    print(f"wrote {len(frame)} predictions to {output_csv}")
