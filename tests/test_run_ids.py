"""Run ids are hashes of run configurations: code that moves must not change them, or every committed
record would stop being found. The ids the code builds today are the ids of the committed records."""
from __future__ import annotations

from ulmfit_core.settings import REPO_ROOT
from ulmfit_core.harness.experiments import pretrain_run
from ulmfit_core.harness.gpu_plan import ALL_KINDS, closure, plan
from ulmfit_core.harness.scales import get_scale

RESULTS = REPO_ROOT / "results"


def test_the_reduced_scale_pretrained_lms_keep_their_ids() -> None:
    """The reduced scale's LMs are the chosen recipe's (no dropout, so the forward LM is the vanilla one);
    their records land in results/reduced/pretrain/ as each LM finishes training."""
    reduced = get_scale("reduced")
    assert pretrain_run(reduced).id == "5d0140b0bb89dc6d"
    assert pretrain_run(reduced, "backward").id == "efbf63448cfacc98"
    assert pretrain_run(reduced, dropout=False).id == "5d0140b0bb89dc6d"


def test_every_smoke_run_the_book_shows_is_a_committed_record(monkeypatch) -> None:
    """Every run behind the smoke-scale chapters (the GPU kinds with all their parents, and the linear
    baselines) has its record in ``results/smoke/`` under the id the code builds."""
    monkeypatch.setenv("ULMFIT_RESULTS", str(RESULTS))
    smoke = get_scale("smoke")
    runs = {r.id: r for target in plan(smoke, kinds=ALL_KINDS) for r in closure(target.run)}
    assert len(runs) > 50 and any(r.kind == "baseline" for r in runs.values())
    missing = sorted(f"{r.kind}/{r.id}" for r in runs.values() if not r.record_path.is_file())
    assert not missing, f"runs whose id no committed record has: {missing}"
    committed = {p.stem for kind in ("pretrain", "finetune_lm", "classifier")
                 for p in (RESULTS / "smoke" / kind).glob("*.json")}
    assert {r.id for r in runs.values() if r.kind != "baseline"} <= committed
