"""The whole ULMFiT recipe at smoke size: pretrain on ~100k Wikipedia tokens, fine-tune on TREC-6
questions, classify — and beat the majority class."""
from __future__ import annotations

import pytest

from ulmfit_core.settings import data_dir
from ulmfit_core.harness import smoke

pytestmark = pytest.mark.skipif(not (data_dir() / "trec6").exists(), reason="shared data folder not found")


@pytest.mark.slow
def test_tiny_pipeline_beats_majority_class(tmp_path) -> None:
    result = smoke.run(n_wiki_words=100_000, n_train=1500, seed=0, work=tmp_path)
    assert result.test_error < result.majority_test_error - 10, result
    assert result.finetune_perplexity < result.pretrain_perplexity  # the LM adapted to the questions
    assert (tmp_path / "classifier" / "checkpoints" / "LATEST").exists()
