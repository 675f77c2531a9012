"""Killed runs: a training process stopped by SIGKILL mid-epoch or while writing a checkpoint, and an
experiment runner killed between runs, leave only complete files behind and resume to exactly the result
of an uninterrupted run."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from ulmfit_core.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint, load_weights
from ulmfit_core.fileio import read_json, write_json
from ulmfit_core.train import make_optimizer
from ulmfit_core.harness import experiments as E
from ulmfit_core.harness import ledger
from ulmfit_core.harness.scales import get_scale

sys.path.insert(0, str(Path(__file__).parent))
import fault_runner

RUNNER = Path(__file__).with_name("fault_runner.py")
KILLED = -signal.SIGKILL
# case -> where the first process dies (see fault_runner.py), always during the second of three epochs
CASES = {
    "mid-epoch": "batch-1-3",
    "mid-optimizer-file": "write-optimizer.safetensors",
    "mid-state-file": "write-state.json",
    "before-latest-moves": "write-LATEST",
}
# runs that also checkpoint every 3 batches inside an epoch: case -> (where they stop, the checkpoint left)
MID_EPOCH = {
    "killed-between-batch-checkpoints": ("every-3-batch-1-7", "ckpt-1-6"),
    "sigterm-mid-epoch": ("term-3-batch-1-4", "ckpt-1-5"),
}


def child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **extra}


def comparable(history: list[dict]) -> list[dict]:
    """A history without its wall-clock fields and its evaluations inside an epoch."""
    return [{k: v for k, v in h.items() if k not in ("seconds", "items_per_s", "curve")} for h in history]


def visible(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if not p.name.startswith(".")}


def assert_checkpoint_loads(path: Path) -> dict:
    """Every file of checkpoint folder ``path`` reads, and it restores into a fresh model; return its state."""
    assert {p.name for p in path.iterdir()} == {"model.safetensors", "optimizer.safetensors",
                                                "rng.safetensors", "optimizer.json", "state.json"}
    for file in path.iterdir():
        load_weights(file) if file.suffix == ".safetensors" else read_json(file)
    model, _ = fault_runner.make()
    rng = torch.get_rng_state()
    state = load_checkpoint(path, model, make_optimizer(model.layer_groups(), fault_runner.TRAIN))
    torch.set_rng_state(rng)
    return state


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory) -> dict:
    """Run every case until it dies (each in its own process, all at once), keep a copy of what each left
    behind, then, in one new process, train the uninterrupted reference run and resume every killed one."""
    root = tmp_path_factory.mktemp("faults")
    kills = {**CASES, **{case: kill for case, (kill, _) in MID_EPOCH.items()}}
    jobs = [f"{root / case}:{root / case}-out" for case in kills]
    done = subprocess.run([sys.executable, str(RUNNER),
                           "--kill", *[f"{job}:{kill}" for job, kill in zip(jobs, kills.values())],
                           "--then", f"{root / 'reference'}:{root / 'reference-out'}", *jobs],
                          env=child_env(), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["then"] == 0, done.stderr
    return {"root": root, "stderr": done.stderr, "killed": dict(zip(kills, report["killed"])),
            "finished": dict(zip(kills, report["finished"]))}


@pytest.mark.parametrize("case", list(CASES))
def test_a_killed_run_leaves_only_complete_checkpoints(killed_and_resumed, case):
    root, code = killed_and_resumed["root"], killed_and_resumed["killed"][case]
    assert code == KILLED, f"the run was meant to die by SIGKILL, got {code}:\n{killed_and_resumed['stderr']}"
    assert not killed_and_resumed["finished"][case]
    run = root / f"{case}-killed"
    assert visible(run) == {"checkpoints"}
    folder = run / "checkpoints"
    latest = latest_checkpoint(folder)
    assert latest is not None and latest.name == "ckpt-0"       # the first epoch's checkpoint, complete
    names = visible(folder)
    assert "LATEST" in names and all(n == "LATEST" or n.startswith("ckpt-") for n in names)
    for name in names - {"LATEST"}:                              # any visible checkpoint is complete
        assert assert_checkpoint_loads(folder / name)["epoch"] == int(name.split("-")[1])
    assert len(assert_checkpoint_loads(latest)["history"]) == 1
    hidden = sorted(p.name for p in folder.iterdir() if p.name.startswith("."))
    if case == "mid-optimizer-file":                          # the half-written file is set aside
        assert len(hidden) == 1 and hidden[0].startswith(".ckpt-")
        with pytest.raises(CheckpointError, match="optimizer.safetensors"):
            load_weights(folder / hidden[0] / "optimizer.safetensors")
        assert not (folder / hidden[0] / "state.json").exists()
    elif case == "mid-state-file":                               # its temporary file is half-written
        assert len(hidden) == 1 and hidden[0].startswith(".ckpt-")
        temporary = list((folder / hidden[0]).glob(".state.tmp-*.json"))
        assert len(temporary) == 1 and not (folder / hidden[0] / "state.json").exists()
        with pytest.raises(json.JSONDecodeError):
            json.loads(temporary[0].read_text())
    elif case == "before-latest-moves":                       # ckpt-1 was complete, LATEST not yet moved
        assert names == {"LATEST", "ckpt-0", "ckpt-1"}
        assert len(hidden) == 1 and hidden[0].startswith(".LATEST.tmp-")
        assert (folder / hidden[0]).read_text() == "ckpt-1\n"
    else:
        assert hidden == [] and names == {"LATEST", "ckpt-0"}


@pytest.mark.parametrize("case", list(MID_EPOCH))
def test_a_run_stopped_inside_an_epoch_leaves_a_checkpoint_from_inside_it(killed_and_resumed, case):
    code = killed_and_resumed["killed"][case]
    if case.startswith("sigterm"):   # SIGTERM: the batch under way finishes, is checkpointed, and the run stops
        assert code == 1 and "TrainingInterrupted: SIGTERM at epoch 2, batch 5" in killed_and_resumed["stderr"]
    else:
        assert code == KILLED, killed_and_resumed["stderr"]
    assert not killed_and_resumed["finished"][case]
    folder = killed_and_resumed["root"] / f"{case}-killed" / "checkpoints"
    latest = latest_checkpoint(folder)
    assert latest is not None and latest.name == MID_EPOCH[case][1]
    assert visible(folder) == {"LATEST", latest.name}
    model, _ = fault_runner.make()
    state = load_checkpoint(latest, model, make_optimizer(model.layer_groups(), fault_runner.TRAIN))
    step = int(latest.name.split("-")[2])
    assert (state["epoch"], state["step"]) == (1, step) and len(state["history"]) == 1
    assert sorted(state["task_state"]) == ["c0", "c1", "c2", "h0", "h1", "h2"]   # the LM's hidden state
    assert 0 < state["partial"]["items"] < step * 4 * 12
    curve = state["partial"]["curve"]             # evaluated every 3 batches (only the SIGKILL case)
    assert [c["step"] for c in curve] == ([3, 6] if case.startswith("killed") else [])


@pytest.mark.parametrize("case", [*CASES, *MID_EPOCH])
def test_a_resumed_run_matches_an_uninterrupted_one_bit_for_bit(killed_and_resumed, case):
    root = killed_and_resumed["root"]
    reference, out = root / "reference-out", root / f"{case}-out"
    expected, got = load_weights(reference / "model.safetensors"), load_weights(out / "model.safetensors")
    assert expected.keys() == got.keys()
    different = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert not different, f"tensors differ after resume: {different}"
    history, reference_history = read_json(out / "history.json"), read_json(reference / "history.json")
    assert len(history) == fault_runner.EPOCHS
    assert comparable(history) == comparable(reference_history)      # every epoch's validation metrics
    left = latest_checkpoint(root / f"{case}-killed" / "checkpoints")
    before = read_json((left.with_name("ckpt-0") if case in CASES else left) / "state.json")["history"]
    assert history[0] == before[0]       # epoch 1 came from the checkpoint (same timing), not a rerun
    if case == "killed-between-batch-checkpoints":     # the evaluations before the kill are kept
        assert [c["step"] for c in history[1]["curve"]] == [3, 6]
    folder = root / case / "checkpoints"
    assert visible(folder) == {"LATEST", "ckpt-2"}
    assert not list(folder.glob(".ckpt-*"))                       # half-written folders were cleaned


def test_a_stale_latest_temporary_is_cleaned_by_the_next_checkpoint(killed_and_resumed):
    folder = killed_and_resumed["root"] / "before-latest-moves" / "checkpoints"
    assert latest_checkpoint(folder).name == "ckpt-2"             # ignored: it never confused loading
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


# ---------------------------------------------------------------- the experiment runner

RUNNER_SCRIPT = textwrap.dedent("""
    import os, signal, torch
    torch.set_num_threads(1)
    from ulmfit_core import tasks
    from ulmfit_core.harness import experiments as E
    from ulmfit_core.harness.scales import get_scale
    scale = get_scale("smoke")
    a, b = (E.classifier_run(scale, "trec6", seed, None, variant="from scratch") for seed in (0, 1))
    E.ensure(a, device="cpu")
    print("A done", flush=True)
    where = {"epoch": -1, "step": 0}
    real_batches, real_loss = tasks.ClassificationTask.batches, tasks.ClassificationTask.loss
    def batches(self, epoch):
        where.update(epoch=epoch, step=0)
        return real_batches(self, epoch)
    def loss(self, model, batch):
        if (where["epoch"], where["step"]) == (2, 3):
            os.kill(os.getpid(), signal.SIGKILL)
        where["step"] += 1
        return real_loss(self, model, batch)
    tasks.ClassificationTask.batches, tasks.ClassificationTask.loss = batches, loss
    E.ensure(b, device="cpu")
""")


def smoke_runs() -> tuple[E.Run, E.Run]:
    scale = get_scale("smoke")
    return tuple(E.classifier_run(scale, "trec6", seed, None, variant="from scratch") for seed in (0, 1))


def use_dirs(monkeypatch, results: Path, cache: Path) -> None:
    monkeypatch.setenv("ULMFIT_RESULTS", str(results))
    monkeypatch.setenv("ULMFIT_CACHE", str(cache))


def test_a_killed_experiment_runner_keeps_finished_runs_and_resumes_the_rest(shared_data, tmp_path,
                                                                               monkeypatch):
    results, cache = tmp_path / "results", tmp_path / "cache"
    done = subprocess.run([sys.executable, "-c", RUNNER_SCRIPT], capture_output=True, text=True, timeout=300,
                          check=False,
                          env=child_env(ULMFIT_RESULTS=str(results), ULMFIT_CACHE=str(cache),
                                        ULMFIT_DATA=str(shared_data)))
    assert done.returncode == KILLED and "A done" in done.stdout, done.stderr
    use_dirs(monkeypatch, results, cache)
    a, b = smoke_runs()
    for path in results.rglob("*.json"):                          # every visible record is complete JSON
        if not path.name.startswith("."):
            json.loads(path.read_text())
    assert a.record_path.exists() and not b.record_path.exists()
    record_a = read_json(a.record_path)
    assert record_a["id"] == a.id and len(record_a["history"]) == 5
    assert E.predictions(a)["test_probs"].shape == (200, 6)
    left = latest_checkpoint(b.work_dir / "checkpoints")
    assert left is not None and left.name == "ckpt-1"             # killed in the third epoch
    saved_history = read_json(left / "state.json")["history"]

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished run was computed again")

    monkeypatch.setattr(E, "_do_classifier", must_not_run)
    assert E.ensure(a, device="cpu") == record_a
    monkeypatch.undo()

    use_dirs(monkeypatch, results, cache)
    record_b = E.ensure(b, device="cpu")
    assert [h["epoch"] for h in record_b["history"]] == [1, 2, 3, 4, 5]
    assert record_b["history"][:2] == saved_history               # epochs 1-2 were not trained again
    assert not b.work_dir.exists()                                # checkpoints removed once recorded
    preds_b = E.predictions(b)

    # The same run, never interrupted (fresh results and cache, the token cache copied to save time).
    fresh = tmp_path / "fresh-cache"
    shutil.copytree(cache / "tokens", fresh / "tokens")
    use_dirs(monkeypatch, tmp_path / "fresh-results", fresh)
    straight = E.ensure(b, device="cpu")
    assert straight["metrics"] == record_b["metrics"]
    assert comparable(straight["history"]) == comparable(record_b["history"])
    for key, value in E.predictions(b).items():
        assert np.array_equal(value, preds_b[key]), key


# ---------------------------------------------------------------- the book's tables


def test_a_claims_file_killed_mid_write_does_not_break_the_claims_table(tmp_path):
    folder = tmp_path / "smoke" / "claims"
    record = {"notebook": "01_main_results", "scale": "smoke", "claims": [], "runs": 2,
              "wall_seconds": 60.0, "devices": ["cpu"]}
    write_json(folder / "main_results.json", record)
    # What save_claims leaves when killed half-way through rewriting the file: the complete old file and
    # the hidden, half-written temporary beside it.
    text = json.dumps({**record, "runs": 3}, indent=2)
    (folder / ".main_results.tmp-k1ll3d.json").write_text(text[: len(text) // 2])
    assert ledger.claim_files(tmp_path) == [record]
