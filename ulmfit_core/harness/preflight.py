"""Before any compute: every input a scale's notebooks will read, whether it is there, and what it costs.

    python -m ulmfit_core.harness.preflight --scale paper [--only 01 03] [--datasets imdb] [--device cuda] [--fetch]
    make preflight SCALE=paper

:func:`plan` lists the inputs of the runs a set of notebooks makes at a scale — each dataset split the
scale selects, the pretraining corpus, the WikiText-103 test text every pretrained LM is scored on, the
pretrained LMs that spare a pretraining, or the pack that replaces the data folder (``$ULMFIT_PACK``) —
checks that each is present, and estimates the compute from the scale's sizes and measured training
throughputs. :func:`check` raises one :class:`PreflightError` naming everything missing and how to get it.
The notebook runner (:mod:`ulmfit_core.harness.notebooks`) and every study (:mod:`ulmfit_core.harness.studies`) call it
before they tokenise or train anything; ``--fetch`` downloads what has a pinned source.
"""
from __future__ import annotations

import argparse
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch

from ulmfit_core import settings
from ulmfit_core.awd_lstm import AWDLSTMConfig
from ulmfit_core.corpus import WIKITEXT103_TRAIN
from ulmfit_core.harness import datasets, download, pack, wikicorpus
from ulmfit_core.harness import experiments as E
from ulmfit_core.harness import epoch_choice, gpu_plan
from ulmfit_core.harness.scales import Scale, get_scale

NOTEBOOKS = {"01": "main results (Tables 2-3)", "02": "low-shot learning (Figure 3)",
             "03": "pretraining (Table 4)", "04": "LM quality (Table 5)", "05": "LM fine-tuning (Table 6)",
             "06": "classifier fine-tuning (Table 7, Figure 4)", "07": "bidirectionality"}

TOKENS_PER_DOCUMENT = {
    "imdb": 309, "trec6": 14, "ag_news_7k6": 56, "ag_news_120k": 56, "dbpedia_14k": 71, "dbpedia_560k": 75,
    "yelp_bi": 126, "yelp_full": 134, "yelp_bi_560k": 196, "yelp_full_650k": 198,
}
"""Mean tokens per document with our tokenizer, measured on 400 documents of each local copy (AG's test
split for both AG entries; DBpedia's sample, plus a title, for the complete set). Zhang et al.'s Yelp
reviews are not here: their published mean length (about 153 words, Johnson & Zhang 2017) times the
1.28 tokens per word measured on the Yelp samples."""
TOKENS_PER_WIKI_WORD = 1.37        # our tokens per whitespace word of the Wikipedia shards (2.5M -> 3.42M)
WIKI_SHARD_WORDS = 5_000_000       # whitespace words per Wikipedia shard (data folder's README)
WIKITEXT103_TOKENS = 120_000_000   # WikiText-103 train in our tokens: its 103.2M published tokens times
#                                    the 1.165 measured on its validation text (253,530 / 217,646)
PLACED_BYTES = {"wikitext-103-raw-v1.zip": 545_000_000}   # placed size where it differs much from the download


@dataclass(frozen=True)
class Throughput:
    """A measured LM training throughput: tokens per second of one model size on one device."""

    device: str
    model: AWDLSTMConfig
    vocab: int
    tokens_per_s: float
    source: str


MEASURED = (
    Throughput("cpu", AWDLSTMConfig(emb_size=32, hidden_size=64, n_layers=2), 4_000, 12_000,
               "smoke-scale pretraining records, 2-core CPU, whole run"),
    Throughput("cpu", AWDLSTMConfig(emb_size=200, hidden_size=400, n_layers=3), 20_000, 4_200,
               "2-core CPU, one process on 2 threads"),
    Throughput("cpu", AWDLSTMConfig(), 60_000, 600, "2-core CPU"),
    Throughput("cuda", AWDLSTMConfig(), 60_000, 285_000,
               "NVIDIA H100, bf16, batch 128 (bench/results/gpu-nvidia-h100-80gb-hbm3-2026-11-26.json)"),
)


class PreflightError(FileNotFoundError):
    """Inputs of the runs are missing; the message lists every one and how to get it."""


@dataclass(frozen=True)
class Input:
    """One thing the runs read: what it is, the files it takes, those missing, and how to get them."""

    kind: str
    name: str
    paths: tuple[Path, ...]
    missing: tuple[Path, ...] = ()
    fix: str = ""
    fetch: Callable[[], object] | None = field(default=None, compare=False)

    @property
    def present(self) -> bool:
        return not self.missing


@dataclass(frozen=True)
class Estimate:
    """Training tokens of the runs still to compute, and their time on each device (seconds)."""

    runs: dict[str, int]
    tokens: dict[str, int]
    seconds: dict[str, float]
    download_bytes: int
    disk_bytes: int
    free_bytes: int


def _unchosen(scale_name: str, dataset: str) -> str:
    """The problem line of a dataset whose runs wait for its schedule choice, with what to do."""
    choice = epoch_choice.recorded_choice(get_scale(scale_name), dataset)
    where = f"results/{scale_name}/choices/{dataset}.json"
    if choice is None:
        return (f"dataset {dataset}: its schedule lengths are not chosen on validation yet\n"
                f"      make runs SCALE={scale_name} records the choice first ({where}); then set it in "
                f"ulmfit_core/harness/scales.py")
    return (f"dataset {dataset}: its schedule choice {choice} ({where}) is not what the scale uses yet\n"
            f"      set lm_epochs, clf_epochs and scratch_epochs to it in ulmfit_core/harness/scales.py")


@dataclass(frozen=True)
class Report:
    """The preflight of ``notebooks`` at ``scale``: the inputs, and the estimated compute."""

    scale: str
    notebooks: tuple[str, ...]
    device: str
    inputs: tuple[Input, ...]
    estimate: Estimate
    unchosen: tuple[str, ...] = ()     # datasets whose runs wait for their schedule choice

    @property
    def missing(self) -> list[Input]:
        return [i for i in self.inputs if not i.present]

    def problems(self) -> list[str]:
        """One line per missing input, with how to get it, and one per dataset whose schedule lengths
        are still to be chosen."""
        return [f"{i.kind} {i.name}: missing {', '.join(map(str, i.missing))}\n      {i.fix}"
                for i in self.missing] + [_unchosen(self.scale, ds) for ds in self.unchosen]

    def text(self) -> str:
        """The report as a user reads it: inputs, then the estimate."""
        names = ", ".join(f"{n} {NOTEBOOKS.get(n, '')}".strip() for n in self.notebooks)
        lines = [f"preflight: scale {self.scale!r}, notebooks {names}", f"inputs ({len(self.inputs)}):"]
        for i in self.inputs:
            where = ", ".join(str(p) for p in i.paths[:2]) + (f" (+{len(i.paths) - 2})" if len(i.paths) > 2 else "")
            lines.append(f"  {'ok' if i.present else 'MISSING':8s}{i.kind} {i.name}: {where}")
        lines += self.estimate_lines()
        return "\n".join(lines)

    def estimate_lines(self) -> list[str]:
        est = self.estimate
        work = "; ".join(f"{kind}: {est.runs[kind]} run{'s' if est.runs[kind] > 1 else ''}, "
                         f"{est.tokens[kind] / 1e6:,.1f}M tokens" for kind in est.runs)
        lines = [f"compute still to do (training passes; recorded runs are skipped): {work or 'none'}"]
        for device, seconds in est.seconds.items():
            mark = "  <- this run" if device == self.device else ""
            lines.append(f"  estimate on {_DEVICE_NAMES[device]}: {_duration(seconds)}{mark}")
        lines.append(f"disk: downloads {_size(est.download_bytes)}; about {_size(est.disk_bytes)} in all with "
                     f"token caches and LM weights ({_size(est.free_bytes)} free)")
        if est.disk_bytes > est.free_bytes:
            lines.append(f"  WARNING: less free space than that in {settings.cache_dir()}; free some or set "
                         f"{settings.CACHE_ENV} to a larger disk")
        return lines


_DEVICE_NAMES = {"cpu": "a 2-core CPU", "cuda": "one NVIDIA H100"}


# ------------------------------------------------------------------------------------------ the runs

def notebook_datasets(scale: Scale, notebook: str, only: Sequence[str] | None = None) -> list[str]:
    """The datasets ``notebook`` runs at ``scale``: ``only`` where given, else all of the scale's for the
    main results (01) and its analysis datasets (IMDb, TREC-6, AG) for the others."""
    if only:
        for ds in only:
            scale.task(ds)               # KeyError naming the scale's datasets
        return list(only)
    return scale.datasets() if notebook == "01" else scale.analysis()


def notebook_runs(scale: Scale, notebook: str, only: Sequence[str] | None = None,
                  seeds: Sequence[int] | None = None) -> list[E.Run]:
    """The runs the study of ``notebook`` asks for (``ensure`` computes their parents too), as
    :mod:`ulmfit_core.harness.gpu_plan` lists them; the linear baseline, which takes seconds, is left out.
    Chapter 4 adds the pretrained LMs' perplexity table; chapter 6 the schedule-length choices of every
    dataset that makes one."""
    chapter = next(c for c in gpu_plan.CHAPTERS if c[:2] == notebook)
    arms = [arm for ds in notebook_datasets(scale, notebook, only)
            for arm in gpu_plan.CHAPTERS[chapter](scale, ds, seeds)]
    if notebook == "04":
        arms += gpu_plan.lm_quality(scale, gpu_plan.WIKIPEDIA, seeds)
    if notebook == "06":
        arms += [arm for ds in (only or scale.datasets()) for arm in gpu_plan.epoch_choice(scale, ds)]
    return [run for _, run in arms if run.kind in gpu_plan.GPU_KINDS]


def _with_parents(runs: Sequence[E.Run]) -> dict[str, E.Run]:
    out: dict[str, E.Run] = {}
    stack = list(runs)
    while stack:
        run = stack.pop()
        if run.id not in out:
            out[run.id] = run
            stack.extend(run.parents)
    return out


def _weight_folders(run: E.Run) -> tuple[Path, Path]:
    """Where :func:`ulmfit_core.harness.experiments.weights_of` looks for an LM run's weights, in order."""
    return run.work_dir, settings.results_dir() / run.scale / "weights" / f"{run.kind}-{run.id}"


def _has_weights(run: E.Run) -> bool:
    return any((f / "model.safetensors").is_file() for f in _weight_folders(run))


def runs_to_compute(runs: Sequence[E.Run]) -> list[E.Run]:
    """The runs (parents included) that will execute: those without a record, and LMs whose weights a
    run still to compute needs but which are in neither the cache nor ``results/``."""
    every = _with_parents(runs)
    todo = {i for i, r in every.items() if not r.record_path.is_file()}
    changed = True
    while changed:
        changed = False
        for i in list(todo):
            for parent in every[i].parents:
                if parent.id not in todo and parent.kind != "classifier" and not _has_weights(parent):
                    todo.add(parent.id)
                    changed = True
    return [every[i] for i in every if i in todo]


# ------------------------------------------------------------------------------------------ the inputs

def _how_to_fetch(scale: str, sources: Sequence[download.Source], call: str) -> str:
    total = sum(s.size or 0 for s in sources)
    urls = ", ".join(s.url for s in sources)
    return (f"fetch: python -m ulmfit_core.harness.preflight --scale {scale} --fetch (or make preflight SCALE={scale} "
            f"FETCH=1, or {call}): {_size(total)} from {urls}, each checked against its pinned SHA-256")


def _not_fetchable(what: str) -> str:
    return (f"no download reproduces {what}: it is part of the shared data folder; set "
            f"{settings.DATA_ENV} to the folder that holds it, or run from a pack ({pack.PACK_ENV}, "
            f"`make pack`)")


def _file_input(kind: str, name: str, paths: Sequence[Path], fix: str,
                fetch: Callable[[], object] | None = None) -> Input:
    missing = tuple(p for p in paths if not p.is_file())
    return Input(kind, name, tuple(paths), missing, fix if missing else "", fetch)


def dataset_inputs(scale: Scale, names: Sequence[str], root: Path) -> list[Input]:
    """One input per dataset: the files of the splits its runs read (train, test, and IMDb's unlabelled
    reviews where the scale uses them)."""
    out = []
    for name in names:
        info, task = datasets.dataset_info(name), scale.task(name)
        splits = ["train", "test"] + (["unsup"] if task.unlabelled and "unsup" in info.split_sizes else [])
        paths = list(dict.fromkeys(root / rel for split in splits for rel in datasets.split_files(name, split)))
        if datasets.fetchable(name):
            fix = _how_to_fetch(scale.name, datasets.download_sources(name),
                                f"ulmfit_core.harness.datasets.fetch_dataset({name!r})")
            out.append(_file_input("dataset", f"{name} ({', '.join(splits)})", paths, fix,
                                   lambda n=name: datasets.fetch_dataset(n, root)))
        else:
            out.append(_file_input("dataset", f"{name} ({', '.join(splits)})", paths,
                                   _not_fetchable(f"the stand-in {name!r}")))
    return out


def corpus_inputs(scale: Scale, root: Path, packed: Path | None) -> list[Input]:
    """The pretraining corpus and the WikiText-103 test text each pretrained LM is scored on."""
    wikitext_fix = _how_to_fetch(scale.name, download.SOURCES["wikitext103_raw"],
                                 "ulmfit_core.harness.datasets.fetch_wikitext103()")
    fetch_wikitext = lambda: datasets.fetch_wikitext103(root)  # noqa: E731
    if scale.pretrain_corpus == "wikitext103":
        corpus = [_file_input("corpus", "WikiText-103 training text", [root / WIKITEXT103_TRAIN],
                              wikitext_fix, fetch_wikitext)]
    elif packed is not None and scale.pretrain is None:
        corpus = [_pack_part(scale, packed, pack.WIKI, "Wikipedia selection")]
    else:
        shards = range(wikicorpus.N_SHARDS) if scale.pretrain is not None else scale.wiki_shards
        paths = [root / "wikipedia" / f"wiki_{k:02d}.txt.gz" for k in shards]
        corpus = [_file_input("corpus", f"Wikipedia shards {list(shards)}", paths,
                              _not_fetchable("the Wikipedia sample"))]
    if packed is not None:
        return corpus + [_pack_part(scale, packed, pack.WIKITEXT, "WikiText-103 test articles")]
    test = root / "wikitext" / "raw" / "wiki.test.raw"
    return corpus + [_file_input("evaluation text", "WikiText-103 test articles", [test], wikitext_fix,
                                 fetch_wikitext)]


def _pack_part(scale: Scale, folder: Path, name: str, what: str) -> Input:
    fix = f"the pack lacks it: rebuild it with `make pack SCALE={scale.name} OUT={folder}` on a machine with the data"
    return _file_input("pack", what, [folder / f"{name}.npz"], fix)


def pack_inputs(scale: Scale, names: Sequence[str], folder: Path) -> list[Input]:
    """With a pack: its manifest, and each dataset's parts packed with this scale's selection."""
    path = folder / "manifest.json"
    fix = f"build it with `make pack SCALE={scale.name} OUT={folder}` on a machine with the data folder"
    if not path.is_file():
        return [Input("pack", "manifest", (path,), (path,), fix)]
    try:
        entries = pack.manifest(folder)["datasets"]
    except ValueError as err:            # packed with other tokeniser rules
        return [Input("pack", "manifest", (path,), (path,), f"{err}; {fix}")]
    out = []
    for name in names:
        entry = entries.get(name)
        paths = tuple(folder / f"{name}-{part}.npz" for part in pack.PARTS)
        stale = entry is None or entry["selection"] != E.data_selection(scale.task(name))
        missing = paths if stale else tuple(p for p in paths if not p.is_file())
        out.append(Input("pack", f"dataset {name}", paths, missing, fix if missing else ""))
    return out


def lm_inputs(runs: Sequence[E.Run], todo: Sequence[E.Run]) -> list[Input]:
    """The pretrained LMs the runs start from: present (no pretraining needed) or to be pretrained."""
    pending = {r.id for r in todo}
    out = []
    for run in _with_parents(runs).values():
        if run.kind == "pretrain":
            folder = next((f for f in _weight_folders(run) if (f / "model.safetensors").is_file()), run.work_dir)
            state = "to pretrain" if run.id in pending else "available"
            vanilla = "" if run.config["model"]["weight_p"] else ", vanilla (no dropout)"
            name = f"{run.config['direction']}{vanilla} ({state})"
            out.append(Input("pretrained LM", name, (folder,)))
    return out


# ------------------------------------------------------------------------------------------ the estimate

def macs_per_token(model: AWDLSTMConfig, vocab: int, softmax: bool = True) -> int:
    """Multiply-adds per token of the AWD-LSTM (the LSTMs' four gates; the last layer outputs the
    embedding size) and, for the LM, its softmax over ``vocab``: about its parameter count."""
    sizes = [model.emb_size] + [model.hidden_size] * (model.n_layers - 1) + [model.emb_size]
    lstm = sum(4 * out * (inp + out) for inp, out in zip(sizes[:-1], sizes[1:]))
    return lstm + (model.emb_size * vocab if softmax else 0)


def tokens_per_s(model: AWDLSTMConfig, vocab: int, device: str, softmax: bool = True) -> float:
    """Training throughput of ``model`` on ``device``: the measured figure of the nearest model size
    (:data:`MEASURED`), scaled by the ratio of multiply-adds per token (a classifier has no softmax)."""
    measured = [m for m in MEASURED if m.device == device]
    cost = macs_per_token(model, vocab, softmax)
    near = min(measured, key=lambda m: abs(math.log(macs_per_token(m.model, m.vocab) / cost)))
    return near.tokens_per_s * macs_per_token(near.model, near.vocab) / cost


def _train_docs(name: str, scale: Scale) -> int:
    task, sizes = scale.task(name), datasets.dataset_info(name).split_sizes
    return round(0.9 * (task.n_train or sizes["train"]))


def _doc_tokens(name: str, cap: int) -> int:
    return min(TOKENS_PER_DOCUMENT.get(name, 100), cap or 10**9)


def _corpus_tokens(corpus: dict) -> int:
    if "tokens" in corpus:
        return int(corpus["tokens"])
    if corpus.get("name") == "wikitext103":
        return WIKITEXT103_TOKENS
    return round(TOKENS_PER_WIKI_WORD * (corpus["words"] or WIKI_SHARD_WORDS * len(corpus["shards"])))


def run_tokens(run: E.Run, scale: Scale) -> int:
    """Tokens ``run`` trains on over all its epochs (evaluation passes not counted)."""
    cfg = run.config
    if run.kind == "pretrain":
        return _corpus_tokens(cfg["corpus"]) * cfg["train"]["epochs"]
    if run.kind not in ("finetune_lm", "classifier") or cfg["train"] is None:
        return 0
    name, task = cfg["dataset"], scale.task(cfg["dataset"])
    n_train = _train_docs(name, scale)
    if run.kind == "finetune_lm":
        sizes = datasets.dataset_info(name).split_sizes
        spare = sizes.get("unsup", sizes["train"] - (task.n_train or sizes["train"]))
        docs = cfg["n_labelled"] if cfg["lm_text"] == "labelled" else n_train + min(task.unlabelled, spare)
        return docs * _doc_tokens(name, task.max_tokens) * cfg["train"]["epochs"]
    docs = (cfg["n_labelled"] or n_train) * E.epoch_repeat(cfg)
    return docs * _doc_tokens(name, min(task.max_tokens or cfg["max_len"], cfg["max_len"])) * cfg["train"]["epochs"]


_KINDS = {"pretrain": "pretraining", "finetune_lm": "LM fine-tuning", "classifier": "classifiers"}


def _cache_bytes(scale: Scale, todo: Sequence[E.Run]) -> int:
    """Disk the runs write: each new LM's fp32 weights (about 4 bytes per parameter) and the int32 token
    cache of each corpus and dataset they read, once."""
    lms = sum(r.kind != "classifier" for r in todo if r.kind in _KINDS)
    texts: dict[str, int] = {}
    for run in todo:
        if run.kind == "pretrain":
            texts[f"corpus {run.config['corpus']}"] = _corpus_tokens(run.config["corpus"])
        elif run.kind in _KINDS:
            name = run.config["dataset"]
            docs = sum(datasets.dataset_info(name).split_sizes.values())
            texts[name] = docs * _doc_tokens(name, scale.task(name).max_tokens)
    return 4 * lms * macs_per_token(scale.model, scale.vocab_size) + 4 * sum(texts.values())


def estimate(scale: Scale, todo: Sequence[E.Run], downloads: tuple[int, int] = (0, 0)) -> Estimate:
    """Tokens and time of the runs in ``todo`` on each measured device, and the disk they need with
    ``downloads`` (bytes downloaded, bytes placed)."""
    runs = {label: 0 for label in _KINDS.values()}
    tokens = dict(runs)
    seconds = {device: 0.0 for device in dict.fromkeys(m.device for m in MEASURED)}
    for run in todo:
        if run.kind not in _KINDS:
            continue
        n = run_tokens(run, scale)
        runs[_KINDS[run.kind]] += 1
        tokens[_KINDS[run.kind]] += n
        for device in seconds:
            seconds[device] += n / tokens_per_s(scale.model, scale.vocab_size, device, run.kind != "classifier")
    return Estimate({k: v for k, v in runs.items() if v}, {k: v for k, v in tokens.items() if runs[k]},
                    seconds, downloads[0], sum(downloads) + _cache_bytes(scale, todo),
                    shutil.disk_usage(settings.cache_dir()).free)


def _download_bytes(inputs: Sequence[Input]) -> tuple[int, int]:
    """Bytes to download for the missing inputs, and what they take once placed in the data folder."""
    sources: dict[str, download.Source] = {}
    for i in inputs:
        if not i.present and i.kind == "dataset":
            sources.update((s.url, s) for s in datasets.download_sources(i.name.split(" ")[0]))
        elif not i.present and "WikiText-103" in i.name:
            sources.update((s.url, s) for s in download.SOURCES["wikitext103_raw"])
    size = sum(s.size or 0 for s in sources.values())
    return size, sum(PLACED_BYTES.get(s.filename, s.size or 0) for s in sources.values())


# ------------------------------------------------------------------------------------------ entry points

def _notebook_numbers(notebooks: Sequence[str] | None) -> tuple[str, ...]:
    """Notebook numbers from names or numbers (``03_pretraining`` or ``03``); all seven by default."""
    if not notebooks:
        return tuple(NOTEBOOKS)
    numbers = tuple(dict.fromkeys(str(n)[:2] for n in notebooks))
    unknown = [n for n in numbers if n not in NOTEBOOKS]
    if unknown:
        raise ValueError(f"no notebook {unknown}; notebooks: {sorted(NOTEBOOKS)}")
    return numbers


def plan(scale_name: str, notebooks: Sequence[str] | None = None, datasets_only: Sequence[str] | None = None,
         seeds: Sequence[int] | None = None, device: str = "auto") -> Report:
    """Return the preflight of ``notebooks`` (names or numbers; default all) at ``scale_name``: every
    input, present or not, and the estimated compute. Reads no data file, tokenises and trains nothing."""
    scale, numbers = get_scale(scale_name), _notebook_numbers(notebooks)
    root, packed = settings.data_dir(), pack.pack_dir()
    names = list(dict.fromkeys(ds for n in numbers for ds in notebook_datasets(scale, n, datasets_only)))
    runs = [run for n in numbers for run in notebook_runs(scale, n, datasets_only, seeds)]
    todo = runs_to_compute(runs)
    inputs = pack_inputs(scale, names, packed) if packed else dataset_inputs(scale, names, root)
    if any(r.kind == "pretrain" for r in todo):
        inputs += corpus_inputs(scale, root, packed)
    inputs += lm_inputs(runs, todo)
    dev = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device.split(":")[0]
    unchosen = tuple(ds for ds in names if epoch_choice.pending(scale, ds))
    return Report(scale.name, numbers, dev, tuple(inputs), estimate(scale, todo, _download_bytes(inputs)), unchosen)


def check(scale_name: str, notebooks: Sequence[str] | None = None, datasets_only: Sequence[str] | None = None,
          seeds: Sequence[int] | None = None, device: str = "auto") -> Report:
    """Return :func:`plan`'s report, or raise :class:`PreflightError` listing every missing input with
    how to get it, and the estimate."""
    report = plan(scale_name, notebooks, datasets_only, seeds, device)
    problems = report.problems()
    if problems:
        raise PreflightError(
            f"preflight for the {scale_name} scale (notebooks {', '.join(report.notebooks)}): "
            f"{len(problems)} problem(s); nothing was tokenised or trained.\n  - " + "\n  - ".join(problems)
            + "\n" + "\n".join(report.estimate_lines()))
    return report


def require(scale_name: str, notebook: str, datasets_only: Sequence[str] | None = None,
            seeds: Sequence[int] | None = None, device: str = "auto") -> None:
    """:func:`check` for one notebook, silent when everything is there (what a study runs first)."""
    check(scale_name, [notebook], datasets_only, seeds, device)


def fetch_missing(report: Report) -> int:
    """Download every missing input that has a pinned source; return how many downloads ran. An input
    another download already placed (AG's two registry entries share files) is skipped."""
    fetched = 0
    for item in report.missing:
        if item.fetch is not None and not all(p.is_file() for p in item.paths):
            print(f"fetching {item.kind} {item.name} ...", flush=True)
            item.fetch()
            fetched += 1
    return fetched


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="smoke")
    parser.add_argument("--only", nargs="*", help="notebook names or numbers (default: all)")
    parser.add_argument("--datasets", nargs="*", help="datasets (default: each notebook's own)")
    parser.add_argument("--seeds", nargs="*", type=int, help="seeds (default: the scale's)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda: the device the estimate marks")
    parser.add_argument("--fetch", action="store_true", help="download the missing inputs that have a pinned source")
    args = parser.parse_args(argv)
    if args.fetch:
        fetch_missing(plan(args.scale, args.only, args.datasets, args.seeds, args.device))
    try:
        report = check(args.scale, args.only, args.datasets, args.seeds, args.device)
    except PreflightError as err:
        raise SystemExit(str(err)) from None
    print(report.text(), flush=True)


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


if __name__ == "__main__":
    main()
