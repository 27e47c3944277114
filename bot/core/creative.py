"""The creative options of a request (end image, camera move, storyboard), checked against the provider's
capabilities before anything is charged. The intake (bot/core/jobs.py) calls these; each raises
InvalidRequest saying what to change (catalogue keys "creative.*", bot/i18n/locales)."""

from __future__ import annotations

from bot.core.camera import CAMERA_MOVES, camera_label
from bot.core.errors import InvalidRequest
from bot.core.messages import Choices
from bot.core.models import CameraMove, Shot
from bot.core.ports.provider import Capabilities


def check_end_image(caps: Capabilities, *, has_start: bool) -> None:
    if not caps.end_image:
        raise InvalidRequest("creative.end_image_unsupported")
    if not has_start and not caps.end_image_alone:
        raise InvalidRequest("creative.end_image_needs_start")


def camera_move(caps: Capabilities, name: str | None, strength: int | None, *, has_end_image: bool,
                storyboard: bool) -> CameraMove | None:
    """The member's camera choice as a move (a simple move without a strength takes the provider's default)."""
    support = caps.camera
    if name is None:
        if strength is not None:
            raise InvalidRequest("creative.camera_strength_alone")
        return None
    if support is None:
        raise InvalidRequest("creative.camera_unsupported")
    if name not in support.moves or name not in CAMERA_MOVES:
        raise InvalidRequest("creative.camera_unknown", choices=Choices.of(camera_label(m) for m in support.moves))
    if storyboard:
        raise InvalidRequest("creative.camera_in_storyboard")
    if has_end_image and not support.with_end_image:
        raise InvalidRequest("creative.camera_with_end_image")
    if CAMERA_MOVES[name].combined:
        if strength is not None:
            raise InvalidRequest("creative.camera_combined_strength", move=camera_label(name))
        return CameraMove(name)
    low, high = support.strengths
    strength = support.default_strength if strength is None else strength
    if not low <= strength <= high:
        raise InvalidRequest("creative.camera_strength_range", low=low, high=high)
    return CameraMove(name, strength)


def check_storyboard(caps: Capabilities, shots: tuple[Shot, ...], *, has_images: bool) -> int:
    """Check a storyboard; returns its length in seconds (the sum of its shots)."""
    support = caps.storyboard
    if support is None:
        raise InvalidRequest("creative.storyboard_unsupported")
    if len(shots) > support.max_shots:
        raise InvalidRequest("creative.storyboard_too_many", limit=support.max_shots, count=len(shots))
    for number, shot in enumerate(shots, start=1):
        if not shot.prompt.strip():
            raise InvalidRequest("creative.shot_empty", number=number)
        if shot.duration < support.min_shot_seconds:
            raise InvalidRequest("creative.shot_too_short", number=number, seconds=shot.duration,
                                 limit=support.min_shot_seconds)
    total = sum(shot.duration for shot in shots)
    if total not in support.totals:
        raise InvalidRequest("creative.storyboard_total", total=total, choices=Choices.of(support.totals))
    if has_images:
        raise InvalidRequest("creative.storyboard_images")
    return total
