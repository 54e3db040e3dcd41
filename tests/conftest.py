"""Shared fixtures. Tests never reach the network or a model hub."""

from __future__ import annotations

from pathlib import Path

import pytest

from scrutiny.memory import Store

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The public test material laid beside the checkout (`../shared/data`)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store.memory(tmp_path)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _scrutiny_home(tmp_path, monkeypatch):
    """Every test gets its own SCRUTINY_HOME: nothing is written to the user's real store."""
    monkeypatch.setenv("SCRUTINY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SCRUTINY_DB_URL", raising=False)
