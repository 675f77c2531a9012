"""One call to a lent GPU machine that adds records to the book instead of starting over.

    python -m ulmfit_core.harness.gpu_driver --scale gpu --budget-s 570 --out "$OUT"

Given a scale, a time budget (seconds from the driver's start) and an output folder, it

1. runs the CUDA tests (``pytest -m gpu``), then the GPU benchmark where ``bench/results/`` has no result
   for this GPU model yet;
2. runs the scale's runs that have no record, in the book's order of value (:mod:`ulmfit_core.harness.gpu_plan`),
   one chapter's run (a classifier and whatever it needs) at a time, starting one only when the estimate
   of all it needs (:mod:`ulmfit_core.harness.run_costs`) fits in the time left; a run still going at the
   deadline is stopped (its record is never written) so the output is always written in time;
3. re-creates a recorded parent LM whose weights this machine does not have (a GPU machine starts bare)
   under deterministic CUDA settings (:mod:`ulmfit_core.harness.determinism`), and adds children to it only when
   the re-created weights match the fingerprint in its record (or, for a record without one, its
   validation perplexity); otherwise it says so and skips them;
4. writes to the output folder the new records and their predictions as zip volumes
   (:mod:`ulmfit_core.harness.bundle`; at most 4 of 15 MiB), ``log.txt`` and ``summary.json`` — after every run,
   so a call cut off from outside still brings back what was finished.

``python -m ulmfit_core.harness.gpu_import OUT`` adds the volumes to ``results/`` on the machine they come back to.
With ``--dry-run`` it prints the plan and its estimates and runs nothing. The pack named by
``$ULMFIT_PACK``, else ``gpu_pack/`` when it was made for the scale, replaces the data folder.
"""
from __future__ import annotations

import os
import time

STARTED = time.monotonic()          # the budget counts from here when the driver runs as a program
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")   # read by cuBLAS when it starts: set first

import argparse
import contextlib
import dataclasses
import datetime as dt
import importlib.util
import re
import signal
import subprocess
import sys
import tempfile
import traceback
import uuid
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch

from ulmfit_core.fileio import read_json, write_json, write_text
from ulmfit_core.settings import REPO_ROOT, REVISION_ENV, data_dir, results_dir
from ulmfit_core.train import pick_device
from ulmfit_core.harness import experiments, pack
from ulmfit_core.harness.bundle import write_bundle
from ulmfit_core.harness.determinism import deterministic_cuda, file_fingerprint
from ulmfit_core.harness.experiments import LM_KINDS, Run
from ulmfit_core.harness.gpu_plan import Target, closure, plan
from ulmfit_core.harness.run_costs import Estimate, estimate, scale_records
from ulmfit_core.harness.scales import Scale, get_scale
from ulmfit_core.harness.travel import TRAVEL_FILE

FINGERPRINT = "weights_fingerprint"      # provenance key of an LM run's weights fingerprint
TESTS = ("tests/test_cuda.py", "tests/test_gpu_driver.py")
TESTS_TIMEOUT_S = 150
BENCH_TIMEOUT_S = 150
RESERVE_S = 10.0                         # kept at the end for writing the output


class DeadlineReached(BaseException):
    """The budget is spent: raised into whatever is running (a BaseException, so nothing swallows it)."""


class ParentRefused(RuntimeError):
    """A parent LM could not be re-created as its record describes; its children are not trained."""


@dataclasses.dataclass
class Clock:
    """The budget, counted from the driver's start."""

    budget_s: float
    start: float = dataclasses.field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def left(self) -> float:
        return self.budget_s - self.elapsed()


class Log:
    """Timestamped lines to stdout and (rewritten atomically after each line) to ``path``."""

    def __init__(self, clock: Clock, path: Path | None = None) -> None:
        self.clock, self.path, self.lines = clock, path, []

    def __call__(self, message: str) -> None:
        line = f"[{self.clock.elapsed():7.1f} s] {message}"
        print(line, flush=True)
        self.lines.append(line)
        if self.path is not None:
            write_text(self.path, "\n".join(self.lines) + "\n")


@contextlib.contextmanager
def hard_deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`DeadlineReached` in the main thread after ``seconds`` (SIGALRM), unless the block
    ends first."""
    def fire(signum: int, frame: object) -> None:
        raise DeadlineReached(f"the budget ran out after {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ----------------------------------------------------------------------------------- parent LMs

@dataclasses.dataclass(frozen=True)
class Check:
    """Whether re-created (or cached) LM weights are the ones a record describes."""

    ok: bool
    message: str


def check_parent(record: dict, fingerprint: str, metrics: dict | None) -> Check:
    """Compare an LM's weights with its ``record``: by the fingerprint the record holds; for a record
    without one, by the validation perplexity of a re-creation (``metrics``); weights that were not
    re-created (``metrics`` None) and a record without a fingerprint cannot be checked."""
    name = f"{record['kind']} {record['id']}"
    made_on = f"recorded on {record['provenance'].get('device_name')} with torch " \
              f"{record['provenance'].get('versions', {}).get('torch')}"
    expected = record["provenance"].get(FINGERPRINT)
    if expected:
        if expected == fingerprint:
            return Check(True, f"{name}: weights match the fingerprint in its record")
        return Check(False, f"{name}: weights have fingerprint {fingerprint[:19]}…, its record "
                            f"{expected[:19]}… ({made_on}; here {device_description()}); its children "
                            f"are not trained")
    if metrics is None:
        return Check(True, f"{name}: weights from the cache; its record holds no fingerprint to check them by")
    if record["config"].get("train") is None:
        return Check(True, f"{name}: nothing is trained, so its weights follow from its parent's")
    old, new = record["metrics"].get("valid_perplexity"), metrics.get("valid_perplexity")
    if old is not None and old == new:
        return Check(True, f"{name}: its record holds no weights fingerprint; the re-created LM has the "
                           f"recorded validation perplexity {old:.6f}")
    return Check(False, f"{name}: its record holds no weights fingerprint, and the re-created LM has "
                        f"validation perplexity {new}, not the recorded {old} ({made_on}; here "
                        f"{device_description()}); its children are not trained")


def device_description() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} with torch {torch.__version__}"
    return f"the CPU with torch {torch.__version__}"


def committed_weights(run: Run) -> Path:
    return results_dir() / run.scale / "weights" / f"{run.kind}-{run.id}" / "model.safetensors"


def recreate(run: Run, device: str) -> dict:
    """Train a recorded LM run again (its parents' weights must be at hand); its weights go to its cache
    folder as when it first ran, its record is not touched. Returns the new run's metrics."""
    executor = {"pretrain": experiments._do_pretrain, "finetune_lm": experiments._do_finetune}[run.kind]
    metrics, _, _ = executor(run, device, False)
    return metrics


def add_fingerprint(run: Run) -> dict:
    """Store the fingerprint of a just-made LM run's weights in its record's provenance; return it."""
    record = read_json(run.record_path)
    record["provenance"][FINGERPRINT] = file_fingerprint(run.work_dir / "model.safetensors")
    write_json(run.record_path, record)
    return record


# ----------------------------------------------------------------------------------- the driver

@dataclasses.dataclass
class Outcome:
    """What happened to one target."""

    target: str
    status: str          # recorded | done | skipped | blocked | failed | deadline
    estimate_s: float = 0.0
    seconds: float = 0.0
    note: str = ""


class Driver:
    """Runs targets within the budget and keeps the output folder up to date."""

    def __init__(self, scale: Scale, device: str, clock: Clock, log: Log, out: Path | None,
                 margin: float = 1.15, default_s: float = 300.0, reserve_s: float = RESERVE_S,
                 runner: Callable[[Run, str], dict] = experiments.ensure) -> None:
        self.scale, self.device, self.clock, self.log, self.out = scale, device, clock, log, out
        self.device_type = pick_device(device).type
        self.margin, self.default_s, self.reserve_s, self.runner = margin, default_s, reserve_s, runner
        self.known = scale_records(results_dir(), scale.name)
        self.ready: set[str] = set()             # LM runs whose weights are here and checked
        self.refused: dict[str, str] = {}        # run id -> why its children are not trained
        self.produced: list[Run] = []
        self.started: list[Run] = []             # runs begun in this call, in order
        self.current = ""                        # the target being run
        self.extra: list[tuple[str, Path]] = []  # other files for the bundle (benchmark results)
        self.outcomes: list[Outcome] = []
        self.steps: dict[str, dict] = {}
        self.info = {"bundle": uuid.uuid4().hex, "scale": scale.name, "device_name": device_description(),
                     "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                     "revision": experiments.git_revision(), "budget_s": clock.budget_s}

    # ---- estimates
    def estimate(self, run: Run) -> Estimate:
        return estimate(run, self.known, self.device_type, self.default_s)

    def _has_weights(self, run: Run) -> bool:
        return (run.work_dir / "model.safetensors").exists() or committed_weights(run).exists()

    def needs(self, target: Target) -> tuple[list[Run], list[Run]]:
        """The runs ``target`` still needs: those without a record, in order, and the recorded LMs to
        re-create first (parents of those, whose weights are not here)."""
        missing = [r for r in closure(target.run) if not r.record_path.exists()]
        again: dict[str, Run] = {}

        def weights_for(run: Run) -> None:
            if run.id in self.ready or run.id in again or self._has_weights(run):
                return
            for parent in run.parents:
                weights_for(parent)
            again[run.id] = run

        for run in missing:
            for parent in run.parents:
                if parent.record_path.exists():
                    weights_for(parent)
        return missing, list(again.values())

    def cost(self, missing: Sequence[Run], again: Sequence[Run]) -> float:
        """Estimated seconds of ``missing`` runs and of re-creating ``again`` (their recorded time on
        this device type where there is one)."""
        total = sum(self.estimate(r).seconds for r in missing)
        for run in again:
            prov = read_json(run.record_path)["provenance"]
            same = prov.get("device") == self.device_type and prov.get("wall_seconds")
            total += prov["wall_seconds"] if same else self.estimate(run).seconds
        return total

    # ---- running
    def run_targets(self, targets: Sequence[Target]) -> None:
        """Each target in turn until the budget is spent (a hard stop at the deadline)."""
        try:
            with hard_deadline(self.clock.left() - self.reserve_s):
                for target in targets:
                    self.run_target(target)
        except DeadlineReached as stop:
            self.outcomes.append(Outcome(self.current, "deadline", note=str(stop)))
            self.log(f"stopped: {stop}; {self.current} was not finished")
        self.collect_finished()
        self.write_output()

    def collect_finished(self) -> None:
        """Runs whose record was written just before the deadline stopped the driver (before it could
        take note): fingerprint and add them like the others."""
        for run in self.started:
            if run not in self.produced and run.record_path.exists():
                if run.kind in LM_KINDS and (run.work_dir / "model.safetensors").exists():
                    add_fingerprint(run)
                self.produced.append(run)

    def run_target(self, target: Target) -> None:
        self.current = target.describe()
        missing, again = self.needs(target)
        if not missing:
            self.outcomes.append(Outcome(self.current, "recorded"))
            return
        refused = [r.id for r in closure(target.run) if r.id in self.refused]
        if refused:
            self.outcomes.append(Outcome(self.current, "blocked", note=self.refused[refused[0]]))
            return
        need = self.cost(missing, again)
        left = self.clock.left() - self.reserve_s
        if need * self.margin > left:
            self.outcomes.append(Outcome(self.current, "skipped", need))
            self.log(f"skip {self.current}: needs about {need:.0f} s (x{self.margin} margin), {left:.0f} s left")
            return
        self.log(f"start {self.current}: {len(missing)} runs, {len(again)} LMs to re-create, about {need:.0f} s")
        t0 = time.monotonic()
        try:
            for run in missing:
                self.run_one(run)
        except ParentRefused as err:
            self.outcomes.append(Outcome(self.current, "blocked", need, time.monotonic() - t0, str(err)))
            return
        except Exception as err:  # noqa: BLE001 — one failed run must not cost the rest of the call
            self.log(f"failed {self.current}: {err}\n{traceback.format_exc()}")
            for run in missing:
                if not run.record_path.exists():
                    self.refused.setdefault(run.id, f"{run.kind} {run.id} failed: {err}")
            self.outcomes.append(Outcome(self.current, "failed", need, time.monotonic() - t0, str(err)))
            return
        self.outcomes.append(Outcome(self.current, "done", need, time.monotonic() - t0))

    def run_one(self, run: Run) -> None:
        """Make one missing run: its parents' weights first (checked), then the run; record and output."""
        for parent in run.parents:
            self.prepare_weights(parent)
        est, t0 = self.estimate(run), time.monotonic()
        self.started.append(run)
        self.runner(run, self.device)
        record = add_fingerprint(run) if run.kind in LM_KINDS else read_json(run.record_path)
        if run.kind in LM_KINDS:
            self.ready.add(run.id)
        self.known.append(record)
        self.produced.append(run)
        self.log(f"  {run.kind} {run.id}: {time.monotonic() - t0:.1f} s (estimated {est.seconds:.1f} s, "
                 f"{est.basis})")
        self.write_output()

    def prepare_weights(self, run: Run) -> None:
        """Make sure a recorded LM's weights are here and are the recorded ones (:func:`check_parent`),
        re-creating them when absent; raise :class:`ParentRefused` when they differ."""
        if run.id in self.ready:
            return
        if run.id in self.refused:
            raise ParentRefused(self.refused[run.id])
        if committed_weights(run).exists():
            self.ready.add(run.id)
            return
        cache = run.work_dir / "model.safetensors"
        metrics = None
        if not cache.exists():
            for parent in run.parents:
                self.prepare_weights(parent)
            t0 = time.monotonic()
            self.log(f"  re-creating {run.kind} {run.id} (its weights are not on this machine)")
            try:
                metrics = recreate(run, self.device)
            except Exception as err:
                self.refused[run.id] = f"{run.kind} {run.id} could not be re-created: {err}"
                raise
            self.log(f"  re-created {run.kind} {run.id} in {time.monotonic() - t0:.1f} s")
        check = check_parent(read_json(run.record_path), file_fingerprint(cache), metrics)
        self.log(f"  {check.message}")
        if not check.ok:
            self.refused[run.id] = check.message
            raise ParentRefused(check.message)
        self.ready.add(run.id)

    # ---- output
    def members(self) -> list[tuple[str, Path]]:
        out = []
        for run in self.produced:
            base = f"results/{run.scale}/{run.kind}/{run.id}"
            out.append((f"{base}.json", run.record_path))
            if run.preds_path.exists():
                out.append((f"{base}.preds.npz", run.preds_path))
        return out + self.extra

    def summary(self) -> dict:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        return {**self.info, "elapsed_s": round(self.clock.elapsed(), 1), "counts": counts, "steps": self.steps,
                "new_runs": [f"{r.kind} {r.id}" for r in self.produced],
                "outcomes": [dataclasses.asdict(o) for o in self.outcomes if o.status != "recorded"]}

    def write_output(self) -> None:
        if self.out is None:
            return
        written = write_bundle(self.out, self.members(), self.info)
        if written.left_out:
            self.log(f"left out of the bundle (over the size limits): {written.left_out}")
        write_json(self.out / "summary.json", self.summary())


# ----------------------------------------------------------------------------------- steps

def run_step(name: str, argv: Sequence[str], timeout_s: float, log: Log, min_s: float = 20.0) -> dict:
    """Run a command from the repository root for at most ``timeout_s``; log the end of its output."""
    if timeout_s < min_s:
        log(f"{name}: skipped, {timeout_s:.0f} s left")
        return {"status": "skipped"}
    t0 = time.monotonic()
    try:
        proc = subprocess.run(list(argv), cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as err:
        output = err.stdout.decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        log(f"{name}: stopped after {timeout_s:.0f} s\n{_tail(output)}")
        return {"status": "timed out", "seconds": round(time.monotonic() - t0, 1)}
    status = "passed" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
    log(f"{name}: {status} in {time.monotonic() - t0:.0f} s\n{_tail(proc.stdout + proc.stderr)}")
    return {"status": status, "seconds": round(time.monotonic() - t0, 1)}


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines()[-lines:])


def card_slug(name: str) -> str:
    """A GPU's name as bench.py puts it in its result file names."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def cuda_tests(driver: Driver, enabled: bool) -> None:
    if not enabled or driver.device_type != "cuda":
        driver.log("CUDA tests: skipped" + ("" if enabled else " (--no-tests)") +
                   ("" if driver.device_type == "cuda" else ", no CUDA device"))
        return
    if importlib.util.find_spec("pytest") is None:
        driver.log("CUDA tests: skipped, pytest is not installed here")
        return
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu", *TESTS]
    driver.steps["cuda_tests"] = run_step("CUDA tests", argv, min(TESTS_TIMEOUT_S, driver.clock.left() / 3),
                                          driver.log)


def benchmark(driver: Driver, policy: str) -> None:
    if policy == "never" or driver.device_type != "cuda":
        driver.log("GPU benchmark: skipped" + (", no CUDA device" if driver.device_type != "cuda" else ""))
        return
    existing = sorted((REPO_ROOT / "bench" / "results").glob(f"gpu-{card_slug(torch.cuda.get_device_name())}-*.json"))
    if policy == "missing" and existing:
        driver.log(f"GPU benchmark: skipped, {existing[-1].name} is recorded for this GPU model")
        return
    folder = Path(tempfile.mkdtemp(prefix="gpu-bench-"))
    argv = [sys.executable, "bench/bench.py", "--gpu-only", "--out", str(folder)]
    driver.steps["benchmark"] = run_step("GPU benchmark", argv, min(BENCH_TIMEOUT_S, driver.clock.left() / 4),
                                         driver.log)
    for path in sorted(folder.glob("gpu-*.json")):
        driver.extra.append((f"bench/results/{path.name}", path))


# ----------------------------------------------------------------------------------- set-up

def use_pack(scale: str, given: str | None) -> Path | None:
    """Resolve the pack once: ``given``, else ``$ULMFIT_PACK``, else ``gpu_pack/`` when it was made for
    ``scale``; set ``$ULMFIT_PACK`` to it and, from its travel file, ``$ULMFIT_REVISION``."""
    folder = Path(given) if given else pack.pack_dir()
    if folder is None and (REPO_ROOT / "gpu_pack" / "manifest.json").is_file():
        folder = REPO_ROOT / "gpu_pack" if read_json(REPO_ROOT / "gpu_pack" / "manifest.json").get("scale") == scale else None
    if folder is None:
        return None
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        raise SystemExit(f"{manifest}: no pack manifest")
    if (made_for := read_json(manifest).get("scale")) != scale:
        raise SystemExit(f"{manifest}: a pack for scale {made_for!r}, not {scale!r}")
    os.environ[pack.PACK_ENV] = str(folder.resolve())
    travel = folder / TRAVEL_FILE
    if travel.is_file() and not os.environ.get(REVISION_ENV):
        os.environ[REVISION_ENV] = read_json(travel)["revision"]
    return folder


def dry_run(driver: Driver, targets: Sequence[Target]) -> None:
    """Print each target still to run with its estimate (as if each ran alone, from this machine's state)."""
    total = 0.0
    for target in targets:
        missing, again = driver.needs(target)
        if missing:
            need = driver.cost(missing, again)
            total += need
            print(f"{need:7.0f} s  {target.describe()}  ({len(missing)} runs, {len(again)} to re-create)")
    print(f"{total:7.0f} s  in all, each target counted alone")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ulmfit_core.harness.gpu_driver", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", default="gpu")
    p.add_argument("--budget-s", type=float, default=570.0, help="seconds from the start (default 570)")
    p.add_argument("--out", type=Path, help="output folder (required unless --dry-run)")
    p.add_argument("--device", default="auto")
    p.add_argument("--chapters", nargs="*", help="only these chapters (01 or 01_main_results; default all)")
    p.add_argument("--datasets", nargs="*", help="only these datasets")
    p.add_argument("--seeds", nargs="*", type=int, help="these seeds instead of the scale's")
    p.add_argument("--pack", help="pack folder (default $ULMFIT_PACK, else gpu_pack/ if made for the scale)")
    p.add_argument("--no-tests", action="store_true", help="skip the CUDA tests")
    p.add_argument("--bench", choices=("missing", "always", "never"), default="missing",
                   help="GPU benchmark: where this GPU model has no result yet (default), always, never")
    p.add_argument("--margin", type=float, default=1.15, help="estimates are multiplied by this (default 1.15)")
    p.add_argument("--default-s", type=float, default=300.0, help="estimate of a run no record informs")
    p.add_argument("--reserve-s", type=float, default=RESERVE_S, help="seconds kept for writing the output")
    p.add_argument("--warn-only", action="store_true",
                   help="where PyTorch has no deterministic algorithm for an operation, warn instead of failing")
    p.add_argument("--dry-run", action="store_true", help="print the plan and its estimates, run nothing")
    args = p.parse_args(argv)
    if args.out is None and not args.dry_run:
        p.error("--out is required")
    return args


def main(argv: Sequence[str] | None = None, started: float | None = None) -> int:
    """The command line; the budget counts from ``started`` (a :func:`time.monotonic` value; default now)."""
    args = parse_args(argv)
    clock = Clock(args.budget_s, started if started is not None else time.monotonic())
    scale = get_scale(args.scale)
    folder = use_pack(scale.name, args.pack)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    log = Log(clock, args.out / "log.txt" if args.out else None)
    driver = Driver(scale, args.device, clock, log, args.out, args.margin, args.default_s, args.reserve_s)
    targets = plan(scale, args.chapters, args.datasets, args.seeds)
    if args.dry_run:
        dry_run(driver, targets)
        return 0
    if folder is None and not data_dir().is_dir():
        log(f"no pack ($ULMFIT_PACK, or gpu_pack/ made for {scale.name}) and no data folder at {data_dir()}: "
            f"nothing can run")
        driver.write_output()
        return 1
    log(f"scale {scale.name}, budget {args.budget_s:.0f} s, {len(targets)} targets; {device_description()}; "
        f"inputs from {folder or data_dir()}; revision {driver.info['revision']}")
    if driver.device_type == "cuda":
        deterministic_cuda(0, warn_only=args.warn_only)
        log(f"deterministic CUDA: seeds fixed, deterministic algorithms{' (warn only)' if args.warn_only else ''}, "
            "cuDNN benchmark off, "
            f"CUBLAS_WORKSPACE_CONFIG={os.environ.get('CUBLAS_WORKSPACE_CONFIG')}")
    cuda_tests(driver, not args.no_tests)
    benchmark(driver, args.bench)
    driver.run_targets(targets)
    s = driver.summary()
    log(f"finished: {s['counts']}; {len(driver.produced)} new runs in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(started=STARTED))
