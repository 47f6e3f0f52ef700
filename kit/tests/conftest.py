"""Fixtures for the kit tests that need a real PostgreSQL."""

import pytest

from retour_test_infra import Infra


@pytest.fixture(scope="session")
def admin_dsn(infra: Infra) -> str:
    """A superuser DSN of the test PostgreSQL (see tests/retour_test_infra.py)."""
    return infra.admin_dsn
