"""`If-Match` values (REC-5, §15): `"n"`, `n`, `W/"n"`, or `*` for no check."""

from __future__ import annotations

__all__ = ["IfMatchError", "parse_if_match"]


class IfMatchError(ValueError):
    pass


def parse_if_match(value: str | None) -> int | None:
    """The expected version, or None for no check; IfMatchError for anything else."""
    if value is None:
        return None
    text = value.strip()
    if text == "*":
        return None
    if text.startswith("W/"):
        text = text[2:]
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        text = text[1:-1]
    if not text.isascii() or not text.isdigit():
        raise IfMatchError(f"If-Match must be a version number, got {value!r}")
    return int(text)
