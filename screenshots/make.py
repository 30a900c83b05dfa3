"""Current images of the dashboard's main screens, taken from the real demo.

    .venv/bin/python screenshots/make.py            # writes screenshots/*.svg and *.png

It runs what ``catalyst-tui demo`` runs (the demo fleet in a fresh SQLite store, the Kubernetes
API simulator, the supervisor resuming the watchers) in a temporary directory, drives the app
headless with Textual's Pilot, and saves an SVG per screen. PNGs are rendered with cairosvg when
it is installed, with the SVG's web font swapped for DejaVu Sans Mono so box-drawing and block
characters keep their cell width. Times and progress differ from run to run: it is a live fleet.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Awaitable, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from catalyst_tui.demo import demo_id, prepare_demo  # noqa: E402
from catalyst_tui.kube.simulator import ThreadedSimulator  # noqa: E402
from catalyst_tui.store.urls import open_store  # noqa: E402
from catalyst_tui.ui.app import CatalystApp, default_signer_factory, default_supervisor  # noqa: E402
from catalyst_tui.ui.config import UiConfig  # noqa: E402

SPEED = 3.0
Step = Callable[[object], Awaitable[None]]


async def wait_for(pilot, predicate: Callable[[], bool], timeout: float = 20.0) -> None:  # noqa: ANN001
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise RuntimeError("screen did not reach the expected state")
        await pilot.pause(0.1)


def select(rid: str) -> Step:
    async def step(pilot) -> None:  # noqa: ANN001
        from catalyst_tui.ui.widgets.fleet_table import FleetTable

        table = pilot.app.screen.query_one(FleetTable)
        table.move_cursor(row=table.get_row_index(rid), animate=False)
        await pilot.pause()

    return step


def keys(*names: str, settle: float = 0.6) -> Step:
    async def step(pilot) -> None:  # noqa: ANN001
        await pilot.press(*names)
        await pilot.pause(settle)

    return step


def pause(seconds: float) -> Step:
    async def step(pilot) -> None:  # noqa: ANN001
        await pilot.pause(seconds)

    return step


#: name -> (terminal size, steps from the fleet screen)
SHOTS: dict[str, tuple[tuple[int, int], list[Step]]] = {
    "fleet": ((130, 30), []),
    "fleet-80x24": ((80, 24), []),
    "filter": ((130, 30), [keys("slash", *"watching")]),
    "detail-watching": ((130, 42), [select(demo_id("acme")), keys("enter", settle=1.0)]),
    "detail-failed": ((130, 42), [select(demo_id("kestrel")), keys("enter", settle=1.0)]),
    "detail-stale": ((130, 42), [select(demo_id("dune")), keys("enter", settle=1.0)]),
    "patch-status": ((130, 32), [select(demo_id("kestrel")), keys("p", settle=1.0), keys(*"verified by hand", settle=0.5)]),
    "handover": ((130, 32), [select(demo_id("evergreen")), keys("h", settle=1.0)]),
    "help": ((130, 42), [keys("question_mark")]),
    "audit": ((130, 30), [keys("a", settle=1.0)]),
}


async def shoot(name: str, size: tuple[int, int], steps: list[Step], sim: ThreadedSimulator, root: Path, out: Path) -> Path:
    env = await prepare_demo(root, sim, speed=SPEED)
    store = open_store(env.store_url)
    signer = default_signer_factory(str(env.handover_key))
    sup = default_supervisor(store, None, kubeconfigs_dir=str(env.kubeconfigs_dir), operator="alice",
                             read_only=False, signer=signer)
    app = CatalystApp(store, supervisor=sup, operator="alice", signer=signer, kubeconfigs_dir=str(env.kubeconfigs_dir),
                      config=UiConfig(cursor_blink=False, animations=False), store_label="demo · sqlite:///…/catalyst.db")
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app.fleet.loaded and app._supervisor_started)
        await pilot.pause(4.0)  # let the live installs move
        for step in steps:
            await step(pilot)
        svg = app.export_screenshot(title=f"catalyst-tui — {name}")
    path = out / f"{name}.svg"
    path.write_text(svg)
    return path


def to_png(svg: Path) -> Path | None:
    try:
        import cairosvg
    except ImportError:
        return None
    png = svg.with_suffix(".png")
    text = svg.read_text().replace("Fira Code", "DejaVu Sans Mono")
    cairosvg.svg2png(bytestring=text.encode(), write_to=str(png))
    return png


def main(argv: list[str]) -> int:
    wanted = argv or list(SHOTS)
    out = HERE
    for name in wanted:
        size, steps = SHOTS[name]
        # A fresh demo (its own directory and simulated clusters) per screen.
        with tempfile.TemporaryDirectory(prefix="catalyst-shots-") as root, ThreadedSimulator(speed=SPEED) as sim:
            svg = asyncio.run(shoot(name, size, steps, sim, Path(root), out))
        png = to_png(svg)
        print(f"{svg.relative_to(HERE.parent)}" + (f"  {png.relative_to(HERE.parent)}" if png else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
