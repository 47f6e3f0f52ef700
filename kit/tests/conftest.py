"""Fixtures for the kit tests that need a real PostgreSQL."""

import logging
from collections.abc import Iterator

import pytest
import structlog

from retour_test_infra import Infra


@pytest.fixture(scope="session")
def admin_dsn(infra: Infra) -> str:
    """A superuser DSN of the test PostgreSQL (see tests/retour_test_infra.py)."""
    return infra.admin_dsn


@pytest.fixture
def isolated_logging() -> Iterator[None]:
    """Undoes configure_logging after the test, so later tests start unconfigured."""
    yield
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == "retour-json"]:
        root.removeHandler(handler)
