"""Fixtures shared by the e2e and bindings suites: real helper processes on loopback (the
workspace server, and any process handed to `procs`), each stopped in teardown. A conftest
imports them by name to use them."""

from __future__ import annotations

import pytest

from wslib import WorkspaceServer


@pytest.fixture
def make_server(tmp_path):
    started: list[WorkspaceServer] = []

    def factory(*flags: str) -> WorkspaceServer:
        d = tmp_path / f"server{len(started)}"
        d.mkdir()
        s = WorkspaceServer(d, *flags)
        started.append(s)
        return s

    yield factory
    for s in started:
        s.stop()


@pytest.fixture
def server(make_server) -> WorkspaceServer:
    return make_server()


@pytest.fixture
def procs():
    """Keeps each started process (relay, pairing tool, phone) and stops it in teardown."""
    started = []

    def keep(p):
        started.append(p)
        return p

    yield keep
    for p in reversed(started):
        p.stop()
