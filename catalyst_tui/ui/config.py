"""Dashboard settings: a small TOML file, found at ``$CATALYST_TUI_CONFIG`` or
``<user config dir>/catalyst-tui/config.toml``.

Example::

    [keymap]            # binding id = key (see the help screen, `?`, for every id)
    handover = "H"
    patch-status = "ctrl+s"

    [ui]
    ascii = false       # ASCII status symbols instead of Unicode ones
    cursor_blink = true
    animations = true
    poll_interval = 1.0 # seconds between store polls

A missing file is not an error; a broken one is reported in one line and the defaults are used, so
a typo never locks an operator out of the dashboard.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from . import keymap as km

CONFIG_ENV = "CATALYST_TUI_CONFIG"
APP_NAME = "catalyst-tui"


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME)) / "config.toml"


@dataclass
class UiConfig:
    keymap: dict[str, str] = field(default_factory=dict)
    ascii: bool = False
    poll_interval: float = 1.0
    #: Blinking cursors and animations (tests and screenshots turn both off).
    cursor_blink: bool = True
    animations: bool = True
    #: Problems found while reading the file (shown once as a notification).
    warnings: list[str] = field(default_factory=list)
    source: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "") -> "UiConfig":
        cfg = cls(source=source)
        keys = data.get("keymap", {})
        if not isinstance(keys, Mapping):
            cfg.warnings.append(f"{source}: [keymap] must be a table")
            keys = {}
        known = km.known_ids()
        for binding_id, key in keys.items():
            if binding_id not in known:
                cfg.warnings.append(f"{source}: unknown binding id {binding_id!r} in [keymap]")
                continue
            if not isinstance(key, str) or not key.strip():
                cfg.warnings.append(f"{source}: [keymap] {binding_id} must be a key string")
                continue
            cfg.keymap[binding_id] = key.strip()
        ui = data.get("ui", {})
        if isinstance(ui, Mapping):
            for flag in ("ascii", "cursor_blink", "animations"):
                if isinstance(ui.get(flag), bool):
                    setattr(cfg, flag, ui[flag])
            interval = ui.get("poll_interval")
            if isinstance(interval, (int, float)) and not isinstance(interval, bool):
                if 0.1 <= float(interval) <= 60:
                    cfg.poll_interval = float(interval)
                else:
                    cfg.warnings.append(f"{source}: [ui] poll_interval must be between 0.1 and 60 seconds")
        else:
            cfg.warnings.append(f"{source}: [ui] must be a table")
        return cfg


def load_config(path: Path | str | None = None, *, env: Mapping[str, str] | None = None) -> UiConfig:
    """Read the config file; never raises for a missing or broken file."""
    p = Path(path) if path is not None else default_config_path(env)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        return UiConfig(source=str(p))
    except OSError as exc:
        return UiConfig(source=str(p), warnings=[f"{p}: cannot read ({exc.strerror or exc}); using defaults"])
    import tomllib  # only when there is a file to read (start-up)

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return UiConfig(source=str(p), warnings=[f"{p}: not valid TOML ({exc}); using defaults"])
    return UiConfig.from_mapping(data, source=str(p))
