"""The experiment runner: runs are named by their configuration, recorded once, never recomputed."""
from __future__ import annotations

import dataclasses
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ulmfit_core.fileio import read_json, write_json
from ulmfit_core.settings import data_dir
from ulmfit_core.vocab import Vocab
from ulmfit_core import train as train_module
from ulmfit_core.awd_lstm import AWDLSTMConfig, LanguageModel
from ulmfit_core.harness import experiments, worker
from ulmfit_core.harness.experiments import classifier_run, ensure, finetune_run, pretrain_run, ulmfit_runs
from ulmfit_core.harness.paper import PAPER_KEY
from ulmfit_core.harness.scales import SCALES, TaskScale, get_scale

SMOKE = get_scale("smoke")


def test_run_ids_follow_the_configuration() -> None:
    pre, lm, clf = ulmfit_runs(SMOKE, "trec6", 0)
    assert (pre.id, lm.id, clf.id) == tuple(r.id for r in ulmfit_runs(SMOKE, "trec6", 0))
    assert clf.id != ulmfit_runs(SMOKE, "trec6", 1)[2].id                       # seed
    assert clf.id != classifier_run(SMOKE, "trec6", 0, lm, "freez").id           # variant
    assert lm.id != finetune_run(SMOKE, "trec6", 0, pretrain_run(SMOKE, dropout=False)).id  # parent
    assert pre.id != pretrain_run(SMOKE, "backward").id
    assert len({pre.id, lm.id, clf.id}) == 3


def test_adding_a_seed_or_a_low_shot_size_keeps_run_names() -> None:
    task = SMOKE.task("trec6")
    wider = dataclasses.replace(SMOKE, tasks={**SMOKE.tasks, "trec6": dataclasses.replace(
        task, seeds=(0, 1, 2, 3), low_shot=(10, 20))})
    assert ulmfit_runs(wider, "trec6", 0)[2].id == ulmfit_runs(SMOKE, "trec6", 0)[2].id
    fewer = dataclasses.replace(SMOKE, tasks={**SMOKE.tasks, "trec6": dataclasses.replace(task, n_train=300)})
    assert ulmfit_runs(fewer, "trec6", 0)[2].id != ulmfit_runs(SMOKE, "trec6", 0)[2].id


def test_lm_runs_on_the_same_text_are_one_run() -> None:
    """Semi-supervised LMs see every training text whatever the number of labels; supervised ones on all
    the labels are the task's LM where the scale adds no unlabelled text (TREC-6), and differ where it does."""
    pre = pretrain_run(SMOKE)
    task_lm = finetune_run(SMOKE, "trec6", 0, pre)
    assert finetune_run(SMOKE, "trec6", 0, pre, n_labelled=60).id == task_lm.id
    assert finetune_run(SMOKE, "trec6", 0, pre, lm_text="labelled").id == task_lm.id
    assert finetune_run(SMOKE, "trec6", 0, pre, n_labelled=60, lm_text="labelled").id != task_lm.id
    assert SMOKE.task("imdb").unlabelled
    assert (finetune_run(SMOKE, "imdb", 0, pre, lm_text="labelled").id
            != finetune_run(SMOKE, "imdb", 0, pre).id)
    with pytest.raises(ValueError, match="unknown LM text"):
        finetune_run(SMOKE, "trec6", 0, pre, lm_text="all")


def test_unknown_variant_and_scale_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown classifier fine-tuning"):
        classifier_run(SMOKE, "trec6", 0, None, "freeze")
    with pytest.raises(ValueError, match="unknown LM fine-tuning"):
        finetune_run(SMOKE, "trec6", 0, None, "half")
    with pytest.raises(ValueError, match="unknown scale"):
        get_scale("huge")
    with pytest.raises(KeyError, match="no settings for dataset"):
        SMOKE.task("sst2")


def test_every_scale_covers_the_analysis_datasets() -> None:
    for scale in SCALES.values():
        assert [PAPER_KEY[d] for d in scale.analysis()] == ["imdb", "trec6", "ag"]
        for dataset in scale.analysis():
            assert isinstance(scale.task(dataset), TaskScale)
            assert scale.task(dataset).clf_epochs >= 5, "gradual unfreezing needs 5 epochs for 5 groups"


@pytest.mark.slow
@pytest.mark.skipif(not (data_dir() / "trec6").exists(), reason="shared data folder not found")
def test_ensure_records_once_and_never_recomputes(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    pre, lm, clf = ulmfit_runs(SMOKE, "trec6", 0)
    record = ensure(clf, device="cpu")
    for run in (pre, lm, clf):                       # parents were computed and recorded first
        assert run.record_path.exists()
    assert read_json(clf.record_path) == record
    assert record["parents"] == [lm.id] and record["scale"] == "smoke"
    assert set(record["provenance"]) >= {"device", "wall_seconds", "git_revision", "versions", "started"}
    assert 0 <= record["metrics"]["valid_error"] <= 100 and record["metrics"]["n_test"] == 200
    assert clf.preds_path.exists() and not clf.work_dir.exists()   # checkpoints removed once recorded

    def refuse(*args, **kwargs):
        raise AssertionError("a finished run was recomputed")
    monkeypatch.setattr(experiments, "_do_classifier", refuse)
    monkeypatch.setattr(experiments, "_do_finetune", refuse)
    monkeypatch.setattr(experiments, "_do_pretrain", refuse)
    assert ensure(clf) == record


def test_two_callers_asking_for_one_run_compute_it_once(tmp_path, monkeypatch) -> None:
    """Notebooks executed side by side share runs: the second caller waits and reads the record."""
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    calls = []

    def slow(run, device, progress):
        calls.append(run.id)
        time.sleep(0.5)
        return {"valid_error": 12.5}, [], {}

    monkeypatch.setattr(experiments, "_do_classifier", slow)
    run = classifier_run(SMOKE, "trec6", 0, None, "from scratch")
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: ensure(run, "cpu"), range(2))
    assert calls == [run.id] and first == second and first["metrics"] == {"valid_error": 12.5}


def test_small_low_shot_sets_are_repeated_to_the_scales_epoch_size() -> None:
    """Figure 3 at reduced and gpu: sets under 1,000 labels are repeated until an epoch holds 1,000 examples;
    the 1,000-label runs, the whole training part, smoke and paper keep their runs (and ids) unchanged."""
    reduced = get_scale("reduced")

    def repeat(n: int, scale=reduced) -> int | None:
        return classifier_run(scale, "trec6", 0, None, "from scratch", n).config.get("repeat")

    assert [repeat(n) for n in (100, 300, 500, 1000, 2500, 0)] == [10, 4, 2, None, None, None]
    assert repeat(60, SMOKE) is None and repeat(100, get_scale("paper")) is None
    assert repeat(100, get_scale("gpu")) == 10
    assert experiments.low_shot_repeat(reduced.task("ag_news_7k6"), 100) == 10
    plain = dataclasses.replace(reduced, tasks={**reduced.tasks, "trec6": dataclasses.replace(
        reduced.task("trec6"), low_shot_examples=0)})
    assert classifier_run(plain, "trec6", 0, None, "from scratch", 1000).id == \
        classifier_run(reduced, "trec6", 0, None, "from scratch", 1000).id
    assert classifier_run(plain, "trec6", 0, None, "from scratch", 100).id != \
        classifier_run(reduced, "trec6", 0, None, "from scratch", 100).id


def test_a_repeated_low_shot_set_trains_each_epoch_on_every_copy(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    task = dataclasses.replace(SMOKE.task("trec6"), low_shot_examples=150, clf_epochs=1)
    scale = dataclasses.replace(SMOKE, tasks={**SMOKE.tasks, "trec6": task})
    run = classifier_run(scale, "trec6", 0, None, "from scratch", 60)
    assert run.config["repeat"] == 3
    record = ensure(run, device="cpu")
    assert record["metrics"]["n_train"] == 60                  # distinct labelled examples
    assert [h["items"] for h in record["history"]] == [180]    # each epoch sees every copy


def test_lost_lm_weights_are_made_again_once_under_the_runs_lock(tmp_path, monkeypatch) -> None:
    """A recorded LM whose weights are gone (a fresh cache) is made again while its lock is held, so that
    a second process needing it waits (the worker passes over it) instead of making it too; later calls
    read what the first one left."""
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    pre = pretrain_run(SMOKE)
    held: list[bool] = []

    def remake(run, device, progress):
        held.append(worker.busy(run))
        vocab = Vocab.build({"word": 5})
        experiments._finish_lm(run, LanguageModel(len(vocab), AWDLSTMConfig.from_dict(run.config["model"])), vocab)

    monkeypatch.setattr(experiments, "_do_pretrain", remake)
    state, vocab = experiments.weights_of(pre, "cpu")
    assert held == [True] and not worker.busy(pre)
    assert "word" in vocab.stoi and state
    assert experiments.weights_of(pre, "cpu")[1].itos == vocab.itos and held == [True]   # not made twice
    monkeypatch.setattr(experiments, "_do_pretrain", lambda run, device, progress: None)
    (pre.work_dir / "model.safetensors").unlink()
    with pytest.raises(RuntimeError, match="left no weights"):
        experiments.weights_of(pre, "cpu")


def test_a_runs_wall_time_leaves_out_making_its_lost_parent_again(tmp_path, monkeypatch) -> None:
    """A child whose recorded LM parent lost its weights makes the parent again before its own clock
    starts, so its record's wall time (and every estimate made from it) is its own."""
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    pre, lm, _ = ulmfit_runs(SMOKE, "trec6", 0)
    write_json(pre.record_path, {"id": pre.id, "kind": pre.kind, "metrics": {}})

    def remake(run, device, progress):
        time.sleep(1.0)
        vocab = Vocab.build({"word": 5})
        experiments._finish_lm(run, LanguageModel(len(vocab), AWDLSTMConfig.from_dict(run.config["model"])), vocab)

    def child(run, device, progress):
        experiments.weights_of(run.parents[0], device)
        return {}, [], {}

    monkeypatch.setattr(experiments, "_do_pretrain", remake)
    monkeypatch.setattr(experiments, "_do_finetune", child)
    record = ensure(lm, device="cpu")
    assert (pre.work_dir / "model.safetensors").exists()                 # the parent was made again
    assert record["provenance"]["wall_seconds"] < 0.5


def test_from_scratch_trains_for_its_own_validated_epochs() -> None:
    """TREC-6 at reduced: validation chose 12 epochs for ULMFiT (and every Table 7 row) and 20 from scratch
    (``results/reduced/choices/trec6.json``; test_scales checks the scale against it)."""
    reduced = get_scale("reduced")
    task = reduced.task("trec6")
    assert (task.clf_epochs, task.scratch_epochs) == (12, 20)
    epochs = lambda run: run.config["train"]["epochs"]  # noqa: E731
    assert epochs(classifier_run(reduced, "trec6", 0, None, "from scratch")) == 20
    assert epochs(ulmfit_runs(reduced, "trec6", 0)[2]) == 12
    assert epochs(classifier_run(reduced, "trec6", 0, None, "full")) == 12
    assert epochs(classifier_run(reduced, "imdb", 0, None, "from scratch")) == reduced.task("imdb").clf_epochs
    tuned = classifier_run(reduced, "trec6", 0, None, "from scratch", changes={"epochs": 30, "lr": 2e-3})
    assert (epochs(tuned), tuned.config["train"]["lr"]) == (30, 2e-3)
    assert classifier_run(reduced, "trec6", 0, None, "from scratch", changes={"epochs": 20}).id == \
        classifier_run(reduced, "trec6", 0, None, "from scratch").id


def test_git_revision_names_the_commit_of_a_copy_ahead_of_git(monkeypatch):
    """A copy of the code made for another machine (no git history, or a stale one) records the commit
    named by ``ULMFIT_REVISION``; without it, git's answer, or ``unknown`` where git cannot answer."""
    monkeypatch.delenv(experiments.REVISION_ENV, raising=False)
    assert experiments.git_revision().split("+")[0] == subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=experiments.Path(experiments.__file__).parent,
        capture_output=True, text=True, check=True).stdout.strip()
    monkeypatch.setenv(experiments.REVISION_ENV, "7df3c6c")
    assert experiments.git_revision() == "7df3c6c"                 # ahead of the (possibly stale) git
    monkeypatch.delenv(experiments.REVISION_ENV)
    for failure in (FileNotFoundError("git"), subprocess.CalledProcessError(128, "git")):
        def fail(*args, _failure=failure, **kwargs):
            raise _failure
        monkeypatch.setattr(experiments.subprocess, "run", fail)
        assert experiments.git_revision() == "unknown"


def test_provenance_names_the_instruction_set_and_the_variables_that_pin_it(monkeypatch) -> None:
    """A record says which CPU kernels computed it: the last digits depend on them (book: Determinism)."""
    started = experiments.dt.datetime.now(experiments.dt.timezone.utc)
    for name in experiments.CPU_NUMERICS_ENV:
        monkeypatch.delenv(name, raising=False)
    plain = experiments.provenance("cpu", started, 1.0, [], "rev")
    assert plain["cpu_numerics_env"] == {}
    assert plain["cpu_capability"] == experiments.torch.backends.cpu.get_cpu_capability()
    monkeypatch.setenv("MKL_CBWR", "AVX2")
    assert experiments.provenance("cpu", started, 1.0, [], "rev")["cpu_numerics_env"] == {"MKL_CBWR": "AVX2"}


def test_pretraining_can_keep_its_best_validation_epoch(tmp_path, monkeypatch) -> None:
    """A scale with ``pretrain_keep_best`` records the pretraining epoch of lowest validation perplexity
    (early stopping); the others keep their run names and their last epoch."""
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    assert "early_stopping" not in pretrain_run(SMOKE).config
    scale = dataclasses.replace(SMOKE, pretrain_epochs=3, pretrain_lr=0.05, pretrain_keep_best=True)
    run = pretrain_run(scale)
    assert run.config["early_stopping"] is True and run.id != pretrain_run(SMOKE).id
    asked = []
    real = experiments.pretrain_lm

    def spy(*args, **kwargs):
        asked.append(kwargs.get("keep_best"))
        return real(*args, **kwargs)
    monkeypatch.setattr(experiments, "pretrain_lm", spy)
    record = ensure(run, device="cpu")
    assert asked == [True]                         # training itself restores the best epoch's weights
    curve = [h["valid_perplexity"] for h in record["history"]]
    assert len(curve) == 3
    assert record["metrics"]["epoch_kept"] == 1 + curve.index(min(curve))
    assert record["metrics"]["valid_perplexity"] == min(curve)


def test_lm_fine_tuning_has_its_own_dropouts_and_the_vanilla_lm_none() -> None:
    """Target LM fine-tuning uses fastai's LM dropouts whatever multiplier pretraining chose; Table 5's
    vanilla LM is fine-tuned without dropout too."""
    from ulmfit_core.awd_lstm import lm_dropouts  # noqa: PLC0415
    low = dataclasses.replace(SMOKE, pretrain_drop_mult=0.1)
    pre = pretrain_run(low)
    assert pre.config["model"]["weight_p"] == pytest.approx(0.02)
    assert finetune_run(low, "trec6", 0, pre).config["model"] == lm_dropouts(SMOKE.model, 1.0).to_dict()
    vanilla = finetune_run(low, "trec6", 0, pretrain_run(low, dropout=False), dropout=False)
    assert vanilla.config["model"] == lm_dropouts(SMOKE.model, 0.0).to_dict()
    assert vanilla.id != finetune_run(low, "trec6", 0, pretrain_run(low, dropout=False)).id


def test_target_lm_fine_tuning_checkpoints_inside_an_epoch(tmp_path, monkeypatch) -> None:
    """An LM fine-tuning run checkpoints about every CHECKPOINT_SECONDS inside an epoch, as pretraining
    does, so that a long epoch cut off resumes from its last checkpoint (exactness: tests/test_train.py)."""
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(experiments, "CHECKPOINT_SECONDS", 3 * 1.1)     # three CPU batches
    asked, saved = [], []
    real_finetune, real_save = experiments.finetune_lm, train_module.save_checkpoint

    def spy(*args, **kwargs):
        asked.append(kwargs.get("checkpoint_every"))
        return real_finetune(*args, **kwargs)

    def save(ckpt_dir, epoch, *args, **kwargs):
        saved.append((epoch, kwargs.get("step")))
        return real_save(ckpt_dir, epoch, *args, **kwargs)
    monkeypatch.setattr(experiments, "finetune_lm", spy)
    monkeypatch.setattr(train_module, "save_checkpoint", save)
    ensure(finetune_run(SMOKE, "trec6", 0, None), device="cpu")
    assert asked == [3]
    assert any(step for _, step in saved)                          # at least one inside an epoch
