"""The command palette (ctrl+p): every action of the current screen by name, with its key."""

from __future__ import annotations

from functools import partial
from typing import Iterator

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

from . import keymap

#: Actions that make no sense from the palette.
_SKIP = {"command-palette"}


def commands_for(scope: str | None, keys: dict[str, str]) -> Iterator[tuple[keymap.ActionSpec, str]]:
    seen: set[str] = set()
    for spec in keymap.ACTIONS:
        if spec.id in _SKIP or spec.scope not in ("app", scope):
            continue
        if (spec.scope, spec.id) in seen:
            continue
        seen.add((spec.scope, spec.id))  # type: ignore[arg-type]
        yield spec, keymap.display_key(keymap.effective_key(spec, keys))


class ActionsProvider(Provider):
    """Commands for the screen the palette was opened on (plus the app-wide ones)."""

    def _entries(self) -> list[tuple[str, str, object]]:
        screen: Screen = self.screen
        scope = getattr(screen, "SCOPE", None)
        keys = dict(getattr(self.app, "config").keymap) if hasattr(self.app, "config") else {}
        out = []
        for spec, key in commands_for(scope, keys):
            title = spec.description if spec.scope == "app" else f"{spec.description} ({keymap.SCOPE_TITLES[spec.scope].lower()})"
            help_text = f"{spec.help}  Key: {key}"
            out.append((title, help_text, partial(self._run, screen, spec.action)))
        return out

    @staticmethod
    async def _run(screen: Screen, action: str) -> None:
        await screen.run_action(action)

    async def discover(self) -> Hits:
        for title, help_text, callback in self._entries():
            yield DiscoveryHit(title, callback, text=title, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._entries():
            score = matcher.match(title) or matcher.match(help_text) * 0.5
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, text=title, help=help_text)  # type: ignore[arg-type]
