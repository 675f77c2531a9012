"""Which seeds each study runs: the scale's, with more for the headline studies where the scale says so."""
import dataclasses

from ulmfit_core.harness.scales import get_scale
from ulmfit_core.harness.scales import seeds_for as _seeds

SMOKE = get_scale("smoke")


def test_main_results_take_the_main_seeds_and_every_other_study_the_seeds() -> None:
    task = SMOKE.task("imdb")
    wider = dataclasses.replace(SMOKE, tasks={**SMOKE.tasks, "imdb": dataclasses.replace(
        task, seeds=(0,), main_seeds=(0, 1, 2))})
    assert _seeds(wider, "imdb", None, main=True) == [0, 1, 2]
    assert _seeds(wider, "imdb", None) == [0]
    assert _seeds(wider, "imdb", [4], main=True) == [4]          # seeds asked for win
    assert _seeds(SMOKE, "imdb", None, main=True) == list(task.seeds)  # no main seeds: the seeds


def test_reduced_imdb_runs_three_seeds_for_its_headline_studies_only() -> None:
    """IMDb: three seeds for the main results, Table 4 and Figure 3, one for the other ablations."""
    from ulmfit_core.harness import gpu_plan  # noqa: PLC0415
    reduced = get_scale("reduced")
    for chapter, n_seeds in (("01_main_results", 3), ("02_low_shot", 3), ("03_pretraining", 3),
                             ("05_lm_finetuning", 1), ("07_bidirectional", 1)):
        labels = [label for label, _ in gpu_plan.CHAPTERS[chapter](reduced, "imdb", None)]
        assert {label.rsplit("seed ", 1)[1] for label in labels if "seed " in label} == {
            str(s) for s in range(n_seeds)}, chapter


def test_reduced_imdb_seed_lists() -> None:
    reduced = get_scale("reduced")
    assert _seeds(reduced, "imdb", None, main=True) == [0, 1, 2]
    assert _seeds(reduced, "imdb", None) == [0]
    assert _seeds(reduced, "trec6", None, main=True) == _seeds(reduced, "trec6", None) == [0, 1, 2]


# ------------------------------------------------------------------ schedule lengths chosen on validation

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ulmfit_core.fileio import read_json  # noqa: E402
from ulmfit_core.harness import studies  # noqa: E402
from ulmfit_core.harness import epoch_choice as choices  # noqa: E402
from ulmfit_core.harness.epoch_choice import levelled_off  # noqa: E402
from ulmfit_core.harness.verdicts import Effect  # noqa: E402


def test_levelled_off_is_the_shortest_schedule_no_longer_one_beats_by_a_standard_error() -> None:
    # 400 validation examples at ~20% error: one standard error is 2 points
    assert levelled_off({2: 30.0, 4: 21.0, 8: 20.0, 16: 19.5}, 400) == 4
    assert levelled_off({2: 30.0, 4: 25.0, 8: 20.0}, 400) == 8
    assert levelled_off({2: 20.0, 4: 21.0}, 400) == 2
    with pytest.raises(ValueError, match="at least one"):
        levelled_off({}, 10)


def test_the_epoch_choice_picks_what_its_table_says(tmp_path, monkeypatch) -> None:
    """With validation errors made up from each run's schedule, the choice of each of the three stages,
    its table and its record agree; every LM candidate is judged with the longest classifier (8 epochs)."""
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path))
    ulmfit = studies.ULMFIT
    made_up = {(ulmfit, 1, 8): 40.0, (ulmfit, 2, 8): 30.0, (ulmfit, 4, 8): 31.0, (ulmfit, 2, 5): 31.0,
               ("from scratch", 0, 5): 60.0, ("from scratch", 0, 8): 45.0, ("from scratch", 0, 16): 44.0}
    asked = []

    def ensure(run, device="auto"):
        lm_epochs = run.parents[0].config["train"]["epochs"] if run.parents else 0
        key = (run.config["variant"], lm_epochs, run.config["train"]["epochs"])
        asked.append(key)
        return {"metrics": {"valid_error": made_up[key], "n_valid": 40}}

    monkeypatch.setattr(studies, "ensure", ensure)
    table, choice = studies.epoch_choice("smoke", "trec6", device="cpu")
    assert set(asked) == set(made_up)   # only these runs, the LM ones at 8 epochs; LM and scratch extended
    assert choice == {"lm_epochs": 2, "clf_epochs": 5, "scratch_epochs": 8}  # the extensions: within one SE
    chosen = table[table["chosen"] == "yes"]
    assert dict(zip(chosen["schedule"], chosen["epochs"])) == {"LM fine-tuning": 2, "classifier": 5,
                                                               "from scratch": 8}
    record = read_json(tmp_path / "smoke" / "choices" / "trec6.json")
    assert record["choice"] == choice and record["n_valid"] == 40 and len(record["table"]) == 8
    assert record["at_longest"] == [] and record["extensions"] == choices.EXTENSIONS


def test_a_stage_whose_longest_candidate_wins_is_extended_until_it_levels_off_or_the_cap() -> None:
    """Validation error falling with every doubling: the stage is extended EXTENSIONS times, and the
    choice at the longest schedule tried is marked; errors that level off stop the extension."""
    scale = get_scale("smoke")

    def falling(run):                                   # error halves with each doubling of the epochs
        return {"metrics": {"valid_error": 80.0 / run.config["train"]["epochs"], "n_valid": 1000}}

    runs, choice = choices.walk(scale, "trec6", falling)
    scratch = [n for stage, n, _ in runs if stage == "from scratch"]
    first = list(choices.clf_candidates(scale, "trec6"))
    assert scratch == first + [first[-1] * 2 ** k for k in range(1, choices.EXTENSIONS + 1)]
    assert choice["scratch_epochs"] == scratch[-1] and "from scratch" in choices.at_longest(runs, choice)

    def flat(run):
        return {"metrics": {"valid_error": 20.0, "n_valid": 1000}}

    runs, choice = choices.walk(scale, "trec6", flat)
    assert [n for stage, n, _ in runs if stage == "from scratch"] == first and not choices.at_longest(runs, choice)
    missing = choices.walk(scale, "trec6", lambda run: falling(run) if run.config["train"]["epochs"] <= first[-1]
                           and run.config["variant"] == "from scratch" else None)
    assert "scratch_epochs" not in missing[1]          # the extension is planned, not yet recorded
    assert [n for stage, n, _ in missing[0] if stage == "from scratch"] == first + [first[-1] * 2]


def test_the_verdict_table_has_one_row_per_claim_and_marks_sanity_checks() -> None:
    effect = dataclasses.asdict(Effect(-1.5, -2.5, -0.5, 3, 500, 1.2, 0.4))
    claims = [studies.Claim("main_results", "ULMFiT − from scratch", "trec6", "test", -2.0, effect, "holds", ""),
              studies.Claim("main_results", "ULMFiT − linear baseline", "trec6", "test", float("nan"), effect,
                            "holds", "", sanity=True)]
    table = studies.verdict_table(claims)
    assert len(table) == 2 and list(table["verdict"]) == ["holds", "holds"]
    assert table["claim"][1] == "sanity: ULMFiT − linear baseline" and table["paper"][1] == "n/a"
    assert table["ours [95% CI]"][0] == "−1.50 [−2.50, −0.50]" and table["smallest detectable"][0] == "1.20"
    assert np.all(table["seeds"] == 3)


def _fake_lm_record(run, device="auto") -> dict:
    """A pretraining record whose perplexities tell the runs apart (nothing is trained)."""
    ppl = {"forward": 40.0, "backward": 41.0}[run.config["direction"]] + (run.config["model"]["weight_p"] > 0)
    return {"metrics": {"train_tokens": 10, "vocab_size": 5, "valid_perplexity": ppl,
                        "wikitext103_test_perplexity": ppl + 10}}


@pytest.mark.parametrize("scale, rows", [("reduced", 2), ("paper", 3)])
def test_the_perplexity_table_lists_a_forward_lm_that_is_also_the_vanilla_one_once(monkeypatch, scale,
                                                                                    rows) -> None:
    """At a scale that pretrains without dropout the vanilla LM is the forward LM: one row, which says so."""
    monkeypatch.setattr(studies, "ensure", _fake_lm_record)
    ours = studies.perplexity_table(scale)
    ours = ours[ours["LM"].str.startswith("ours")]
    assert len(ours) == rows
    shared = ours["LM"].str.contains("= vanilla LM", regex=False)
    assert shared.sum() == (rows == 2)
    assert ours["LM"].str.len().max() <= 50             # pandas' column width: the book shows it whole
    if rows == 3:
        vanilla = ours[ours["LM"].str.contains("vanilla")]
        assert vanilla["valid perplexity (Wikipedia)"].tolist() == [40.0]
