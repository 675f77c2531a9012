"""The notebook runner: papermill gets the scale, datasets and seeds; the executed copy is written whole."""
from __future__ import annotations

import shutil

import papermill
import pytest

from ulmfit_core.harness import notebooks


def test_execute_passes_the_parameters_and_drops_timestamps(tmp_path, monkeypatch) -> None:
    source = tmp_path / "03_pretraining.py"
    shutil.copy(notebooks.SOURCES / "03_pretraining.py", source)
    monkeypatch.setattr(notebooks, "SOURCES", tmp_path)
    monkeypatch.setattr(notebooks, "REPO_ROOT", tmp_path)
    seen = {}

    def fake_papermill(inp, out, parameters, **kwargs):
        seen.update(parameters)
        shutil.copy(inp, out)

    monkeypatch.setattr(papermill, "execute_notebook", fake_papermill)
    notebooks.main(["--scale", "smoke", "--only", "03", "--datasets", "trec6", "--seeds", "0", "2"])
    assert seen == {"scale": "smoke", "device": "auto", "datasets": ["trec6"], "seeds": [0, 2]}
    out = tmp_path / "executed" / "smoke" / "03_pretraining.ipynb"
    assert out.exists() and not out.with_suffix(".input.ipynb").exists()
    assert [p.name for p in out.parent.iterdir()] == ["03_pretraining.ipynb"]   # no temporary files left


def test_unknown_scale_or_notebook_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scale"):
        notebooks.main(["--scale", "huge", "--only", "03"])
    with pytest.raises(ValueError, match="no notebook matches"):
        notebooks.sources(["99"])
