"""The linear baseline: its C is chosen on validation alone, and it reads the texts the classifier reads."""
from __future__ import annotations

import numpy as np
import pytest

from ulmfit_core.baseline import LinearConfig, chosen_c, fit_linear
from ulmfit_core.config import ConfigError
from ulmfit_core.splits import Record
from ulmfit_core.harness import experiments as E
from ulmfit_core.harness.scales import get_scale

TOPICS = {0: "goal match team score player league", 1: "market stock price bank trade profit",
          2: "planet star orbit telescope galaxy comet"}


def _texts(n: int, seed: int, noise: float = 0.3) -> list[Record]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = i % 3
        words = [rng.choice(TOPICS[label].split()) if rng.random() > noise else rng.choice(TOPICS[(label + 1) % 3].split())
                 for _ in range(8)]
        out.append(Record(" ".join(words) + f" filler{rng.integers(50)}", label))
    return out


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    train, valid, test = _texts(60, 0), _texts(30, 1), _texts(30, 2)

    def task_data(dataset, scale_name, test_records=test):
        return E.TaskData(train, valid, test_records, [], 3)

    monkeypatch.setattr(E, "task_data", task_data)
    return {"train": train, "valid": valid, "test": test, "patch": monkeypatch}


def test_the_choice_is_the_lowest_validation_error_of_the_grid():
    train, valid = _texts(60, 0, noise=0.45), _texts(30, 1, noise=0.45)
    model, table = fit_linear([r.text for r in train], [r.label for r in train],
                              [r.text for r in valid], [r.label for r in valid])
    assert [row["C"] for row in table] == sorted(LinearConfig().c_grid)
    best = min(row["valid_error"] for row in table)
    assert model.named_steps["classifier"].C == chosen_c(table)
    assert chosen_c(table) == min(row["C"] for row in table if row["valid_error"] == best)
    error = 100 * np.mean(model.predict([r.text for r in valid]) != np.array([r.label for r in valid]))
    assert error == pytest.approx(best)


def test_the_baseline_never_reads_the_test_split(data):
    scale = get_scale("smoke")
    first = E.ensure(E.linear_run(scale, "trec6"), "cpu")
    first_preds = E.predictions(E.linear_run(scale, "trec6"))
    # the same run with other test texts and labels: nothing but the test metrics may move
    other = [Record("xx " + r.text[::-1], (r.label + 1) % 3) for r in data["test"]]
    data["patch"].setattr(E, "task_data", lambda ds, sc: E.TaskData(data["train"], data["valid"], other, [], 3))
    E.linear_run(scale, "trec6").record_path.unlink()
    second = E.ensure(E.linear_run(scale, "trec6"), "cpu")
    second_preds = E.predictions(E.linear_run(scale, "trec6"))
    assert second["metrics"]["C"] == first["metrics"]["C"] and second["history"] == first["history"]
    assert np.array_equal(second_preds["valid_probs"], first_preds["valid_probs"])
    assert second["metrics"]["test_error"] != first["metrics"]["test_error"]
    assert first["metrics"]["valid_error"] < 40 and first_preds["test_probs"].shape == (30, 3)


def test_the_baseline_reads_the_classifiers_tokens_cut_like_the_classifier(tmp_path, monkeypatch):
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    texts = E.token_texts(["Hello World, this is IMDb!", "Short one"], "cut-test", max_tokens=4)
    assert texts[0].split() == ["xxbos", "xxmaj", "hello", "xxmaj"]
    assert texts[1].split() == ["xxbos", "xxmaj", "short", "one"]


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="char_ngrams"):
        LinearConfig(char_ngrams=(3, 2))
    with pytest.raises(ValueError, match="two classes"):
        fit_linear(["a b", "c d"], [0, 0], ["a"], [0])
