"""``ulmfit`` — run ULMFiT on your own CSV of texts and labels, driven by one YAML config file.

    ulmfit pretrain         -c run.yaml   # (a) general-domain LM on Wikipedia (or your text file)
    ulmfit fine-tune-lm     -c run.yaml   # (b) LM fine-tuning on the task's texts
    ulmfit train-classifier -c run.yaml   # (c) classifier fine-tuning (add --from-scratch for the baseline)
    ulmfit evaluate         -c run.yaml   # error on data.test_csv
    ulmfit predict          -c run.yaml --input texts.csv --output predictions.csv

Every stage writes into ``output/<stage>/`` (weights as safetensors, vocabulary as JSON, history) and
resumes from its last checkpoint if interrupted. Before it tokenises anything, each command checks what it
will read (:func:`check_inputs`) and stops with one message naming every problem.
"""
from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

import pandas as pd
import yaml

from ulmfit_core.awd_lstm import AWDLSTMConfig, lm_dropouts
from ulmfit_core.batching import TextDataset
from ulmfit_core.checkpoint import load_into, load_weights, save_weights
from ulmfit_core.classifier import TextClassifier
from ulmfit_core.config import Config, ConfigError, check_range
from ulmfit_core import settings
from ulmfit_core.datasets import validation_split, wikipedia_articles, Record
from ulmfit_core.fileio import read_json, write_json, write_text
from ulmfit_core.pipeline import build_vocab, encode, finetune_lm, pretrain_lm, train_classifier
from ulmfit_core.tasks import classification_metrics, predict
from ulmfit_core.train import TrainConfig, pick_device
from ulmfit_core.usercsv import check_labelled_csv, label_ids, read_labelled_csv
from ulmfit_core.vocab import Vocab


@dataclasses.dataclass(frozen=True)
class DataConfig(Config):
    train_csv: str = ""
    test_csv: str = ""
    text_column: str = "text"
    label_column: str = "label"
    valid_frac: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        check_range(self, "valid_frac", low=0, high=1, low_open=True, high_open=True)


@dataclasses.dataclass(frozen=True)
class PretrainConfig(Config):
    corpus: str = "wikipedia"          # "wikipedia" (the shards below) or a path to a UTF-8 text file
    shards: tuple[int, ...] = (0,)
    max_words: int = 0                 # 0 = the whole corpus
    vocab_size: int = 60_000
    train: TrainConfig = TrainConfig(epochs=1, lr=3e-3, discr_factor=1.0, clip=0.3)


@dataclasses.dataclass(frozen=True)
class RunConfig(Config):
    output: str = "ulmfit-run"
    device: str = "auto"
    backward: bool = False
    model: AWDLSTMConfig = AWDLSTMConfig()
    bptt: int = 70
    max_len: int = 70 * 20
    data: DataConfig = DataConfig()
    pretrain: PretrainConfig = PretrainConfig()
    finetune_lm: TrainConfig = TrainConfig(epochs=10, lr=4e-3, clip=0.3)
    classifier: TrainConfig = TrainConfig(epochs=10, lr=1e-2, strategy="gradual_unfreeze", clip=25.0)

    def __post_init__(self) -> None:
        check_range(self, "bptt", low=1, integer=True)
        check_range(self, "max_len", low=1, integer=True)
        if not isinstance(self.backward, bool):
            raise ConfigError(f"RunConfig.backward must be true or false, got {self.backward!r}")
        if not isinstance(self.output, str) or not self.output:
            raise ConfigError(f"RunConfig.output must be a folder name, got {self.output!r}")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", str(self.device)):
            raise ConfigError(f"RunConfig.device must be auto, cpu or cuda[:n], got {self.device!r}")

    @classmethod
    def load(cls, path: Path) -> "RunConfig":
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from err
        try:
            cfg = cls.from_dict(data, path)
        except TypeError as err:  # e.g. a string where a section is expected
            raise ConfigError(f"{path}: {err}") from None
        cfg = cfg.replace(output=str((Path(path).parent / cfg.output).resolve()))
        for key in ("train_csv", "test_csv"):
            value = getattr(cfg.data, key)
            if value:
                cfg = cfg.replace(data=cfg.data.replace(**{key: str((Path(path).parent / value).resolve())}))
        return cfg


def _stage_dir(cfg: RunConfig, stage: str) -> Path:
    return Path(cfg.output) / stage


_READS_STAGE = {"fine-tune-lm": "pretrained", "train-classifier": "lm", "evaluate": "classifier",
                "predict": "classifier"}
_STAGE_FILES = {"pretrained": ("model.safetensors", "vocab.json"), "lm": ("model.safetensors", "vocab.json"),
                "classifier": ("model.safetensors", "vocab.json", "labels.json")}
_MAKES_STAGE = {"pretrained": "ulmfit pretrain", "lm": "ulmfit fine-tune-lm", "classifier": "ulmfit train-classifier"}


def _csv_problems(cfg: RunConfig, key: str, labelled: bool) -> list[str]:
    """Problems of ``data.<key>``: unset, unreadable, missing columns; for training, classes and rows."""
    value = getattr(cfg.data, key)
    if not value:
        return [f"data.{key} is not set"]
    if key == "train_csv":
        return check_labelled_csv(Path(value), cfg.data.text_column, cfg.data.label_column, cfg.data.valid_frac)
    try:
        read_labelled_csv(Path(value), cfg.data.text_column, cfg.data.label_column if labelled else None)
    except (ValueError, FileNotFoundError) as err:
        return [str(err)]
    return []


def _corpus_problems(cfg: PretrainConfig) -> list[str]:
    if cfg.corpus != "wikipedia":
        return [] if Path(cfg.corpus).is_file() else [f"{cfg.corpus}: pretrain.corpus file not found"]
    root = settings.data_dir()
    missing = [root / "wikipedia" / f"wiki_{k:02d}.txt.gz" for k in cfg.shards]
    return [f"{p}: Wikipedia shard of pretrain.shards not found (set {settings.DATA_ENV})"
            for p in missing if not p.is_file()]


def check_inputs(cfg: RunConfig, command: str, from_scratch: bool = False, input_csv: Path | None = None,
                 source: Path | None = None) -> None:
    """Check everything ``command`` reads before it tokenises: the CSV files and their columns, at least
    two classes and enough rows for the validation split (training), the corpus (pretraining) and the
    previous stage's files. Raise one :class:`ConfigError` listing every problem (after ``source``, the
    config file)."""
    problems: list[str] = []
    if command == "pretrain":
        problems += _corpus_problems(cfg.pretrain)
    if command in ("fine-tune-lm", "train-classifier"):
        problems += _csv_problems(cfg, "train_csv", labelled=True)
    if command == "evaluate":
        problems += _csv_problems(cfg, "test_csv", labelled=True)
    if command == "predict" and input_csv is not None:
        try:
            read_labelled_csv(input_csv, cfg.data.text_column, None)
        except (ValueError, FileNotFoundError) as err:
            problems.append(str(err))
    stage = None if command == "train-classifier" and from_scratch else _READS_STAGE.get(command)
    if stage is not None:
        folder = _stage_dir(cfg, stage)
        missing = [folder / f for f in _STAGE_FILES[stage] if not (folder / f).is_file()]
        if missing:
            problems.append(f"{folder}: no {stage} stage ({', '.join(p.name for p in missing)} missing); "
                            f"run `{_MAKES_STAGE[stage]}` first")
    if problems:
        where = f"{source}: " if source else ""
        raise ConfigError(f"{where}{len(problems)} problem(s), nothing was tokenised:\n  - "
                          + "\n  - ".join(problems))


def _corpus(cfg: PretrainConfig) -> list[str]:
    if cfg.corpus == "wikipedia":
        docs: object = wikipedia_articles(cfg.shards)
    else:
        docs = (line for line in Path(cfg.corpus).read_text(encoding="utf-8").splitlines() if line.strip())
    out, words = [], 0
    for doc in docs:  # type: ignore[attr-defined]
        if cfg.max_words and words >= cfg.max_words:
            break
        out.append(doc)
        words += len(doc.split())
    return out


def _task_records(cfg: RunConfig) -> tuple[list[Record], list[Record], list[str]]:
    texts, labels = read_labelled_csv(Path(cfg.data.train_csv), cfg.data.text_column, cfg.data.label_column)
    names = sorted(set(labels))
    ids = label_ids(labels, names, Path(cfg.data.train_csv))
    records = [Record(t, y) for t, y in zip(texts, ids)]
    train, valid = validation_split(records, cfg.data.valid_frac, cfg.data.seed)
    return train, valid, names


def cmd_pretrain(cfg: RunConfig) -> None:
    out = _stage_dir(cfg, "pretrained")
    texts = _corpus(cfg.pretrain)
    name = f"pretrain-{cfg.pretrain.corpus.replace('/', '_')[-40:]}"
    vocab = build_vocab(texts, name, max_size=cfg.pretrain.vocab_size)
    docs = encode(texts, vocab, name, backward=cfg.backward, progress=True)
    n_valid = max(1, len(docs) // 100)
    model, history = pretrain_lm(docs[n_valid:], docs[:n_valid], vocab, lm_dropouts(cfg.model),
                                 cfg.pretrain.train, cfg.bptt, out, cfg.device)
    _save_stage(out, model, vocab, history)


def cmd_finetune_lm(cfg: RunConfig) -> None:
    src, out = _stage_dir(cfg, "pretrained"), _stage_dir(cfg, "lm")
    train, valid, _ = _task_records(cfg)
    vocab = build_vocab([r.text for r in train], "task-train")
    train_docs = encode([r.text for r in train], vocab, "task-train", cfg.backward)
    valid_docs = encode([r.text for r in valid], vocab, "task-valid", cfg.backward)
    model, history = finetune_lm(load_weights(src / "model.safetensors"), Vocab.load(src / "vocab.json"),
                                 train_docs, valid_docs, vocab, lm_dropouts(cfg.model), cfg.finetune_lm,
                                 cfg.bptt, out, cfg.device)
    _save_stage(out, model, vocab, history)


def cmd_train_classifier(cfg: RunConfig, from_scratch: bool = False) -> None:
    out = _stage_dir(cfg, "classifier")
    train, valid, names = _task_records(cfg)
    lm = None
    if from_scratch:
        vocab = build_vocab([r.text for r in train], "task-train")
    else:
        vocab = Vocab.load(_stage_dir(cfg, "lm") / "vocab.json")
        lm = load_weights(_stage_dir(cfg, "lm") / "model.safetensors")
    datasets = [TextDataset(encode([r.text for r in rs], vocab, f"task-{n}", cfg.backward),
                            [r.label for r in rs]) for rs, n in ((train, "train"), (valid, "valid"))]
    model, history = train_classifier(lm, *datasets, len(names), vocab, cfg.model, cfg.classifier, cfg.bptt,
                                      cfg.max_len, out, cfg.device)
    _save_stage(out, model, vocab, history)
    write_json(out / "labels.json", names)


def _load_classifier(cfg: RunConfig) -> tuple[TextClassifier, Vocab, list[str]]:
    folder = _stage_dir(cfg, "classifier")
    vocab, names = Vocab.load(folder / "vocab.json"), read_json(folder / "labels.json")
    model = TextClassifier(len(vocab), len(names), cfg.model, cfg.bptt, cfg.max_len)
    load_into(model, load_weights(folder / "model.safetensors"), folder / "model.safetensors")
    return model.to(pick_device(cfg.device)), vocab, names


def cmd_evaluate(cfg: RunConfig) -> dict[str, float]:
    model, vocab, names = _load_classifier(cfg)
    path = Path(cfg.data.test_csv)
    texts, labels = read_labelled_csv(path, cfg.data.text_column, cfg.data.label_column)
    data = TextDataset(encode(texts, vocab, "task-test", cfg.backward), label_ids(labels, names, path))
    metrics = classification_metrics(predict(model, data, device=pick_device(cfg.device)), data.labels, "test_")
    write_json(_stage_dir(cfg, "classifier") / "test_metrics.json", metrics)
    print(f"test error {metrics['test_error']:.2f}% on {len(data)} texts ({path})")
    return metrics


def cmd_predict(cfg: RunConfig, input_csv: Path, output_csv: Path) -> None:
    model, vocab, names = _load_classifier(cfg)
    texts, _ = read_labelled_csv(input_csv, cfg.data.text_column, None)
    data = TextDataset(encode(texts, vocab, "predict", cfg.backward), [0] * len(texts))
    probs = predict(model, data, device=pick_device(cfg.device))
    frame = pd.DataFrame(probs, columns=[f"p_{n}" for n in names])
    frame.insert(0, "prediction", [names[i] for i in probs.argmax(1)])
    write_text(output_csv, frame.to_csv(index=False))
    print(f"wrote {len(frame)} predictions to {output_csv}")


def _save_stage(out: Path, model: object, vocab: Vocab, history: list[dict]) -> None:
    save_weights(model, out / "model.safetensors")  # type: ignore[arg-type]
    vocab.save(out / "vocab.json")
    write_json(out / "history.json", history)
    print(f"saved {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ulmfit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("pretrain", "fine-tune-lm", "train-classifier", "evaluate", "predict"):
        p = sub.add_parser(name)
        p.add_argument("-c", "--config", type=Path, required=True)
        if name == "train-classifier":
            p.add_argument("--from-scratch", action="store_true")
        if name == "predict":
            p.add_argument("--input", type=Path, required=True)
            p.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        cfg = RunConfig.load(args.config)
        check_inputs(cfg, args.command, getattr(args, "from_scratch", False), getattr(args, "input", None),
                     args.config)
        if args.command == "pretrain":
            cmd_pretrain(cfg)
        elif args.command == "fine-tune-lm":
            cmd_finetune_lm(cfg)
        elif args.command == "train-classifier":
            cmd_train_classifier(cfg, args.from_scratch)
        elif args.command == "evaluate":
            cmd_evaluate(cfg)
        else:
            cmd_predict(cfg, args.input, args.output)
    except (ValueError, FileNotFoundError) as err:
        print(f"ulmfit: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
