"""Data-parallel LM pretraining on several GPUs (or CPU processes) with PyTorch's DistributedDataParallel.

Launch one process per device with ``torchrun --nproc_per_node N``; each process calls :func:`init_from_env`,
builds the same model, wraps it with :func:`wrap_model` and trains on its own slice of the batch rows
(:class:`ulmfit_core.tasks.LMTask` takes ``rank`` / ``world_size``). DDP averages the gradients after every
backward pass, so N processes with B/N rows each take the same step as one process with B rows — up to
floating-point summation order, and except that each process draws its own dropout masks.

Outside ``torchrun`` (no ``WORLD_SIZE`` in the environment) everything here is a no-op: rank 0 of 1.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job: global ``rank``, ``world_size`` and ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(backend: str | None = None, timeout_s: float = 1800.0) -> DistInfo:
    """Join the process group described by torchrun's variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
    ``MASTER_ADDR``, ``MASTER_PORT``); return this process's :class:`DistInfo`.

    The backend defaults to NCCL when CUDA is available (each process then uses GPU ``LOCAL_RANK``) and gloo
    otherwise. Without ``WORLD_SIZE`` — a plain ``python`` run — nothing is initialised and rank 0 of 1 is
    returned. Raises ``ValueError`` when a variable is malformed.
    """
    if "WORLD_SIZE" not in os.environ:
        return DistInfo()
    try:
        info = DistInfo(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]),
                        int(os.environ.get("LOCAL_RANK", os.environ["RANK"])))
    except (KeyError, ValueError) as err:
        raise ValueError(f"torchrun environment incomplete or malformed (RANK, WORLD_SIZE, LOCAL_RANK): {err}"
                         ) from err
    if not 0 <= info.rank < info.world_size:
        raise ValueError(f"RANK={info.rank} is outside 0..WORLD_SIZE-1 (WORLD_SIZE={info.world_size})")
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(info.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=info.rank, world_size=info.world_size,
                                timeout=timedelta(seconds=timeout_s))
    return info


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's global rank (0 outside a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """The number of processes in the job (1 outside a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main() -> bool:
    """True on the process that writes checkpoints and run records (rank 0; always true when alone)."""
    return rank() == 0


def device_for(info: DistInfo) -> torch.device:
    """The device this process trains on: GPU ``local_rank`` when CUDA is available, else the CPU."""
    return torch.device("cuda", info.local_rank) if torch.cuda.is_available() else torch.device("cpu")


def barrier() -> None:
    """Wait until every process gets here (no-op when alone)."""
    if is_distributed():
        dist.barrier()


def all_reduce_sum(*values: float) -> tuple[float, ...]:
    """Return each value summed over all processes (the values themselves when alone)."""
    if not is_distributed():
        return values
    t = torch.tensor(values, dtype=torch.float64,
                     device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t)
    return tuple(t.tolist())


class _LossAsForward(nn.Module):
    """Make ``model.loss`` the module's forward, so that DDP sees (and synchronises) the LM's loss call."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *args, **kwargs):
        return self.model.loss(*args, **kwargs)


class DataParallelLM(DistributedDataParallel):
    """DDP around a :class:`~ulmfit_core.awd_lstm.LanguageModel` that keeps the LM's ``loss`` method.

    ``LMTask.loss`` calls ``model.loss(ids, targets, hidden, chunk_rows)``; here that call goes through
    DDP's forward, which is what arms the gradient all-reduce of the following backward pass.
    """

    def loss(self, *args, **kwargs):
        return self(*args, **kwargs)


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Return ``model`` on ``device``, wrapped for data parallelism inside a process group (else unwrapped).

    A model with a ``loss`` method (the language model) is wrapped so that ``loss`` is synchronised; any
    other model (the classifier) is wrapped as plain DDP. ``find_unused_parameters`` stays off: every
    parameter takes part in every forward — the DropConnect'ed hidden-to-hidden weights too, since
    :class:`~ulmfit_core.dropout.WeightDropout` derives the LSTM's weight from its raw parameter on every
    call, dropout or not. Parameters must not be frozen or unfrozen afterwards (DDP fixes the set of
    trainable parameters when it wraps), so only the ``full`` fine-tuning strategy trains under DDP.
    """
    model = model.to(device)
    if not is_distributed():
        return model
    ids = [device.index] if device.type == "cuda" else None
    if hasattr(model, "loss"):
        return DataParallelLM(_LossAsForward(model), device_ids=ids)
    return DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    """Return the model inside a :func:`wrap_model` wrapper (``model`` itself if it is not wrapped)."""
    if isinstance(model, DistributedDataParallel):
        model = model.module
    return model.model if isinstance(model, _LossAsForward) else model


def shutdown() -> None:
    """Leave the process group (no-op when none was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
