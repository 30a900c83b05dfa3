"""Fixtures for the bad-input corpus (issue 6, item 5): the reliability suite's isolated
environment and in-process command line."""

from __future__ import annotations

from ..reliability.conftest import cli, isolated_env, kdir  # noqa: F401 - fixtures
