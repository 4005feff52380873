"""Fixtures for the end-to-end scenarios: a workspace server and virtual phones, each a real
process on loopback, stopped in teardown."""

from __future__ import annotations

import pytest

from linklib import Relay
from wslib import Phone, WorkspaceServer


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
def make_phone(tmp_path):
    started: list[Phone] = []

    def factory(data_dir, *flags: str) -> Phone:
        p = Phone(data_dir, flags).start()
        started.append(p)
        return p

    yield factory
    for p in started:
        p.stop()


@pytest.fixture
def procs():
    """Keeps each started link process (relay, pairing tool, phone) and stops it in teardown."""
    started = []

    def keep(p):
        started.append(p)
        return p

    yield keep
    for p in reversed(started):
        p.stop()


@pytest.fixture
def relay(procs, tmp_path):
    """The reference relay, with its adversarial test mode available."""
    return procs(Relay(tmp_path, "--test-faults"))
