"""Training that a later GPU machine can repeat exactly, and the fingerprint that says whether it did.

A GPU machine lent for one call starts bare: a language model trained in an earlier call is gone, and a
child run (a fine-tuned LM, a classifier) needs its parent's weights. The parent is therefore trained
again, and only used when it is the same model as the one its record describes. Two pieces make that
possible:

- :func:`deterministic_cuda` fixes the seeds and asks PyTorch, cuBLAS and cuDNN for deterministic
  algorithms, so that the same code, data and seed give the same weights on the same GPU model and
  software (PyTorch promises no more than that: another GPU model or version may differ);
- :func:`weights_fingerprint` is a SHA-256 over every tensor's name, dtype, shape and bytes, stored with
  the record of a language-model run and compared with the weights trained again.

On the CPU the training loop is deterministic already; these settings change nothing there.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import random
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from ulmfit_core.checkpoint import load_weights

CUBLAS_ENV = "CUBLAS_WORKSPACE_CONFIG"
CUBLAS_DETERMINISTIC = (":4096:8", ":16:8")   # the two settings cuBLAS documents as reproducible


@dataclasses.dataclass(frozen=True)
class DeterminismState:
    """The global settings :func:`deterministic_cuda` changes, as they were before (see :func:`restore`)."""

    algorithms: bool
    warn_only: bool
    cudnn_deterministic: bool
    cudnn_benchmark: bool
    cublas_workspace: str | None


def current_state() -> DeterminismState:
    """The process's determinism settings now."""
    return DeterminismState(torch.are_deterministic_algorithms_enabled(),
                            torch.is_deterministic_algorithms_warn_only_enabled(),
                            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
                            os.environ.get(CUBLAS_ENV))


def deterministic_cuda(seed: int = 0, warn_only: bool = False) -> DeterminismState:
    """Make CUDA training repeatable: seed Python, NumPy and torch (every GPU) with ``seed``, require
    deterministic algorithms (an operation that has none raises, or only warns with ``warn_only``),
    turn off cuDNN's benchmark-based algorithm choice, and set ``CUBLAS_WORKSPACE_CONFIG``, which cuBLAS
    reads when it starts: call this before the first CUDA matrix product of the process. Returns the
    settings as they were, for :func:`restore`."""
    previous = current_state()
    if os.environ.get(CUBLAS_ENV) not in CUBLAS_DETERMINISTIC:
        os.environ[CUBLAS_ENV] = CUBLAS_DETERMINISTIC[0]
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)                        # every CUDA device too
    torch.use_deterministic_algorithms(True, warn_only=warn_only)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    return previous


def restore(state: DeterminismState) -> None:
    """Put back the settings :func:`deterministic_cuda` returned (seeds are not restored)."""
    torch.use_deterministic_algorithms(state.algorithms, warn_only=state.warn_only)
    torch.backends.cudnn.deterministic = state.cudnn_deterministic
    torch.backends.cudnn.benchmark = state.cudnn_benchmark
    if state.cublas_workspace is None:
        os.environ.pop(CUBLAS_ENV, None)
    else:
        os.environ[CUBLAS_ENV] = state.cublas_workspace


def weights_fingerprint(state: Mapping[str, torch.Tensor]) -> str:
    """``sha256:<hex>`` over every tensor of ``state`` in name order: its name, dtype, shape and bytes.
    Equal fingerprints mean bit-identical weights."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return "sha256:" + digest.hexdigest()


def file_fingerprint(path: Path) -> str:
    """:func:`weights_fingerprint` of a safetensors file (an error naming ``path`` if unreadable)."""
    return weights_fingerprint(load_weights(path))
