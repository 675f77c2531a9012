"""Speed of ``ulmfit_core`` against fastai 2.8, the reference implementation of ULMFiT.

CPU section (default), ours and fastai alternating, each measurement in a fresh subprocess (so that its peak
resident memory is its own), repeated; medians are reported with the ratio ours / fastai:

* ``lm_train`` — language-model training tokens/s, AWD-LSTM at three sizes, batch 64, BPTT 70, vocabulary
  20k, every regulariser on (fastai's LM dropouts, AR α=2, TAR β=1), Adam(W) β (0.7, 0.99), weight decay
  0.01. Ours: :class:`LanguageModel` with :meth:`LMTask.loss`; fastai: ``get_language_model(AWD_LSTM)``,
  ``CrossEntropyLossFlat``, its ``RNNRegularizer`` and its ``Adam``. Both get the same random-token windows.
* ``clf_train`` / ``clf_infer`` — classifier documents/s on the first IMDb training reviews: the same
  length-sorted batches, BPT3C with bptt 70 and max_len 1400. Ours: :class:`TextClassifier` through
  :meth:`ClassificationTask.loss` and :func:`predict`; fastai: ``get_text_classifier(AWD_LSTM)`` on batches
  padded by its ``pad_input_chunk``.
* ``tokenize`` — tokens/s on IMDb reviews, 2 worker processes: ours :func:`tokenize_texts`, fastai
  ``parallel_tokenize`` with its ``SpacyTokenizer`` and default rules.

GPU section (``--gpu-only``, needs CUDA): ours at the paper's size (400 / 1150 / 3 layers), batch 128, BPTT
70, every regulariser, bf16 autocast, against a bare loop (embedding → 3 × nn.LSTM → tied decoder, no
dropout, no AR/TAR) on the same batches: tokens/s, ratio and peak ``torch.cuda.max_memory_allocated``.

    bash bench/setup_fastai.sh                              # once: the fastai environment
    bench/.venv-fastai/bin/python bench/bench.py            # CPU section -> bench/results/cpu-<date>.json
    bench/.venv-fastai/bin/python bench/bench.py --quick --out /tmp/bench   # a check that it runs
    .venv/bin/python bench/bench.py --gpu-only              # GPU section -> bench/results/gpu-<card>-<date>.json
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
FASTAI_PYTHON = BENCH_DIR / ".venv-fastai" / "bin" / "python"
LM_SIZES = ((100, 256), (200, 400), (400, 1150))
VOCAB = 20_000
SIDES = ("ours", "fastai")


# ----------------------------------------------------------------------------------------------- provenance


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


def _git_revision() -> str:
    """The commit measured (``$ULMFIT_REVISION`` where set: see
    ``ulmfit_core.harness.experiments.git_revision``)."""
    from ulmfit_core.settings import REVISION_ENV
    if os.environ.get(REVISION_ENV):
        return os.environ[REVISION_ENV]
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _provenance(load_start: tuple[float, float, float]) -> dict[str, Any]:
    """Date, machine (CPU model, cores, load average at the start and now), versions and git revision."""
    import torch
    try:
        import fastai
        fastai_version = fastai.__version__
    except ImportError:
        fastai_version = None
    return {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "load_average_start": load_start,
                        "load_average_end": os.getloadavg()},
            "python": platform.python_version(), "torch": torch.__version__, "fastai": fastai_version,
            "torch_threads": torch.get_num_threads(), "git_revision": _git_revision()}


def _peak_rss_mib(children: bool = False) -> float:
    """Peak resident memory of this process (with ``children``: the largest of its finished children)."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024  # kB on Linux


def _write_json(path: Path, obj: Any) -> None:
    from ulmfit_core.fileio import write_json
    write_json(path, obj)


# -------------------------------------------------------------------------------------------------- data


def imdb_texts(n: int) -> list[str]:
    """The first ``n`` IMDb training reviews (raw text), from the shared data folder."""
    from ulmfit_core.settings import data_dir
    path = data_dir() / "imdb" / "train.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: IMDb training file not found (set ULMFIT_DATA)")
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh)
        header = next(rows)
        if header != ["id", "rating", "label", "text"]:
            raise ValueError(f"{path}: row 1: unexpected header {header}")
        texts = [row[3] for _, row in zip(range(n), rows)]
    if len(texts) < n:
        raise ValueError(f"{path}: only {len(texts)} reviews, {n} asked for")
    return texts


def imdb_docs(n: int, folder: Path) -> Path:
    """Tokenise and numericalise the first ``n`` reviews (our tokenizer and vocabulary, used by both sides);
    save them as ``folder/imdb.npz`` (ids, offsets, labels) and return the path."""
    from collections import Counter

    import numpy as np
    from ulmfit_core.fileio import save_arrays
    from ulmfit_core.tokenize import tokenize_texts
    from ulmfit_core.vocab import Vocab
    tokens = tokenize_texts(imdb_texts(n), n_workers=1, progress=False)
    vocab = Vocab.build(Counter(t for doc in tokens for t in doc), max_size=VOCAB, min_freq=1)
    ids = [vocab.numericalize(doc).astype(np.int64) for doc in tokens]
    lengths = np.array([len(d) for d in ids])
    rng = np.random.default_rng(0)
    path = folder / "imdb.npz"
    save_arrays(path, ids=np.concatenate(ids), offsets=np.concatenate([[0], np.cumsum(lengths)]),
                labels=rng.integers(0, 2, len(ids)))
    return path


def _load_docs(path: str) -> tuple[list, list[int]]:
    import numpy as np
    with np.load(path) as npz:
        ids, offsets, labels = npz["ids"], npz["offsets"], npz["labels"]
    return [ids[a:b] for a, b in zip(offsets[:-1], offsets[1:])], labels.tolist()


def _sorted_batches(docs: list, labels: list[int], bs: int) -> list[list[tuple]]:
    """Documents sorted longest first and cut into batches of ``bs``: the same batches for both sides."""
    order = sorted(range(len(docs)), key=lambda i: -len(docs[i]))
    items = [(docs[i], labels[i], i) for i in order]
    return [items[k:k + bs] for k in range(0, len(items), bs)]


# ----------------------------------------------------------------------------- measurements (subprocesses)


def _timed_steps(step: Callable[[Any], int], batches: list, warmup: int) -> tuple[float, int]:
    """Run ``step`` on every batch; return (seconds, items) over the batches after the first ``warmup``."""
    items, t0 = 0, 0.0
    for i, batch in enumerate(batches):
        if i == warmup:
            t0 = time.perf_counter()
        n = step(batch)
        if i >= warmup:
            items += n
    return time.perf_counter() - t0, items


def _lm_batches(n: int, bs: int, bptt: int, vocab: int, device: str = "cpu") -> list:
    import torch
    g = torch.Generator().manual_seed(0)
    stream = torch.randint(2, vocab, (bs, n * bptt + 1), generator=g)
    return [(stream[:, k * bptt:(k + 1) * bptt].to(device), stream[:, k * bptt + 1:(k + 1) * bptt + 1].to(device))
            for k in range(n)]


def measure_lm_ours(emb: int, hidden: int, batches: list, warmup: int) -> tuple[float, int]:
    import torch
    from ulmfit_core.awd_lstm import AWDLSTMConfig, LanguageModel, lm_dropouts
    from ulmfit_core.tasks import LMTask
    from ulmfit_core.train import TrainConfig, make_optimizer
    torch.manual_seed(0)
    model = LanguageModel(VOCAB, lm_dropouts(AWDLSTMConfig(emb_size=emb, hidden_size=hidden)))
    opt = make_optimizer(model.layer_groups(), TrainConfig(lr=1e-3))
    # LMTask only for its loss (cross-entropy in cache-sized blocks + AR/TAR, hidden state carried);
    # its own stream is not used, so both sides see identical windows.
    task = LMTask([batches[0][0].flatten().numpy()] * 2, [batches[0][0].flatten().numpy()], 2, 70)
    model.train()

    def step(batch) -> int:
        loss, n = task.loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return n

    return _timed_steps(step, batches, warmup)


def measure_lm_fastai(emb: int, hidden: int, batches: list, warmup: int) -> tuple[float, int]:
    from types import SimpleNamespace

    import torch
    from fastai.callback.rnn import RNNRegularizer
    from fastai.losses import CrossEntropyLossFlat
    from fastai.optimizer import Adam
    from fastai.text.all import AWD_LSTM, awd_lstm_lm_config, get_language_model
    torch.manual_seed(0)
    model = get_language_model(AWD_LSTM, VOCAB, dict(awd_lstm_lm_config, emb_sz=emb, n_hid=hidden))
    opt = Adam(list(model.parameters()), lr=1e-3, mom=0.7, sqr_mom=0.99, wd=0.01)
    loss_func, reg = CrossEntropyLossFlat(), RNNRegularizer(alpha=2.0, beta=1.0)
    model.train()

    def step(batch) -> int:
        x, y = batch
        logits, raw, dropped = model(x)
        # What Learner + RNNCallback hand RNNRegularizer.after_loss: the loss and the last layer's outputs.
        reg.learn = SimpleNamespace(training=True, loss_grad=loss_func(logits, y),
                                    rnn=SimpleNamespace(out=dropped, raw_out=raw))
        reg.after_loss()
        reg.learn.loss_grad.backward()
        opt.step()
        opt.zero_grad()
        return y.numel()

    return _timed_steps(step, batches, warmup)


def _clf_model(side: str, emb: int, hidden: int, vocab: int):
    import torch
    torch.manual_seed(0)
    if side == "ours":
        from ulmfit_core.awd_lstm import AWDLSTMConfig
        from ulmfit_core.classifier import TextClassifier
        return TextClassifier(vocab, 2, AWDLSTMConfig(emb_size=emb, hidden_size=hidden), bptt=70, max_len=1400)
    from fastai.text.all import AWD_LSTM, get_text_classifier
    return get_text_classifier(AWD_LSTM, vocab, 2, seq_len=70, config={"emb_sz": emb, "n_hid": hidden},
                               max_len=1400)


def _clf_inputs(side: str, batch: list[tuple]):
    """(model input, labels) for one batch of (ids, label, index) items, padded the way each side pads."""
    import torch
    labels = torch.tensor([y for _, y, _ in batch])
    if side == "ours":
        from ulmfit_core.batching import pad_collate
        b = pad_collate(batch, pad_id=1)
        return (b.ids, b.lengths), labels
    from fastai.text.data import pad_input_chunk
    padded = pad_input_chunk([(torch.as_tensor(ids), y) for ids, y, _ in batch], pad_idx=1, pad_first=True,
                             seq_len=70)
    return (torch.stack([p[0] for p in padded]),), labels


def measure_clf(side: str, train: bool, emb: int, hidden: int, path: str, bs: int, n_batches: int,
                warmup: int) -> tuple[float, int]:
    import torch
    import torch.nn.functional as F
    docs, labels = _load_docs(path)
    vocab = int(max(int(d.max()) for d in docs)) + 1
    batches = _sorted_batches(docs, labels, bs)
    model = _clf_model(side, emb, hidden, vocab)
    if train:
        batches = batches[:warmup + n_batches]
        if side == "ours":
            from ulmfit_core.train import TrainConfig, make_optimizer
            opt = make_optimizer(model.layer_groups(), TrainConfig(lr=1e-3))

            def loss_of(batch):  # ClassificationTask.loss
                (ids, lengths), y = _clf_inputs(side, batch)
                return F.cross_entropy(model(ids, lengths).float(), y)
        else:
            from fastai.losses import CrossEntropyLossFlat
            from fastai.optimizer import Adam
            opt = Adam(list(model.parameters()), lr=1e-3, mom=0.7, sqr_mom=0.99, wd=0.01)
            loss_func = CrossEntropyLossFlat()

            def loss_of(batch):
                (x,), y = _clf_inputs(side, batch)
                return loss_func(model(x)[0], y)
        model.train()

        def step(batch) -> int:
            loss = loss_of(batch)
            loss.backward()
            opt.step()
            opt.zero_grad()
            return len(batch)

        return _timed_steps(step, batches, warmup)
    model.eval()
    if side == "ours":
        from ulmfit_core.batching import TextDataset
        from ulmfit_core.tasks import predict
        predict(model, TextDataset(docs[:bs], labels[:bs]), bs)             # warm-up
        t0 = time.perf_counter()
        predict(model, TextDataset(docs, labels), bs)
        return time.perf_counter() - t0, len(docs)

    @torch.no_grad()
    def run(batches) -> None:
        for batch in batches:
            (x,), _ = _clf_inputs(side, batch)
            torch.softmax(model(x)[0].float(), -1).numpy()

    run(_sorted_batches(docs[:bs], labels[:bs], bs))                        # warm-up
    t0 = time.perf_counter()
    run(batches)
    return time.perf_counter() - t0, len(docs)


def measure_tokenize(side: str, n_texts: int, workers: int) -> tuple[float, int]:
    texts = imdb_texts(n_texts)
    if side == "ours":
        from ulmfit_core.tokenize import tokenize_texts
        tokenize_texts(texts[:20], n_workers=1, progress=False)             # warm-up: loads spaCy once
        t0 = time.perf_counter()
        out = tokenize_texts(texts, n_workers=workers, progress=False)
        return time.perf_counter() - t0, sum(map(len, out))
    from fastai.text.core import SpacyTokenizer, parallel_tokenize
    tok = SpacyTokenizer()
    list(parallel_tokenize(texts[:20], tok, n_workers=0))                  # warm-up
    t0 = time.perf_counter()
    out = list(parallel_tokenize(texts, tok, n_workers=workers))
    return time.perf_counter() - t0, sum(len(toks) for _, toks in out)


def run_worker(spec: dict) -> dict:
    """Run one measurement described by ``spec`` in this process; return its numbers."""
    import torch
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    kind, side = spec["kind"], spec["side"]
    if kind == "lm_train":
        batches = _lm_batches(spec["warmup"] + spec["batches"], 64, 70, VOCAB)
        fn = measure_lm_ours if side == "ours" else measure_lm_fastai
        seconds, items = fn(spec["emb"], spec["hidden"], batches, spec["warmup"])
    elif kind in ("clf_train", "clf_infer"):
        seconds, items = measure_clf(side, kind == "clf_train", spec["emb"], spec["hidden"], spec["docs"],
                                     spec["bs"], spec["batches"], spec["warmup"])
    elif kind == "tokenize":
        seconds, items = measure_tokenize(side, spec["texts"], spec["workers"])
    else:
        raise ValueError(f"unknown measurement {kind!r}")
    return {"seconds": seconds, "items": items, "rate": items / seconds, "peak_rss_mib": _peak_rss_mib(),
            "children_peak_rss_mib": _peak_rss_mib(children=True)}


def _spawn(python: Path, spec: dict) -> dict:
    """Run one measurement in a fresh interpreter and return its result (the last line it prints)."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([str(python), str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{spec['kind']}/{spec['side']} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------- CPU section


def cpu_configs(args: argparse.Namespace, docs_path: Path) -> list[dict]:
    """Every (benchmark, configuration) measured by the CPU section, without the side."""
    common = {"warmup": args.warmup, "batches": args.batches, "threads": args.threads}
    configs = [dict(common, kind="lm_train", config=f"emb {e} / hidden {h}", unit="tokens/s", emb=e, hidden=h)
               for e, h in LM_SIZES if "lm" in args.only]
    e, h = args.clf_size
    for kind in ("clf_train", "clf_infer"):
        if "clf" in args.only:
            configs.append(dict(common, kind=kind, unit="docs/s", emb=e, hidden=h, docs=str(docs_path),
                                bs=args.clf_bs, config=f"emb {e} / hidden {h}, {args.n_docs} reviews, "
                                                       f"batch {args.clf_bs}"))
    if "tok" in args.only:
        configs.append(dict(common, kind="tokenize", unit="tokens/s", texts=args.tok_texts, workers=2,
                            config=f"{args.tok_texts} reviews, 2 workers"))
    return configs


def run_cpu(args: argparse.Namespace) -> dict:
    """The CPU section: every configuration, ours and fastai alternating, ``args.repeats`` times."""
    load_start = os.getloadavg()
    sides = [s for s in SIDES if s == "ours" or args.fastai_python]
    with tempfile.TemporaryDirectory() as tmp:
        docs_path = imdb_docs(args.n_docs, Path(tmp)) if "clf" in args.only else Path(tmp) / "none"
        configs = cpu_configs(args, docs_path)
        runs: dict[tuple[int, str], list[dict]] = {}
        for rep in range(args.repeats):
            for i, cfg in enumerate(configs):
                for side in sides:
                    python = Path(sys.executable) if side == "ours" else Path(args.fastai_python)
                    res = _spawn(python, dict(cfg, side=side))
                    runs.setdefault((i, side), []).append(res)
                    print(f"[{rep + 1}/{args.repeats}] {cfg['kind']:9s} {cfg['config']:45s} {side:6s} "
                          f"{res['rate']:10.1f} {cfg['unit']}  peak {res['peak_rss_mib']:.0f} MiB", flush=True)
    results = []
    for i, cfg in enumerate(configs):
        row = {"benchmark": cfg["kind"], "config": cfg["config"], "unit": cfg["unit"]}
        for side in sides:
            rs = runs[(i, side)]
            row[side] = statistics.median(r["rate"] for r in rs)
            row[f"{side}_runs"] = [r["rate"] for r in rs]
            key = "children_peak_rss_mib" if cfg["kind"] == "tokenize" else "peak_rss_mib"
            row[f"{side}_peak_rss_mib"] = max(max(r["peak_rss_mib"], r[key]) for r in rs)
        row["ratio"] = row["ours"] / row["fastai"] if "fastai" in row else None
        results.append(row)
    return {"section": "cpu", **_provenance(load_start), "settings": {
        "repeats": args.repeats, "warmup_batches": args.warmup, "timed_batches": args.batches,
        "threads": args.threads or "torch default",
        "lm": {"batch": 64, "bptt": 70, "vocab": VOCAB, "layers": 3, "dropout": "fastai LM values (x1)",
               "ar_alpha": 2.0, "tar_beta": 1.0},
        "classifier": {"reviews": args.n_docs, "batch": args.clf_bs, "bptt": 70, "max_len": 1400},
        "tokenize": {"reviews": args.tok_texts, "workers": 2}}, "results": results}


# ------------------------------------------------------------------------------------------- GPU section


def _bare_lm(vocab: int, emb: int, hidden: int):
    """Embedding → 3 × nn.LSTM → decoder tied to the embedding; no dropout, no AR/TAR: the speed ceiling."""
    import torch.nn.functional as F
    from torch import nn

    class BareLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(vocab, emb)
            sizes = [emb, hidden, hidden, emb]
            self.rnns = nn.ModuleList(nn.LSTM(sizes[i], sizes[i + 1], batch_first=True) for i in range(3))
            self.decoder = nn.Linear(emb, vocab)
            self.decoder.weight = self.embedding.weight

        def loss(self, x, y, hidden):
            h, new_hidden = self.embedding(x), []
            for rnn, state in zip(self.rnns, hidden or [None] * 3):
                h, (h_n, c_n) = rnn(h, state)
                new_hidden.append((h_n.detach(), c_n.detach()))
            return F.cross_entropy(self.decoder(h).flatten(0, 1).float(), y.flatten()), new_hidden

    return BareLM()


def _gpu_measure(which: str, args: argparse.Namespace, batches: list, device) -> dict:
    import torch
    from ulmfit_core.awd_lstm import AWDLSTMConfig, LanguageModel, lm_dropouts
    from ulmfit_core.regularize import ar_tar_loss
    from ulmfit_core.tasks import cpu_chunk
    from ulmfit_core.train import TrainConfig, autocast_for, make_optimizer
    torch.manual_seed(0)
    if which == "ours":
        model = LanguageModel(args.gpu_vocab, lm_dropouts(AWDLSTMConfig(emb_size=args.gpu_size[0],
                                                                         hidden_size=args.gpu_size[1])))
        opt = make_optimizer(model.layer_groups(), TrainConfig(lr=1e-3))
    else:
        model = _bare_lm(args.gpu_vocab, *args.gpu_size)
        opt = make_optimizer([list(model.parameters())], TrainConfig(lr=1e-3))
    model.to(device).train()
    state = {"hidden": None}

    def step(batch) -> int:
        x, y = batch
        with autocast_for(device):
            if which == "ours":  # exactly LMTask.loss
                loss, raw, dropped, state["hidden"] = model.loss(x, y, state["hidden"], cpu_chunk(device))
                loss = loss + ar_tar_loss(dropped, raw, 2.0, 1.0)
            else:
                loss, state["hidden"] = model.loss(x, y, state["hidden"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return y.numel()

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    for batch in batches[:args.gpu_warmup]:
        step(batch)
    sync()
    t0, items = time.perf_counter(), 0
    for batch in batches[args.gpu_warmup:]:
        items += step(batch)
    sync()
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else _peak_rss_mib()
    return {"rate": items / seconds, "peak_mib": peak}


def run_gpu(args: argparse.Namespace) -> dict:
    """The GPU section: ours vs the bare loop, alternating, ``args.repeats`` times, in this process."""
    import torch
    load_start = os.getloadavg()
    device = torch.device(args.gpu_device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench.py --gpu-only: no CUDA device (use --gpu-device cpu only to check the code)")
    batches = _lm_batches(args.gpu_warmup + args.gpu_steps, args.gpu_batch, 70, args.gpu_vocab, str(device))
    runs: dict[str, list[dict]] = {"ours": [], "bare": []}
    for rep in range(args.repeats):
        for which in ("ours", "bare"):
            res = _gpu_measure(which, args, batches, device)
            runs[which].append(res)
            print(f"[{rep + 1}/{args.repeats}] gpu lm_train {which:5s} {res['rate']:10.0f} tokens/s  "
                  f"peak {res['peak_mib']:.0f} MiB", flush=True)
    row: dict[str, Any] = {"benchmark": "lm_train_gpu", "unit": "tokens/s",
                           "config": f"emb {args.gpu_size[0]} / hidden {args.gpu_size[1]}, batch {args.gpu_batch}, "
                                     f"BPTT 70, vocab {args.gpu_vocab}"
                                     + (", bf16 autocast" if device.type == "cuda" else "")}
    for which, rs in runs.items():
        row[which] = statistics.median(r["rate"] for r in rs)
        row[f"{which}_runs"] = [r["rate"] for r in rs]
        row[f"{which}_peak_mib"] = max(r["peak_mib"] for r in rs)
    row["ratio"] = row["ours"] / row["bare"]
    row["target_ratio"] = 0.9
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu-check"
    return {"section": "gpu", **_provenance(load_start), "card": card,
            "cuda": torch.version.cuda if device.type == "cuda" else None,
            "settings": {"repeats": args.repeats, "warmup_steps": args.gpu_warmup, "timed_steps": args.gpu_steps},
            "results": [row]}


# -------------------------------------------------------------------------------------------------- main


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=BENCH_DIR / "results", help="folder of the JSON result")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1, help="untimed batches first (CPU section)")
    p.add_argument("--batches", type=int, default=3, help="timed batches per measurement (CPU section)")
    p.add_argument("--quick", action="store_true", help="1 repeat, 2 timed batches, fewer texts: a check")
    p.add_argument("--only", nargs="+", default=["lm", "clf", "tok"], choices=["lm", "clf", "tok"])
    p.add_argument("--threads", type=int, default=0, help="torch threads per measurement (0: torch's default)")
    p.add_argument("--n-docs", type=int, default=256, help="IMDb reviews for the classifier")
    p.add_argument("--clf-bs", type=int, default=32)
    p.add_argument("--clf-size", type=int, nargs=2, default=[200, 400], metavar=("EMB", "HIDDEN"))
    p.add_argument("--tok-texts", type=int, default=2000, help="IMDb reviews to tokenise")
    p.add_argument("--fastai-python", default=str(FASTAI_PYTHON) if FASTAI_PYTHON.exists() else "",
                   help="interpreter with fastai (default bench/.venv-fastai; empty: ours only)")
    p.add_argument("--gpu-only", action="store_true", help="run only the GPU section")
    p.add_argument("--gpu-device", default="cuda")
    p.add_argument("--gpu-size", type=int, nargs=2, default=[400, 1150], metavar=("EMB", "HIDDEN"))
    p.add_argument("--gpu-vocab", type=int, default=60_000)
    p.add_argument("--gpu-batch", type=int, default=128)
    p.add_argument("--gpu-warmup", type=int, default=5)
    p.add_argument("--gpu-steps", type=int, default=20)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.batches, args.n_docs, args.tok_texts = 1, 2, 128, 300
        args.gpu_steps, args.gpu_warmup = 5, 2
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(json.loads(args.worker))))
        return 0
    date = dt.date.today().isoformat()
    if args.gpu_only:
        record = run_gpu(args)
        path = args.out / f"gpu-{_slug(record['card'])}-{date}.json"
    else:
        record = run_cpu(args)
        path = args.out / f"cpu-{date}.json"
    _write_json(path, record)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
