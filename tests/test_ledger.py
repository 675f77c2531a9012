"""The claims ledger: one section per chapter, at the scale the chapter shows."""
from __future__ import annotations

from pathlib import Path

from ulmfit_core import ledger
from ulmfit_core.fileio import write_json


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
