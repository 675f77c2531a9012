"""How ``book/prepare_book.py`` presents the chapters and the readings, without a browser or a build.

A chapter copy leads with results: the parameter cells become one box under the title, the code that
only draws or prints is folded, the computing call moves (as text) under "Reproducibility", and the
chapter's reading follows its verdicts. The executed notebooks themselves are never changed, and every
cell that nbval checks keeps its output in the book.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from book_module import load_prepare_book
from ulmfit_core.settings import REPO_ROOT

BOOK_DIR = REPO_ROOT / "book"
EXECUTED = REPO_ROOT / "notebooks" / "executed"
MAX_WORDS = 150




def code(source: str, tags: list[str] | None = None, outputs: list[dict] | None = None) -> dict:
    return {"cell_type": "code", "id": "", "metadata": {"tags": tags or []}, "source": source,
            "outputs": outputs or [], "execution_count": 1}


def markdown(source: str) -> dict:
    return {"cell_type": "markdown", "id": "", "metadata": {}, "source": source}


STREAM = {"name": "stdout", "output_type": "stream", "text": "claim (TREC-6): ... → holds\n"}
TABLE = {"output_type": "execute_result", "data": {"text/html": "<table></table>", "text/plain": "t"},
         "metadata": {}, "execution_count": 1}


def executed_notebook() -> dict:
    """A notebook shaped like the committed executed ones (cell ids unique, as nbformat 4.5 wants)."""
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        markdown("# Title (Table 4)\n\nThe question the chapter asks."),
        code('scale = "smoke"  # smoke | reduced\nseeds = None', ["parameters"]),
        code('# Parameters\nscale = "reduced"\ndatasets = ["trec6"]\n', ["injected-parameters"]),
        code("from ulmfit_core.harness import studies\nstudy = studies.pretraining_impact(scale)"),
        markdown("## The paper's numbers beside ours"),
        code("# NBVAL_CHECK_OUTPUT\nstudy.table", outputs=[TABLE]),
        code("study.image()"),
        markdown("## Verdicts\nHow to read them."),
        code("# NBVAL_CHECK_OUTPUT\nprint(study.verdicts())", outputs=[STREAM]),
        markdown("## Reproducibility\nCompute time and a check value."),
        code("# NBVAL_CHECK_OUTPUT\nprint(study.fingerprint())", outputs=[STREAM]),
    ]}
    for i, cell in enumerate(nb["cells"]):
        cell["id"] = f"cell-{i}"
    return nb


CLAIMS = {"notebook": "03_pretraining", "scale": "reduced", "runs": 29,
          "claims": [{"dataset": "trec6", "effect": {"n_seeds": 3}}, {"dataset": "imdb", "effect": {"n_seeds": 1}}]}


def sources(nb: dict) -> list[str]:
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"]]


def tags(nb: dict, fragment: str) -> list[str]:
    """The tags of the one cell whose source contains ``fragment``."""
    (cell,) = [c for c, s in zip(nb["cells"], sources(nb)) if fragment in s and c["cell_type"] == "code"]
    return cell["metadata"]["tags"]


def test_a_chapter_leads_with_the_title_and_a_box_of_scale_seeds_parameters_and_runs() -> None:
    prepare = load_prepare_book()
    nb = prepare.present(executed_notebook(), "03_pretraining", "reduced", CLAIMS, ["A reading."])
    first, box, question = sources(nb)[:3]
    assert first == "# Title (Table 4)\n" and question.startswith("The question")
    assert box.startswith(":::{container} chapter-scale\n**`reduced` scale, 3 seeds on TREC-6, 1 on IMDb** · "
                          "{ref}`the 29 runs behind these numbers <runs-03-pretraining>`\n")
    assert 'Run with `scale = "reduced"` · `datasets = ["trec6"]`' in box    # the injected values, once


def test_parameters_and_the_computing_cell_are_removed_and_drawing_code_is_folded() -> None:
    prepare = load_prepare_book()
    nb = prepare.present(executed_notebook(), "03_pretraining", "reduced", CLAIMS, ["A reading."])
    assert "remove-cell" in tags(nb, 'scale = "smoke"') and "remove-cell" in tags(nb, "# Parameters")
    assert "remove-cell" in tags(nb, "study = studies")
    for fragment in ("study.table", "study.image()", "study.fingerprint()"):
        assert tags(nb, fragment) == ["hide-input"], fragment
    assert tags(nb, "study.verdicts()") == ["hide-input", "verdicts"]


def test_the_reading_follows_the_verdicts_and_the_computing_call_is_shown_under_reproducibility() -> None:
    prepare = load_prepare_book()
    nb = prepare.present(executed_notebook(), "03_pretraining", "reduced", CLAIMS, ["One.", "Two."])
    text = sources(nb)
    verdicts = next(i for i, s in enumerate(text) if "study.verdicts()" in s)
    assert text[verdicts + 1] == "## Reading\n\nOne.\n\nTwo.\n\nEvery claim at a glance: {doc}`/claims`.\n"
    reproducibility = next(i for i, s in enumerate(text) if s.startswith("## Reproducibility"))
    shown = text[reproducibility + 1]
    assert "`make notebooks SCALE=reduced NB=03`" in shown
    assert "```python\nfrom ulmfit_core.harness import studies\nstudy = studies.pretraining_impact(scale)\n```" in shown
    assert [c["id"] for c in nb["cells"]] == list(dict.fromkeys(c["id"] for c in nb["cells"]))   # ids unique


def test_presenting_keeps_every_output_and_leaves_the_executed_notebook_alone() -> None:
    prepare = load_prepare_book()
    original = executed_notebook()
    before = copy.deepcopy(original)
    nb = prepare.present(original, "03_pretraining", "reduced", None, [])
    assert original == before
    outputs = [c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"]
    assert outputs == [c.get("outputs") for c in before["cells"] if c["cell_type"] == "code"]
    assert not any(s.startswith("## Reading") for s in sources(nb))           # no reading: none shown
    assert "no claims record at this scale" in sources(nb)[1]


def committed_notebooks() -> list[Path]:
    return sorted(EXECUTED.glob("*/[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", committed_notebooks(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_book_shows_every_cell_nbval_checks(path: Path) -> None:
    """Every cell the smoke nbval run compares is shown in the chapter with its committed output (only
    its code may be folded), and the committed notebook is read, never written."""
    prepare = load_prepare_book()
    raw = path.read_bytes()
    nb = prepare.present(json.loads(raw), path.stem, path.parent.name, None, ["A reading."])
    assert path.read_bytes() == raw
    checked = [c for c in nb["cells"] if c["cell_type"] == "code" and "NBVAL_CHECK_OUTPUT" in "".join(c["source"])]
    assert checked, "no checked cell found"
    for cell in checked:
        assert not {"remove-cell", "remove-output", "remove-input", "hide-output"} & set(cell["metadata"]["tags"])
        assert cell["outputs"], "a checked cell lost its output"
    assert sum("verdicts" in c["metadata"].get("tags", []) for c in nb["cells"]) == 1


def reading_files() -> list[Path]:
    return sorted((BOOK_DIR / "readings").glob("*/*.md"))


def test_every_reading_belongs_to_a_chapter_and_scale() -> None:
    notebooks = {p.stem for p in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.py")}
    assert reading_files(), "no readings"
    for path in reading_files():
        assert path.parent.name in {"smoke", "reduced", "gpu", "paper"}, path
        assert path.stem in notebooks, path


@pytest.mark.parametrize("path", reading_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_readings_are_short_paragraphs_without_typed_results(path: Path) -> None:
    """Each paragraph of a reading has at most 150 words and no measured number (a decimal, or
    percentage points): the tables beside it give those."""
    prepare = load_prepare_book()
    paragraphs = prepare.reading(BOOK_DIR, path.parent.name, path.stem)
    assert paragraphs
    for paragraph in paragraphs:
        assert len(paragraph.split()) <= MAX_WORDS, paragraph[:80]
        assert not re.search(r"\d\.\d|\bpp\b", paragraph), paragraph[:80]


def test_the_ledger_leads_each_reading_paragraph_with_a_link_to_its_chapter(tmp_path: Path) -> None:
    prepare = load_prepare_book()
    (tmp_path / "readings" / "reduced").mkdir(parents=True)
    (tmp_path / "readings" / "reduced" / "03_pretraining.md").write_text("**TREC-6.** One\nline.\n\n**IMDb.** Two.\n")
    text = prepare.readings_page(tmp_path, {"03_pretraining": "reduced", "07_bidirectional": "reduced"})
    link = "{doc}`Table 4: pretraining </chapters/03_pretraining>` · "
    assert text.split("\n\n") == [f"{link}**TREC-6.** One line.", f"{link}**IMDb.** Two.",
                                  "{doc}`Bidirectional: forward and backward </chapters/07_bidirectional>` · "
                                  "No reading has been written at the `reduced` scale.\n"]
