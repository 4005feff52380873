"""Fixtures for the end-to-end scenarios: a workspace server and virtual phones, each a real
process on loopback, stopped in teardown."""

from __future__ import annotations

import pytest

from linklib import Relay
from process_fixtures import make_server, procs, server  # noqa: F401 (fixtures)
from wslib import Phone


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
def relay(procs, tmp_path):
    """The reference relay, with its adversarial test mode available."""
    return procs(Relay(tmp_path, "--test-faults"))
