"""Forms (modals) answered by their custom id alone, so a form opened before a restart still works after it.

discord.py hands a modal submission only to a `Modal` object it holds in memory (`ViewStore.dispatch_modal`
drops unknown custom ids), and that memory is gone after a restart. The bot's forms therefore carry what they
need in their custom id (`kb:remixed:<job id>`, `kb:animate:<channel>:<message>`), are never held by
discord.py (`send_form` stops the `Modal` before sending it, so discord.py does not store it), and every
submission is routed here from the client's `on_interaction`, in this process or the next one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import discord

from bot.discord_adapter.allowed_guilds import allowed_here
from bot.discord_adapter.errors import answer_error

log = logging.getLogger(__name__)

FormValues = dict[str, str | list[str]]  # a text input's text, a select's chosen values, by custom id
FormHandler = Callable[[discord.Interaction, re.Match[str], FormValues], Awaitable[None]]


async def send_form(interaction: discord.Interaction, modal: discord.ui.Modal) -> None:
    """Show `modal`; its submission comes to the route matching its custom id, never to `modal` itself."""
    modal.stop()  # a finished modal is not stored by discord.py (InteractionResponse.send_modal)
    await interaction.response.send_modal(modal)


def form_values(components: Iterable[Any]) -> FormValues:
    """The values of a modal submission's `data.components` (action rows or labels around the inputs)."""
    values: FormValues = {}
    for component in components:
        if not isinstance(component, dict):
            continue
        inner = list(component.get("components") or [])
        if isinstance(component.get("component"), dict):
            inner.append(component["component"])
        values.update(form_values(inner))
        custom_id = component.get("custom_id")
        if not isinstance(custom_id, str):
            continue
        if "values" in component:
            values[custom_id] = [str(v) for v in component.get("values") or []]
        elif "value" in component:
            values[custom_id] = str(component.get("value") or "")
    return values


class ModalRoutes:
    """Custom-id patterns (matched whole) and the handler for each."""

    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], FormHandler]] = []

    def add(self, pattern: str, handler: FormHandler) -> None:
        self._routes.append((re.compile(pattern), handler))

    def remove(self, pattern: str) -> None:
        self._routes = [(p, h) for p, h in self._routes if p.pattern != pattern]

    async def dispatch(self, interaction: discord.Interaction) -> bool:
        """Handle a modal submission whose custom id has a route; False when none matches (not ours)."""
        data: Any = interaction.data
        if interaction.type is not discord.InteractionType.modal_submit or not isinstance(data, dict):
            return False
        custom_id = str(data.get("custom_id", ""))
        for pattern, handler in self._routes:
            match = pattern.fullmatch(custom_id)
            if match is None:
                continue
            try:
                if await allowed_here(interaction):
                    await handler(interaction, match, form_values(data.get("components") or []))
            except Exception as error:
                await answer_error(interaction, error)
            return True
        return False
