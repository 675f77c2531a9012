"""The preflight: every input a scale's notebooks read, checked before any compute, and the estimate."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import papermill
import pytest

from ulmfit_core import tokenize
from ulmfit_core.awd_lstm import AWDLSTMConfig
from ulmfit_core.corpus import WIKITEXT103_TRAIN
from ulmfit_core.settings import REPO_ROOT
from ulmfit_core.harness import download, notebooks, preflight, studies
from ulmfit_core.harness import experiments as E
from ulmfit_core.harness.scales import get_scale

# what the paper scale's main results read and a data folder holding only the shared files lacks
PAPER_ONLY = ["ag_news/train.csv.gz", "dbpedia/train.csv.gz", "dbpedia/test.csv.gz",
              "yelp/review_polarity/train.csv.gz", "yelp/review_polarity/test.csv.gz",
              "yelp/review_full/train.csv.gz", "yelp/review_full/test.csv.gz", WIKITEXT103_TRAIN]
SHARED = ["imdb/train.csv.gz", "imdb/test.csv.gz", "imdb/unsup.csv.gz", "trec6/train_5500.label",
          "trec6/TREC_10.label", "ag_news/test.csv.gz", "ag_news/classes.txt", "dbpedia/classes.txt",
          "wikitext/raw/wiki.test.raw"]


@pytest.fixture
def fresh(tmp_path, monkeypatch) -> Path:
    """Empty results and cache folders: no run is recorded yet."""
    monkeypatch.setenv("ULMFIT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ULMFIT_PACK", raising=False)
    return tmp_path


def _data_folder(root: Path, files: list[str]) -> Path:
    """A data folder where ``files`` exist (the preflight checks presence; the readers check content)."""
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    return root


def _no_compute(monkeypatch) -> None:
    """Make tokenising, training and notebook execution fail if reached."""
    def reached(*args, **kwargs):
        raise AssertionError("tokenising or training started before the preflight")
    monkeypatch.setattr(tokenize, "tokenize_cached", reached)
    for module, names in ((E, ("ensure", "pretrain_lm", "finetune_lm", "train_classifier", "task_data")),
                          (studies, ("ensure", "task_data")), (papermill, ("execute_notebook",))):
        for name in names:
            monkeypatch.setattr(module, name, reached)


def test_paper_preflight_lists_every_missing_input_in_one_message_before_any_compute(fresh, monkeypatch):
    root = _data_folder(fresh / "data", SHARED)
    monkeypatch.setenv("ULMFIT_DATA", str(root))
    _no_compute(monkeypatch)
    with pytest.raises(SystemExit) as stop:
        notebooks.main(["--scale", "paper", "--only", "01"])
    message = str(stop.value)
    assert "5 problem(s); nothing was tokenised or trained" in message
    for rel in PAPER_ONLY:
        assert str(root / rel) in message
    for name in ("ag_news_120k", "dbpedia_560k", "yelp_bi_560k", "yelp_full_650k", "WikiText-103 training text"):
        assert f"{name}" in message
    assert message.count("fetch: python -m ulmfit_core.harness.preflight --scale paper --fetch") == 5
    assert "imdb" not in message and "trec6" not in message            # present inputs are not problems
    assert "estimate on one NVIDIA H100" in message
    with pytest.raises(preflight.PreflightError, match=r"5 problem\(s\)"):
        studies.main_results("paper")                                 # a study checks first, too


def test_paper_preflight_here_names_what_this_data_folder_lacks(shared_data, fresh, monkeypatch):
    missing = [rel for rel in PAPER_ONLY if not (shared_data / rel).is_file()]
    if not missing:
        pytest.skip("this data folder holds the paper's complete datasets")
    _no_compute(monkeypatch)
    with pytest.raises(preflight.PreflightError) as err:
        preflight.check("paper", ["01"])
    assert all(str(shared_data / rel) in str(err.value) for rel in missing)
    assert str(shared_data / "imdb") not in str(err.value)


def test_complete_smoke_preflight_passes_and_prints_its_estimate(shared_data, fresh, capsys):
    preflight.main(["--scale", "smoke"])
    out = capsys.readouterr().out
    assert "MISSING" not in out
    assert f"ok      corpus Wikipedia shards [0]: {shared_data / 'wikipedia' / 'wiki_00.txt.gz'}" in out
    assert "pretraining: 3 runs" in out                    # forward, backward and vanilla: nothing recorded
    assert "estimate on a 2-core CPU:" in out and "estimate on one NVIDIA H100:" in out


def test_recorded_runs_and_available_lms_need_neither_compute_nor_corpus(fresh, monkeypatch):
    monkeypatch.setenv("ULMFIT_DATA", str(_data_folder(fresh / "data", ["trec6/train_5500.label",
                                                                       "trec6/TREC_10.label"])))
    before = preflight.plan("smoke", ["03"], ["trec6"], [0])
    assert [i.name for i in before.missing] == ["Wikipedia shards [0]", "WikiText-103 test articles"]
    assert before.estimate.runs == {"pretraining": 1, "LM fine-tuning": 2, "classifiers": 2}
    for run in preflight.runs_to_compute(preflight.notebook_runs(get_scale("smoke"), "03", ["trec6"], [0])):
        run.record_path.parent.mkdir(parents=True, exist_ok=True)
        run.record_path.write_text("{}")
        if run.kind != "classifier":
            (run.work_dir / "model.safetensors").parent.mkdir(parents=True, exist_ok=True)
            (run.work_dir / "model.safetensors").write_bytes(b"")
    after = preflight.check("smoke", ["03"], ["trec6"], [0])
    assert after.estimate.runs == {} and not any(i.kind in ("corpus", "evaluation text") for i in after.inputs)
    assert "compute still to do (training passes; recorded runs are skipped): none" in after.text()


def test_throughputs_are_the_measured_ones_at_the_measured_sizes():
    for m in preflight.MEASURED:
        assert preflight.tokens_per_s(m.model, m.vocab, m.device) == pytest.approx(m.tokens_per_s)
    reduced = AWDLSTMConfig(emb_size=200, hidden_size=400, n_layers=3)
    assert preflight.macs_per_token(reduced, 20_000) == pytest.approx(6.7e6, rel=0.02)   # its 6.7M parameters
    paper = AWDLSTMConfig()
    assert preflight.tokens_per_s(paper, 60_000, "cuda", softmax=False) > preflight.tokens_per_s(paper, 60_000, "cuda")
    bench = REPO_ROOT / "bench" / "results" / "gpu-nvidia-h100-80gb-hbm3-2026-11-26.json"
    if bench.is_file():
        gpu = next(m for m in preflight.MEASURED if m.device == "cuda")
        assert json.loads(bench.read_text())["results"][0]["ours"] == pytest.approx(gpu.tokens_per_s, rel=0.01)


def test_fetch_downloads_the_missing_inputs_then_passes(fresh, monkeypatch, serve, capsys):
    root = _data_folder(fresh / "data", SHARED[:5])
    monkeypatch.setenv("ULMFIT_DATA", str(root))
    served = fresh / "served"
    served.mkdir()
    archives = {"yelp_polarity": ("yelp_review_polarity_csv.tgz", {
                    "yelp_review_polarity_csv/train.csv": '"1","Bad."\n"2","Good."\n',
                    "yelp_review_polarity_csv/test.csv": '"2","Fine."\n'}),
                "wikitext103_raw": ("wikitext-103-raw-v1.zip", {
                    f"wikitext-103-raw/wiki.{s}.raw": " \n = A = \n" for s in ("train", "valid", "test")})}
    for key, (name, members) in archives.items():
        buf = io.BytesIO()
        if name.endswith(".zip"):
            with zipfile.ZipFile(buf, "w") as zf:
                for member, text in members.items():
                    zf.writestr(member, text)
        else:
            with tarfile.open(fileobj=buf, mode="w:gz") as tf:
                for member, text in members.items():
                    info = tarfile.TarInfo(member)
                    info.size = len(text.encode())
                    tf.addfile(info, io.BytesIO(text.encode()))
        (served / name).write_bytes(buf.getvalue())
        monkeypatch.setitem(download.SOURCES, key, [download.Source(
            serve(served) + name, hashlib.sha256(buf.getvalue()).hexdigest(), name, True, len(buf.getvalue()))])
    args = ["--scale", "paper", "--only", "01", "--datasets", "trec6", "yelp_bi_560k"]
    with pytest.raises(SystemExit, match="yelp_bi_560k"):
        preflight.main(args)
    preflight.main(args + ["--fetch"])
    out = capsys.readouterr().out
    assert "fetching dataset yelp_bi_560k" in out and "MISSING" not in out.split("inputs")[1]
    assert (root / "yelp" / "review_polarity" / "train.csv.gz").is_file()
    assert (root / WIKITEXT103_TRAIN).is_file()


def test_a_pack_without_its_manifest_is_the_one_missing_input(fresh, monkeypatch):
    monkeypatch.setenv("ULMFIT_PACK", str(fresh / "no_pack"))
    with pytest.raises(preflight.PreflightError, match=r"manifest\.json.*\n.*make pack SCALE=smoke"):
        preflight.check("smoke", ["03"], ["trec6"])


def test_unknown_notebook_is_refused():
    with pytest.raises(ValueError, match="no notebook"):
        preflight.plan("smoke", ["09"])


def test_the_reduced_chapters_wait_for_the_schedule_choice_of_their_datasets(fresh, monkeypatch):
    """At a scale that takes its epochs from the choice, a notebook stops before any compute while a
    dataset's choice is missing or not yet set in the scale, and says what to do; once set, it starts."""
    from ulmfit_core.fileio import write_json  # noqa: PLC0415
    from ulmfit_core.harness import epoch_choice  # noqa: PLC0415
    _no_compute(monkeypatch)
    reduced = get_scale("reduced")
    path = epoch_choice.choice_path(reduced, "trec6")

    def problems() -> list[str]:
        report = preflight.plan("reduced", ["01"], ["trec6"])
        return [p for p in report.problems() if p.startswith("dataset trec6")]

    assert problems() and "not chosen on validation yet" in problems()[0]
    assert "make runs SCALE=reduced" in problems()[0]
    other = {**epoch_choice.used(reduced, "trec6"), "clf_epochs": 99}
    write_json(path, {"choice": other, "candidates": epoch_choice.candidates(reduced, "trec6"),
                      "extensions": epoch_choice.EXTENSIONS})
    assert "is not what the scale uses" in problems()[0] and "'clf_epochs': 99" in problems()[0]
    now = epoch_choice.used(reduced, "trec6")
    write_json(path, {"choice": now, "candidates": {"lm_epochs": [1], "clf_epochs": [2]}})
    assert "not chosen on validation yet" in problems()[0]           # a choice among other candidates is none
    write_json(path, {"choice": now, "candidates": epoch_choice.candidates(reduced, "trec6"),
                      "extensions": epoch_choice.EXTENSIONS})
    assert problems() == [] and preflight.plan("reduced", ["01"], ["trec6"]).unchosen == ()
