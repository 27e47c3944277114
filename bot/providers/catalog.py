"""Every provider the bot can use: one entry each. Adding a provider is a module in `bot/providers/` that
declares a `DESCRIPTOR` (bot/providers/descriptor.py), plus its entry here."""

from __future__ import annotations

from bot.providers import cometapi, kling, runbase, runblob, sandbox, segmind
from bot.providers.descriptor import ProviderDescriptor

DEFAULT_PROVIDER = "sandbox"

CATALOG: dict[str, ProviderDescriptor] = {
    descriptor.name: descriptor
    for descriptor in (
        sandbox.DESCRIPTOR,
        runblob.DESCRIPTOR,
        segmind.DESCRIPTOR,
        cometapi.DESCRIPTOR,
        runbase.DESCRIPTOR,
        kling.DESCRIPTOR,
    )
}
