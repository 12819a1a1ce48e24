"""Fixtures the unit tests share (the test-session settings are in the repository's conftest.py)."""

import shutil

import pytest
from toys import toy_data

import nin_book.train as train_module


@pytest.fixture
def toy_cli(monkeypatch):
    """The training CLI loads toy data (fast); returns a list that counts the loads."""
    loads = []

    def load():
        loads.append(1)
        return toy_data()

    monkeypatch.setattr(train_module, "load_fashion_mnist", load)
    return loads


@pytest.fixture(scope="session")
def node() -> str:
    """Node.js, which runs the explorers' JavaScript in the parity tests."""
    path = shutil.which("node")
    if path is None:
        pytest.skip("node is not installed (Debian: apt-get install nodejs); the parity test runs the .mjs files with it")
    return path
