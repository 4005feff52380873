"""Fixtures for the binding scenarios: the one asyncio loop of the session, phones (the
library in-process) closed in teardown, and the real helper processes (workspace server,
relay, pairing tools), each stopped in teardown by its own pid."""

from __future__ import annotations

import gc

import pytest

import bindkit
from linklib import Relay
from process_fixtures import make_server, procs, server  # noqa: F401 (fixtures)


@pytest.fixture(scope="session")
def loop():
    lp = bindkit.Loop()
    yield lp
    gc.collect()
    lp.close()


@pytest.fixture
def make_phone(loop, tmp_path):
    opened: list[bindkit.Phone] = []

    def factory(name: str = "phone", **kw) -> bindkit.Phone:
        phone = bindkit.Phone(loop, kw.pop("data_dir", tmp_path / name), **kw)
        opened.append(phone)
        return phone

    yield factory
    for p in reversed(opened):
        if p.auth is not None:
            p.close()
    opened.clear()
    gc.collect()


@pytest.fixture
def phone(make_phone) -> bindkit.Phone:
    return make_phone()


@pytest.fixture
def relay(procs, tmp_path):
    return procs(Relay(tmp_path))
