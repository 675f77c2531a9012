"""The book's generated pages, from the committed results: the claims ledger (its summary table, its
figure of every claim and its tables), the intro's "What this edition shows" box, the line under each
chapter's title, the runs page, the time per notebook and the runs of the ``gpu`` scale.

A claim marked ``"sanity": true`` checks our own setup (e.g. ULMFiT against a linear model), not the
paper: it is shown, marked, and never counted among the paper's claims."""
from __future__ import annotations

from pathlib import Path

from ulmfit_core.fileio import atomic_path, read_json
from ulmfit_core.harness.paper import LABEL, PAPER_KEY, main_table, paper_value
from ulmfit_core.harness.scales import ANALYSIS
from ulmfit_core.harness.verdicts import mean_std, signed_pp

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
                f"{', '.join(f'{n} {v}' for v, n in _counts(f['claims']).items())}{_sanity_note(f['claims'])}.", "",
                "| claim | dataset | error | paper | ours [95% CI] | seeds | verdict |",
                "|---|---|---|---|---|---|---|"]
        for c in f["claims"]:
            e = c["effect"]
            name = f"*sanity check, not the paper's:* {c['claim']}" if c.get("sanity") else c["claim"]
            rows.append(f"| {name} | {c['dataset']} | {c['split']} | {signed_pp(c['paper_diff'])} "
                        f"| {signed_pp(e['mean_diff'])} [{signed_pp(e['ci_low'])}, {signed_pp(e['ci_high'])}] "
                        f"| {e['n_seeds']} | **{c['verdict']}** |")
        sections.append("\n".join(rows) + "\n")
    return "\n".join(sections) if sections else "No claim has been checked yet.\n"


def _counts(claims: list[dict]) -> dict[str, int]:
    """How many of the paper's ``claims`` hold, are contradicted or inconclusive (sanity checks of our
    setup, which are not the paper's claims, are left out)."""
    counts = {"holds": 0, "contradicted": 0, "inconclusive": 0}
    for c in claims:
        if not c.get("sanity"):
            counts[c["verdict"]] += 1
    return counts


def _sanity_note(claims: list[dict]) -> str:
    """", and k of n sanity checks hold" where a section has sanity checks."""
    checks = [c for c in claims if c.get("sanity")]
    if not checks:
        return ""
    held = sum(c["verdict"] == "holds" for c in checks)
    return f"; sanity checks (not the paper's claims): {held} of {len(checks)} hold"


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
    from ulmfit_core.harness.experiments import ULMFIT, ULMFIT_LM   # noqa: PLC0415 - torch only for this table
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
    return "\n".join(out + _linear_rows(results, scale)) + "\n"


def _linear_rows(results: Path, scale: str) -> list[str]:
    """The table of the linear baselines recorded at ``scale`` (none: no table)."""
    records = sorted(_records(results, scale, "baseline").values(),
                     key=lambda r: (r["config"]["dataset"], r["config"]["n_labelled"] or float("inf")))
    if not records:
        return []
    out = ["", "### Linear baseline (TF-IDF n-grams, logistic regression)", "",
           "| dataset | labelled | train / valid / test examples | C (chosen on validation) | valid error (%) "
           "| test error (%) | compute | device |", "|---|---|---|---|---|---|---|---|"]
    for r in records:
        c, m = r["config"], r["metrics"]
        out.append(f"| {LABEL.get(c['dataset'], c['dataset'])} | {c['n_labelled'] or 'all'} "
                   f"| {m['n_train']:,} / {m['n_valid']:,} / {m['n_test']:,} | {m['C']:g} | {m['valid_error']:.2f} "
                   f"| {m['test_error']:.2f} | {_compute([r])} |")
    return out


# ------------------------------------------------------------------------------------ the book at a glance

VERDICTS = ("holds", "contradicted", "inconclusive")
VERDICT_COLOUR = {"holds": "#2166ac", "contradicted": "#d6604d", "inconclusive": "#8c8c8c"}


def shown_files(results: Path, scales: dict[str, str]) -> list[dict]:
    """The claims records of the chapters at the scale each is shown at (``scales``), in notebook order."""
    return sorted((f for f in claim_files(results) if scales.get(f["notebook"]) == f["scale"]),
                  key=lambda f: f["notebook"])


def _chapter_link(notebook: str, scales: dict[str, str]) -> str:
    """The chapter's title, linked to its page where the book shows it."""
    title = TITLE.get(notebook, notebook)
    return f"{{doc}}`{title} </chapters/{notebook}>`" if notebook in scales else title


def _sanity_cell(claims: list[dict]) -> str:
    """"k of n" sanity checks that hold, or "—" where there are none."""
    checks = [c for c in claims if c.get("sanity")]
    return f"{sum(c['verdict'] == 'holds' for c in checks)} of {len(checks)}" if checks else "—"


def _count_row(first: str, scale: str, claims: list[dict], sanity: bool) -> str:
    """One row of the summary table: the verdict counts of ``claims`` (and their sanity checks)."""
    counts = _counts(claims)
    return (f"| {first} | `{scale}` | {' | '.join(str(counts[v]) for v in VERDICTS)} |"
            + (f" {_sanity_cell(claims)} |" if sanity else ""))


def summary_table(results: Path, scales: dict[str, str]) -> str:
    """Markdown: the verdict counts of every chapter at the scale the book shows it (and of its sanity
    checks, which are not the paper's claims and are not counted, where there are any), summed over the
    chapters; then, folded, the counts of every chapter at the other scales it was run at."""
    files = claim_files(results)
    shown = shown_files(results, scales)
    sanity = any(c.get("sanity") for f in files for c in f["claims"])
    head = ("| chapter | scale | holds | contradicted | inconclusive |"
            + (" sanity checks that hold |" if sanity else ""),
            "|---|---|---|---|---|" + ("---|" if sanity else ""))
    rows = [*head, *(_count_row(_chapter_link(f["notebook"], scales), f["scale"], f["claims"], sanity) for f in shown)]
    total = verdict_counts(results, scales)
    rows.append(f"| **all chapters shown** | | **{total['holds']}** | **{total['contradicted']}** "
                f"| **{total['inconclusive']}** |" + (" |" if sanity else ""))
    others = [f for f in sorted(files, key=lambda f: (f["notebook"], f["scale"])) if f not in shown]
    if others:
        rows += ["", "````{dropdown} The same counts at the other scales the chapters were run at", *head,
                 *(_count_row(TITLE.get(f["notebook"], f["notebook"]), f["scale"], f["claims"], sanity)
                   for f in others),
                 "", "At the `smoke` scale the models are toys: its verdicts say only that the code runs.", "````"]
    return "\n".join(rows) + "\n"


def figure_rows(results: Path, scales: dict[str, str]) -> list[dict]:
    """One row per claim shown in the book, in chapter order: its chapter, label, dataset, the paper's
    difference, ours with its 95% interval, the verdict and whether it is a sanity check."""
    return [{"notebook": f["notebook"], "chapter": TITLE.get(f["notebook"], f["notebook"]),
             "claim": c["claim"], "dataset": LABEL.get(c["dataset"], c["dataset"]),
             "paper": c["paper_diff"], "ours": c["effect"]["mean_diff"], "low": c["effect"]["ci_low"],
             "high": c["effect"]["ci_high"], "verdict": c["verdict"], "sanity": bool(c.get("sanity"))}
            for f in shown_files(results, scales) for c in f["claims"]]


def _unique(values: list[str]) -> list[str]:
    """``values`` without repeats, in their first order."""
    return list(dict.fromkeys(values))


def _short_labels(rows: list[dict]) -> tuple[str, dict[str, str]]:
    """The part before " − " that every claim of one chapter shares (where there are two or more), and
    each claim's label without it; sanity checks keep their whole name, marked."""
    claims = _unique([r["claim"] for r in rows if not r["sanity"]])
    heads = {c.split(" − ", 1)[0] for c in claims}
    prefix = f"{heads.pop()} − " if len(claims) > 1 and len(heads) == 1 and " − " in claims[0] else ""
    labels = {c: "… − " + c[len(prefix):] if prefix else c for c in claims}
    labels.update({r["claim"]: f"sanity: {r['claim']}" for r in rows if r["sanity"]})
    return prefix, labels


def _draw_panel(ax: object, rows: list[dict], order: list[str]) -> None:
    """One chapter × dataset panel: our difference with its interval (coloured by verdict; hollow squares
    for sanity checks), the paper's difference as a black diamond, and the zero line."""
    ax.axvline(0, color="0.3", lw=0.8)
    for r in rows:
        y = len(order) - 1 - order.index(r["claim"])
        colour = VERDICT_COLOUR[r["verdict"]]
        ax.plot([r["low"], r["high"]], [y, y], color=colour, lw=2, solid_capstyle="butt")
        ax.plot(r["ours"], y, "s" if r["sanity"] else "o", ms=5, color=colour,
                mfc="white" if r["sanity"] else colour)
        if r["paper"] is not None:
            ax.plot(r["paper"], y, "D", ms=4.5, mfc="none", mec="black", mew=1)
    ax.set_ylim(-0.6, len(order) - 0.4)
    ax.tick_params(labelsize=7)
    ax.grid(axis="x", alpha=0.3)


LINE_IN, TITLE_IN, TICKS_IN, LEGEND_IN = 0.15, 0.34, 0.36, 0.5   # the figure's layout, in inches
LABELS_IN, PANEL_IN, LABEL_CHARS = 2.25, 1.4, 34        # sized to be read at the width of the text column


def _panel_rects(heights: list[float], n_cols: int) -> tuple[tuple[float, float], list[list[tuple]]]:
    """The figure's size and each panel's [left, bottom, width, height] (figure fractions): one row of
    panels per chapter, ``heights`` in inches, each below its title and above its tick labels."""
    width = LABELS_IN + PANEL_IN * n_cols + 0.2
    height = LEGEND_IN + sum(TITLE_IN + h + TICKS_IN for h in heights) + 0.2
    rects, top = [], height - LEGEND_IN
    for h in heights:
        bottom = top - TITLE_IN - h
        rects.append([((LABELS_IN + PANEL_IN * j) / width, bottom / height, (PANEL_IN - 0.15) / width, h / height)
                      for j in range(n_cols)])
        top = bottom - TICKS_IN
    return (width, height), rects


def claims_figure(results: Path, scales: dict[str, str], path: Path) -> Path:
    """Plot every claim the book shows — one row of panels per chapter, one column per dataset: the
    paper's difference beside ours with its 95% interval, coloured by verdict — and write it to ``path``
    (PNG) atomically; return ``path``."""
    import textwrap  # noqa: PLC0415
    import matplotlib  # noqa: PLC0415 - only the book build draws this figure
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.lines import Line2D  # noqa: PLC0415

    rows = figure_rows(results, scales)
    chapters, datasets = _unique([r["notebook"] for r in rows]), _unique([r["dataset"] for r in rows])
    orders = {nb: _unique([r["claim"] for r in rows if r["notebook"] == nb]) for nb in chapters}
    labels = {nb: _short_labels([r for r in rows if r["notebook"] == nb]) for nb in chapters}
    wrapped = {nb: {c: textwrap.fill(label, LABEL_CHARS) for c, label in labels[nb][1].items()} for nb in chapters}
    lines = {nb: max(label.count("\n") + 1 for label in wrapped[nb].values()) for nb in chapters}
    size, rects = _panel_rects([LINE_IN * (len(orders[nb]) * (lines[nb] + 0.8) + 0.6) for nb in chapters],
                               max(len(datasets), 1))
    fig = plt.figure(figsize=size)
    if not rows:
        fig.text(0.5, 0.5, "No claim has been checked yet.", ha="center")
    for nb, row_rects in zip(chapters, rects):
        mine, prefix = [r for r in rows if r["notebook"] == nb], labels[nb][0]
        for j, (ds, rect) in enumerate(zip(datasets, row_rects)):
            ax = fig.add_axes(rect)
            _draw_panel(ax, [r for r in mine if r["dataset"] == ds], orders[nb])
            ax.set_title(ds, loc="right", fontsize=7, color="0.3", pad=2)
            ticks = [wrapped[nb][c] for c in reversed(orders[nb])] if j == 0 else []
            ax.set_yticks(range(len(orders[nb])), ticks, fontsize=7)
            if not any(r["dataset"] == ds for r in mine):
                ax.text(0.5, 0.5, "not run", transform=ax.transAxes, ha="center", va="center", fontsize=7,
                        color="0.5")
                ax.set_xticks([])
        title = mine[0]["chapter"] + (f" — {prefix}…" if prefix else "")
        fig.text(0.01, row_rects[0][1] + row_rects[0][3] + 0.16 / size[1], title, fontsize=8,
                 fontweight="bold", va="bottom")
    fig.text(0.98, 0.04 / size[1], "difference in error (percentage points); left of 0 the first arm has the "
             "lower error", ha="right", va="bottom", fontsize=7)
    handles = [Line2D([], [], color=VERDICT_COLOUR[v], marker="o", lw=2, label=f"ours: {v}") for v in VERDICTS]
    handles += [Line2D([], [], ls="", marker="D", mfc="none", mec="black", label="the paper's difference"),
                Line2D([], [], ls="", marker="s", mfc="white", mec="0.3", label="sanity check (not the paper's)")]
    fig.legend(handles=handles, loc="upper center", ncol=3, fontsize=7, frameon=False)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=150)
    plt.close(fig)
    return path


# ------------------------------------------------------------------- the edition box and the chapter header

def chapter_seeds(claims_file: dict) -> dict[str, int]:
    """The number of seeds behind a chapter's claims, per dataset (the largest, where claims differ)."""
    seeds: dict[str, int] = {}
    for c in claims_file["claims"]:
        seeds[c["dataset"]] = max(seeds.get(c["dataset"], 0), c["effect"]["n_seeds"])
    return seeds


def _and(items: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def seeds_phrase(seeds: dict[str, int]) -> str:
    """E.g. "3 seeds on TREC-6 and AG (7.6k), 1 on IMDb": datasets grouped by their number of seeds."""
    groups: dict[int, list[str]] = {}
    for ds, n in seeds.items():
        groups.setdefault(n, []).append(LABEL.get(ds, ds))
    parts = [f"{n} {'seed' if n == 1 else 'seeds'} on {_and(names)}" if i == 0 else f"{n} on {_and(names)}"
             for i, (n, names) in enumerate(sorted(groups.items(), key=lambda g: -g[0]))]
    return ", ".join(parts) or "no seeds"


def runs_label(notebook: str) -> str:
    """The MyST target of a chapter's section on the runs page."""
    return "runs-" + notebook.replace("_", "-")


def _task_sizes(results: Path, scale: str) -> dict[str, tuple]:
    """Per dataset at ``scale``: (train, validation, test examples, tokens kept per text) of its
    fully labelled classifier runs (the most common, where runs differ)."""
    sizes: dict[str, dict[tuple, int]] = {}
    for r in _records(results, scale, "classifier").values():
        c, m = r["config"], r["metrics"]
        if not c.get("n_labelled"):
            key = (m["n_train"], m.get("n_valid"), m["n_test"], c.get("task", {}).get("max_tokens", 0))
            sizes.setdefault(c["dataset"], {}).setdefault(key, 0)
            sizes[c["dataset"]][key] += 1
    return {ds: max(counts, key=counts.get) for ds, counts in sizes.items()}


def _pretrained_lms(results: Path, scale: str) -> list[dict]:
    """The pretraining records that the classifier runs at ``scale`` start from (through their
    fine-tuned LMs), in record order."""
    pretrained, tuned = _records(results, scale, "pretrain"), _records(results, scale, "finetune_lm")
    used: set[str] = set()
    for r in _records(results, scale, "classifier").values():
        for parent in r.get("parents") or []:
            used |= {parent} if parent in pretrained else set(tuned.get(parent, {}).get("parents") or [])
    return [pretrained[i] for i in sorted(used) if i in pretrained]


def _lm_phrase(records: list[dict]) -> str:
    """E.g. "the pretrained language models are AWD-LSTMs (200/400, 3 layers) trained on 3,422,507
    Wikipedia tokens: forward, backward and forward without dropout"."""
    if not records:
        return "no pretrained language model is recorded"
    m = records[0]["config"]["model"]
    kinds = [r["config"]["direction"] + ("" if r["config"]["model"].get("weight_p") else " without dropout")
             for r in records]
    tokens = sorted({r["metrics"]["train_tokens"] for r in records})
    return (f"the pretrained language models are AWD-LSTMs ({m['emb_size']}/{m['hidden_size']}, "
            f"{m['n_layers']} layers) trained on {' or '.join(f'{t:,}' for t in tokens)} Wikipedia tokens: "
            f"{_and(kinds)}")


def _analysis(dataset: str) -> bool:
    """Whether ``dataset`` stands for one of the paper's analysis datasets (IMDb, TREC-6, AG), which every
    chapter shows unless a scale leaves one out."""
    return PAPER_KEY.get(dataset) in ANALYSIS


def _seeds_cell(dataset: str, files: list[dict]) -> str:
    """The seeds behind one dataset's numbers over the chapters: the usual number, then the exceptions,
    then the chapters that show the other analysis datasets but not this one."""
    by_n: dict[int, list[str]] = {}
    left_out: list[str] = []
    for f in files:
        seeds, title = chapter_seeds(f), TITLE.get(f["notebook"], f["notebook"])
        if dataset in seeds:
            by_n.setdefault(seeds[dataset], []).append(title)
        elif _analysis(dataset) and any(_analysis(ds) for ds in seeds):
            left_out.append(title)
    if not by_n:
        return "—"
    usual = max(by_n, key=lambda n: len(by_n[n]))
    others = [f"{n} in {_and(names)}" for n, names in sorted(by_n.items()) if n != usual]
    others += [f"not in {_and(left_out)}"] if left_out else []
    return str(usual) + (f" ({'; '.join(others)})" if others else "")


def _is(n: int) -> str:
    return f"{n} is" if n == 1 else f"{n} are"


def edition_box(results: Path, scales: dict[str, str]) -> str:
    """The intro's "What this edition shows" admonition, from the records: the scale of each chapter, the
    language models, data and seeds at that scale, the verdict counts, and the other scales run."""
    files = shown_files(results, scales)
    lines = ["```{admonition} What this edition shows", ":class: warning"]
    by_scale: dict[str, list[str]] = {}
    for nb, sc in sorted(scales.items()):
        by_scale.setdefault(sc, []).append(nb)
    where = (f"the `{next(iter(by_scale))}` scale for all {len(scales)} chapters" if len(by_scale) == 1
             else "; ".join(f"`{sc}` for {len(nbs)}" for sc, nbs in by_scale.items()))
    counts = verdict_counts(results, scales)
    checks = [c for f in files for c in f["claims"] if c.get("sanity")]
    sanity = f" The {len(checks)} sanity checks of our own setup are not among them." if checks else ""
    n = sum(counts.values())
    lines += [f"**Verdicts:** of the paper's {n} {'claim' if n == 1 else 'claims'} checked in these chapters, "
              f"{counts['holds']} {'holds' if counts['holds'] == 1 else 'hold'}, {_is(counts['contradicted'])} "
              f"contradicted and {_is(counts['inconclusive'])} inconclusive "
              f"({{doc}}`the claims ledger <claims>` shows each).{sanity}",
              "", "Each results chapter is shown at the largest scale it has been run at, and says so in its "
              f"first line: {where}."]
    for sc in by_scale:
        mine = [f for f in files if f["scale"] == sc]
        datasets = _unique([c["dataset"] for f in mine for c in f["claims"]])
        sizes = _task_sizes(results, sc)
        devices = _and(sorted({d for f in mine for d in f["devices"]}))
        lines += ["", f"At the `{sc}` scale {_lm_phrase(_pretrained_lms(results, sc))}; the runs were made on "
                      f"{devices}. The datasets, and the seeds behind each chapter's numbers:", "",
                  "| dataset | train / validation / test examples | tokens kept per text | seeds |",
                  "|---|---|---|---|"]
        for ds in datasets:
            n_train, n_valid, n_test, tokens = sizes.get(ds, (None,) * 4)
            split = " / ".join("—" if n is None else f"{n:,}" for n in (n_train, n_valid, n_test))
            lines.append(f"| {LABEL.get(ds, ds)} | {split} | {tokens or 'all'} | {_seeds_cell(ds, mine)} |")
    recorded = {p.parent.parent.name for p in results.glob("*/*/*.json")} - set(scales.values()) - {"smoke"}
    if "gpu" in recorded:
        lines += ["", "Runs at the `gpu` scale (the paper's model size on one GPU) are on "
                      "{doc}`their own page <gpu>`; no chapter is shown at that scale."]
    if set(scales.values()) - {"paper"}:
        lines += ["", "Numbers below the `paper` scale are not the paper's numbers: what they can test is the "
                      "*direction* of its claims."]
    return "\n".join(lines + ["```", ""])


# ----------------------------------------------------------------------------------------- the runs page

def _minutes(record: dict) -> str:
    """A run's compute time in minutes, from its record."""
    seconds = record.get("provenance", {}).get("wall_seconds")
    return "n/a" if seconds is None else f"{seconds / 60:.1f}"


def _metric(value: float | None) -> str:
    """A metric to two decimals, or "n/a"."""
    return "n/a" if value is None else f"{value:.2f}"


def _pretrain_rows(records: dict[str, dict]) -> list[str]:
    """A Markdown table of pretraining records: id, direction, dropout, tokens, perplexity, minutes."""
    rows = ["| record | direction | dropout | training tokens | valid perplexity (Wikipedia) | minutes |",
            "|---|---|---|---|---|---|"]
    for rid, r in records.items():
        c, m = r["config"], r["metrics"]
        rows.append(f"| `{rid}` | {c['direction']} | {'yes' if c['model'].get('weight_p') else 'no'} "
                    f"| {m['train_tokens']:,} | {_metric(m.get('valid_perplexity'))} | {_minutes(r)} |")
    return rows


def _finetune_rows(records: list[tuple[str, dict]]) -> list[str]:
    """A Markdown table of target-LM fine-tuning records: id, recipe, seed, epochs, perplexity, minutes."""
    rows = ["| record | recipe | direction | seed | epochs | valid perplexity | minutes |",
            "|---|---|---|---|---|---|---|"]
    for rid, r in records:
        c, m = r["config"], r["metrics"]
        epochs = (c.get("train") or {}).get("epochs", 0)
        rows.append(f"| `{rid}` | {_lm_recipe(c)} | {c['direction']} | {c.get('seed', '—')} | {epochs} "
                    f"| {_metric(m.get('valid_perplexity'))} | {_minutes(r)} |")
    return rows


def _classifier_rows(records: list[tuple[str, dict]], tuned: dict[str, dict],
                     pretrained: dict[str, dict]) -> list[str]:
    """A Markdown table of classifier records: id, recipe, the LM it starts from, labels, seed, epochs,
    validation and test error, minutes."""
    rows = ["| record | classifier | LM | labelled | seed | epochs | valid / test error (%) | minutes |",
            "|---|---|---|---|---|---|---|---|"]
    for rid, r in records:
        c, m, parent = r["config"], r["metrics"], (r.get("parents") or [None])[0]
        lm = (_lm_recipe(tuned[parent]["config"]) if parent in tuned
              else "pretrained only" if parent in pretrained else "none")
        variant = c["variant"] + ("" if c.get("direction", "forward") == "forward" else f", {c['direction']}")
        rows.append(f"| `{rid}` | {variant} | {lm} | {c.get('n_labelled') or 'all'} | {c.get('seed', '—')} "
                    f"| {c['train']['epochs']} | {_metric(m.get('valid_error'))} / {_metric(m.get('test_error'))} "
                    f"| {_minutes(r)} |")
    return rows


def _sorted_runs(records: dict[str, dict], dataset: str) -> list[tuple[str, dict]]:
    """The records of ``dataset``, by recipe, labelled examples, direction and seed."""
    def key(item: tuple[str, dict]) -> tuple:
        c = item[1]["config"]
        return (c.get("variant", ""), c.get("lm_text", ""), c.get("n_labelled") or 0, c.get("direction", ""),
                c.get("seed") or 0, item[0])
    return sorted(((i, r) for i, r in records.items() if r["config"].get("dataset") == dataset), key=key)


def _dropdown(title: str, rows: list[str]) -> list[str]:
    """``rows`` folded in a dropdown titled ``title``."""
    return ["````{dropdown} " + title, *rows, "````", ""]


def scale_runs(results: Path, scale: str, order: list[str] | None = None) -> str:
    """Markdown: every run recorded at ``scale`` with its record's id and key metrics — the pretrained LMs,
    then per dataset (those in ``order`` first) its LM fine-tunings and its classifiers, each table folded
    in a dropdown."""
    pretrained, tuned = _records(results, scale, "pretrain"), _records(results, scale, "finetune_lm")
    classifiers = _records(results, scale, "classifier")
    others = {f"{p.parent.name}/{p.stem}": read_json(p) for p in sorted(results.glob(f"{scale}/*/*.json"))
              if p.parent.name not in {"pretrain", "finetune_lm", "classifier", "claims", "choices"}
              and not p.name.startswith(".")}
    out = [f"## Every run at the `{scale}` scale", "",
           f"Records are in `results/{scale}/<kind>/<record>.json` (kind: `pretrain`, `finetune_lm`, "
           "`classifier`, `baseline`).", "", "### Pretrained language models", "", *_pretrain_rows(pretrained), ""]
    recorded = {r["config"]["dataset"] for r in [*tuned.values(), *classifiers.values(), *others.values()]
                if "dataset" in r["config"]}
    datasets = [ds for ds in order or [] if ds in recorded] + sorted(recorded - set(order or []))
    for ds in datasets:
        lms, clfs = _sorted_runs(tuned, ds), _sorted_runs(classifiers, ds)
        out += [f"({runs_label(scale + '-' + ds)})=", f"### {LABEL.get(ds, ds)}", ""]
        out += _dropdown(f"{len(lms)} target LM fine-tuning runs", _finetune_rows(lms)) if lms else []
        out += _dropdown(f"{len(clfs)} classifier runs", _classifier_rows(clfs, tuned, pretrained)) if clfs else []
        rest = _sorted_runs(others, ds)
        out += _dropdown(f"{len(rest)} other runs", _other_rows(rest)) if rest else []
    return "\n".join(out) + "\n"


def _other_rows(records: list[tuple[str, dict]]) -> list[str]:
    """A Markdown table of records of other kinds (e.g. the linear baseline): kind/id, recipe, labels,
    seed, validation and test error, minutes."""
    rows = ["| record | recipe | labelled | seed | valid / test error (%) | minutes |", "|---|---|---|---|---|---|"]
    for rid, r in records:
        c, m = r["config"], r.get("metrics", {})
        rows.append(f"| `{rid}` | {c.get('variant', '—')} | {c.get('n_labelled') or 'all'} | {c.get('seed', '—')} "
                    f"| {_metric(m.get('valid_error'))} / {_metric(m.get('test_error'))} | {_minutes(r)} |")
    return rows


def runs_page(results: Path, scales: dict[str, str]) -> str:
    """The generated runs page: a section per chapter (its claims record: how many runs, their compute
    time and devices, and links to its datasets' runs), then every run at each scale shown."""
    out = ["## The runs behind each chapter", ""]
    for f in shown_files(results, scales):
        datasets = _unique([c["dataset"] for c in f["claims"]])
        links = _and([f"{{ref}}`{LABEL.get(ds, ds)} <{runs_label(f['scale'] + '-' + ds)}>`" for ds in datasets])
        out += [f"({runs_label(f['notebook'])})=", f"### {TITLE.get(f['notebook'], f['notebook'])}", "",
                f"{{doc}}`The chapter </chapters/{f['notebook']}>` is shown at the `{f['scale']}` scale; "
                f"its claims record "
                f"`results/{f['scale']}/claims/{f['study']}.json` counts {f['runs']} runs (with the runs they "
                f"start from), {f['wall_seconds'] / 60:.1f} minutes of compute on {_and(f['devices'])}. "
                f"They are among the runs of {links} below.", ""]
    order = _unique([c["dataset"] for f in shown_files(results, scales) for c in f["claims"]])
    for scale in _unique([scales[nb] for nb in sorted(scales)]):
        out.append(scale_runs(results, scale, order))
    return "\n".join(out)
