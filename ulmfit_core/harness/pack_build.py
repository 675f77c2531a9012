"""Building a pack (:mod:`ulmfit_core.harness.pack`): tokenise what one scale reads, from the data folder.

    python -m ulmfit_core.harness.pack_build --scale gpu --out gpu_pack     # make pack

The pack holds each dataset's parts as the scale selects them (the selections of
:mod:`ulmfit_core.harness.experiments`), the Wikipedia selection the scale pretrains on and the WikiText-103
test articles, with a manifest of SHA-256 sums.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ulmfit_core.fileio import save_arrays, write_json
from ulmfit_core.tokenize import RULES_VERSION, tokenize_cached
from ulmfit_core.harness import experiments
from ulmfit_core.harness.download import file_sha256
from ulmfit_core.harness.pack import PACK_ENV, WIKI, WIKITEXT, manifest, pack_dir
from ulmfit_core.harness.scales import get_scale


def build_pack(scale_name: str, out: str | os.PathLike, datasets: Sequence[str] | None = None,
               progress: bool = True, n_workers: int | None = None) -> dict:
    """Tokenise what ``scale_name`` reads (from the data folder) into a pack at ``out``; return the
    manifest. Token caches are shared with the runner, so building after running costs little."""
    if pack_dir() is not None:
        raise RuntimeError(f"unset ${PACK_ENV} to build a pack: it is built from the data folder")
    scale, out = get_scale(scale_name), Path(out)
    files: dict[str, str] = {}

    def put(name: str, cache_name: str, texts: Sequence[str], labels: Sequence[int]) -> int:
        corpus = tokenize_cached(texts, cache_name, n_workers=n_workers, progress=progress)
        path = out / f"{name}.npz"
        save_arrays(path, compressed=True, labels=np.asarray(labels, dtype=np.int64), **corpus.to_arrays())
        files[path.name] = file_sha256(path)
        return len(corpus)

    entries = {}
    for ds in datasets or list(scale.tasks):
        data = experiments.task_data(ds, scale_name)
        sizes = {part: put(f"{ds}-{part}", f"{ds}-{scale_name}-{cache}", [r.text for r in records],
                           [r.label for r in records])
                 for part, cache, records in (("train", "clf", data.train), ("valid", "valid", data.valid),
                                              ("test", "test", data.test))}
        sizes["extra"] = put(f"{ds}-extra", f"{ds}-{scale_name}-extra", data.extra_text,
                             [-1] * len(data.extra_text))
        entries[ds] = {"selection": experiments.data_selection(scale.task(ds)), "n_classes": data.n_classes,
                       "documents": sizes}
    wiki = experiments.wiki_texts(scale.wiki_shards, scale.wiki_words)
    put(WIKI, f"wiki-{scale_name}", wiki, [-1] * len(wiki))
    paragraphs = experiments.wikitext_paragraphs()
    put(WIKITEXT, WIKITEXT, paragraphs, [-1] * len(paragraphs))
    data = {"scale": scale_name, "rules_version": RULES_VERSION,
            "spacy_version": importlib.metadata.version("spacy"), "datasets": entries,
            "wikipedia": {"shards": list(scale.wiki_shards), "words": scale.wiki_words},
            "files": files, "bytes": sum((out / f).stat().st_size for f in files)}
    write_json(out / "manifest.json", data)
    manifest.cache_clear()
    return data


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="gpu")
    parser.add_argument("--out", default="gpu_pack", help="pack folder (default: gpu_pack, git-ignored)")
    parser.add_argument("--datasets", nargs="*", help="datasets (default: every dataset of the scale)")
    parser.add_argument("--workers", type=int, help="tokeniser processes (default: one per CPU core)")
    args = parser.parse_args(argv)
    data = build_pack(args.scale, args.out, args.datasets, n_workers=args.workers)
    print(f"{args.out}: {len(data['files'])} files, {data['bytes'] / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
