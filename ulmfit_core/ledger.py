"""The book's generated tables, from the committed results: the claims ledger and the time per notebook."""
from __future__ import annotations

from pathlib import Path

from ulmfit_core.fileio import read_json
from ulmfit_core.paper import LABEL, PAPER_KEY, main_table, paper_value
from ulmfit_core.verdicts import mean_std

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


def claims_table(results: Path, scales: dict[str, str], level: int = 2, link: bool = True) -> str:
    """Markdown: one section per chapter (heading ``level``), in notebook order, with a table of every
    claim it checks at the scale given (``scales``: notebook -> scale), and a link to the chapter where it
    shows that scale (``link``). Differences are in percentage points of error, arm b minus arm a
    (negative = lower error)."""
    files = sorted((f for f in claim_files(results) if scales.get(f["notebook"]) == f["scale"]),
                   key=lambda f: f["notebook"])
    sections = []
    for f in files:
        where = f"{{doc}}`Chapter </chapters/{f['notebook']}>`, " if link else ""
        rows = [f"{'#' * level} {TITLE.get(f['notebook'], f['notebook'])}", "",
                f"{where}`{f['scale']}` scale, "
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


def _records(results: Path, scale: str, kind: str) -> dict[str, dict]:
    """The run records of one kind at ``scale``, by run id."""
    paths = sorted((results / scale / kind).glob("*.json"))
    return {p.stem: read_json(p) for p in paths if not p.name.startswith(".")}


def _mean_sd(values: list[float | None]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    mean, sd, n = mean_std(values)
    return f"{mean:.2f}" if n == 1 else f"{mean:.2f} ± {sd:.2f}"


def _compute(records: list[dict]) -> str:
    seconds = sum(r["provenance"]["wall_seconds"] for r in records)
    devices = sorted({r["provenance"]["device_name"] for r in records})
    return f"{seconds / 60:.1f} min | {', '.join(devices)}"


def _seeds(records: list[dict]) -> int:
    return len({r["config"].get("seed") for r in records})


def _lm_recipe(config: dict) -> str:
    """How a target LM was fine-tuned: its recipe, and which text when it is not all the task's text."""
    text = config.get("lm_text", "task")
    return config["variant"] + ("" if text == "task" else f", {text} text")


def recorded_runs(results: Path, scale: str) -> str:
    """Markdown tables of every run recorded at ``scale``, read from the records alone: the pretrained
    LMs, the target-LM fine-tunings and the classifier arms, each arm's seeds as mean ± sd, with the
    paper's Table 2–3 ULMFiT error beside ULMFiT. For a scale whose runs cover only part of a notebook."""
    from ulmfit_core.experiments import ULMFIT, ULMFIT_LM   # noqa: PLC0415 - torch only for this table
    pretrained, tuned = _records(results, scale, "pretrain"), _records(results, scale, "finetune_lm")
    out = ["### Pretrained language models", "",
           "| LM | training tokens | vocabulary | valid perplexity (Wikipedia) | WikiText-103 test perplexity "
           "| compute | device |", "|---|---|---|---|---|---|---|"]
    for r in pretrained.values():
        c, m = r["config"], r["metrics"]
        name = c["direction"] + ("" if c["model"].get("weight_p") else ", no dropout")
        out.append(f"| {name} | {m['train_tokens']:,} | {m['vocab_size']:,} | {_mean_sd([m.get('valid_perplexity')])} "
                   f"| {_mean_sd([m.get('wikitext103_test_perplexity')])} | {_compute([r])} |")
    groups: dict[tuple, list[dict]] = {}
    for r in tuned.values():
        c = r["config"]
        if c.get("train"):              # "no LM fine-tuning" (Table 6) trains nothing
            groups.setdefault((c["dataset"], c["direction"], _lm_recipe(c)), []).append(r)
    out += ["", "### Target LM fine-tuning", "",
            "| dataset | direction | recipe | seeds | tokens | epochs | valid perplexity | compute | device |",
            "|---|---|---|---|---|---|---|---|---|"]
    for (ds, direction, recipe), rs in sorted(groups.items()):
        out.append(f"| {LABEL.get(ds, ds)} | {direction} | {recipe} | {_seeds(rs)} "
                   f"| {rs[0]['metrics'].get('train_tokens', 0):,} | {rs[0]['config']['train']['epochs']} "
                   f"| {_mean_sd([r['metrics'].get('valid_perplexity') for r in rs])} | {_compute(rs)} |")
    groups = {}
    for r in _records(results, scale, "classifier").values():
        c, parent = r["config"], (r.get("parents") or [None])[0]
        lm = (_lm_recipe(tuned[parent]["config"]) if parent in tuned
              else "pretrained only" if parent in pretrained else "none")
        groups.setdefault((c["dataset"], c["variant"], c["direction"], lm, c["n_labelled"],
                           c["train"]["epochs"], c["train"]["lr"]), []).append(r)
    out += ["", "### Classifiers", "",
            "| dataset | classifier | LM | labelled | seeds | train / test examples | epochs | valid error (%) "
            "| test error (%) | paper (ULMFiT) | compute | device |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (ds, variant, direction, lm, n_labelled, epochs, _), rs in sorted(groups.items()):
        full_ulmfit = variant == ULMFIT and lm == ULMFIT_LM and not n_labelled and ds in PAPER_KEY
        paper = f"{paper_value(main_table(ds), 'ULMFiT', PAPER_KEY[ds]):.2f}" if full_ulmfit else ""
        m = rs[0]["metrics"]
        out.append(f"| {LABEL.get(ds, ds)} | {variant} ({direction}) | {lm} | {n_labelled or 'all'} | {_seeds(rs)} "
                   f"| {m['n_train']:,} / {m['n_test']:,} | {epochs} "
                   f"| {_mean_sd([r['metrics'].get('valid_error') for r in rs])} "
                   f"| {_mean_sd([r['metrics'].get('test_error') for r in rs])} | {paper} | {_compute(rs)} |")
    return "\n".join(out) + "\n"
