"""Tiny training runs that can kill themselves (SIGKILL) at a chosen moment; used by ``test_faults.py``.

    python tests/fault_runner.py JOB [JOB ...]
    python tests/fault_runner.py --kill JOB [JOB ...] --then JOB [JOB ...]

Each JOB is ``RUN_DIR:OUT_DIR[:KILL]``: a tiny AWD-LSTM language model trained on random tokens with
``fit`` (always the same model, data and seed), its checkpoints in ``RUN_DIR``; a run that finds a
checkpoint there resumes from it. When training finishes, the weights go to
``OUT_DIR/model.safetensors`` and the per-epoch history to ``OUT_DIR/history.json``.

KILL says where the process dies by SIGKILL — as ``kill -9`` or a power cut would stop it, with no clean-up:

- ``batch-E-B``: as the loss of batch ``B`` of epoch ``E`` (both 0-based) is about to be computed;
- ``every-N-batch-E-B``: the same, in a run that also checkpoints and evaluates every ``N`` batches inside an
  epoch (the evaluations must not change what training computes);
- ``term-N-batch-E-B``: a run that checkpoints every ``N`` batches gets SIGTERM (not SIGKILL) there, so it
  writes a checkpoint after that batch and stops with :class:`~ulmfit_core.train.TrainingInterrupted`;
- ``write-optimizer.safetensors``: while the second checkpoint writes its optimiser file (half written);
- ``write-state.json``: while the second checkpoint writes ``state.json`` (half of its temporary file);
- ``write-LATEST``: after the second checkpoint wrote ``LATEST``'s temporary file, before the rename.

Plain JOBs run one after the other in this process. With ``--kill``, each of those jobs runs in its own
child process, forked from this one once the libraries are imported (which saves seconds per process),
all at once; when they have ended, each one's ``RUN_DIR`` is copied to ``RUN_DIR-killed`` (what the kill
left behind) and the ``--then`` jobs run one after the other in one new forked child. This process then
prints one JSON line — ``{"killed": [exit status of each --kill job (-9 for SIGKILL)], "finished":
[whether each wrote its OUT_DIR], "then": exit status of the --then child}`` — and exits 0.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save as safetensors_bytes

from ulmfit_core import checkpoint
from ulmfit_core.awd_lstm import AWDLSTMConfig, LanguageModel, lm_dropouts
from ulmfit_core.fileio import atomic_path, write_json
from ulmfit_core.tasks import LMTask
from ulmfit_core.train import TrainConfig, fit

VOCAB = 50
CFG = AWDLSTMConfig(emb_size=8, hidden_size=16, n_layers=3)
EPOCHS = 3
TRAIN = TrainConfig(epochs=EPOCHS, lr=0.01, batch_size=4, clip=0.3)


def die() -> None:
    """Stop at once: no clean-up, no ``finally`` blocks."""
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def make() -> tuple[LanguageModel, LMTask]:
    """Return (model, task) — the same every time."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    docs = [rng.integers(2, VOCAB, rng.integers(10, 30)) for _ in range(24)]
    return LanguageModel(VOCAB, lm_dropouts(CFG)), LMTask(docs[:20], docs[20:], batch_size=4, bptt=8, seed=1)


class KillAtBatch:
    """Delegates to ``task``; kills the process when the loss of batch ``at_batch`` of ``at_epoch`` starts."""

    def __init__(self, task: LMTask, at_epoch: int, at_batch: int, signal_to_send: int = signal.SIGKILL) -> None:
        self.task, self.at_epoch, self.at_batch, self.signal = task, at_epoch, at_batch, signal_to_send
        self.epoch, self.step = -1, 0

    def batches(self, epoch: int) -> Any:
        self.epoch, self.step = epoch, 0
        for batch in self.task.batches(epoch):
            yield batch
            self.step += 1           # counts the batches handed out, trained on or skipped on resume

    def state_dict(self) -> dict:
        return self.task.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.task.load_state_dict(state)

    def n_batches(self, epoch: int) -> int:
        return self.task.n_batches(epoch)

    def loss(self, model: torch.nn.Module, batch: Any) -> Any:
        if (self.epoch, self.step) == (self.at_epoch, self.at_batch):
            if self.signal == signal.SIGKILL:
                die()
            os.kill(os.getpid(), self.signal)   # the handler only sets a flag: this batch still trains
        return self.task.loss(model, batch)

    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        return self.task.evaluate(model)


def kill_while_writing(name: str) -> None:
    """Patch the checkpoint module so that the second checkpoint dies while writing ``name``."""
    seen = {"n": 0}
    real_save_file, real_write_json, real_write_text = (checkpoint.save_file, checkpoint.write_json,
                                                        checkpoint.write_text)

    def second(path: Any) -> bool:
        if Path(path).name != name:
            return False
        seen["n"] += 1
        return seen["n"] == 2

    def save_file(tensors: dict, path: str, *args: Any, **kw: Any) -> None:
        if second(path):
            data = safetensors_bytes(tensors)
            Path(path).write_bytes(data[: len(data) // 2])
            die()
        real_save_file(tensors, path, *args, **kw)

    def write_json_then_die(path: Path, obj: Any) -> None:
        if second(path):
            data = json.dumps(obj, indent=2).encode()
            with atomic_path(path) as tmp:
                tmp.write_bytes(data[: len(data) // 2])
                die()
        real_write_json(path, obj)

    def write_text(path: Path, text: str) -> None:
        if second(path):
            with atomic_path(path) as tmp:
                tmp.write_text(text)
                die()
        real_write_text(path, text)

    checkpoint.save_file, checkpoint.write_json, checkpoint.write_text = save_file, write_json_then_die, write_text


def run_job(job: str) -> None:
    """Train (or resume) the job's run, dying where its KILL part says."""
    run_dir, out_dir, *kill = job.split(":")
    model, task = make()
    fitted: Any = task
    every = 0
    if kill and kill[0].startswith(("batch-", "every-", "term-")):
        how, *numbers = kill[0].replace("-batch", "").split("-")
        if how != "batch":
            every, numbers = int(numbers[0]), numbers[1:]
        fitted = KillAtBatch(task, *map(int, numbers), signal.SIGTERM if how == "term" else signal.SIGKILL)
    elif kill and kill[0].startswith("write-"):
        kill_while_writing(kill[0].removeprefix("write-"))
    history = fit(model, model.layer_groups(), fitted, TRAIN, Path(run_dir), torch.device("cpu"), progress=False,
                  checkpoint_every=every, eval_every=every if kill and kill[0].startswith("every-") else 0)
    with atomic_path(Path(out_dir) / "model.safetensors") as tmp:
        checkpoint.save_weights(model, tmp)
    write_json(Path(out_dir) / "history.json", history)


def in_child(jobs: list[str]) -> int:
    """Fork a child that runs ``jobs`` one after the other and leaves at once; return its pid."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        for job in jobs:
            run_job(job)
        code = 0
    except BaseException:                                       # noqa: BLE001 — report it, never return
        import traceback
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def exit_status(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def kill_then_resume(kill: list[str], then: list[str]) -> dict[str, Any]:
    """Run each ``kill`` job in its own child, all at once; keep a copy of each run folder; then run the
    ``then`` jobs in one new child. Return the exit statuses (see the module's docstring)."""
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])   # import what the optimiser imports, once
    killed = [exit_status(pid) for pid in [in_child([job]) for job in kill]]
    for job in kill:
        run_dir = Path(job.split(":")[0])
        if run_dir.exists():
            shutil.copytree(run_dir, run_dir.with_name(run_dir.name + "-killed"))
    finished = [Path(job.split(":")[1]).exists() for job in kill]
    return {"killed": killed, "finished": finished, "then": exit_status(in_child(then))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("jobs", nargs="*", metavar="RUN_DIR:OUT_DIR[:KILL]")
    parser.add_argument("--kill", nargs="+", default=[], metavar="JOB", help="jobs to run in forked children")
    parser.add_argument("--then", nargs="*", default=[], metavar="JOB", help="jobs to run after them")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.kill:
        print(json.dumps(kill_then_resume(args.kill, args.then)))
        return 0
    for job in args.jobs:
        run_job(job)
    return 0


if __name__ == "__main__":
    sys.exit(main())
