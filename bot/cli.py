"""`kling-bot <command>` / `python -m bot <command>`: the operator's tools. None of them starts the bot;
without a command, `kling-bot` runs the bot (bot/app.py `main`).

Exit status: 0 done (or nothing needed doing), 1 the command failed (it says why), 2 bad arguments or bad
settings (one line per variable, as the bot itself says at start-up).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.admin import app_commands, backup, check, credits, jobs, reconcile
from bot.admin.output import AdminError
from bot.config import ConfigError, Settings, load_settings
from bot.core.models import JobStatus
from bot.core.quotas import MAX_CREDITS
from bot.event_loop import run_on
from bot.logs import MaskingFormatter, secret_mask, settings_secrets
from storage.admin import JobFilter
from storage.database import DatabaseUnavailable

PROG = "kling-bot"
RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


# -- argument types (a bad value: argparse prints the usage and exits 2) ------------------------------------
def snowflake(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 2**64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a Discord id (a number like 810000000000000001)")
    return int(text)


def credit_amount(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_CREDITS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of credits from 1 to {MAX_CREDITS}")
    return int(text)


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return int(text)


def since(text: str, now: datetime | None = None) -> datetime:
    """`7d`, `24h`, `30m`, `2w` ago, or an ISO date or time (UTC unless it says otherwise)."""
    now = now or datetime.now(UTC)
    relative = RELATIVE.match(text.strip().lower())
    if relative:
        return now - timedelta(**{UNITS[relative.group(2)]: int(relative.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a date (2025-01-31, 2025-01-31T18:00) nor an age (30m, 24h, 7d, 2w)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def video_url(text: str) -> str:
    if not re.match(r"^https?://[^\s/]+/\S*$", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s) link to the video")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="The Kling video bot. Without a command it runs the bot; the commands below are "
        "the operator's tools and work on the bot's database (DATABASE_URL, else DATABASE_PATH), also while the bot "
        "runs.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    backup_parser = commands.add_parser("backup", help="copy the live database safely (also while the bot runs)",
                                        description="An online, consistent copy of the database, checked "
                                                    "with PRAGMA integrity_check (exit 1 if it is not ok).")
    backup_parser.add_argument("file", type=Path, metavar="FILE", help="where to write the copy")
    backup_parser.add_argument("--force", action="store_true", help="overwrite FILE if it exists")

    commands.add_parser("check", help="check settings, database, provider key and Discord token",
                        description="One line per check (✓ or ✗), then the invite link; exit 1 if any failed.")

    jobs_parser = commands.add_parser("jobs", help="list recent jobs, newest first",
                                      description="Recent jobs as a table, newest first.")
    jobs_parser.add_argument("--status", choices=[s.value for s in JobStatus], help="only jobs in this status")
    jobs_parser.add_argument("--user", type=snowflake, metavar="ID", help="only this member's jobs")
    jobs_parser.add_argument("--guild", type=snowflake, metavar="ID", help="only this server's jobs")
    jobs_parser.add_argument("--since", type=since, metavar="WHEN",
                             help="only jobs created since a date (2025-01-31) or for an age (30m, 24h, 7d)")
    jobs_parser.add_argument("--limit", type=positive, default=50, metavar="N", help="at most N jobs (50)")

    reconcile_parser = commands.add_parser(
        "reconcile", help="list or settle jobs whose submit outcome was unknown",
        description="Without JOB: the jobs the bot failed because it could not tell whether the provider started "
                    "them. With JOB: settle it after looking it up in the provider's dashboard.")
    reconcile_parser.add_argument("job", nargs="?", metavar="JOB", help="the job id to settle")
    outcome = reconcile_parser.add_mutually_exclusive_group()
    outcome.add_argument("--delivered", type=video_url, metavar="URL",
                         help="the provider made the video: record its link (the member keeps the refund)")
    outcome.add_argument("--failed", action="store_true", help="the provider made nothing: make sure it is refunded")
    reconcile_parser.set_defaults(subparser=reconcile_parser)  # for its own usage line on a bad combination

    refund_parser = commands.add_parser("refund", help="refund a job's credits (at most once)",
                                        description="Give a job's charge back, if it was charged and not refunded.")
    refund_parser.add_argument("job", metavar="JOB", help="the job id")

    grant_parser = commands.add_parser("grant", help="give a member extra credits for this quota period",
                                       description="Extra credits for a member in the current quota period.")
    grant_parser.add_argument("guild", type=snowflake, metavar="GUILD", help="the server id")
    grant_parser.add_argument("user", type=snowflake, metavar="USER", help="the member's user id")
    grant_parser.add_argument("amount", type=credit_amount, metavar="AMOUNT", help="credits to add")

    slash = commands.add_parser("commands", help="register or remove the slash commands",
                                description="Register (sync) or remove (clear) the bot's slash commands through "
                                            "Discord's REST API, without starting the bot.")
    slash_actions = slash.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, text in (("sync", "register the commands the bot has now"), ("clear", "remove every command")):
        action_parser = slash_actions.add_parser(action, help=text, description=text.capitalize() + ".")
        action_parser.add_argument("--guild", type=snowflake, metavar="ID",
                                   help="in this one server (at once) instead of globally (up to an hour)")
    return parser


async def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    match args.command:
        case "backup":
            return await backup.run(settings, args.file, force=args.force)
        case "check":
            return await check.run(settings)
        case "jobs":
            status = JobStatus(args.status) if args.status else None
            return await jobs.run(settings, JobFilter(status=status, guild_id=args.guild, user_id=args.user,
                                                      since=args.since, limit=args.limit))
        case "reconcile":
            if args.job is None:
                return await reconcile.list_jobs(settings)
            return await reconcile.settle(settings, args.job, video_url=args.delivered)
        case "refund":
            return await credits.refund(settings, args.job)
        case "grant":
            return await credits.grant(settings, args.guild, args.user, args.amount)
        case "commands":
            if args.action == "sync":
                return await app_commands.sync(settings, args.guild)
            return await app_commands.clear(settings, args.guild)
    raise AssertionError(f"unhandled command {args.command}")


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """The arguments; on bad ones argparse prints the usage and raises SystemExit(2)."""
    parser = build_parser()
    args = parser.parse_args(list(argv))
    if args.command == "reconcile" and args.job is None and (args.delivered or args.failed):
        args.subparser.error("name the JOB to settle")
    if args.command == "reconcile" and args.job is not None and not (args.delivered or args.failed):
        args.subparser.error("say how JOB ended: --failed, or --delivered URL")
    return args


async def run(argv: Sequence[str], *, own_logging: bool = False) -> int:
    """Run one command inside a running event loop; returns the exit status. `own_logging`: this is the whole
    process (`main`), so its log goes to stderr, warnings only, secrets masked."""
    args = parse(argv)
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"Configuration error:\n{error}", file=sys.stderr)
        return 2
    if own_logging:
        _quiet_logging(settings)
    try:
        return await dispatch(args, settings)
    except (AdminError, DatabaseUnavailable) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1


def main(argv: Sequence[str]) -> int:
    return run_on(_event_loop(), run(argv, own_logging=True))


def _event_loop() -> str:
    """EVENT_LOOP, read before any loop runs; `run` reports a configuration error itself."""
    try:
        return load_settings().event_loop
    except ConfigError:
        return "asyncio"


def _quiet_logging(settings: Settings) -> None:
    """Warnings only, to stderr, secrets masked; plus where a backup before a migration went."""
    secret_mask.add(*settings_secrets(settings))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(MaskingFormatter(logging.Formatter("%(levelname)s: %(message)s"), secret_mask))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("storage.database").setLevel(logging.INFO)
