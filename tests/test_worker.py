"""The background worker: it makes the plan's missing runs in order, never twice, passes over a run
another process is making, and honours its time limit."""
from __future__ import annotations

import pytest

from ulmfit_core.fileio import read_json, write_json
from ulmfit_core.harness import experiments, gpu_plan, worker
from ulmfit_core.harness.experiments import Run, linear_run
from ulmfit_core.harness.scales import get_scale

SMOKE = get_scale("smoke")


@pytest.fixture(autouse=True)
def _results(monkeypatch, tmp_path):
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))


def _recorder(made: list[str]):
    def make(run: Run, device: str = "auto") -> dict:
        for parent in run.parents:
            make(parent, device)
        if not run.record_path.exists():
            made.append(run.id)
            write_json(run.record_path, {"id": run.id, "kind": run.kind,
                                         "metrics": {"valid_error": 10.0, "n_valid": 100}})
        return read_json(run.record_path)
    return make


def test_the_worker_makes_every_planned_run_once_in_order() -> None:
    made: list[str] = []
    kw = dict(chapters=["01", "07"], datasets=["trec6"], make=_recorder(made), say=lambda m: None)
    targets = worker.work(SMOKE, **kw)
    planned = gpu_plan.plan(SMOKE, ["01", "07"], ["trec6"], kinds=gpu_plan.ALL_KINDS)
    assert targets == len(planned)
    assert made == list(dict.fromkeys(r.id for t in planned for r in gpu_plan.closure(t.run)))
    assert "baseline" in {r.kind for t in planned for r in gpu_plan.closure(t.run)}
    assert worker.work(SMOKE, **kw) == 0 and len(made) == len(set(made))   # a finished run is never redone


def test_a_run_another_process_is_making_is_passed_over() -> None:
    targets = gpu_plan.plan(SMOKE, ["01"], ["trec6"], kinds=gpu_plan.ALL_KINDS)
    first = targets[0]
    assert not worker.busy(first.run)
    with experiments._claim(first.run):            # as another process's ensure() holds it
        assert worker.busy(first.run)
        target, waiting = worker.next_target(targets)
        assert waiting >= 1 and target is not None and first.run not in gpu_plan.closure(target.run)
    assert not worker.busy(first.run)
    assert worker.next_target(targets)[0] == first


def test_a_target_whose_recorded_lm_another_process_is_making_again_is_passed_over() -> None:
    """A recorded LM whose weights were lost is made again under its lock (experiments.weights_of): the
    targets that need it wait, as they do for a run without a record."""
    targets = gpu_plan.plan(SMOKE, ["01"], ["trec6"], kinds=gpu_plan.ALL_KINDS)
    needs_lm = [t for t in targets if len(gpu_plan.closure(t.run)) > 1]
    lm = needs_lm[0].run.parents[0]
    write_json(lm.record_path, {"id": lm.id, "kind": lm.kind, "metrics": {}})
    with experiments._claim(lm):
        target, waiting = worker.next_target(targets)
        assert waiting >= 1 and target is not None and lm not in gpu_plan.closure(target.run)
    assert worker.next_target(targets)[0] == next(t for t in targets if worker.missing(t))


def test_no_target_starts_after_the_time_limit() -> None:
    made: list[str] = []
    assert worker.work(SMOKE, datasets=["trec6"], hours=0, make=_recorder(made), say=lambda m: None) == 0
    assert made == []


def test_the_worker_makes_real_linear_baselines() -> None:
    assert worker.main(["--scale", "smoke", "--kinds", "baseline", "--chapters", "01", "--datasets", "trec6"]) == 0
    record = read_json(linear_run(SMOKE, "trec6").record_path)
    assert record["kind"] == "baseline" and 0 <= record["metrics"]["test_error"] <= 100


def test_a_dataset_waits_for_its_schedule_choice_where_the_scale_takes_its_epochs_from_it() -> None:
    """With epochs taken from the choice, only trec6's choice candidates are planned at first; once they
    are made the worker records the choice, and trec6's other runs still wait, since the scale does not
    use it yet. The scale set to the choice plans them."""
    import dataclasses  # noqa: PLC0415
    from ulmfit_core.harness import epoch_choice  # noqa: PLC0415
    following = dataclasses.replace(SMOKE, epochs_from_choice=True)
    first = gpu_plan.plan(following, datasets=["trec6"], kinds=gpu_plan.ALL_KINDS)
    assert {t.chapter for t in first if t.run.kind != "baseline"} == {gpu_plan.EPOCH_CHOICE}
    assert any(t.run.kind == "baseline" for t in first)              # no epochs: the baseline need not wait
    said: list[str] = []
    worker.work(following, datasets=["trec6"], make=_recorder([]), say=said.append)
    choice = epoch_choice.recorded_choice(following, "trec6")
    assert choice == {"lm_epochs": 1, "clf_epochs": 5, "scratch_epochs": 5}   # equal errors: the shortest
    assert any("schedule choice of trec6 recorded" in m and "wait" in m for m in said)
    assert "held back" in said[-1] and "trec6" in said[-1]
    epoch_choice.choice_path(following, "trec6").unlink()          # candidates recorded, choice not (yet)
    assert worker.work(following, datasets=["trec6"], make=_recorder([]), say=said.append) == 0
    assert epoch_choice.recorded_choice(following, "trec6") == choice
    only = gpu_plan.plan(following, chapters=["01"], datasets=["trec6"])   # a chapter asked for: choice first
    assert only and {t.chapter for t in only} == {gpu_plan.EPOCH_CHOICE}
    assert {t.chapter for t in gpu_plan.plan(following, datasets=["trec6"])} == {gpu_plan.EPOCH_CHOICE}
    task = dataclasses.replace(following.task("trec6"), lm_epochs=1, clf_epochs=5)
    applied = dataclasses.replace(following, tasks={**following.tasks, "trec6": task})
    assert not epoch_choice.pending(applied, "trec6")
    planned = gpu_plan.plan(applied, datasets=["trec6"])
    assert "03_pretraining" in {t.chapter for t in planned}
    ulmfit = experiments.ulmfit_runs(applied, "trec6", 0)[2]         # the choice's own run serves the chapters
    assert [t.chapter for t in planned if t.run.id == ulmfit.id] == [gpu_plan.EPOCH_CHOICE]
