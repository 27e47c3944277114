"""Which callback URLs the sandbox will call: only the bot's own callback route, nothing else."""

from __future__ import annotations

from yarl import URL

from bot.providers.sandbox import own_callback_path

JOB, TOKEN = "0123456789abcdef", "a" * 40
OWN = f"/callbacks/sandbox/{JOB}/{TOKEN}"


def path_for(target: str, base: str = "http://127.0.0.1:8080") -> str | None:
    return own_callback_path(URL(target), URL(base))


def test_the_bots_own_route_is_accepted() -> None:
    assert path_for(f"http://127.0.0.1:8080{OWN}") == OWN
    assert path_for(f"https://bot.example.org{OWN}", "https://bot.example.org") == OWN
    assert path_for(f"https://bot.example.org:443{OWN}", "https://bot.example.org") == OWN  # the same port
    assert path_for(f"https://bot.example.org/kling{OWN}", "https://bot.example.org/kling/") == OWN


def test_anything_else_is_refused() -> None:
    refused = [
        f"http://127.0.0.2:8080{OWN}",  # another host
        f"http://127.0.0.1:8081{OWN}",  # another port
        f"https://127.0.0.1:8080{OWN}",  # another scheme
        f"http://user:pw@127.0.0.1:8080{OWN}",
        f"http://127.0.0.1:8080{OWN}?next=http://127.0.0.2/",
        f"http://127.0.0.1:8080{OWN}#x",
        f"http://127.0.0.1:8080{OWN}/more",
        f"http://127.0.0.1:8080/callbacks/runblob/{JOB}/{TOKEN}",  # another provider's route
        f"http://127.0.0.1:8080/callbacks/sandbox/{JOB}/{TOKEN.upper()}",
        f"http://127.0.0.1:8080/callbacks/sandbox/../../sandbox/{JOB}/{TOKEN}",
        "http://127.0.0.1:8080/metrics",
        OWN,  # no host at all
    ]
    for target in refused:
        assert path_for(target) is None, target
    assert path_for(f"https://bot.example.org{OWN}", "https://bot.example.org/kling") is None  # outside the prefix
