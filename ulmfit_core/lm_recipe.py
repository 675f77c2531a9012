"""Choosing a scale's pretraining recipe on Wikipedia validation alone, then its three pretrained LMs.

ULMFiT stands on its general-domain LM (§3.1). At a CPU's budget the recipe matters as much as the
tokens, so it is chosen here, on the held-out Wikipedia articles (:mod:`ulmfit_core.wikicorpus`) and
nothing else — no task data, no test split:

1. **probes**: short runs on the same first :data:`PROBE_TOKENS` training tokens — peak rate × dropout
   multiplier (:data:`LRS` × :data:`DROP_MULTS`), then more dropout multipliers (and one rate past the
   grid's edge if the best rate sits on it) at the best rate, then batch sizes at the best of those;
2. **a longer probe**: the best probe and the best one with another dropout multiplier, at
   :data:`LONG_PROBE_TOKENS`, to check that the choice still holds with several times the tokens;
3. **the LMs**: forward, backward and vanilla (every dropout 0, Table 5; the recipe's other settings, as
   the paper says) with the chosen recipe on :data:`FINAL_TOKENS` tokens, forward first.

Every step is a run of :mod:`ulmfit_core.experiments` (a record per probe; a finished run is never
recomputed, a cut-off one resumes inside its epoch), so ``python -m ulmfit_core.lm_recipe`` can be
stopped and started again at any time and picks up where it was.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Iterator, Sequence

from ulmfit_core.experiments import Run, ensure, publish_weights, wiki_pretrain_run
from ulmfit_core.fileio import read_json
from ulmfit_core.scales import PretrainRecipe, Scale, get_scale

PROBE_TOKENS = 1_500_000
LONG_PROBE_TOKENS = 6_000_000
FINAL_TOKENS = 55_000_000      # about every training token of the eight shards, one pass
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
        return read_json(self.run.record_path)["metrics"]["valid_perplexity"]


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
                         f"run python -m ulmfit_core.lm_recipe --scale {scale.name}")
    return best(longer).recipe.replace(tokens=FINAL_TOKENS)


def final_runs(scale: Scale) -> dict[str, Run]:
    """The scale's three pretrained LMs with the chosen recipe: forward, backward, vanilla (no dropout)."""
    recipe = chosen(scale)
    return {"forward": wiki_pretrain_run(scale, recipe),
            "backward": wiki_pretrain_run(scale, recipe, "backward"),
            "vanilla": wiki_pretrain_run(scale, recipe.replace(drop_mult=0.0))}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ulmfit_core.lm_recipe", description=__doc__,
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
                ensure(probe.run, args.device, progress=True)
    print(f"chosen recipe: {chosen(scale).to_dict()}", flush=True)
    if args.probes_only:
        return 0
    for name, run in final_runs(scale).items():
        print(f"{name} LM -> {run.id}", flush=True)
        ensure(run, args.device, progress=True)
        publish_weights(run, args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
