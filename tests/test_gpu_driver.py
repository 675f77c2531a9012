"""The one-call GPU driver, its plan and estimates, the bundle it brings back and its importer, the
determinism that lets a later call re-create a parent LM, and the travel step — on the CPU at smoke size
(the driver's own CUDA check is marked ``gpu``)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ulmfit_core.fileio import read_json, write_json
from ulmfit_core.harness import determinism, gpu_driver, gpu_plan, pack, travel
from ulmfit_core.harness.bundle import MAX_VOLUMES, VOLUME_BYTES, BundleError, read_bundle, write_bundle
from ulmfit_core.harness.experiments import Run, classifier_run, ensure, predictions, ulmfit_runs
from ulmfit_core.harness.gpu_driver import FINGERPRINT, Clock, Driver, Log, check_parent
from ulmfit_core.harness.gpu_import import comparable, import_bundle, record_id
from ulmfit_core.harness.gpu_plan import Target, closure
from ulmfit_core.harness.run_costs import estimate
from ulmfit_core.harness.scales import get_scale

SMOKE = get_scale("smoke")


# ------------------------------------------------------------------------------ determinism

def test_deterministic_cuda_sets_and_restore_puts_back(monkeypatch) -> None:
    monkeypatch.delenv(determinism.CUBLAS_ENV, raising=False)
    before = determinism.current_state()
    previous = determinism.deterministic_cuda(7)
    try:
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert os.environ[determinism.CUBLAS_ENV] in determinism.CUBLAS_DETERMINISTIC
        assert torch.initial_seed() == 7
    finally:
        determinism.restore(previous)
    assert determinism.current_state() == before


def test_fingerprint_tells_bit_identical_weights_apart(tmp_path) -> None:
    torch.manual_seed(0)
    state = {"a.weight": torch.randn(4, 3), "b.bias": torch.zeros(3, dtype=torch.bfloat16)}
    same = {k: v.clone() for k, v in state.items()}
    fp = determinism.weights_fingerprint(state)
    assert fp.startswith("sha256:") and fp == determinism.weights_fingerprint(same)
    nudged = dict(same, **{"a.weight": same["a.weight"].clone()})
    nudged["a.weight"][0, 0] = torch.nextafter(nudged["a.weight"][0, 0], torch.tensor(9.0))
    assert determinism.weights_fingerprint(nudged) != fp                       # one ulp
    assert determinism.weights_fingerprint({"c.weight": state["a.weight"], "b.bias": state["b.bias"]}) != fp
    from safetensors.torch import save_file
    save_file(state, str(tmp_path / "m.safetensors"))
    assert determinism.file_fingerprint(tmp_path / "m.safetensors") == fp


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_repeats_bit_for_bit(tmp_path) -> None:
    """Two trainings of a small LM under deterministic CUDA settings give the same weights."""
    from ulmfit_core.awd_lstm import AWDLSTMConfig, LanguageModel, lm_dropouts
    from ulmfit_core.tasks import LMTask
    from ulmfit_core.train import TrainConfig, fit

    cuda = torch.device("cuda")
    previous = determinism.deterministic_cuda(0)
    try:
        prints = []
        for i in range(2):
            rng = np.random.default_rng(0)
            docs = [rng.integers(2, 200, rng.integers(20, 80)) for _ in range(120)]
            torch.manual_seed(0)
            model = LanguageModel(200, lm_dropouts(AWDLSTMConfig(emb_size=32, hidden_size=64, n_layers=3)))
            task = LMTask(docs[:100], docs[100:], batch_size=16, bptt=20, device=cuda)
            fit(model, model.layer_groups(), task, TrainConfig(epochs=2, lr=0.01, batch_size=16, clip=0.3),
                tmp_path / str(i), cuda, progress=False)
            prints.append(determinism.weights_fingerprint(model.state_dict()))
    finally:
        determinism.restore(previous)
    assert prints[0] == prints[1]


# ------------------------------------------------------------------------------ the plan

def _fake_record(run: Run) -> dict:
    metrics = {"valid_loss": 1.0, "valid_error": 10.0, "train_tokens": 1, "vocab_size": 1, "n_valid": 10,
               "valid_perplexity": 1.0, "wikitext103_test_perplexity": 1.0}
    return {"id": run.id, "kind": run.kind, "metrics": metrics,
            "history": [{"valid_error": 10.0, "train_loss": 1.0}] * 3,
            "provenance": {"wall_seconds": 1.0, "device": "cpu", "device_name": "test"}}


def _fake_preds(run: Run) -> dict:
    rng = np.random.default_rng(int(run.id[:8], 16))
    return {f"{split}_{what}": (rng.random((20, 2)).astype(np.float32) if what == "probs" else rng.integers(0, 2, 20))
            for split in ("valid", "test") for what in ("probs", "labels")}


def test_the_plan_holds_exactly_the_runs_the_chapters_use(monkeypatch, tmp_path) -> None:
    """Every study of the book, run with a stand-in for `ensure`, asks for exactly the plan's runs."""
    from ulmfit_core.harness import studies  # noqa: PLC0415 — plotting libraries, which a GPU machine may lack
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path))
    asked: dict[str, Run] = {}

    def fake_ensure(run: Run, device: str = "auto", progress: bool = False) -> dict:
        for parent in run.parents:
            fake_ensure(parent)
        asked[run.id] = run
        write_json(run.record_path, _fake_record(run))   # what the plan reads to follow the epoch choice
        return _fake_record(run)

    monkeypatch.setattr(studies, "ensure", fake_ensure)
    monkeypatch.setattr(studies.preflight, "require", lambda *args, **kwargs: None)
    monkeypatch.setattr(studies, "predictions", _fake_preds)
    monkeypatch.setattr(studies, "task_data", lambda ds, scale: SimpleNamespace(train=[0] * 100, valid=[0] * 10,
                                                                                test=[0] * 50))
    for study in (studies.main_results, studies.low_shot, studies.pretraining_impact, studies.lm_quality,
                  studies.lm_finetuning, studies.classifier_finetuning, studies.bidirectional):
        study("smoke", ["trec6"])
    studies.perplexity_table("smoke")
    studies.rate_check("smoke", ["trec6"])
    studies.epoch_choices("smoke")
    targets = gpu_plan.plan(SMOKE, datasets=["trec6", gpu_plan.WIKIPEDIA])
    planned = {r.id for t in targets for r in closure(t.run)}
    on_gpu = {i for i, r in asked.items() if r.kind != "baseline"}   # the linear baseline runs on a CPU
    assert len(on_gpu) < len(asked)
    assert planned == on_gpu
    assert len({t.run.id for t in targets}) == len(targets)          # each run once
    everything = gpu_plan.plan(SMOKE, datasets=["trec6", gpu_plan.WIKIPEDIA], kinds=gpu_plan.ALL_KINDS)
    assert {r.id for t in everything for r in closure(t.run)} == set(asked)


def test_the_plan_puts_the_schedule_choices_first_then_the_headline_results() -> None:
    everything = gpu_plan.plan(SMOKE)
    first = [t for t in everything if t.chapter == gpu_plan.EPOCH_CHOICE]
    assert first and everything[:len(first)] == first and {t.dataset for t in first} == {"trec6"}
    assert [t.label for t in first[:2]] == ["epoch choice: LM fine-tuning, epochs 1",
                                            "epoch choice: LM fine-tuning, epochs 2"]
    targets = everything[len(first):]
    assert [(t.chapter, t.dataset) for t in targets[:2]] == [("01_main_results", "imdb")] * 2
    assert [t.label for t in targets[:2]] == ["ULMFiT, seed 0", "from scratch, seed 0"]
    assert targets[2].chapter == "07_bidirectional" and targets[2].label == "backward ULMFiT, seed 0"
    chapters = list(dict.fromkeys(t.chapter for t in targets))
    assert chapters == ["01_main_results", "07_bidirectional", "03_pretraining", "04_lm_quality",
                        "05_lm_finetuning", "06_classifier_finetuning", "02_low_shot"]
    only = gpu_plan.plan(SMOKE, chapters=["07"], datasets=["trec6"], seeds=[0, 1])
    assert {t.chapter for t in only} == {"07_bidirectional"} and len(only) == 4
    with pytest.raises(ValueError, match="unknown chapters"):
        gpu_plan.plan(SMOKE, chapters=["99"])
    pre, lm, clf = ulmfit_runs(SMOKE, "trec6", 0)
    assert [r.id for r in closure(clf)] == [pre.id, lm.id, clf.id]


# ------------------------------------------------------------------------------ estimates

def _record(run: Run, wall: float, device: str = "cuda", **metrics: float) -> dict:
    return {"id": run.id, "kind": run.kind, "config": run.config, "metrics": metrics,
            "provenance": {"device": device, "wall_seconds": wall, "items_processed": metrics.get("tokens_seen", 0)}}


def test_estimates_scale_recorded_rates_by_the_work_a_run_will_do() -> None:
    pre, lm, clf = ulmfit_runs(SMOKE, "trec6", 0)
    known = [_record(lm, 10.0, train_tokens=1000), _record(clf, 20.0, n_train=300)]
    longer = classifier_run(SMOKE, "trec6", 1, lm, changes={"epochs": 2 * clf.config["train"]["epochs"]})
    assert estimate(longer, known, "cuda", 99).seconds == pytest.approx(40.0)          # twice the epochs
    assert estimate(ulmfit_runs(SMOKE, "trec6", 5)[1], known, "cuda", 99).seconds == pytest.approx(10.0)
    other = classifier_run(SMOKE, "ag_news_7k6", 0, None, "from scratch")
    assert estimate(other, known, "cuda", 99).basis.startswith("the longest classifier")
    assert estimate(other, known, "cuda", 99).seconds == 20.0
    assert estimate(clf, known, "cpu", 99).seconds == 99                               # other device type
    repeated = dataclasses.replace(clf, config={**clf.config, "repeat": 3})             # Figure 3's small sets
    assert estimate(repeated, known, "cuda", 99).seconds == pytest.approx(60.0)
    assert estimate(clf, [_record(repeated, 60.0, n_train=300)], "cuda", 99).seconds == pytest.approx(20.0)
    tokens = pre.config["corpus"]["words"] * 1.4 * pre.config["train"]["epochs"]
    assert estimate(pre, [_record(pre, 50.0, train_tokens=int(tokens), tokens_seen=int(tokens))],
                    "cuda", 99).seconds == pytest.approx(50.0)


# ------------------------------------------------------------------------------ parent checks

def _lm_record(fingerprint: str | None = None, perplexity: float = 80.0) -> dict:
    prov = {"device_name": "NVIDIA H100", "versions": {"torch": "2.11"}}
    if fingerprint:
        prov[FINGERPRINT] = fingerprint
    return {"kind": "pretrain", "id": "0" * 16, "config": {"train": {"epochs": 1}},
            "metrics": {"valid_perplexity": perplexity}, "provenance": prov}


def test_a_parent_is_checked_by_fingerprint_or_else_by_perplexity() -> None:
    assert check_parent(_lm_record("sha256:aa"), "sha256:aa", None).ok
    refused = check_parent(_lm_record("sha256:aa"), "sha256:bb", {"valid_perplexity": 80.0})
    assert not refused.ok and "children are not trained" in refused.message and "H100" in refused.message
    assert check_parent(_lm_record(), "sha256:bb", {"valid_perplexity": 80.0}).ok
    differs = check_parent(_lm_record(), "sha256:bb", {"valid_perplexity": 80.0001})
    assert not differs.ok and "no weights fingerprint" in differs.message
    unchecked = check_parent(_lm_record(), "sha256:bb", None)
    assert unchecked.ok and "no fingerprint to check" in unchecked.message


# ------------------------------------------------------------------------------ steps and deadlines

def test_a_step_that_runs_too_long_is_stopped(tmp_path) -> None:
    log = Log(Clock(60.0), tmp_path / "log.txt")
    t0 = time.monotonic()
    slow = gpu_driver.run_step("slow", [sys.executable, "-c", "import time; time.sleep(30)"], 1.0, log, min_s=0)
    assert slow["status"] == "timed out" and time.monotonic() - t0 < 10
    failing = gpu_driver.run_step("failing", [sys.executable, "-c", "print('boom'); raise SystemExit(3)"], 30, log, 0)
    assert failing["status"] == "failed (exit 3)"
    assert gpu_driver.run_step("late", [sys.executable, "-c", "pass"], 5.0, log, min_s=20)["status"] == "skipped"
    assert "boom" in (tmp_path / "log.txt").read_text()


def test_the_hard_deadline_stops_a_run_that_overruns(monkeypatch, tmp_path) -> None:
    """A run whose estimate was wrong is stopped at the deadline and the output is still written."""
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    clock, out = Clock(2.0), tmp_path / "out"
    out.mkdir()
    driver = Driver(SMOKE, "cpu", clock, Log(clock, out / "log.txt"), out, default_s=0.1, reserve_s=0.5,
                    runner=lambda run, device: time.sleep(30))
    run = classifier_run(SMOKE, "trec6", 0, None, "from scratch")
    driver.run_targets([Target("01_main_results", "trec6", "from scratch, seed 0", run)])
    assert clock.elapsed() < 4.0
    assert driver.outcomes[-1].status == "deadline"
    summary = read_json(out / "summary.json")
    assert summary["counts"] == {"deadline": 1} and summary["new_runs"] == []
    assert "stopped: the budget ran out" in (out / "log.txt").read_text()
    assert not run.record_path.exists()


# ------------------------------------------------------------------------------ the driver at smoke size

def _call(results: Path, cache: Path, out: Path, *args: str, budget: float = 600) -> tuple[dict, str]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ULMFIT_RESULTS", str(results))
        mp.setenv("ULMFIT_CACHE", str(cache))
        mp.delenv(pack.PACK_ENV, raising=False)
        assert gpu_driver.main(["--scale", "smoke", "--budget-s", str(budget), "--out", str(out), "--device", "cpu",
                                "--chapters", "01", "--datasets", "trec6", "--default-s", "20", *args]) == 0
    return read_json(out / "summary.json"), (out / "log.txt").read_text()


def _bare(tmp: Path, first: SimpleNamespace) -> Path:
    """A cache as on a machine that has run nothing: only the token caches (which a pack stands in for)."""
    cache = tmp / "bare-cache"
    shutil.copytree(first.cache / "tokens", cache / "tokens")
    return cache


def _copy_results(tmp: Path, first: SimpleNamespace) -> Path:
    shutil.copytree(first.results, tmp / "results")
    return tmp / "results"


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> SimpleNamespace:
    """One call of the driver at smoke size: TREC-6 main results, seed 0, from nothing."""
    root = tmp_path_factory.mktemp("first")
    torch.set_num_threads(1)                    # as the tests that compare with it run
    summary, log = _call(root / "results", root / "cache", root / "out", "--seeds", "0")
    pre, lm, clf = ulmfit_runs(SMOKE, "trec6", 0)
    scratch = classifier_run(SMOKE, "trec6", 0, None, "from scratch")
    return SimpleNamespace(results=root / "results", cache=root / "cache", out=root / "out", summary=summary,
                           log=log, runs=[pre, lm, clf, scratch])


def _with_env(results: Path, cache: Path) -> pytest.MonkeyPatch:
    mp = pytest.MonkeyPatch()
    mp.setenv("ULMFIT_RESULTS", str(results))
    mp.setenv("ULMFIT_CACHE", str(cache))
    return mp


def test_a_call_runs_what_is_missing_and_brings_it_back_within_the_limits(first) -> None:
    assert first.summary["counts"] == {"done": 2}
    assert sorted(first.summary["new_runs"]) == sorted(f"{r.kind} {r.id}" for r in first.runs)
    files = sorted(first.out.iterdir())
    assert len(files) <= 8 and all(f.stat().st_size <= 16 * 2**20 for f in files)
    assert sum(f.stat().st_size for f in files) <= 64 * 2**20
    assert {f.name for f in files} == {"log.txt", "summary.json", "results-00.zip"}
    members, info = read_bundle([first.out])
    assert info["scale"] == "smoke" and info["device_name"].startswith("the CPU")
    for run in first.runs:
        assert f"results/smoke/{run.kind}/{run.id}.json" in members
    assert sum(n.endswith(".preds.npz") for n in members) == 2
    mp = _with_env(first.results, first.cache)
    try:
        for run in first.runs[:2]:                              # the LMs carry their weights' fingerprint
            fp = read_json(run.record_path)["provenance"][FINGERPRINT]
            assert fp == determinism.file_fingerprint(run.work_dir / "model.safetensors")
    finally:
        mp.undo()
    assert "CUDA tests: skipped" in first.log and "GPU benchmark: skipped" in first.log


def test_imported_records_equal_locally_made_ones(first, tmp_path) -> None:
    done = import_bundle([first.out], tmp_path / "imported", tmp_path / "bench")
    assert len(done.added) == 6 and not done.present
    mp = _with_env(tmp_path / "local", _bare(tmp_path, first))
    try:
        for run in first.runs:
            local = ensure(run, "cpu")
            imported = read_json(tmp_path / "imported" / "smoke" / run.kind / f"{run.id}.json")
            assert comparable(imported) == comparable(local)
            assert imported["provenance"] != local["provenance"]
            if run.kind == "classifier":
                with np.load(tmp_path / "imported" / "smoke" / "classifier" / f"{run.id}.preds.npz") as got:
                    for name, array in predictions(run).items():
                        np.testing.assert_array_equal(got[name], array)
    finally:
        mp.undo()
    again = import_bundle([first.out], tmp_path / "imported", tmp_path / "bench")
    assert not again.added and len(again.present) == 6


def test_a_later_call_redoes_nothing_and_checks_the_parent_it_recreates(first, tmp_path) -> None:
    results = _copy_results(tmp_path, first)
    before = {p: p.read_bytes() for p in results.rglob("*") if p.is_file()}
    summary, log = _call(results, _bare(tmp_path, first), tmp_path / "out", "--seeds", "0", "1")
    assert summary["counts"] == {"recorded": 2, "done": 2}      # seed 0 was recorded: only seed 1 runs
    assert all(p.read_bytes() == blob for p, blob in before.items())
    pre = first.runs[0]
    assert f"re-creating pretrain {pre.id}" in log and "weights match the fingerprint in its record" in log
    new = {f"{r.kind} {r.id}" for r in ulmfit_runs(SMOKE, "trec6", 1)[1:]} | \
          {f"classifier {classifier_run(SMOKE, 'trec6', 1, None, 'from scratch').id}"}
    assert set(summary["new_runs"]) == new
    members, _ = read_bundle([tmp_path / "out"])
    assert f"results/smoke/pretrain/{pre.id}.json" not in members


def test_a_parent_that_differs_from_its_record_gets_no_children(first, tmp_path) -> None:
    results = _copy_results(tmp_path, first)
    pre = first.runs[0]
    path = results / "smoke" / "pretrain" / f"{pre.id}.json"
    record = read_json(path)
    record["provenance"][FINGERPRINT] = "sha256:" + "0" * 64
    write_json(path, record)
    summary, log = _call(results, _bare(tmp_path, first), tmp_path / "out", "--seeds", "0", "1")
    assert summary["counts"] == {"recorded": 2, "blocked": 1, "done": 1}
    assert "its children are not trained" in log
    lm1 = ulmfit_runs(SMOKE, "trec6", 1)[1]
    assert not (results / "smoke" / "finetune_lm" / f"{lm1.id}.json").exists()
    blocked = [o for o in summary["outcomes"] if o["status"] == "blocked"]
    assert "ULMFiT, seed 1" in blocked[0]["target"]


def test_nothing_starts_that_cannot_finish_before_the_deadline(first, tmp_path) -> None:
    results = _copy_results(tmp_path, first)
    pre_wall = read_json(first.results / "smoke" / "pretrain" / f"{first.runs[0].id}.json")["provenance"]["wall_seconds"]
    budget = 0.5 + max(4.0, 0.85 * pre_wall)     # room for a classifier, not for re-creating the parent LM
    t0 = time.monotonic()
    summary, log = _call(results, _bare(tmp_path, first), tmp_path / "out", "--seeds", "3", "--reserve-s", "0.5",
                         budget=budget)
    assert time.monotonic() - t0 < budget + 5
    assert summary["counts"] == {"skipped": 1, "done": 1}
    assert "skip 01_main_results trec6: ULMFiT, seed 3" in log
    assert f"re-creating pretrain" not in log


# ------------------------------------------------------------------------------ bundle and importer

def _make(results: Path, kind: str, config: dict, parents: tuple[str, ...] = (), **metrics: float) -> dict:
    record = {"kind": kind, "scale": "smoke", "config": config, "parents": list(parents),
              "metrics": metrics or {"valid_error": 10.0},
              "history": [{"epoch": 1, "seconds": 1.5, "items_per_s": 9.0, "valid_loss": 1.0}],
              "provenance": {"device": "cuda", "device_name": "NVIDIA H200", "wall_seconds": 3.0}}
    record["id"] = record_id(record)
    write_json(results / "smoke" / kind / f"{record['id']}.json", record)
    if kind == "classifier":
        np.savez(results / "smoke" / kind / f"{record['id']}.preds.npz",
                 **{f"{s}_{w}": np.zeros((3, 2) if w == "probs" else 3, np.float32) for s in ("valid", "test")
                    for w in ("probs", "labels")})
    return record


@pytest.fixture
def made(tmp_path) -> SimpleNamespace:
    """A bundle of three records (an LM, a classifier on it with predictions) made elsewhere."""
    src = tmp_path / "gpu-results"
    lm = _make(src, "pretrain", {"lr": 1}, valid_perplexity=80.0)
    clf = _make(src, "classifier", {"lr": 2}, (lm["id"],), valid_error=5.0)
    members = [(f"results/smoke/{k}/{r['id']}{suffix}", src / "smoke" / k / f"{r['id']}{suffix}")
               for k, r in (("pretrain", lm), ("classifier", clf)) for suffix in (".json", ".preds.npz")
               if (src / "smoke" / k / f"{r['id']}{suffix}").exists()]
    out = tmp_path / "out"
    write_bundle(out, members, {"bundle": "b1", "device_name": "NVIDIA H200"})
    return SimpleNamespace(src=src, out=out, lm=lm, clf=clf, members=members, results=tmp_path / "results")


def test_record_id_is_the_run_id() -> None:
    run = ulmfit_runs(SMOKE, "trec6", 0)[2]
    assert record_id({"kind": run.kind, "scale": run.scale, "config": run.config,
                      "parents": [p.id for p in run.parents]}) == run.id


def test_import_adds_a_bundle_once(made, tmp_path) -> None:
    done = import_bundle([made.out], made.results, tmp_path / "bench")
    assert len(done.added) == 3 and "NVIDIA H200" in done.summary()
    for name, source in made.members:
        assert (made.results / name.removeprefix("results/")).read_bytes() == source.read_bytes()
    assert len(import_bundle([made.out / "results-00.zip"], made.results, tmp_path / "bench").present) == 3


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def _rezip(volume: Path, change) -> None:
    """Rewrite a volume with ``change(name, data) -> data`` applied to its members (manifest kept)."""
    with zipfile.ZipFile(volume) as zf:
        items = [(n, zf.read(n)) for n in zf.namelist()]
    with zipfile.ZipFile(volume, "w") as zf:
        for name, data in items:
            zf.writestr(name, change(name, data))


@pytest.mark.parametrize("damage, message", [
    ("bytes", "unreadable results volume"),
    ("member", "does not match its SHA-256"),
    ("record", "the record was changed after it was made"),
    ("parent", "neither in the bundle"),
    ("path", "not a path a bundle may carry"),
])
def test_a_damaged_bundle_is_refused_with_nothing_written(made, tmp_path, damage, message) -> None:
    volume = made.out / "results-00.zip"
    if damage == "bytes":
        volume.write_bytes(volume.read_bytes()[:200])
    elif damage == "member":
        _rezip(volume, lambda n, d: d.replace(b"80.0", b"70.0") if n.endswith(".json") and n != "MANIFEST.json" else d)
    elif damage in ("record", "parent"):
        lm_path = made.src / "smoke" / "pretrain" / f"{made.lm['id']}.json"
        if damage == "record":
            edited = dict(made.lm, metrics={"valid_perplexity": 60.0}, config={"lr": 9})
            write_json(lm_path, edited)
            members = made.members
        else:
            members = [m for m in made.members if "/pretrain/" not in m[0]]
        write_bundle(made.out, members, {"bundle": "b2"})
    else:                                          # a member that would land outside results/
        blob = b"{}"
        manifest = {"format": 1, "volume": 0, "volumes": 1, "info": {"bundle": "b4"},
                    "files": {"results/../../evil.json": {"bytes": 2, "sha256": hashlib.sha256(blob).hexdigest()}}}
        with zipfile.ZipFile(volume, "w") as zf:
            zf.writestr("results/../../evil.json", blob)
            zf.writestr("MANIFEST.json", json.dumps(manifest))
    with pytest.raises(BundleError, match=message) as err:
        import_bundle([made.out], made.results, tmp_path / "bench")
    assert str(made.out) in str(err.value) or "(in the bundle)" in str(err.value)
    assert not _files(made.results)


def test_a_record_that_clashes_with_an_existing_one_is_refused(made, tmp_path) -> None:
    here = made.results / "smoke" / "classifier" / f"{made.clf['id']}.json"
    write_json(here, dict(made.clf, metrics={"valid_error": 6.0}))
    before = _files(made.results)
    with pytest.raises(BundleError, match=r"clashes with .*the same run with different metrics"):
        import_bundle([made.out], made.results, tmp_path / "bench")
    assert _files(made.results) == before
    write_json(here, dict(made.clf, provenance={"device": "cpu"},
                          history=[dict(made.clf["history"][0], seconds=99.0)]))
    done = import_bundle([made.out], made.results, tmp_path / "bench")   # same run, other machine: kept
    assert here in done.present and read_json(here)["provenance"] == {"device": "cpu"}


def test_a_missing_volume_is_named(made, tmp_path) -> None:
    halves = []
    for i in range(2):                             # two members of over half a volume each: two volumes
        halves.append(tmp_path / f"half{i}")
        halves[-1].write_bytes(os.urandom(VOLUME_BYTES // 2 + 1))
    names = [n for n, _ in made.members if n.endswith(".json")]
    written = write_bundle(made.out, list(zip(names, halves)), {"bundle": "b3"})
    assert len(written.volumes) == 2 <= MAX_VOLUMES and not written.left_out
    written.volumes[1].unlink()
    with pytest.raises(BundleError, match=r"has 2 volumes, found volumes \[0\]"):
        read_bundle([made.out])
    with pytest.raises(BundleError, match="not a path a bundle may carry"):
        write_bundle(made.out, [("../etc/passwd", halves[0])], {})


# ------------------------------------------------------------------------------ travel

def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def tree(tmp_path) -> Path:
    """A small repository: code, results of three scales, executed notebooks, an untracked file."""
    root = tmp_path / "repo"
    files = {"ulmfit_core/a.py": 100, "results/gpu/classifier/x.json": 10, "results/reduced/weights/w.bin": 3000,
             "results/smoke/c.json": 20, "notebooks/executed/reduced/n.ipynb": 40,
             "notebooks/executed/gpu/m.ipynb": 30, "notebooks/01.py": 10}
    for name, size in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(os.urandom(size))
    (root / ".gitignore").write_text("gpu_pack/\n.cache/\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    (root / "notes.txt").write_bytes(b"n" * 50)                 # untracked, not ignored: it travels too
    return root


def _fake_pack(scale: str, folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "wiki.npz").write_bytes(b"p" * 500)
    write_json(folder / "manifest.json", {"scale": scale})


def test_prepare_sets_aside_what_the_scale_does_not_read_and_restore_puts_it_back(tree, monkeypatch) -> None:
    monkeypatch.setattr(travel, "pack_is_current", lambda scale, folder: (folder / "manifest.json").exists())
    contents = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file() and ".git" not in p.parts}
    status = _git(tree, "status", "--porcelain")
    done = travel.prepare(tree, "gpu", tree / "gpu_pack", build_pack=_fake_pack)
    assert sorted(done.set_aside) == ["notebooks/executed/reduced/n.ipynb", "results/reduced/weights/w.bin",
                                      "results/smoke/c.json"]
    pack_bytes = sum(p.stat().st_size for p in (tree / "gpu_pack").iterdir())
    assert done.travel_bytes == 100 + 10 + 30 + 10 + 50 + len(b"gpu_pack/\n.cache/\n") + pack_bytes
    assert done.carry == ["gpu_pack"]
    assert not (tree / "results/reduced/weights/w.bin").exists() and (tree / "results/gpu/classifier/x.json").exists()
    assert read_json(tree / "gpu_pack" / travel.TRAVEL_FILE)["revision"] == "unknown"    # no commit yet
    with pytest.raises(travel.TravelError, match="already prepared"):
        travel.prepare(tree, "gpu", tree / "gpu_pack", build_pack=_fake_pack)
    assert sorted(travel.restore(tree)) == sorted(done.set_aside)
    assert all(p.read_bytes() == blob for p, blob in contents.items())
    assert _git(tree, "status", "--porcelain") == status
    assert not (tree / travel.ASIDE).exists()


def test_prepare_refuses_a_tree_that_would_not_fit_and_moves_nothing(tree, monkeypatch) -> None:
    monkeypatch.setattr(travel, "pack_is_current", lambda scale, folder: True)
    _fake_pack("gpu", tree / "gpu_pack")
    with pytest.raises(travel.TravelError, match=r"MiB would travel .* over the 0 MiB.*nothing was moved"):
        travel.prepare(tree, "gpu", tree / "gpu_pack", limit=500)
    assert (tree / "results/reduced/weights/w.bin").exists() and not (tree / travel.ASIDE).exists()
    monkeypatch.setattr(travel, "pack_is_current", lambda scale, folder: False)
    with pytest.raises(travel.TravelError, match="no pack for scale 'gpu'"):
        travel.prepare(tree, "gpu", tree / "gpu_pack")


def test_restore_never_overwrites_a_file_changed_meanwhile(tree, monkeypatch) -> None:
    monkeypatch.setattr(travel, "pack_is_current", lambda scale, folder: True)
    _fake_pack("gpu", tree / "gpu_pack")
    travel.prepare(tree, "gpu", tree / "gpu_pack")
    (tree / "results/smoke/c.json").write_bytes(b"new")
    with pytest.raises(travel.TravelError, match=r"2 files restored; not restored: .*results/smoke/c.json"):
        travel.restore(tree)
    assert (tree / "results/smoke/c.json").read_bytes() == b"new"
    assert (tree / travel.ASIDE / "files" / "results/smoke/c.json").exists()
    assert (tree / "results/reduced/weights/w.bin").exists()


def test_the_travel_commands_say_what_they_did(tree, monkeypatch, capsys) -> None:
    monkeypatch.setattr(travel, "pack_is_current", lambda scale, folder: True)
    assert travel.main(["--root", str(tree), "restore"]) == 1
    assert "nothing is set aside" in capsys.readouterr().err
    _fake_pack("gpu", tree / "gpu_pack")
    assert travel.main(["--root", str(tree), "prepare", "--scale", "gpu"]) == 0
    out = capsys.readouterr().out
    assert "3 files set aside" in out and "python -m ulmfit_core.harness.gpu_driver --scale gpu" in out
    assert travel.main(["--root", str(tree), "restore"]) == 0
    assert "3 files restored" in capsys.readouterr().out
