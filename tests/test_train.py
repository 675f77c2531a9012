"""The training loop (ULMFiT §3.2–3.3): discriminative rates, the schedule as ``fit`` applies it, exact
resume after an interruption, and stopping on a diverged loss."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ulmfit_core import train
from ulmfit_core.awd_lstm import AWDLSTMConfig, LanguageModel, lm_dropouts
from ulmfit_core.batching import TextDataset
from ulmfit_core.checkpoint import latest_checkpoint, load_checkpoint
from ulmfit_core.classifier import TextClassifier
from ulmfit_core.schedules import cosine, slanted_triangular
from ulmfit_core.tasks import ClassificationTask, LMTask, classification_metrics, predict
from ulmfit_core.train import TrainConfig, TrainingDiverged, best_epoch, fit, make_optimizer
from wrapped_task import Wrapped

VOCAB = 50
CPU = torch.device("cpu")
CFG = AWDLSTMConfig(emb_size=8, hidden_size=16, n_layers=3)




# ---------------------------------------------------------------- tiny models and tasks


def tiny_lm() -> LanguageModel:
    torch.manual_seed(0)
    return LanguageModel(VOCAB, lm_dropouts(CFG))


def lm_task() -> LMTask:
    rng = np.random.default_rng(0)
    docs = [rng.integers(2, VOCAB, rng.integers(10, 30)) for _ in range(24)]
    return LMTask(docs[:20], docs[20:], batch_size=4, bptt=8, seed=1)


def tiny_classifier() -> TextClassifier:
    torch.manual_seed(0)
    return TextClassifier(VOCAB, 3, CFG, bptt=5, max_len=15, head_hidden=8)


def clf_task(n_train: int = 16, n_valid: int = 6) -> ClassificationTask:
    rng = np.random.default_rng(0)
    docs = [rng.integers(2, VOCAB, rng.integers(3, 25)) for _ in range(n_train + n_valid)]
    labels = rng.integers(0, 3, n_train + n_valid)
    return ClassificationTask(TextDataset(docs[:n_train], labels[:n_train]),
                              TextDataset(docs[n_train:], labels[n_train:]), batch_size=4, seed=2)


# ---------------------------------------------------------------- discriminative fine-tuning (eq. 2)


def test_optimizer_has_one_group_per_layer_group_at_discriminative_rates():
    model = tiny_lm()
    groups = model.layer_groups()
    opt = make_optimizer(groups, TrainConfig(lr=0.01))
    assert isinstance(opt, torch.optim.AdamW)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.01 / 2.6 ** 3, 0.01 / 2.6 ** 2,
                                                                 0.01 / 2.6, 0.01], rel=1e-12)
    assert all(g["betas"] == (0.7, 0.99) for g in opt.param_groups)             # §4: Adam β1 0.7, β2 0.99
    assert [[id(p) for p in g["params"]] for g in opt.param_groups] == [[id(p) for p in g] for g in groups]
    flat = make_optimizer(groups, TrainConfig(lr=0.004, discr_factor=1.0))
    assert [g["lr"] for g in flat.param_groups] == [0.004] * 4


def test_chain_thaw_rates_give_every_lower_group_lr_lower():
    # Table 7's chain-thaw: 0.001 for the last layer, 0.0001 for the others.
    model = tiny_classifier()
    opt = make_optimizer(model.layer_groups(), TrainConfig(lr=1e-3, lr_lower=1e-4, strategy="chain_thaw"))
    assert [g["lr"] for g in opt.param_groups] == [1e-4, 1e-4, 1e-4, 1e-4, 1e-3]


# ---------------------------------------------------------------- the schedule inside fit


class LrRecorder(Wrapped):
    """Records every parameter group's learning rate as each update's loss is computed."""

    def __init__(self, task, optimizers: list) -> None:
        super().__init__(task)
        self.optimizers, self.lrs = optimizers, []

    def loss(self, model, batch):
        self.lrs.append([g["lr"] for g in self.optimizers[-1].param_groups])
        return self.task.loss(model, batch)


@pytest.fixture
def optimizers(monkeypatch) -> list:
    """The optimisers ``fit`` creates, captured as it makes them."""
    made: list = []

    def spy(groups, cfg):
        made.append(make_optimizer(groups, cfg))
        return made[-1]

    monkeypatch.setattr(train, "make_optimizer", spy)
    return made


@pytest.mark.parametrize("schedule", ["stlr", "cos", "constant"])
def test_fit_follows_the_schedule_at_every_update(schedule, optimizers):
    model, task = tiny_lm(), lm_task()
    recorder = LrRecorder(task, optimizers)
    cfg = TrainConfig(epochs=2, lr=0.01, schedule=schedule, cut_frac=0.25, ratio=8, batch_size=4)
    history = fit(model, model.layer_groups(), recorder, cfg, None, CPU, progress=False)
    total = task.n_batches(0) + task.n_batches(1)               # one cycle over the whole stage
    assert len(recorder.lrs) == total and total > 20
    mult = {"stlr": lambda t: slanted_triangular(t, total, 0.25, 8),
            "cos": lambda t: cosine(t, total), "constant": lambda t: 1.0}[schedule]
    base = [0.01 / 2.6 ** k for k in (3, 2, 1, 0)]
    for t, lrs in enumerate(recorder.lrs):
        assert lrs == pytest.approx([b * mult(t) for b in base], rel=1e-9, abs=1e-15)
    assert history[-1]["lr_last_group"] == pytest.approx(0.01 * mult(total), rel=1e-9, abs=1e-15)
    if schedule == "stlr":                                      # peaks at η_max at cut = ⌊T·cut_frac⌋
        peak = max(range(total), key=lambda t: recorder.lrs[t][-1])
        assert peak == math.floor(total * 0.25) and recorder.lrs[peak][-1] == pytest.approx(0.01)
        assert recorder.lrs[0][-1] == pytest.approx(0.01 / 8)


def test_each_unfreezing_stage_runs_its_own_stlr_cycle(optimizers):
    model, task = tiny_classifier(), clf_task()
    recorder = LrRecorder(task, optimizers)
    cfg = TrainConfig(epochs=3, lr=0.01, strategy="gradual_unfreeze", batch_size=4)
    history = fit(model, model.layer_groups(), recorder, cfg, None, CPU, progress=False)
    n = task.n_batches(0)
    assert len(recorder.lrs) == 3 * n
    expected = [0.01 * slanted_triangular(t, n) for t in range(n)] * 3
    assert [lrs[-1] for lrs in recorder.lrs] == pytest.approx(expected, rel=1e-9)
    assert [h["lr_last_group"] for h in history] == pytest.approx([0.01 * slanted_triangular(n, n)] * 3)


# ---------------------------------------------------------------- exact resume


class Interrupted(Wrapped):
    """Fails (as a killed run would stop) after ``after`` batches of epoch ``at`` (0-based)."""

    def __init__(self, task, at: int, after: int) -> None:
        super().__init__(task)
        self.at, self.after = at, after

    def batches(self, epoch):
        for i, batch in enumerate(super().batches(epoch)):
            if epoch == self.at and i == self.after:
                raise RuntimeError("simulated interruption")
            yield batch


def comparable(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k not in ("seconds", "items_per_s")} for h in history]


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    different = [k for k in sa if not torch.equal(sa[k], sb[k])]
    assert not different, f"tensors differ after resume: {different}"


RESUME_CASES = {
    "lm": (tiny_lm, lm_task, TrainConfig(epochs=3, lr=0.01, batch_size=4, clip=0.3)),
    "classifier-full": (tiny_classifier, clf_task, TrainConfig(epochs=3, lr=0.01, batch_size=4)),
    "classifier-gradual": (tiny_classifier, clf_task,
                           TrainConfig(epochs=3, lr=0.01, batch_size=4, strategy="gradual_unfreeze")),
}


@pytest.mark.parametrize("case", list(RESUME_CASES))
def test_resume_after_interruption_matches_an_uninterrupted_run(case, tmp_path):
    make_model, make_task, cfg = RESUME_CASES[case]
    straight = make_model()
    history_a = fit(straight, straight.layer_groups(), make_task(), cfg, tmp_path / "a", CPU, progress=False)

    broken = make_model()
    with pytest.raises(RuntimeError, match="simulated interruption"):
        fit(broken, broken.layer_groups(), Interrupted(make_task(), at=1, after=2), cfg, tmp_path / "b",
            CPU, progress=False)
    assert latest_checkpoint(tmp_path / "b" / "checkpoints").name == "ckpt-0"

    resumed = make_model()
    history_b = fit(resumed, resumed.layer_groups(), make_task(), cfg, tmp_path / "b", CPU, progress=False)
    assert_same_weights(straight, resumed)
    assert comparable(history_b) == comparable(history_a)
    assert len(history_b) == 3 and history_b[-1]["valid_loss"] == history_a[-1]["valid_loss"]


def test_a_finished_run_is_not_trained_again(tmp_path):
    model, cfg = tiny_lm(), TrainConfig(epochs=1, lr=0.01, batch_size=4)
    first = fit(model, model.layer_groups(), lm_task(), cfg, tmp_path, CPU, progress=False)
    again = tiny_lm()
    second = fit(again, again.layer_groups(), lm_task(), cfg, tmp_path, CPU, progress=False)
    assert comparable(second) == comparable(first) and second[0]["seconds"] == first[0]["seconds"]
    assert_same_weights(model, again)


# ---------------------------------------------------------------- divergence


class NaNAtEpoch(Wrapped):
    """Returns a NaN loss from the second batch of epoch ``at``; records the weights after each epoch."""

    def __init__(self, task, at: int) -> None:
        super().__init__(task)
        self.at, self.weights = at, []
        self.step = 0

    def batches(self, epoch):
        self.step = 0
        return super().batches(epoch)

    def loss(self, model, batch):
        loss, n = self.task.loss(model, batch)
        self.step += 1
        return (loss * float("nan"), n) if self.epoch == self.at and self.step == 2 else (loss, n)

    def evaluate(self, model):
        self.weights.append({k: v.clone() for k, v in model.state_dict().items()})
        return self.task.evaluate(model)


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    model, cfg = tiny_lm(), TrainConfig(epochs=3, lr=0.01, batch_size=4)
    task = NaNAtEpoch(lm_task(), at=1)
    ckpt_dir = tmp_path / "checkpoints"
    with pytest.raises(TrainingDiverged) as err:
        fit(model, model.layer_groups(), task, cfg, tmp_path, CPU, progress=False)
    message = str(err.value)
    assert str(ckpt_dir) in message and "nan" in message and "epoch 2, step 2" in message
    latest = latest_checkpoint(ckpt_dir)
    assert latest is not None and latest.name == "ckpt-0"
    fresh = tiny_lm()
    state = load_checkpoint(latest, fresh, make_optimizer(fresh.layer_groups(), cfg))
    assert state["epoch"] == 0 and len(state["history"]) == 1
    saved = task.weights[0]
    assert all(torch.equal(fresh.state_dict()[k], saved[k]) for k in saved)


def test_nan_loss_without_a_run_folder_still_raises():
    model = tiny_lm()
    with pytest.raises(TrainingDiverged, match="loss became nan at epoch 1"):
        fit(model, model.layer_groups(), NaNAtEpoch(lm_task(), at=0), TrainConfig(epochs=1, batch_size=4),
            None, CPU, progress=False)


# ---------------------------------------------------------------- history


def test_history_records_each_epoch():
    model, task = tiny_classifier(), clf_task()
    history = fit(model, model.layer_groups(), task, TrainConfig(epochs=2, batch_size=4), None, CPU,
                  progress=False)
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(h["items"] == 16 and np.isfinite(h["train_loss"]) for h in history)
    assert all(set(h) >= {"valid_loss", "valid_error", "lr_last_group", "seconds"} for h in history)
    probs = predict(model, task.valid, batch_size=4)
    final = classification_metrics(probs, task.valid.labels)
    assert history[-1]["valid_error"] == final["error"] and history[-1]["valid_loss"] == final["loss"]


def test_classifier_trains_when_one_document_is_left_over():
    model, task = tiny_classifier(), clf_task(n_train=17)
    history = fit(model, model.layer_groups(), task, TrainConfig(epochs=1, batch_size=4), None, CPU,
                  progress=False)
    assert np.isfinite(history[0]["train_loss"])


# ---------------------------------------------------------------- early stopping (the paper's baselines)


class Snapshots(Wrapped):
    """Keeps a copy of the model's weights after every epoch's evaluation."""

    def __init__(self, task) -> None:
        super().__init__(task)
        self.after_epoch: list[dict] = []

    def evaluate(self, model):
        self.after_epoch.append({k: v.clone() for k, v in model.state_dict().items()})
        return self.task.evaluate(model)


def test_best_epoch_is_the_lowest_validation_error_then_loss_then_the_earliest():
    history = [{"valid_error": 30.0, "valid_loss": 1.0}, {"valid_error": 20.0, "valid_loss": 0.9},
               {"valid_error": 20.0, "valid_loss": 0.8}, {"valid_error": 20.0, "valid_loss": 0.8}]
    assert best_epoch(history) == 2


def test_early_stopping_gives_back_the_best_validation_epoch_weights_even_after_a_resume(tmp_path):
    cfg = TrainConfig(epochs=6, lr=0.1, batch_size=4)   # random labels: validation is best early on
    model, watched = tiny_classifier(), Snapshots(clf_task(n_valid=30))
    history = fit(model, model.layer_groups(), watched, cfg, tmp_path / "a", CPU, progress=False, keep_best=True)
    kept = best_epoch(history)
    assert kept < len(history) - 1, [h["valid_error"] for h in history]   # the case worth testing
    final = model.state_dict()
    assert all(torch.equal(final[k], watched.after_epoch[kept][k]) for k in final)
    assert not all(torch.equal(final[k], watched.after_epoch[-1][k]) for k in final)
    assert (tmp_path / "a" / "checkpoints" / "best.safetensors").exists()
    # interrupted after the best epoch, resumed by a new process: the best weights come from the run folder
    broken = tiny_classifier()
    with pytest.raises(RuntimeError, match="simulated interruption"):
        fit(broken, broken.layer_groups(), Interrupted(clf_task(n_valid=30), at=kept + 1, after=1), cfg,
            tmp_path / "b", CPU, progress=False, keep_best=True)
    resumed = tiny_classifier()
    again = fit(resumed, resumed.layer_groups(), clf_task(n_valid=30), cfg, tmp_path / "b", CPU, progress=False,
                keep_best=True)
    assert comparable(again) == comparable(history)
    assert_same_weights(model, resumed)


def test_without_early_stopping_the_last_epoch_is_kept():
    cfg = TrainConfig(epochs=3, lr=0.05, batch_size=4)
    model, watched = tiny_classifier(), Snapshots(clf_task())
    fit(model, model.layer_groups(), watched, cfg, None, CPU, progress=False)
    final = model.state_dict()
    assert all(torch.equal(final[k], watched.after_epoch[-1][k]) for k in final)


def test_each_epoch_gets_one_summary_line() -> None:
    from ulmfit_core.train import epoch_summary

    lm = {"epoch": 2, "train_loss": 4.1234, "valid_loss": 3.9, "valid_perplexity": 49.4, "seconds": 12.4,
          "trainable_groups": [0, 1, 2, 3]}
    clf = {"epoch": 1, "train_loss": 0.7, "valid_loss": 0.5, "valid_error": 12.5, "seconds": 3.0,
           "trainable_groups": [4]}
    assert epoch_summary(lm, 4, 4) == ("epoch 2/4 (all groups)  train loss 4.123  valid loss 3.900  "
                                       "valid perplexity 49.4  12 s")
    assert epoch_summary(clf, 6, 5) == ("epoch 1/6 (group 5 of 5)  train loss 0.700  valid loss 0.500  "
                                        "valid error 12.50%  3 s")
    assert epoch_summary({**clf, "trainable_groups": [2, 3, 4]}, 6, 5).startswith("epoch 1/6 (groups 3-5 of 5)")


def test_a_classifier_resumed_inside_an_epoch_matches_an_uninterrupted_run(tmp_path):
    """A mid-epoch checkpoint restores the RNG after the data loader is started again, so the dropout
    masks of the resumed batches are those of an uninterrupted run."""
    cfg = TrainConfig(epochs=2, lr=0.01, batch_size=4)
    straight = tiny_classifier()
    expected = fit(straight, straight.layer_groups(), clf_task(), cfg, tmp_path / "a", CPU, progress=False)
    broken = tiny_classifier()
    with pytest.raises(RuntimeError, match="simulated interruption"):
        fit(broken, broken.layer_groups(), Interrupted(clf_task(), at=1, after=3), cfg, tmp_path / "b", CPU,
            progress=False, checkpoint_every=2)
    assert latest_checkpoint(tmp_path / "b" / "checkpoints").name == "ckpt-1-2"
    resumed = tiny_classifier()
    history = fit(resumed, resumed.layer_groups(), clf_task(), cfg, tmp_path / "b", CPU, progress=False)
    assert_same_weights(straight, resumed)
    assert comparable(history) == comparable(expected)


def test_the_best_epoch_of_a_language_model_is_its_lowest_validation_loss() -> None:
    from ulmfit_core.train import best_epoch  # noqa: PLC0415
    assert best_epoch([{"valid_loss": 3.0}, {"valid_loss": 2.0}, {"valid_loss": 2.5}]) == 1
    assert best_epoch([{"valid_error": 5.0, "valid_loss": 1.0}, {"valid_error": 4.0, "valid_loss": 2.0}]) == 1
