"""The numbers ULMFiT reports (Howard & Ruder, ACL 2018, arXiv 1801.06146 v5), from one data file.

``paper_numbers.json`` beside this module holds Tables 1-7, the bidirectional ensemble (5.30 -> 4.58),
Dai & Le's 7.64, the low-shot claims of Figure 3 and the hyperparameters, each entry with its provenance
(``table``, ``metric``, ``note``). Result tables map ``row -> dataset -> value`` under ``values``; dataset
keys are ``imdb``, ``trec6``, ``ag``, ``dbpedia``, ``yelp_bi``, ``yelp_full``.
"""
from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

from ulmfit_core.fileio import read_json

NUMBERS_FILE = Path(__file__).with_name("paper_numbers.json")
PAPER_KEY = {"imdb": "imdb", "trec6": "trec6", "ag_news_7k6": "ag", "dbpedia_14k": "dbpedia",
             "yelp_bi": "yelp_bi", "yelp_full": "yelp_full",
             "ag_news_120k": "ag", "dbpedia_560k": "dbpedia", "yelp_bi_560k": "yelp_bi",
             "yelp_full_650k": "yelp_full"}       # our dataset name -> the paper's column
LABEL = {"imdb": "IMDb", "trec6": "TREC-6", "ag_news_7k6": "AG (7.6k)", "dbpedia_14k": "DBpedia (14k)",
         "yelp_bi": "Yelp-bi (sample)", "yelp_full": "Yelp-full (sample)",
         "ag_news_120k": "AG (120k)", "dbpedia_560k": "DBpedia (560k)", "yelp_bi_560k": "Yelp-bi (560k)",
         "yelp_full_650k": "Yelp-full (650k)"}   # how tables name our datasets


def _check_values(path: Path, key: str, values: Any) -> None:
    """Raise ``ValueError`` naming ``path`` and ``key`` unless ``values`` is row -> dataset -> number."""
    if not isinstance(values, dict) or not values:
        raise ValueError(f"{path}: {key}.values must be a non-empty object of rows")
    for row, cells in values.items():
        if not isinstance(cells, dict) or not cells:
            raise ValueError(f"{path}: {key}.values[{row!r}] must be a non-empty object of datasets")
        for dataset, value in cells.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{path}: {key}.values[{row!r}][{dataset!r}] is not a number: {value!r}")


@functools.lru_cache(maxsize=None)
def _load(path: Path) -> dict[str, Any]:
    """Read and check the numbers file once per process."""
    numbers = read_json(path)
    if not isinstance(numbers, dict) or "arxiv" not in numbers.get("source", {}):
        raise ValueError(f"{path}: missing the 'source' entry with the arXiv id")
    for key, entry in numbers.items():
        if key == "source":
            continue
        for field in ("table", "metric", "note"):
            if field not in entry:
                raise ValueError(f"{path}: entry {key!r} lacks its provenance field {field!r}")
        if "values" in entry:
            _check_values(path, key, entry["values"])
    return numbers


def paper_numbers() -> dict[str, Any]:
    """Return (a copy of) every number the paper reports, keyed by table, with provenance."""
    return copy.deepcopy(_load(NUMBERS_FILE))


def _pick(mapping: dict[str, Any], key: str, what: str) -> Any:
    """Return ``mapping[key]`` or raise ``KeyError`` listing the valid keys."""
    if key not in mapping:
        raise KeyError(f"unknown {what} {key!r}; valid: {sorted(mapping)}")
    return mapping[key]


def paper_value(table: str, row: str, dataset: str) -> float:
    """Return the paper's value (an error in % for Tables 2-7) at ``table``/``row``/``dataset``.

    Example: ``paper_value("table7", "freez + discr + stlr", "imdb") == 5.00``. An unknown key raises
    ``KeyError`` listing the valid keys at that level.
    """
    numbers = _load(NUMBERS_FILE)
    tables = {k: v for k, v in numbers.items() if isinstance(v, dict) and "values" in v}
    rows = _pick(tables, table, "table")["values"]
    cells = _pick(rows, row, f"row of {table}")
    return float(_pick(cells, dataset, f"dataset of {table}/{row}"))


def paper_diff(table: str, row_a: str, row_b: str, dataset: str) -> float:
    """Return ``value(row_b) - value(row_a)`` in percentage points, rounded to 1e-6.

    The sign convention matches :func:`ulmfit_core.harness.verdicts.paired_effect` (arm b minus arm a):
    ``paper_diff("table4", "without", "with", "trec6") == -4.98`` (pretraining lowers the error).
    """
    return round(paper_value(table, row_b, dataset) - paper_value(table, row_a, dataset), 6)


def main_table(dataset: str) -> str:
    """The table holding ``dataset``'s main result: Table 2 (IMDb, TREC-6) or Table 3 (the rest)."""
    return "table2" if PAPER_KEY[dataset] in ("imdb", "trec6") else "table3"
