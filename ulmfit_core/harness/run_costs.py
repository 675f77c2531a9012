"""How long a run will take, from the records of runs already made on the same kind of device.

A run's work is counted in what its training loop goes through: tokens × epochs for a language model,
labelled documents × epochs for a classifier (× its ``repeat`` where Figure 3's small sets are repeated
in each epoch). A record gives its run's rate (work per second of wall time, data loading and evaluation
included); a planned run's estimate is its work divided by the median rate of the recorded runs of its
kind — on its dataset, for fine-tuning and classifiers — made on the same device type (``cuda`` or
``cpu``). A planned run's own work comes from its configuration or from a recorded run on the same data
(a new seed or schedule of a recorded run trains on the same tokens). Where no record says anything, the
estimate is the longest recorded run of its kind, else a default; its ``basis`` says which.
"""
from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path
from typing import Iterable, Sequence

from ulmfit_core.fileio import read_json
from ulmfit_core.harness.experiments import Run, epoch_repeat

KINDS = ("pretrain", "finetune_lm", "classifier")
TOKENS_PER_WORD = 1.4          # our tokens per whitespace word of Wikipedia, about
NO_TRAINING_S = 10.0           # "no LM fine-tuning": the pretrained weights moved to the task vocabulary


@dataclasses.dataclass(frozen=True)
class Estimate:
    """Seconds a run should take, and what the number rests on."""

    seconds: float
    basis: str


def scale_records(results: Path, scale: str) -> list[dict]:
    """Every run record at ``scale`` under ``results`` (all kinds)."""
    return [read_json(p) for kind in KINDS for p in sorted((results / scale / kind).glob("*.json"))
            if not p.name.startswith(".")]


def _epochs(config: dict) -> int:
    return int((config.get("train") or {}).get("epochs", 0))


def _data_key(kind: str, config: dict) -> str:
    """What decides a run's amount of training data (not its seed, schedule or direction)."""
    keys = {"finetune_lm": ("dataset", "task", "lm_text", "n_labelled"),
            "classifier": ("dataset", "task", "n_labelled"), "pretrain": ("corpus",)}[kind]
    return json.dumps([kind] + [config.get(k) for k in keys], sort_keys=True)


def record_work(record: dict) -> float | None:
    """The work a recorded run did (see the module docstring), or None."""
    m, c = record["metrics"], record["config"]
    if record["kind"] == "pretrain":
        return record["provenance"].get("items_processed") or m.get("train_tokens", 0) * _epochs(c) or None
    if record["kind"] == "finetune_lm":
        return m.get("train_tokens", 0) * _epochs(c) or None
    return m.get("n_train", 0) * epoch_repeat(c) * _epochs(c) or None


def planned_work(run: Run, known: Sequence[dict]) -> float | None:
    """The work ``run`` will do, from its configuration or a recorded run on the same data; None
    where neither says."""
    epochs, key = _epochs(run.config), _data_key(run.kind, run.config)
    same_data = [r for r in known if r["kind"] == run.kind and _data_key(r["kind"], r["config"]) == key]
    if run.kind == "pretrain":
        corpus = run.config["corpus"]
        tokens = corpus.get("tokens") or (same_data[0]["metrics"]["train_tokens"] if same_data
                                          else corpus.get("words", 0) * TOKENS_PER_WORD)
        return tokens * epochs or None
    if run.kind == "finetune_lm":
        return same_data[0]["metrics"]["train_tokens"] * epochs if same_data and epochs else None
    repeat = epoch_repeat(run.config)                    # Figure 3's small sets, repeated in each epoch
    if same_data:
        return same_data[0]["metrics"]["n_train"] * repeat * epochs
    return run.config["n_labelled"] * repeat * epochs or None


def _on(records: Iterable[dict], device: str, kind: str) -> list[dict]:
    return [r for r in records if r["kind"] == kind and r["provenance"].get("device") == device
            and r["provenance"].get("wall_seconds")]


def estimate(run: Run, known: Sequence[dict], device: str, default_s: float) -> Estimate:
    """Seconds ``run`` should take on a ``device`` (``cuda`` or ``cpu``), given the ``known`` records."""
    same_kind = _on(known, device, run.kind)
    if run.kind == "finetune_lm" and run.config.get("train") is None:
        walls = [r["provenance"]["wall_seconds"] for r in same_kind if r["config"].get("train") is None]
        return Estimate(statistics.median(walls), f"{len(walls)} such runs") if walls else \
            Estimate(NO_TRAINING_S, "nothing to train")
    work = planned_work(run, known)
    dataset = run.config.get("dataset")
    for pool, where in (([r for r in same_kind if r["config"].get("dataset") == dataset],
                         "on this dataset" if dataset else "of this kind"),
                        (same_kind if run.kind != "classifier" else [], "of this kind")):
        rates = [w / r["provenance"]["wall_seconds"] for r in pool if (w := record_work(r))]
        if work and rates:
            return Estimate(work / statistics.median(rates), f"rate of {len(rates)} {device} runs {where}")
    if same_kind:
        return Estimate(max(r["provenance"]["wall_seconds"] for r in same_kind),
                        f"the longest {run.kind} run recorded on {device}")
    return Estimate(default_s, f"no {run.kind} run recorded on {device}: the default")
