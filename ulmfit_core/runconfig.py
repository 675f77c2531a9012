"""The YAML file that drives ``ulmfit``: every section a frozen config, checked when the file loads.

A run either starts from a pretrained LM (``pretrained:`` a published LM's name or a folder, see
:mod:`ulmfit_core.pretrained`; the model's sizes are then the LM's) or pretrains its own (``pretrain:``,
ULMFiT's stage (a), §3.1). ``backward: both`` trains a forward and a backward model and ensembles them
(§3.3). Paths in the file are relative to the file's folder.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from ulmfit_core import pretrained
from ulmfit_core.awd_lstm import AWDLSTMConfig
from ulmfit_core.baseline import LinearConfig
from ulmfit_core.config import Config, ConfigError, check_range
from ulmfit_core.train import TrainConfig


@dataclasses.dataclass(frozen=True)
class DataConfig(Config):
    """The user's CSV files, their columns, and the validation split held out of the training file."""

    train_csv: str = ""
    test_csv: str = ""
    text_column: str = "text"
    label_column: str = "label"
    valid_frac: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        check_range(self, "valid_frac", low=0, high=1, low_open=True, high_open=True)


@dataclasses.dataclass(frozen=True)
class PretrainConfig(Config):
    """Stage (a), general-domain LM pretraining (§3.1), when no ``pretrained`` LM is named."""

    corpus: str = "wikipedia"          # "wikipedia" (the shards below) or a path to a UTF-8 text file
    shards: tuple[int, ...] = (0,)
    max_words: int = 0                 # 0 = the whole corpus
    vocab_size: int = 60_000
    train: TrainConfig = TrainConfig(epochs=1, lr=3e-3, discr_factor=1.0, clip=0.3)


DIRECTIONS = {False: ("forward",), True: ("backward",), "both": ("forward", "backward")}


@dataclasses.dataclass(frozen=True)
class RunConfig(Config):
    """A whole run: where it writes, which LM it starts from, the model, the data and each stage."""

    output: str = "ulmfit-run"
    device: str = "auto"
    pretrained: str = ""               # a published LM (e.g. reduced-forward) or a folder; "" = pretrain
    backward: bool | str = False       # false: forward, true: backward, both: both and their ensemble
    model: AWDLSTMConfig = AWDLSTMConfig()
    bptt: int = 70
    max_len: int = 70 * 20
    data: DataConfig = DataConfig()
    pretrain: PretrainConfig = PretrainConfig()
    finetune_lm: TrainConfig = TrainConfig(epochs=10, lr=4e-3, clip=0.3)
    classifier: TrainConfig = TrainConfig(epochs=10, lr=1e-2, strategy="gradual_unfreeze", clip=25.0)
    baseline: LinearConfig = LinearConfig()

    def __post_init__(self) -> None:
        check_range(self, "bptt", low=1, integer=True)
        check_range(self, "max_len", low=1, integer=True)
        if not (isinstance(self.backward, bool) or self.backward == "both"):
            raise ConfigError(f"RunConfig.backward must be false, true or both, got {self.backward!r}")
        if not isinstance(self.output, str) or not self.output:
            raise ConfigError(f"RunConfig.output must be a folder name, got {self.output!r}")
        if not isinstance(self.pretrained, str):
            raise ConfigError(f"RunConfig.pretrained must be a published LM's name or a folder, "
                              f"got {self.pretrained!r}")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", str(self.device)):
            raise ConfigError(f"RunConfig.device must be auto, cpu or cuda[:n], got {self.device!r}")

    @property
    def directions(self) -> tuple[str, ...]:
        """The directions trained: ``("forward",)``, ``("backward",)`` or both (§3.3)."""
        return DIRECTIONS["both" if self.backward == "both" else bool(self.backward)]

    def lm_for(self, direction: str) -> pretrained.PretrainedLM | None:
        """The pretrained LM that ``direction`` starts from (``None``: the run pretrains its own)."""
        if not self.pretrained:
            return None
        return pretrained.for_direction(pretrained.resolve(self.pretrained), direction)

    @classmethod
    def load(cls, path: Path) -> "RunConfig":
        """Read and check the config file at ``path``; every error names the file. A named pretrained LM
        is resolved here and gives the model its sizes (a different size in ``model`` is an error)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: config file not found")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from err
        try:
            cfg = cls.from_dict(data, path)
        except TypeError as err:  # e.g. a string where a section is expected
            raise ConfigError(f"{path}: {err}") from None
        base = path.parent
        cfg = cfg.replace(output=str((base / cfg.output).resolve()))
        for key in ("train_csv", "test_csv"):
            value = getattr(cfg.data, key)
            if value:
                cfg = cfg.replace(data=cfg.data.replace(**{key: str((base / value).resolve())}))
        if cfg.pretrain.corpus != "wikipedia":
            cfg = cfg.replace(pretrain=cfg.pretrain.replace(corpus=str((base / cfg.pretrain.corpus).resolve())))
        if cfg.pretrained:
            cfg = _with_pretrained(cfg, data.get("model") or {}, base, path)
        return cfg


def _with_pretrained(cfg: RunConfig, model: Mapping[str, Any], base: Path, path: Path) -> RunConfig:
    """``cfg`` with its named pretrained LM resolved (a folder made absolute) and the LM's sizes."""
    try:
        lm = pretrained.resolve(cfg.pretrained, base)
        for direction in cfg.directions:
            pretrained.for_direction(lm, direction)
    except (ConfigError, ValueError, FileNotFoundError) as err:
        raise ConfigError(f"{path}: {err}") from None
    clash = [f"model.{k} = {model[k]} but the pretrained LM {lm.name} has {k} {lm.sizes[k]}"
             for k in pretrained.SIZES if k in model and model[k] != lm.sizes[k]]
    if clash:
        raise ConfigError(f"{path}: " + "; ".join(clash) + " (leave the sizes out: they are read from the LM)")
    return cfg.replace(pretrained=lm.name, model=cfg.model.replace(**lm.sizes))
