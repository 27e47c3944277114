"""How credits look in Discord: `/quota show`, the pool, and the ledger history."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import discord

from bot.core.ports.repositories import LedgerEntry, LedgerKind
from bot.core.quotas import Balance, HistoryPage, PoolBalance, mode_name
from bot.discord_adapter.text import MESSAGE_LIMIT, escape_clipped, join_within, one_line

# A ledger entry's detail can quote a failure reason (and so the provider): shown escaped, and short enough
# that a page of ten entries fits in one message.
DETAIL_SHOWN = 80


def _when(at: datetime) -> str:
    return f"{discord.utils.format_dt(at, 'R')} ({discord.utils.format_dt(at, 'f')})"


def costs_line(multipliers: Mapping[str, int]) -> str:
    parts = ", ".join(f"×{factor} {mode_name(mode)}" for mode, factor in multipliers.items())
    return f"A video costs its length in seconds {parts}."


def balance_text(balance: Balance, *, own: bool, multipliers: Mapping[str, int]) -> str:
    period = balance.period
    whose = "Your credits" if own else f"Credits of <@{balance.user_id}>"
    limit = f"**{balance.limit}** a {period.unit}" + (" (server default)" if balance.limit_is_default else "")
    if balance.granted:
        limit += f" + **{balance.granted}** granted {period.word}"
    lines = [
        f"**{whose}** {period.word}",
        f"Used **{balance.used}** · Remaining **{balance.remaining}** · Limit {limit}",
    ]
    if balance.limit == 0 and not balance.granted:
        lines.append("A limit of 0 means no videos on this server until a moderator changes it.")
    if balance.pool_remaining is not None:
        # The pool never shows more room than the operator's ceiling leaves the server.
        pool_room = min(r for r in (balance.pool_remaining, balance.guild_ceiling_remaining) if r is not None)
        lines.append(f"Shared pool: **{pool_room}** of {balance.pool_limit} credits left {period.word}")
    else:
        lines.append("Shared pool: none on this server")
    own_room = min(r for r in (balance.remaining, balance.pool_remaining) if r is not None)
    if balance.ceiling_remaining is not None and balance.ceiling_remaining < own_room:
        lines.append(f"Limits set by the bot's operator leave this server **{balance.ceiling_remaining}** more "
                     f"credits {period.word}, so that is the most you can use.")
    lines.append(f"Resets {_when(period.end)}")
    lines.append(costs_line(multipliers))
    return "\n".join(lines)


def ceiling_note(ceiling: int, unit: str, *, whatever: str) -> str:
    """Said when a moderator sets more than the operator's GUILD_CREDIT_CEILING allows (`whatever`: what
    they set, e.g. "the pool says")."""
    return (f"The bot's operator caps this server at {ceiling} credits a {unit}, so at most {ceiling} can be used "
            f"whatever {whatever}.")


def pool_text(pool: PoolBalance, *, changed: bool = False) -> str:
    period = pool.period
    if not pool.limit:
        head = "The shared pool is now off" if changed else "This server has no shared pool"
        if pool.ceiling:
            return (f"{head}: members are limited by their own credits ({pool.used} used {period.word} in all). "
                    f"The bot's operator caps this server at {pool.ceiling} credits a {period.unit} "
                    f"({pool.ceiling_remaining} left {period.word}).")
        return f"{head}: members are limited only by their own credits ({pool.used} used {period.word} in all)."
    head = "The shared pool is now" if changed else "The shared pool is"
    note = " (the bot's default)" if pool.is_default and not changed else ""
    cap = f" {ceiling_note(pool.ceiling, period.unit, whatever='the pool says')}" if pool.capped_by_ceiling else ""
    return (f"{head} **{pool.limit}** credits a {period.unit}{note}: **{pool.remaining}** left {period.word} "
            f"({pool.used} used). Resets {_when(period.end)}.{cap}")


def _entry_line(entry: LedgerEntry) -> str:
    when = discord.utils.format_dt(entry.at, "f")
    member = f"<@{entry.user_id}>" if entry.user_id else "the server"
    actor = f"<@{entry.actor_id}>" if entry.actor_id else "The bot"
    amount = entry.amount
    text = {
        LedgerKind.RESERVE: f"{member} was charged **{amount}** for job `{entry.job_id}`",
        LedgerKind.REFUND: f"{member} got **{amount}** back for job `{entry.job_id}`",
        LedgerKind.GRANT: f"{actor} granted {member} **{amount}** extra",
        LedgerKind.RESET: f"{actor} reset {member}'s usage (**{amount}** cleared)",
        LedgerKind.LIMIT: f"{actor} set {member}'s limit to **{amount}**",
        LedgerKind.POOL: f"{actor} turned the shared pool off" if not amount
        else f"{actor} set the shared pool to **{amount}**",
        LedgerKind.DEFAULT: f"{actor} set the default limit to **{amount}**",
    }[entry.kind]
    if entry.detail:
        text += f" ({escape_clipped(one_line(entry.detail), DETAIL_SHOWN)})"
    return f"{when} · {text}"


def history_text(page: HistoryPage) -> str:
    whose = f" of <@{page.user_id}>" if page.user_id else ""
    if not page.total:
        return f"No credit history{whose} yet."
    counted = (f"{page.total:,}+ entries: the newest {page.total:,} can be shown" if page.more
               else f"{page.total} entries")
    head = f"**Credit history{whose}**: page {page.page} of {page.pages} ({counted}, newest first)"
    lines = [head, *(_entry_line(entry) for entry in page.entries)]
    if page.page < page.pages:
        lines.append(f"Older entries: `/quota history page:{page.page + 1}`")
    return join_within(lines, MESSAGE_LIMIT)
