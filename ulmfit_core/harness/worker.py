"""The book's missing runs at a scale, made on this machine in the background, in order of value.

    python -m ulmfit_core.harness.worker --scale reduced                 # everything the chapters show
    python -m ulmfit_core.harness.worker --scale gpu --kinds baseline    # the gpu scale's CPU-only runs

The notebooks make the runs they show as they are executed, one after the other. For hours of compute
it is better to make the runs first, in the book's order of value (:mod:`ulmfit_core.harness.gpu_plan`: the
main results first), and to execute the notebooks once everything is recorded, which then takes minutes.
A worker takes the plan's targets in turn and makes each one with its parents
(:func:`ulmfit_core.harness.experiments.ensure`). Everything it makes is a run: a finished run is never
made again, and one cut off (the machine stopped, the process killed) resumes from its last checkpoint
when a worker is started again. Two workers can share the plan (e.g. one thread each on two cores): a
worker passes over a target that another process is making and comes back to it later.

The plan is read again after every target, since some targets are only known once others are recorded
(the classifier epochs of the schedule choice follow the LM fine-tuning it chose). Whenever every candidate
of a dataset's schedule choice is recorded, the worker records the choice
(:func:`ulmfit_core.harness.epoch_choice.record_finished`); at a scale that takes its epochs from the
choice, the dataset's other runs wait until the scale is set to it, and the worker says so.
"""
from __future__ import annotations

import argparse
import fcntl
import sys
import time
from typing import Callable, Sequence

import torch

from ulmfit_core.harness import epoch_choice as choices
from ulmfit_core.harness.experiments import Run, ensure, lock_path
from ulmfit_core.harness.gpu_plan import ALL_KINDS, Target, closure, plan
from ulmfit_core.harness.paper import LABEL
from ulmfit_core.harness.scales import Scale, get_scale

Ensure = Callable[[Run, str], dict]


def busy(run: Run) -> bool:
    """Whether another process holds ``run``'s lock, i.e. is making it now."""
    lock = lock_path(run)
    if not lock.exists():
        return False
    with open(lock, "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def missing(target: Target) -> list[Run]:
    """The runs of ``target`` (itself and its ancestors) without a record, parents first."""
    return [r for r in closure(target.run) if not r.record_path.exists()]


def next_target(targets: Sequence[Target]) -> tuple[Target | None, int]:
    """The first target with a missing run that no other process is making, and how many targets are
    waiting on another process. A recorded LM counts too: another process holds its lock while it makes
    the LM's lost weights again (:func:`ulmfit_core.harness.experiments.make_weights`)."""
    waiting = 0
    for target in targets:
        if not missing(target):
            continue
        if any(busy(r) for r in closure(target.run)):
            waiting += 1
            continue
        return target, waiting
    return None, waiting


def work(scale: Scale, device: str = "auto", kinds: Sequence[str] = ALL_KINDS,
         chapters: Sequence[str] | None = None, datasets: Sequence[str] | None = None,
         seeds: Sequence[int] | None = None, hours: float | None = None, poll_s: float = 30.0,
         make: Ensure = ensure, say: Callable[[str], None] = print) -> int:
    """Make the plan's missing runs until none is left (or, with ``hours``, until no new target may start
    after that many hours); return how many targets this worker made."""
    deadline = None if hours is None else time.monotonic() + hours * 3600
    made = 0
    while deadline is None or time.monotonic() < deadline:
        for ds, choice in choices.record_finished(scale, lambda ds: LABEL[ds]).items():
            waits = f"; its other runs wait until the {scale.name} scale uses it" if choices.pending(scale, ds) else ""
            say(f"schedule choice of {ds} recorded: {choice}{waits}")
        targets = plan(scale, chapters, datasets, seeds, kinds)
        target, waiting = next_target(targets)
        if target is None:
            if not waiting:
                held = choices.held_back(scale)
                waits = f"; held back until the scale uses their schedule choice: {', '.join(held)}" if held else ""
                say(f"nothing left to make: {len(targets)} targets recorded{waits}")
                return made
            say(f"{waiting} targets wait on another process; looking again in {poll_s:.0f} s")
            time.sleep(poll_s)
            continue
        todo = missing(target)
        say(f"[{made + 1}] {target.describe()}: {len(todo)} runs to make "
            f"({', '.join(f'{r.kind} {r.id}' for r in todo)})")
        t0 = time.monotonic()
        make(target.run, device)
        made += 1
        say(f"    done in {(time.monotonic() - t0) / 60:.1f} min")
    say(f"stopped after {hours} h: {made} targets made")
    return made


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ulmfit_core.harness.worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="reduced")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--kinds", nargs="+", default=list(ALL_KINDS), choices=ALL_KINDS,
                        help="the run kinds to make (default: all)")
    parser.add_argument("--chapters", nargs="+", help="only these chapters (e.g. 01 07)")
    parser.add_argument("--datasets", nargs="+", help="only these datasets")
    parser.add_argument("--seeds", nargs="+", type=int, help="these seeds instead of the scale's")
    parser.add_argument("--hours", type=float, help="start no new target after this many hours")
    parser.add_argument("--threads", type=int, help="torch threads (e.g. 1 for each of two workers)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    work(get_scale(args.scale), args.device, args.kinds, args.chapters, args.datasets, args.seeds, args.hours,
         say=lambda message: print(message, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
