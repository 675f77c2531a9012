"""One training loop for language models and classifiers (ULMFiT §3.2–3.3).

Adam with β1 0.7 / β2 0.99, discriminative learning rates per layer group, a schedule per stage (STLR,
cosine or constant), stages of unfreezing, gradient clipping, mixed precision on CUDA, validation after
every epoch, a checkpoint after every epoch (and, where asked, every so many batches and on SIGTERM) and
exact resume from it.

Under ``torchrun`` the same loop trains a model wrapped by :func:`ulmfit_core.distributed.wrap_model`
(DistributedDataParallel): each process feeds its own slice of the batch, checkpoints are written by rank 0
only, and the epoch's train loss is summed over all processes.
"""
from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol

import torch
from torch import Tensor, nn
from tqdm import tqdm

from ulmfit_core import distributed
from ulmfit_core.checkpoint import (CheckpointError, latest_checkpoint, load_checkpoint, load_into, load_weights,
                                   save_checkpoint, save_weights)
from ulmfit_core.fileio import atomic_path
from ulmfit_core.config import Config, ConfigError, check_range
from ulmfit_core.finetune import STRATEGIES, Stage, freeze_to, stages_for
from ulmfit_core.schedules import SCHEDULES, discriminative_lrs, make_scheduler


@dataclass(frozen=True)
class TrainConfig(Config):
    """How to train. ``lr`` is η for the last layer group; lower groups get ``lr / discr_factor^k``."""

    epochs: int = 1
    lr: float = 0.01
    discr_factor: float = 2.6    # 1.0 turns discriminative fine-tuning off
    lr_lower: float = 0.0        # > 0: every group below the last trains at this rate (chain-thaw)
    schedule: str = "stlr"       # stlr | cos | constant
    cut_frac: float = 0.1
    ratio: float = 32.0
    strategy: str = "full"       # full | last | gradual_unfreeze | chain_thaw
    beta1: float = 0.7
    beta2: float = 0.99
    weight_decay: float = 0.01
    clip: float = 0.0            # max gradient norm; 0 = no clipping
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        check_range(self, "epochs", low=1, integer=True)
        check_range(self, "lr", low=0, low_open=True)
        check_range(self, "discr_factor", low=1.0)
        check_range(self, "lr_lower", low=0)
        check_range(self, "cut_frac", low=0, high=1, low_open=True, high_open=True)
        check_range(self, "ratio", low=1.0)
        check_range(self, "beta1", low=0, high=1, high_open=True)
        check_range(self, "beta2", low=0, high=1, high_open=True)
        check_range(self, "weight_decay", low=0)
        check_range(self, "clip", low=0)
        check_range(self, "batch_size", low=1, integer=True)
        check_range(self, "seed", low=0, integer=True)
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"TrainConfig.schedule = {self.schedule!r}; choose one of {sorted(SCHEDULES)}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"TrainConfig.strategy = {self.strategy!r}; choose one of {STRATEGIES}")


class Task(Protocol):
    """What the loop needs from a language-model or a classification task."""

    def batches(self, epoch: int) -> Iterable[Any]: ...
    def n_batches(self, epoch: int) -> int: ...
    def loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, int]: ...   # (loss, items counted)
    def evaluate(self, model: nn.Module) -> dict[str, float]: ...


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def pick_device(name: str = "auto") -> torch.device:
    """Return ``cuda`` when asked for or when ``auto`` finds a GPU, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_for(device: torch.device) -> Any:
    """Mixed precision on CUDA (bf16 where supported, else fp16); full precision on the CPU, where bf16
    autocast around the backward pass was measured to stall LM training."""
    if device.type != "cuda":
        return nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def group_lrs(cfg: TrainConfig, n_groups: int) -> list[float]:
    """Return each layer group's peak rate, lowest first: discriminative (§3.2, eq. 2), or ``lr_lower``
    below the last group when set (Table 7's chain-thaw: 0.001 last, 0.0001 others)."""
    if cfg.lr_lower:
        return [cfg.lr_lower] * (n_groups - 1) + [cfg.lr]
    return discriminative_lrs(cfg.lr, n_groups, cfg.discr_factor)


def make_optimizer(groups: list[list[nn.Parameter]], cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam(W) with one parameter group per layer group at its own peak rate (see :func:`group_lrs`)."""
    lrs = group_lrs(cfg, len(groups))
    return torch.optim.AdamW([{"params": g, "lr": lr} for g, lr in zip(groups, lrs)],
                              betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)


def _stage_of(stages: list[Stage], epoch: int) -> tuple[int, int]:
    """Return (stage index, epoch within that stage) of global ``epoch``."""
    for i, stage in enumerate(stages):
        if epoch < stage.epochs:
            return i, epoch
        epoch -= stage.epochs
    raise IndexError("epoch beyond the last stage")


class TrainingInterrupted(RuntimeError):
    """SIGTERM arrived: a checkpoint of the batches done so far was written and training stopped."""


@contextlib.contextmanager
def _stop_on_sigterm(active: bool) -> Iterator[threading.Event]:
    """Yield an event that SIGTERM sets (instead of ending the process) while ``active``; the loop then
    checkpoints and stops. Only the main thread can take signals: elsewhere the event never fires."""
    flag = threading.Event()
    if not active or threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: flag.set())
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass(frozen=True)
class Every:
    """Work inside an epoch, every so many batches: a checkpoint (and one on SIGTERM), an evaluation."""

    checkpoint: int = 0
    evaluate: int = 0

    def due(self, interval: int, done: int, n_batches: int) -> bool:
        return bool(interval) and done % interval == 0 and done < n_batches


def best_epoch(history: list[dict]) -> int:
    """The index of the epoch with the lowest validation error (then loss; the earliest on a tie); for a
    language model, whose epochs have no error, the lowest validation loss (perplexity)."""
    def key(i: int) -> tuple[float, float, int]:
        loss = history[i]["valid_loss"]
        return history[i].get("valid_error", loss), loss, i
    return min(range(len(history)), key=key)


def fit(model: nn.Module, groups: list[list[nn.Parameter]], task: Task, cfg: TrainConfig,
        run_dir: Path | None, device: torch.device | None = None, progress: bool = True,
        checkpoint_every: int = 0, eval_every: int = 0, keep_best: bool = False) -> list[dict]:
    """Train ``model`` on ``task`` and return the per-epoch history (train loss, validation metrics, lr,
    seconds, tokens/items). With ``run_dir``, a checkpoint is written after each epoch and a run that
    finds one there resumes from it, giving the same result as an uninterrupted run.

    ``checkpoint_every`` > 0 also checkpoints every that many batches inside an epoch, and when SIGTERM
    arrives (then raises :class:`TrainingInterrupted`); such a checkpoint holds the position in the
    epoch's data, the RNG, optimiser and schedule state, the running train loss and the task's own state
    (an LM's hidden state), so a resumed run ends with the same weights as an uninterrupted one.
    ``eval_every`` > 0 evaluates every that many batches too; those evaluations are the epoch record's
    ``curve`` (validation metrics against items trained on so far in the epoch).

    ``keep_best`` is early stopping as the paper applies it to every method but ULMFiT: training runs its
    whole schedule, then the model is given back the weights of its best validation epoch
    (:func:`best_epoch`), which are also kept in ``run_dir`` so that a resumed run finds them.

    ``model`` may come wrapped by :func:`ulmfit_core.distributed.wrap_model` (DDP); ``groups`` are the
    bare model's layer groups. Every process loads the same checkpoint; only rank 0 writes them."""
    device = device or pick_device()
    model.to(device)
    core = distributed.unwrap(model)  # the bare model: what checkpoints hold and what evaluation runs
    torch.manual_seed(cfg.seed)
    stages = stages_for(cfg.strategy, len(groups), cfg.epochs)
    if distributed.is_distributed() and len(stages) > 1:
        raise ValueError(f"TrainConfig.strategy = {cfg.strategy!r} freezes layer groups, which DDP cannot "
                         f"follow; train with strategy 'full' under torchrun")
    if distributed.is_distributed() and (checkpoint_every or eval_every):
        raise ValueError("checkpoints and evaluations inside an epoch are for one process; under torchrun "
                         "each process has its own hidden state and RNG, which a checkpoint does not hold")
    every = Every(checkpoint_every if run_dir else 0, eval_every)
    optimizer = make_optimizer(groups, cfg)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and not torch.cuda.is_bf16_supported())
    history: list[dict] = []
    start, resume, best = 0, None, None
    ckpt_dir = run_dir / "checkpoints" if run_dir else None
    if ckpt_dir and (latest := latest_checkpoint(ckpt_dir)) is not None:
        state = load_checkpoint(latest, core, optimizer)
        history = state["history"]
        start, resume = (state["epoch"], state) if "step" in state else (state["epoch"] + 1, None)
    total_epochs = sum(s.epochs for s in stages)
    with _stop_on_sigterm(bool(every.checkpoint)) as stop:
        for epoch in range(start, total_epochs):
            stage_idx, in_stage = _stage_of(stages, epoch)
            stage = stages[stage_idx]
            freeze_to(groups, stage.groups)
            first = epoch - in_stage
            steps = sum(task.n_batches(e) for e in range(first, first + stage.epochs))
            sched_kw = {"cut_frac": cfg.cut_frac, "ratio": cfg.ratio} if cfg.schedule == "stlr" else {}
            for group, lr in zip(optimizer.param_groups, group_lrs(cfg, len(groups))):
                group["lr"] = lr
                group.pop("initial_lr", None)
            scheduler = make_scheduler(optimizer, cfg.schedule, steps, **sched_kw)
            done_before = sum(task.n_batches(e) for e in range(first, epoch)) + (resume["step"] if resume else 0)
            with warnings.catch_warnings():  # fast-forward on resume: "step() before optimizer.step()"
                warnings.simplefilter("ignore", UserWarning)
                for _ in range(done_before):
                    scheduler.step()
            if distributed.is_distributed():
                # Each process draws its own dropout masks, from a seed fixed by (seed, epoch, rank): the RNG
                # state in a checkpoint is rank 0's, so per-epoch seeds keep a resumed DDP run exact too.
                torch.manual_seed(cfg.seed * 1_000_003 + epoch * 1_009 + distributed.rank())
            loop = _EpochLoop(model, core, task, epoch, optimizer, scheduler, scaler, cfg, device, ckpt_dir,
                              every, stop, history)
            record = loop.run(progress, resume)
            resume = None
            record.update(stage=stage_idx, trainable_groups=list(stage.groups))
            record.update(_evaluate(model, core, task, device))  # every process evaluates all of validation
            history.append(record)
            if progress and distributed.is_main():
                tqdm.write(epoch_summary(record, total_epochs, len(groups)))
            if keep_best and best_epoch(history) == epoch:
                best = _keep(core, ckpt_dir)
            if ckpt_dir and distributed.is_main():
                save_checkpoint(ckpt_dir, epoch, core, optimizer, {"history": history})
            distributed.barrier()  # no process runs ahead of (or resumes from) a half-written epoch
    freeze_to(groups, tuple(range(len(groups))))
    if keep_best and history:
        _restore_best(core, best if best_epoch(history) >= start else None, ckpt_dir)
    return history


def epoch_summary(record: dict, total_epochs: int, n_groups: int) -> str:
    """One line for an epoch's record: its place, the layer groups it trained, train loss, validation
    metrics (perplexity for a language model, error for a classifier) and time."""
    groups = sorted(g + 1 for g in record.get("trainable_groups", []))     # 1-based, the lowest group first
    if not groups or len(groups) == n_groups:
        trained = "all groups"
    elif len(groups) == 1:
        trained = f"group {groups[0]} of {n_groups}"
    elif groups == list(range(groups[0], groups[-1] + 1)):
        trained = f"groups {groups[0]}-{groups[-1]} of {n_groups}"
    else:
        trained = f"groups {','.join(map(str, groups))} of {n_groups}"
    parts = [f"epoch {record['epoch']}/{total_epochs} ({trained})", f"train loss {record['train_loss']:.3f}"]
    if "valid_loss" in record:
        parts.append(f"valid loss {record['valid_loss']:.3f}")
    if "valid_perplexity" in record:
        parts.append(f"valid perplexity {record['valid_perplexity']:.1f}")
    if "valid_error" in record:
        parts.append(f"valid error {record['valid_error']:.2f}%")
    parts.append(f"{record['seconds']:.0f} s")
    return "  ".join(parts)


BEST_WEIGHTS = "best.safetensors"


def _keep(core: nn.Module, ckpt_dir: Path | None) -> dict[str, Tensor]:
    """A copy of the weights of the best epoch so far, also written to ``ckpt_dir`` (for a resumed run)."""
    state = {k: v.detach().clone() for k, v in core.state_dict().items()}
    if ckpt_dir and distributed.is_main():
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(ckpt_dir / BEST_WEIGHTS) as tmp:
            save_weights(core, tmp)
    return state


def _restore_best(core: nn.Module, state: dict[str, Tensor] | None, ckpt_dir: Path | None) -> None:
    """Load the best epoch's weights into ``core``: from memory, or from ``ckpt_dir`` when the best epoch
    came before this process resumed."""
    if state is None:
        if ckpt_dir is None or not (ckpt_dir / BEST_WEIGHTS).exists():
            raise CheckpointError(f"{ckpt_dir}: the best epoch's weights ({BEST_WEIGHTS}) are missing")
        state = load_weights(ckpt_dir / BEST_WEIGHTS)
    load_into(core, state, ckpt_dir / BEST_WEIGHTS if ckpt_dir else "best epoch")


def _evaluate(model: nn.Module, core: nn.Module, task: Task, device: torch.device) -> dict[str, float]:
    """The task's validation metrics in eval mode; ``model`` is left in training mode."""
    model.eval()
    with torch.no_grad(), autocast_for(device):
        metrics = task.evaluate(core)
    model.train()
    return metrics


@dataclass
class _EpochLoop:
    """One epoch of training, from its first batch or from a mid-epoch checkpoint."""

    model: nn.Module
    core: nn.Module
    task: Task
    epoch: int
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    cfg: TrainConfig
    device: torch.device
    ckpt_dir: Path | None
    every: Every
    stop: threading.Event
    history: list[dict]

    def run(self, progress: bool, resume: dict | None) -> dict:
        """Train the epoch's remaining batches; return its record (train loss, items, seconds, curve)."""
        self.model.train()
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        n_batches = self.task.n_batches(self.epoch)
        done = resume["step"] if resume else 0
        partial = resume["partial"] if resume else {"loss": 0.0, "items": 0, "seconds": 0.0, "curve": []}
        total_loss, total_items, curve = partial["loss"], partial["items"], list(partial["curve"])
        rng = torch.get_rng_state() if resume else None
        batches = iter(self.task.batches(self.epoch))
        for _ in range(done):  # the data position: skip what the checkpoint had trained on
            next(batches)
        if rng is not None:    # starting a DataLoader draws from the global RNG: undo what the skip drew
            torch.set_rng_state(rng)
        if resume and hasattr(self.task, "load_state_dict"):
            self.task.load_state_dict(resume.get("task_state", {}))
        t0 = time.perf_counter() - partial["seconds"]
        bar = tqdm(batches, total=n_batches, initial=done, desc=f"epoch {self.epoch + 1}",
                   disable=not progress, leave=False)
        for step, batch in enumerate(bar, start=done):
            loss, items = self._step(batch, step, params)
            total_loss += loss * items
            total_items += items
            bar.set_postfix(loss=f"{total_loss / total_items:.3f}")
            done = step + 1
            if self.every.due(self.every.evaluate, done, n_batches):
                curve.append({"step": done, "items": total_items, **_evaluate(self.model, self.core, self.task,
                                                                              self.device)})
            if self.every.checkpoint and (self.every.due(self.every.checkpoint, done, n_batches)
                                          or (self.stop.is_set() and done < n_batches)):
                where = self._checkpoint(done, {"loss": total_loss, "items": total_items, "curve": curve,
                                                "seconds": time.perf_counter() - t0})
                if self.stop.is_set():
                    raise TrainingInterrupted(f"SIGTERM at epoch {self.epoch + 1}, batch {done} of "
                                              f"{n_batches}; checkpoint written to {where}")
        seconds = time.perf_counter() - t0
        total_loss, total_items = distributed.all_reduce_sum(total_loss, total_items)  # over all processes
        total_items = int(total_items)
        record = {"epoch": self.epoch + 1, "train_loss": total_loss / max(total_items, 1), "seconds": seconds,
                  "items": total_items, "items_per_s": total_items / max(seconds, 1e-9),
                  "lr_last_group": self.optimizer.param_groups[-1]["lr"]}
        return {**record, "curve": curve} if curve else record

    def _step(self, batch: Any, step: int, params: list[nn.Parameter]) -> tuple[float, int]:
        with autocast_for(self.device):
            loss, items = self.task.loss(self.model, batch)
        if not torch.isfinite(loss):
            where = f"; the last good checkpoint is kept in {self.ckpt_dir}" if self.ckpt_dir else ""
            raise TrainingDiverged(f"loss became {loss.item()} at epoch {self.epoch + 1}, step {step + 1}; "
                                   f"training stopped{where}")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.clip:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], self.cfg.clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return loss.item(), items

    def _checkpoint(self, done: int, partial: dict) -> Path:
        assert self.ckpt_dir is not None
        task_state = self.task.state_dict() if hasattr(self.task, "state_dict") else None
        return save_checkpoint(self.ckpt_dir, self.epoch, self.core, self.optimizer,
                               {"history": self.history, "partial": partial}, step=done, task_state=task_state)


def perplexity(loss: float) -> float:
    """exp(loss), capped to stay finite in JSON."""
    return math.exp(min(loss, 50.0))
