"""Checkpoints that survive being killed: weights in safetensors, everything else in JSON, no pickle.

A checkpoint is a folder ``ckpt-<epoch>`` (after a whole epoch) or ``ckpt-<epoch>-<step>`` (inside epoch
``epoch``, after ``step`` of its batches) written under a temporary name and renamed when complete; the
file ``LATEST`` (replaced atomically) names the newest complete one. A run killed at any moment
therefore resumes from the last complete checkpoint.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ulmfit_core.fileio import read_json, write_json, write_text


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the problem."""


def save_weights(model: nn.Module, path: Path) -> None:
    """Save ``model``'s weights as safetensors (tied tensors stored once)."""
    unique: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, tensor in model.state_dict().items():
        if tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            unique[key] = tensor.detach().contiguous().cpu()
    save_file(unique, str(path))


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file, raising :class:`CheckpointError` naming ``path`` if it is unreadable."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from err


def load_into(model: nn.Module, state: dict[str, torch.Tensor], source: Path | str) -> None:
    """Load ``state`` into ``model``; missing keys or shape mismatches raise naming ``source``."""
    expected = model.state_dict()
    names = {k for k in expected}
    tied = {k for k in names - set(state)
            if any(expected[k].data_ptr() == expected[o].data_ptr() for o in state if o in expected)}
    missing = sorted(names - set(state) - tied)
    unexpected = sorted(set(state) - names)
    if missing or unexpected:
        raise CheckpointError(f"{source}: weights do not fit this model (missing {missing[:5]}, "
                              f"unexpected {unexpected[:5]})")
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise CheckpointError(f"{source}: {key} has shape {tuple(tensor.shape)} but the model expects "
                                  f"{tuple(expected[key].shape)} (another vocabulary or model size?)")
    model.load_state_dict(state, strict=False)


def _optimizer_files(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors, meta = {}, {"param_groups": state["param_groups"], "state": {}}
    for idx, slots in state["state"].items():
        meta["state"][str(idx)] = []
        for name, value in slots.items():
            tensors[f"{idx}.{name}"] = value.detach().contiguous().cpu()
            meta["state"][str(idx)].append(name)
    return tensors, meta


def save_checkpoint(folder: Path, epoch: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                    info: dict[str, Any], step: int | None = None,
                    task_state: dict[str, torch.Tensor] | None = None) -> Path:
    """Write the checkpoint after ``epoch`` — or, with ``step``, after ``step`` batches of epoch ``epoch`` —
    (weights, optimiser, RNG state, ``info``, and the task's own tensors such as an LM's hidden state)
    and point LATEST at it."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".ckpt-", dir=folder))
    save_weights(model, tmp / "model.safetensors")
    tensors, meta = _optimizer_files(optimizer)
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    write_json(tmp / "optimizer.json", meta)
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state()
    save_file(rng, str(tmp / "rng.safetensors"))
    if task_state:
        save_file({k: v.detach().contiguous().cpu() for k, v in task_state.items()}, str(tmp / "task.safetensors"))
    write_json(tmp / "state.json", {"epoch": epoch, **({"step": step} if step is not None else {}), **info})
    final = folder / (f"ckpt-{epoch}" if step is None else f"ckpt-{epoch}-{step}")
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    write_text(folder / "LATEST", final.name + "\n")
    for old in folder.glob("ckpt-*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    for stale in folder.glob(".ckpt-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in folder.glob(".LATEST.tmp-*"):
        stale.unlink(missing_ok=True)
    return final


def latest_checkpoint(folder: Path) -> Path | None:
    """Return the newest complete checkpoint folder, or None if the run has none."""
    pointer = folder / "LATEST"
    if not pointer.exists():
        return None
    name = pointer.read_text().strip()
    if not re.fullmatch(r"ckpt-\d+(-\d+)?", name):
        raise CheckpointError(f"{pointer}: expected ckpt-<epoch> or ckpt-<epoch>-<step>, found {name!r}")
    path = folder / name
    if not path.is_dir():
        raise CheckpointError(f"{pointer}: names {path.name}, which does not exist")
    return path


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore model, optimiser and RNG state from checkpoint folder ``path``; return its ``state.json``
    (with the task's tensors under ``"task_state"`` when the checkpoint has them)."""
    load_into(model, load_weights(path / "model.safetensors"), path / "model.safetensors")
    meta = read_json(path / "optimizer.json")
    tensors = load_weights(path / "optimizer.safetensors")
    opt_state = {"param_groups": meta["param_groups"],
                 "state": {int(i): {n: tensors[f"{i}.{n}"] for n in names}
                           for i, names in meta["state"].items()}}
    try:
        optimizer.load_state_dict(opt_state)
    except (ValueError, KeyError) as err:
        raise CheckpointError(f"{path / 'optimizer.json'}: does not fit this optimiser ({err})") from err
    rng = load_weights(path / "rng.safetensors")
    torch.set_rng_state(rng["cpu"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["cuda"])
    state = read_json(path / "state.json")
    if (path / "task.safetensors").exists():
        state["task_state"] = load_weights(path / "task.safetensors")
    return state
