"""The book's performance tables (:mod:`ulmfit_core.harness.benchreport`) from bench/bench.py's JSON records."""
from __future__ import annotations

import pytest

from ulmfit_core.fileio import write_json
from ulmfit_core.harness.benchreport import newest_records, performance_tables


def cpu_record(date: str, ours: float) -> dict:
    return {"section": "cpu", "date": date, "machine": {"cpu": "Test CPU", "cores": 2,
                                                        "load_average_start": [0.5, 0.4, 0.3]},
            "torch": "2.13.0", "fastai": "2.8.12", "git_revision": "abc123", "settings": {"repeats": 3},
            "results": [{"benchmark": "lm_train", "config": "emb 100 / hidden 256", "unit": "tokens/s",
                         "ours": ours, "fastai": 1000.0, "ratio": ours / 1000.0, "ours_peak_rss_mib": 1300.4,
                         "fastai_peak_rss_mib": 1900.0}]}


def gpu_record(ratio: float) -> dict:
    return {"section": "gpu", "date": "2026-01-02T00:00:00+00:00", "card": "NVIDIA H100", "cuda": "12.8",
            "machine": {}, "torch": "2.13.0", "git_revision": "abc123", "settings": {"repeats": 3},
            "results": [{"benchmark": "lm_train_gpu", "config": "emb 400 / hidden 1150", "unit": "tokens/s",
                         "ours": 1000.0 * ratio, "bare": 1000.0, "ratio": ratio, "target_ratio": 0.9,
                         "ours_peak_mib": 5000.0, "bare_peak_mib": 4000.0}]}


def test_newest_cpu_record_and_each_gpu_card_are_shown(tmp_path):
    write_json(tmp_path / "cpu-2026-01-01.json", cpu_record("2026-01-01T00:00:00+00:00", 1500.0))
    write_json(tmp_path / "cpu-2026-02-01.json", cpu_record("2026-02-01T00:00:00+00:00", 1200.0))
    write_json(tmp_path / "gpu-nvidia-h100-2026-01-02.json", gpu_record(0.85))
    records = newest_records(tmp_path)
    assert [r["section"] for r in records] == ["cpu", "gpu"]
    text = performance_tables(tmp_path)
    assert "| LM training | emb 100 / hidden 256 | tokens/s | 1,200 | 1,000 | 1.20× | 1,300 MiB | 1,900 MiB |" in text
    assert "1,500" not in text                                   # the older CPU record is not shown
    assert "Measured 2026-02-01 on Test CPU, 2 cores, load average at start 0.5" in text
    assert "fastai 2.8.12" in text and "`abc123`" in text
    assert "| 0.85× | ≥ 0.90 (**missed**) |" in text
    assert text.index("## CPU") < text.index("## GPU: NVIDIA H100")


def test_no_records_gives_a_note(tmp_path):
    assert "No benchmark has been recorded yet" in performance_tables(tmp_path)
    assert "No benchmark has been recorded yet" in performance_tables(tmp_path / "missing")


def test_a_foreign_json_file_is_named(tmp_path):
    write_json(tmp_path / "notes.json", {"hello": 1})
    with pytest.raises(ValueError, match="notes.json"):
        performance_tables(tmp_path)
