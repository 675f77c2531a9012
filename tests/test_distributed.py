"""Data-parallel LM training (DDP, :mod:`ulmfit_core.distributed`): two CPU processes with the gloo backend
take the same steps as one process with the whole batch, end with identical weights, and only rank 0 writes
checkpoints."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from ulmfit_core import distributed
from ulmfit_core import train as train_module
from ulmfit_core.awd_lstm import AWDLSTMConfig, LanguageModel
from ulmfit_core.checkpoint import latest_checkpoint
from ulmfit_core.fileio import read_json, write_json
from ulmfit_core.tasks import LMTask
from ulmfit_core.train import TrainConfig, fit

VOCAB = 40
# Dropout off: each process draws its own masks, so only a dropout-free run is comparable step for step.
NO_DROPOUT = AWDLSTMConfig(emb_size=8, hidden_size=16, n_layers=2, embed_p=0.0, input_p=0.0, hidden_p=0.0,
                           weight_p=0.0, output_p=0.0)
GLOBAL_BATCH, WORLD = 4, 2
TOLERANCE = 1e-5  # max |weight difference| between 2 × 2 rows (DDP) and 1 × 4 rows; float summation order only
CPU = torch.device("cpu")


def _docs() -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(0)
    docs = [rng.integers(2, VOCAB, rng.integers(8, 16)) for _ in range(8)]
    return docs[:6], docs[6:]   # about 70 training tokens: 4 rows of 17, three BPTT windows of ~5


def _train(info: distributed.DistInfo, run_dir: Path) -> tuple[LanguageModel, list[dict], int]:
    """Train the tiny LM for one epoch as process ``info.rank``; return (model, history, steps)."""
    torch.manual_seed(0)
    model = LanguageModel(VOCAB, NO_DROPOUT)
    train_docs, valid_docs = _docs()
    task = LMTask(train_docs, valid_docs, GLOBAL_BATCH, bptt=5, seed=1, rank=info.rank,
                  world_size=info.world_size)
    cfg = TrainConfig(epochs=1, lr=0.01, schedule="constant", batch_size=GLOBAL_BATCH)
    history = fit(distributed.wrap_model(model, CPU), model.layer_groups(), task, cfg, run_dir, CPU,
                  progress=False)
    return model, history, task.n_batches(0)


def _rank_main(rank: int, port: int, tmp: str) -> None:
    """One DDP process: join through torchrun's variables, train, save its final weights for the test."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    out = Path(tmp)
    info = distributed.init_from_env("gloo")
    real_save = train_module.save_checkpoint

    def spy(*args, **kwargs):  # records which process writes a checkpoint
        (out / f"checkpoint-written-by-rank-{rank}").touch()
        return real_save(*args, **kwargs)

    train_module.save_checkpoint = spy
    try:
        model, history, steps = _train(info, out / "run")
        with pytest.raises(ValueError, match="full"):  # freezing stages cannot run under DDP
            fit(distributed.wrap_model(model, CPU), model.layer_groups(), LMTask(*_docs(), GLOBAL_BATCH, 5,
                rank=rank, world_size=WORLD), TrainConfig(strategy="gradual_unfreeze", epochs=3), None, CPU,
                progress=False)
        save_file({k: v.contiguous() for k, v in model.state_dict().items() if k != "decoder.decoder.weight"},
                  str(out / f"rank{rank}.safetensors"))
        write_json(out / f"rank{rank}.json", {"history": history, "steps": steps,
                                              "world_size": distributed.world_size()})
    finally:
        distributed.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> Path:
    """Run the two-process training once for the tests below; return its folder."""
    tmp = tmp_path_factory.mktemp("ddp")
    mp.start_processes(_rank_main, args=(_free_port(), str(tmp)), nprocs=WORLD, join=True, start_method="spawn")
    return tmp


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def test_ranks_train_and_end_with_identical_weights(ddp_run):
    rank0, rank1 = (load_file(str(ddp_run / f"rank{r}.safetensors")) for r in range(WORLD))
    record = read_json(ddp_run / "rank0.json")
    assert record["world_size"] == WORLD and record["steps"] >= 3
    assert np.isfinite(record["history"][0]["train_loss"])
    torch.manual_seed(0)
    initial = {k: v for k, v in LanguageModel(VOCAB, NO_DROPOUT).state_dict().items() if k in rank0}
    assert _max_diff(rank0, initial) > 1e-3                     # training moved the weights
    assert _max_diff(rank0, rank1) == 0.0                       # same all-reduced gradients, same steps
    # the epoch's loss and token count are summed over both processes, so both records agree
    assert read_json(ddp_run / "rank1.json")["history"][0]["train_loss"] == record["history"][0]["train_loss"]


def test_ddp_matches_one_process_with_the_whole_batch(ddp_run, tmp_path):
    model, history, steps = _train(distributed.DistInfo(), tmp_path / "single")
    single = {k: v for k, v in model.state_dict().items() if k != "decoder.decoder.weight"}
    ddp = load_file(str(ddp_run / "rank0.safetensors"))
    record = read_json(ddp_run / "rank0.json")
    assert steps == record["steps"]
    assert _max_diff(single, ddp) < TOLERANCE
    assert history[0]["items"] == record["history"][0]["items"]
    assert history[0]["train_loss"] == pytest.approx(record["history"][0]["train_loss"], abs=1e-6)
    assert history[0]["valid_loss"] == pytest.approx(record["history"][0]["valid_loss"], abs=1e-5)


def test_only_rank_0_writes_the_checkpoint(ddp_run):
    assert (ddp_run / "checkpoint-written-by-rank-0").exists()
    assert not (ddp_run / "checkpoint-written-by-rank-1").exists()
    assert latest_checkpoint(ddp_run / "run" / "checkpoints") is not None


def test_rank_slices_cover_the_global_batch():
    train_docs, valid_docs = _docs()
    whole = list(LMTask(train_docs, valid_docs, GLOBAL_BATCH, bptt=5, seed=1).batches(0))
    parts = [list(LMTask(train_docs, valid_docs, GLOBAL_BATCH, bptt=5, seed=1, rank=r, world_size=WORLD
                         ).batches(0)) for r in range(WORLD)]
    assert all(len(p) == len(whole) for p in parts)
    for step, (x, y) in enumerate(whole):
        assert torch.equal(x, torch.cat([p[step][0] for p in parts]))
        assert torch.equal(y, torch.cat([p[step][1] for p in parts]))


def test_uneven_split_and_plain_runs():
    with pytest.raises(ValueError, match="split evenly"):
        LMTask(*_docs(), batch_size=5, world_size=2)
    assert not distributed.is_distributed() and distributed.is_main() and distributed.world_size() == 1
    model = LanguageModel(VOCAB, NO_DROPOUT)
    assert distributed.wrap_model(model, CPU) is model and distributed.unwrap(model) is model


def test_init_without_torchrun_is_rank_0_of_1(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.init_from_env() == distributed.DistInfo(0, 1, 0)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ValueError, match="RANK=2"):
        distributed.init_from_env()
