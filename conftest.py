"""Fixtures shared by every test directory (see tests/retour_test_infra.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from retour_test_infra import Infra, provide_infra


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    yield from provide_infra()
