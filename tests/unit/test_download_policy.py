"""The address policy of result downloads: every class of non-public address, IPv6 and IPv4 carried in
IPv6, the allow list, and the rule that plain http goes only to allowed networks. Also the video sniff."""

from __future__ import annotations

import ipaddress

import pytest

from bot.downloads.policy import AddressPolicy, non_public_kind
from bot.downloads.sniff import looks_like_video


def address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize(("text", "kind"), [
    ("0.0.0.0", "unspecified"),
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),  # cloud metadata
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("100.64.0.1", "non-public"),  # carrier-grade NAT, shared address space
    ("192.0.2.1", "private"),  # documentation
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("ff02::1", "multicast"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("fec0::1", "site-local"),
    ("2001:db8::1", "private"),  # documentation
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:10.0.0.1", "private"),
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
    ("2002:7f00:1::1", "6to4 loopback"),  # 6to4 of 127.0.0.1
    ("2002:a00:1::1", "6to4 private"),  # 6to4 of 10.0.0.1
])
def test_non_public_addresses_are_refused_over_https(text: str, kind: str) -> None:
    assert non_public_kind(address(text)) == kind
    problem = AddressPolicy().secure_problem(address(text))
    assert problem is not None and kind in problem


@pytest.mark.parametrize("text", [
    "8.8.8.8", "151.101.1.69", "2606:4700::6810:84e5", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
])
def test_public_addresses_are_allowed_over_https_only(text: str) -> None:
    policy = AddressPolicy()
    assert non_public_kind(address(text)) is None
    assert policy.secure_problem(address(text)) is None
    problem = policy.plain_problem(address(text))
    assert problem is not None and "DOWNLOAD_ALLOW_NETWORKS" in problem


def test_the_allow_list_opens_its_networks_to_https_and_plain_http() -> None:
    policy = AddressPolicy([ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"),
                            ipaddress.ip_network("127.0.0.1/32")])
    for text in ("10.1.2.3", "::ffff:10.1.2.3", "fd00::5", "127.0.0.1", "::ffff:127.0.0.1"):
        assert policy.secure_problem(address(text)) is None, text
        assert policy.plain_problem(address(text)) is None, text
    for text in ("127.0.0.2", "::1", "192.168.0.1", "169.254.169.254", "fc00::1"):
        assert policy.secure_problem(address(text)) is not None, text
        assert policy.plain_problem(address(text)) is not None, text


@pytest.mark.parametrize(("head", "video"), [
    (b"\x00\x00\x00\x18ftypmp42\x00\x00", True),  # MP4
    (b"\x00\x00\x00\x14ftypqt  \x00\x00", True),  # MOV
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81", True),  # WebM / Matroska
    (b"<!DOCTYPE html>", False),
    (b'{"secret": "x"}', False),
    (b"\x00" * 12, False),
    (b"ftyp", False),
    (b"", False),
])
def test_only_video_containers_count_as_video(head: bytes, video: bool) -> None:
    assert looks_like_video(head) is video
