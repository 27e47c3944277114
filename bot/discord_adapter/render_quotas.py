"""How credits look in Discord: `/quota show`, the pool, and the ledger history."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import discord

from bot.core.ports.repositories import LedgerEntry, LedgerKind, SpendTotals
from bot.core.quotas import Balance, HistoryPage, Period, PoolBalance, mode_name
from bot.core.spend import SpendReport, format_money, when_text
from bot.discord_adapter.text import MESSAGE_LIMIT, escape_clipped, join_within, one_line
from bot.i18n import EN, Lang

# A ledger entry's detail can quote a failure reason (and so the provider): shown escaped, and short enough
# that a page of ten entries fits in one message.
DETAIL_SHOWN = 80


def _when(at: datetime) -> str:
    return f"{discord.utils.format_dt(at, 'R')} ({discord.utils.format_dt(at, 'f')})"


def _words(period: Period, lang: Lang) -> tuple[str, str]:
    """The period in `lang`: ("today", "day"), ("this week", "week")..."""
    return lang.render(period.word_message), lang.render(period.unit_message)


def costs_line(multipliers: Mapping[str, int], audio_multiplier: float | None = None, lang: Lang = EN) -> str:
    """The price of a video; with sound too where the provider makes it (`audio_multiplier`; None: no sound)."""
    parts = lang.t("common.list_separator").join(f"×{factor} {mode_name(mode)}" for mode, factor in multipliers.items())
    if audio_multiplier is None:
        return lang.t("quota.costs", parts=parts)
    return lang.t("quota.costs_with_sound", parts=parts, multiplier=f"{audio_multiplier:g}")


def balance_text(balance: Balance, *, own: bool, multipliers: Mapping[str, int],
                 audio_multiplier: float | None = None, lang: Lang = EN) -> str:
    word, unit = _words(balance.period, lang)
    whose = lang.t("quota.show.yours") if own else lang.t("quota.show.theirs", member=f"<@{balance.user_id}>")
    limit = (lang.t("quota.show.limit_default", limit=balance.limit, unit=unit) if balance.limit_is_default
             else lang.t("quota.show.limit", limit=balance.limit, unit=unit))
    if balance.granted:
        limit = lang.t("quota.show.limit_granted", limit=limit, granted=balance.granted, period=word)
    lines = [
        lang.t("quota.show.head", whose=whose, period=word),
        lang.t("quota.show.usage", used=balance.used, remaining=balance.remaining, limit=limit),
    ]
    if balance.limit == 0 and not balance.granted:
        lines.append(lang.t("quota.show.zero_limit"))
    if balance.pool_remaining is not None:
        # The pool never shows more room than the operator's ceiling leaves the server.
        pool_room = min(r for r in (balance.pool_remaining, balance.guild_ceiling_remaining) if r is not None)
        lines.append(lang.t("quota.show.pool", remaining=pool_room, limit=balance.pool_limit, period=word))
    else:
        lines.append(lang.t("quota.show.no_pool"))
    own_room = min(r for r in (balance.remaining, balance.pool_remaining) if r is not None)
    if balance.ceiling_remaining is not None and balance.ceiling_remaining < own_room:
        lines.append(lang.t("quota.show.ceiling", remaining=balance.ceiling_remaining, period=word))
    lines.append(lang.t("quota.show.resets", when=_when(balance.period.end)))
    lines.append(costs_line(multipliers, audio_multiplier, lang))
    return "\n".join(lines)


def ceiling_note(ceiling: int, unit: str, *, key: str, lang: Lang = EN) -> str:
    """Said when a moderator sets more than the operator's GUILD_CREDIT_CEILING allows. `key`: one of the
    quota.ceiling.* texts, saying what they set ("quota.ceiling.pool": "...whatever the pool says")."""
    return lang.t(key, ceiling=ceiling, unit=unit)


def pool_text(pool: PoolBalance, *, changed: bool = False, lang: Lang = EN) -> str:
    word, unit = _words(pool.period, lang)
    if not pool.limit:
        head = lang.t("quota.pool.off_now") if changed else lang.t("quota.pool.none")
        if pool.ceiling:
            return lang.t("quota.pool.off_capped", head=head, used=pool.used, period=word, ceiling=pool.ceiling,
                          unit=unit, left=pool.ceiling_remaining)
        return lang.t("quota.pool.off", head=head, used=pool.used, period=word)
    numbers = {"limit": pool.limit, "unit": unit, "remaining": pool.remaining, "period": word, "used": pool.used,
               "when": _when(pool.period.end)}
    if changed:
        text = lang.t("quota.pool.now", **numbers)
    elif pool.is_default:
        text = lang.t("quota.pool.is_default", **numbers)
    else:
        text = lang.t("quota.pool.is", **numbers)
    if pool.capped_by_ceiling:
        text = lang.t("common.two_sentences", first=text, second=ceiling_note(
            pool.ceiling, unit, key="quota.ceiling.pool", lang=lang))
    return text


def _entry_line(entry: LedgerEntry, lang: Lang) -> str:
    when = discord.utils.format_dt(entry.at, "f")
    member = f"<@{entry.user_id}>" if entry.user_id else lang.t("quota.history.the_server")
    actor = f"<@{entry.actor_id}>" if entry.actor_id else lang.t("quota.history.the_bot")
    names = {"member": member, "actor": actor, "amount": entry.amount}
    if entry.kind is LedgerKind.RESERVE:
        text = lang.t("quota.history.reserve", job_id=entry.job_id, **names)
    elif entry.kind is LedgerKind.REFUND:
        text = lang.t("quota.history.refund", job_id=entry.job_id, **names)
    elif entry.kind is LedgerKind.GRANT:
        text = lang.t("quota.history.grant", **names)
    elif entry.kind is LedgerKind.RESET:
        text = lang.t("quota.history.reset", **names)
    elif entry.kind is LedgerKind.LIMIT:
        text = lang.t("quota.history.limit", **names)
    elif entry.kind is LedgerKind.POOL:
        text = lang.t("quota.history.pool", **names) if entry.amount else lang.t("quota.history.pool_off", **names)
    else:
        text = lang.t("quota.history.default", **names)
    if entry.detail:
        text = lang.t("quota.history.with_detail", entry=text,
                      detail=escape_clipped(one_line(entry.detail), DETAIL_SHOWN))
    return f"{when} · {text}"


def history_text(page: HistoryPage, lang: Lang = EN) -> str:
    member = f"<@{page.user_id}>" if page.user_id else None
    if not page.total:
        return lang.t("quota.history.none_of", member=member) if member else lang.t("quota.history.none")
    counted = (lang.t("quota.history.count_capped", total=page.total) if page.more
               else lang.t("quota.history.count", total=page.total))
    numbers = {"page": page.page, "pages": page.pages, "counted": counted}
    head = (lang.t("quota.history.head_of", member=member, **numbers) if member
            else lang.t("quota.history.head", **numbers))
    lines = [head, *(_entry_line(entry, lang) for entry in page.entries)]
    if page.page < page.pages:
        lines.append(lang.t("quota.history.older", next=page.page + 1))
    return join_within(lines, MESSAGE_LIMIT)


# -- /quota spend ---------------------------------------------------------------------------------------
SPEND_PERIOD_WORDS = {"day": "period.today", "week": "period.this_week", "month": "period.this_month"}


def _videos(count: int, lang: Lang) -> str:
    return lang.t("quota.spend.video_one", count=count) if count == 1 else lang.t("quota.spend.videos", count=count)


def _units(amount: Decimal, lang: Lang) -> str:
    """Provider units in words ("2.5 units"); the number as bot/core/spend.py `format_units` writes it, which
    gives English words for the admin CLI."""
    number = f"{amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f}".rstrip("0").rstrip(".")
    return lang.t("quota.spend.unit_one", amount=number) if amount == 1 else lang.t("quota.spend.units",
                                                                                    amount=number)


def _spent(totals: SpendTotals, currency: str, lang: Lang) -> str:
    return lang.t("quota.spend.spent", money=format_money(totals.amount, currency), videos=_videos(totals.jobs, lang))


def spend_text(report: SpendReport, lang: Lang = EN) -> str:
    """`/quota spend`: what the account spent in the period (reported by the provider where it said, else
    estimated from PROVIDER_PRICES), this server's members first, then the daily limit and the balance."""
    currency, server = report.currency, report.server
    period = report.period
    lines = [lang.t("quota.spend.head", period=lang.t(SPEND_PERIOD_WORDS[period.kind.value]),
                    since=f"{period.start:%Y-%m-%d}", spent=_spent(server, currency, lang))]
    if server.jobs:
        estimated = server.amount - server.reported
        lines.append(lang.t("quota.spend.reported", reported=format_money(server.reported, currency),
                            estimated=format_money(estimated, currency)))
    for rank, member in enumerate(report.members, start=1):
        lines.append(lang.t("quota.spend.member", rank=rank, member=f"<@{member.user_id}>",
                            money=format_money(member.amount, currency), videos=_videos(member.jobs, lang)))
    if server.units:
        lines.append(lang.t("quota.spend.unpriced_units", units=_units(server.units, lang)))
    if server.unpriced_jobs:
        lines.append(lang.t("quota.spend.unpriced_video", count=server.unpriced_jobs) if server.unpriced_jobs == 1
                     else lang.t("quota.spend.unpriced_videos", count=server.unpriced_jobs))
    if report.account.jobs != server.jobs or report.account.amount != server.amount:
        lines.append(lang.t("quota.spend.all_servers", spent=_spent(report.account, currency, lang)))
    today = format_money(report.today.amount, currency)
    if report.limit_per_day is not None:
        lines.append(lang.t("quota.spend.daily_limit", today=today,
                            limit=format_money(report.limit_per_day, currency)))
    else:
        lines.append(lang.t("quota.spend.no_daily_limit", today=today))
    if report.balance is not None:
        balance = report.balance
        left = _units(balance.amount, lang) if balance.units else format_money(balance.amount, currency)
        if balance.units and report.unit_price is not None:
            left = lang.t("quota.spend.balance_about", balance=left,
                          money=format_money(balance.amount * report.unit_price, currency))
        lines.append(lang.t("quota.spend.balance", balance=left, read=when_text(balance.at)))
    return join_within(lines, MESSAGE_LIMIT)
