"""The camera moves a member may ask for: friendly presets over the six simple moves, each in one direction
with a strength, and the four combined moves. Providers with camera control (bot/providers/kling.py, and
cometapi and the sandbox, which speak its words) turn a `CameraMove` into their own fields.

The six axes are Kling's `camera_control.config` fields. Kling's reference gives their directions:
`horizontal` and `vertical` move the camera along x and y (negative: left, down); `pan` rotates it about x
(negative: down), `tilt` about y (negative: left), `roll` about z (negative: anticlockwise); `zoom` changes
the field of view (negative: narrower, so the picture comes closer).
"""

from __future__ import annotations

from dataclasses import dataclass

AXES = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")


@dataclass(frozen=True, slots=True)
class CameraPreset:
    label: str  # what a member reads in the choice list
    axis: str | None = None  # the simple move's axis; None: a combined move
    direction: int = 1  # the sign the strength takes on that axis

    @property
    def combined(self) -> bool:
        return self.axis is None


SIMPLE_MOVES: dict[str, CameraPreset] = {
    "slide_left": CameraPreset("Slide left", "horizontal", -1),
    "slide_right": CameraPreset("Slide right", "horizontal", 1),
    "rise": CameraPreset("Rise (move up)", "vertical", 1),
    "descend": CameraPreset("Descend (move down)", "vertical", -1),
    "look_up": CameraPreset("Pan up", "pan", 1),
    "look_down": CameraPreset("Pan down", "pan", -1),
    "turn_left": CameraPreset("Turn left", "tilt", -1),
    "turn_right": CameraPreset("Turn right", "tilt", 1),
    "roll_clockwise": CameraPreset("Roll clockwise", "roll", 1),
    "roll_anticlockwise": CameraPreset("Roll anticlockwise", "roll", -1),
    "zoom_in": CameraPreset("Zoom in", "zoom", -1),
    "zoom_out": CameraPreset("Zoom out", "zoom", 1),
}
# Kling's four combined moves keep Kling's names: they are a set motion with no strength of their own.
COMBINED_MOVES: dict[str, CameraPreset] = {
    "down_back": CameraPreset("Move down and back"),
    "forward_up": CameraPreset("Move forward and up"),
    "right_turn_forward": CameraPreset("Turn right and move forward"),
    "left_turn_forward": CameraPreset("Turn left and move forward"),
}
CAMERA_MOVES: dict[str, CameraPreset] = {**SIMPLE_MOVES, **COMBINED_MOVES}


def camera_label(name: str) -> str:
    preset = CAMERA_MOVES.get(name)
    return preset.label if preset is not None else name
