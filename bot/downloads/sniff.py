"""Is it a video? The first bytes of the containers Kling's providers deliver."""

from __future__ import annotations

HEAD_BYTES = 12  # enough for either signature below
EBML_MAGIC = b"\x1a\x45\xdf\xa3"  # WebM / Matroska


def looks_like_video(head: bytes) -> bool:
    """MP4/MOV (an ISO base media `ftyp` box at offset 4) or WebM/Matroska (the EBML magic). An HTML error
    page, a JSON body from a metadata service or anything else is not."""
    return head[4:8] == b"ftyp" or head[:4] == EBML_MAGIC
