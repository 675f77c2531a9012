"""The ``ulmfit`` command on a user's own CSV: every subcommand, and clear errors on bad input."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml

from ulmfit_core import stages
from ulmfit_core.cli import main
from ulmfit_core.fileio import read_json
from ulmfit_core.runconfig import RunConfig
from ulmfit_core.usercsv import min_rows

WORDS = {"pos": "good great fine lovely superb nice".split(), "neg": "bad awful poor dull horrid nasty".split()}
FILLER = "the a movie film plot actor scene this was and it".split()


def write_csv(path: Path, n: int, seed: int, labelled: bool = True) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"] if labelled else ["text"])
        for i in range(n):
            label = "pos" if i % 2 else "neg"
            words = list(rng.choice(FILLER, 8)) + list(rng.choice(WORDS[label], 2))
            rng.shuffle(words)
            writer.writerow([" ".join(words).capitalize() + ".", label] if labelled else [" ".join(words)])


def make_config(tmp_path: Path) -> Path:
    write_csv(tmp_path / "train.csv", 120, 0)
    write_csv(tmp_path / "test.csv", 40, 1)
    corpus = [" ".join(np.random.default_rng(i).choice(FILLER + WORDS["pos"] + WORDS["neg"], 30))
              for i in range(60)]
    (tmp_path / "corpus.txt").write_text("\n".join(corpus))
    tiny = {"epochs": 1, "batch_size": 8}
    cfg = {"output": "run", "device": "cpu",
           "model": {"emb_size": 16, "hidden_size": 24, "n_layers": 2},
           "bptt": 12, "max_len": 48,
           "data": {"train_csv": "train.csv", "test_csv": "test.csv"},
           "pretrain": {"corpus": str(tmp_path / "corpus.txt"), "vocab_size": 100, "train": tiny},
           "finetune_lm": tiny, "classifier": {**tiny, "epochs": 6, "lr": 0.02}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_every_subcommand(tmp_path, capsys) -> None:
    cfg = make_config(tmp_path)
    for command in ("pretrain", "fine-tune-lm", "train-classifier", "evaluate"):
        assert main([command, "-c", str(cfg)]) == 0, capsys.readouterr().err
    for stage in ("pretrained", "lm", "classifier"):
        assert (tmp_path / "run" / stage / "model.safetensors").exists()
        assert (tmp_path / "run" / stage / "vocab.json").exists()
    write_csv(tmp_path / "new.csv", 5, 2, labelled=False)
    assert main(["predict", "-c", str(cfg), "--input", str(tmp_path / "new.csv"),
                 "--output", str(tmp_path / "pred.csv")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "pred.csv")))
    assert len(rows) == 5 and {r["prediction"] for r in rows} <= {"neg", "pos"}
    assert abs(float(rows[0]["p_neg"]) + float(rows[0]["p_pos"]) - 1) < 1e-5


def test_from_scratch_needs_no_language_model(tmp_path, capsys) -> None:
    cfg = make_config(tmp_path)
    assert main(["train-classifier", "--from-scratch", "-c", str(cfg)]) == 0, capsys.readouterr().err
    assert main(["evaluate", "-c", str(cfg)]) == 0


def test_unknown_config_key_is_reported_with_the_file(tmp_path, capsys) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"classifier": {"epochs": 1, "learning_rate": 0.1}}))
    assert main(["train-classifier", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "learning_rate" in err


def test_out_of_range_value_is_reported(tmp_path, capsys) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"classifier": {"cut_frac": 1.5}}))
    assert main(["train-classifier", "-c", str(path)]) == 2
    assert "cut_frac" in capsys.readouterr().err


def test_missing_column_names_the_file(tmp_path, capsys) -> None:
    cfg = make_config(tmp_path)
    (tmp_path / "train.csv").write_text("review,label\nsome text,pos\n")
    assert main(["train-classifier", "--from-scratch", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "train.csv" in err and "text" in err


def _never_tokenise(monkeypatch) -> None:
    """Make every tokenising entry point fail: the checks must stop a bad config before them."""
    def fail(*args, **kwargs):
        raise AssertionError("tokenised before the config was checked")
    for target in ("build_vocab", "encode"):
        monkeypatch.setattr(stages, target, fail)


def test_three_row_csv_is_rejected_before_tokenising_naming_file_and_rows(tmp_path, capsys, monkeypatch) -> None:
    cfg = make_config(tmp_path)
    write_csv(tmp_path / "train.csv", 3, 0)
    _never_tokenise(monkeypatch)
    assert main(["train-classifier", "--from-scratch", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert str(cfg) in err and str(tmp_path / "train.csv") in err
    assert "3 row(s) give 0 validation row(s) at valid_frac 0.1" in err and "at least 6 rows" in err


def test_one_class_csv_is_rejected_with_every_problem_at_once(tmp_path, capsys, monkeypatch) -> None:
    cfg = make_config(tmp_path)
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f"review {i},pos\n" for i in range(20)))
    _never_tokenise(monkeypatch)
    assert main(["fine-tune-lm", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'train.csv'}: column 'label' has 1 class(es) ['pos']; a classifier needs at least two" in err
    assert "no pretrained stage" in err and "ulmfit pretrain" in err        # the missing stage, in the same message


def test_enough_rows_is_the_smallest_count_with_a_validation_row() -> None:
    assert [min_rows(f) for f in (0.1, 0.2, 0.5)] == [6, 3, 2]
    for frac in (0.1, 0.25, 0.3):
        n = min_rows(frac)
        assert round(frac * n) >= 1 and round(frac * (n - 1)) < 1


# ------------------------------------------------------------------ from a committed pretrained LM

def pretrained_config(tmp_path: Path, **changes) -> Path:
    """A run from the committed reduced LMs on a small CSV, both directions, tiny training."""
    write_csv(tmp_path / "train.csv", 60, 0)
    write_csv(tmp_path / "test.csv", 24, 1)
    tiny = {"epochs": 1, "batch_size": 8}
    cfg = {"output": "run", "device": "cpu", "pretrained": "reduced-forward", "backward": "both",
           "bptt": 20, "max_len": 60, "data": {"train_csv": "train.csv", "test_csv": "test.csv"},
           "finetune_lm": tiny, "classifier": tiny, **changes}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _correlation(a, b) -> float:
    return float(np.corrcoef(a.float().flatten().numpy(), b.float().flatten().numpy())[0, 1])


def test_run_from_a_committed_lm_fine_tunes_classifies_evaluates_and_predicts_both_directions(tmp_path, capsys):
    from ulmfit_core.checkpoint import load_weights
    from ulmfit_core.pretrained import resolve

    cfg = pretrained_config(tmp_path)
    assert main(["run", "-c", str(cfg)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "epoch 1/1" in out and "valid perplexity" in out and "valid error" in out   # a line per epoch
    run = tmp_path / "run"
    for stage in ("lm", "lm-backward", "classifier", "classifier-backward"):
        assert (run / stage / "model.safetensors").is_file() and (run / stage / "stage.json").is_file()
    assert not (run / "pretrained").exists()                                  # no pretraining step
    key = "encoder.rnns.1.module.weight_ih_l0"                                # each started from its own LM
    for stage, name, other in (("lm", "reduced-forward", "reduced-backward"),
                               ("lm-backward", "reduced-backward", "reduced-forward")):
        tuned = load_weights(run / stage / "model.safetensors")[key]
        own, twin = (load_weights(resolve(n).weights)[key] for n in (name, other))
        assert _correlation(tuned, own) > 0.99 > _correlation(tuned, twin) + 0.5
    evaluation = read_json(run / "evaluation.json")
    assert set(evaluation["models"]) == {"forward", "backward", "ensemble", "baseline (TF-IDF)"}
    for report in evaluation["models"].values():
        assert report["n"] == 24 and abs(report["accuracy"] + report["error"] - 100) < 1e-9
        assert set(report["per_class"]) == {"neg", "pos"} and sum(map(sum, report["confusion"])) == 24
        assert {"precision", "recall"} <= set(report["per_class"]["pos"])
    assert "confusion matrix, ensemble" in out and "prec / rec" in out and "test error" in out
    write_csv(tmp_path / "new.csv", 5, 2, labelled=False)
    assert main(["predict", "-c", str(cfg), "--input", str(tmp_path / "new.csv"),
                 "--output", str(tmp_path / "pred.csv")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "pred.csv")))
    assert len(rows) == 5 and {r["prediction"] for r in rows} <= {"neg", "pos"}
    assert main(["run", "-c", str(cfg)]) == 0                                  # finished stages are skipped
    assert capsys.readouterr().out.count("skipped") == 5


def test_a_changed_config_is_not_mixed_with_the_stages_of_the_old_one(tmp_path, capsys):
    cfg = pretrained_config(tmp_path, backward=False)
    assert main(["fine-tune-lm", "-c", str(cfg)]) == 0
    pretrained_config(tmp_path, backward=False, finetune_lm={"epochs": 2, "batch_size": 8})
    assert main(["fine-tune-lm", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'run' / 'lm'}: made by another configuration" in err


@pytest.mark.parametrize("changes,message", [
    ({"pretrained": "reduced-fwd"}, "'reduced-fwd' is neither a published LM (published: reduced-backward, "
                                    "reduced-forward"),
    ({"model": {"emb_size": 400, "n_layers": 3}}, "model.emb_size = 400 but the pretrained LM reduced-forward has "
                                                  "emb_size 200"),
    ({"pretrained": "reduced-vanilla"}, "reduced-vanilla is a forward LM and names no backward twin"),
    ({"pretrained": "no-such-folder/"}, "'no-such-folder/' is neither a published LM"),
    ({"pretrained": "."}, "lacks model.safetensors, vocab.json"),
    ({"pretrained": 3}, "RunConfig.pretrained must be a published LM's name or a folder"),
], ids=["unknown-name", "size-mismatch", "no-twin", "missing-folder", "folder-without-lm", "not-a-string"])
def test_a_bad_pretrained_value_is_refused_naming_the_file(tmp_path, capsys, monkeypatch, changes, message):
    cfg = pretrained_config(tmp_path, **changes)
    _never_tokenise(monkeypatch)
    assert main(["run", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert str(cfg) in err and message in err


def test_pretraining_is_refused_when_the_config_names_a_pretrained_lm(tmp_path, capsys):
    cfg = pretrained_config(tmp_path)
    assert main(["pretrain", "-c", str(cfg)]) == 2
    assert "starts from the pretrained LM reduced-forward" in capsys.readouterr().err


def test_a_folder_made_by_ulmfit_pretrain_is_a_pretrained_lm_with_its_twin(tmp_path, capsys):
    """`ulmfit pretrain` with both directions writes two LM folders that name each other; another run can
    start from the forward one and find the backward one."""
    first = make_config(tmp_path)
    data = yaml.safe_load(first.read_text())
    first.write_text(yaml.safe_dump({**data, "backward": "both"}))
    assert main(["pretrain", "-c", str(first)]) == 0, capsys.readouterr().err
    second = tmp_path / "second.yaml"
    second.write_text(yaml.safe_dump({**data, "backward": "both", "output": "second",
                                      "pretrained": "run/pretrained", "model": {}}))
    assert main(["fine-tune-lm", "-c", str(second)]) == 0, capsys.readouterr().err
    assert RunConfig.load(second).model.emb_size == 16
    assert (tmp_path / "second" / "lm-backward" / "model.safetensors").is_file()
