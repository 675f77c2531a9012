"""The claims ledger: one section per chapter, at the scale the chapter shows."""
from __future__ import annotations

from pathlib import Path

from ulmfit_core.fileio import write_json
from ulmfit_core.harness import ledger


def _claim(verdict: str, diff: float) -> dict:
    return {"claim": f"a − b ({verdict})", "dataset": "trec6", "split": "valid", "paper_diff": -1.0,
            "verdict": verdict, "effect": {"mean_diff": diff, "ci_low": diff - 1, "ci_high": diff + 1,
                                           "n_seeds": 3}}


def _write(results: Path, scale: str, notebook: str, claims: list[dict]) -> None:
    write_json(results / scale / "claims" / f"{notebook[3:]}.json",
               {"notebook": notebook, "scale": scale, "claims": claims, "runs": 1, "wall_seconds": 1.0,
                "devices": ["cpu"]})


def test_claims_table_has_a_section_per_chapter_in_notebook_order_at_the_scale_shown(tmp_path):
    _write(tmp_path, "smoke", "05_lm_finetuning", [_claim("inconclusive", 0.5)])
    _write(tmp_path, "reduced", "03_pretraining", [_claim("holds", -8.0), _claim("inconclusive", 0.2)])
    _write(tmp_path, "smoke", "03_pretraining", [_claim("contradicted", 9.0)])
    text = ledger.claims_table(tmp_path, {"03_pretraining": "reduced", "05_lm_finetuning": "smoke"})
    assert text.index("## Table 4: pretraining") < text.index("## Table 6: LM fine-tuning")
    assert "`reduced` scale, 1 holds, 0 contradicted, 1 inconclusive." in text
    assert "| a − b (holds) | trec6 | valid | −1.00 | −8.00 [−9.00, −7.00] | 3 | **holds** |" in text
    assert "contradicted)" not in text            # the smoke run of a chapter shown at reduced
    assert ledger.verdict_counts(tmp_path, {"03_pretraining": "reduced", "05_lm_finetuning": "smoke"}) == {
        "holds": 1, "contradicted": 0, "inconclusive": 2}


def test_sanity_checks_are_marked_and_not_counted_among_the_papers_claims(tmp_path):
    sanity = {**_claim("contradicted", 4.0), "claim": "ULMFiT − linear baseline", "sanity": True}
    _write(tmp_path, "reduced", "01_main_results", [_claim("holds", -3.0), sanity])
    text = ledger.claims_table(tmp_path, {"01_main_results": "reduced"})
    assert ("`reduced` scale, 1 holds, 0 contradicted, 0 inconclusive; sanity checks (not the paper's "
            "claims): 0 of 1 hold.") in text
    assert "| *sanity check, not the paper's:* ULMFiT − linear baseline | trec6 |" in text
    assert ledger.verdict_counts(tmp_path, {"01_main_results": "reduced"}) == {
        "holds": 1, "contradicted": 0, "inconclusive": 0}


def test_claims_table_says_when_nothing_was_checked(tmp_path):
    assert ledger.claims_table(tmp_path, {}) == "No claim has been checked yet.\n"


def _run(results: Path, kind: str, name: str, config: dict, metrics: dict, seconds: float = 60.0,
         parents: tuple[str, ...] = ()) -> None:
    write_json(results / "gpu" / kind / f"{name}.json",
               {"config": config, "metrics": metrics, "parents": list(parents),
                "provenance": {"wall_seconds": seconds, "device_name": "NVIDIA H100 80GB HBM3"}})


def test_recorded_runs_groups_the_seeds_of_each_arm_with_the_papers_number(tmp_path):
    _run(tmp_path, "pretrain", "p", {"direction": "forward", "model": {"weight_p": 0.2}},
         {"train_tokens": 8_000_000, "vocab_size": 60_000, "valid_perplexity": 209.27,
          "wikitext103_test_perplexity": 196.5})
    _run(tmp_path, "finetune_lm", "none", {"dataset": "trec6", "direction": "forward",
                                           "variant": "no LM fine-tuning", "train": None},
         {"valid_perplexity": None}, parents=("p",))
    clf = {"dataset": "trec6", "direction": "forward", "n_labelled": 0, "train": {"epochs": 12, "lr": 0.01}}
    for seed, error in enumerate((11.0, 12.0, 13.0)):
        _run(tmp_path, "finetune_lm", f"lm{seed}", {"dataset": "trec6", "direction": "forward", "seed": seed,
                                                    "variant": "full + discr + stlr", "train": {"epochs": 15}},
             {"train_tokens": 67_708, "valid_perplexity": 18.0 + seed}, parents=("p",))
        metrics = {"n_train": 4907, "n_test": 500, "valid_error": 15.0, "test_error": error}
        _run(tmp_path, "classifier", f"c{seed}", {**clf, "variant": "freez + discr + stlr", "seed": seed},
             metrics, seconds=20.0, parents=(f"lm{seed}",))
        _run(tmp_path, "classifier", f"n{seed}", {**clf, "variant": "freez + discr + stlr", "seed": seed},
             {**metrics, "test_error": 20.0}, seconds=20.0, parents=("none",))
        _run(tmp_path, "classifier", f"s{seed}", {**clf, "variant": "from scratch", "seed": seed},
             {**metrics, "test_error": 14.0}, seconds=20.0)
    text = ledger.recorded_runs(tmp_path, "gpu")
    assert "| forward | 8,000,000 | 60,000 | 209.27 | 196.50 | 1.0 min | NVIDIA H100 80GB HBM3 |" in text
    assert ("| TREC-6 | forward | full + discr + stlr | 3 | 67,708 | 15 | 19.00 ± 1.00 | 3.0 min "
            "| NVIDIA H100 80GB HBM3 |") in text
    assert "| no LM fine-tuning | 3 |" not in text     # nothing was trained: no fine-tuning row
    assert ("| TREC-6 | freez + discr + stlr (forward) | full + discr + stlr | all | 3 | 4,907 / 500 | 12 "
            "| 15.00 ± 0.00 | 12.00 ± 1.00 | 3.60 | 1.0 min | NVIDIA H100 80GB HBM3 |") in text
    # the same classifier on an LM that was not fine-tuned is its own arm, without the paper's number
    assert "| TREC-6 | freez + discr + stlr (forward) | no LM fine-tuning | all | 3 | 4,907 / 500 | 12 | 15.00 ± 0.00 | 20.00 ± 0.00 |  |" in text
    assert "| TREC-6 | from scratch (forward) | none | all | 3 | 4,907 / 500 | 12 | 15.00 ± 0.00 | 14.00 ± 0.00 |  |" in text
    assert "Linear baseline" not in text                 # none recorded: no table
    for n, error in ((0, 9.5), (100, 30.25)):
        _run(tmp_path, "baseline", f"b{n}", {"dataset": "trec6", "n_labelled": n},
             {"n_train": n or 4907, "n_valid": 545, "n_test": 500, "C": 30.0, "valid_error": 10.0,
              "test_error": error}, seconds=6.0)
    rows = ledger.recorded_runs(tmp_path, "gpu").split("### Linear baseline")[1].splitlines()
    assert rows[4:] == ["| TREC-6 | 100 | 100 / 545 / 500 | 30 | 10.00 | 30.25 | 0.1 min | NVIDIA H100 80GB HBM3 |",
                        "| TREC-6 | all | 4,907 / 545 / 500 | 30 | 10.00 | 9.50 | 0.1 min | NVIDIA H100 80GB HBM3 |"]


# ------------------------------------------------------------------------------ the book at a glance

def _claims_record(results: Path, scale: str, notebook: str, claims: list[dict], runs: int = 7) -> None:
    write_json(results / scale / "claims" / f"{notebook[3:]}.json",
               {"notebook": notebook, "study": notebook[3:], "scale": scale, "claims": claims, "runs": runs,
                "wall_seconds": 120.0, "devices": ["cpu (test)"]})


def _on(dataset: str, verdict: str, diff: float, seeds: int = 3, **extra) -> dict:
    claim = _claim(verdict, diff)
    return {**claim, "dataset": dataset, "effect": {**claim["effect"], "n_seeds": seeds}, **extra}


def _book(results: Path) -> dict[str, str]:
    """Two chapters shown at `reduced` (one with a sanity check), one also run at `smoke`; return the
    scale each chapter is shown at."""
    _claims_record(results, "reduced", "01_main_results",
                   [_on("trec6", "holds", -3.0), _on("imdb", "inconclusive", 1.0, seeds=1),
                    {**_on("trec6", "contradicted", 2.0), "claim": "ULMFiT − linear baseline", "sanity": True}])
    _claims_record(results, "reduced", "03_pretraining", [_on("trec6", "contradicted", 4.0), _on("imdb", "holds", -2.0, seeds=1)])
    _claims_record(results, "smoke", "03_pretraining", [_on("trec6", "inconclusive", 0.0)])
    return {"01_main_results": "reduced", "03_pretraining": "reduced"}


def test_summary_table_counts_each_chapter_at_its_scale_apart_from_sanity_checks(tmp_path):
    text = ledger.summary_table(tmp_path, _book(tmp_path))
    assert ("| {doc}`Tables 2–3: main results </chapters/01_main_results>` | `reduced` | 1 | 0 | 1 | 0 of 1 |"
            in text)
    assert "| {doc}`Table 4: pretraining </chapters/03_pretraining>` | `reduced` | 1 | 1 | 0 | — |" in text
    assert "| **all chapters shown** | | **2** | **1** | **1** | |" in text
    other = text[text.index("{dropdown}"):]                    # the other scales, folded below
    assert "| Table 4: pretraining | `smoke` | 0 | 0 | 1 | — |" in other
    assert "`smoke`" not in text[:text.index("{dropdown}")]


def test_the_claims_figure_has_every_claim_shown_and_marks_the_sanity_checks(tmp_path):
    rows = ledger.figure_rows(tmp_path, _book(tmp_path))
    assert [(r["notebook"], r["dataset"], r["verdict"], r["sanity"]) for r in rows] == [
        ("01_main_results", "TREC-6", "holds", False), ("01_main_results", "IMDb", "inconclusive", False),
        ("01_main_results", "TREC-6", "contradicted", True),
        ("03_pretraining", "TREC-6", "contradicted", False), ("03_pretraining", "IMDb", "holds", False)]
    path = ledger.claims_figure(tmp_path, _book(tmp_path), tmp_path / "claims.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_claim_labels_drop_the_arm_every_claim_of_a_chapter_shares():
    rows = [{"claim": "classifier 'x' − 'full'", "sanity": False}, {"claim": "classifier 'x' − 'last'", "sanity": False},
            {"claim": "ULMFiT − linear", "sanity": True}]
    prefix, labels = ledger._short_labels(rows)
    assert prefix == "classifier 'x' − "
    assert labels == {"classifier 'x' − 'full'": "… − 'full'", "classifier 'x' − 'last'": "… − 'last'",
                      "ULMFiT − linear": "sanity: ULMFiT − linear"}
    assert ledger._short_labels(rows[:1])[0] == ""             # one claim: nothing to factor out


def test_seeds_phrase_groups_datasets_by_their_number_of_seeds():
    assert ledger.seeds_phrase({"trec6": 3, "ag_news_7k6": 3, "imdb": 1}) == "3 seeds on TREC-6 and AG (7.6k), 1 on IMDb"
    assert ledger.seeds_phrase({"imdb": 1}) == "1 seed on IMDb"


def _lineage(results: Path) -> None:
    """At `reduced`: a forward and a no-dropout LM; a classifier on a fine-tuned LM of the first, one on
    the second directly, and a 100-label run with other sizes; a probe LM that no classifier uses."""
    def record(kind: str, name: str, config: dict, metrics: dict, parents: tuple[str, ...] = ()) -> None:
        write_json(results / "reduced" / kind / f"{name}.json",
                   {"config": config, "metrics": metrics, "parents": list(parents),
                    "provenance": {"wall_seconds": 60.0, "device_name": "test"}})
    model = {"emb_size": 200, "hidden_size": 400, "n_layers": 3}
    record("pretrain", "lm", {"direction": "forward", "model": {**model, "weight_p": 0.2}}, {"train_tokens": 3_000_000})
    record("pretrain", "nodrop", {"direction": "forward", "model": {**model, "weight_p": 0.0}}, {"train_tokens": 3_000_000})
    record("pretrain", "probe", {"direction": "forward", "model": {**model, "weight_p": 0.2}}, {"train_tokens": 1_000})
    record("finetune_lm", "ft", {"dataset": "trec6", "direction": "forward", "variant": "full", "seed": 0,
                                 "train": {"epochs": 2}}, {"valid_perplexity": 20.0}, parents=("lm",))
    sizes = {"n_train": 4907, "n_valid": 545, "n_test": 500, "valid_error": 10.0, "test_error": 9.0}
    clf = {"dataset": "trec6", "direction": "forward", "variant": "freez + discr + stlr", "seed": 0,
           "task": {"max_tokens": 0}, "train": {"epochs": 12}}
    record("classifier", "c1", {**clf, "n_labelled": 0}, sizes, parents=("ft",))
    record("classifier", "c2", {**clf, "n_labelled": 0, "seed": 1}, sizes, parents=("nodrop",))
    record("classifier", "c3", {**clf, "n_labelled": 100}, {**sizes, "n_train": 100}, parents=("ft",))
    record("baseline", "tfidf", {"dataset": "trec6", "variant": "linear (TF-IDF)", "n_labelled": 0, "seed": 0},
           {"valid_error": 12.0, "test_error": 11.0})


def test_the_edition_box_is_written_from_the_records(tmp_path):
    shown = _book(tmp_path)
    _lineage(tmp_path)
    write_json(tmp_path / "gpu" / "claims" / "main_results.json", {"notebook": "01_main_results", "scale": "gpu",
                                                                  "claims": [], "runs": 0, "wall_seconds": 0, "devices": []})
    text = ledger.edition_box(tmp_path, shown)
    assert text.startswith("```{admonition} What this edition shows\n") and text.endswith("```\n")
    assert ("of the paper's 4 claims checked in these chapters, 2 hold, 1 is contradicted and 1 is "
            "inconclusive") in text                          # the sanity check is left out ...
    assert "The 1 sanity checks of our own setup are not among them." in text   # ... and said so
    assert "the `reduced` scale for all 2 chapters" in text
    assert "AWD-LSTMs (200/400, 3 layers) trained on 3,000,000 Wikipedia tokens: forward and forward without dropout" in text
    assert "| TREC-6 | 4,907 / 545 / 500 | all | 3 |" in text        # the fully labelled runs' sizes
    assert "| IMDb | — / — / — | all | 1 |" in text                   # no record of its sizes here
    assert "{doc}`their own page <gpu>`" in text


def test_the_edition_box_names_the_chapters_whose_seeds_differ(tmp_path):
    shown = _book(tmp_path)
    _claims_record(tmp_path, "reduced", "03_pretraining", [_on("imdb", "holds", -2.0, seeds=3)])
    _claims_record(tmp_path, "reduced", "07_bidirectional", [_on("imdb", "holds", -2.0, seeds=1)])
    shown["07_bidirectional"] = "reduced"
    assert "| IMDb | — / — / — | all | 1 (3 in Table 4: pretraining) |" in ledger.edition_box(tmp_path, shown)


def test_the_edition_box_names_the_chapters_that_leave_an_analysis_dataset_out(tmp_path):
    shown = _book(tmp_path)
    _claims_record(tmp_path, "reduced", "07_bidirectional", [_on("trec6", "holds", -2.0, seeds=3)])
    shown["07_bidirectional"] = "reduced"
    text = ledger.edition_box(tmp_path, shown)
    assert "| IMDb | — / — / — | all | 1 (not in Bidirectional: forward and backward) |" in text
    assert "| TREC-6 | — / — / — | all | 3 |" in text                 # in every chapter: nothing to add


def test_the_runs_page_has_a_section_per_chapter_and_every_run_of_its_scale(tmp_path):
    shown = _book(tmp_path)
    _lineage(tmp_path)
    text = ledger.runs_page(tmp_path, shown)
    section = text[text.index("(runs-01-main-results)=\n### Tables 2–3: main results"):text.index("(runs-03-pretraining)=")]
    assert "`results/reduced/claims/main_results.json` counts 7 runs" in section
    assert "{ref}`TREC-6 <runs-reduced-trec6>`" in section
    assert "## Every run at the `reduced` scale" in text and "(runs-reduced-trec6)=\n### TREC-6" in text
    assert "| `probe` | forward | yes | 1,000 | n/a | 1.0 |" in text          # every run, used or not
    assert "| `ft` | full | forward | 0 | 2 | 20.00 | 1.0 |" in text
    assert "| `c1` | freez + discr + stlr | full | all | 0 | 12 | 10.00 / 9.00 | 1.0 |" in text
    assert "| `c2` | freez + discr + stlr | pretrained only | all | 1 | 12 | 10.00 / 9.00 | 1.0 |" in text
    assert "| `c3` | freez + discr + stlr | full | 100 | 0 |" in text
    assert "| `baseline/tfidf` | linear (TF-IDF) | all | 0 | 12.00 / 11.00 | 1.0 |" in text   # other kinds too
