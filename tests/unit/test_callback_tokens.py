"""Callback tokens: the signer's check holds for any text a stranger can put in a URL."""

from __future__ import annotations

from bot.core.callback_tokens import CallbackSigner, looks_like_job_id, looks_like_token

JOB = "0123456789abcdef"


def test_verify_accepts_only_the_exact_token() -> None:
    signer = CallbackSigner("a-secret")
    token = signer.token(JOB)
    assert looks_like_token(token) and signer.verify(JOB, token)
    assert not signer.verify(JOB, token.upper())
    assert not signer.verify(JOB, token + "0")
    assert not signer.verify("fedcba9876543210", token)
    assert not CallbackSigner("another-secret").verify(JOB, token)


def test_verify_is_safe_for_any_text() -> None:
    signer = CallbackSigner("a-secret")
    for token in ("é" * 40, "\udcff" * 40, "\ud800", "", "\x00" * 40, "0" * 10_000):
        assert signer.verify(JOB, token) is False
    assert signer.verify("\ud800é", signer.token(JOB)) is False


def test_formats_are_exact() -> None:
    assert looks_like_job_id(JOB)
    for odd in (JOB.upper(), JOB + "0", JOB[:-1], JOB + "\n", "０" * 16, ""):
        assert not looks_like_job_id(odd)
    assert not looks_like_token("a" * 40 + "\n")
