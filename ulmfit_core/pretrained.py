"""Pretrained language models to start from: the published ones by name, or any LM folder.

ULMFiT's first stage, general-domain LM pretraining (§3.1), is done once and reused: a run names the LM it
starts from and goes straight to target LM fine-tuning (§3.2). An LM is a folder holding
``model.safetensors`` (a :class:`~ulmfit_core.awd_lstm.LanguageModel`'s weights) and ``vocab.json``; an
optional ``lm.json`` says its direction and names its twin of the other direction (what ``ulmfit
pretrain`` writes).

The LMs this repository publishes are listed in one index, ``results/pretrained_lms.json``
(:data:`INDEX`): each name (``reduced-forward``, ``reduced-backward``, …) with its folder, direction, the
name of its twin (a forward LM's backward LM, for the bidirectional ensemble of §3.3), its sizes and
vocabulary size. Replacing a published LM means changing its entry there, and nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ulmfit_core.config import ConfigError
from ulmfit_core.fileio import read_json, write_json
from ulmfit_core.settings import REPO_ROOT

INDEX = REPO_ROOT / "results" / "pretrained_lms.json"
DIRECTIONS = ("forward", "backward")
SIZES = ("emb_size", "hidden_size", "n_layers")
FILES = ("model.safetensors", "vocab.json")
META = "lm.json"


@dataclass(frozen=True)
class PretrainedLM:
    """One pretrained LM: where it is, its direction, sizes and vocabulary size, and its twin (the LM of
    the other direction, by index name or folder; ``None`` if it has none)."""

    name: str
    folder: Path
    direction: str
    sizes: dict[str, int]
    vocab_size: int
    twin: str | None = None

    @property
    def weights(self) -> Path:
        return self.folder / "model.safetensors"

    @property
    def vocab(self) -> Path:
        return self.folder / "vocab.json"

    def describe(self) -> str:
        s = self.sizes
        return (f"{self.name} ({self.direction}, AWD-LSTM {s['emb_size']}/{s['hidden_size']}, "
                f"{s['n_layers']} layers, {self.vocab_size:,} words)")


def read_index(index: Path = INDEX) -> dict[str, dict[str, Any]]:
    """The published LMs, ``name -> entry``; a missing index raises ``FileNotFoundError`` and a malformed
    one ``ValueError``, each naming the file."""
    if not index.is_file():
        raise FileNotFoundError(f"{index}: index of published LMs not found")
    data = read_json(index)
    lms = data.get("lms") if isinstance(data, dict) else None
    if not isinstance(lms, dict):
        raise ValueError(f"{index}: expected an object with the published LMs under 'lms'")
    for name, entry in lms.items():
        problem = _entry_problem(entry, lms)
        if problem:
            raise ValueError(f"{index}: LM {name!r}: {problem}")
    return lms


def _entry_problem(entry: Any, lms: Mapping[str, Any]) -> str | None:
    if not isinstance(entry, dict):
        return "expected an object"
    missing = [k for k in ("path", "direction", "model", "vocab_size") if k not in entry]
    if missing:
        return f"missing {missing}"
    if entry["direction"] not in DIRECTIONS:
        return f"direction {entry['direction']!r} is not one of {DIRECTIONS}"
    if not isinstance(entry["model"], dict) or sorted(entry["model"]) != sorted(SIZES):
        return f"model must give exactly {list(SIZES)}"
    twin = entry.get("twin")
    if twin is not None and (twin not in lms or lms[twin].get("direction") == entry["direction"]):
        return f"twin {twin!r} is not a published LM of the other direction"
    return None


def published(index: Path = INDEX) -> list[str]:
    """The names of the published LMs."""
    return sorted(read_index(index))


def resolve(spec: str, base: Path | None = None, index: Path = INDEX) -> PretrainedLM:
    """The LM that ``spec`` names: a published LM's name (see :data:`INDEX`), else a folder (relative to
    ``base``, e.g. the config file's folder). Its sizes are read from its weights and, for a published LM,
    checked against the index. Anything else raises :class:`ConfigError` saying what was expected."""
    lms = read_index(index) if index.is_file() else {}
    if spec in lms:
        entry = lms[spec]
        lm = PretrainedLM(spec, (index.parent / entry["path"]).resolve(), entry["direction"],
                          dict(entry["model"]), int(entry["vocab_size"]), entry.get("twin"))
        _check_files(lm, f"{index}: published LM {spec!r}")
        found = weight_sizes(lm.weights)
        stated = {**lm.sizes, "vocab_size": lm.vocab_size}
        if found != stated:
            raise ValueError(f"{index}: LM {spec!r} states {stated} but {lm.weights} holds {found}")
        return lm
    folder = Path(spec).expanduser()
    if not folder.is_absolute() and base is not None:
        folder = base / folder
    if not folder.is_dir():
        names = ", ".join(lms) or "none"
        raise ConfigError(f"pretrained: {spec!r} is neither a published LM (published: {names}) nor a "
                          f"folder with {' and '.join(FILES)}")
    folder = folder.resolve()
    meta = _folder_meta(folder)
    lm = PretrainedLM(str(folder), folder, meta.get("direction", "forward"), {}, 0, meta.get("twin"))
    _check_files(lm, f"pretrained: {spec!r}")
    found = weight_sizes(lm.weights)
    twin = lm.twin
    if twin is not None and twin not in lms:
        twin = str((folder / twin).resolve())
    return PretrainedLM(lm.name, folder, lm.direction, {k: found[k] for k in SIZES}, found["vocab_size"], twin)


def for_direction(lm: PretrainedLM, direction: str, index: Path = INDEX) -> PretrainedLM:
    """``lm`` itself if it reads text in ``direction``, else its twin; ``ConfigError`` if it has none
    (§3.3: the backward classifier is fine-tuned from a backward LM)."""
    if lm.direction == direction:
        return lm
    if lm.twin is None:
        raise ConfigError(f"pretrained: {lm.name} is a {lm.direction} LM and names no {direction} twin, "
                          f"so it cannot start a {direction} model")
    twin = resolve(lm.twin, index=index)
    if twin.direction != direction:
        raise ConfigError(f"pretrained: the twin of {lm.name}, {twin.name}, is not a {direction} LM")
    if twin.sizes != lm.sizes:
        raise ConfigError(f"pretrained: {lm.name} has sizes {lm.sizes} but its twin {twin.name} {twin.sizes}")
    return twin


def weight_sizes(path: Path) -> dict[str, int]:
    """``emb_size``, ``hidden_size``, ``n_layers`` and ``vocab_size`` of the LM whose weights are at
    ``path``, from the tensor shapes alone (nothing is loaded)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt") as fh:
            shapes = {k: fh.get_slice(k).get_shape() for k in fh.keys()}
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{path}: not a readable safetensors file ({err})") from err
    emb = shapes.get("encoder.embedding.weight")
    layers = sorted({int(k.split(".")[2]) for k in shapes if k.startswith("encoder.rnns.")})
    if emb is None or not layers or layers != list(range(len(layers))):
        raise ValueError(f"{path}: not the weights of an AWD-LSTM language model")
    first = shapes.get("encoder.rnns.0.weight_hh_l0_raw") or shapes.get("encoder.rnns.0.module.weight_hh_l0")
    hidden = first[1] if len(layers) > 1 and first else emb[1]
    return {"emb_size": emb[1], "hidden_size": hidden, "n_layers": len(layers), "vocab_size": emb[0]}


def _check_files(lm: PretrainedLM, what: str) -> None:
    missing = [f for f in FILES if not (lm.folder / f).is_file()]
    if missing:
        raise ConfigError(f"{what}: {lm.folder} lacks {', '.join(missing)}")


def _folder_meta(folder: Path) -> dict[str, Any]:
    path = folder / META
    if not path.is_file():
        return {}
    meta = read_json(path)
    if not isinstance(meta, dict) or meta.get("direction", "forward") not in DIRECTIONS:
        raise ValueError(f"{path}: expected {{\"direction\": \"forward\" | \"backward\", \"twin\": folder}}")
    return meta


def write_meta(folder: Path, direction: str, twin: Path | None = None) -> None:
    """Write ``lm.json`` into an LM folder: its direction and its twin's folder (relative)."""
    meta: dict[str, Any] = {"direction": direction}
    if twin is not None:
        meta["twin"] = str(Path("..") / twin.name) if twin.parent == folder.parent else str(twin)
    write_json(folder / META, meta)


def index_entry(folder: Path, direction: str, twin: str | None = None, about: str = "",
                extra: Mapping[str, Any] | None = None, index: Path = INDEX) -> dict[str, Any]:
    """The index entry of the LM in ``folder`` (which must lie under the index's folder): its sizes are
    read from its weights; ``extra`` (e.g. the run that made it) is kept in the entry."""
    sizes = weight_sizes(Path(folder) / "model.safetensors")
    return {"path": Path(folder).resolve().relative_to(index.parent.resolve()).as_posix(),
            "direction": direction, "twin": twin, "model": {k: sizes[k] for k in SIZES},
            "vocab_size": sizes["vocab_size"], "about": about, **(extra or {})}


def update_index(entries: Mapping[str, dict[str, Any]], index: Path = INDEX) -> dict[str, dict[str, Any]]:
    """Publish ``entries`` (name -> :func:`index_entry`), replacing entries of the same names; every
    entry is checked before the index is written (atomically). Returns the published LMs."""
    data = read_json(index) if index.is_file() else {}
    lms = {**data.get("lms", {}), **entries}
    for name, entry in lms.items():
        problem = _entry_problem(entry, lms)
        if problem:
            raise ValueError(f"{index}: LM {name!r}: {problem}")
    write_json(index, {**data, "lms": lms})
    return lms
