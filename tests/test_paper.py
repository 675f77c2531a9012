"""The paper's numbers file: spot checks, structure, lookups and, where present, PAPER.md itself."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from ulmfit_core.settings import data_dir
from ulmfit_core.harness import paper
from ulmfit_core.harness.paper import paper_diff, paper_numbers, paper_value

COLUMN_KEYS = {"IMDb": "imdb", "TREC-6": "trec6", "AG": "ag", "DBpedia": "dbpedia",
               "Yelp-bi": "yelp_bi", "Yelp-full": "yelp_full"}


def test_spot_values():
    assert paper_value("table7", "freez + discr + stlr", "imdb") == 5.00
    assert paper_value("table3", "ULMFiT", "dbpedia") == 0.80
    assert paper_value("table2", "ULMFiT", "imdb") == 4.6
    assert paper_value("table2", "ULMFiT", "trec6") == 3.6
    assert paper_value("table2", "CoVe", "trec6") == 4.2
    assert paper_value("table3", "Char-level CNN", "yelp_full") == 37.95
    assert paper_value("table4", "without", "trec6") == 10.67
    assert paper_value("table5", "vanilla LM", "trec6") == 7.41
    assert paper_value("table6", "no LM fine-tuning", "ag") == 6.09
    assert paper_value("table7", "last", "trec6") == 16.09
    assert paper_value("bidirectional", "single model", "imdb") == 5.30
    assert paper_value("bidirectional", "forward + backward ensemble", "imdb") == 4.58
    assert paper_value("dai_le", "Dai & Le LM fine-tuning", "imdb") == 7.64
    assert paper_value("table1", "classes", "dbpedia") == 14


def test_analysis_tables_cover_imdb_trec6_ag():
    numbers = paper_numbers()
    for table in ("table4", "table5", "table6", "table7"):
        for row, cells in numbers[table]["values"].items():
            assert set(cells) == {"imdb", "trec6", "ag"}, (table, row)
    assert len(numbers["table6"]["values"]) == 4
    assert len(numbers["table7"]["values"]) == 10


def test_ulmfit_rows_agree_across_analysis_tables():
    # The full ULMFiT setting is the same run in Tables 4-7: 5.00 / 5.69 / 5.38.
    for dataset, value in {"imdb": 5.00, "trec6": 5.69, "ag": 5.38}.items():
        assert paper_value("table4", "with", dataset) == value
        assert paper_value("table5", "AWD-LSTM LM", dataset) == value
        assert paper_value("table6", "full + discr + stlr", dataset) == value
        assert paper_value("table7", "freez + discr + stlr", dataset) == value


def test_provenance_and_metrics():
    numbers = paper_numbers()
    assert numbers["source"]["arxiv"] == "1801.06146v5"
    assert "Howard & Ruder" in numbers["source"]["paper"]
    for table in ("table2", "table3", "bidirectional", "dai_le"):
        assert numbers[table]["metric"] == "test error %"
    for table in ("table4", "table5", "table6", "table7"):
        assert numbers[table]["metric"] == "validation error %"
    for key, entry in numbers.items():
        if key != "source":
            assert entry["table"] and "note" in entry


def test_hyperparameters():
    hp = paper_numbers()["hyperparameters"]
    assert hp["stlr"] == {"cut_frac": 0.1, "ratio": 32, "lr_max": 0.01}
    assert hp["discriminative"]["factor"] == 2.6
    assert (hp["optimizer"]["beta1"], hp["optimizer"]["beta2"]) == (0.7, 0.99)
    assert hp["awd_lstm"] == {"embedding_size": 400, "n_layers": 3, "hidden_size": 1150, "bptt": 70}
    assert hp["dropout"]["weight"] == 0.5 and hp["classifier_head"]["hidden_size"] == 50


def test_paper_diff_sign_convention():
    assert paper_diff("table4", "without", "with", "trec6") == -4.98
    assert paper_diff("table4", "without", "with", "imdb") == -0.63
    assert paper_diff("bidirectional", "single model", "forward + backward ensemble", "imdb") == -0.72


def test_unknown_keys_list_valid_ones():
    with pytest.raises(KeyError, match="table7"):
        paper_value("table8", "full", "imdb")
    with pytest.raises(KeyError, match="freez \\+ discr \\+ stlr"):
        paper_value("table7", "freeze", "imdb")
    with pytest.raises(KeyError, match="trec6"):
        paper_value("table7", "full", "yelp")


def test_copy_cannot_corrupt_the_cache():
    numbers = paper_numbers()
    numbers["table7"]["values"]["full"]["imdb"] = 0.0
    assert paper_value("table7", "full", "imdb") == 6.87


def test_malformed_file_names_file_and_key(tmp_path, monkeypatch):
    bad = tmp_path / "numbers.json"
    bad.write_text('{"source": {"arxiv": "x"}, "t": {"table": "T", "metric": "m", "note": "",'
                   ' "values": {"row": {"imdb": "5.0"}}}}')
    with pytest.raises(ValueError, match=r"numbers\.json.*t\.values\['row'\]\['imdb'\]"):
        paper._load(bad)


def _paper_md() -> Path:
    path = data_dir().parent / "PAPER.md"
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path


def _markdown_table(text: str, heading: str) -> dict[str, dict[str, float]]:
    """Parse the first `| | col | ... |` table after `heading` into row -> dataset -> value."""
    lines = text[text.index(heading):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| |"))
    columns = [COLUMN_KEYS[c.strip()] for c in lines[start].strip("|").split("|")[1:]]
    table = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        table[cells[0]] = {col: float(v) for col, v in zip(columns, cells[1:])}
    return table


@pytest.mark.parametrize("heading,table", [("## Table 3", "table3"), ("Table 6", "table6"),
                                           ("Table 7", "table7")])
def test_tables_match_paper_md(heading, table):
    expected = _markdown_table(_paper_md().read_text(encoding="utf-8"), heading)
    assert expected, heading
    assert paper_numbers()[table]["values"] == expected


def test_tables_4_and_5_match_paper_md():
    text = _paper_md().read_text(encoding="utf-8")
    number = r"(\d+\.\d+)"
    triple = rf"{number} / {number} / {number}"
    for table, pattern, rows in [
        ("table4", rf"without {triple}; with {triple}", ("without", "with")),
        ("table5", rf"vanilla {triple};\s+AWD-LSTM {triple}", ("vanilla LM", "AWD-LSTM LM")),
    ]:
        found = [float(x) for x in re.search(pattern, text).groups()]
        for i, row in enumerate(rows):
            assert [paper_value(table, row, d) for d in ("imdb", "trec6", "ag")] == found[3 * i: 3 * i + 3]
