"""The pretraining corpus with its fixed held-out articles, pretraining on it, and the recipe's probes."""
from __future__ import annotations

import gzip
import itertools

import numpy as np
import pytest

from ulmfit_core.fileio import write_json
from ulmfit_core.harness import experiments as E
from ulmfit_core.harness import lm_recipe, wikicorpus
from ulmfit_core.harness.scales import PretrainRecipe, get_scale

WORDS = [f"w{i}" for i in range(40)]


def _article(shard: int, k: int, rng: np.random.Generator) -> str:
    body = " ".join(rng.choice(WORDS, size=int(rng.integers(30, 60))))
    only_here = f" heldoutword{k}" if shard == wikicorpus.HELDOUT_SHARD and k >= 4 else ""
    return f" = Article {shard} {k} = \n\n {body}{only_here} .\n"


@pytest.fixture
def wiki_root(tmp_path, monkeypatch):
    """Eight tiny shards of 6 articles; the last 2 of shard 7 are the held-out set."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    (root / "wikipedia").mkdir(parents=True)
    for shard in range(8):
        with gzip.open(root / "wikipedia" / f"wiki_{shard:02d}.txt.gz", "wt", encoding="utf-8") as fh:
            fh.write("".join(_article(shard, k, rng) for k in range(6)))
    (root / "wikitext" / "raw").mkdir(parents=True)
    (root / "wikitext" / "raw" / "wiki.test.raw").write_text(
        "\n".join(" ".join(rng.choice(WORDS, 50)) for _ in range(20)) + "\n")
    for env, sub in (("ULMFIT_DATA", root), ("ULMFIT_CACHE", tmp_path / "cache"),
                     ("ULMFIT_RESULTS", tmp_path / "results")):
        monkeypatch.setenv(env, str(sub))
    monkeypatch.setattr(wikicorpus, "HELDOUT_ARTICLES", 2)
    wikicorpus._shard_corpus.cache_clear()
    yield root
    wikicorpus._shard_corpus.cache_clear()


def test_the_heldout_articles_are_never_trained_on_nor_in_the_vocabulary(wiki_root):
    vocab = wikicorpus.wiki_vocab(1000, 1)
    assert not any(w.startswith("heldoutword") for w in vocab.itos)
    train = wikicorpus.training_docs(vocab, range(8))
    valid = wikicorpus.heldout_docs(vocab)
    assert (len(train), len(valid)) == (8 * 6 - 2, 2)
    corpus = wikicorpus.shard_corpus(7)
    assert [len(d) for d in valid] == np.diff(corpus.offsets)[-2:].tolist()
    assert all(vocab.unk_id in d for d in valid)             # the held-out-only words are unknown
    as_text = {vocab.textify(d) for d in train}
    assert not as_text & {vocab.textify(d) for d in valid}


def test_a_token_budget_is_a_prefix_cut_at_an_article_boundary(wiki_root):
    vocab = wikicorpus.wiki_vocab(1000, 1)
    every = wikicorpus.training_docs(vocab, range(8))
    lengths = np.cumsum([len(d) for d in every])
    budget = int(lengths[8]) - 3                              # reached inside the ninth article
    some = wikicorpus.training_docs(vocab, range(8), budget)
    assert len(some) == 9 and all(np.array_equal(a, b) for a, b in zip(some, every))
    backward = wikicorpus.training_docs(vocab, range(8), budget, backward=True)
    assert all(np.array_equal(a[::-1], b) for a, b in zip(some, backward))
    with pytest.raises(ValueError, match=r"shards \[0, 1\] hold .* fewer than"):
        wikicorpus.training_docs(vocab, [0, 1], int(lengths[-1]))


def test_pretraining_on_the_fixed_split_records_a_curve_and_its_tokens(wiki_root, monkeypatch):
    monkeypatch.setattr(E, "CURVE_MIN_TOKENS", 100)
    scale = get_scale("smoke")
    run = E.wiki_pretrain_run(scale, PretrainRecipe(tokens=1500, lr=5e-3, batch_size=4))
    assert run.config["corpus"]["heldout"] == {"shard": 7, "articles": 2}
    record = E.ensure(run, "cpu")
    assert record["metrics"]["train_tokens"] >= 1500 and record["metrics"]["tokens_seen"] > 1000
    curve = record["history"][0]["curve"]
    assert len(curve) >= 5 and [c["items"] for c in curve] == sorted(c["items"] for c in curve)
    assert all(np.isfinite(c["valid_perplexity"]) for c in curve)
    assert record["metrics"]["wikitext103_test_perplexity"] > 1
    assert not (run.work_dir / "checkpoints").exists()           # finished: no checkpoint left behind
    folder = E.publish_weights(run, "cpu")
    assert (folder / "model.safetensors").exists() and (folder / "vocab.json").exists()
    vanilla = E.wiki_pretrain_run(scale, PretrainRecipe(tokens=1500, lr=5e-3, batch_size=4, drop_mult=0.0))
    assert vanilla.config["model"]["weight_p"] == 0 and vanilla.config["train"] == run.config["train"]


def _record(run: E.Run, perplexity: float) -> None:
    write_json(run.record_path, {"id": run.id, "metrics": {"valid_perplexity": perplexity}})


def test_the_probes_are_planned_step_by_step_and_the_choice_follows_validation(tmp_path, monkeypatch):
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path / "results"))
    scale = get_scale("reduced")

    def perplexity(r: PretrainRecipe) -> float:   # a landscape: best near rate 3e-2, dropout 0.3, batch 32
        return (100 + 10 * abs(np.log10(r.lr / 3e-2)) + 20 * abs(r.drop_mult - 0.3) + r.batch_size / 32
                - (10 if r.tokens > lm_recipe.PROBE_TOKENS and r.drop_mult == 0.1 else 0))

    seen = []
    for _ in range(10):
        probes, finished = lm_recipe.plan(scale)
        if finished:
            break
        seen.append([(p.recipe.lr, p.recipe.drop_mult, p.recipe.batch_size) for p in probes])
        for p in probes:
            _record(p.run, perplexity(p.recipe))
    assert seen[0] == list(itertools.product(lm_recipe.LRS, lm_recipe.DROP_MULTS, [64]))
    assert seen[1] == [(3e-2, 0.0, 64), (3e-2, 0.3, 64), (9e-2, 0.1, 64)]   # 3e-2 is the grid's edge
    assert seen[2] == [(3e-2, 0.3, 32), (3e-2, 0.3, 128)]
    assert seen[3] == [(3e-2, 0.3, 32), (3e-2, 0.1, 64)]   # the finalists (best other dropout), longer
    assert len(seen) == 4
    # at several times the tokens the runner-up wins in this landscape, so the choice moves to it
    assert lm_recipe.chosen(scale) == PretrainRecipe(tokens=lm_recipe.FINAL_TOKENS, lr=3e-2, drop_mult=0.1,
                                                     batch_size=64)
    assert [p.perplexity for p in lm_recipe.short_probes(scale)][:2] == [
        perplexity(PretrainRecipe(lr=3e-3, drop_mult=1.0)), perplexity(PretrainRecipe(lr=3e-3, drop_mult=0.1))]
    finals = lm_recipe.final_runs(scale)
    assert [r.config["direction"] for r in finals.values()] == ["forward", "backward", "forward"]
    assert finals["vanilla"].config["recipe"] == {**finals["forward"].config["recipe"], "drop_mult": 0.0}
    assert finals["vanilla"].config["model"]["input_p"] == 0 and finals["forward"].config["model"]["input_p"] > 0


def test_the_choice_is_refused_before_the_probes_are_done(tmp_path, monkeypatch):
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path / "results"))
    with pytest.raises(ValueError, match="probes of scale 'reduced' are not finished"):
        lm_recipe.chosen(get_scale("reduced"))


def test_a_diverged_probe_is_recorded_never_best_and_shown_as_diverged(tmp_path, monkeypatch):
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path / "results"))
    scale = get_scale("reduced")
    probes, _ = lm_recipe.plan(scale)
    for i, p in enumerate(probes):
        if i == len(probes) - 1:
            lm_recipe.record_divergence(p.run, lm_recipe.TrainingDiverged("loss became nan"), "cpu")
        else:
            write_json(p.run.record_path, {"id": p.run.id, "metrics": {"valid_perplexity": 100.0 + i,
                                                                        "wikitext103_test_perplexity": 120.0},
                                            "provenance": {"wall_seconds": 60.0}})
    assert lm_recipe.best(probes) is probes[0] and probes[-1].perplexity == float("inf")
    again, _ = lm_recipe.plan(scale)
    assert all(p.recipe.drop_mult in lm_recipe.MORE_DROP_MULTS or p.recipe.lr != lm_recipe.BASE.lr
               for p in again)                                   # the plan moved on to its next step
    table = lm_recipe.probes_markdown(scale)
    assert "| diverged | — |" in table and "**100.0**" in table
