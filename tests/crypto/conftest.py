"""Shared fixtures for the crypto tests: keys are slow (RSA-4096), so one pool per session hands them out."""

from __future__ import annotations

import pytest
from crypto_helpers import KeyPool


@pytest.fixture(scope="session")
def key_pool() -> KeyPool:
    return KeyPool()
