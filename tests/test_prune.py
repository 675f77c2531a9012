"""Pruning superseded records: what a chapter reads (and its parents) stays, every other fine-tuned LM,
classifier and baseline record of the scale goes with its predictions, pretraining records stay."""
from __future__ import annotations

import pytest

from ulmfit_core.fileio import write_json
from ulmfit_core.harness import gpu_plan, prune
from ulmfit_core.harness.experiments import Run, classifier_run, finetune_run, pretrain_run
from ulmfit_core.harness.scales import get_scale

SMOKE = get_scale("smoke")


@pytest.fixture(autouse=True)
def _results(monkeypatch, tmp_path):
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))


def _record(run, preds: bool = False) -> None:
    write_json(run.record_path, {"id": run.id, "kind": run.kind, "metrics": {"valid_error": 10.0, "n_valid": 100}})
    if preds:
        run.preds_path.write_bytes(b"npz")


def test_only_runs_no_chapter_reads_are_removed(capsys) -> None:
    target = gpu_plan.plan(SMOKE, ["01"], ["trec6"])[0].run
    for run in gpu_plan.closure(target):
        _record(run, preds=run.kind == "classifier")
    pre = pretrain_run(SMOKE)
    old_lm = finetune_run(SMOKE, "trec6", 0, pre, epochs=97)          # an LM schedule no chapter uses
    old_clf = classifier_run(SMOKE, "trec6", 0, old_lm, changes={"epochs": 98})
    old_pre = Run("pretrain", "smoke", {"probe": 1})                  # a recipe probe
    for run in (old_lm, old_clf, old_pre):
        _record(run, preds=run is old_clf)

    gone = prune.superseded(SMOKE)
    assert set(gone) == {old_clf.record_path, old_clf.preds_path, old_lm.record_path}
    assert prune.main(["--scale", "smoke"]) == 0 and old_clf.record_path.exists()   # a dry run by default
    assert "would remove" in capsys.readouterr().err

    assert prune.main(["--scale", "smoke", "--delete"]) == 0
    assert not any(p.exists() for p in gone)
    assert all(r.record_path.exists() for r in gpu_plan.closure(target))
    assert target.preds_path.exists() and old_pre.record_path.exists()
    assert prune.superseded(SMOKE) == []
