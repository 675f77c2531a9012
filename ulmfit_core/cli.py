"""``ulmfit`` — run ULMFiT on your own CSV of texts and labels, driven by one YAML config file.

    ulmfit run              -c run.yaml   # every stage below in order, then evaluate; resumable
    ulmfit pretrain         -c run.yaml   # (a) general-domain LM on Wikipedia or your text file; not needed
                                          #     when the config names a `pretrained:` LM
    ulmfit fine-tune-lm     -c run.yaml   # (b) LM fine-tuning on the task's texts
    ulmfit train-classifier -c run.yaml   # (c) classifier fine-tuning (add --from-scratch for no transfer)
    ulmfit baseline         -c run.yaml   # the TF-IDF linear model on the same split, for comparison
    ulmfit evaluate         -c run.yaml   # accuracy, error, per-class precision/recall, confusion matrix
    ulmfit predict          -c run.yaml --input texts.csv --output predictions.csv

Every stage writes into ``output/<stage>/`` (``output/<stage>-backward/`` for a backward model) and resumes
from its last checkpoint if interrupted; a finished stage is skipped. Before it tokenises anything, each
command checks what it will read (:func:`check_inputs`) and stops with one message naming every problem.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ulmfit_core.config import ConfigError
from ulmfit_core.runconfig import PretrainConfig, RunConfig
from ulmfit_core.settings import DATA_ENV, data_dir
from ulmfit_core.stages import (run_baseline, run_evaluate, run_finetune_lm, run_predict, run_pretrain,
                                run_train_classifier, stage_dir)
from ulmfit_core.usercsv import check_labelled_csv, read_labelled_csv

COMMANDS = ("run", "pretrain", "fine-tune-lm", "train-classifier", "baseline", "evaluate", "predict")
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
    missing = [data_dir() / "wikipedia" / f"wiki_{k:02d}.txt.gz" for k in cfg.shards]
    return [f"{p}: Wikipedia shard of pretrain.shards not found (set {DATA_ENV})"
            for p in missing if not p.is_file()]


def _stage_problems(cfg: RunConfig, stage: str) -> list[str]:
    problems = []
    for direction in cfg.directions:
        folder = stage_dir(cfg, stage, direction)
        missing = [folder / f for f in _STAGE_FILES[stage] if not (folder / f).is_file()]
        if missing:
            problems.append(f"{folder}: no {stage} stage ({', '.join(p.name for p in missing)} missing); "
                            f"run `{_MAKES_STAGE[stage]}` first")
    return problems


def check_inputs(cfg: RunConfig, command: str, from_scratch: bool = False, input_csv: Path | None = None,
                 source: Path | None = None) -> None:
    """Check everything ``command`` reads before it tokenises: the CSV files and their columns, at least
    two classes and enough rows for the validation split (training), the corpus (pretraining) and the
    previous stage's files. Raise one :class:`ConfigError` listing every problem (after ``source``, the
    config file)."""
    problems: list[str] = []
    if command == "pretrain" or (command == "run" and not cfg.pretrained):
        problems += _corpus_problems(cfg.pretrain)
    if command in ("run", "fine-tune-lm", "train-classifier", "baseline"):
        problems += _csv_problems(cfg, "train_csv", labelled=True)
    if command == "evaluate" or (command in ("run", "baseline") and cfg.data.test_csv):
        problems += _csv_problems(cfg, "test_csv", labelled=True)
    if command == "predict" and input_csv is not None:
        try:
            read_labelled_csv(input_csv, cfg.data.text_column, None)
        except (ValueError, FileNotFoundError) as err:
            problems.append(str(err))
    stage = _READS_STAGE.get(command)
    if command == "train-classifier" and from_scratch or command == "fine-tune-lm" and cfg.pretrained:
        stage = None
    if stage is not None:
        problems += _stage_problems(cfg, stage)
    if problems:
        where = f"{source}: " if source else ""
        raise ConfigError(f"{where}{len(problems)} problem(s), nothing was tokenised:\n  - "
                          + "\n  - ".join(problems))


def run_all(cfg: RunConfig) -> None:
    """``ulmfit run``: pretraining (only without a named pretrained LM), LM fine-tuning, classifier
    fine-tuning, the baseline and, where ``data.test_csv`` is set, the evaluation. Finished stages are
    skipped, so the command resumes where it stopped."""
    if not cfg.pretrained:
        run_pretrain(cfg)
    run_finetune_lm(cfg)
    run_train_classifier(cfg)
    run_baseline(cfg)
    if cfg.data.test_csv:
        run_evaluate(cfg)
    else:
        print("data.test_csv is not set: nothing to evaluate")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ulmfit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        p = sub.add_parser(name)
        p.add_argument("-c", "--config", type=Path, required=True)
        if name == "train-classifier":
            p.add_argument("--from-scratch", action="store_true")
        if name == "predict":
            p.add_argument("--input", type=Path, required=True)
            p.add_argument("--output", type=Path, required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        cfg = RunConfig.load(args.config)
        check_inputs(cfg, args.command, getattr(args, "from_scratch", False), getattr(args, "input", None),
                     args.config)
        if args.command == "run":
            run_all(cfg)
        elif args.command == "pretrain":
            run_pretrain(cfg)
        elif args.command == "fine-tune-lm":
            run_finetune_lm(cfg)
        elif args.command == "train-classifier":
            run_train_classifier(cfg, args.from_scratch)
        elif args.command == "baseline":
            run_baseline(cfg)
        elif args.command == "evaluate":
            run_evaluate(cfg)
        else:
            run_predict(cfg, args.input, args.output)
    except (ValueError, FileNotFoundError) as err:
        print(f"ulmfit: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
