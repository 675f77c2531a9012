"""Frozen configuration dataclasses: built from plain dicts (YAML/JSON files), validated on creation.

An unknown key or an out-of-range value raises ``ValueError`` naming the key, the value and, when the
config came from a file, the file.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any, Mapping, TypeVar

T = TypeVar("T", bound="Config")


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key and the problem."""


def check_range(cfg: Any, name: str, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False, integer: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``cfg.name`` is a finite number (a whole number with
    ``integer``) within [low, high] (or open ends)."""
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{type(cfg).__name__}.{name} must be a finite number, got {value!r}")
    if integer and not isinstance(value, int):
        raise ConfigError(f"{type(cfg).__name__}.{name} must be a whole number, got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ConfigError(f"{type(cfg).__name__}.{name} = {value!r} is outside {lo}{low}, {high}{hi}")


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of every configuration: dict round trip, copy-with-changes and a stable content hash."""

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any], source: str | Path | None = None,
                  section: str = "") -> T:
        """Build from ``data``; nested Config fields are built from nested dicts. Unknown keys raise,
        naming ``source`` (the file) and ``section`` (where in it, e.g. ``pretrain.train``)."""
        where = (f"{source}: " if source else "") + (f"{section}: " if section else "")
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}{cls.__name__} expects a mapping, got {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(f"{where}unknown key(s) {unknown} for {cls.__name__}; "
                              f"valid keys: {sorted(fields)}")
        kwargs = {}
        for key, value in data.items():
            default = fields[key].default_factory if fields[key].default_factory is not dataclasses.MISSING \
                else fields[key].default
            sub = default() if callable(default) else default
            if isinstance(sub, Config) and isinstance(value, Mapping):
                value = type(sub).from_dict(value, source, f"{section}.{key}" if section else key)
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[key] = value
        try:
            return cls(**kwargs)
        except ConfigError as err:
            raise ConfigError(f"{where}{err}") from None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def replace(self: T, **changes: Any) -> T:
        """Return a copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def digest(self) -> str:
        """Return a SHA-256 of the canonical JSON of this config: equal configs, equal digests."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()
