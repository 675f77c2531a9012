"""Choosing a scale's pretraining recipe on Wikipedia validation alone, then its three pretrained LMs.

ULMFiT stands on its general-domain LM (§3.1). At a CPU's budget the recipe matters as much as the
tokens, so it is chosen here, on the held-out Wikipedia articles (:mod:`ulmfit_core.harness.wikicorpus`) and
nothing else — no task data, no test split:

1. **probes**: short runs on the same first :data:`PROBE_TOKENS` training tokens — peak rate × dropout
   multiplier (:data:`LRS` × :data:`DROP_MULTS`), then more dropout multipliers (and one rate past the
   grid's edge if the best rate sits on it) at the best rate, then batch sizes at the best of those;
2. **a longer probe**: the best probe and the best one with another dropout multiplier, at
   :data:`LONG_PROBE_TOKENS`, to check that the choice still holds with several times the tokens;
3. **the LMs**: forward, backward and vanilla (every dropout 0, Table 5; the recipe's other settings, as
   the paper says) with the chosen recipe on :data:`FINAL_TOKENS` tokens, forward first; once trained
   they are published (:mod:`ulmfit_core.harness.publish_lms`): weights in ``results/`` and entries
   ``<scale>-forward``, ``<scale>-backward``, ``<scale>-vanilla`` in the index of published LMs.

Every step is a run of :mod:`ulmfit_core.harness.experiments` (a record per probe; a finished run is never
recomputed, a cut-off one resumes inside its epoch), so ``python -m ulmfit_core.harness.lm_recipe`` can be
stopped and started again at any time and picks up where it was.
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from ulmfit_core.fileio import atomic_path, read_json, write_json
from ulmfit_core.settings import results_dir
from ulmfit_core.train import TrainingDiverged
from ulmfit_core.harness.experiments import (Run, ensure, git_revision, provenance, publish_weights,
                                             wiki_pretrain_run)
from ulmfit_core.harness.publish_lms import publish
from ulmfit_core.harness.scales import PretrainRecipe, Scale, get_scale

PROBE_TOKENS = 1_500_000
LONG_PROBE_TOKENS = 6_000_000
FINAL_TOKENS = 24_000_000
"""The LMs' tokens, one pass: four times the longer probe, and about two hours of a 2-core CPU at the
2.8-3.4k tokens/s the reduced LMs trained at, so that each LM finishes within one uninterrupted stretch
of a few hours even where nothing on disk outlives it (a checkpoint resumes a run cut off, but only where
the cache folder survives)."""
LRS = (3e-3, 1e-2, 3e-2)
DROP_MULTS = (1.0, 0.1)
MORE_DROP_MULTS = (0.0, 0.3)
BATCH_SIZES = (32, 128)
BASE = PretrainRecipe(tokens=PROBE_TOKENS, lr=3e-3, drop_mult=1.0, batch_size=64)  # the recipe until now


@dataclass(frozen=True)
class Probe:
    """One probe: its recipe, its run and (once finished) its held-out validation perplexity."""

    step: str
    recipe: PretrainRecipe
    run: Run

    @property
    def done(self) -> bool:
        return self.run.record_path.exists()

    @property
    def perplexity(self) -> float:
        """Its held-out validation perplexity; infinite for a probe whose training diverged."""
        value = read_json(self.run.record_path)["metrics"]["valid_perplexity"]
        return math.inf if value is None else value


def record_divergence(run: Run, err: TrainingDiverged, device: str) -> dict:
    """Write the record of a probe whose loss became NaN or infinite: no perplexity, the error kept, so
    that the planning moves on (such a probe is never the best) and nothing runs it again."""
    record = {"id": run.id, "kind": run.kind, "scale": run.scale, "config": run.config, "parents": [],
              "metrics": {"valid_perplexity": None, "wikitext103_test_perplexity": None, "diverged": str(err)},
              "history": [], "provenance": provenance(device, dt.datetime.now(dt.timezone.utc), 0.0, [],
                                                      git_revision())}
    write_json(run.record_path, record)
    return record


def _probes(scale: Scale, step: str, recipes: Sequence[PretrainRecipe]) -> list[Probe]:
    return [Probe(step, r, wiki_pretrain_run(scale, r)) for r in dict.fromkeys(recipes)]


def best(probes: Sequence[Probe]) -> Probe:
    """The probe with the lowest validation perplexity (the first such, in grid order, on a tie)."""
    return min(probes, key=lambda p: p.perplexity)


def _short_steps(scale: Scale) -> Iterator[list[Probe]]:
    """The short probes, one list per step; each step is planned from the records of the steps before it,
    so the iteration ends with the first step that is not finished."""
    grid = _probes(scale, "rate × dropout", [BASE.replace(lr=lr, drop_mult=d) for lr in LRS for d in DROP_MULTS])
    yield grid
    if not all(p.done for p in grid):
        return
    top = best(grid).recipe
    more = [top.replace(drop_mult=d) for d in MORE_DROP_MULTS]
    if top.lr in (LRS[0], LRS[-1]):          # the best rate is on the grid's edge: look one step past it
        more.append(top.replace(lr=top.lr / 3 if top.lr == LRS[0] else top.lr * 3))
    dropout = _probes(scale, "dropout and rate", more)
    yield dropout
    if not all(p.done for p in dropout):
        return
    top = best(grid + dropout).recipe
    yield _probes(scale, "batch size", [top.replace(batch_size=b) for b in BATCH_SIZES])


def short_probes(scale: Scale) -> list[Probe]:
    """Every short probe recorded so far, in the order they were planned."""
    return [p for step in _short_steps(scale) for p in step if p.done]


def plan(scale: Scale) -> tuple[list[Probe], bool]:
    """The probes whose turn has come, in order, given the records so far; and whether every probe step
    is finished (then :func:`chosen` names the recipe)."""
    steps = list(_short_steps(scale))
    if len(steps) < 3 or not all(p.done for p in steps[-1]):
        return steps[-1], False
    longer = _probes(scale, "longer", [p.recipe.replace(tokens=LONG_PROBE_TOKENS) for p in _finalists(scale)])
    return longer, all(p.done for p in longer)


def _finalists(scale: Scale) -> list[Probe]:
    """The best short probe and the best one with another dropout multiplier."""
    probes = short_probes(scale)
    top = best(probes)
    other = best([p for p in probes if p.recipe.drop_mult != top.recipe.drop_mult])
    return [top, other]


def chosen(scale: Scale) -> PretrainRecipe:
    """The recipe of the best longer probe, at :data:`FINAL_TOKENS` tokens (ValueError before the probes
    are finished)."""
    longer, finished = plan(scale)
    if not finished:
        raise ValueError(f"the pretraining probes of scale {scale.name!r} are not finished; "
                         f"run python -m ulmfit_core.harness.lm_recipe --scale {scale.name}")
    return best(longer).recipe.replace(tokens=FINAL_TOKENS)


def final_runs(scale: Scale) -> dict[str, Run]:
    """The scale's three pretrained LMs with the chosen recipe: forward, backward, vanilla (no dropout)."""
    recipe = chosen(scale)
    return {"forward": wiki_pretrain_run(scale, recipe),
            "backward": wiki_pretrain_run(scale, recipe, "backward"),
            "vanilla": wiki_pretrain_run(scale, recipe.replace(drop_mult=0.0))}


# ------------------------------------------------------------------------------------------ the report

PUBLISHED = (  # (model, corpus, training tokens, vocabulary, parameters, test perplexity), word level
    ("AWD-LSTM (Merity et al. 2017)", "Penn Treebank", "0.9M", "10k", "24M", 57.3),
    ("AWD-LSTM (Merity et al. 2017)", "WikiText-2", "2.1M", "33k", "33M", 65.8),
    ("4-layer QRNN (Merity et al. 2018)", "WikiText-103", "103M", "267k", "151M", 33.0),
)


def _record(run: Run) -> dict | None:
    return read_json(run.record_path) if run.record_path.exists() else None


def _minutes(record: dict) -> float:
    return record["provenance"]["wall_seconds"] / 60


def probe_rows(scale: Scale) -> list[dict]:
    """Every finished probe, short then longer, with its settings and perplexities."""
    longer, _ = plan(scale) if len(list(_short_steps(scale))) == 3 else ([], False)
    rows = []
    for probe in short_probes(scale) + [p for p in longer if p.recipe.tokens == LONG_PROBE_TOKENS and p.done]:
        record = read_json(probe.run.record_path)
        rows.append({"step": probe.step, **probe.recipe.to_dict(), "run": probe.run.id,
                     "valid_perplexity": record["metrics"]["valid_perplexity"],
                     "wikitext103_test_perplexity": record["metrics"]["wikitext103_test_perplexity"],
                     "minutes": _minutes(record)})
    return rows


def probes_markdown(scale: Scale) -> str:
    """The probe table: one row per probe, the best of each step in bold."""
    rows = probe_rows(scale)
    if not rows:
        return "No pretraining probe has been recorded at this scale yet.\n"
    def ppl(r: dict) -> float:
        return math.inf if r["valid_perplexity"] is None else r["valid_perplexity"]

    best_of = {step: min(ppl(r) for r in rows if r["step"] == step) for step in dict.fromkeys(r["step"] for r in rows)}
    out = ["| step | peak rate | dropout × | batch | tokens | valid ppl | WikiText-103 test ppl | minutes | run |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["valid_perplexity"] is None:
            valid, test = "diverged", "—"
        else:
            valid, test = f"{r['valid_perplexity']:.1f}", f"{r['wikitext103_test_perplexity']:.1f}"
            valid = f"**{valid}**" if ppl(r) == best_of[r["step"]] else valid
        out.append(f"| {r['step']} | {r['lr']:g} | {r['drop_mult']:g} | {r['batch_size']} | {r['tokens'] / 1e6:g}M "
                   f"| {valid} | {test} | {r['minutes']:.0f} | `{r['run']}` |")
    return "\n".join(out) + "\n"


def lm_rows(scale: Scale) -> list[dict]:
    """Every pretrained LM recorded at ``scale`` that is not a probe: the three of the chosen recipe (once
    they exist) and those of the earlier recipe, with the tokens they saw and their perplexities."""
    probes = {p["run"] for p in probe_rows(scale)}
    rows = []
    for path in sorted((results_dir() / scale.name / "pretrain").glob("*.json")):
        record = read_json(path)
        if record["id"] in probes or path.name.startswith("."):
            continue
        cfg, metrics = record["config"], record["metrics"]
        vanilla = " (the vanilla LM)" if cfg["model"]["weight_p"] == 0 and cfg["direction"] == "forward" else ""
        rows.append({"run": record["id"], "direction": cfg["direction"] + vanilla,
                     "dropout": "none" if cfg["model"]["weight_p"] == 0 else
                                f"× {cfg.get('recipe', {}).get('drop_mult', 1.0):g}",
                     "recipe": "fixed held-out split" if "tokens" in cfg["corpus"] else "earlier (first 1% valid)",
                     "peak_rate": cfg["train"]["lr"], "tokens_seen": metrics.get("tokens_seen",
                                                                                 metrics["train_tokens"]),
                     "valid_perplexity": metrics["valid_perplexity"],
                     "wikitext103_test_perplexity": metrics["wikitext103_test_perplexity"],
                     "hours": _minutes(record) / 60, "curve": _curve(record)})
    return rows


def _curve(record: dict) -> list[tuple[int, float]]:
    """(training tokens seen, held-out validation perplexity) after every evaluation of a run."""
    points, before = [], 0
    for epoch in record["history"]:
        points += [(before + c["items"], c["valid_perplexity"]) for c in epoch.get("curve", [])]
        before += epoch["items"]
        points.append((before, epoch["valid_perplexity"]))
    return points


def lms_markdown(scale: Scale) -> str:
    """The table of pretrained LMs (see :func:`lm_rows`)."""
    rows = lm_rows(scale)
    out = ["| LM | dropout | recipe | peak rate | tokens seen | valid ppl | WikiText-103 test ppl | hours | run |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['direction']} | {r['dropout']} | {r['recipe']} | {r['peak_rate']:g} "
                   f"| {r['tokens_seen'] / 1e6:.1f}M | {r['valid_perplexity']:.1f} "
                   f"| {r['wikitext103_test_perplexity']:.1f} | {r['hours']:.1f} | `{r['run']}` |")
    return "\n".join(out) + "\n"


def published_markdown() -> str:
    """Published word-level test perplexities beside which to read ours (see the page for what differs)."""
    out = ["| model | corpus | training tokens | vocabulary | parameters | test perplexity |",
           "|---|---|---|---|---|---|"]
    out += [f"| {m} | {c} | {t} | {v} | {p} | {ppl:.1f} |" for m, c, t, v, p, ppl in PUBLISHED]
    return "\n".join(out) + "\n"


def curve_figure(scale: Scale, path: Path) -> Path:
    """Plot held-out perplexity against training tokens seen, for the longer probes and every LM of the
    fixed split; write the figure to ``path`` (PNG) atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in lm_rows(scale):
        if r["recipe"] == "fixed held-out split" and r["curve"]:
            tokens, ppl = zip(*r["curve"])
            ax.plot([t / 1e6 for t in tokens], ppl, marker="o", label=f"{r['direction']}, dropout {r['dropout']}")
    for probe in (p for p in plan(scale)[0] if p.recipe.tokens == LONG_PROBE_TOKENS and p.done):
        tokens, ppl = zip(*_curve(read_json(probe.run.record_path)))
        ax.plot([t / 1e6 for t in tokens], ppl, linestyle="--", marker=".",
                label=f"longer probe: rate {probe.recipe.lr:g}, dropout × {probe.recipe.drop_mult:g}")
    ax.set(xlabel="training tokens seen (millions)", ylabel="held-out Wikipedia perplexity", yscale="log")
    ax.grid(True, which="both", alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ulmfit_core.harness.lm_recipe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="reduced")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--probes-only", action="store_true", help="stop once the recipe is chosen")
    args = parser.parse_args(argv)
    scale = get_scale(args.scale)
    while True:
        probes, finished = plan(scale)
        if finished:
            break
        for probe in probes:
            if not probe.done:
                print(f"probe ({probe.step}): {probe.recipe.to_dict()} -> {probe.run.id}", flush=True)
                try:
                    ensure(probe.run, args.device, progress=True)
                except TrainingDiverged as err:
                    print(f"probe {probe.run.id} diverged: {err}", flush=True)
                    record_divergence(probe.run, err, args.device)
    print(f"chosen recipe: {chosen(scale).to_dict()}", flush=True)
    if args.probes_only:
        return 0
    runs = final_runs(scale)
    for name, run in runs.items():
        print(f"{name} LM -> {run.id}", flush=True)
        ensure(run, args.device, progress=True)
        publish_weights(run, args.device)
    for name, entry in publish(scale.name, runs, args.device).items():
        if entry.get("scale") == scale.name:
            print(f"published {name}: {entry['path']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
