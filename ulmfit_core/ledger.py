"""The book's generated tables, from the committed results: the claims ledger and the time per notebook."""
from __future__ import annotations

from pathlib import Path

from ulmfit_core.fileio import read_json

SCALE_ORDER = ("paper", "gpu", "reduced", "smoke")   # the book shows the largest scale that was run
TITLE = {"01_main_results": "Tables 2–3: main results", "02_low_shot": "Figure 3: low-shot learning",
         "03_pretraining": "Table 4: pretraining", "04_lm_quality": "Table 5: language-model quality",
         "05_lm_finetuning": "Table 6: LM fine-tuning", "06_classifier_finetuning": "Table 7: classifier fine-tuning",
         "07_bidirectional": "Bidirectional: forward and backward"}   # the ledger's section heading per notebook


def claim_files(results: Path) -> list[dict]:
    """Every ``results/<scale>/claims/<study>.json``, largest scale first, then by notebook."""
    files = [read_json(p) for p in results.glob("*/claims/*.json") if not p.name.startswith(".")]
    return sorted(files, key=lambda f: (SCALE_ORDER.index(f["scale"]) if f["scale"] in SCALE_ORDER else 99,
                                        f["notebook"]))


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:+.{digits}f}".replace("-", "−")


def claims_table(results: Path, scales: dict[str, str]) -> str:
    """Markdown: one section per chapter, in notebook order, with a table of every claim it checks at the
    scale the chapter shows (``scales``: notebook -> scale). Differences are in percentage points of
    error, arm b minus arm a (negative = lower error)."""
    files = sorted((f for f in claim_files(results) if scales.get(f["notebook"]) == f["scale"]),
                   key=lambda f: f["notebook"])
    sections = []
    for f in files:
        rows = [f"## {TITLE.get(f['notebook'], f['notebook'])}", "",
                f"{{doc}}`Chapter </chapters/{f['notebook']}>`, `{f['scale']}` scale, "
                f"{', '.join(f'{n} {v}' for v, n in _counts(f['claims']).items())}.", "",
                "| claim | dataset | error | paper | ours [95% CI] | seeds | verdict |",
                "|---|---|---|---|---|---|---|"]
        for c in f["claims"]:
            e = c["effect"]
            rows.append(f"| {c['claim']} | {c['dataset']} | {c['split']} | {_num(c['paper_diff'])} "
                        f"| {_num(e['mean_diff'])} [{_num(e['ci_low'])}, {_num(e['ci_high'])}] "
                        f"| {e['n_seeds']} | **{c['verdict']}** |")
        sections.append("\n".join(rows) + "\n")
    return "\n".join(sections) if sections else "No claim has been checked yet.\n"


def _counts(claims: list[dict]) -> dict[str, int]:
    """How many of ``claims`` hold, are contradicted or inconclusive."""
    counts = {"holds": 0, "contradicted": 0, "inconclusive": 0}
    for c in claims:
        counts[c["verdict"]] += 1
    return counts


def verdict_counts(results: Path, scales: dict[str, str]) -> dict[str, int]:
    """How many claims hold, are contradicted or inconclusive, over the chapters shown."""
    return _counts([c for f in claim_files(results) if scales.get(f["notebook"]) == f["scale"]
                    for c in f["claims"]])


def time_table(results: Path) -> str:
    """A Markdown table: compute time, number of runs and device of each notebook at each scale."""
    rows = ["| notebook | scale | runs | compute time | device |", "|---|---|---|---|---|"]
    for f in claim_files(results):
        minutes = f["wall_seconds"] / 60
        rows.append(f"| {f['notebook']} | {f['scale']} | {f['runs']} | {minutes:.1f} min | "
                    f"{', '.join(f['devices'])} |")
    if len(rows) == 2:
        rows.append("| — | — | 0 | — | — |")
    return "\n".join(rows) + "\n"
