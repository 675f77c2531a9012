"""How to spend a CPU's cores on LM pretraining: one process with every thread, or DDP ranks of one thread.

    python bench/lm_cores.py --threads 2                                   # one process, 2 threads
    OMP_NUM_THREADS=1 torchrun --nproc_per_node 2 bench/lm_cores.py --threads 1   # 2 gloo ranks

Trains the reduced scale's AWD-LSTM (200/400, 3 layers, 20k vocabulary, LM dropouts) for one epoch over
``--tokens`` tokens of random ids at global batch ``--batch`` and BPTT 70, and prints one JSON line with
the training tokens per second (the softmax over the vocabulary costs the same for random ids as for text).
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch

from ulmfit_core import distributed
from ulmfit_core.awd_lstm import AWDLSTMConfig, LanguageModel, lm_dropouts
from ulmfit_core.tasks import LMTask
from ulmfit_core.train import TrainConfig, fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=300_000)
    parser.add_argument("--vocab", type=int, default=20_000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    info = distributed.init_from_env(backend="gloo") if "RANK" in os.environ else None
    rng = np.random.default_rng(0)
    docs = [rng.integers(8, args.vocab, 3000) for _ in range(args.tokens // 3000)]
    torch.manual_seed(0)
    model = LanguageModel(args.vocab, lm_dropouts(AWDLSTMConfig(emb_size=200, hidden_size=400, n_layers=3)))
    task = LMTask(docs, docs[:2], args.batch, 70, 0, rank=info.rank if info else 0,
                  world_size=info.world_size if info else 1)
    cfg = TrainConfig(epochs=1, lr=3e-3, discr_factor=1.0, batch_size=args.batch, clip=0.3)
    wrapped = distributed.wrap_model(model, torch.device("cpu")) if info else model
    history = fit(wrapped, model.layer_groups(), task, cfg, None, torch.device("cpu"), progress=False)
    if info is None or info.is_main:
        h = history[0]
        print(json.dumps({"processes": info.world_size if info else 1, "threads": args.threads,
                          "batch": args.batch, "tokens": h["items"], "seconds": round(h["seconds"], 1),
                          "tokens_per_s": round(h["items_per_s"])}))
    distributed.shutdown()


if __name__ == "__main__":
    main()
