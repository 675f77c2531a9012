"""Publish a scale's pretrained LMs: their weights in ``results/<scale>/weights/`` and their entries in the
index of published LMs (:data:`ulmfit_core.pretrained.INDEX`), the one place a run's ``pretrained:`` name
is looked up.

    python -m ulmfit_core.harness.publish_lms --scale reduced

publishes the scale's three LMs — ``<scale>-forward``, ``<scale>-backward`` (each the other's twin, for
the bidirectional ensemble of §3.3) and ``<scale>-vanilla`` (every dropout 0, Table 5) — from the runs the
scale's pretraining gives (:func:`scale_lms`); :mod:`ulmfit_core.harness.lm_recipe` publishes the LMs of the
recipe it chose the same way. Each run must be finished: its record in ``results/`` and its weights in the
cache or already in ``results/``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Mapping, Sequence

from ulmfit_core import pretrained
from ulmfit_core.fileio import read_json
from ulmfit_core.settings import results_dir
from ulmfit_core.harness.experiments import Run, pretrain_run, publish_weights
from ulmfit_core.harness.scales import Scale, get_scale

KINDS = ("forward", "backward", "vanilla")


def scale_lms(scale: Scale) -> dict[str, Run]:
    """The scale's pretrained LMs by kind: forward, backward and vanilla (no dropout)."""
    return {"forward": pretrain_run(scale), "backward": pretrain_run(scale, "backward"),
            "vanilla": pretrain_run(scale, dropout=False)}


def describe(run: Run, kind: str) -> str:
    """One line on what the LM is: its size, vocabulary, training tokens, direction or dropout."""
    record = read_json(run.record_path)
    model, vocab = run.config["model"], run.config["vocab"]["max_size"]
    tokens = record["metrics"].get("tokens_seen", record["metrics"]["train_tokens"])
    what = {"forward": "reads text left to right", "backward": "reads text right to left",
            "vanilla": "every dropout 0 (Table 5's vanilla LM)"}[kind]
    return (f"AWD-LSTM {model['emb_size']}/{model['hidden_size']}, {model['n_layers']} layers, "
            f"{vocab // 1000}k vocabulary, {tokens / 1e6:.1f}M Wikipedia training tokens "
            f"(the {run.scale} scale); {what}")


def publish(scale_name: str, runs: Mapping[str, Run], device: str = "auto",
            index: Path = pretrained.INDEX) -> dict[str, dict]:
    """Copy each finished run's weights to ``results/`` (unless they are there) and publish it as
    ``<scale>-<kind>`` in ``index`` (replacing the entry of that name). Returns the published LMs."""
    missing = [f"{kind} ({run.id})" for kind, run in runs.items() if not run.record_path.is_file()]
    if missing:
        raise FileNotFoundError(f"{scale_name}: pretraining runs not finished: {', '.join(missing)}")
    names = {kind: f"{scale_name}-{kind}" for kind in runs}
    twins = {"forward": "backward", "backward": "forward"}
    entries = {}
    for kind, run in runs.items():
        folder = results_dir() / run.scale / "weights" / f"{run.kind}-{run.id}"
        if not all((folder / f).is_file() for f in pretrained.FILES):
            folder = publish_weights(run, device)
        twin = twins.get(kind)
        entries[names[kind]] = pretrained.index_entry(
            folder, run.config["direction"], names[twin] if twin in runs else None, describe(run, kind),
            {"run": run.id, "scale": run.scale, "record": f"{run.scale}/{run.kind}/{run.id}.json"}, index)
    return pretrained.update_index(entries, index)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ulmfit_core.harness.publish_lms", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="reduced")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    lms = publish(args.scale, scale_lms(get_scale(args.scale)), args.device)
    for name in sorted(n for n in lms if n.startswith(f"{args.scale}-")):
        print(f"{name}: {lms[name]['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
