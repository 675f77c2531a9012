"""Which seeds each study runs: the scale's, with more for the main results where the scale says so."""
import dataclasses

from ulmfit_core.scales import get_scale
from ulmfit_core.studies import _seeds

SMOKE = get_scale("smoke")


def test_main_results_take_the_main_seeds_and_every_other_study_the_seeds() -> None:
    task = SMOKE.task("imdb")
    wider = dataclasses.replace(SMOKE, tasks={**SMOKE.tasks, "imdb": dataclasses.replace(
        task, seeds=(0,), main_seeds=(0, 1, 2))})
    assert _seeds(wider, "imdb", None, main=True) == [0, 1, 2]
    assert _seeds(wider, "imdb", None) == [0]
    assert _seeds(wider, "imdb", [4], main=True) == [4]          # seeds asked for win
    assert _seeds(SMOKE, "imdb", None, main=True) == list(task.seeds)  # no main seeds: the seeds


def test_reduced_imdb_runs_three_seeds_for_its_main_result_only() -> None:
    reduced = get_scale("reduced")
    assert _seeds(reduced, "imdb", None, main=True) == [0, 1, 2]
    assert _seeds(reduced, "imdb", None) == [0]
    assert _seeds(reduced, "trec6", None, main=True) == _seeds(reduced, "trec6", None) == [0, 1, 2]
