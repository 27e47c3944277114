"""SafeVideoSource against real local servers: names checked at connect time (DNS rebinding), literal
hosts, redirects, sizes, and what counts as a video. DNS is the one outside thing faked here: a resolver
that answers from a table the test changes, as a rebinding attacker's DNS server would."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.core.ports.video_source import DownloadFailed, DownloadRefused, NotAVideo, TooLarge
from bot.downloads import AddressPolicy, SafeVideoSource
from tests.fakes.media_host import FakeMediaHost
from tests.fakes.provider_base import fake_video


class TableDNS(AbstractResolver):
    """A DNS server whose answers the test sets (and changes: rebinding)."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"no such host {host}")
        return [ResolveResult(hostname=host, host=a, port=port, family=socket.AF_INET, proto=0,
                              flags=socket.AI_NUMERICHOST) for a in self.answers[host]]

    async def close(self) -> None:
        pass




@pytest.fixture
async def dns() -> TableDNS:
    return TableDNS()


@pytest.fixture
async def source(dns: TableDNS) -> AsyncIterator[SafeVideoSource]:
    policy = AddressPolicy([ipaddress.ip_network("127.0.0.1/32")])
    video_source = SafeVideoSource(policy, resolver=dns)
    yield video_source
    await video_source.close()


def port_of(host: FakeMediaHost) -> int:
    return int(host.base_url.rsplit(":", 1)[1])


async def test_a_name_is_checked_each_time_it_is_resolved(
    source: SafeVideoSource, dns: TableDNS, cdn: FakeMediaHost, internal: FakeMediaHost, tmp_path: Path,
) -> None:
    dns.answers["videos.example"] = ["127.0.0.1"]
    size = await source.fetch(f"http://videos.example:{port_of(cdn)}/video.mp4", tmp_path / "a.mp4", 10**6)
    assert size == len(cdn.video) and (tmp_path / "a.mp4").read_bytes() == cdn.video

    dns.answers["videos.example"] = ["127.0.0.2"]  # rebinding: the same name now points inside
    with pytest.raises(DownloadRefused, match=re.escape("videos.example resolves to 127.0.0.2")):
        await source.fetch(f"http://videos.example:{port_of(internal)}/secret", tmp_path / "b.mp4", 10**6)
    assert internal.hits == []
    assert dns.asked == ["videos.example", "videos.example"]  # no cached answer was reused


async def test_a_name_with_any_forbidden_address_is_refused(source: SafeVideoSource, dns: TableDNS,
                                                            cdn: FakeMediaHost, tmp_path: Path) -> None:
    dns.answers["mixed.example"] = ["127.0.0.1", "169.254.169.254"]
    with pytest.raises(DownloadRefused, match=re.escape("mixed.example resolves to 169.254.169.254")):
        await source.fetch(f"http://mixed.example:{port_of(cdn)}/video.mp4", tmp_path / "v.mp4", 10**6)
    assert cdn.hits == []


async def test_https_to_a_private_name_is_refused_before_connecting(source: SafeVideoSource,
                                                                    dns: TableDNS, tmp_path: Path) -> None:
    dns.answers["metadata.example"] = ["169.254.169.254"]
    with pytest.raises(DownloadRefused, match=re.escape("169.254.169.254 is a link-local address")):
        await source.fetch("https://metadata.example/latest", tmp_path / "v.mp4", 10**6)


@pytest.mark.parametrize(("link", "words"), [
    ("file:///etc/passwd", "file scheme"),
    ("ftp://example.org/video.mp4", "ftp scheme"),
    ("http://8.8.8.8/video.mp4", "plain http"),  # public, but not https
    ("https://10.0.0.1/video.mp4", "private"),
    ("https://[fd00::1]/video.mp4", "unique-local"),
    ("https://[::ffff:169.254.169.254]/x", "link-local"),
    ("http://0x7f.0.0.1/x", "not a host name"),
    ("http://127.1/x", "not a host name"),
])
async def test_links_refused_without_a_connection(source: SafeVideoSource, dns: TableDNS, tmp_path: Path,
                                                  link: str, words: str) -> None:
    with pytest.raises(DownloadRefused, match=words):
        await source.fetch(link, tmp_path / "v.mp4", 10**6)
    with pytest.raises(DownloadRefused, match=words):
        await source.check(link)
    assert dns.asked == []
    assert not (tmp_path / "v.mp4").exists()


async def test_a_redirect_to_another_scheme_is_refused(source: SafeVideoSource, cdn: FakeMediaHost,
                                                       tmp_path: Path) -> None:
    with pytest.raises(DownloadRefused, match="file scheme"):
        await source.fetch(cdn.url("/redirect?to=file:///etc/passwd"), tmp_path / "v.mp4", 10**6)


async def test_redirects_are_counted(source: SafeVideoSource, cdn: FakeMediaHost, tmp_path: Path) -> None:
    assert await source.fetch(cdn.url("/hop/3"), tmp_path / "v.mp4", 10**6) == len(cdn.video)
    with pytest.raises(DownloadRefused, match="more than 3"):
        await source.fetch(cdn.url("/hop/4"), tmp_path / "w.mp4", 10**6)


async def test_sizes_and_contents(source: SafeVideoSource, cdn: FakeMediaHost, tmp_path: Path) -> None:
    cdn.video = fake_video(100_000)
    with pytest.raises(TooLarge):  # announced by Content-Length: refused after the first bytes
        await source.fetch(cdn.url("/video.mp4"), tmp_path / "big.mp4", 50_000)
    assert await source.fetch(cdn.url("/video.mp4"), tmp_path / "ok.mp4", 100_000) == 100_000
    await source.check(cdn.url("/video.mp4"))

    cdn.video = b"\x1a\x45\xdf\xa3" + b"\x01" * 500  # WebM
    assert await source.fetch(cdn.url("/video.mp4"), tmp_path / "clip.webm", 10**6) == 504
    for path in ("/page", "/secret"):
        with pytest.raises(NotAVideo):
            await source.fetch(cdn.url(path), tmp_path / "page.mp4", 10**6)
        with pytest.raises(NotAVideo):
            await source.check(cdn.url(path))
    cdn.video = b"ftyp"  # too short to be anything
    with pytest.raises(NotAVideo):
        await source.fetch(cdn.url("/video.mp4"), tmp_path / "short.mp4", 10**6)


async def test_ordinary_failures_are_not_refusals(source: SafeVideoSource, cdn: FakeMediaHost,
                                                  tmp_path: Path) -> None:
    with pytest.raises(DownloadFailed, match="HTTP 404"):
        await source.fetch(cdn.url("/no-such-file.mp4"), tmp_path / "v.mp4", 10**6)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with pytest.raises(DownloadFailed, match="cannot connect"):
        await source.fetch(f"http://127.0.0.1:{closed_port}/v.mp4", tmp_path / "v.mp4", 10**6)


async def test_local_files_are_read_without_a_request(tmp_path: Path, dns: TableDNS) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(fake_video(5000))
    source = SafeVideoSource(AddressPolicy(), local_files={"http://127.0.0.1:9/sandbox/media/sandbox.mp4": clip},
                             resolver=dns)
    try:
        url = "http://127.0.0.1:9/sandbox/media/sandbox.mp4"  # nothing listens there, and it is not allowed
        assert await source.fetch(url, tmp_path / "copy.mp4", 10**6) == 5000
        assert (tmp_path / "copy.mp4").read_bytes() == clip.read_bytes()
        await source.check(url)
        with pytest.raises(TooLarge):
            await source.fetch(url, tmp_path / "small.mp4", 1000)
        with pytest.raises(DownloadRefused):
            await source.fetch("http://127.0.0.1:9/other.mp4", tmp_path / "other.mp4", 10**6)
    finally:
        await source.close()
