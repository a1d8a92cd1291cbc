from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def no_acc_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests see acc's defaults, not the ACC_* variables CI sets for real services."""
    for name in list(os.environ):
        if name.startswith("ACC_"):
            monkeypatch.delenv(name)
