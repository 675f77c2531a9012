"""Checkpoints: safetensors + JSON, tied weights stored once, clear errors for damaged or mismatched
files, and a LATEST pointer that only ever names a complete checkpoint."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ulmfit_core import checkpoint
from ulmfit_core.awd_lstm import AWDLSTMConfig, LanguageModel
from ulmfit_core.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    load_into,
    load_weights,
    save_checkpoint,
    save_weights,
)
from ulmfit_core.classifier import TextClassifier
from ulmfit_core.train import TrainConfig, make_optimizer

VOCAB = 50
CFG = AWDLSTMConfig(emb_size=8, hidden_size=16, n_layers=3)




def lm(vocab: int = VOCAB, cfg: AWDLSTMConfig = CFG, seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    return LanguageModel(vocab, cfg)


def trained(model: LanguageModel) -> torch.optim.Optimizer:
    """Take one optimiser step so the optimiser has state; return the optimiser."""
    opt = make_optimizer(model.layer_groups(), TrainConfig())
    ids = torch.randint(2, VOCAB, (2, 6), generator=torch.Generator().manual_seed(0))
    logits, *_ = model.train()(ids)
    logits.logsumexp(-1).mean().backward()
    opt.step()
    return opt


def test_round_trip_restores_weights_optimizer_rng_and_info(tmp_path):
    model = lm()
    opt = trained(model)
    torch.manual_seed(123)
    path = save_checkpoint(tmp_path, 4, model, opt, {"history": [{"epoch": 5, "valid_loss": 1.25}]})
    expected_draw = torch.rand(3)
    torch.manual_seed(999)

    fresh = lm(seed=1)
    fresh_opt = make_optimizer(fresh.layer_groups(), TrainConfig())
    state = load_checkpoint(path, fresh, fresh_opt)
    assert path == tmp_path / "ckpt-4" and latest_checkpoint(tmp_path) == path
    assert state == {"epoch": 4, "history": [{"epoch": 5, "valid_loss": 1.25}]}
    assert torch.equal(torch.rand(3), expected_draw)            # the RNG continues where it was saved
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    assert fresh.decoder.decoder.weight is fresh.encoder.embedding.weight   # still tied after loading
    a, b = opt.state_dict(), fresh_opt.state_dict()
    assert a["state"].keys() == b["state"].keys() and len(a["state"]) > 0
    for idx in a["state"]:
        for name, value in a["state"][idx].items():
            assert torch.equal(b["state"][idx][name], value), (idx, name)
    assert [g["lr"] for g in a["param_groups"]] == [g["lr"] for g in b["param_groups"]]


def test_tied_weight_is_stored_once(tmp_path):
    model = lm()
    save_weights(model, tmp_path / "model.safetensors")
    stored = load_file(str(tmp_path / "model.safetensors"))
    assert "encoder.embedding.weight" in stored and "decoder.decoder.weight" not in stored
    assert set(stored) == set(model.state_dict()) - {"decoder.decoder.weight"}


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_weights_raise_naming_the_file(tmp_path, damage):
    model = lm()
    path = save_checkpoint(tmp_path, 0, model, trained(model), {})
    weights = path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"not a tensor file " * 40,
                         "empty": b""}[damage])
    fresh = lm()
    with pytest.raises(CheckpointError, match="model.safetensors") as err:
        load_checkpoint(path, fresh, make_optimizer(fresh.layer_groups(), TrainConfig()))
    assert str(weights) in str(err.value)


@pytest.mark.parametrize("other", [dict(vocab=60), dict(cfg=CFG.replace(hidden_size=32))],
                         ids=["vocabulary", "hidden-size"])
def test_checkpoint_of_another_model_size_raises_naming_key_and_shapes(tmp_path, other):
    save_weights(lm(), tmp_path / "model.safetensors")
    state = load_weights(tmp_path / "model.safetensors")
    target = lm(**other)
    expected = target.state_dict()
    with pytest.raises(CheckpointError) as err:
        load_into(target, state, tmp_path / "model.safetensors")
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'model.safetensors'}: ")
    key = message.split(": ", 1)[1].split(" has shape ")[0]
    assert key in state and key in expected
    assert tuple(state[key].shape) != tuple(expected[key].shape)
    assert f"has shape {tuple(state[key].shape)} but the model expects {tuple(expected[key].shape)}" in message
    if "vocab" in other:
        assert tuple(state[key].shape)[0] == VOCAB and tuple(expected[key].shape)[0] == 60


def test_weights_of_another_architecture_raise_naming_missing_keys(tmp_path):
    save_weights(lm(), tmp_path / "model.safetensors")
    torch.manual_seed(0)
    clf = TextClassifier(VOCAB, 3, CFG)
    with pytest.raises(CheckpointError, match=r"missing \['encoder.encoder.embedding.weight'"):
        load_into(clf, load_weights(tmp_path / "model.safetensors"), "lm weights")


def test_only_the_newest_complete_checkpoint_is_kept(tmp_path):
    model = lm()
    opt = trained(model)
    for epoch in range(3):
        save_checkpoint(tmp_path, epoch, model, opt, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LATEST", "ckpt-2"]
    assert (tmp_path / "LATEST").read_text().strip() == "ckpt-2"


def test_stale_temporary_folder_is_ignored(tmp_path):
    model = lm()
    opt = trained(model)
    save_checkpoint(tmp_path, 0, model, opt, {"history": []})
    stale = tmp_path / ".ckpt-abc123"                            # a save killed half-way
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"\x00" * 10)
    assert latest_checkpoint(tmp_path) == tmp_path / "ckpt-0"
    save_checkpoint(tmp_path, 1, model, opt, {"history": []})
    assert not stale.exists() and latest_checkpoint(tmp_path) == tmp_path / "ckpt-1"


def test_latest_only_moves_after_a_complete_checkpoint(tmp_path, monkeypatch):
    model = lm()
    opt = trained(model)
    save_checkpoint(tmp_path, 0, model, opt, {"history": ["first"]})

    def killed(path, data):
        if Path(path).name == "state.json":
            raise KeyboardInterrupt("killed while writing state.json")
        return real_write_json(path, data)

    real_write_json = checkpoint.write_json
    monkeypatch.setattr(checkpoint, "write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, 1, model, opt, {"history": ["second"]})
    monkeypatch.undo()
    assert latest_checkpoint(tmp_path) == tmp_path / "ckpt-0"
    assert not (tmp_path / "ckpt-1").exists()
    assert [p.name for p in tmp_path.glob(".ckpt-*")]             # the half-written folder is left aside
    fresh = lm()
    state = load_checkpoint(latest_checkpoint(tmp_path), fresh, make_optimizer(fresh.layer_groups(),
                                                                              TrainConfig()))
    assert state["history"] == ["first"]


def test_no_checkpoint_and_dangling_pointer(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    (tmp_path / "LATEST").write_text("ckpt-7\n")
    with pytest.raises(CheckpointError, match="ckpt-7"):
        latest_checkpoint(tmp_path)


def test_optimizer_state_of_another_model_raises_naming_the_file(tmp_path):
    model = lm()
    path = save_checkpoint(tmp_path, 0, model, trained(model), {})
    fresh = lm()
    two_groups = torch.optim.AdamW([{"params": fresh.layer_groups()[0]},
                                    {"params": [p for g in fresh.layer_groups()[1:] for p in g]}])
    with pytest.raises(CheckpointError, match="optimizer.json"):
        load_checkpoint(path, fresh, two_groups)
