"""The book's build script as a module, for the tests (the book folder is not a package)."""
from __future__ import annotations

import importlib.util
from types import ModuleType

from ulmfit_core.settings import REPO_ROOT

BOOK_DIR = REPO_ROOT / "book"


def load_prepare_book() -> ModuleType:
    """Import ``book/prepare_book.py``; return the module."""
    spec = importlib.util.spec_from_file_location("prepare_book", BOOK_DIR / "prepare_book.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
