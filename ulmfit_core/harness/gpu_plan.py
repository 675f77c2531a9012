"""Every run behind the book's chapters at a scale, listed without running anything, in order of value.

:mod:`ulmfit_core.harness.studies` ensures its runs as it builds each table; a machine lent for minutes needs the
list beforehand, to run the most useful missing runs first and to start none it cannot finish. This
module builds the same runs with the same builders (a test checks the lists against the studies).

The order (:func:`order`) is the book's, after the schedule-length choices of the datasets that make one
(:mod:`ulmfit_core.harness.epoch_choice`; they decide the epochs of every later run): the paper's headline
numbers first — the main results (Tables 2–3) and the forward + backward ensemble they are reported
with — on the analysis datasets (IMDb, TREC-6, AG); then the analysis chapters in the paper's order
(Tables 4, 5, 6, 7 with Figure 4, then Figure 3) on the same datasets; then the pretrained LMs'
perplexity table; the other main-results datasets last. :func:`plan` lists the GPU work by default; the
linear baseline (run kind ``baseline``) needs no GPU and is listed when asked for (``kinds=ALL_KINDS``), as
:mod:`ulmfit_core.harness.worker` does on a CPU.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Iterable, Sequence

from ulmfit_core.harness.experiments import (CLASSIFIER_FINETUNING, LM_FINETUNING, ULMFIT, Run, classifier_run,
                                             finetune_run, linear_run, pretrain_run, ulmfit_runs)
from ulmfit_core.harness import epoch_choice as choices
from ulmfit_core.harness.scales import Scale, seeds_for

GPU_KINDS = ("pretrain", "finetune_lm", "classifier")
ALL_KINDS = (*GPU_KINDS, "baseline")
LINEAR = "linear (TF-IDF)"
EPOCH_CHOICE = "00_epoch_choice"                     # shown in chapter 6; made before any other run
WIKIPEDIA = "wikipedia"                              # the perplexity table's "dataset": the pretrained LMs
RATE_CHECK = {"trec6": (1.0, 2.0), "ag": (1.0, 2.0)}  # chapter 6's peak-rate table: multiples of the paper's


def order(scale: Scale) -> list[tuple[str, str]]:
    """(chapter, dataset) pairs in order of value at ``scale`` (see the module docstring)."""
    analysis = scale.analysis()
    return [*((EPOCH_CHOICE, ds) for ds in scale.datasets()),
            *((chapter, ds) for ds in analysis for chapter in ("01_main_results", "07_bidirectional")),
            *((chapter, ds) for chapter in ("03_pretraining", "04_lm_quality", "05_lm_finetuning",
                                            "06_classifier_finetuning", "02_low_shot") for ds in analysis),
            ("04_lm_quality", WIKIPEDIA),
            *(("01_main_results", ds) for ds in scale.datasets() if ds not in analysis)]


@dataclasses.dataclass(frozen=True)
class Target:
    """One run a chapter shows (a classifier, or a pretrained LM in the perplexity table)."""

    chapter: str
    dataset: str
    label: str
    run: Run

    def describe(self) -> str:
        return f"{self.chapter} {self.dataset}: {self.label} ({self.run.kind} {self.run.id})"


Arms = list[tuple[str, Run]]


def _per_seed(arms: dict[str, Callable[[int], Run]], seeds: Iterable[int]) -> Arms:
    """Every arm for each seed in turn (seed-major, so the first seeds of all arms come first)."""
    return [(f"{name}, seed {s}", make(s)) for s in seeds for name, make in arms.items()]


def main_results(scale: Scale, ds: str, seeds: Sequence[int] | None) -> Arms:
    """Tables 2–3: ULMFiT and the classifier trained from scratch; the linear baseline (deterministic:
    one run serves every seed)."""
    return _per_seed({"ULMFiT": lambda s: ulmfit_runs(scale, ds, s)[2],
                      "from scratch": lambda s: classifier_run(scale, ds, s, None, "from scratch")},
                     seeds_for(scale, ds, seeds, main=True)) + [(LINEAR, linear_run(scale, ds))]


def bidirectional(scale: Scale, ds: str, seeds: Sequence[int] | None) -> Arms:
    """§5 bidirectionality: the forward and the backward ULMFiT classifiers."""
    return _per_seed({"forward ULMFiT": lambda s: ulmfit_runs(scale, ds, s, "forward")[2],
                      "backward ULMFiT": lambda s: ulmfit_runs(scale, ds, s, "backward")[2]},
                     seeds_for(scale, ds, seeds))


def pretraining_impact(scale: Scale, ds: str, seeds: Sequence[int] | None) -> Arms:
    """Table 4: ULMFiT with and without pretraining."""
    return _per_seed({"without pretraining": lambda s: classifier_run(scale, ds, s, finetune_run(scale, ds, s, None)),
                      "with pretraining": lambda s: ulmfit_runs(scale, ds, s)[2]},
                     seeds_for(scale, ds, seeds, main=True))


def lm_quality(scale: Scale, ds: str, seeds: Sequence[int] | None) -> Arms:
    """Table 5: a vanilla LM against the AWD-LSTM; with ``ds`` = :data:`WIKIPEDIA`, the three pretrained
    LMs of the perplexity table."""
    if ds == WIKIPEDIA:
        return [("forward LM", pretrain_run(scale)), ("backward LM", pretrain_run(scale, "backward")),
                ("vanilla LM", pretrain_run(scale, dropout=False))]
    vanilla = pretrain_run(scale, dropout=False)
    return _per_seed({"vanilla LM": lambda s: classifier_run(scale, ds, s, finetune_run(scale, ds, s, vanilla,
                                                                                        dropout=False)),
                      "AWD-LSTM LM": lambda s: ulmfit_runs(scale, ds, s)[2]}, seeds_for(scale, ds, seeds))


def lm_finetuning(scale: Scale, ds: str, seeds: Sequence[int] | None) -> Arms:
    """Table 6: the four LM fine-tuning recipes, each with ULMFiT's classifier."""
    pre = pretrain_run(scale)
    return _per_seed({v: (lambda s, v=v: classifier_run(scale, ds, s, finetune_run(scale, ds, s, pre, v)))
                      for v in LM_FINETUNING}, seeds_for(scale, ds, seeds))


def classifier_finetuning(scale: Scale, ds: str, seeds: Sequence[int] | None) -> Arms:
    """Table 7 (every classifier fine-tuning method), Figure 4's runs without LM fine-tuning, and the
    peak-rate check (one seed, the paper's peak rate and its multiples, :func:`rate_check`)."""
    def arm(variant: str) -> Callable[[int], Run]:
        if variant == "from scratch":
            return lambda s: classifier_run(scale, ds, s, None, variant)
        return lambda s: classifier_run(scale, ds, s, ulmfit_runs(scale, ds, s)[1], variant)

    def no_ft(s: int) -> Run:
        return finetune_run(scale, ds, s, pretrain_run(scale), "no LM fine-tuning")

    arms = {v: arm(v) for v in CLASSIFIER_FINETUNING}
    arms["ULMFiT, no LM fine-tuning"] = lambda s: classifier_run(scale, ds, s, no_ft(s))
    arms["full, no LM fine-tuning"] = lambda s: classifier_run(scale, ds, s, no_ft(s), "full")
    out = _per_seed(arms, seeds_for(scale, ds, seeds))
    return out + rate_check(scale, ds)


def _same(scale: Scale, name: str, ds: str) -> bool:
    """Whether ``name`` (as a notebook names it) is the scale's dataset ``ds``."""
    try:
        return scale.own(name) == ds
    except KeyError:
        return False


def rate_check(scale: Scale, ds: str, seed: int = 0, lr_mults: Sequence[float] | None = None) -> Arms:
    """The runs of :func:`ulmfit_core.harness.studies.rate_check` for ``ds`` (the multiples of
    :data:`RATE_CHECK` unless given): ULMFiT and from scratch at the paper's peak rate times each multiple,
    with the scale's schedule lengths; multiple 1 is the chapters' own run."""
    mults = lr_mults or next((m for name, m in RATE_CHECK.items() if _same(scale, name, ds)), ())
    lm = ulmfit_runs(scale, ds, seed)[1]
    out = []
    for variant, parent in ((ULMFIT, lm), ("from scratch", None)):
        rate = CLASSIFIER_FINETUNING[variant]["lr"]
        out += [(f"rate check: {variant}, rate x{mult:g}",
                 classifier_run(scale, ds, seed, parent, variant, changes={"lr": rate * mult})) for mult in mults]
    return out


def epoch_choice(scale: Scale, ds: str, seeds: Sequence[int] | None = None) -> Arms:
    """The schedule-length choice of ``ds`` (:mod:`ulmfit_core.harness.epoch_choice`, one seed) as far as
    the records so far decide it: the LM fine-tuning candidates, the classifier candidates once the LM is
    chosen, and the from-scratch candidates."""
    if not choices.has_choice(scale, ds):
        return []
    runs, _ = choices.walk(scale, ds, choices.recorded)
    return [(f"epoch choice: {stage}, epochs {n}", run) for stage, n, run in runs]


def low_shot(scale: Scale, ds: str, seeds: Sequence[int] | None) -> Arms:
    """Figure 3: from scratch, supervised and semi-supervised ULMFiT at each number of labels (0 = the
    whole training part, the curve's last point)."""
    pre = pretrain_run(scale)
    out: Arms = []
    for n in (*scale.task(ds).low_shot, 0):
        out += _per_seed({
            f"from scratch, {n or 'all'} labels": lambda s, n=n: classifier_run(scale, ds, s, None, "from scratch", n),
            f"supervised ULMFiT, {n or 'all'} labels": lambda s, n=n: classifier_run(
                scale, ds, s, finetune_run(scale, ds, s, pre, n_labelled=n, lm_text="labelled"), n_labelled=n),
            f"semi-supervised ULMFiT, {n or 'all'} labels": lambda s, n=n: classifier_run(
                scale, ds, s, finetune_run(scale, ds, s, pre, n_labelled=n), n_labelled=n),
        }, seeds_for(scale, ds, seeds, main=True))
        out.append((f"{LINEAR}, {n or 'all'} labels", linear_run(scale, ds, n)))
    return out


CHAPTERS: dict[str, Callable[[Scale, str, Sequence[int] | None], Arms]] = {
    EPOCH_CHOICE: epoch_choice,
    "01_main_results": main_results, "02_low_shot": low_shot, "03_pretraining": pretraining_impact,
    "04_lm_quality": lm_quality, "05_lm_finetuning": lm_finetuning,
    "06_classifier_finetuning": classifier_finetuning, "07_bidirectional": bidirectional,
}


def _matches(chapter: str, wanted: Sequence[str] | None) -> bool:
    return not wanted or any(chapter == w or chapter[:2] == w for w in wanted)


def plan(scale: Scale, chapters: Sequence[str] | None = None, datasets: Sequence[str] | None = None,
         seeds: Sequence[int] | None = None, kinds: Sequence[str] = GPU_KINDS) -> list[Target]:
    """The targets of :func:`order` at ``scale`` — restricted to ``chapters`` (``01`` or
    ``01_main_results``) and ``datasets`` where given — each run of ``kinds`` once, where it first
    appears. A dataset whose schedule choice is pending (:func:`ulmfit_core.harness.epoch_choice.pending`)
    contributes only its choice candidates, whichever chapters are asked for, and its linear baselines."""
    unknown = [c for c in chapters or () if not any(_matches(k, [c]) for k in CHAPTERS)]
    if unknown:
        raise ValueError(f"unknown chapters {unknown}; choose from {sorted(CHAPTERS)}")
    out, seen, held = [], set(), set(choices.held_back(scale))
    for chapter, ds in order(scale):
        first = chapter == EPOCH_CHOICE and ds in held     # planned whatever the chapters asked for
        if not (_matches(chapter, chapters) or first) or (datasets and ds not in datasets):
            continue
        waits = chapter != EPOCH_CHOICE and ds in held     # its epochs are about to change
        for label, run in CHAPTERS[chapter](scale, ds, seeds):
            if waits and run.kind != "baseline":  # the linear baseline has no epochs: it need not wait
                continue
            if run.kind in kinds and run.id not in seen:
                seen.add(run.id)
                out.append(Target(chapter, ds, label, run))
    return out


def closure(run: Run) -> list[Run]:
    """``run`` and all its ancestors, each once, parents before children."""
    out: dict[str, Run] = {}

    def visit(r: Run) -> None:
        for p in r.parents:
            visit(p)
        out.setdefault(r.id, r)

    visit(run)
    return list(out.values())
