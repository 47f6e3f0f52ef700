"""Fixtures shared by every test directory (see tests/retour_test_infra.py)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
import structlog

from retour_kit.logging import RECORD_PRINTING_LOGGERS
from retour_test_infra import Infra, provide_infra

# A consumer waits CONSUMER_FAILURE_VERDICT_WAIT_SECONDS (30 s by default) before judging a
# failing record that has nothing after it poison. The services the tests build wait 1 s, or
# every test that dead-letters one bad event would wait half a minute; the deferral's own
# tests set their wait explicitly. An explicit environment wins.
os.environ.setdefault("CONSUMER_FAILURE_VERDICT_WAIT_SECONDS", "1")


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    yield from provide_infra()


@pytest.fixture
def isolated_logging() -> Iterator[None]:
    """Undoes configure_logging (a test's or a service's it builds) after the test, so later
    tests start unconfigured."""
    root = logging.getLogger()
    level = root.level
    yield
    structlog.reset_defaults()
    for handler in [h for h in root.handlers if h.get_name() == "retour-json"]:
        root.removeHandler(handler)
    root.setLevel(level)
    for name in RECORD_PRINTING_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
