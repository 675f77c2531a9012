"""Bad input: damaged or mismatched checkpoints, bad configuration files, empty or blank datasets, very
long documents, a diverging loss and damaged run records. Each error names the file and the problem, and
nothing already written is lost."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from ulmfit_core.awd_lstm import AWDLSTMConfig, LanguageModel, lm_dropouts
from ulmfit_core.batching import TextDataset
from ulmfit_core.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint, save_weights
from ulmfit_core.classifier import TextClassifier
from ulmfit_core.cli import RunConfig, main
from ulmfit_core.fileio import save_arrays, write_json
from ulmfit_core.tasks import LMTask
from ulmfit_core.train import TrainConfig, TrainingDiverged, fit, make_optimizer
from ulmfit_core.usercsv import read_labelled_csv
from ulmfit_core.vocab import Vocab
from ulmfit_core.harness import datasets as D
from ulmfit_core.harness import experiments as E

VOCAB = 50
CFG = AWDLSTMConfig(emb_size=8, hidden_size=16, n_layers=2)
CPU = torch.device("cpu")
TRAIN = TrainConfig(epochs=2, lr=0.01, batch_size=4)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def tiny_lm(vocab: int = VOCAB, cfg: AWDLSTMConfig = CFG) -> LanguageModel:
    torch.manual_seed(0)
    return LanguageModel(vocab, lm_dropouts(cfg))


def lm_task(vocab: int = VOCAB) -> LMTask:
    rng = np.random.default_rng(0)
    docs = [rng.integers(2, vocab, rng.integers(10, 30)) for _ in range(12)]
    return LMTask(docs[:10], docs[10:], batch_size=4, bptt=8, seed=1)


@pytest.fixture
def one_epoch_run(tmp_path) -> Path:
    """A run folder holding the checkpoint of one finished epoch (of two)."""
    run = tmp_path / "run"

    class StopAfterFirstEpoch:
        def __init__(self, task: LMTask) -> None:
            self.task = task

        def batches(self, epoch: int):
            if epoch == 1:
                raise KeyboardInterrupt("stopped after the first epoch")
            return self.task.batches(epoch)

        def n_batches(self, epoch: int) -> int:
            return self.task.n_batches(epoch)

        def loss(self, model: nn.Module, batch):
            return self.task.loss(model, batch)

        def evaluate(self, model: nn.Module) -> dict[str, float]:
            return self.task.evaluate(model)

    model = tiny_lm()
    with pytest.raises(KeyboardInterrupt):
        fit(model, model.layer_groups(), StopAfterFirstEpoch(lm_task()), TRAIN, run, CPU, progress=False)
    assert latest_checkpoint(run / "checkpoints").name == "ckpt-0"
    return run


# ---------------------------------------------------------------- damaged checkpoints, through fit's resume


DAMAGE = {  # case -> (file, damage)
    "model.safetensors-truncated": ("model.safetensors", lambda b: b[: len(b) // 2]),
    "optimizer.safetensors-truncated": ("optimizer.safetensors", lambda b: b[:40]),
    "rng.safetensors-zeroed": ("rng.safetensors", lambda b: b"\x00" * len(b)),
    "optimizer.json-truncated": ("optimizer.json", lambda b: b[: len(b) // 2]),
    "state.json-empty": ("state.json", lambda b: b""),
    "state.json-binary": ("state.json", lambda b: b"\x80\x04\x95" + b),
}
@pytest.mark.parametrize("case", list(DAMAGE))
def test_resuming_from_a_damaged_checkpoint_file_names_it_and_changes_nothing(one_epoch_run, case):
    name, damage = DAMAGE[case]
    target = one_epoch_run / "checkpoints" / "ckpt-0" / name
    target.write_bytes(damage(target.read_bytes()))
    before = snapshot(one_epoch_run)
    model = tiny_lm()
    with pytest.raises(ValueError) as err:                       # CheckpointError is a ValueError
        fit(model, model.layer_groups(), lm_task(), TRAIN, one_epoch_run, CPU, progress=False)
    assert str(target) in str(err.value)
    assert snapshot(one_epoch_run) == before


def test_an_empty_latest_pointer_is_reported_as_such(one_epoch_run):
    pointer = one_epoch_run / "checkpoints" / "LATEST"
    pointer.write_text("")
    with pytest.raises(CheckpointError, match="LATEST"):
        latest_checkpoint(one_epoch_run / "checkpoints")


@pytest.mark.parametrize("other", [{"vocab": VOCAB + 7}, {"cfg": CFG.replace(hidden_size=24)}],
                         ids=["another-vocabulary", "another-hidden-size"])
def test_resuming_with_a_model_of_another_size_names_the_file_and_shapes(one_epoch_run, other):
    before = snapshot(one_epoch_run)
    model = tiny_lm(**other)
    with pytest.raises(CheckpointError) as err:
        fit(model, model.layer_groups(), lm_task(other.get("vocab", VOCAB)), TRAIN, one_epoch_run, CPU,
            progress=False)
    message = str(err.value)
    assert message.startswith(str(one_epoch_run / "checkpoints" / "ckpt-0" / "model.safetensors"))
    assert "has shape" in message and "but the model expects" in message
    assert snapshot(one_epoch_run) == before
    fresh = tiny_lm()                                            # still loads into the right model
    state = load_checkpoint(one_epoch_run / "checkpoints" / "ckpt-0", fresh,
                            make_optimizer(fresh.layer_groups(), TRAIN))
    assert state["epoch"] == 0


# ---------------------------------------------------------------- a diverging loss


class NaNInSecondEpoch:
    """Delegates to ``task``; the third loss of the second epoch is ``value``. Records the checkpoint
    folder's bytes as the second epoch starts."""

    def __init__(self, task: LMTask, folder: Path, value: float) -> None:
        self.task, self.folder, self.value = task, folder, value
        self.epoch, self.step, self.before = -1, 0, {}

    def batches(self, epoch: int):
        self.epoch, self.step = epoch, 0
        if epoch == 1:
            self.before = snapshot(self.folder)
        return self.task.batches(epoch)

    def n_batches(self, epoch: int) -> int:
        return self.task.n_batches(epoch)

    def loss(self, model: nn.Module, batch):
        loss, n = self.task.loss(model, batch)
        self.step += 1
        return (loss * self.value, n) if (self.epoch, self.step) == (1, 3) else (loss, n)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return self.task.evaluate(model)


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_a_diverging_loss_stops_and_leaves_the_last_checkpoint_byte_for_byte(tmp_path, value):
    folder = tmp_path / "checkpoints"
    task = NaNInSecondEpoch(lm_task(), folder, value)
    model = tiny_lm()
    with pytest.raises(TrainingDiverged, match=f"loss became {value} at epoch 2, step 3"):
        fit(model, model.layer_groups(), task, TRAIN, tmp_path, CPU, progress=False)
    assert set(task.before) >= {"LATEST", "ckpt-0/model.safetensors", "ckpt-0/state.json"}
    assert snapshot(folder) == task.before                      # nothing rewritten, nothing half-written
    fresh = tiny_lm()
    state = load_checkpoint(latest_checkpoint(folder), fresh, make_optimizer(fresh.layer_groups(), TRAIN))
    assert state["epoch"] == 0 and np.isfinite(state["history"][0]["train_loss"])


# ---------------------------------------------------------------- configuration files (the ulmfit command)


@pytest.mark.parametrize("doc,key", [
    ({"model": {"embed_p": -0.1}}, "embed_p"),
    ({"finetune_lm": {"ratio": 0.5}}, "ratio"),
    ({"classifier": {"cut_frac": 0}}, "cut_frac"),
    ({"pretrain": {"train": {"cut_frac": 1.0}}}, "cut_frac"),
    ({"data": {"valid_frac": 1.0}}, "valid_frac"),
    ({"bptt": 0}, "bptt"),
    ({"model": {"hidden_size": 2.5}}, "hidden_size"),
    ({"data": {"text_col": "review"}}, "text_col"),
    ({"epochs": 3}, "epochs"),                                 # a valid key, but in the wrong section
], ids=["negative-dropout", "ratio-below-1", "cut-frac-0", "nested-cut-frac-1", "valid-frac-1", "bptt-0",
        "fractional-size", "unknown-nested-key", "misplaced-key"])
def test_a_bad_config_value_is_reported_with_file_and_key_and_nothing_is_written(tmp_path, capsys, doc, key):
    earlier = tmp_path / "ulmfit-run" / "classifier"
    earlier.mkdir(parents=True)
    (earlier / "model.safetensors").write_bytes(b"weights of an earlier run")
    before = snapshot(tmp_path)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert main(["train-classifier", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ulmfit: error: {path}: ") and key in err
    assert snapshot(tmp_path) == {**before, "run.yaml": path.read_bytes()}


@pytest.mark.parametrize("text,problem", [("- model\n- bptt\n", "expects a mapping, got list"),
                                          ("model: {emb_size: 8\n", "not valid YAML")],
                         ids=["a-list", "broken-yaml"])
def test_a_config_that_is_not_a_mapping_is_reported_with_the_file(tmp_path, capsys, text, problem):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    assert main(["evaluate", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and problem in err


def test_a_missing_config_file_is_reported(tmp_path, capsys):
    assert main(["evaluate", "-c", str(tmp_path / "absent.yaml")]) == 2
    assert "absent.yaml" in capsys.readouterr().err


def test_a_bad_value_names_its_section(tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"finetune_lm": {"ratio": 0.5}}))
    assert main(["fine-tune-lm", "-c", str(path)]) == 2
    assert "finetune_lm" in capsys.readouterr().err


@pytest.mark.parametrize("doc,key", [({"bptt": 2.5}, "bptt"), ({"max_len": 10.5}, "max_len"),
                                     ({"device": "gpu"}, "device"), ({"backward": "no"}, "backward"),
                                     ({"output": 5}, "output")])
def test_a_value_of_the_wrong_kind_is_rejected_when_the_config_loads(tmp_path, doc, key):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ValueError) as err:
        RunConfig.load(path)
    assert str(path) in str(err.value) and key in str(err.value)


# ---------------------------------------------------------------- datasets: missing columns, empty, blank


def test_a_user_csv_missing_a_column_names_the_file_and_the_column(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("text,stars\nGreat film.,5\n")
    with pytest.raises(ValueError) as err:
        read_labelled_csv(path)
    assert str(path) in str(err.value) and "['label']" in str(err.value)
    with pytest.raises(ValueError, match=r"mine\.csv: missing column\(s\) \['body'\]"):
        read_labelled_csv(path, text_column="body", label_column=None)


@pytest.mark.parametrize("content,problem", [("text,label\n", "no rows"), ("", "not a readable CSV file")],
                         ids=["header-only", "zero-bytes"])
def test_an_empty_user_csv_names_the_file(tmp_path, content, problem):
    path = tmp_path / "empty.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=problem) as err:
        read_labelled_csv(path)
    assert str(path) in str(err.value)


def test_an_empty_dataset_file_names_the_file(tmp_path):
    path = tmp_path / "imdb" / "train.csv.gz"
    path.parent.mkdir()
    path.write_bytes(gzip.compress(b"id,rating,label,text\n"))
    with pytest.raises(ValueError) as err:
        D.load_split("imdb", "train", tmp_path)
    assert str(path) in str(err.value) and "found 0" in str(err.value)


@pytest.mark.parametrize("part", ["training", "validation"])
def test_an_empty_language_model_corpus_is_rejected_naming_the_part(part):
    docs = [np.arange(2, 40)] * 4
    with pytest.raises(ValueError) as err:
        LMTask([] if part == "training" else docs, [] if part == "validation" else docs, batch_size=4)
    assert part in str(err.value)


def test_an_empty_classification_dataset_is_rejected_at_once():
    with pytest.raises(ValueError, match="no documents"):
        TextDataset([], [])


@pytest.mark.parametrize("blank", ["   ", "\t \t", "\n\n", " \r\n "], ids=["spaces", "tabs", "newlines", "crlf"])
def test_a_text_of_only_whitespace_names_the_file_and_row(tmp_path, blank):
    path = tmp_path / "mine.csv"
    quoted = '"' + blank + '"'
    path.write_text(f"text,label\nA fine film.,pos\n{quoted},neg\n", newline="")
    with pytest.raises(ValueError, match=r"mine\.csv, row 3: empty text"):
        read_labelled_csv(path)
    with pytest.raises(ValueError, match=r"mine\.csv, row 3: empty text"):   # texts to predict, too
        read_labelled_csv(path, label_column=None)


def test_dataset_readers_reject_whitespace_texts_naming_file_and_row(tmp_path):
    ag = tmp_path / "ag.csv"
    ag.write_text('"1","Title","Body"\n"2","  ","\t"\n')
    with pytest.raises(ValueError, match=r"ag\.csv: row 2: empty text"):
        D.read_zhang_csv(ag, 4)
    trec = tmp_path / "TREC_10.label"
    trec.write_bytes(b"DESC:manner How did serfdom develop ?\nNUM:date    \n")
    with pytest.raises(ValueError, match=r"TREC_10\.label: line 2: empty text"):
        D.read_trec(trec)


def test_the_command_rejects_a_blank_text_to_predict(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    sizes = {"emb_size": 8, "hidden_size": 16, "n_layers": 2}
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({"model": sizes}))
    folder = tmp_path / "ulmfit-run" / "classifier"
    folder.mkdir(parents=True)
    vocab = Vocab.build({"film": 3})
    torch.manual_seed(0)
    save_weights(TextClassifier(len(vocab), 2, AWDLSTMConfig(**sizes)), folder / "model.safetensors")
    vocab.save(folder / "vocab.json")
    write_json(folder / "labels.json", ["neg", "pos"])
    texts = tmp_path / "new.csv"
    texts.write_text('text\nA film.\n"  "\n')
    out = tmp_path / "pred.csv"
    assert main(["predict", "-c", str(cfg), "--input", str(texts), "--output", str(out)]) == 2
    assert f"{texts}, row 3: empty text" in capsys.readouterr().err
    assert not out.exists()


# ---------------------------------------------------------------- a document longer than any BPTT window


def test_a_document_ten_times_max_len_runs_and_trains_only_its_last_max_len_tokens():
    bptt, max_len = 5, 15
    torch.manual_seed(0)
    model = TextClassifier(VOCAB, 3, CFG.with_dropout(0.0), bptt=bptt, max_len=max_len, head_hidden=8).train()
    gen = torch.Generator().manual_seed(0)
    early = torch.randint(30, VOCAB, (9 * max_len,), generator=gen)     # words only before the last max_len
    late = torch.randint(2, 30, (max_len,), generator=gen)
    other = torch.randint(2, 30, (7,), generator=gen)
    ids = torch.full((2, 10 * max_len), CFG.pad_id)
    ids[0], ids[1, :7] = torch.cat([early, late]), other
    logits = model(ids, torch.tensor([10 * max_len, 7]))
    assert logits.shape == (2, 3) and bool(torch.isfinite(logits).all())
    nn.functional.cross_entropy(logits, torch.tensor([0, 2])).backward()
    grad = model.encoder.encoder.embedding.weight.grad
    assert torch.equal(grad[early.unique()], torch.zeros_like(grad[early.unique()]))
    assert bool((grad[late.unique()].abs().sum(1) > 0).all())
    model.eval()
    with torch.no_grad():
        assert bool(torch.isfinite(model(ids[:1], torch.tensor([10 * max_len]))).all())


# ---------------------------------------------------------------- damaged run records


@pytest.fixture
def recorded_run(tmp_path, monkeypatch) -> E.Run:
    """A classifier run with a record and predictions in a temporary results folder."""
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    run = E.Run("classifier", "smoke", {"dataset": "toy", "seed": 0})
    write_json(run.record_path, {"id": run.id, "metrics": {"test_error": 12.5}})
    save_arrays(run.preds_path, test_probs=np.full((4, 2), 0.5, dtype=np.float32),
                test_labels=np.array([0, 1, 0, 1]))

    def must_not_run(*args, **kwargs):
        raise AssertionError("the run was computed again")

    monkeypatch.setattr(E, "_do_classifier", must_not_run)
    return run


def test_a_damaged_run_record_names_the_file_and_is_not_overwritten(recorded_run):
    path = recorded_run.record_path
    path.write_bytes(path.read_bytes()[:20])
    before = path.read_bytes()
    with pytest.raises(ValueError, match="not valid JSON") as err:
        E.ensure(recorded_run, device="cpu")
    assert str(path) in str(err.value) and path.read_bytes() == before


def test_damaged_predictions_name_the_file(recorded_run):
    path = recorded_run.preds_path
    assert E.predictions(recorded_run)["test_labels"].tolist() == [0, 1, 0, 1]
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ValueError, match="unreadable array file") as err:
        E.predictions(recorded_run)
    assert str(path) in str(err.value)
