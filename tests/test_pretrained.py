"""The index of published LMs: every name resolves to committed weights of the stated sizes, twins pair a
forward with a backward LM, and a bad index, name or folder is refused with the file and the problem."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ulmfit_core import pretrained
from ulmfit_core.awd_lstm import AWDLSTMConfig, LanguageModel
from ulmfit_core.checkpoint import save_weights
from ulmfit_core.config import ConfigError
from ulmfit_core.fileio import read_json, write_json
from ulmfit_core.tokenize import SPECIAL_TOKENS
from ulmfit_core.vocab import Vocab
from ulmfit_core.harness.experiments import Run
from ulmfit_core.harness.publish_lms import KINDS, publish


def test_the_committed_index_names_the_committed_lms_and_their_records() -> None:
    lms = pretrained.read_index()
    assert {"reduced-forward", "reduced-backward"} <= set(lms)
    for name, entry in lms.items():
        lm = pretrained.resolve(name)                           # files there, sizes as the weights hold them
        record = read_json(pretrained.INDEX.parent / entry["record"])
        assert record["id"] == entry["run"] and lm.folder.name == f"pretrain-{entry['run']}"
        assert record["config"]["direction"] == lm.direction
        assert {k: record["config"]["model"][k] for k in pretrained.SIZES} == lm.sizes
        assert record["metrics"]["vocab_size"] == lm.vocab_size
    forward = pretrained.resolve("reduced-forward")
    assert forward.sizes == {"emb_size": 200, "hidden_size": 400, "n_layers": 3} and forward.vocab_size == 20_000
    backward = pretrained.for_direction(forward, "backward")
    assert backward.name == "reduced-backward" and pretrained.for_direction(backward, "forward") == forward


def _lm_folder(folder: Path, vocab_size: int = 30, emb: int = 8, hidden: int = 12, layers: int = 2) -> Path:
    itos = list(SPECIAL_TOKENS) + [f"w{i}" for i in range(vocab_size - len(SPECIAL_TOKENS))]
    model = LanguageModel(len(itos), AWDLSTMConfig(emb_size=emb, hidden_size=hidden, n_layers=layers))
    folder.mkdir(parents=True)
    save_weights(model, folder / "model.safetensors")
    Vocab(itos).save(folder / "vocab.json")
    return folder


def test_a_folder_lm_reads_its_sizes_from_its_weights_and_its_direction_from_lm_json(tmp_path) -> None:
    fwd, bwd = _lm_folder(tmp_path / "fwd"), _lm_folder(tmp_path / "bwd")
    pretrained.write_meta(fwd, "forward", bwd)
    pretrained.write_meta(bwd, "backward", fwd)
    lm = pretrained.resolve("fwd", base=tmp_path, index=tmp_path / "no-index.json")
    assert lm.sizes == {"emb_size": 8, "hidden_size": 12, "n_layers": 2} and lm.vocab_size == 30
    twin = pretrained.for_direction(lm, "backward", index=tmp_path / "no-index.json")
    assert twin.folder == bwd and twin.direction == "backward"
    alone = _lm_folder(tmp_path / "alone")
    with pytest.raises(ConfigError, match="forward LM and names no backward twin"):
        pretrained.for_direction(pretrained.resolve(str(alone)), "backward")


def test_bad_names_folders_and_indexes_are_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"'reduced-fwd' is neither a published LM \(published: .*forward"):
        pretrained.resolve("reduced-fwd")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="lacks model.safetensors, vocab.json"):
        pretrained.resolve(str(tmp_path / "empty"))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "model.safetensors").write_bytes(b"not weights")
    (tmp_path / "junk" / "vocab.json").write_text("{}")
    with pytest.raises(ValueError, match=r"junk/model\.safetensors: not a readable safetensors file"):
        pretrained.resolve(str(tmp_path / "junk"))
    index = tmp_path / "index.json"
    write_json(index, {"lms": {"a": {"path": "x", "direction": "forward", "model": {"emb_size": 1},
                                     "vocab_size": 3}}})
    with pytest.raises(ValueError, match=r"index\.json: LM 'a': model must give exactly"):
        pretrained.read_index(index)
    _lm_folder(tmp_path / "lm")
    entry = pretrained.index_entry(tmp_path / "lm", "forward", "b", index=index)
    with pytest.raises(ValueError, match=r"index\.json: LM 'a': twin 'b' is not a published LM"):
        pretrained.update_index({"a": entry}, index)
    write_json(index, {"lms": {"a": {**entry, "twin": None, "vocab_size": 99}}})
    with pytest.raises(ValueError, match=r"LM 'a' states .*'vocab_size': 99.* but .*model\.safetensors holds"):
        pretrained.resolve("a", index=index)


def test_publishing_a_scale_writes_its_lms_into_the_index(tmp_path, monkeypatch) -> None:
    """What keeps the index current: the harness publishes a scale's finished LMs by name, the forward
    and backward ones as each other's twin, and replaces the entries of a scale published before."""
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path / "results"))
    runs = {}
    for kind in KINDS:
        run = Run("pretrain", "tiny", {"direction": "backward" if kind == "backward" else "forward",
                                       "model": AWDLSTMConfig(8, 12, 2).to_dict(), "vocab": {"max_size": 30},
                                       "kind": kind})
        _lm_folder(tmp_path / "results" / "tiny" / "weights" / f"pretrain-{run.id}")
        write_json(run.record_path, {"id": run.id, "metrics": {"train_tokens": 1000}})
        runs[kind] = run
    index = tmp_path / "results" / "pretrained_lms.json"
    write_json(index, {"about": "kept", "lms": {}})
    lms = publish("tiny", runs, "cpu", index)
    assert read_json(index)["about"] == "kept" and sorted(lms) == ["tiny-backward", "tiny-forward", "tiny-vanilla"]
    assert lms["tiny-forward"]["twin"] == "tiny-backward" and lms["tiny-vanilla"]["twin"] is None
    assert lms["tiny-backward"]["path"] == f"tiny/weights/pretrain-{runs['backward'].id}"
    sizes = pretrained.resolve("tiny-forward", index=index).sizes
    assert sizes == {"emb_size": 8, "hidden_size": 12, "n_layers": 2}
    shutil.rmtree(tmp_path / "results" / "tiny" / "weights" / f"pretrain-{runs['vanilla'].id}")
    runs["vanilla"].record_path.unlink()
    with pytest.raises(FileNotFoundError, match=r"tiny: pretraining runs not finished: vanilla"):
        publish("tiny", runs, "cpu", index)
