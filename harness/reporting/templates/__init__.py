"""Jinja templates of the HTML reports; a package so that wheels ship the `*.j2` files."""

from __future__ import annotations

__all__: list[str] = []
