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
