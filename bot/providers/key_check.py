"""Is the operator's key accepted? Each adapter answers with one harmless call: a status lookup of a job id
that cannot exist, through its own request helpers and error mapping. Providers check the key before they
look the job up, so "not found" means the key was accepted, and 401/403 that it was refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.providers.base import ErrorKind, KeyCheck, ProviderError

# No provider issues this id (a nil UUID, safe in any path); lookups of it are free.
PROBE_JOB_ID = "00000000-0000-0000-0000-000000000000"

ACCEPTED = "key accepted"


async def probe_status(lookup: Callable[[str], Awaitable[object]], job_id: str = PROBE_JOB_ID) -> KeyCheck:
    """Run the adapter's status `lookup` on an id that cannot exist and read the answer as a key check."""
    try:
        await lookup(job_id)
    except ProviderError as error:
        return from_error(error)
    return KeyCheck(True, ACCEPTED)


def from_error(error: ProviderError) -> KeyCheck:
    """Adapters have already masked any key a provider echoes back in `error.detail`."""
    detail = f" ({error.detail})" if error.detail else ""
    match error.kind:
        case ErrorKind.NOT_FOUND | ErrorKind.INVALID_REQUEST:
            # It authenticated the call and then judged the id: the key is good.
            return KeyCheck(True, ACCEPTED)
        case ErrorKind.MISCONFIGURED:
            return KeyCheck(False, f"key refused{detail}: check the key in the provider's dashboard")
        case ErrorKind.INSUFFICIENT_CREDITS:
            return KeyCheck(False, f"key accepted, but the account has no credits left{detail}: top it up")
        case ErrorKind.RATE_LIMITED:
            return KeyCheck(False, f"the provider is limiting this key right now{detail}: try again in a minute")
        case ErrorKind.PROVIDER_DOWN:
            return KeyCheck(False, f"could not reach the provider{detail}: check its base URL and status")
    return KeyCheck(False, f"unexpected answer: {error}")
