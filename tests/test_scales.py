"""Which data each scale runs: the paper's datasets and corpus at ``paper``, the stand-ins below it."""
from __future__ import annotations

import pytest

from ulmfit_core import corpus
from ulmfit_core.config import ConfigError
from ulmfit_core.corpus import WIKITEXT103_TRAIN
from ulmfit_core.harness import datasets as D
from ulmfit_core.harness import experiments as E
from ulmfit_core.harness.paper import LABEL, PAPER_KEY, paper_numbers
from ulmfit_core.harness.scales import SCALES, Scale, get_scale

PAPER = get_scale("paper")


def test_paper_scale_runs_every_dataset_complete_with_table_1_sizes() -> None:
    assert PAPER.datasets() == ["imdb", "trec6", "ag_news_120k", "dbpedia_560k", "yelp_bi_560k", "yelp_full_650k"]
    assert PAPER.analysis() == ["imdb", "trec6", "ag_news_120k"]
    table1 = paper_numbers()["table1"]["values"]
    for name in PAPER.datasets():
        info, key = D.dataset_info(name), PAPER_KEY[name]
        assert len(info.label_names) == table1["classes"][key]
        assert info.split_sizes["train"] == pytest.approx(table1["train examples"][key], rel=0.01)
        assert PAPER.task(name).n_train == PAPER.task(name).n_test == 0          # nothing subsampled
    assert PAPER.task("imdb").unlabelled == 50_000                               # §5: IMDb's unlabelled reviews
    assert all(max(PAPER.task(d).low_shot, default=0) < 0.9 * D.dataset_info(d).split_sizes["train"]
               for d in PAPER.analysis())


@pytest.mark.parametrize("name", ["smoke", "reduced", "gpu"])
def test_smaller_scales_keep_the_stand_ins(name: str) -> None:
    assert SCALES[name].datasets() == ["imdb", "trec6", "ag_news_7k6", "dbpedia_14k", "yelp_bi", "yelp_full"]
    assert SCALES[name].own("ag_news_120k") == "ag_news_7k6" and PAPER.own("ag_news_7k6") == "ag_news_120k"


def test_every_table_label_says_which_data_it_shows() -> None:
    labels = [LABEL[d] for scale in SCALES.values() for d in scale.datasets()]
    assert len(set(labels)) == len(set(d for scale in SCALES.values() for d in scale.datasets()))
    assert LABEL["ag_news_120k"] == "AG (120k)" and LABEL["ag_news_7k6"] == "AG (7.6k)"


def test_paper_scale_pretrains_on_wikitext103(tmp_path, monkeypatch) -> None:
    run = E.pretrain_run(PAPER)
    assert run.config["corpus"] == {"name": "wikitext103"}
    assert E.pretrain_run(get_scale("smoke")).config["corpus"] == {"shards": [0], "words": 40_000}
    path = tmp_path / WIKITEXT103_TRAIN
    path.parent.mkdir(parents=True)
    path.write_text(" \n = A = \n \n Alpha . \n = B = \n Beta . \n", encoding="utf-8")
    monkeypatch.setenv("ULMFIT_DATA", str(tmp_path))
    monkeypatch.setattr(corpus, "WIKITEXT103_TRAIN_LINES", 6)
    assert E.corpus_texts(run.config["corpus"]) == [" = A = \n \n Alpha . ", " = B = \n Beta . "]


def test_unknown_pretraining_corpus_is_refused() -> None:
    with pytest.raises(ConfigError, match="pretrain_corpus"):
        Scale(name="x", pretrain_corpus="books")


def test_the_gpu_scale_pretrains_with_the_reduced_scales_chosen_rate_and_dropout() -> None:
    """The gpu scale spends no GPU time on pretraining probes: it carries over the recipe the reduced
    scale chose on Wikipedia validation, for several passes, keeping the best one."""
    from ulmfit_core.harness import lm_recipe  # noqa: PLC0415
    chosen, gpu = lm_recipe.chosen(SCALES["reduced"]), SCALES["gpu"]
    assert (gpu.pretrain_lr, gpu.pretrain_drop_mult) == (chosen.lr, chosen.drop_mult)
    assert gpu.pretrain_epochs > 1 and gpu.pretrain_keep_best
    run = E.pretrain_run(gpu)
    assert run.config["train"]["lr"] == chosen.lr and run.config["early_stopping"] is True


def test_the_reduced_scale_pretrains_with_the_recipe_chosen_on_wikipedia_validation() -> None:
    from ulmfit_core.harness import lm_recipe  # noqa: PLC0415
    reduced = SCALES["reduced"]
    assert reduced.pretrain == lm_recipe.chosen(reduced)
    assert E.pretrain_run(reduced).id == lm_recipe.final_runs(reduced)["forward"].id


def test_the_reduced_scales_epochs_are_the_choices_recorded_on_validation(tmp_path, monkeypatch) -> None:
    """Every recorded schedule-length choice (results/<scale>/choices/) is what the scale's runs use; a
    choice the scale does not follow is named."""
    from ulmfit_core.fileio import write_json  # noqa: PLC0415
    from ulmfit_core.harness import epoch_choice  # noqa: PLC0415
    reduced = SCALES["reduced"]
    assert epoch_choice.mismatches(reduced) == []
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path))
    other = {**epoch_choice.used(reduced, "trec6"), "lm_epochs": 99}
    write_json(tmp_path / "reduced" / "choices" / "trec6.json",
               {"choice": other, "candidates": epoch_choice.candidates(reduced, "trec6"),
                "extensions": epoch_choice.EXTENSIONS})
    assert [m.split(":")[0] for m in epoch_choice.mismatches(reduced)] == ["trec6"]


def test_classifier_dropouts_are_the_papers_times_the_scales_multiplier(tmp_path, monkeypatch) -> None:
    """Every classifier arm (ULMFiT and from scratch) gets the paper's dropouts × ``clf_drop_mult``
    (fastai's classifier ``drop_mult`` of 0.5 at ``reduced``); a schedule choice made with other dropouts
    is no longer the scale's, so its datasets wait for a new one."""
    import dataclasses  # noqa: PLC0415
    from ulmfit_core.awd_lstm import AWDLSTMConfig  # noqa: PLC0415
    from ulmfit_core.fileio import write_json  # noqa: PLC0415
    from ulmfit_core.harness import epoch_choice  # noqa: PLC0415
    reduced, paper = SCALES["reduced"], AWDLSTMConfig()
    for run in (E.ulmfit_runs(reduced, "trec6", 0)[2], E.classifier_run(reduced, "trec6", 0, None, "from scratch")):
        model = run.config["model"]
        assert model["weight_p"] == paper.weight_p * 0.5 and model["input_p"] == paper.input_p * 0.5
    assert E.ulmfit_runs(SCALES["paper"], "trec6", 0)[2].config["model"]["weight_p"] == paper.weight_p
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path))
    write_json(tmp_path / "reduced" / "choices" / "trec6.json",
               {"choice": epoch_choice.used(reduced, "trec6"), "candidates": epoch_choice.candidates(reduced, "trec6"),
                "extensions": epoch_choice.EXTENSIONS})
    assert epoch_choice.recorded_choice(reduced, "trec6") == epoch_choice.used(reduced, "trec6")
    other = dataclasses.replace(reduced, clf_drop_mult=1.0)
    assert epoch_choice.recorded_choice(other, "trec6") is None and epoch_choice.pending(other, "trec6")
    with pytest.raises(ConfigError, match="clf_drop_mult"):
        dataclasses.replace(reduced, clf_drop_mult=-0.5)
