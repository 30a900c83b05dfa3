"""The entry points: ``python -m catalyst_tui`` and the ``catalyst-tui`` console script
(``run``, named in pyproject.toml)."""

from catalyst_tui import startup_gc


def run() -> int:
    startup_gc.pause()  # before the imports (see startup_gc); commands other than the dashboard end it
    from catalyst_tui.cli.main import main

    return main()


if __name__ == "__main__":
    raise SystemExit(run())
