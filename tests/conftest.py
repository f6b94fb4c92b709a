"""Fixtures the engine tests share: the shipped policy's engine in English and in Chinese,
built once per session (an Engine is immutable and safe to share)."""

from __future__ import annotations

import pytest
from shipped import POLICY

from cycleflow import Engine, load_policy


@pytest.fixture(scope="session")
def en() -> Engine:
    return Engine(load_policy(POLICY))


@pytest.fixture(scope="session")
def zh() -> Engine:
    return Engine(load_policy(POLICY), lang="zh")
