"""Configurations: built from plain dicts, validated on creation, round-tripped, hashed."""
from __future__ import annotations

import math

import pytest

from ulmfit_core.awd_lstm import AWDLSTMConfig
from ulmfit_core.config import ConfigError
from ulmfit_core.train import TrainConfig


def test_paper_defaults():
    model = AWDLSTMConfig()
    assert (model.emb_size, model.hidden_size, model.n_layers) == (400, 1150, 3)
    assert (model.embed_p, model.input_p, model.hidden_p, model.weight_p, model.output_p) == \
        (0.05, 0.4, 0.3, 0.5, 0.4)
    train = TrainConfig()
    assert (train.discr_factor, train.cut_frac, train.ratio, train.beta1, train.beta2) == \
        (2.6, 0.1, 32.0, 0.7, 0.99)
    assert issubclass(ConfigError, ValueError)


def test_unknown_key_names_the_key_and_the_file():
    with pytest.raises(ConfigError, match=r"configs/ft\.yaml: unknown key\(s\) \['lr_max'\] for TrainConfig"):
        TrainConfig.from_dict({"epochs": 2, "lr_max": 0.01}, source="configs/ft.yaml")
    with pytest.raises(ConfigError, match=r"^unknown key\(s\) \['hidden'\]"):
        AWDLSTMConfig.from_dict({"hidden": 10})
    with pytest.raises(ConfigError, match="expects a mapping, got list"):
        TrainConfig.from_dict([("epochs", 2)])


@pytest.mark.parametrize("field", ["embed_p", "input_p", "hidden_p", "weight_p", "output_p"])
@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5, math.nan])
def test_dropouts_must_lie_in_zero_one(field, value):
    with pytest.raises(ConfigError, match=f"AWDLSTMConfig.{field}"):
        AWDLSTMConfig(**{field: value})
    with pytest.raises(ConfigError, match=f"^run.yaml: AWDLSTMConfig.{field}"):
        AWDLSTMConfig.from_dict({field: value}, source="run.yaml")
    assert AWDLSTMConfig(**{field: 0.0}).to_dict()[field] == 0.0


@pytest.mark.parametrize("cut_frac", [0, 0.0, 1, 1.0, -0.1, 1.5])
def test_cut_frac_must_lie_strictly_inside_zero_one(cut_frac):
    with pytest.raises(ConfigError, match="TrainConfig.cut_frac"):
        TrainConfig(cut_frac=cut_frac)


@pytest.mark.parametrize("changes,field", [
    ({"ratio": 0.5}, "ratio"), ({"discr_factor": 0.9}, "discr_factor"), ({"lr": 0.0}, "lr"),
    ({"lr": -1e-3}, "lr"), ({"epochs": 0}, "epochs"), ({"beta1": 1.0}, "beta1"),
    ({"batch_size": 0}, "batch_size"), ({"lr": math.inf}, "lr"), ({"epochs": True}, "epochs"),
    ({"lr": "0.01"}, "lr"), ({"schedule": "linear"}, "schedule"), ({"strategy": "freeze"}, "strategy"),
    ({"lr_lower": -1e-4}, "lr_lower"), ({"cut_frac": math.nan}, "cut_frac"),
])
def test_out_of_range_training_values_raise_naming_the_field(changes, field):
    with pytest.raises(ConfigError, match=f"TrainConfig.{field}"):
        TrainConfig(**changes)
    with pytest.raises(ConfigError, match=f"^exp.json: TrainConfig.{field}"):
        TrainConfig.from_dict(changes, source="exp.json")


def test_edge_values_are_accepted():
    cfg = TrainConfig(ratio=1.0, discr_factor=1.0, cut_frac=0.5, clip=0.0, weight_decay=0.0)
    assert (cfg.ratio, cfg.discr_factor) == (1.0, 1.0)


def test_replace_validates_again():
    with pytest.raises(ConfigError, match="TrainConfig.ratio"):
        TrainConfig().replace(ratio=0.1)
    assert TrainConfig().replace(epochs=5).epochs == 5


@pytest.mark.parametrize("cfg", [TrainConfig(), TrainConfig(epochs=50, lr=0.004, strategy="chain_thaw"),
                                 AWDLSTMConfig(), AWDLSTMConfig(emb_size=8, hidden_size=16).with_dropout(0.5)])
def test_round_trip_through_a_dict(cfg):
    data = cfg.to_dict()
    assert type(cfg).from_dict(data) == cfg
    assert data == type(cfg).from_dict(data).to_dict()
    assert set(data) == set(cfg.__dataclass_fields__)


def test_digest_is_equal_for_equal_configs_and_different_otherwise():
    a, b = TrainConfig(epochs=3, lr=0.01), TrainConfig.from_dict({"lr": 0.01, "epochs": 3})
    assert a.digest() == b.digest() and len(a.digest()) == 64
    assert a.digest() != TrainConfig(epochs=3, lr=0.004).digest()
    assert a.digest() != TrainConfig(epochs=3, lr=0.01, seed=1).digest()
    assert AWDLSTMConfig().digest() != AWDLSTMConfig(weight_p=0.2).digest()
    assert AWDLSTMConfig().digest() == AWDLSTMConfig.from_dict(AWDLSTMConfig().to_dict()).digest()


@pytest.mark.parametrize("cls,changes", [(TrainConfig, {"epochs": 2.5}), (TrainConfig, {"batch_size": 3.5}),
                                         (AWDLSTMConfig, {"emb_size": 8.5}), (AWDLSTMConfig, {"n_layers": 2.0})])
def test_integer_fields_reject_fractional_values(cls, changes):
    with pytest.raises(ConfigError, match=f"{cls.__name__}.{next(iter(changes))}"):
        cls.from_dict(changes, source="run.yaml")
