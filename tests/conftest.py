"""Suite-wide options. Long soak variants (issue 6) run on demand: ``./dev test --soak``."""

from __future__ import annotations

import os


def pytest_addoption(parser):
    parser.addoption("--soak", action="store_true", default=False,
                     help="run the long soak variants (issue 6); CATALYST_TUI_SOAK=1 does the same")


def pytest_configure(config):
    if config.getoption("--soak", default=False):
        os.environ["CATALYST_TUI_SOAK"] = "1"
