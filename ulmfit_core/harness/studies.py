"""One function per table or figure of the paper: build its runs, ensure them, and return a
:class:`Study` — the table (paper beside ours), a figure and the claim verdicts — for a notebook to show.

Tables 4–7 and Figure 3 report validation error (10% of train, the paper's protocol) with test error
beside it; Tables 2–3 and bidirectionality report test error, as the paper does. No choice is ever made
on test error.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ulmfit_core.ensemble import ensemble
from ulmfit_core.fileio import write_json
from ulmfit_core.settings import results_dir
from ulmfit_core.harness import epoch_choice as choices, gpu_plan, preflight
from ulmfit_core.harness.experiments import (CLASSIFIER_FINETUNING, ULMFIT, Run, classifier_run, ensure,
                                             finetune_run, linear_run, predictions, pretrain_run, task_data,
                                             ulmfit_runs)
from ulmfit_core.harness.paper import LABEL, PAPER_KEY, main_table, paper_numbers, paper_value
from ulmfit_core.harness.scales import Scale, get_scale, seeds_for
from ulmfit_core.harness.verdicts import Effect, describe, mean_std, paired_effect, signed_pp, verdict

NOTEBOOK = {"main_results": "01_main_results", "low_shot": "02_low_shot", "pretraining_impact": "03_pretraining",
            "lm_quality": "04_lm_quality", "lm_finetuning": "05_lm_finetuning",
            "classifier_finetuning": "06_classifier_finetuning", "bidirectional": "07_bidirectional"}


@dataclasses.dataclass
class Claim:
    """One claim of the paper checked on our runs."""

    study: str
    claim: str
    dataset: str
    split: str
    paper_diff: float
    effect: dict
    verdict: str
    text: str
    sanity: bool = False     # a check of our setup (e.g. ULMFiT against a linear model), not the paper's


@dataclasses.dataclass
class Study:
    """What a notebook shows: a table, a figure, the claims, and the runs behind them."""

    name: str
    scale: str
    table: pd.DataFrame
    figure: Figure
    claims: list[Claim]
    records: list[dict]

    def verdict_table(self) -> pd.DataFrame:
        """One row per claim: the paper's difference, ours with its 95% interval, the verdict and the
        smallest effect the comparison could detect (percentage points of error, arm b − arm a)."""
        return verdict_table(self.claims)

    def image(self) -> object:
        """The figure as a PNG image a notebook displays (and the book embeds)."""
        import io  # noqa: PLC0415
        from IPython.display import Image  # noqa: PLC0415 — only where a notebook shows it

        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        return Image(data=buffer.getvalue(), format="png")

    def fingerprint(self) -> str:
        """A reproducibility check: the classifier runs' mean validation loss, to 4 decimals. It moves
        with almost any change to the numerics, even where the error rates do not; the digits after the
        fourth differ between processors (an Intel Xeon and an AMD EPYC, both held to AVX2)."""
        losses = [r["metrics"]["valid_loss"] for r in {r["id"]: r for r in self.records}.values()
                  if r["kind"] == "classifier"]
        return f"{len(losses)} classifier runs; mean validation loss {np.mean(losses):.4f}"

    def wall_seconds(self) -> float:
        """Compute time of every run behind this study (each counted once)."""
        unique = {r["id"]: r for r in self.records}
        return sum(r["provenance"]["wall_seconds"] for r in unique.values())


# ----------------------------------------------------------------------------------------- helpers

def preflight_first(study: Callable[..., "Study"]) -> Callable[..., "Study"]:
    """Run the preflight of the study's notebook (:func:`ulmfit_core.harness.preflight.require`) before the study
    tokenises or trains anything: one error names every missing input."""
    signature = inspect.signature(study)

    @functools.wraps(study)
    def checked(*args: object, **kwargs: object) -> "Study":
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        preflight.require(a["scale_name"], NOTEBOOK[study.__name__], a["datasets"], a["seeds"], a["device"])
        return study(*args, **kwargs)
    return checked


def arm(make: Callable[[int], Run], seeds: Sequence[int], device: str) -> list[Run]:
    """Ensure one run per seed (``make(seed)``) and return the runs."""
    runs = [make(s) for s in seeds]
    for run in runs:
        ensure(run, device)
    return runs


def records_of(runs: Sequence[Run]) -> list[dict]:
    """Records of ``runs`` and of all their ancestors."""
    out, stack = [], list(runs)
    while stack:
        run = stack.pop()
        out.append(ensure(run))
        stack.extend(run.parents)
    return out


def errors(runs: Sequence[Run], split: str) -> np.ndarray:
    """Per-example 0/1 errors, shape (seeds, examples), from the stored predictions."""
    rows = []
    for run in runs:
        preds = predictions(run)
        rows.append((preds[f"{split}_probs"].argmax(1) != preds[f"{split}_labels"]).astype(np.int8))
    return np.stack(rows)


def error_summary(runs: Sequence[Run], split: str) -> str:
    """``mean ± std (n)`` of the runs' error (%) on ``split``."""
    mean, std, n = mean_std(100.0 * errors(runs, split).mean(1))
    return f"{mean:.2f} ± {std:.2f} (n={n})"


def mean_error(runs: Sequence[Run], split: str) -> float:
    return float(100.0 * errors(runs, split).mean())


def compare(study: str, claim: str, dataset: str, runs_a: Sequence[Run], runs_b: Sequence[Run],
            paper_diff: float, split: str = "valid", expected_sign: int | None = None,
            sanity: bool = False) -> Claim:
    """Check "arm b's error differs from arm a's as the paper says" with a paired bootstrap (``sanity``:
    a check of our setup that the paper does not make)."""
    sign = expected_sign if expected_sign is not None else (-1 if paper_diff < 0 else 1)
    effect: Effect = paired_effect(errors(runs_a, split), errors(runs_b, split))
    text = describe(f"{claim} ({LABEL[dataset]}, {split} error)", paper_diff, effect, sign)
    return Claim(study, claim, dataset, split, paper_diff, dataclasses.asdict(effect),
                 verdict(effect, sign), text, sanity)


def verdict_table(claims: Sequence[Claim]) -> pd.DataFrame:
    """The claims as a table (see :meth:`Study.verdict_table`)."""
    return pd.DataFrame([{
        "claim": ("sanity: " if c.sanity else "") + c.claim,
        "dataset": LABEL[c.dataset], "split": c.split, "paper": signed_pp(c.paper_diff),
        "ours [95% CI]": f"{signed_pp(c.effect['mean_diff'])} [{signed_pp(c.effect['ci_low'])}, {signed_pp(c.effect['ci_high'])}]",
        "seeds": c.effect["n_seeds"], "verdict": c.verdict,
        "smallest detectable": f"{c.effect['mde']:.2f}"} for c in claims])


def _json_safe(value: object) -> object:
    """``value`` with NaN (no number in the paper) turned into null."""
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def save_claims(study: Study) -> None:
    """Write the study's claims to ``results/<scale>/claims/<study>.json`` (atomically)."""
    unique = {r["id"]: r["provenance"] for r in study.records}
    devices = sorted({f"{p['device']} ({p['device_name']})" for p in unique.values()})
    write_json(results_dir() / study.scale / "claims" / f"{study.name}.json",
               {"study": study.name, "notebook": NOTEBOOK[study.name], "scale": study.scale,
                "wall_seconds": round(study.wall_seconds(), 1), "runs": len(unique), "devices": devices,
                "claims": [_json_safe(dataclasses.asdict(c)) for c in study.claims]})


def _subplots(*args: int, figsize: tuple[float, float], **kwargs: object) -> tuple[Figure, object]:
    """A figure outside pyplot, so a notebook shows it once, where the notebook asks for it."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def _bar(ax: Axes, labels: list[str], series: dict[str, list[float]], ylabel: str) -> None:
    width = 0.8 / len(series)
    x = np.arange(len(labels))
    for i, (name, values) in enumerate(series.items()):
        ax.bar(x + i * width, values, width, label=name)
    ax.set_xticks(x + 0.4 - width / 2, labels)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)


def _finish(name: str, scale: Scale, table: pd.DataFrame, fig: Figure, claims: list[Claim],
            runs: Sequence[Run]) -> Study:
    study = Study(name, scale.name, table, fig, claims, records_of(runs))
    save_claims(study)
    return study


# -------------------------------------------------------------------------------- Tables 2 and 3

@preflight_first
def main_results(scale_name: str, datasets: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
                 device: str = "auto") -> Study:
    """Tables 2–3: ULMFiT against the same AWD-LSTM classifier trained from scratch (test error), with
    the linear baseline beside them as a sanity check of the setup (not one of the paper's claims)."""
    scale, rows, claims, all_runs = get_scale(scale_name), [], [], []
    bars: dict[str, list[float]] = {"paper ULMFiT": [], "ours ULMFiT": [], "ours from scratch": [],
                                    "ours linear": []}
    for ds in datasets or scale.datasets():
        s = seeds_for(scale, ds, seeds, main=True)
        ulm = arm(lambda seed: ulmfit_runs(scale, ds, seed)[2], s, device)
        scratch = arm(lambda seed: classifier_run(scale, ds, seed, None, "from scratch"), s, device)
        linear = arm(lambda seed: linear_run(scale, ds), s, device)   # deterministic: one run, paired per seed
        table = main_table(ds)
        baselines = {k: v[PAPER_KEY[ds]] for k, v in paper_numbers()[table]["values"].items()
                     if k != "ULMFiT" and PAPER_KEY[ds] in v}
        best = min(baselines, key=baselines.get)
        paper_ulm = paper_value(table, "ULMFiT", PAPER_KEY[ds])
        rows.append({"dataset": LABEL[ds], "paper ULMFiT": paper_ulm,
                     "paper best baseline": f"{baselines[best]:.2f} ({best})",
                     "ours ULMFiT": error_summary(ulm, "test"), "ours from scratch": error_summary(scratch, "test"),
                     "ours linear (TF-IDF)": f"{mean_error(linear[:1], 'test'):.2f}",
                     "train / test examples": f"{len(task_data(ds, scale.name).train)} / "
                                              f"{len(task_data(ds, scale.name).test)}"})
        claims.append(compare("main_results", "ULMFiT − from scratch (paper: − best baseline)", ds, scratch, ulm,
                              paper_ulm - baselines[best], "test", expected_sign=-1))
        claims.append(compare("main_results", "ULMFiT − linear baseline", ds, linear, ulm, float("nan"), "test",
                              expected_sign=-1, sanity=True))
        for name, value in (("paper ULMFiT", paper_ulm), ("ours ULMFiT", mean_error(ulm, "test")),
                            ("ours from scratch", mean_error(scratch, "test")),
                            ("ours linear", mean_error(linear[:1], "test"))):
            bars[name].append(value)
        all_runs += ulm + scratch + linear[:1]
    fig, ax = _subplots(figsize=(8, 3.5))
    _bar(ax, [LABEL[d] for d in datasets or scale.datasets()], bars, "test error (%)")
    ax.set_title(f"Test error, {scale.name} scale")
    return _finish("main_results", scale, pd.DataFrame(rows), fig, claims, all_runs)


# ------------------------------------------------------------------------------------- Figure 3

@preflight_first
def low_shot(scale_name: str, datasets: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
             device: str = "auto") -> Study:
    """Figure 3: validation error against the number of labelled examples, for training from scratch,
    supervised ULMFiT (LM fine-tuned on the labelled examples only) and semi-supervised ULMFiT (LM
    fine-tuned on all the task's text), with the linear baseline (not in the paper) as a floor."""
    scale, rows, claims, all_runs = get_scale(scale_name), [], [], []
    datasets = list(datasets or scale.analysis())
    fig, axes = _subplots(1, len(datasets), figsize=(4 * len(datasets), 3.2), squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        s, pre = seeds_for(scale, ds, seeds, main=True), pretrain_run(scale)
        sizes = list(scale.task(ds).low_shot) + [len(task_data(ds, scale.name).train)]
        curves: dict[str, list[float]] = {"from scratch": [], "supervised ULMFiT": [], "semi-supervised ULMFiT": [],
                                          "linear (TF-IDF)": []}
        smallest: dict[str, list[Run]] = {}
        for n in sizes:
            n_lab = 0 if n == sizes[-1] else n
            methods = {
                "from scratch": lambda seed: classifier_run(scale, ds, seed, None, "from scratch", n_lab),
                "supervised ULMFiT": lambda seed: classifier_run(
                    scale, ds, seed, finetune_run(scale, ds, seed, pre, n_labelled=n_lab, lm_text="labelled"),
                    n_labelled=n_lab),
                "semi-supervised ULMFiT": lambda seed: classifier_run(
                    scale, ds, seed, finetune_run(scale, ds, seed, pre, n_labelled=n_lab), n_labelled=n_lab),
                "linear (TF-IDF)": lambda seed: linear_run(scale, ds, n_lab),
            }
            for method, make in methods.items():
                runs = arm(make, s[:1] if method == "linear (TF-IDF)" else s, device)   # deterministic
                curves[method].append(mean_error(runs, "valid"))
                rows.append({"dataset": LABEL[ds], "labelled examples": n, "method": method,
                             "ours (valid)": error_summary(runs, "valid"), "ours (test)": error_summary(runs, "test")})
                if n == sizes[0]:
                    smallest[method] = runs
                all_runs += runs
        for method, values in curves.items():
            ax.plot(sizes, values, marker="o", label=method)
        ax.set_xscale("log")
        ax.set_xlabel("labelled training examples")
        ax.set_ylabel("validation error (%)")
        ax.set_title(LABEL[ds])
        for method in ("supervised ULMFiT", "semi-supervised ULMFiT"):
            claims.append(compare("low_shot", f"{method} − from scratch, {sizes[0]} labels", ds,
                                  smallest["from scratch"], smallest[method], float("nan"), "valid",
                                  expected_sign=-1))
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return _finish("low_shot", scale, pd.DataFrame(rows), fig, claims, all_runs)


# ------------------------------------------------------------------------------ Tables 4, 5, 6, 7

def _ablation(name: str, scale_name: str, table: str, arms: dict[str, Callable[[Scale, str, int], Run]],
              reference: str, datasets: Sequence[str] | None, seeds: Sequence[int] | None, device: str,
              claim: Callable[[str, str], str], main: bool = False) -> tuple[Study, dict]:
    """A validation-error ablation: every arm on every dataset, each compared with ``reference``
    (``main``: with the headline studies' seeds, :func:`~ulmfit_core.harness.scales.seeds_for`)."""
    scale, rows, claims, all_runs, by_arm = get_scale(scale_name), [], [], [], {}
    datasets = list(datasets or scale.analysis())
    fig, ax = _subplots(figsize=(max(6, 1.2 * len(arms) * len(datasets) / 2), 3.5))
    series: dict[str, list[float]] = {a: [] for a in arms}
    for ds in datasets:
        s = seeds_for(scale, ds, seeds, main)
        for arm_name, make in arms.items():
            runs = arm(lambda seed: make(scale, ds, seed), s, device)
            by_arm[(arm_name, ds)] = runs
            all_runs += runs
            series[arm_name].append(mean_error(runs, "valid"))
            rows.append({"dataset": LABEL[ds], "variant": arm_name,
                         "paper (valid)": paper_value(table, arm_name, PAPER_KEY[ds]),
                         "ours (valid)": error_summary(runs, "valid"), "ours (test)": error_summary(runs, "test")})
        for arm_name in arms:
            if arm_name == reference:
                continue
            diff = paper_value(table, reference, PAPER_KEY[ds]) - paper_value(table, arm_name, PAPER_KEY[ds])
            claims.append(compare(name, claim(arm_name, reference), ds, by_arm[(arm_name, ds)],
                                  by_arm[(reference, ds)], round(diff, 6)))
    _bar(ax, [LABEL[d] for d in datasets], series, "validation error (%)")
    ax.set_title(f"{table.replace('table', 'Table ')}, {scale.name} scale")
    fig.tight_layout()
    return _finish(name, scale, pd.DataFrame(rows), fig, claims, all_runs), by_arm


@preflight_first
def pretraining_impact(scale_name: str, datasets: Sequence[str] | None = None,
                       seeds: Sequence[int] | None = None, device: str = "auto") -> Study:
    """Table 4: ULMFiT with and without general-domain pretraining (the LM fine-tuned from random
    weights instead)."""
    arms = {"without": lambda sc, ds, seed: classifier_run(sc, ds, seed, finetune_run(sc, ds, seed, None)),
            "with": lambda sc, ds, seed: ulmfit_runs(sc, ds, seed)[2]}
    return _ablation("pretraining_impact", scale_name, "table4", arms, "with", datasets, seeds, device,
                     lambda a, ref: "with pretraining − without", main=True)[0]


@preflight_first
def lm_quality(scale_name: str, datasets: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
               device: str = "auto") -> Study:
    """Table 5: a vanilla LM (same hyperparameters, every dropout 0) against the AWD-LSTM, plus each
    pretrained LM's perplexity on the WikiText-103 test articles."""
    def vanilla(sc: Scale, ds: str, seed: int) -> Run:
        return classifier_run(sc, ds, seed, finetune_run(sc, ds, seed, pretrain_run(sc, dropout=False),
                                                         dropout=False))

    arms = {"vanilla LM": vanilla, "AWD-LSTM LM": lambda sc, ds, seed: ulmfit_runs(sc, ds, seed)[2]}
    study, _ = _ablation("lm_quality", scale_name, "table5", arms, "AWD-LSTM LM", datasets, seeds, device,
                         lambda a, ref: "AWD-LSTM LM − vanilla LM")
    return study


def perplexity_table(scale_name: str, device: str = "auto") -> pd.DataFrame:
    """Each pretrained LM's validation and WikiText-103-test perplexity (our tokens), beside the published
    AWD-LSTM word-level figures. A scale that pretrains without dropout has one forward LM, which is also
    Table 5's vanilla LM: it is listed once, and says so."""
    scale = get_scale(scale_name)
    published = paper_numbers().get("published_lm", {}).get("values", {})
    forward, vanilla = pretrain_run(scale), pretrain_run(scale, dropout=False)
    lms = [("AWD-LSTM, forward", forward), ("AWD-LSTM, backward", pretrain_run(scale, "backward")),
           ("vanilla (no dropout), forward", vanilla)]
    if vanilla.id == forward.id:
        lms = [("AWD-LSTM, forward = vanilla LM", forward), lms[1]]
    rows = []
    for label, run in lms:
        m = ensure(run, device)["metrics"]
        rows.append({"LM": f"ours ({scale.name}): {label}", "training tokens": m["train_tokens"],
                     "vocabulary": m["vocab_size"], "valid perplexity (Wikipedia)": round(m["valid_perplexity"], 1),
                     "WikiText-103 test perplexity": round(m["wikitext103_test_perplexity"], 1),
                     "counted over": "our tokens, xxunk included"})
    for label, value in published.items():
        rows.append({"LM": f"published: {label}", "training tokens": 103_227_021, "vocabulary": 267_735,
                     "WikiText-103 test perplexity": value["wikitext103_test"], "counted over": "WikiText-103 words"})
    return pd.DataFrame(rows)


@preflight_first
def lm_finetuning(scale_name: str, datasets: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
                  device: str = "auto") -> Study:
    """Table 6: no LM fine-tuning, full, full + discr, full + discr + stlr (classifier: ULMFiT's)."""
    def make(variant: str) -> Callable[[Scale, str, int], Run]:
        return lambda sc, ds, seed: classifier_run(
            sc, ds, seed, finetune_run(sc, ds, seed, pretrain_run(sc), variant))

    arms = {v: make(v) for v in ("no LM fine-tuning", "full", "full + discr", "full + discr + stlr")}
    return _ablation("lm_finetuning", scale_name, "table6", arms, "full + discr + stlr", datasets, seeds,
                     device, lambda a, ref: f"LM '{ref}' − '{a}'")[0]


@preflight_first
def classifier_finetuning(scale_name: str, datasets: Sequence[str] | None = None,
                          seeds: Sequence[int] | None = None, device: str = "auto") -> Study:
    """Table 7 (every classifier fine-tuning method) and Figure 4 (validation error per epoch of 'full'
    and ULMFiT, with and without LM fine-tuning)."""
    def make(variant: str) -> Callable[[Scale, str, int], Run]:
        if variant == "from scratch":
            return lambda sc, ds, seed: classifier_run(sc, ds, seed, None, variant)
        return lambda sc, ds, seed: classifier_run(sc, ds, seed, ulmfit_runs(sc, ds, seed)[1], variant)

    arms = {v: make(v) for v in CLASSIFIER_FINETUNING}
    study, by_arm = _ablation("classifier_finetuning", scale_name, "table7", arms, ULMFIT, datasets, seeds,
                              device, lambda a, ref: f"'{ref}' − '{a}'")
    study.figure = figure4(scale_name, datasets, seeds, device, by_arm)
    return study


def figure4(scale_name: str, datasets: Sequence[str] | None, seeds: Sequence[int] | None, device: str,
            by_arm: dict) -> Figure:
    """Validation error per epoch: 'full' vs ULMFiT classifier fine-tuning, with and without LM fine-tuning."""
    scale = get_scale(scale_name)
    datasets = list(datasets or scale.analysis())
    fig, axes = _subplots(1, len(datasets), figsize=(4 * len(datasets), 3.2), squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        s = seeds_for(scale, ds, seeds)
        no_ft = lambda seed: finetune_run(scale, ds, seed, pretrain_run(scale), "no LM fine-tuning")  # noqa: E731
        curves = {"ULMFiT": by_arm[(ULMFIT, ds)], "full": by_arm[("full", ds)],
                  "ULMFiT, no LM fine-tuning": arm(lambda seed: classifier_run(scale, ds, seed, no_ft(seed)), s, device),
                  "full, no LM fine-tuning": arm(lambda seed: classifier_run(scale, ds, seed, no_ft(seed), "full"),
                                                 s, device)}
        for label, runs in curves.items():
            history = np.array([[h["valid_error"] for h in ensure(r)["history"]] for r in runs])
            ax.plot(np.arange(1, history.shape[1] + 1), history.mean(0), marker=".", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation error (%)")
        ax.set_title(LABEL[ds])
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def rate_check(scale_name: str, datasets: Sequence[str] | None = None, seed: int = 0,
               lr_mults: Sequence[float] | None = None, device: str = "auto") -> pd.DataFrame:
    """At which peak rate: validation error of ULMFiT and of training from scratch (one seed) at the
    scale's chosen schedule lengths, at the paper's peak rate and its multiples (by default those of
    :data:`~ulmfit_core.harness.gpu_plan.RATE_CHECK`, for TREC-6 and AG). Test error plays no part and is
    not shown."""
    scale = get_scale(scale_name)
    rows = []
    for ds in datasets or gpu_plan.RATE_CHECK:
        dataset = scale.own(ds)          # e.g. AG News: the scale's stand-in or the complete set
        for _, run in gpu_plan.rate_check(scale, dataset, seed, lr_mults):
            record, train = ensure(run, device), run.config["train"]
            paper_lr = CLASSIFIER_FINETUNING[run.config["variant"]]["lr"]
            rows.append({"dataset": LABEL[dataset], "arm": run.config["variant"], "epochs": train["epochs"],
                         "peak rate": train["lr"], "valid error (%)": round(record["metrics"]["valid_error"], 2),
                         "final train loss": round(record["history"][-1]["train_loss"], 3),
                         "used at this scale": "yes" if train["lr"] == paper_lr else ""})
    return pd.DataFrame(rows)


def epoch_choice(scale_name: str, dataset: str, device: str = "auto") -> tuple[pd.DataFrame, dict[str, int]]:
    """Choose the schedule lengths of ``dataset`` on validation error, one seed, in the three stages of
    :mod:`ulmfit_core.harness.epoch_choice` (LM fine-tuning, classifier, from scratch), running what is
    missing. Returns the table and the choice, which is also written to
    ``results/<scale>/choices/<dataset>.json``."""
    scale = get_scale(scale_name)
    dataset = scale.own(dataset)         # e.g. AG News: the scale's stand-in or the complete set
    record = choices.choice_record(scale, dataset, lambda run: ensure(run, device), LABEL[dataset])
    write_json(choices.choice_path(scale, dataset), record)
    return pd.DataFrame(record["table"]), record["choice"]


def epoch_choices(scale_name: str, datasets: Sequence[str] | None = None, device: str = "auto") -> pd.DataFrame:
    """:func:`epoch_choice` for every dataset of the scale (or of ``datasets``) that has candidates, one
    table."""
    scale = get_scale(scale_name)
    names = [scale.own(ds) for ds in datasets] if datasets else scale.datasets()
    tables = [epoch_choice(scale_name, ds, device)[0] for ds in names if choices.has_choice(scale, ds)]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


# ----------------------------------------------------------------------------- bidirectionality

@preflight_first
def bidirectional(scale_name: str, datasets: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
                  device: str = "auto") -> Study:
    """§5 "Bidirectionality": forward, backward and their ensemble (average of probabilities), test error."""
    scale, rows, claims, all_runs = get_scale(scale_name), [], [], []
    datasets = list(datasets or scale.analysis())
    series: dict[str, list[float]] = {"forward": [], "backward": [], "ensemble": []}
    for ds in datasets:
        s = seeds_for(scale, ds, seeds)
        fwd = arm(lambda seed: ulmfit_runs(scale, ds, seed, "forward")[2], s, device)
        bwd = arm(lambda seed: ulmfit_runs(scale, ds, seed, "backward")[2], s, device)
        ens = np.stack([_ensemble_errors(f, b) for f, b in zip(fwd, bwd)])
        fwd_err = errors(fwd, "test")
        effect = paired_effect(fwd_err, ens)
        paper = (paper_value("bidirectional", "forward + backward ensemble", "imdb")
                 - paper_value("bidirectional", "single model", "imdb")) if ds == "imdb" else float("nan")
        sign = -1
        text = describe(f"forward + backward ensemble − forward ({LABEL[ds]}, test error)",
                        paper, effect, sign)
        claims.append(Claim("bidirectional", "forward + backward ensemble − forward", ds, "test",
                            paper, dataclasses.asdict(effect), verdict(effect, sign), text))
        ens_mean, ens_std, n = mean_std(100.0 * ens.mean(1))
        rows.append({"dataset": LABEL[ds], "paper single → ensemble": "5.30 → 4.58" if ds == "imdb" else "",
                     "ours forward": error_summary(fwd, "test"), "ours backward": error_summary(bwd, "test"),
                     "ours ensemble": f"{ens_mean:.2f} ± {ens_std:.2f} (n={n})"})
        series["forward"].append(mean_error(fwd, "test"))
        series["backward"].append(mean_error(bwd, "test"))
        series["ensemble"].append(100.0 * float(ens.mean()))
        all_runs += fwd + bwd
    fig, ax = _subplots(figsize=(6, 3.5))
    _bar(ax, [LABEL[d] for d in datasets], series, "test error (%)")
    ax.set_title(f"Bidirectionality, {scale.name} scale")
    return _finish("bidirectional", scale, pd.DataFrame(rows), fig, claims, all_runs)


def _ensemble_errors(forward: Run, backward: Run) -> np.ndarray:
    """0/1 test errors of the average of a forward and a backward classifier, aligned by example."""
    f, b = predictions(forward), predictions(backward)
    index = np.arange(len(f["test_labels"]))
    _, probs = ensemble([(index, f["test_probs"]), (index, b["test_probs"])])
    return (probs.argmax(1) != f["test_labels"]).astype(np.int8)
