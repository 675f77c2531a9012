"""Where things live: the data folder, the cache of derived files and the committed results.

Each location is a setting (an environment variable) with a default that works in a checkout of this
repository that has the shared data folder beside it.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_ENV = "ULMFIT_DATA"
CACHE_ENV = "ULMFIT_CACHE"
RESULTS_ENV = "ULMFIT_RESULTS"
REVISION_ENV = "ULMFIT_REVISION"   # the commit a copy of the code was made from, recorded ahead of git's view


def data_dir() -> Path:
    """Return the data folder: ``$ULMFIT_DATA``, else ``../shared/data`` beside the repository.

    The folder is not required to exist here: its readers check it and raise an error naming this setting
    where it is missing.
    """
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return (REPO_ROOT.parent / "shared" / "data").resolve()


def cache_dir() -> Path:
    """Return the folder for derived files (token ids, checkpoints): ``$ULMFIT_CACHE`` or ``.cache/``."""
    env = os.environ.get(CACHE_ENV)
    path = Path(env).expanduser() if env else REPO_ROOT / ".cache"
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def results_dir() -> Path:
    """Return the folder of committed run records: ``$ULMFIT_RESULTS`` or ``results/``."""
    env = os.environ.get(RESULTS_ENV)
    path = Path(env).expanduser() if env else REPO_ROOT / "results"
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def configure(data: str | None = None, results: str | None = None, cache: str | None = None) -> None:
    """Point the data, results and cache settings at other folders (``None`` leaves one unchanged).

    One call moves a whole run (a notebook's parameter cell uses it, for example).
    """
    for env, value in ((DATA_ENV, data), (RESULTS_ENV, results), (CACHE_ENV, cache)):
        if value:
            os.environ[env] = str(Path(value).expanduser().resolve())
