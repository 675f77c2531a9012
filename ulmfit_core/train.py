"""One training loop for language models and classifiers (ULMFiT §3.2–3.3).

Adam with β1 0.7 / β2 0.99, discriminative learning rates per layer group, a schedule per stage (STLR,
cosine or constant), stages of unfreezing, gradient clipping, mixed precision on CUDA, validation after
every epoch, a checkpoint after every epoch and exact resume from it.

Under ``torchrun`` the same loop trains a model wrapped by :func:`ulmfit_core.distributed.wrap_model`
(DistributedDataParallel): each process feeds its own slice of the batch, checkpoints are written by rank 0
only, and the epoch's train loss is summed over all processes.
"""
from __future__ import annotations

import math
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Protocol

import torch
from torch import Tensor, nn
from tqdm import tqdm

from ulmfit_core import distributed
from ulmfit_core.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
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


def fit(model: nn.Module, groups: list[list[nn.Parameter]], task: Task, cfg: TrainConfig,
        run_dir: Path | None, device: torch.device | None = None, progress: bool = True) -> list[dict]:
    """Train ``model`` on ``task`` and return the per-epoch history (train loss, validation metrics, lr,
    seconds, tokens/items). With ``run_dir``, a checkpoint is written after each epoch and a run that
    finds one there resumes from it, giving the same result as an uninterrupted run.

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
    optimizer = make_optimizer(groups, cfg)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and not torch.cuda.is_bf16_supported())
    history: list[dict] = []
    start = 0
    ckpt_dir = run_dir / "checkpoints" if run_dir else None
    if ckpt_dir and (latest := latest_checkpoint(ckpt_dir)) is not None:
        state = load_checkpoint(latest, core, optimizer)
        start, history = state["epoch"] + 1, state["history"]
    total_epochs = sum(s.epochs for s in stages)
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
        with warnings.catch_warnings():  # fast-forward on resume: "step() before optimizer.step()"
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(sum(task.n_batches(e) for e in range(first, epoch))):
                scheduler.step()
        if distributed.is_distributed():
            # Each process draws its own dropout masks, from a seed fixed by (seed, epoch, rank): the RNG
            # state in a checkpoint is rank 0's, so per-epoch seeds keep a resumed DDP run exact too.
            torch.manual_seed(cfg.seed * 1_000_003 + epoch * 1_009 + distributed.rank())
        record = _train_epoch(model, task, epoch, optimizer, scheduler, scaler, cfg, device, progress, ckpt_dir)
        record.update(stage=stage_idx, trainable_groups=list(stage.groups))
        model.eval()
        with torch.no_grad(), autocast_for(device):
            record.update(task.evaluate(core))  # every process evaluates the whole validation set
        history.append(record)
        if ckpt_dir and distributed.is_main():
            save_checkpoint(ckpt_dir, epoch, core, optimizer, {"history": history})
        distributed.barrier()  # no process runs ahead of (or resumes from) a half-written epoch
    freeze_to(groups, tuple(range(len(groups))))
    return history


def _train_epoch(model: nn.Module, task: Task, epoch: int, optimizer: torch.optim.Optimizer,
                 scheduler: Any, scaler: Any, cfg: TrainConfig, device: torch.device, progress: bool,
                 ckpt_dir: Path | None) -> dict:
    model.train()
    params = [p for g in optimizer.param_groups for p in g["params"]]
    total_loss, total_items, t0 = 0.0, 0, time.perf_counter()
    bar = tqdm(task.batches(epoch), total=task.n_batches(epoch), desc=f"epoch {epoch + 1}",
               disable=not progress, leave=False)
    for step, batch in enumerate(bar):
        with autocast_for(device):
            loss, items = task.loss(model, batch)
        if not torch.isfinite(loss):
            where = f"; the last good checkpoint is kept in {ckpt_dir}" if ckpt_dir else ""
            raise TrainingDiverged(f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                                   f"training stopped{where}")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.clip:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], cfg.clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        total_loss += loss.item() * items
        total_items += items
        bar.set_postfix(loss=f"{total_loss / total_items:.3f}")
    seconds = time.perf_counter() - t0
    total_loss, total_items = distributed.all_reduce_sum(total_loss, total_items)  # over all processes
    total_items = int(total_items)
    return {"epoch": epoch + 1, "train_loss": total_loss / max(total_items, 1), "seconds": seconds,
            "items": total_items, "items_per_s": total_items / max(seconds, 1e-9),
            "lr_last_group": optimizer.param_groups[-1]["lr"]}


def perplexity(loss: float) -> float:
    """exp(loss), capped to stay finite in JSON."""
    return math.exp(min(loss, 50.0))
