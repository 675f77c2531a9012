"""Schedule lengths chosen on validation: how long to fine-tune the LM, the classifier and the classifier
trained from scratch, before anything else runs at a scale.

The paper fine-tunes its classifiers for up to 50 epochs and early-stops its baselines (§4.1); a CPU scale
affords a few epochs, and a schedule that is too short shows the schedule, not the method. So each dataset
with candidates (``TaskScale.tune_lm_epochs``, ``TaskScale.tune_epochs``) chooses, with seed 0 and on
validation error alone (test error plays no part), in three stages:

1. **LM fine-tuning**: each candidate number of LM epochs, followed by the *longest* classifier candidate,
   so that every LM is judged by a classifier that has had its full schedule;
2. **classifier**: each classifier candidate on the LM chosen in stage 1;
3. **from scratch**: each classifier candidate for the classifier trained from scratch (which keeps its
   best validation epoch, as the paper's baselines do).

Each stage picks the shortest candidate after which validation error has levelled off
(:func:`levelled_off`). A stage whose *longest* candidate wins has not shown that it levelled off: it is
extended by a candidate twice as long, up to :data:`EXTENSIONS` times (so that every arm converges on
validation before it is compared); a choice still at the longest schedule tried is marked as such. The
runs of every stage are fixed by the candidates and the records of the stages
before it, never by the epochs the scale uses, so setting the scale's epochs to the choice leaves the
choice itself unchanged. Every classifier is compared with the scale's classifier dropouts
(``Scale.clf_drop_mult``); a choice made with other dropouts is no longer the scale's. The choice is
written to ``results/<scale>/choices/<dataset>.json``. At a scale that takes its epochs from the choice
(``Scale.epochs_from_choice``, the reduced one), a dataset's other runs wait until its choice is recorded and set in the scale (:func:`pending`), and a test checks that the
scale's epochs are the recorded choice.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ulmfit_core.fileio import read_json, write_json
from ulmfit_core.settings import results_dir
from ulmfit_core.harness.experiments import Run, classifier_run, finetune_run, pretrain_run
from ulmfit_core.harness.scales import Scale

SEED = 0
EXTENSIONS = 2     # a stage whose longest candidate wins gets one twice as long, at most this many times
STAGES = ("LM fine-tuning", "classifier", "from scratch")
CHOICE_KEYS = {"LM fine-tuning": "lm_epochs", "classifier": "clf_epochs", "from scratch": "scratch_epochs"}


def levelled_off(valid_errors: dict[int, float], n_valid: int) -> int:
    """The shortest schedule after which validation error has levelled off: the fewest epochs such that
    no longer schedule has an error lower by more than one standard error of a validation error at that
    level, sqrt(p(1 − p) / n_valid), in percentage points."""
    if not valid_errors:
        raise ValueError("levelled_off needs at least one schedule")
    for epochs in sorted(valid_errors):
        p = valid_errors[epochs] / 100
        se = 100 * float(np.sqrt(max(p * (1 - p), 1e-12) / n_valid))
        if all(valid_errors[later] >= valid_errors[epochs] - se for later in valid_errors if later > epochs):
            return epochs
    raise AssertionError("unreachable: the longest schedule always qualifies")


def has_choice(scale: Scale, dataset: str) -> bool:
    """Whether ``dataset`` chooses its schedule lengths at ``scale`` (it has candidates to compare)."""
    task = scale.task(dataset)
    return bool(task.tune_lm_epochs or task.tune_epochs)


def lm_candidates(scale: Scale, dataset: str) -> tuple[int, ...]:
    task = scale.task(dataset)
    return task.tune_lm_epochs or (task.lm_epochs,)


def clf_candidates(scale: Scale, dataset: str) -> tuple[int, ...]:
    task = scale.task(dataset)
    return task.tune_epochs or (task.clf_epochs,)


def stage_run(scale: Scale, dataset: str, stage: str, epochs: int, lm_epochs: int | None = None) -> Run:
    """The candidate run of one stage with ``epochs`` epochs (of LM fine-tuning in the first stage, of the
    classifier in the others); the classifier stage needs the LM fine-tuning epochs that stage 1 chose."""
    pre = pretrain_run(scale)
    if stage == "LM fine-tuning":
        lm = finetune_run(scale, dataset, SEED, pre, epochs=epochs)
        return classifier_run(scale, dataset, SEED, lm, changes={"epochs": max(clf_candidates(scale, dataset))})
    if stage == "classifier":
        if lm_epochs is None:
            raise ValueError("the classifier stage needs the chosen LM fine-tuning epochs")
        lm = finetune_run(scale, dataset, SEED, pre, epochs=lm_epochs)
        return classifier_run(scale, dataset, SEED, lm, changes={"epochs": epochs})
    if stage == "from scratch":
        return classifier_run(scale, dataset, SEED, None, "from scratch", changes={"epochs": epochs})
    raise ValueError(f"unknown stage {stage!r}; choose one of {STAGES}")


def stage_runs(scale: Scale, dataset: str, stage: str, lm_epochs: int | None = None) -> dict[int, Run]:
    """The configured candidate runs of one stage (epochs -> classifier run), before any extension."""
    first = lm_candidates(scale, dataset) if stage == "LM fine-tuning" else clf_candidates(scale, dataset)
    return {n: stage_run(scale, dataset, stage, n, lm_epochs) for n in first}


Outcome = Callable[[Run], dict | None]
"""Gives a run's record, or None where it is not (yet) known."""


def walk(scale: Scale, dataset: str, outcome: Outcome) -> tuple[list[tuple[str, int, Run]], dict[str, int]]:
    """Every candidate run as far as the stages can be known, and the choice so far: ``outcome`` gives
    each run's record (None where it is missing, which stops a stage's extension and the classifier stage
    from being planned)."""
    runs: list[tuple[str, int, Run]] = []
    choice: dict[str, int] = {}
    for stage in STAGES:
        if stage == "classifier" and "lm_epochs" not in choice:
            continue
        candidates = stage_runs(scale, dataset, stage, choice.get("lm_epochs"))
        runs += [(stage, n, run) for n, run in candidates.items()]
        for extension in range(EXTENSIONS + 1):
            if extension:                      # the longest won: try one twice as long
                longest = 2 * max(candidates)
                candidates[longest] = stage_run(scale, dataset, stage, longest, choice.get("lm_epochs"))
                runs.append((stage, longest, candidates[longest]))
            records = {n: outcome(run) for n, run in candidates.items()}
            if any(r is None for r in records.values()):
                break
            n_valid = next(iter(records.values()))["metrics"]["n_valid"]
            chosen = levelled_off({n: r["metrics"]["valid_error"] for n, r in records.items()}, n_valid)
            if chosen < max(candidates) or extension == EXTENSIONS:
                choice[CHOICE_KEYS[stage]] = chosen
                break
    return runs, choice


def at_longest(runs: list[tuple[str, int, Run]], choice: dict[str, int]) -> list[str]:
    """The stages whose choice is the longest schedule tried (validation error may still be falling)."""
    return [stage for stage in STAGES if CHOICE_KEYS[stage] in choice
            and choice[CHOICE_KEYS[stage]] == max(n for s, n, _ in runs if s == stage)]


def choice_record(scale: Scale, dataset: str, outcome: Outcome, label: str) -> dict:
    """The record of a finished choice: the choice and its table, one row per candidate (``label`` names
    the dataset); ValueError while a stage is not recorded."""
    runs, choice = walk(scale, dataset, outcome)
    if set(choice) != set(CHOICE_KEYS.values()):
        raise ValueError(f"the schedule-length choice of {dataset} at {scale.name} is not finished")
    now, edge = used(scale, dataset), at_longest(runs, choice)
    rows = [{"dataset": label, "schedule": stage, "epochs": n,
             "valid error (%)": round(outcome(run)["metrics"]["valid_error"], 2),
             "chosen": ("yes, the longest tried" if stage in edge else "yes") if n == choice[CHOICE_KEYS[stage]]
             else "",
             "used at this scale": "yes" if n == now[CHOICE_KEYS[stage]] else ""} for stage, n, run in runs]
    return {"scale": scale.name, "dataset": dataset, "seed": SEED, "candidates": candidates(scale, dataset),
            "extensions": EXTENSIONS, "n_valid": outcome(runs[0][2])["metrics"]["n_valid"], "choice": choice,
            "at_longest": edge, "table": rows}


def record_finished(scale: Scale, label: Callable[[str], str] = str) -> dict[str, dict[str, int]]:
    """Record the choice of every dataset whose candidates are all recorded and whose choice is not
    written yet (what a worker does after each run); returns the new choices."""
    new = {}
    for ds in scale.datasets():
        if not has_choice(scale, ds) or recorded_choice(scale, ds) is not None:
            continue
        if set(walk(scale, ds, recorded)[1]) == set(CHOICE_KEYS.values()):
            record = choice_record(scale, ds, recorded, label(ds))
            write_json(choice_path(scale, ds), record)
            new[ds] = record["choice"]
    return new


def pending(scale: Scale, dataset: str) -> bool:
    """Whether the runs of ``dataset`` must wait for its schedule choice: the scale takes its epochs from
    the choice (``Scale.epochs_from_choice``) and the choice is not made yet, or not yet what the scale
    uses (its runs would be made with epochs about to change)."""
    if not scale.epochs_from_choice or dataset not in scale.tasks or not has_choice(scale, dataset):
        return False
    return recorded_choice(scale, dataset) != used(scale, dataset)


def held_back(scale: Scale) -> list[str]:
    """The datasets of ``scale`` whose runs wait for their schedule choice (:func:`pending`)."""
    return [ds for ds in scale.datasets() if pending(scale, ds)]


def recorded(run: Run) -> dict | None:
    """A run's committed record, or None (an :data:`Outcome` that computes nothing)."""
    return read_json(run.record_path) if run.record_path.exists() else None


def choice_path(scale: Scale, dataset: str) -> Path:
    return results_dir() / scale.name / "choices" / f"{dataset}.json"


def candidates(scale: Scale, dataset: str) -> dict[str, list[int] | float]:
    """The candidates a choice compares and the classifier dropout they are compared at (a record made for
    other candidates, or with other dropouts, is no choice for these)."""
    return {"lm_epochs": list(lm_candidates(scale, dataset)), "clf_epochs": list(clf_candidates(scale, dataset)),
            "clf_drop_mult": scale.clf_drop_mult}


def recorded_choice(scale: Scale, dataset: str) -> dict[str, int] | None:
    """The choice recorded for ``dataset`` at ``scale`` among its present candidates (None before it is
    made, or when the record compared other candidates or extended them by other rules)."""
    path = choice_path(scale, dataset)
    if not path.exists():
        return None
    record = read_json(path)
    same = record.get("candidates") == candidates(scale, dataset) and record.get("extensions") == EXTENSIONS
    return record["choice"] if same else None


def used(scale: Scale, dataset: str) -> dict[str, int]:
    """The schedule lengths the scale's runs of ``dataset`` use, keyed as a choice is."""
    task = scale.task(dataset)
    return {"lm_epochs": task.lm_epochs, "clf_epochs": task.clf_epochs,
            "scratch_epochs": task.scratch_epochs or task.clf_epochs}


def mismatches(scale: Scale) -> list[str]:
    """The datasets whose recorded choice the scale's epochs do not follow, at a scale that takes its epochs
    from the choice (a choice, once made, is what every run uses)."""
    if not scale.epochs_from_choice:
        return []
    return [f"{ds}: scale uses {used(scale, ds)}, chosen {choice}" for ds in scale.datasets()
            if (choice := recorded_choice(scale, ds)) is not None and choice != used(scale, ds)]
