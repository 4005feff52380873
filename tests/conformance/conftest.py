"""Fixtures: every test gets its own virtual phone on a fresh data dir (pytest's tmp_path),
stopped in teardown. `phone` uses the default flags; `make_phone(*flags)` starts more."""

from __future__ import annotations

import pytest

from phonelib import Phone, phone_binary


def pytest_sessionstart(session):
    try:
        phone_binary()
    except FileNotFoundError as e:
        raise pytest.UsageError(str(e))


@pytest.fixture
def make_phone(tmp_path):
    started: list[Phone] = []

    def factory(*flags: str, data_dir=None) -> Phone:
        d = data_dir if data_dir is not None else tmp_path / f"phone{len(started)}"
        p = Phone(d, flags).start()
        started.append(p)
        return p

    yield factory
    for p in started:
        p.stop()


@pytest.fixture
def phone(make_phone) -> Phone:
    return make_phone()


@pytest.fixture
def ctap(phone):
    return phone.ctap2()
