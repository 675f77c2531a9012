"""Safe loading: nothing the package reads can run code. Weights are safetensors, everything else JSON or
``.npz`` without pickled objects, YAML goes through ``safe_load`` and archives through ``safe_extract``.

A static scan of the source proves that no unsafe loader is called; behavioural tests feed the loaders
files that carry a pickle and check that they are refused, naming the file, without running it.
"""
from __future__ import annotations

import ast
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from ulmfit_core.awd_lstm import AWDLSTMConfig, LanguageModel
from ulmfit_core.checkpoint import CheckpointError, load_checkpoint, load_weights, save_checkpoint
from ulmfit_core.fileio import load_arrays, save_arrays
from ulmfit_core.settings import REPO_ROOT
from ulmfit_core.train import TrainConfig, make_optimizer
from ulmfit_core.vocab import Vocab

SCANNED = sorted([*(REPO_ROOT / "ulmfit_core").rglob("*.py"), *(REPO_ROOT / "notebooks").glob("*.py")])
PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
UNSAFE_YAML = {"load", "load_all", "full_load", "full_load_all", "unsafe_load", "unsafe_load_all"}
# extractall only inside the member-checking helper that safe_extract calls
EXTRACT_ALLOWED = {("download.py", "_extract_checked")}


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for a Name/Attribute chain, else ''."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _keyword_is(call: ast.Call, name: str, value: object) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is value
               for k in call.keywords)


class _Scanner(ast.NodeVisitor):
    """Collects ``line: problem`` for every unsafe loader call in one module."""

    def __init__(self, filename: str) -> None:
        self.filename, self.function, self.problems = filename, "", []

    def _add(self, node: ast.AST, problem: str) -> None:
        self.problems.append(f"{self.filename}:{node.lineno}: {problem}")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        outer, self.function = self.function, node.name
        self.generic_visit(node)
        self.function = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] in PICKLE_MODULES:
                self._add(node, f"imports {alias.name}")
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = (node.module or "").split(".")[0]
        names = {a.name for a in node.names}
        if module in PICKLE_MODULES:
            self._add(node, f"imports from {node.module}")
        if module == "torch" and "load" in names:
            self._add(node, "imports torch.load (call torch.load with weights_only=True instead)")
        if module == "yaml" and names & UNSAFE_YAML:
            self._add(node, f"imports an unsafe YAML loader {sorted(names & UNSAFE_YAML)}")
        if module == "numpy" and "load" in names:
            self._add(node, "imports numpy.load (call np.load with allow_pickle=False)")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = _dotted(node.func)
        attr = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        if name in ("torch.load", "torch.serialization.load") and not _keyword_is(node, "weights_only", True):
            self._add(node, f"{name}( without weights_only=True")
        if name in ("np.load", "numpy.load") and not _keyword_is(node, "allow_pickle", False):
            self._add(node, f"{name}( without allow_pickle=False")
        if name.split(".")[0] == "yaml" and attr in UNSAFE_YAML:
            self._add(node, f"{name}( (use yaml.safe_load)")
        if attr in ("read_pickle", "to_pickle"):
            self._add(node, f"{attr}( reads or writes a pickle")
        if attr == "extractall" and (self.filename, self.function) not in EXTRACT_ALLOWED:
            self._add(node, "extractall( outside download.safe_extract")
        if name == "shutil.unpack_archive":
            self._add(node, "shutil.unpack_archive( (use download.safe_extract)")
        self.generic_visit(node)


def unsafe_loading(source: str, filename: str) -> list[str]:
    """Return ``file:line: problem`` for every unsafe loader used in ``source``."""
    scanner = _Scanner(filename)
    scanner.visit(ast.parse(source, filename))
    return scanner.problems


def test_the_package_uses_no_unsafe_loader():
    assert len(SCANNED) > 20
    problems = [p for path in SCANNED for p in unsafe_loading(path.read_text(), path.name)]
    assert problems == []


def test_only_safe_extract_reaches_the_extracting_helper():
    callers = []
    for path in SCANNED:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Call) and _dotted(inner.func).endswith("_extract_checked"):
                        callers.append((path.name, node.name))
    assert callers == [("download.py", "safe_extract")]


def test_the_scan_finds_every_unsafe_pattern():
    source = "\n".join([  # noqa: FLY002 — one line per pattern, numbered
        "import pickle",                                           # 1
        "import torch, numpy as np, yaml",                         # 2
        "w = torch.load('m.pt')",                                  # 3
        "w = torch.load('m.pt', weights_only=False)",              # 4
        "a = np.load('a.npz')",                                    # 5
        "a = np.load('a.npz', allow_pickle=True)",                 # 6
        "c = yaml.load(open('c.yaml'), Loader=yaml.Loader)",       # 7
        "def unpack(tf):",                                         # 8
        "    tf.extractall('.')",                                  # 9
        "frame = pd.read_pickle('f.pkl')",                         # 10
        "from yaml import unsafe_load",                            # 11
        "ok = torch.load('m.pt', weights_only=True)",              # 12
        "ok = np.load('a.npz', allow_pickle=False)",               # 13
        "ok = yaml.safe_load('a: 1')",                             # 14
    ])
    problems = unsafe_loading(source, "bad.py")
    assert [int(p.split(":")[1]) for p in problems] == [1, 3, 4, 5, 6, 7, 9, 10, 11]
    assert all(p.startswith("bad.py:") for p in problems)
    allowed = "def _extract_checked(zf):\n    zf.extractall('x')\n"
    assert unsafe_loading(allowed, "download.py") == [] and unsafe_loading(allowed, "other.py") != []


# ---------------------------------------------------------------- loaders refuse pickles, without running them


class Payload:
    """Unpickling this creates ``marker``: proof that a loader ran a pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_load_arrays_refuses_an_object_array_naming_the_file(tmp_path):
    marker, path = tmp_path / "ran", tmp_path / "preds.npz"
    np.savez(path, labels=np.array([0, 1]), probs=np.array([Payload(marker)], dtype=object))
    with pytest.raises(ValueError, match="unreadable array file") as err:
        load_arrays(path)
    assert str(path) in str(err.value) and "allow_pickle" in str(err.value)
    assert not marker.exists()
    with pytest.raises(TypeError, match="dtype object"):
        save_arrays(tmp_path / "out.npz", probs=np.array([{"a": 1}], dtype=object))
    assert not (tmp_path / "out.npz").exists()


def _pickle_file(path: Path, marker: Path, kind: str) -> None:
    if kind == "torch.save":
        torch.save({"encoder.embedding.weight": torch.zeros(3), "extra": Payload(marker)}, path)
    else:
        path.write_bytes(pickle.dumps(Payload(marker)))


@pytest.mark.parametrize("kind", ["torch.save", "pickle.dumps"])
@pytest.mark.parametrize("name", ["model.safetensors", "optimizer.safetensors", "rng.safetensors"])
def test_a_checkpoint_holding_a_pickle_is_rejected_unrun(tmp_path, name, kind):
    torch.manual_seed(0)
    model = LanguageModel(20, AWDLSTMConfig(emb_size=8, hidden_size=16, n_layers=2))
    optimizer = make_optimizer(model.layer_groups(), TrainConfig())
    folder = save_checkpoint(tmp_path / "checkpoints", 0, model, optimizer, {"history": []})
    marker = tmp_path / "ran"
    _pickle_file(folder / name, marker, kind)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(folder, model, optimizer)
    assert str(folder / name) in str(err.value)
    assert not marker.exists()


def test_a_folder_with_pickled_weights_but_no_safetensors_is_rejected(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"w": torch.zeros(2), "x": Payload(marker)}, tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="model.safetensors") as err:
        load_weights(tmp_path / "model.safetensors")
    assert str(tmp_path) in str(err.value) and not marker.exists()


def test_a_pickled_vocabulary_is_rejected_unrun(tmp_path):
    marker, path = tmp_path / "ran", tmp_path / "vocab.json"
    path.write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(ValueError) as err:
        Vocab.load(path)
    assert str(path) in str(err.value) and not marker.exists()
