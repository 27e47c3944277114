"""The deploy files, read as the tools would read them (no Docker engine or Caddy here): the Compose file's
promises (restart, settings, data volume, a stop timeout longer than the bot's drain, nothing published but
the proxy), the Caddyfile's routes (only callbacks and media, 404 for the rest) and the Dockerfile's; and the
scale-out pair, docker-compose.scale.yml (PostgreSQL, two bots one shard each, the proxy) and Caddyfile.scale."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

# The Compose specification's keys (compose-spec.io), to catch a misspelt key Compose would refuse.
TOP_LEVEL_KEYS = {"name", "services", "volumes", "networks", "configs", "secrets"}
SERVICE_KEYS = {
    "build", "image", "restart", "env_file", "environment", "volumes", "expose", "ports", "stop_grace_period",
    "stop_signal", "healthcheck", "logging", "profiles", "depends_on", "command", "entrypoint", "networks",
    "user", "init", "read_only", "tmpfs", "labels", "deploy", "cap_drop", "security_opt", "working_dir",
}
DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)")
SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def compose_seconds(duration: str) -> float:
    """Compose's duration format: `45s`, `1m30s`, `1h`."""
    text = str(duration)
    parts = DURATION_PART.findall(text)
    assert parts and "".join(number + unit for number, unit in parts) == text, f"not a Compose duration: {text}"
    return sum(float(number) * SECONDS[unit] for number, unit in parts)


def published_ports(service: dict[str, Any]) -> list[str]:
    return [str(port) for port in service.get("ports", [])]


def test_compose_uses_only_keys_compose_knows() -> None:
    spec = compose()
    assert set(spec) <= TOP_LEVEL_KEYS
    for name, service in spec["services"].items():
        assert set(service) <= SERVICE_KEYS, f"{name}: {set(service) - SERVICE_KEYS}"


def test_the_bot_is_built_here_restarts_and_reads_its_settings() -> None:
    bot = compose()["services"]["bot"]
    assert bot["build"]["context"] == ".."
    assert (DEPLOY / bot["build"]["context"] / bot["build"].get("dockerfile", "Dockerfile")).is_file()
    assert bot["restart"] == "unless-stopped"
    env_files = bot["env_file"] if isinstance(bot["env_file"], list) else [bot["env_file"]]
    assert "../.env" in env_files
    assert "profiles" not in bot  # started by a plain `up`


def test_the_database_lives_on_the_data_volume() -> None:
    spec = compose()
    bot = spec["services"]["bot"]
    mounts = dict(str(volume).split(":")[:2] for volume in bot["volumes"])
    assert "/data" in mounts.values()
    source = next(source for source, target in mounts.items() if target == "/data")
    assert source in spec["volumes"]  # a named volume: kept across rebuilds
    # .env may hold a relative DATABASE_PATH (the default, data/bot.sqlite3): the container pins it to the volume.
    assert bot["environment"]["DATABASE_PATH"].startswith("/data/")
    assert bot["environment"]["MEDIA_DIR"].startswith("/data/")


def test_the_stop_timeout_outlasts_the_shutdown_grace() -> None:
    bot = compose()["services"]["bot"]
    grace = Settings.model_fields["shutdown_grace_seconds"].default  # SHUTDOWN_GRACE_SECONDS, 20 s
    assert compose_seconds(bot["stop_grace_period"]) > grace + 10  # time for the rest of the stop, too


def test_the_health_check_asks_healthz() -> None:
    check = compose()["services"]["bot"]["healthcheck"]
    assert check["test"][0] == "CMD"
    assert "/healthz" in " ".join(check["test"])
    assert compose_seconds(check["timeout"]) < compose_seconds(check["interval"])


def test_nothing_but_the_proxy_is_published() -> None:
    services = compose()["services"]
    bot = services["bot"]
    assert "ports" not in bot and bot.get("network_mode") != "host"  # /metrics, /healthz stay inside
    assert [str(port) for port in bot["expose"]] == ["8080"]
    for name, service in services.items():
        assert not any("8080" in port for port in published_ports(service)), name
    proxy = services["proxy"]
    assert proxy["profiles"] == ["proxy"]
    assert {port.split(":")[-1] for port in published_ports(proxy)} == {"80", "443", "443/udp"}
    assert proxy["image"].startswith("caddy:")
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert any(str(volume).endswith(":/data") for volume in proxy["volumes"])  # certificates are kept
    assert "$$BOT_DOMAIN" in " ".join(proxy["command"])  # a plain refusal without a domain


@pytest.mark.parametrize("duration, seconds", [("45s", 45.0), ("1m30s", 90.0), ("1h", 3600.0), ("500ms", 0.5)])
def test_compose_durations_are_read_as_compose_reads_them(duration: str, seconds: float) -> None:
    assert compose_seconds(duration) == seconds


# -- the Caddyfile ----------------------------------------------------------------------------------------
@dataclass
class Directive:
    words: list[str]
    children: list[Directive] = field(default_factory=list)

    def walk(self) -> list[Directive]:
        return [self, *(nested for child in self.children for nested in child.walk())]


def parse_caddyfile(text: str) -> list[Directive]:
    """Caddyfile structure: one directive a line; a line ending in `{` opens a block that `}` closes. Braces
    are tokens of their own (so `{$BOT_DOMAIN}`, an environment placeholder, is a word); `#` starts a comment."""
    root = Directive(["(root)"])
    stack = [root]
    for number, raw in enumerate(text.splitlines(), 1):
        words = raw.split("#", 1)[0].split() if not raw.strip().startswith("#") else []
        if not words:
            continue
        if words == ["}"]:
            stack.pop()
            assert stack, f"line {number}: a closing brace without a block"
            continue
        opens = words[-1] == "{"
        directive = Directive(words[:-1] if opens else words)
        stack[-1].children.append(directive)
        if opens:
            stack.append(directive)
    assert len(stack) == 1, "a block is not closed"
    return root.children


def test_caddy_proxies_only_callbacks_and_media_and_404s_the_rest() -> None:
    sites = parse_caddyfile((DEPLOY / "Caddyfile").read_text(encoding="utf-8"))
    assert [site.words for site in sites] == [["{$BOT_DOMAIN}"]]  # one HTTPS site; no global block, no http://
    site = sites[0]
    assert {child.words[0] for child in site.children} == {"handle"}  # no route, rewrite, handle_path, ...

    handled = {tuple(child.words[1:]): child for child in site.children}
    assert set(handled) == {("/callbacks/*",), ("/media/*",), ()}
    for matcher in (("/callbacks/*",), ("/media/*",)):
        proxies = [d.words for d in handled[matcher].walk() if d.words[0] == "reverse_proxy"]
        assert proxies == [["reverse_proxy", "bot:8080"]], matcher
    catch_all = handled[()]
    assert [d.words for d in catch_all.children] == [["respond", "404"]]

    everywhere = [d.words for s in sites for d in s.walk()]
    assert sum(1 for words in everywhere if words[0] == "reverse_proxy") == 2
    size = next(words for words in everywhere if words[0] == "max_size")
    assert size == ["max_size", "64KiB"]  # the bot's own callback limit, 64 KiB


def test_the_caddyfile_parser_sees_structure() -> None:
    parsed = parse_caddyfile("# note\n{$D} {\n\thandle /a/* {\n\t\treverse_proxy x:1 # why\n\t}\n}\n")
    assert parsed == [Directive(["{$D}"], [Directive(["handle", "/a/*"], [Directive(["reverse_proxy", "x:1"])])])]
    with pytest.raises(AssertionError):
        parse_caddyfile("site {\n\thandle {\n}\n")


# -- the Dockerfile ---------------------------------------------------------------------------------------
def dockerfile_instructions() -> list[str]:
    """One string per instruction, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    lines = [line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [" ".join(line.split()) for line in lines]


def test_the_image_keeps_its_pinned_base_and_user_and_gains_sqlite3() -> None:
    instructions = dockerfile_instructions()
    assert re.fullmatch(r"FROM python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", instructions[0])
    installs = [i for i in instructions if "apt-get install" in i]
    assert len(installs) == 1
    install = installs[0]
    assert "apt-get update" in install and "--no-install-recommends sqlite3" in install
    assert install.endswith("rm -rf /var/lib/apt/lists/*")  # in the same layer, or the lists stay in the image
    users = [i for i in instructions if i.startswith("USER ")]
    assert users == ["USER kling"]
    assert instructions.index(install) < instructions.index("USER kling")  # installed as root, run as kling
    assert any(i.startswith("HEALTHCHECK") and "/healthz" in i for i in instructions)


# -- the scale-out Compose file and its Caddyfile ----------------------------------------------------------------
SCALE_BOTS = ("bot-0", "bot-1")
INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?::([-?])([^}]*))?\}")


def scale_compose() -> dict[str, Any]:
    """deploy/docker-compose.scale.yml, with its YAML anchors and merge keys (`<<: *bot`) resolved as Compose does."""
    loaded = yaml.safe_load((DEPLOY / "docker-compose.scale.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation: `${NAME}`, `${NAME:-default}`, `${NAME:?error}`, and `$$` for a `$`."""
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, kind, word = match.groups()
        if env.get(name):
            return env[name]
        if kind == "?":
            raise ValueError(word)
        return word if kind == "-" else ""

    return INTERPOLATION.sub(one, value)


def test_interpolation_reads_as_compose_reads_it() -> None:
    assert interpolate("a${X}b${Y:-dflt}c$$d", {"X": "1"}) == "a1bdfltc$d"
    with pytest.raises(ValueError, match="Set it"):
        interpolate("${Z:?Set it}", {})


def test_scale_compose_uses_only_keys_compose_knows() -> None:
    spec = scale_compose()
    assert {key for key in spec if not key.startswith("x-")} <= TOP_LEVEL_KEYS  # x-*: Compose's extension fields
    assert set(spec["services"]) == {"postgres", *SCALE_BOTS, "proxy"}
    for name, service in spec["services"].items():
        assert set(service) <= SERVICE_KEYS, f"{name}: {set(service) - SERVICE_KEYS}"


def test_postgres_keeps_its_data_checks_its_health_and_needs_a_password() -> None:
    spec = scale_compose()
    database = spec["services"]["postgres"]
    assert database["image"] == "postgres:15"
    assert database["restart"] == "unless-stopped"
    mounts = dict(str(volume).split(":")[:2] for volume in database["volumes"])
    assert mounts.get("postgres-data") == "/var/lib/postgresql/data" and "postgres-data" in spec["volumes"]
    assert "pg_isready" in " ".join(database["healthcheck"]["test"])
    assert "ports" not in database  # reached by the bots on the Compose network only
    with pytest.raises(ValueError, match="POSTGRES_PASSWORD"):
        interpolate(database["environment"]["POSTGRES_PASSWORD"], {})


def bot_settings(service: dict[str, Any]) -> Settings:
    """The settings one bot service would start with: its environment, interpolated, over a minimal .env."""
    env = {"POSTGRES_PASSWORD": "secret", "DISCORD_TOKEN": "token"}
    values = {name.lower(): interpolate(str(value), env) for name, value in service["environment"].items()}
    return Settings.model_validate({"discord_token": "token", **values})


def test_two_bots_of_one_image_run_one_shard_each_on_the_shared_postgres() -> None:
    services = scale_compose()["services"]
    bots = [services[name] for name in SCALE_BOTS]
    assert bots[0]["build"] == bots[1]["build"] and bots[0]["image"] == bots[1]["image"]
    assert (DEPLOY / bots[0]["build"]["context"] / bots[0]["build"]["dockerfile"]).is_file()
    settings = [bot_settings(bot) for bot in bots]
    assert [s.shard_count for s in settings] == [2, 2]
    assert [s.shards_here for s in settings] == [(0,), (1,)]  # together every shard, each once
    for bot, each in zip(bots, settings, strict=True):
        assert bot["restart"] == "unless-stopped"
        assert "../.env" in (bot["env_file"] if isinstance(bot["env_file"], list) else [bot["env_file"]])
        assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert each.database_url is not None and each.database_url.hosts()[0]["host"] == "postgres"
        assert str(each.database_url) == str(settings[0].database_url)  # one database for both
        assert compose_seconds(bot["stop_grace_period"]) > Settings.model_fields["shutdown_grace_seconds"].default + 10
        assert "/healthz" in " ".join(bot["healthcheck"]["test"])


def test_the_bots_lease_is_a_setting_the_bot_knows() -> None:
    if "lease_seconds" not in Settings.model_fields:
        pytest.skip("waits for LEASE_SECONDS (bot/config.py)")
    bots = [scale_compose()["services"][name] for name in SCALE_BOTS]
    assert [bot_settings(bot).lease_seconds for bot in bots] == [30, 30]  # LEASE_SECONDS's default, unless .env says


def test_the_bots_share_the_media_archive_but_not_their_work_folders() -> None:
    spec = scale_compose()
    bots = [spec["services"][name] for name in SCALE_BOTS]
    volumes = [dict(str(volume).split(":")[:2] for volume in bot["volumes"]) for bot in bots]
    assert volumes[0] == volumes[1] == {"bot-data": "/data"} and "bot-data" in spec["volumes"]
    settings = [bot_settings(bot) for bot in bots]
    assert settings[0].media_path == settings[1].media_path == Path("/data/media")  # either serves /media links
    work = {s.database_path.parent for s in settings}
    assert len(work) == 2 and all(str(folder).startswith("/data/") for folder in work)


def test_only_the_scale_proxy_publishes_and_it_reads_the_scale_caddyfile() -> None:
    services = scale_compose()["services"]
    for name in ("postgres", *SCALE_BOTS):
        assert "ports" not in services[name] and services[name].get("network_mode") != "host", name
    for name in SCALE_BOTS:
        assert [str(port) for port in services[name]["expose"]] == ["8080"]
    proxy = services["proxy"]
    assert {port.split(":")[-1] for port in published_ports(proxy)} == {"80", "443", "443/udp"}
    assert proxy["image"].startswith("caddy:")
    assert set(proxy["depends_on"]) == set(SCALE_BOTS)
    mounted = next(volume for volume in proxy["volumes"] if volume.endswith(":/etc/caddy/Caddyfile:ro"))
    assert (DEPLOY / mounted.split(":")[0]).is_file()
    assert "$$BOT_DOMAIN" in " ".join(proxy["command"])


def test_the_scale_caddyfile_spreads_callbacks_and_media_over_healthy_bots_and_404s_the_rest() -> None:
    sites = parse_caddyfile((DEPLOY / "Caddyfile.scale").read_text(encoding="utf-8"))
    assert [site.words for site in sites] == [["{$BOT_DOMAIN}"]]
    site = sites[0]
    assert {child.words[0] for child in site.children} == {"handle"}
    handled = {tuple(child.words[1:]): child for child in site.children}
    assert set(handled) == {("/callbacks/*",), ("/media/*",), ()}
    upstreams = [f"{name}:8080" for name in SCALE_BOTS]
    for matcher in (("/callbacks/*",), ("/media/*",)):
        [proxy] = [d for d in handled[matcher].walk() if d.words[0] == "reverse_proxy"]
        assert proxy.words == ["reverse_proxy", *upstreams], matcher
        options = {d.words[0]: d.words[1:] for d in proxy.children}
        assert options["health_uri"] == ["/healthz"]  # a process that is down or unhealthy gets nothing
        assert compose_seconds(options["health_timeout"][0]) < compose_seconds(options["health_interval"][0])
        assert "lb_try_duration" in options  # a refused connection is tried on the other process
    assert [d.words for d in handled[()].children] == [["respond", "404"]]
    everywhere = [d.words for d in site.walk()]
    assert next(words for words in everywhere if words[0] == "max_size") == ["max_size", "64KiB"]
