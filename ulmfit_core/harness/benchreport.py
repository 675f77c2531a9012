"""The book's performance tables, from the benchmark records in ``bench/results/`` (written by bench/bench.py).

``cpu-<date>.json`` compares this package with fastai 2.8 on a CPU; ``gpu-<card>-<date>.json`` compares our
language-model training on a GPU with a bare LSTM loop. The newest record of each kind (and of each GPU
card) is shown, with the machine, versions, revision and date it was measured on.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ulmfit_core.fileio import read_json

BENCHMARK_NAMES = {
    "lm_train": "LM training",
    "clf_train": "classifier training",
    "clf_infer": "classifier inference",
    "tokenize": "tokenisation",
    "lm_train_gpu": "LM training (GPU)",
}


def newest_records(results_dir: Path) -> list[dict[str, Any]]:
    """Return the newest CPU record and the newest record per GPU card in ``results_dir`` (CPU first).

    Records are ordered by their ``date`` field; a file that is not a benchmark record raises ``ValueError``
    naming it.
    """
    newest: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(results_dir).glob("*.json")):
        record = read_json(path)
        if not isinstance(record, dict) or record.get("section") not in ("cpu", "gpu") or "results" not in record:
            raise ValueError(f"{path}: not a bench/bench.py record (needs 'section' cpu|gpu and 'results')")
        key = "cpu" if record["section"] == "cpu" else f"gpu:{record.get('card', '?')}"
        if key not in newest or record["date"] > newest[key]["date"]:
            newest[key] = record
    return sorted(newest.values(), key=lambda r: (r["section"] != "cpu", r.get("card", "")))


def _rate(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _mib(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} MiB"


def _provenance(record: dict[str, Any]) -> str:
    machine = record.get("machine", {})
    where = (f"{record['card']} (CUDA {record.get('cuda')})" if record["section"] == "gpu"
             else f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores")
    versions = f"torch {record.get('torch', '?')}"
    if record.get("fastai"):
        versions += f", fastai {record['fastai']}"
    load = machine.get("load_average_start")
    load_note = f", load average at start {load[0]:.1f}" if load and record["section"] == "cpu" else ""
    return (f"*Measured {record['date'][:10]} on {where}{load_note}; {versions}; revision "
            f"`{record.get('git_revision', '?')}`; median of {record.get('settings', {}).get('repeats', '?')} "
            f"repeat(s).*")


def cpu_table(record: dict[str, Any]) -> str:
    """Markdown table of a CPU record: ours vs fastai per benchmark, the ratio and each side's peak memory."""
    rows = ["| benchmark | configuration | unit | ours | fastai | ours / fastai | peak RSS ours | peak RSS fastai |",
            "|---|---|---|--:|--:|--:|--:|--:|"]
    for r in record["results"]:
        ratio = "—" if r.get("ratio") is None else f"{r['ratio']:.2f}×"
        rows.append(f"| {BENCHMARK_NAMES.get(r['benchmark'], r['benchmark'])} | {r['config']} | {r['unit']} "
                    f"| {_rate(r.get('ours'))} | {_rate(r.get('fastai'))} | {ratio} "
                    f"| {_mib(r.get('ours_peak_rss_mib'))} | {_mib(r.get('fastai_peak_rss_mib'))} |")
    return "\n".join(rows) + "\n"


def gpu_table(record: dict[str, Any]) -> str:
    """Markdown table of a GPU record: ours vs the bare loop, the ratio against its target, peak memory."""
    header = ("| benchmark | configuration | ours (tokens/s) | bare loop (tokens/s) | ours / bare | target "
              "| peak memory ours | peak memory bare |")
    rows = [header, "|---|---|--:|--:|--:|--:|--:|--:|"]
    for r in record["results"]:
        met = "met" if r["ratio"] >= r.get("target_ratio", 0) else "**missed**"
        rows.append(f"| {BENCHMARK_NAMES.get(r['benchmark'], r['benchmark'])} | {r['config']} "
                    f"| {_rate(r['ours'])} | {_rate(r['bare'])} | {r['ratio']:.2f}× "
                    f"| ≥ {r.get('target_ratio', 0):.2f} ({met}) | {_mib(r.get('ours_peak_mib'))} "
                    f"| {_mib(r.get('bare_peak_mib'))} |")
    return "\n".join(rows) + "\n"


def performance_tables(results_dir: Path) -> str:
    """Return the Markdown shown on the book's performance page: one titled table per newest record in
    ``results_dir`` (CPU vs fastai, then each GPU card vs a bare loop), or a note when there is none."""
    records = newest_records(Path(results_dir)) if Path(results_dir).is_dir() else []
    if not records:
        return ("*No benchmark has been recorded yet: run `bench/.venv-fastai/bin/python bench/bench.py` "
                "(CPU) or `python bench/bench.py --gpu-only` (GPU).*\n")
    parts = []
    for record in records:
        if record["section"] == "cpu":
            parts.append(f"## CPU: this package vs fastai\n\n{_provenance(record)}\n\n{cpu_table(record)}")
        else:
            parts.append(f"## GPU: {record['card']}, this package vs a bare LSTM loop\n\n"
                         f"{_provenance(record)}\n\n{gpu_table(record)}")
    return "\n".join(parts)
