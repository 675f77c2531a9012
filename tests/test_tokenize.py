"""Tokenisation rules (fastai ``text/core.py`` examples), the tokenizer, parallel runs and the token cache."""
from __future__ import annotations

import numpy as np
import pytest

from ulmfit_core import tokenize as tk
from ulmfit_core.fileio import load_arrays, save_arrays
from ulmfit_core.tokenize import (
    BOS,
    MAJ,
    REP,
    SPECIAL_TOKENS,
    UNK,
    UP,
    WREP,
    TokenizedCorpus,
    Tokenizer,
    fix_html,
    replace_all_caps,
    replace_maj,
    replace_rep,
    replace_wrep,
    rm_useless_spaces,
    spec_add_spaces,
    tokenize_cached,
    tokenize_texts,
)

TEXTS = [
    "I LOVE this movie!!!! It was GREAT.<br /><br />Really, really good.",
    "Jeremy Howard and Sebastian Ruder wrote ULMFiT... in 2018",
    "no no no no no",
    "A/B testing #hashtag   with   spaces",
    "",
    "Plain lower case text.",
    "&quot;Quoted&quot; &amp; escaped <unk> words",
    "Wait     what?? Soooo good",
]


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer()


# ---- pre-rules (examples from fastai's documentation, thresholds at 4 repeats) -------------------------


def test_spec_add_spaces():
    assert spec_add_spaces("#fastai") == " # fastai"
    assert spec_add_spaces("/fastai") == " / fastai"
    assert spec_add_spaces("\\fastai") == " \\ fastai"
    assert spec_add_spaces("a/b#c") == "a / b # c"


def test_rm_useless_spaces():
    assert rm_useless_spaces("a  b   c") == "a b c"
    assert rm_useless_spaces("a b") == "a b"


def test_replace_rep_from_four_characters():
    assert replace_rep("aa") == "aa"
    assert replace_rep("aaa") == "aaa"
    assert replace_rep("aaaa") == f" {REP} 4 a "
    assert replace_rep("wow!!!!!!") == f"wow {REP} 6 ! "


def test_replace_wrep_from_four_words():
    assert replace_wrep("ah ah") == "ah ah"
    assert replace_wrep("ah ah ah") == "ah ah ah"
    assert replace_wrep("ah ah   ah  ah") == f" {WREP} 4 ah "
    assert replace_wrep("ah ah ah ah ") == f" {WREP} 4 ah  "
    assert replace_wrep("ah ah ah ah.") == f" {WREP} 4 ah ."
    assert replace_wrep("ah ah ah ahi") == "ah ah ah ahi"
    assert replace_wrep("so no no no no no way") == f"so {WREP} 5 no  way"


def test_fix_html():
    assert fix_html("#39;bli#146;") == "'bli'"
    assert fix_html("Sarah amp; Duck...") == "Sarah & Duck …"
    assert fix_html("a nbsp; #36;") == "a   $"
    assert fix_html('\\" <unk>') == f'" {UNK}'
    assert fix_html("quot;  @.@  @-@ ") == "' .-"
    assert fix_html("<br />text\\n") == "\ntext\n"
    assert fix_html("a<br /><br />b &lt;i&gt;") == "a\n\nb <i>"


# ---- post-rules ------------------------------------------------------------------------------------------


def test_replace_all_caps():
    assert replace_all_caps(["I'M", "SHOUTING"]) == [UP, "i'm", UP, "shouting"]
    assert replace_all_caps(["I", "am", "A", "OK"]) == ["I", "am", "A", UP, "ok"]
    assert replace_all_caps(["I'm", "speaking", "normally"]) == ["I'm", "speaking", "normally"]


def test_replace_maj_also_lowercases():
    assert replace_maj(["Jeremy", "Howard"]) == [MAJ, "jeremy", MAJ, "howard"]
    assert replace_maj(["I", "don't", "McDonald", "X"]) == ["i", "don't", "mcdonald", "x"]
    assert replace_maj(["", "École"]) == [MAJ, "école"]


# ---- the full tokenizer ----------------------------------------------------------------------------------


def test_tokenizer_caps_and_repetition(tokenizer):
    assert tokenizer("I LOVE this!!!!") == [BOS, "i", UP, "love", "this", REP, "4", "!"]
    assert tokenizer("This isn't a problem") == [BOS, MAJ, "this", "is", "n't", "a", "problem"]
    assert tokenizer("I'M SHOUTING") == [BOS, UP, "i'm", UP, "shouting"]
    assert tokenizer("no no no no no!") == [BOS, WREP, "5", "no", "!"]


def test_tokenizer_html_spacing_and_whitespace_tokens(tokenizer):
    # <br /> becomes a newline, which spaCy keeps as a whitespace token (fastai v2 behaviour)
    assert tokenizer("Good.<br /><br />Bad") == [BOS, MAJ, "good", ".", "\n\n", MAJ, "bad"]
    # a space inside a whitespace token is written "▁", so no token ever contains a space
    assert tokenizer("end. <br /> next") == [BOS, "end", ".", "\n▁", "next"]
    assert tokenizer("a/b #tag   c") == [BOS, "a", "/", "b", "#", "tag", "c"]
    assert tokenizer("  padded  ") == [BOS, "padded"]
    assert tokenizer("x <unk> y...") == [BOS, "x", UNK, "y", "…"]
    assert tokenizer("") == [BOS]


def test_tokens_are_lowercase_and_start_with_bos(tokenizer):
    for text in TEXTS:
        tokens = tokenizer(text)
        assert tokens[0] == BOS and BOS not in tokens[1:]
        assert all(t == t.lower() for t in tokens)
        assert all(" " not in t and t for t in tokens)


def test_pipe_equals_call(tokenizer):
    assert list(tokenizer.pipe(TEXTS)) == [tokenizer(t) for t in TEXTS]


@pytest.mark.parametrize("n_workers", [1, 2])
def test_non_string_text_is_rejected(tokenizer, n_workers):
    texts = ["ok"] * 9 + [float("nan")]
    with pytest.raises(ValueError, match="text 9 is a float"):
        tokenize_texts(texts, n_workers=n_workers, progress=False)
    with pytest.raises(ValueError, match="text 0 is a NoneType"):
        tokenizer(None)


def test_multiprocess_equals_single_process(tokenizer):
    texts = TEXTS * 5
    single = tokenize_texts(texts, n_workers=1, progress=False)
    assert single == [tokenizer(t) for t in texts]
    assert tokenize_texts(texts, n_workers=2, progress=False) == single


# ---- the token cache ---------------------------------------------------------------------------------------


def test_tokenized_corpus_layout(tmp_path, tokenizer):
    corpus = tokenize_cached(TEXTS, "toy", cache=tmp_path, n_workers=1, progress=False)
    assert len(corpus) == len(TEXTS)
    assert tuple(corpus.words[: len(SPECIAL_TOKENS)]) == SPECIAL_TOKENS
    assert len(set(corpus.words)) == len(corpus.words)
    assert corpus.ids.dtype == np.int32 and corpus.offsets.dtype == np.int64
    assert corpus.counts.dtype == np.int64
    for i, text in enumerate(TEXTS):
        assert corpus.tokens(i) == tokenizer(text)
        assert corpus.doc(i).tolist() == [corpus.words.index(t) for t in tokenizer(text)]
    all_tokens = [t for text in TEXTS for t in tokenizer(text)]
    for word, count in zip(corpus.words, corpus.counts.tolist()):
        assert count == all_tokens.count(word)
    assert corpus.counts[corpus.words.index(BOS)] == len(TEXTS)


def test_cache_hit_does_not_tokenise_again(tmp_path, monkeypatch):
    first = tokenize_cached(TEXTS, "toy", cache=tmp_path, n_workers=1, progress=False)
    files = list((tmp_path / "tokens").glob("toy-*.npz"))
    assert len(files) == 1 and len(files[0].stem) == len("toy-") + 16

    def fail(*args, **kwargs):
        raise AssertionError("tokenised although the cache holds these texts")

    monkeypatch.setattr(tk, "_tokenized_chunks", fail)
    second = tokenize_cached(TEXTS, "toy", cache=tmp_path, n_workers=1, progress=False)
    assert second.words == first.words
    for name in ("counts", "ids", "offsets"):
        np.testing.assert_array_equal(getattr(second, name), getattr(first, name))
    with pytest.raises(AssertionError, match="tokenised although"):
        tokenize_cached(TEXTS[:-1], "toy", cache=tmp_path, n_workers=1, progress=False)


def test_cache_key_depends_on_texts_and_rules(monkeypatch):
    key = tk.corpus_key(["ab", "c"])
    assert tk.corpus_key(["ab", "c"]) == key
    assert tk.corpus_key(["a", "bc"]) != key  # text boundaries are part of the key
    monkeypatch.setattr(tk, "RULES_VERSION", tk.RULES_VERSION + "-changed")
    assert tk.corpus_key(["ab", "c"]) != key


def test_cache_parallel_equals_serial(tmp_path):
    texts = TEXTS * 4
    serial = tokenize_cached(texts, "a", cache=tmp_path, n_workers=1, progress=False)
    parallel = tokenize_cached(texts, "b", cache=tmp_path, n_workers=2, progress=False)
    assert parallel.words == serial.words
    np.testing.assert_array_equal(parallel.ids, serial.ids)
    np.testing.assert_array_equal(parallel.offsets, serial.offsets)


def test_cache_file_round_trip_and_words_with_odd_characters(tmp_path):
    words = list(SPECIAL_TOKENS) + ["\n\n", "é", "end\x00"]
    corpus = TokenizedCorpus(words, np.array([0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1]),
                             np.array([2, 8, 9, 10], dtype=np.int32), np.array([0, 4], dtype=np.int64))
    save_arrays(tmp_path / "c.npz", **corpus.to_arrays())
    back = TokenizedCorpus.from_arrays(load_arrays(tmp_path / "c.npz"), tmp_path / "c.npz")
    assert back.words == words
    assert back.tokens(0) == [BOS, "\n\n", "é", "end\x00"]


def test_corrupt_cache_file_names_the_file(tmp_path):
    corpus = tokenize_cached(TEXTS, "toy", cache=tmp_path, n_workers=1, progress=False)
    path = next((tmp_path / "tokens").glob("toy-*.npz"))
    arrays = corpus.to_arrays()
    arrays["offsets"] = arrays["offsets"][:-1]
    save_arrays(path, **arrays)
    with pytest.raises(ValueError, match=rf"{path.name}.*offsets"):
        tokenize_cached(TEXTS, "toy", cache=tmp_path, n_workers=1, progress=False)


def test_bad_cache_name(tmp_path):
    with pytest.raises(ValueError, match="cache name"):
        tokenize_cached(TEXTS, "../escape", cache=tmp_path, progress=False)
