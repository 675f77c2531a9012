"""General-domain LM pretraining (ULMFiT §3.1) on several GPUs: ``ulmfit pretrain`` under torchrun.

    torchrun --nproc_per_node 8 -m ulmfit_core.distributed_pretrain --config run.yaml

Reads the same YAML as ``ulmfit pretrain`` (:class:`ulmfit_core.runconfig.RunConfig`) and writes the same
``<output>/pretrained/`` folder (``pretrained-backward/`` for a backward LM; each direction in turn).
``pretrain.train.batch_size`` is the global batch: each of the N processes trains on batch_size / N rows of
the token stream (:class:`ulmfit_core.tasks.LMTask`), the model is wrapped in DistributedDataParallel
(:mod:`ulmfit_core.distributed`), and rank 0 alone writes checkpoints, weights, vocabulary and history.
Rank 0 tokenises the corpus first; the others then read it from the token cache. Run without torchrun it is
a single-process ``ulmfit pretrain``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ulmfit_core import distributed, pretrained
from ulmfit_core.awd_lstm import LanguageModel, lm_dropouts
from ulmfit_core.pipeline import build_vocab, encode
from ulmfit_core.runconfig import RunConfig
from ulmfit_core.stages import corpus_texts, save_stage, stage_dir, stage_key
from ulmfit_core.tasks import LMTask
from ulmfit_core.train import fit


def _device(name: str, info: distributed.DistInfo) -> torch.device:
    """The config's device, with ``auto`` / ``cuda`` meaning this process's own GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device("cuda", info.local_rank) if name == "cuda" else torch.device(name)


def pretrain(cfg: RunConfig, info: distributed.DistInfo, direction: str = "forward") -> list[dict]:
    """Run stage (a) for ``direction`` as process ``info.rank`` of ``info.world_size``; return the
    per-epoch history."""
    out = stage_dir(cfg, "pretrained", direction)
    texts = corpus_texts(cfg.pretrain)
    name = f"pretrain-{cfg.pretrain.corpus.replace('/', '_')[-40:]}"
    if not info.is_main:
        distributed.barrier()  # wait for rank 0 to fill the token cache
    vocab = build_vocab(texts, name, max_size=cfg.pretrain.vocab_size, progress=info.is_main)
    docs = encode(texts, vocab, name, backward=direction == "backward", progress=info.is_main)
    if info.is_main:
        distributed.barrier()
    n_valid = max(1, len(docs) // 100)
    train_cfg = cfg.pretrain.train
    device = _device(cfg.device, info)
    torch.manual_seed(train_cfg.seed)  # the same initial weights everywhere (DDP also broadcasts rank 0's)
    model = LanguageModel(len(vocab), lm_dropouts(cfg.model))
    task = LMTask(docs[n_valid:], docs[:n_valid], train_cfg.batch_size, cfg.bptt, train_cfg.seed,
                  device=device, rank=info.rank, world_size=info.world_size)
    history = fit(distributed.wrap_model(model, device), model.layer_groups(), task, train_cfg, out, device,
                  progress=info.is_main)
    if info.is_main:
        save_stage(out, stage_key(cfg, "pretrained", direction), model, vocab, history)
        twin = [stage_dir(cfg, "pretrained", d) for d in cfg.directions if d != direction]
        pretrained.write_meta(out, direction, twin[0] if twin else None)
    return history


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ulmfit_core.distributed_pretrain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        info = distributed.init_from_env()
        cfg = RunConfig.load(args.config)
        for direction in cfg.directions:
            pretrain(cfg, info, direction)
    except (ValueError, FileNotFoundError) as err:
        print(f"ulmfit: error: {err}", file=sys.stderr)
        return 2
    finally:
        distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
