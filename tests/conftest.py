"""Shared fixtures: the real data folder (skipped when absent) and a local HTTP server."""
from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from typing import Callable, Iterator

import pytest
import torch

from ulmfit_core import settings


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run on one thread: on a busy 2-core machine OpenMP spin-waiting otherwise makes the
    training tests about 20 times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder (``ULMFIT_DATA``); tests that need it are skipped where it is absent."""
    root = settings.data_dir()
    if not root.is_dir():
        pytest.skip(f"data folder {root} not available")
    return root


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    """Return ``serve(folder, handler=None) -> base URL``: an HTTP server on 127.0.0.1 (port 0) in a
    thread, serving ``folder``; every server is shut down after the test."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(folder: Path, handler: type[http.server.BaseHTTPRequestHandler] | None = None) -> str:
        factory = handler or functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), factory)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
